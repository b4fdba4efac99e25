//! Applying logged ops to a snapshot: live bits, new in-memory tail blocks, their merges.

use super::segment::{
    finger, locate, FaceRowIn, FaceSegment, FingerRowIn, FingerSegment, SegState, SegmentKind,
    Shape,
};
use super::wal::{RowRef, WalOp};
use super::Snapshot;
use crate::catalog::{Catalog, CatalogOp};
use crate::error::{alloc, Error, Result};
use crate::finger::enroll::prepare;
use crate::finger::TemplateRef;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

/// Next tail row numbers of the two indexes.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Tails {
    pub(super) faces: u64,
    pub(super) fingers: u64,
}

/// Clears the live bit of a logged row; returns (segment index, row) if it was live. A row inserted
/// earlier in the same batch (`Tail(n)` with `n >= next`) is returned as `Err(n - next)`.
fn kill<S: SegmentKind>(
    segs: &mut [SegState<S>],
    r: RowRef,
    next: u64,
    dirty: &mut HashSet<u64>,
) -> Result<std::result::Result<Option<(usize, usize)>, usize>> {
    if let RowRef::Tail(n) = r {
        if n >= next {
            return Ok(Err((n - next) as usize));
        }
    }
    let (i, row) = locate(segs, r)
        .ok_or_else(|| Error::corrupt("write-ahead log", format!("deletes unknown row {r:?}")))?;
    let s = &mut segs[i];
    if !s.is_tail() {
        dirty.insert(s.seg.id());
    }
    if Arc::make_mut(&mut s.live).clear(row) {
        s.live_count -= 1;
        return Ok(Ok(Some((i, row))));
    }
    Ok(Ok(None))
}

/// Applies logged ops to a snapshot: kills clear live bits (copy-on-write per segment), inserts form
/// a new in-memory tail block per index; tail blocks are merged like a binary counter so there are
/// O(log n).
pub(super) fn apply_ops(
    snap: &mut Snapshot,
    ops: &[WalOp],
    tails: &mut Tails,
    dirty: &mut HashSet<u64>,
    catalog: Option<Catalog>,
) -> Result<()> {
    let applied = catalog.is_some();
    if let Some(c) = catalog {
        snap.catalog = c;
    }
    let mut inserts = Vec::new();
    let mut finger_inserts = Vec::new();
    let mut killed_new = Vec::new();
    let mut fingers_killed_new = Vec::new();
    for op in ops {
        match op {
            WalOp::FaceKill(r) => {
                if let Err(n) = kill(&mut snap.faces, *r, tails.faces, dirty)? {
                    killed_new.push(n);
                }
            }
            WalOp::FingerKill(r) => match kill(&mut snap.fingers, *r, tails.fingers, dirty)? {
                Ok(Some((i, row))) => {
                    Arc::make_mut(&mut snap.finger_freq)
                        .update(snap.fingers[i].seg.summary(row), false);
                }
                Ok(None) => {}
                Err(n) => fingers_killed_new.push(n),
            },
            WalOp::Catalog(bytes) => {
                if !applied {
                    let op: CatalogOp = postcard::from_bytes(bytes).map_err(|e| {
                        Error::corrupt("write-ahead log", format!("catalog op: {e}"))
                    })?;
                    snap.catalog.apply(&op);
                }
            }
            WalOp::FaceInsert {
                location,
                user,
                template,
                vector,
            } => {
                if vector.len() != snap.dim {
                    return Err(Error::corrupt(
                        "write-ahead log",
                        "insert of wrong dimension",
                    ));
                }
                inserts.push(FaceRowIn {
                    location,
                    user,
                    template,
                    vector,
                    from: None,
                });
            }
            WalOp::FingerInsert {
                location,
                user,
                template,
                position,
                record,
                format,
                source,
            } => {
                let bad =
                    |m: String| Error::corrupt("write-ahead log", format!("finger insert: {m}"));
                let fmt = finger::format_of(*format)
                    .ok_or_else(|| bad(format!("source format code {format}")))?;
                let record: std::borrow::Cow<'_, [u8]> = if TemplateRef::from_bytes(record).is_ok()
                {
                    record.into()
                } else {
                    // Logged by a build that prepared differently: prepare again from the source.
                    prepare(source, Some(fmt), Some(*position))
                        .map_err(|e| bad(e.to_string()))?
                        .record
                        .into()
                };
                finger_inserts.push((location, user, template, *position, record, source, fmt));
            }
        }
    }
    let model = snap.model.clone();
    let shape = Shape {
        model: &model,
        dim: snap.dim,
    };
    if !inserts.is_empty() {
        let base = tails.faces;
        tails.faces += inserts.len() as u64;
        let bytes = FaceSegment::in_memory(super::segment::face::encode(
            base, &model, snap.dim, &inserts,
        )?)?;
        let block = tail_block(base, &killed_new, |_| {
            FaceSegment::open(bytes, Path::new("(face tail)"))
        });
        push_tail(&mut snap.faces, block, shape)?;
    }
    if !finger_inserts.is_empty() {
        let finger_inserts: Vec<FingerRowIn<'_>> = finger_inserts
            .iter()
            .map(|(l, u, t, position, record, source, format)| FingerRowIn {
                location: l,
                user: u,
                template: t,
                position: *position,
                record,
                source,
                format: *format,
            })
            .collect();
        let base = tails.fingers;
        tails.fingers += finger_inserts.len() as u64;
        let freq = Arc::make_mut(&mut snap.finger_freq);
        for (i, f) in finger_inserts.iter().enumerate() {
            if !fingers_killed_new.contains(&i) {
                let t = TemplateRef::from_bytes(f.record).expect("checked above");
                freq.update(t.summary(), true);
            }
        }
        let bytes = FingerSegment::in_memory(finger::encode(base, &finger_inserts)?)?;
        let block = tail_block(base, &fingers_killed_new, |_| {
            FingerSegment::open(bytes, Path::new("(finger tail)"))
        });
        push_tail(&mut snap.fingers, block, shape)?;
    }
    Ok(())
}

/// A new in-memory tail block whose row 0 is tail row `base`, with rows `dead` already killed.
fn tail_block<S: SegmentKind>(
    base: u64,
    dead: &[usize],
    build: impl FnOnce(u64) -> Result<S>,
) -> SegState<S> {
    let seg = build(base).expect("freshly encoded segment is valid");
    SegState::new(seg, dead, Some(base))
}

/// Appends a tail block and merges the newest blocks while the older is not more than twice the
/// newer, like a binary counter (so there are O(log n) blocks).
fn push_tail<S: SegmentKind>(
    segs: &mut Vec<SegState<S>>,
    block: SegState<S>,
    shape: Shape<'_>,
) -> Result<()> {
    segs.push(block);
    loop {
        let n = segs.len();
        if n < 2 {
            break;
        }
        let (a, b) = (&segs[n - 2], &segs[n - 1]);
        if !a.is_tail() || a.seg.rows() > 2 * b.seg.rows() {
            break;
        }
        let merged = merge_tail(a, b, shape)?;
        segs.truncate(n - 2);
        segs.push(merged);
    }
    Ok(())
}

/// Merges two adjacent tail blocks, keeping row numbering (dead rows are kept, marked dead).
fn merge_tail<S: SegmentKind>(
    a: &SegState<S>,
    b: &SegState<S>,
    shape: Shape<'_>,
) -> Result<SegState<S>> {
    let mut rows = alloc::with_capacity(a.seg.rows() + b.seg.rows(), "tail merge")?;
    let mut dead = Vec::new();
    for s in [a, b] {
        for r in 0..s.seg.rows() {
            if !s.live.get(r) {
                dead.push(rows.len());
            }
            rows.push((&*s.seg, r));
        }
    }
    let base = a.tail_base.expect("tail");
    let bytes = S::in_memory(S::encode_rows(base, &rows, shape)?)?;
    Ok(tail_block(base, &dead, |_| {
        S::open(bytes, Path::new("(tail)"), shape)
    }))
}
