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
//! `crc` is CRC-32C over `id` and the payload. Ids are consecutive: the first record carries the
//! header's first id, each next one the previous plus one. The payload is a record format version
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
//! with a later id: if one is found the unreadable record was durable, so it is damage (the open
//! fails naming the file and offset, nothing is cut); if none, it is a torn tail, which a writer
//! cuts. A newest file no longer than its header whose header is unreadable is a creation that a
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
    let crc = crc32c::crc32c(&out[start + 8..]);
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
            Some((id, end)) if id == self.next_id => {
                self.pos = end;
                self.next_id += 1;
                Some(Ok(Rec {
                    id,
                    payload: (pos + RECORD_HEAD, end),
                }))
            }
            Some((id, _)) => Some(Err(Error::corrupt(
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
                            "the intact record of event {id} follows at byte {at}, so it was durable"
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
    /// Id of the last intact record (None: no record).
    pub last: Option<Rec>,
    /// Bytes of the header and intact records; anything after is a torn tail.
    pub valid_len: u64,
}

/// Checks every record of the newest file (see the module docs).
pub fn scan(bytes: &[u8], first: u64, path: &Path) -> Result<Scan> {
    let mut it = Records::new(bytes, first, path, false);
    let mut last = None;
    for r in it.by_ref() {
        last = Some(r?);
    }
    let valid_len = it
        .torn_at
        .unwrap_or_else(|| last.map_or(HEADER_LEN as usize, |r: Rec| r.payload.1));
    Ok(Scan {
        last,
        valid_len: valid_len as u64,
    })
}

/// The id and end of the record at `pos`, when it is complete and its checksum is right.
fn intact_at(bytes: &[u8], pos: usize) -> Option<(u64, usize)> {
    let rest = bytes.len().checked_sub(pos)?;
    if rest < RECORD_HEAD {
        return None;
    }
    let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap());
    let crc = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap());
    if len > MAX_PAYLOAD || rest - RECORD_HEAD < len as usize {
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

/// The first intact record at or after byte `from` whose id could follow `next`, the id of the
/// unreadable record (one of the next `(len - from) / 16 + 1`: records are at least 16 bytes), as
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
        intact_at(bytes, q).map(|_| (q, id))
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
        }
        (f, starts)
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
