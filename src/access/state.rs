//! The door decision's durable state: who passed which anti-passback area last, in which
//! direction and when, and each user's last punch of each kind (for the duplicate-punch
//! window). Kept in memory once loaded (on the first decision that needs it, so opening a store
//! never reads it) and written whole after every change, before the decision is returned.
//!
//! # `ACCESS-STATE` (version 1)
//! In the store directory: magic `EDGEIDAS`, version `u32`, payload length `u64`, CRC-32C `u32`
//! of the payload, then the payload: the postcard encoding of [`StateFile`]. Written to
//! `ACCESS-STATE.tmp`, fdatasynced, renamed over `ACCESS-STATE`, directory fsynced: a crash
//! leaves the old or the new state, never a torn one. A missing file is the empty state; a
//! damaged one is an error for every decision that needs it (never silently reset: an
//! anti-passback area would forget who is inside).
//!
//! Its size is bounded by the users: one passage per (area, user) and one punch per (user,
//! punch kind); punches older than the longest window a delta may set (a year) are dropped when
//! the file is written.

use crate::catalog::Direction;
use crate::error::{Error, Result};
use crate::fs::{write_file, Fs};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

/// The file's name in the store directory.
pub const FILE: &str = "ACCESS-STATE";
const TMP: &str = "ACCESS-STATE.tmp";
const MAGIC: &[u8; 8] = b"EDGEIDAS";
const VERSION: u32 = 1;
/// Punches older than this (seconds) are forgotten (the longest duplicate window a delta sets).
const PUNCH_MEMORY: i64 = 366 * 86_400;

/// The state, as written (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StateFile {
    /// (location, area) → user → (direction, Unix seconds) of the last granted passage.
    pub passages: BTreeMap<(String, String), BTreeMap<String, (Direction, i64)>>,
    /// (location, user, punch kind) → Unix seconds of the last punch.
    pub punches: BTreeMap<(String, String, String), i64>,
}

impl StateFile {
    fn encode(&self) -> Vec<u8> {
        let payload = postcard::to_allocvec(self).expect("state serialises");
        let mut out = Vec::with_capacity(payload.len() + 24);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    fn decode(b: &[u8], path: &Path) -> Result<StateFile> {
        if b.len() < 24 || &b[..8] != MAGIC {
            return Err(Error::corrupt(path, "not a door state file (bad magic)"));
        }
        let version = u32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(Error::Version {
                path: path.into(),
                found: version,
                min: VERSION,
                max: VERSION,
            });
        }
        let len = u64::from_le_bytes(b[12..20].try_into().expect("8 bytes"));
        let crc = u32::from_le_bytes(b[20..24].try_into().expect("4 bytes"));
        let payload = &b[24..];
        if payload.len() as u64 != len || crc32c::crc32c(payload) != crc {
            return Err(Error::corrupt(
                path,
                "door state: length or checksum mismatch",
            ));
        }
        postcard::from_bytes(payload)
            .map_err(|e| Error::corrupt(path, format!("door state payload: {e}")))
    }
}

/// The state of one open store (held in the store, see `Store::layered`).
#[derive(Default)]
pub struct DoorState {
    loaded: Mutex<Option<StateFile>>,
}

/// The state locked for one decision.
pub struct Locked<'a> {
    guard: MutexGuard<'a, Option<StateFile>>,
}

impl DoorState {
    /// Locks the state (decisions at doors that need it run one at a time), loading it first.
    pub fn lock(&self, fs: &dyn Fs, dir: &Path) -> Result<Locked<'_>> {
        let mut guard = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            let p = dir.join(FILE);
            *guard = Some(match fs.read(&p) {
                Ok(b) => StateFile::decode(&b, &p)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => StateFile::default(),
                Err(e) => return Err(Error::io("read", &p, e)),
            });
        }
        Ok(Locked { guard })
    }
}

impl Locked<'_> {
    /// The state.
    pub fn get(&self) -> &StateFile {
        self.guard.as_ref().expect("loaded by lock")
    }

    /// Replaces the state durably (see the module docs); on failure the state in memory is
    /// unchanged.
    pub fn replace(&mut self, mut new: StateFile, now: i64, fs: &dyn Fs, dir: &Path) -> Result<()> {
        new.punches
            .retain(|_, t| now.saturating_sub(*t) <= PUNCH_MEMORY);
        let tmp = dir.join(TMP);
        let path = dir.join(FILE);
        write_file(fs, &tmp, &new.encode())?;
        fs.rename(&tmp, &path)
            .map_err(|e| Error::io("rename", &path, e))?;
        fs.sync_dir(dir).map_err(|e| Error::io("fsync", dir, e))?;
        *self.guard = Some(new);
        Ok(())
    }
}
