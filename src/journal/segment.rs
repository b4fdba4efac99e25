//! Journal files: `journal/evt-<first id>.log`, the events in id order.
//!
//! # Format (version 1)
//! A 32-byte file header: magic `EDGEIDEV`, version `u32`, 4 reserved bytes, the id of the file's
//! first event `u64` (also in its name, in 16 hex digits), 4 reserved bytes, CRC-32C of the first
//! 28 bytes. Then records, all little-endian:
//!
//! ```text
//! len u32 | crc u32 | id u64 | payload (len bytes)
//! ```
//! `len` holds the payload length (low 30 bits) and two flags: bit 30 marks the first record of
//! a batch (the records one fdatasync made durable), bit 31 its last. `crc` is CRC-32C over the
//! `len` word, `id` and the payload. Ids are
//! consecutive: the first record carries the header's first id, each next one the previous plus
//! one. The payload is a record format version
//! `u8` (1) and the postcard encoding of the event without its id (see `event.rs`).
//!
//! # Which files are complete
//! Events are appended to the newest file only. A file is created (header written, fdatasynced,
//! directory fsynced) before the first record goes into it, and only after every record of the
//! previous file was fdatasynced, so every file but the newest is complete and durable: an
//! unreadable record there is damage ([`Error::Corrupt`]). The newest file follows the rule of the
//! store's log (`store/wal.rs`): records are appended only after the previous batch's fdatasync,
//! so at most the last batch can be un-durable and a crash leaves it in any shape. At the first
//! unreadable record, the rest of the file is searched at every byte offset for an intact record
//! with a later id that starts a batch: that batch was only written after the unreadable record's
//! batch was durable, so it is damage (the open fails naming the file and offset, nothing is
//! cut). An intact later record that does not start a batch proves nothing: it may belong to the
//! same unsynced batch, whose pages the disk wrote in any order. If none is found, it is a torn
//! tail, which a writer cuts — back to the end of the last whole batch, so a batch (one
//! `append_batch`, or the appends one group commit wrote) is kept whole or not at all. As in the
//! log, damage to the last durable batch with nothing intact after it cannot be told from a torn
//! write and is treated as one. A newest file no longer than its header whose header is unreadable is a creation that a
//! crash interrupted (no record was ever appended to it): a writer removes it.

use crate::error::{Error, Result};
use std::path::Path;

const MAGIC: [u8; 8] = *b"EDGEIDEV";
/// Format version of journal files.
pub const VERSION: u32 = 1;
/// Bytes of the file header.
pub const HEADER_LEN: u64 = 32;
/// Bytes before a record's payload.
pub const RECORD_HEAD: usize = 16;
/// Largest record payload (a sanity bound against a damaged length; events are far smaller).
pub const MAX_PAYLOAD: u32 = 1 << 20;
/// The bit of a record's `len` that marks the first record of a batch.
const BATCH_START: u32 = 1 << 30;
/// The bit of a record's `len` that marks the last record of a batch.
const BATCH_END: u32 = 1 << 31;
const LEN_MASK: u32 = BATCH_START - 1;

/// The checksum of the record at `at` whose `len` word is `word`, ending at `end`.
fn record_crc(bytes: &[u8], at: usize, word: u32, end: usize) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&word.to_le_bytes()), &bytes[at + 8..end])
}

/// Sets `flag` on the record at `at` of `bytes` and updates its checksum.
fn set_flag(bytes: &mut [u8], at: usize, flag: u32) {
    let word = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) | flag;
    let end = at + RECORD_HEAD + (word & LEN_MASK) as usize;
    let crc = record_crc(bytes, at, word, end);
    bytes[at..at + 4].copy_from_slice(&word.to_le_bytes());
    bytes[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Marks an encoded batch: its first record (at 0) and its last (at `last_at`).
pub fn mark_batch(batch: &mut [u8], last_at: usize) {
    set_flag(batch, 0, BATCH_START);
    set_flag(batch, last_at, BATCH_END);
}

/// The name of the journal file whose first event is `first`.
pub fn file_name(first: u64) -> String {
    format!("evt-{first:016x}.log")
}

/// The first id of a journal file's name; None for other names.
pub fn parse_name(name: &str) -> Option<u64> {
    let hex = name.strip_prefix("evt-")?.strip_suffix(".log")?;
    (hex.len() == 16)
        .then(|| u64::from_str_radix(hex, 16).ok())
        .flatten()
}

/// The file header of a journal file whose first event is `first`.
pub fn header(first: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_LEN as usize);
    h.extend_from_slice(&MAGIC);
    h.extend_from_slice(&VERSION.to_le_bytes());
    h.extend_from_slice(&[0; 4]);
    h.extend_from_slice(&first.to_le_bytes());
    h.extend_from_slice(&[0; 4]);
    let crc = crc32c::crc32c(&h);
    h.extend_from_slice(&crc.to_le_bytes());
    h
}

/// Appends one record (id and the payload `encode` writes) to `out`.
pub fn push_record(
    out: &mut Vec<u8>,
    id: u64,
    encode: impl FnOnce(&mut Vec<u8>) -> Result<()>,
) -> Result<()> {
    let start = out.len();
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&id.to_le_bytes());
    if let Err(e) = encode(out) {
        out.truncate(start);
        return Err(e);
    }
    let len = out.len() - start - RECORD_HEAD;
    if len > MAX_PAYLOAD as usize {
        out.truncate(start);
        return Err(Error::Invalid(format!(
            "an event of {len} bytes is larger than a journal record may be ({MAX_PAYLOAD})"
        )));
    }
    let crc = record_crc(out, start, len as u32, out.len());
    out[start..start + 4].copy_from_slice(&(len as u32).to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Checks a file header; returns the first id.
pub fn check_header(bytes: &[u8], expect_first: u64, path: &Path) -> Result<u64> {
    let hl = HEADER_LEN as usize;
    if bytes.len() < hl || bytes[..8] != MAGIC {
        return Err(Error::corrupt(
            path,
            "not an edgeid journal file (bad header)",
        ));
    }
    if crc32c::crc32c(&bytes[..28]) != u32::from_le_bytes(bytes[28..32].try_into().unwrap()) {
        return Err(Error::corrupt(
            path,
            "journal file header checksum mismatch",
        ));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
    if version != VERSION {
        return Err(Error::Version {
            path: path.into(),
            found: version,
            min: VERSION,
            max: VERSION,
        });
    }
    let first = u64::from_le_bytes(bytes[16..24].try_into().unwrap());
    if first != expect_first {
        return Err(Error::corrupt(
            path,
            format!("header names first event {first}, the file name {expect_first}"),
        ));
    }
    Ok(first)
}

/// One intact record of a file.
#[derive(Debug, Clone, Copy)]
pub struct Rec {
    /// Event id.
    pub id: u64,
    /// Payload range in the file's bytes.
    pub payload: (usize, usize),
    /// The last record of a batch.
    pub batch_end: bool,
}

/// The records of a file, one at a time, checked (see [`scan`] for the rule at a bad record).
pub struct Records<'a> {
    bytes: &'a [u8],
    pos: usize,
    next_id: u64,
    path: &'a Path,
    complete: bool,
    /// Set when the iteration stopped at a torn tail: the bytes that are sound.
    pub torn_at: Option<usize>,
}

impl<'a> Records<'a> {
    /// Iterates the records of a journal file (header checked by the caller) whose first id is
    /// `first`; `complete`: every record of it is durable (any file but the newest), so an
    /// unreadable one is damage.
    pub fn new(bytes: &'a [u8], first: u64, path: &'a Path, complete: bool) -> Self {
        Records {
            bytes,
            pos: HEADER_LEN as usize,
            next_id: first,
            path,
            complete,
            torn_at: None,
        }
    }

    /// Iterates from byte `pos`, where the record of id `next_id` starts (where an earlier
    /// iteration over the same bytes ended).
    pub fn resume(
        bytes: &'a [u8],
        pos: usize,
        next_id: u64,
        path: &'a Path,
        complete: bool,
    ) -> Self {
        Records {
            pos,
            next_id,
            ..Records::new(bytes, next_id, path, complete)
        }
    }
}

impl Iterator for Records<'_> {
    type Item = Result<Rec>;
    fn next(&mut self) -> Option<Result<Rec>> {
        if self.pos >= self.bytes.len() || self.torn_at.is_some() {
            return None;
        }
        let pos = self.pos;
        match intact_at(self.bytes, pos) {
            Some((id, end, batch_end, _)) if id == self.next_id => {
                self.pos = end;
                self.next_id += 1;
                Some(Ok(Rec {
                    id,
                    payload: (pos + RECORD_HEAD, end),
                    batch_end,
                }))
            }
            Some((id, ..)) => Some(Err(Error::corrupt(
                self.path,
                format!(
                    "record at byte {pos} has id {id}, expected {}: ids must be consecutive",
                    self.next_id
                ),
            ))),
            None => {
                let later = find_intact_after(self.bytes, pos + 1, self.next_id);
                if self.complete || later.is_some() {
                    let why = match later {
                        Some((at, id)) => format!(
                            "the intact record of event {id}, which starts a later batch, follows \
                             at byte {at}, so it was durable"
                        ),
                        None => "the file is complete (a newer one follows it)".into(),
                    };
                    return Some(Err(Error::corrupt(
                        self.path,
                        format!(
                            "record at byte {pos} (event {}) is damaged; {why}. Nothing was \
                             changed or cut; keep this file for analysis",
                            self.next_id
                        ),
                    )));
                }
                self.torn_at = Some(pos);
                None
            }
        }
    }
}

/// What [`scan`] found in the newest file.
#[derive(Debug)]
pub struct Scan {
    /// The last record of the last whole batch (None: no record).
    pub last: Option<Rec>,
    /// Bytes of the header and whole batches; anything after is a torn tail.
    pub valid_len: u64,
}

/// Checks every record of the newest file (see the module docs).
pub fn scan(bytes: &[u8], first: u64, path: &Path) -> Result<Scan> {
    let mut last = None;
    for r in Records::new(bytes, first, path, false) {
        let r = r?;
        if r.batch_end {
            last = Some(r);
        }
    }
    Ok(Scan {
        last,
        valid_len: last.map_or(HEADER_LEN, |r: Rec| r.payload.1 as u64),
    })
}

/// The id, end and batch-end mark of the record at `pos`, when it is complete and its checksum
/// is right.
fn intact_at(bytes: &[u8], pos: usize) -> Option<(u64, usize, bool, bool)> {
    let rest = bytes.len().checked_sub(pos)?;
    if rest < RECORD_HEAD {
        return None;
    }
    let word = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap());
    let len = word & LEN_MASK;
    let crc = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap());
    if len > MAX_PAYLOAD || rest - RECORD_HEAD < len as usize {
        return None;
    }
    let end = pos + RECORD_HEAD + len as usize;
    if record_crc(bytes, pos, word, end) != crc {
        return None;
    }
    Some((
        u64::from_le_bytes(bytes[pos + 8..pos + 16].try_into().unwrap()),
        end,
        word & BATCH_END != 0,
        word & BATCH_START != 0,
    ))
}

/// The first intact record starting a batch at or after byte `from` whose id could follow
/// `next`, the id of the unreadable record (one of the next `(len - from) / 16 + 1`: records are at least 16 bytes), as
/// (offset, id). Only
/// offsets whose id field is in that range have their checksum computed.
fn find_intact_after(bytes: &[u8], from: usize, next: u64) -> Option<(usize, u64)> {
    let bound = (bytes.len().saturating_sub(from) / RECORD_HEAD) as u64 + 1;
    (from..=bytes.len().checked_sub(RECORD_HEAD)?).find_map(|q| {
        let id = u64::from_le_bytes(bytes[q + 8..q + 16].try_into().unwrap());
        let k = id.wrapping_sub(next);
        if k == 0 || k > bound {
            return None;
        }
        intact_at(bytes, q).and_then(|(.., start)| start.then_some((q, id)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(first: u64, n: u64) -> (Vec<u8>, Vec<usize>) {
        let mut f = header(first);
        let mut starts = Vec::new();
        for id in first..first + n {
            starts.push(f.len());
            push_record(&mut f, id, |o| {
                o.extend_from_slice(format!("event {id}").as_bytes());
                Ok(())
            })
            .unwrap();
            let at = *starts.last().unwrap();
            mark_batch(&mut f[at..], 0);
        }
        (f, starts)
    }

    #[test]
    fn a_batch_is_kept_whole_or_not_at_all() {
        let p = Path::new("evt");
        let mut f = header(1);
        let mut at = Vec::new();
        for id in 1..=4 {
            at.push(f.len());
            push_record(&mut f, id, |o| {
                o.extend_from_slice(&[id as u8; 40]);
                Ok(())
            })
            .unwrap();
        }
        mark_batch(&mut f[at[0]..], 0);
        mark_batch(&mut f[at[1]..], at[3] - at[1]);
        let s = scan(&f, 1, p).unwrap();
        assert_eq!((s.last.unwrap().id, s.valid_len as usize), (4, f.len()));
        // The batch 2..=4 without its last record: cut back to event 1.
        let s = scan(&f[..f.len() - 17], 1, p).unwrap();
        assert_eq!((s.last.unwrap().id, s.valid_len as usize), (1, at[1]));
        // A lost page in the middle of that batch (written in any order, not synced): its later
        // records prove nothing, a torn tail.
        let mut holed = f.clone();
        holed[at[2]..at[3]].fill(0);
        let s = scan(&holed, 1, p).unwrap();
        assert_eq!((s.last.unwrap().id, s.valid_len as usize), (1, at[1]));
        // The same hole in the first batch, followed by the intact start of the second: damage.
        let mut bad = f.clone();
        bad[at[0]..at[1]].fill(0);
        assert!(matches!(scan(&bad, 1, p), Err(Error::Corrupt { .. })));
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(parse_name(&file_name(0x1234)), Some(0x1234));
        assert_eq!(parse_name("evt-12.log"), None);
        assert_eq!(parse_name("ACK"), None);
    }

    #[test]
    fn torn_tails_are_cut_and_damage_before_an_intact_record_is_corruption() {
        let p = Path::new("evt");
        let (f, starts) = file(7, 3);
        check_header(&f, 7, p).unwrap();
        assert!(check_header(&f, 8, p).is_err());
        let s = scan(&f, 7, p).unwrap();
        assert_eq!((s.last.unwrap().id, s.valid_len as usize), (9, f.len()));
        for cut in starts[2]..f.len() {
            let s = scan(&f[..cut], 7, p).unwrap();
            assert_eq!((s.last.unwrap().id, s.valid_len as usize), (8, starts[2]));
        }
        for at in starts[0]..starts[2] {
            let mut bad = f.clone();
            bad[at] ^= 0x10;
            assert!(
                matches!(scan(&bad, 7, p), Err(Error::Corrupt { .. })),
                "byte {at}"
            );
        }
        for at in starts[2]..f.len() {
            let mut bad = f.clone();
            bad[at] ^= 0x10;
            assert_eq!(scan(&bad, 7, p).unwrap().last.unwrap().id, 8);
            // In a complete file the same is damage.
            let r: Result<Vec<_>> = Records::new(&bad, 7, p, true).collect();
            assert!(matches!(r, Err(Error::Corrupt { .. })));
        }
    }
}
