//! The bulk path: a large commit or delta writes its templates straight into new segment files, in
//! bounded pieces, and switches them in with the manifest, as a checkpoint does.
//!
//! # Why
//! A commit normally logs every template (2 KB per 512-d face, 13–17 KB per prepared fingerprint),
//! keeps it in an in-memory tail block, and a checkpoint writes it again as a segment: every byte
//! is written twice and held in memory until the checkpoint. For a full synchronisation of a large
//! site that is hundreds of megabytes of RAM and twice the flash writes.
//!
//! # How (and why it is still atomic)
//! From [`OpenOptions::bulk_rows`](super::OpenOptions::bulk_rows) templates on, the planner hands
//! each template to a [`Stager`] instead of the log. The stager fills pieces of at most
//! `piece_bytes` (from [`OpenOptions::memory_budget`](super::OpenOptions::memory_budget), and
//! never above [`OpenOptions::max_segment_bytes`](super::OpenOptions::max_segment_bytes)); a full
//! set of pieces (one per thread) is quantised and encoded in parallel ([`encode_pieces`], the
//! only parallel loop of the path) and each piece is written as a segment file (`seg-<id>.seg`,
//! `fng-<id>.fsg`), fsynced, mapped and dropped from memory. Staged files are named by no manifest
//! yet: a crash leaves them as leftovers, which opening scrubs like those of an interrupted
//! checkpoint, and a plan that fails (a refused delta) scrubs them at once (the stager's `Drop`).
//!
//! When the plan is complete the commit applies its kills and catalog changes to a new snapshot
//! that lists the staged segments (rows the same plan replaced are dead in them), and checkpoints
//! that snapshot ([`Store::rewrite_snapshot`]): the current tail becomes a segment, changed
//! deletion lists (staged ones included) and the catalog are written, a new empty log is created,
//! and the manifest is switched. That switch is the commit point: before it the old manifest and
//! log name the old state; after it the new manifest names the new segments, the catalog with the
//! delta's sequence, and an empty log. A bulk commit therefore costs one checkpoint instead of one
//! log record, and each template is written once.

use super::apply::{apply_ops, Tails};
use super::checkpoint::leaves_state_intact;
use super::segment::{face, finger, FaceRowIn, FaceSegment, FingerRowIn, FingerSegment, SegState};
use super::wal::{RowRef, WalOp};
use super::workers::Workers;
use super::{path_of, FileKind, Key, Snapshot, Store, Writer};
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::finger::enroll::Prepared;
use crate::finger::Format;
use crate::fs::{write_file, Fs};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

/// A face template waiting in a piece.
struct FaceRow {
    key: Key,
    vector: Vec<f32>,
}

/// A fingerprint template waiting in a piece.
struct FingerRow {
    key: Key,
    position: u8,
    record: Vec<u8>,
    format: Format,
    source: Vec<u8>,
}

/// Pieces of one index being filled: the open piece (its segment id, rows, bytes) and full ones
/// waiting to be encoded together.
struct Pieces<R> {
    open: Option<(u64, Vec<R>, usize)>,
    full: Vec<(u64, Vec<R>)>,
}

impl<R> Default for Pieces<R> {
    fn default() -> Self {
        Pieces {
            open: None,
            full: Vec::new(),
        }
    }
}

/// Segments a bulk commit has written so far (see the module docs).
pub(crate) struct Stager {
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    model: String,
    dim: usize,
    /// Bytes of one piece (one segment file at most).
    piece_bytes: usize,
    /// Pieces encoded at once.
    parallel: usize,
    /// The store's threads, which encode the pieces.
    workers: Arc<Workers>,
    /// Next file id (taken from the manifest's `next_id`; the writer keeps it even on failure).
    pub(super) next_id: u64,
    faces: Pieces<FaceRow>,
    fingers: Pieces<FingerRow>,
    face_segs: Vec<FaceSegment>,
    finger_segs: Vec<FingerSegment>,
    /// Ids of the staged segments (written or being filled).
    ids: HashSet<u64>,
    /// Rows of staged segments that the same plan replaced or removed.
    dead: HashMap<u64, Vec<usize>>,
    /// Files written; scrubbed on drop unless the manifest switch named them.
    files: Vec<PathBuf>,
    keep: bool,
    /// The first error met while writing a piece (the plan goes on; the commit reports it).
    error: Option<Error>,
    /// Templates staged.
    pub(super) rows: usize,
}

impl Drop for Stager {
    fn drop(&mut self) {
        if !self.keep {
            for p in &self.files {
                let _ = self.fs.scrub_remove(p);
            }
        }
    }
}

impl Stager {
    pub(super) fn new(store: &Store, next_id: u64) -> Stager {
        let snap = store.snapshot();
        let parallel = store.opts.threads.max(1);
        // A quarter of the budget for pieces being filled and encoded (each piece exists twice
        // while encoding: its rows and its file image); the rest is for the delta being read and
        // the plan's maps.
        let piece_bytes =
            (store.opts.memory_budget / 8 / parallel).min(store.opts.max_segment_bytes);
        Stager {
            fs: store.fs.clone(),
            dir: store.dir.clone(),
            model: snap.model.clone(),
            dim: snap.dim,
            piece_bytes,
            parallel,
            workers: store.workers.clone(),
            next_id,
            faces: Pieces::default(),
            fingers: Pieces::default(),
            face_segs: Vec::new(),
            finger_segs: Vec::new(),
            ids: HashSet::new(),
            dead: HashMap::new(),
            files: Vec::new(),
            keep: false,
            error: None,
            rows: 0,
        }
    }

    /// Whether `r` is a row of a segment this stager wrote or is filling.
    pub(super) fn owns(&self, r: RowRef) -> bool {
        matches!(r, RowRef::Seg { id, .. } if self.ids.contains(&id))
    }

    /// Marks a staged row dead (the plan replaced or removed it).
    pub(super) fn kill(&mut self, r: RowRef) {
        if let RowRef::Seg { id, row } = r {
            self.dead.entry(id).or_default().push(row as usize);
        }
    }

    /// Stages a face template (normalised); returns its row.
    pub(super) fn put_face(&mut self, key: Key, vector: Vec<f32>) -> RowRef {
        let size = face::row_bytes(self.dim, &key.0, &key.1, &key.2);
        let room = self.piece_bytes.saturating_sub(face::FIXED_BYTES);
        let r = put(
            &mut self.faces,
            FaceRow { key, vector },
            size,
            room,
            &mut self.next_id,
            &mut self.ids,
        );
        self.rows += 1;
        if self.faces.full.len() >= self.parallel {
            self.flush_faces();
        }
        r
    }

    /// Stages a prepared fingerprint template; returns its row.
    pub(super) fn put_finger(&mut self, key: Key, f: Prepared, source: Vec<u8>) -> RowRef {
        let size = finger::row_bytes(&key.0, &key.1, &key.2, f.record.len(), source.len());
        let room = self.piece_bytes.saturating_sub(finger::FIXED_BYTES);
        let row = FingerRow {
            key,
            position: f.position,
            record: f.record,
            format: f.format,
            source,
        };
        let r = put(
            &mut self.fingers,
            row,
            size,
            room,
            &mut self.next_id,
            &mut self.ids,
        );
        self.rows += 1;
        if self.fingers.full.len() >= self.parallel {
            self.flush_fingers();
        }
        r
    }

    /// Encodes the full face pieces (on the store's threads, giving way to searches) and
    /// writes them. Encoding them there while this thread filled the next set was tried and
    /// measured slower (`bulk_faces_per_s` 13,846 against 24,467 in one pair of `edgeid bench
    /// sync` runs), presumably because the encoding then competes with the next batch's checks
    /// for the same threads.
    fn flush_faces(&mut self) {
        let pieces = std::mem::take(&mut self.faces.full);
        if pieces.is_empty() || self.error.is_some() {
            return;
        }
        let (model, dim, workers) = (self.model.clone(), self.dim, &self.workers);
        let encoded = encode_pieces(workers, &pieces, |id, rows| {
            let rows: Vec<FaceRowIn<'_>> = rows
                .iter()
                .map(|r| FaceRowIn {
                    location: &r.key.0,
                    user: &r.key.1,
                    template: &r.key.2,
                    vector: &r.vector,
                    from: None,
                })
                .collect();
            face::encode_giving_way(id, &model, dim, &rows, &|| workers.give_way())
        });
        drop(pieces);
        for (id, bytes) in encoded {
            let r = bytes.and_then(|bytes| {
                self.write(FileKind::FaceSegment(id), &bytes, |b, p| {
                    FaceSegment::open(b, p)
                })
            });
            match r {
                Ok(seg) => self.face_segs.push(seg),
                Err(e) => {
                    self.error.get_or_insert(e);
                }
            }
        }
    }

    /// Encodes and writes the full finger pieces.
    fn flush_fingers(&mut self) {
        let pieces = std::mem::take(&mut self.fingers.full);
        if pieces.is_empty() || self.error.is_some() {
            return;
        }
        let encoded = encode_pieces(&self.workers, &pieces, |id, rows| {
            let rows: Vec<FingerRowIn<'_>> = rows
                .iter()
                .map(|r| FingerRowIn {
                    location: &r.key.0,
                    user: &r.key.1,
                    template: &r.key.2,
                    position: r.position,
                    record: &r.record,
                    source: &r.source,
                    format: r.format,
                })
                .collect();
            finger::encode(id, &rows)
        });
        drop(pieces);
        for (id, bytes) in encoded {
            let r = bytes.and_then(|bytes| {
                self.write(FileKind::FingerSegment(id), bytes.as_ref(), |b, p| {
                    FingerSegment::open(b, p)
                })
            });
            match r {
                Ok(seg) => self.finger_segs.push(seg),
                Err(e) => {
                    self.error.get_or_insert(e);
                }
            }
        }
    }

    /// Writes one staged segment file (fsynced) and maps it.
    fn write<S>(
        &mut self,
        kind: FileKind,
        bytes: &[u8],
        open: impl FnOnce(crate::mmap::Bytes, &std::path::Path) -> Result<S>,
    ) -> Result<S> {
        let p = path_of(&self.dir, kind);
        if self.fs.file_len(&p).is_ok() {
            // Not named by the manifest (ids are never reused): left by an attempt that could not
            // clean up.
            self.fs
                .scrub_remove(&p)
                .map_err(|e| Error::io("remove", &p, e))?;
        }
        write_file(&*self.fs, &p, bytes)?;
        self.files.push(p.clone());
        open(self.fs.map(&p).map_err(|e| Error::io("map", &p, e))?, &p)
    }

    /// Writes what is left and hands over the staged segments, with the rows the plan killed.
    fn finish(&mut self) -> Result<Staged> {
        self.faces
            .full
            .extend(self.faces.open.take().map(|(id, rows, _)| (id, rows)));
        self.fingers
            .full
            .extend(self.fingers.open.take().map(|(id, rows, _)| (id, rows)));
        self.flush_faces();
        self.flush_fingers();
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let dead = std::mem::take(&mut self.dead);
        let state = |id: u64| dead.get(&id).map_or(&[][..], |d| &d[..]);
        Ok(Staged {
            faces: std::mem::take(&mut self.face_segs)
                .into_iter()
                .map(|s| {
                    let d = state(s.id());
                    SegState::new(s, d, None)
                })
                .collect(),
            fingers: std::mem::take(&mut self.finger_segs)
                .into_iter()
                .map(|s| {
                    let d = state(s.id());
                    SegState::new(s, d, None)
                })
                .collect(),
        })
    }
}

/// Adds a row to the open piece (starting one, with a new segment id, when it has no room);
/// returns the row's reference.
fn put<R>(
    pieces: &mut Pieces<R>,
    row: R,
    size: usize,
    room: usize,
    next_id: &mut u64,
    ids: &mut HashSet<u64>,
) -> RowRef {
    if let Some((_, rows, bytes)) = &pieces.open {
        if *bytes + size > room && !rows.is_empty() {
            let (id, rows, _) = pieces.open.take().expect("checked");
            pieces.full.push((id, rows));
        }
    }
    let (id, rows, bytes) = pieces.open.get_or_insert_with(|| {
        *next_id += 1;
        ids.insert(*next_id - 1);
        (*next_id - 1, Vec::new(), 0)
    });
    rows.push(row);
    *bytes += size;
    RowRef::Seg {
        id: *id,
        row: (rows.len() - 1) as u32,
    }
}

/// Encodes pieces into segment images on all threads: the bulk path's only parallel loop
/// (quantisation of faces, layout of fingerprints), kept in one place so it runs where the
/// store's parallel work runs, as background work that gives way to searches.
fn encode_pieces<R: Sync, E: Send>(
    workers: &Workers,
    pieces: &[(u64, Vec<R>)],
    encode: impl Fn(u64, &[R]) -> E + Sync + Send,
) -> Vec<(u64, E)> {
    workers.background_map(pieces, |(id, rows)| (*id, encode(*id, rows)))
}

/// The segments a stager wrote, as a snapshot lists them.
struct Staged {
    faces: Vec<SegState<FaceSegment>>,
    fingers: Vec<SegState<FingerSegment>>,
}

impl Store {
    /// Commits a bulk plan (see the module docs): the staged segments, the plan's kills and its
    /// catalog, switched in with the manifest. Publishes the new snapshot. On failure nothing is
    /// switched: the writer's state is as before (or the store is poisoned when the manifest
    /// switch itself failed half-way), and staged files are scrubbed.
    pub(super) fn commit_bulk(
        &self,
        w: &mut Writer,
        snap: &Snapshot,
        ops: &[WalOp],
        catalog: Catalog,
        mut stager: Stager,
        seq: u64,
    ) -> Result<()> {
        let staged = stager.finish()?;
        let mut new = snap.clone();
        let mut tails = Tails {
            faces: w.tail_next,
            fingers: w.finger_tail_next,
        };
        let mut dirty = w.dirty.clone();
        apply_ops(&mut new, ops, &mut tails, &mut dirty, Some(catalog))?;
        debug_assert_eq!(
            (tails.faces, tails.fingers),
            (w.tail_next, w.finger_tail_next),
            "a bulk plan logs no inserts"
        );
        // Staged segments go before the in-memory tail blocks (which stay last, see `push_tail`).
        let at = new
            .faces
            .iter()
            .position(|s| s.is_tail())
            .unwrap_or(new.faces.len());
        for s in staged.faces.iter().rev() {
            if s.live_count < s.seg.rows() {
                dirty.insert(s.seg.id());
            }
            new.faces.insert(at, s.clone());
        }
        let at = new
            .fingers
            .iter()
            .position(|s| s.is_tail())
            .unwrap_or(new.fingers.len());
        let freq = Arc::make_mut(&mut new.finger_freq);
        for s in staged.fingers.iter().rev() {
            if s.live_count < s.seg.rows() {
                dirty.insert(s.seg.id());
            }
            for r in s.live_rows() {
                freq.update(s.seg.summary(r), true);
            }
            new.fingers.insert(at, s.clone());
        }
        new.seq = seq;
        let before = (
            std::mem::replace(&mut w.dirty, dirty),
            w.catalog_dirty,
            w.unerased,
        );
        w.catalog_dirty = true;
        let staged_dead = staged.faces.iter().any(|s| s.live_count < s.seg.rows())
            || staged.fingers.iter().any(|s| s.live_count < s.seg.rows());
        if ops.iter().any(WalOp::is_kill) || staged_dead {
            // Dated before the switch, so the manifest carries the erasure deadline.
            self.note_deletion(w);
        }
        match self.rewrite_snapshot(w, Arc::new(new), false) {
            Ok(()) => {
                stager.keep = true;
                Ok(())
            }
            Err(e) => {
                if leaves_state_intact(&e) {
                    (w.dirty, w.catalog_dirty, w.unerased) = before;
                } else {
                    // The switch may have happened: the staged files may be named. Opening
                    // sorts it out (it scrubs what the manifest does not name).
                    stager.keep = true;
                    w.poisoned = Some(format!("bulk commit failed: {e}"));
                }
                Err(e)
            }
        }
    }
}
