//! The journal's small state file, `journal/ACK`: the acknowledged cursor, the id high-water mark
//! and what the size bound dropped.
//!
//! # Format (version 1), 88 bytes, little-endian
//! ```text
//! magic "EDGEIDAK" | version u32 | reserved u32 |
//! acked u64       every id <= acked was acknowledged by the platform
//! next_id u64     the id high-water mark: every id below it may have been used
//! floor u64       every id <= floor is dropped (its file removed)
//! lost u64        unacknowledged events dropped by the size bound, in total
//! overflows u64   how many times that happened
//! pending_first u64 | pending_last u64 | pending_count u64
//!                 an overflow whose event is not yet known durable (count 0: none)
//! reserved u32 | crc u32 (CRC-32C of the 84 bytes before it)
//! ```
//! It is replaced atomically: `ACK.tmp` written and fdatasynced, renamed over `ACK`, directory
//! fsynced. A crash leaves the old or the new state, never a mix; a leftover `ACK.tmp` is removed
//! on open. A missing `ACK` is the state of a new journal (nothing acknowledged, ids from 1).

use crate::error::{Error, Result};
use crate::fs::{write_file, Fs};
use std::path::Path;

const MAGIC: [u8; 8] = *b"EDGEIDAK";
const VERSION: u32 = 1;
const LEN: usize = 88;
/// Name of the state file.
pub const FILE: &str = "ACK";
/// Name of the state file being written.
pub const TMP: &str = "ACK.tmp";

/// The state the file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckState {
    /// Last acknowledged id (0: none).
    pub acked: u64,
    /// The id high-water mark.
    pub next_id: u64,
    /// Every id up to this was dropped.
    pub floor: u64,
    /// Unacknowledged events dropped, in total.
    pub lost: u64,
    /// Overflows, in total.
    pub overflows: u64,
    /// An overflow whose event is not yet durable: (first, last, count).
    pub pending: Option<(u64, u64, u64)>,
}

impl Default for AckState {
    fn default() -> Self {
        AckState {
            acked: 0,
            next_id: 1,
            floor: 0,
            lost: 0,
            overflows: 0,
            pending: None,
        }
    }
}

impl AckState {
    fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(LEN);
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&VERSION.to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        let (pf, pl, pc) = self.pending.unwrap_or((0, 0, 0));
        for v in [
            self.acked,
            self.next_id,
            self.floor,
            self.lost,
            self.overflows,
            pf,
            pl,
            pc,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&[0; 4]);
        let crc = crc32c::crc32c(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        debug_assert_eq!(b.len(), LEN);
        b
    }

    fn decode(b: &[u8], path: &Path) -> Result<AckState> {
        if b.len() != LEN || b[..8] != MAGIC {
            return Err(Error::corrupt(path, "not an edgeid journal state file"));
        }
        if crc32c::crc32c(&b[..LEN - 4]) != u32::from_le_bytes(b[LEN - 4..].try_into().unwrap()) {
            return Err(Error::corrupt(path, "journal state checksum mismatch"));
        }
        let version = u32::from_le_bytes(b[8..12].try_into().unwrap());
        if version != VERSION {
            return Err(Error::Version {
                path: path.into(),
                found: version,
                min: VERSION,
                max: VERSION,
            });
        }
        let u = |i: usize| u64::from_le_bytes(b[16 + 8 * i..24 + 8 * i].try_into().unwrap());
        let s = AckState {
            acked: u(0),
            next_id: u(1),
            floor: u(2),
            lost: u(3),
            overflows: u(4),
            pending: (u(7) != 0).then(|| (u(5), u(6), u(7))),
        };
        if s.acked >= s.next_id || s.floor >= s.next_id {
            return Err(Error::corrupt(
                path,
                format!(
                    "acknowledged {} / dropped {} at or past the high-water mark {}",
                    s.acked, s.floor, s.next_id
                ),
            ));
        }
        Ok(s)
    }

    /// Reads the state of the journal in `dir` (the default when there is no file).
    pub fn read(fs: &dyn Fs, dir: &Path) -> Result<AckState> {
        let p = dir.join(FILE);
        match fs.read(&p) {
            Ok(b) => AckState::decode(&b, &p),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AckState::default()),
            Err(e) => Err(Error::io("read", &p, e)),
        }
    }

    /// Replaces the state file atomically (see the module docs).
    pub fn write(&self, fs: &dyn Fs, dir: &Path) -> Result<()> {
        let tmp = dir.join(TMP);
        let p = dir.join(FILE);
        if fs.file_len(&tmp).is_ok() {
            fs.scrub_remove(&tmp)
                .map_err(|e| Error::io("remove", &tmp, e))?;
        }
        write_file(fs, &tmp, &self.encode())?;
        fs.rename(&tmp, &p)
            .map_err(|e| Error::io("rename", &tmp, e))?;
        fs.sync_dir(dir).map_err(|e| Error::io("fsync", dir, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_damage_is_refused() {
        let s = AckState {
            acked: 5,
            next_id: 9,
            floor: 3,
            lost: 2,
            overflows: 1,
            pending: Some((2, 3, 2)),
        };
        let b = s.encode();
        let p = Path::new("ACK");
        assert_eq!(AckState::decode(&b, p).unwrap(), s);
        for i in 0..b.len() {
            let mut bad = b.clone();
            bad[i] ^= 1;
            assert!(AckState::decode(&bad, p).is_err(), "byte {i}");
        }
    }
}
