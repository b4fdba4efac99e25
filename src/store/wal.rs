//! The write-ahead log: one checksummed record per commit, appended and fdatasynced before the commit
//! returns. Segment files and the manifest are written later by checkpoints, so a commit costs one
//! append and one fdatasync.
//!
//! # Format (version 2)
//! A 32-byte file header: magic `EDGEIDWL`, version `u32`, dimension `u32`, generation `u64`,
//! 4 reserved bytes, CRC-32C of the first 28 bytes. Then records:
//!
//! ```text
//! len u32 | crc u32 | seq u64 | payload (len bytes)
//! ```
//! `crc` is CRC-32C over `seq` and the payload. The payload is `u32` op count, then ops:
//! - `1` insert: location, user, template (u16 length + UTF-8 each), `dim` × f32 (normalised embedding).
//!   Inserted rows take consecutive tail row numbers, in log order, starting at 0 in each generation.
//! - `2` kill a segment row: segment id `u64`, row `u32`.
//! - `3` kill a tail row: tail row number `u64`.
//! - `4` catalog change: `u32` length + a postcard-encoded `catalog::CatalogOp` (users, credentials as
//!   keyed hashes, rights, schedules, doors, per-location sync state).
//! - `5` finger insert: location, user, template (as in `1`), finger position `u8`, `u32` length +
//!   the prepared template (`finger::template`; logged prepared so replay costs no matcher work),
//!   source format code `u8` (as in `segment::finger`), `u32` length + the source minutiae record.
//!   Finger rows take consecutive finger-tail row numbers, like face rows.
//! - `6` kill a finger segment row: segment id `u64`, row `u32`.
//! - `7` kill a finger tail row: finger-tail row number `u64`.
//!
//! Ops 5–7 came with the finger index (manifest version 2); a store whose manifest is version 1 has
//! none in its log. The catalog op `SetTrust` (signing keys, appended to `CatalogOp`) came with
//! signed deltas: a build from before them cannot read a log holding one (it reports the record
//! as damaged) nor a catalog file of version 3, so such a store is not opened by older builds.
//! The same holds for `PutUserAccess` and `PutDoorAccess` (door-decision settings of delta format
//! 2, appended to `CatalogOp`, with catalog file version 4); a store that never received a
//! format-2 delta logs neither.
//!
//! Version 1 is the same, but its catalog ops may be `CatalogOp::LegacyApplied`, which carries a
//! location's code key itself; version 2 logs only `CatalogOp::Applied`, which names the key by its
//! id (the key is with the key provider, see `keys`). Both are read; opening a version-1 log for
//! writing moves its keys to the provider and checkpoints, which scrubs the old log. A version-1
//! log appended to by this build (one whose records held no key) keeps its header.
//!
//! Deletes are logged as the physical rows they kill (resolved by the writer before logging), so replay
//! needs no id index and is deterministic. Sequences are consecutive: the first record of generation
//! `gen` carries the manifest's `last_seq + 1`.
//!
//! # Torn tail or damage
//! The writer appends a record only after the previous one's fdatasync returned, so at most the
//! last record of a log can be un-durable, and a crash can leave it in any shape: a prefix (short
//! header, or a length running past the end of the file), or — on a file system or flash that
//! publishes the new length before the data — a complete-looking record whose pages were never
//! written (zeros or stale bytes). Replay reads records while they are intact (length within the
//! file and ≤ 1 GiB, checksum right). At the first one that is not, it searches the rest of the
//! file, at every byte offset, for an intact record with a later sequence (the 8-byte sequence
//! field is the filter, so the search is linear):
//! - **none found: a torn tail.** The records before it are the log; a writer cuts the file there
//!   (a read-only open just stops there in memory).
//! - **one found: damage.** That later record was only appended after the damaged one was durable,
//!   so an acknowledged commit was damaged on the medium. Opening fails with [`Error::Corrupt`]
//!   naming the file and the byte offset, and nothing is cut: a store that silently forgot a
//!   commit could bring a revoked user back.
//!
//! Damage to the *last* record cannot be told from a torn write (both are "the final record is
//! unreadable, nothing follows"), so it is treated as one: that commit is lost like an
//! unacknowledged one, and a synchronised location reports the previous sequence, so the platform
//! sends that delta again.

use super::codec::{ByteReader, ByteWriter, Short};
use crate::error::{Error, Result};
use std::path::Path;

const MAGIC: [u8; 8] = *b"EDGEIDWL";
const VERSION: u32 = 2;
/// Oldest version read.
const MIN_VERSION: u32 = 1;
/// Bytes of the file header.
pub const HEADER_LEN: u64 = 32;
const RECORD_HEAD: usize = 16;
/// Largest record accepted on replay (a sanity bound against a corrupted length).
const MAX_RECORD: u32 = 1 << 30;

/// Where a template row lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RowRef {
    /// Row `row` of published segment `id`.
    Seg {
        /// Segment id.
        id: u64,
        /// Row in the segment.
        row: u32,
    },
    /// Row number `n` of the in-memory tail (since the last checkpoint).
    Tail(u64),
}

/// A physical operation in the log.
#[derive(Debug, Clone, PartialEq)]
pub enum WalOp {
    /// Append a template to the tail.
    FaceInsert {
        /// Location id.
        location: String,
        /// User id.
        user: String,
        /// Template id.
        template: String,
        /// Normalised embedding.
        vector: Vec<f32>,
    },
    /// Mark a row dead.
    FaceKill(RowRef),
    /// A catalog change (postcard-encoded `catalog::CatalogOp`).
    Catalog(Vec<u8>),
    /// Append a prepared fingerprint template to the finger tail.
    FingerInsert {
        /// Location id.
        location: String,
        /// User id.
        user: String,
        /// Template id.
        template: String,
        /// Finger position (ISO/IEC 19794-2 code).
        position: u8,
        /// The prepared template's bytes.
        record: Vec<u8>,
        /// Format code of the source record (see `segment::finger::format_code`).
        format: u8,
        /// The minutiae record it was prepared from.
        source: Vec<u8>,
    },
    /// Mark a finger row dead.
    FingerKill(RowRef),
}

impl WalOp {
    /// True for ops that delete a row (face or finger).
    pub fn is_kill(&self) -> bool {
        matches!(self, WalOp::FaceKill(_) | WalOp::FingerKill(_))
    }
}

/// The file header of a log of generation `gen`.
pub fn header(dim: u32, gen: u64) -> Vec<u8> {
    let mut w = ByteWriter::default();
    w.bytes(&MAGIC);
    w.u32(VERSION);
    w.u32(dim);
    w.u64(gen);
    w.u32(0);
    let crc = crc32c::crc32c(&w.0);
    w.u32(crc);
    w.0
}

/// Encodes one op.
fn encode_op(w: &mut ByteWriter, op: &WalOp) {
    match op {
        WalOp::FaceInsert {
            location,
            user,
            template,
            vector,
        } => {
            w.u8(1);
            w.str(location);
            w.str(user);
            w.str(template);
            w.f32s(vector);
        }
        WalOp::FaceKill(RowRef::Seg { id, row }) => {
            w.u8(2);
            w.u64(*id);
            w.u32(*row);
        }
        WalOp::FaceKill(RowRef::Tail(n)) => {
            w.u8(3);
            w.u64(*n);
        }
        WalOp::Catalog(b) => {
            w.u8(4);
            w.u32(b.len() as u32);
            w.bytes(b);
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
            w.u8(5);
            w.str(location);
            w.str(user);
            w.str(template);
            w.u8(*position);
            w.u32(record.len() as u32);
            w.bytes(record);
            w.u8(*format);
            w.u32(source.len() as u32);
            w.bytes(source);
        }
        WalOp::FingerKill(RowRef::Seg { id, row }) => {
            w.u8(6);
            w.u64(*id);
            w.u32(*row);
        }
        WalOp::FingerKill(RowRef::Tail(n)) => {
            w.u8(7);
            w.u64(*n);
        }
    }
}

/// Bytes buffered before they are handed to the sink by [`write_record`].
const CHUNK: usize = 1 << 20;

/// Writes one commit record through `sink` in pieces of about 1 MiB, so a commit carrying
/// hundreds of megabytes of templates (a large synchronisation with fingerprints) never holds a
/// second copy of them: one pass over the ops computes the length and checksum, a second writes.
/// Returns the record's length. A sink error leaves a partial record, which the caller cuts back.
pub fn write_record(
    seq: u64,
    ops: &[WalOp],
    sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<u64> {
    let mut scratch = ByteWriter::default();
    let mut count = ByteWriter::default();
    count.u32(ops.len() as u32);
    let mut len = count.0.len() as u64;
    let mut crc = crc32c::crc32c(&seq.to_le_bytes());
    crc = crc32c::crc32c_append(crc, &count.0);
    for op in ops {
        scratch.0.clear();
        encode_op(&mut scratch, op);
        len += scratch.0.len() as u64;
        crc = crc32c::crc32c_append(crc, &scratch.0);
    }
    let mut buf = ByteWriter(Vec::with_capacity(CHUNK.min(len as usize + RECORD_HEAD)));
    buf.u32(len as u32);
    buf.u32(crc);
    buf.u64(seq);
    buf.bytes(&count.0);
    for op in ops {
        encode_op(&mut buf, op);
        if buf.0.len() >= CHUNK {
            sink(&buf.0)?;
            buf.0.clear();
        }
    }
    if !buf.0.is_empty() {
        sink(&buf.0)?;
    }
    Ok(RECORD_HEAD as u64 + len)
}

/// Encodes one commit record into a buffer (see [`write_record`]).
#[cfg(test)]
pub fn encode_record(seq: u64, ops: &[WalOp]) -> Vec<u8> {
    let mut out = Vec::new();
    write_record(seq, ops, &mut |b| {
        out.extend_from_slice(b);
        Ok(())
    })
    .expect("writing to memory cannot fail");
    out
}

/// What replay found in a log.
#[derive(Debug)]
pub struct Replay {
    /// Complete records: (sequence, ops).
    pub records: Vec<(u64, Vec<WalOp>)>,
    /// Bytes of the file that hold the header and complete records; anything after is a torn tail.
    pub valid_len: u64,
    /// The log's format version (1: its catalog ops may carry code keys).
    pub version: u32,
}

/// Reads a whole log whose first record follows sequence `base_seq` (the manifest's `last_seq`).
/// A bad header is corruption; a bad record is a torn tail only when no intact record follows it
/// (see the module docs), otherwise corruption.
pub fn replay(bytes: &[u8], dim: usize, gen: u64, base_seq: u64, path: &Path) -> Result<Replay> {
    let hl = HEADER_LEN as usize;
    if bytes.len() < hl || bytes[..8] != MAGIC {
        return Err(Error::corrupt(path, "not a write-ahead log (bad header)"));
    }
    let h = &bytes[..hl];
    if crc32c::crc32c(&h[..28]) != u32::from_le_bytes(h[28..32].try_into().unwrap()) {
        return Err(Error::corrupt(path, "log header checksum mismatch"));
    }
    let version = u32::from_le_bytes(h[8..12].try_into().unwrap());
    if !(MIN_VERSION..=VERSION).contains(&version) {
        return Err(Error::Version {
            path: path.into(),
            found: version,
            min: MIN_VERSION,
            max: VERSION,
        });
    }
    let fdim = u32::from_le_bytes(h[12..16].try_into().unwrap()) as usize;
    let fgen = u64::from_le_bytes(h[16..24].try_into().unwrap());
    if fdim != dim || fgen != gen {
        return Err(Error::corrupt(
            path,
            format!("log is for dimension {fdim} generation {fgen}, expected {dim} and {gen}"),
        ));
    }
    let mut pos = hl;
    let mut records = Vec::new();
    let mut last_seq = base_seq;
    while pos < bytes.len() {
        let Some((seq, end)) = intact_at(bytes, pos) else {
            if let Some((at, seq)) = find_intact_after(bytes, pos + 1, last_seq) {
                return Err(Error::corrupt(
                    path,
                    format!(
                        "record at byte {pos} (sequence {}) is damaged, but the intact record \
                         of sequence {seq} follows at byte {at}, so it was a durable commit. \
                         Nothing was changed or cut. To recover, restore the store from a backup, \
                         or re-create it and re-sync every location from the platform (a full \
                         synchronisation); keep this file for analysis",
                        last_seq.wrapping_add(1)
                    ),
                ));
            }
            break;
        };
        let ops = decode_ops(&bytes[pos + RECORD_HEAD..end], dim)
            .map_err(|Short(w)| Error::corrupt(path, format!("record at byte {pos}: bad {w}")))?;
        records.push((seq, ops));
        last_seq = seq;
        pos = end;
    }
    Ok(Replay {
        records,
        valid_len: pos as u64,
        version,
    })
}

/// The sequence and end of the record at `pos`, when it is complete and its checksum is right.
fn intact_at(bytes: &[u8], pos: usize) -> Option<(u64, usize)> {
    let rest = bytes.len().checked_sub(pos)?;
    if rest < RECORD_HEAD {
        return None;
    }
    let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap());
    let crc = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap());
    if len > MAX_RECORD || rest - RECORD_HEAD < len as usize {
        return None;
    }
    let end = pos + RECORD_HEAD + len as usize;
    if crc32c::crc32c(&bytes[pos + 8..end]) != crc {
        return None;
    }
    Some((
        u64::from_le_bytes(bytes[pos + 8..pos + 16].try_into().unwrap()),
        end,
    ))
}

/// The first intact record at or after byte `from` whose sequence could follow `last_seq` (one of
/// the next `(len - from) / 16 + 1`: records are at least 16 bytes), as (offset, sequence). Only
/// offsets whose sequence field is in that range have their checksum computed.
fn find_intact_after(bytes: &[u8], from: usize, last_seq: u64) -> Option<(usize, u64)> {
    let bound = (bytes.len().saturating_sub(from) / RECORD_HEAD) as u64 + 1;
    (from..=bytes.len().checked_sub(RECORD_HEAD)?).find_map(|q| {
        let seq = u64::from_le_bytes(bytes[q + 8..q + 16].try_into().unwrap());
        let k = seq.wrapping_sub(last_seq);
        if k == 0 || k > bound {
            return None;
        }
        intact_at(bytes, q).map(|_| (q, seq))
    })
}

fn decode_ops(payload: &[u8], dim: usize) -> Result<Vec<WalOp>, Short> {
    let mut r = ByteReader::new(payload);
    let n = r.u32("op count")?;
    let mut ops = Vec::with_capacity((n as usize).min(payload.len()));
    for _ in 0..n {
        ops.push(match r.u8("op tag")? {
            1 => WalOp::FaceInsert {
                location: r.str("location")?.to_string(),
                user: r.str("user")?.to_string(),
                template: r.str("template")?.to_string(),
                vector: r.f32s(dim, "embedding")?,
            },
            2 => WalOp::FaceKill(RowRef::Seg {
                id: r.u64("segment id")?,
                row: r.u32("row")?,
            }),
            3 => WalOp::FaceKill(RowRef::Tail(r.u64("tail row")?)),
            4 => {
                let n = r.u32("catalog op length")? as usize;
                WalOp::Catalog(r.take(n, "catalog op")?.to_vec())
            }
            5 => WalOp::FingerInsert {
                location: r.str("location")?.to_string(),
                user: r.str("user")?.to_string(),
                template: r.str("template")?.to_string(),
                position: r.u8("finger position")?,
                record: {
                    let n = r.u32("finger record length")? as usize;
                    r.take(n, "finger record")?.to_vec()
                },
                format: r.u8("finger source format")?,
                source: {
                    let n = r.u32("finger source length")? as usize;
                    r.take(n, "finger source")?.to_vec()
                },
            },
            6 => WalOp::FingerKill(RowRef::Seg {
                id: r.u64("finger segment id")?,
                row: r.u32("finger row")?,
            }),
            7 => WalOp::FingerKill(RowRef::Tail(r.u64("finger tail row")?)),
            _ => return Err(Short("op tag")),
        });
    }
    if r.remaining() != 0 {
        return Err(Short("record length"));
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_torn_tails_are_cut() {
        let ops = vec![
            WalOp::FaceInsert {
                location: "local".into(),
                user: "u".into(),
                template: "t".into(),
                vector: vec![0.5, -0.5],
            },
            WalOp::FaceKill(RowRef::Seg { id: 3, row: 9 }),
            WalOp::FaceKill(RowRef::Tail(4)),
            WalOp::FingerInsert {
                location: "local".into(),
                user: "u".into(),
                template: "r-index".into(),
                position: 2,
                record: vec![1, 2, 3, 4, 5, 6, 7, 8],
                format: 1,
                source: vec![9, 9, 9],
            },
            WalOp::FingerKill(RowRef::Seg { id: 5, row: 1 }),
            WalOp::FingerKill(RowRef::Tail(0)),
        ];
        let mut file = header(2, 7);
        file.extend(encode_record(1, &ops));
        let full = file.len();
        file.extend(encode_record(2, &ops[1..]));
        let r = replay(&file, 2, 7, 0, Path::new("wal")).unwrap();
        assert_eq!(r.records.len(), 2);
        assert_eq!(r.records[0], (1, ops.clone()));
        assert_eq!(r.valid_len as usize, file.len());
        for cut in full..file.len() {
            let r = replay(&file[..cut], 2, 7, 0, Path::new("wal")).unwrap();
            assert_eq!(r.records.len(), 1);
            assert_eq!(r.valid_len as usize, full);
        }
        let mut bad = file.clone();
        let n = bad.len() - 1;
        bad[n] ^= 0x55;
        assert_eq!(
            replay(&bad, 2, 7, 0, Path::new("wal"))
                .unwrap()
                .records
                .len(),
            1
        );
        assert!(replay(&file, 2, 8, 0, Path::new("wal")).is_err());
    }

    #[test]
    fn damage_before_an_intact_record_is_corruption_a_bad_last_record_is_torn() {
        let op = |u: &str| {
            vec![WalOp::FaceInsert {
                location: "l".into(),
                user: u.into(),
                template: "t".into(),
                vector: vec![0.5, -0.5],
            }]
        };
        let mut file = header(2, 3);
        let mut starts = Vec::new();
        for (i, u) in ["a", "b", "c"].iter().enumerate() {
            starts.push(file.len());
            file.extend(encode_record(11 + i as u64, &op(u)));
        }
        let p = Path::new("wal");
        // Every byte of the first two records, flipped: corruption at that record's offset.
        for at in starts[0]..starts[2] {
            let mut bad = file.clone();
            bad[at] ^= 0x04;
            let rec = if at < starts[1] { starts[0] } else { starts[1] };
            match replay(&bad, 2, 3, 10, p) {
                Err(Error::Corrupt { what, .. }) => {
                    assert!(what.contains(&format!("record at byte {rec} ")), "{what}")
                }
                other => panic!("byte {at}: {other:?}"),
            }
        }
        // The last record's bytes lost (zeros) or flipped: a torn tail.
        let mut torn = file.clone();
        torn[starts[2] + 16..].fill(0);
        let r = replay(&torn, 2, 3, 10, p).unwrap();
        assert_eq!((r.records.len(), r.valid_len as usize), (2, starts[2]));
        for at in starts[2]..file.len() {
            let mut bad = file.clone();
            bad[at] ^= 0x04;
            assert_eq!(replay(&bad, 2, 3, 10, p).unwrap().records.len(), 2);
        }
    }

    #[test]
    fn records_larger_than_a_chunk_are_written_in_pieces() {
        let big: Vec<WalOp> = (0..5u8)
            .map(|i| WalOp::FingerInsert {
                location: "l".into(),
                user: format!("u{i}"),
                template: "t".into(),
                position: i,
                record: vec![i; 700_000],
                format: 1,
                source: vec![i; 300],
            })
            .collect();
        let mut pieces = 0;
        let mut file = header(2, 1);
        let n = write_record(9, &big, &mut |b| {
            assert!(b.len() <= CHUNK + 800_000);
            pieces += 1;
            file.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        assert!(pieces > 1);
        assert_eq!(n as usize, file.len() - HEADER_LEN as usize);
        let r = replay(&file, 2, 1, 0, Path::new("wal")).unwrap();
        assert_eq!(r.records, vec![(9, big)]);
    }
}
