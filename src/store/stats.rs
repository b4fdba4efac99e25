//! What a store reports about itself: counts and sizes per index, its files, and a full checksum
//! pass.

use super::files::FileKind;
use super::segment::{all_rows, live_rows, tail_rows, SegState, SegmentKind};
use super::Store;
use crate::error::Result;

/// Counts and sizes of one index (faces or fingerprints).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct IndexStats {
    /// Live templates.
    pub live: usize,
    /// Deleted rows not yet compacted away.
    pub dead: usize,
    /// Segment files.
    pub segments: usize,
    /// Rows in the in-memory tail (logged, not yet checkpointed).
    pub tail_rows: usize,
    /// Bytes of the segment files.
    pub segment_bytes: u64,
}

impl IndexStats {
    fn of<S: SegmentKind>(segs: &[SegState<S>]) -> Self {
        let files = segs.iter().filter(|s| !s.is_tail());
        IndexStats {
            live: live_rows(segs),
            dead: all_rows(segs) - live_rows(segs),
            segments: files.clone().count(),
            tail_rows: tail_rows(segs),
            segment_bytes: files.map(|s| s.seg.byte_len() as u64).sum(),
        }
    }
}

/// Counts and sizes, for `edgeid stats`.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Face model.
    pub model: String,
    /// Embedding dimension.
    pub dim: usize,
    /// The face index.
    pub faces: IndexStats,
    /// The fingerprint index.
    pub fingers: IndexStats,
    /// Bytes of the live log.
    pub wal_bytes: u64,
    /// Sequence number of the last commit.
    pub seq: u64,
    /// SIMD kernels in use for faces.
    pub kernel: &'static str,
    /// SIMD kernels in use for fingerprints (chosen with the face kernels).
    pub finger_kernel: &'static str,
    /// Files named by the manifest (plus the log).
    pub files: Vec<String>,
    /// The error of the last housekeeping (a checkpoint or erasure after a commit, `maintain`,
    /// `erase_deleted`) while its work is still to do: the commits before it are durable, the
    /// work is retried by the next commit or `maintain` (see `Store::maintain`).
    pub maintenance_error: Option<String>,
    /// The event journal: events kept, acknowledged, lost to the size bound.
    pub journal: crate::journal::JournalStats,
}

impl Store {
    /// Reads every byte of every segment and checks all checksums; returns how many segments.
    pub fn verify_checksums(&self) -> Result<usize> {
        let snap = self.snapshot();
        for s in &snap.faces {
            s.seg.verify_payload()?;
        }
        for s in &snap.fingers {
            s.seg.verify_payload()?;
        }
        Ok(snap.faces.len() + snap.fingers.len())
    }

    /// Counts, sizes and the kernel in use.
    pub fn stats(&self) -> Stats {
        let snap = self.snapshot();
        let super::Published {
            manifest,
            wal_len,
            maintenance,
        } = self
            .published
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut files = vec![
            FileKind::Manifest.name(),
            FileKind::Wal(manifest.wal_gen).name(),
        ];
        files.extend(manifest.segment_files().iter().map(FileKind::name));
        if manifest.catalog != 0 {
            files.push(FileKind::Catalog(manifest.catalog).name());
        }
        Stats {
            model: snap.model.clone(),
            dim: snap.dim,
            faces: IndexStats::of(&snap.faces),
            fingers: IndexStats::of(&snap.fingers),
            wal_bytes: wal_len,
            seq: snap.seq,
            kernel: self.kernels.name,
            finger_kernel: self.kernels.finger.name,
            files,
            maintenance_error: maintenance,
            journal: self.journal().stats(),
        }
    }
}
