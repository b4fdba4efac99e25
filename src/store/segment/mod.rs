//! Segments: the immutable, memory-mapped files that hold an index's templates, and the bookkeeping
//! the store does the same way for both kinds.
//!
//! - [`face`]: face segments (`seg-<id>.seg`): quantised codes and exact vectors.
//! - [`finger`]: finger segments (`fng-<id>.fsg`): prepared fingerprint templates and their sources.
//!
//! Their bulk data and scans share nothing, so they are two file formats; what the store needs of a
//! segment — its rows' ids, a checksum pass, how it is opened, encoded and named on disk — is the
//! [`SegmentKind`] trait, and everything above it (live bitmaps, in-memory tail blocks, row
//! references, deletion files, rewrites) is one generic code path over both.

pub mod face;
pub mod finger;

pub use face::{FaceRowIn, FaceSegment};
pub use finger::{FingerRowIn, FingerSegment};

use super::bitmap::Bitmap;
use super::files::FileKind;
use super::wal::RowRef;
use super::{key, Key};
use crate::error::{alloc, Error, Result};
use crate::mmap::Bytes;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// The store's face model and dimension, which every face segment must carry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape<'a> {
    /// Face model id.
    pub(crate) model: &'a str,
    /// Embedding dimension.
    pub(crate) dim: usize,
}

/// What the store's bookkeeping needs of a segment, face or finger.
pub(crate) trait SegmentKind: Sized + Send + Sync + 'static {
    /// What [`SegmentKind::encode_rows`] returns: the bytes of a new segment file.
    type Encoded: AsRef<[u8]>;
    /// The file that holds segment `id` of this kind.
    fn file(id: u64) -> FileKind;
    /// Checks a segment's header and tables (not its bulk) and maps it; refuses one that does not
    /// fit the store's `shape`.
    fn open(bytes: Bytes, path: &Path, shape: Shape<'_>) -> Result<Self>;
    /// A new segment `id` holding the given rows of existing segments, in that order.
    fn encode_rows(id: u64, rows: &[(&Self, usize)], shape: Shape<'_>) -> Result<Self::Encoded>;
    /// Encoded bytes as an in-memory file (for tail blocks).
    fn in_memory(e: Self::Encoded) -> Result<Bytes>;
    /// Segment id (for the tail: the tail row number of row 0).
    fn id(&self) -> u64;
    /// Rows, live or dead.
    fn rows(&self) -> usize;
    /// (location, user, template) of a row.
    fn row_ids(&self, r: usize) -> (&str, &str, &str);
    /// Reads every byte and checks the bulk checksum.
    fn verify_payload(&self) -> Result<()>;
    /// Size of the file in bytes.
    fn byte_len(&self) -> usize;
    /// Bytes of a file of this kind besides its rows (see [`SegmentKind::row_bytes`]).
    const FIXED_BYTES: usize;
    /// Upper bound of the bytes row `r` adds to a new segment file: with
    /// [`SegmentKind::FIXED_BYTES`], what caps a segment file's size (see [`split_rows`]).
    fn row_bytes(&self, r: usize, shape: Shape<'_>) -> usize;
}

/// Splits rows of known sizes into consecutive runs whose files stay within `max_bytes`
/// (`fixed` + the rows' sizes); a row larger than the cap on its own gets a file of its own.
/// Returns the end of each run.
pub(crate) fn split_rows(
    sizes: impl Iterator<Item = usize>,
    fixed: usize,
    max_bytes: usize,
) -> Vec<usize> {
    let mut ends = Vec::new();
    let (mut n, mut bytes) = (0usize, fixed);
    for size in sizes {
        if bytes + size > max_bytes && bytes > fixed {
            ends.push(n);
            bytes = fixed;
        }
        bytes += size;
        n += 1;
    }
    if bytes > fixed {
        ends.push(n);
    }
    ends
}

impl SegmentKind for FaceSegment {
    type Encoded = Vec<u8>;
    fn file(id: u64) -> FileKind {
        FileKind::FaceSegment(id)
    }
    fn open(bytes: Bytes, path: &Path, shape: Shape<'_>) -> Result<Self> {
        let seg = FaceSegment::open(bytes, path)?;
        if seg.dim() != shape.dim || seg.model() != shape.model {
            return Err(Error::corrupt(
                path,
                format!(
                    "segment says model {} dim {}, manifest says model {} dim {}",
                    seg.model(),
                    seg.dim(),
                    shape.model,
                    shape.dim
                ),
            ));
        }
        Ok(seg)
    }
    fn encode_rows(id: u64, rows: &[(&Self, usize)], shape: Shape<'_>) -> Result<Vec<u8>> {
        let mut v = alloc::with_capacity(rows.len(), "segment rows")?;
        v.extend(rows.iter().map(|&(s, r)| FaceRowIn::of(s, r)));
        face::encode(id, shape.model, shape.dim, &v)
    }
    fn in_memory(e: Vec<u8>) -> Result<Bytes> {
        Bytes::try_copy_from(&e, "in-memory face segment")
    }
    fn id(&self) -> u64 {
        FaceSegment::id(self)
    }
    fn rows(&self) -> usize {
        FaceSegment::rows(self)
    }
    fn row_ids(&self, r: usize) -> (&str, &str, &str) {
        FaceSegment::row_ids(self, r)
    }
    fn verify_payload(&self) -> Result<()> {
        FaceSegment::verify_payload(self)
    }
    fn byte_len(&self) -> usize {
        FaceSegment::byte_len(self)
    }
    const FIXED_BYTES: usize = face::FIXED_BYTES;
    fn row_bytes(&self, r: usize, shape: Shape<'_>) -> usize {
        let (l, u, t) = self.row_ids(r);
        face::row_bytes(shape.dim, l, u, t)
    }
}

impl SegmentKind for FingerSegment {
    type Encoded = crate::mmap::AlignedBuf;
    fn file(id: u64) -> FileKind {
        FileKind::FingerSegment(id)
    }
    fn open(bytes: Bytes, path: &Path, _: Shape<'_>) -> Result<Self> {
        FingerSegment::open(bytes, path)
    }
    fn encode_rows(id: u64, rows: &[(&Self, usize)], _: Shape<'_>) -> Result<Self::Encoded> {
        let mut v = alloc::with_capacity(rows.len(), "segment rows")?;
        v.extend(rows.iter().map(|&(s, r)| FingerRowIn::of(s, r)));
        finger::encode(id, &v)
    }
    fn in_memory(e: Self::Encoded) -> Result<Bytes> {
        Ok(e.freeze())
    }
    fn id(&self) -> u64 {
        FingerSegment::id(self)
    }
    fn rows(&self) -> usize {
        FingerSegment::rows(self)
    }
    fn row_ids(&self, r: usize) -> (&str, &str, &str) {
        FingerSegment::row_ids(self, r)
    }
    fn verify_payload(&self) -> Result<()> {
        FingerSegment::verify_payload(self)
    }
    fn byte_len(&self) -> usize {
        FingerSegment::byte_len(self)
    }
    const FIXED_BYTES: usize = finger::FIXED_BYTES;
    fn row_bytes(&self, r: usize, _: Shape<'_>) -> usize {
        let (l, u, t) = self.row_ids(r);
        finger::row_bytes(l, u, t, self.record(r).len(), self.source(r).len())
    }
}

/// A segment in a snapshot with its live rows.
#[derive(Debug)]
pub(crate) struct SegState<S> {
    pub(crate) seg: Arc<S>,
    pub(crate) live: Arc<Bitmap>,
    pub(crate) live_count: usize,
    /// For in-memory tail blocks: the tail row number of row 0.
    pub(crate) tail_base: Option<u64>,
}

impl<S> Clone for SegState<S> {
    fn clone(&self) -> Self {
        SegState {
            seg: self.seg.clone(),
            live: self.live.clone(),
            live_count: self.live_count,
            tail_base: self.tail_base,
        }
    }
}

impl<S: SegmentKind> SegState<S> {
    /// A segment with every row live but `dead`.
    pub(crate) fn new(seg: S, dead: &[usize], tail_base: Option<u64>) -> Self {
        let mut live = Bitmap::full(seg.rows());
        for &r in dead {
            if r < seg.rows() {
                live.clear(r);
            }
        }
        SegState {
            live_count: live.count(),
            live: Arc::new(live),
            seg: Arc::new(seg),
            tail_base,
        }
    }
    /// True for an in-memory tail block (not yet a file).
    pub(crate) fn is_tail(&self) -> bool {
        self.tail_base.is_some()
    }
    /// The log's reference to row `r`.
    pub(crate) fn row_ref(&self, r: usize) -> RowRef {
        match self.tail_base {
            Some(b) => RowRef::Tail(b + r as u64),
            None => RowRef::Seg {
                id: self.seg.id(),
                row: r as u32,
            },
        }
    }
    /// Live rows.
    pub(crate) fn live_rows(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.seg.rows()).filter(|&r| self.live.get(r))
    }
}

/// Rows held in in-memory tail blocks.
pub(crate) fn tail_rows<S: SegmentKind>(segs: &[SegState<S>]) -> usize {
    segs.iter()
        .filter(|s| s.is_tail())
        .map(|s| s.seg.rows())
        .sum()
}

/// Rows held, live or dead.
pub(crate) fn all_rows<S: SegmentKind>(segs: &[SegState<S>]) -> usize {
    segs.iter().map(|s| s.seg.rows()).sum()
}

/// Live rows.
pub(crate) fn live_rows<S: SegmentKind>(segs: &[SegState<S>]) -> usize {
    segs.iter().map(|s| s.live_count).sum()
}

/// (location, user, template) → row of every live row.
pub(crate) fn build_keys<S: SegmentKind>(segs: &[SegState<S>]) -> BTreeMap<Key, RowRef> {
    let mut keys = BTreeMap::new();
    for s in segs {
        for r in s.live_rows() {
            let (l, u, t) = s.seg.row_ids(r);
            keys.insert(key(l, u, t), s.row_ref(r));
        }
    }
    keys
}

/// Where a logged row reference lives: (segment index, row).
pub(crate) fn locate<S: SegmentKind>(segs: &[SegState<S>], r: RowRef) -> Option<(usize, usize)> {
    match r {
        RowRef::Seg { id, row } => segs
            .iter()
            .position(|s| !s.is_tail() && s.seg.id() == id)
            .filter(|&i| (row as usize) < segs[i].seg.rows())
            .map(|i| (i, row as usize)),
        RowRef::Tail(n) => segs
            .iter()
            .position(|s| {
                s.tail_base
                    .is_some_and(|b| n >= b && n < b + s.seg.rows() as u64)
            })
            .map(|i| (i, (n - segs[i].tail_base.unwrap_or(0)) as usize)),
    }
}

/// A file the graveyard keeps until no snapshot maps it (a face or finger segment).
pub(crate) type Mapped = Arc<dyn std::any::Any + Send + Sync>;
