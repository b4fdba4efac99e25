//! The template store: the terminal's single source of truth, in one directory on its flash.
//!
//! # Layout and commit protocol
//! - `LOCK` — the writer holds a `flock` on the directory itself (a lock file could be deleted
//!   and re-created under it) and on `LOCK` (which builds before that lock only `LOCK`). Read-only
//!   opens take neither (see `open.rs`).
//! - `MANIFEST` — names the live segments, their deletion files and the live log (see `manifest`).
//! - `wal-<gen>.log` — the write-ahead log (see `wal`). **A commit** validates the whole batch, resolves
//!   deletes to physical rows, appends one checksummed record and fdatasyncs it. Only then is the change
//!   applied in memory and published as a new [`Snapshot`]. A crash before the fdatasync completes loses
//!   the commit (the torn record is discarded on replay); after it, replay restores it.
//! - `seg-<id>.seg` — immutable face segments (see `segment::face`), `fng-<id>.fsg` — immutable
//!   finger segments (see `segment::finger`), `seg-<id>-<gen>.del` — the deleted rows of either.
//! - `catalog-<id>.cat` — the catalog at the last checkpoint.
//! - `CODE-KEYS` — the locations' code keys, unless a provider keeps them elsewhere (see `keys`).
//! - `journal/` — the event journal (see [`crate::journal`]), opened with the store.
//!
//! Faces and fingers are two indexes kept the same way (segments, deletion files, an in-memory tail
//! replayed from the log), committed by the same log records and checkpointed by the same manifest
//! switch, so one commit can change both atomically (a synchronised user with face and fingers).
//!
//! **A checkpoint** (when the tail grows past a bound, on `compact`, and on `erase_deleted`) writes
//! the live tail as a new segment and changed deletion lists as new files, fsyncs each, creates the next
//! log, fsyncs the directory, then writes `MANIFEST.tmp`, fsyncs it, renames it over `MANIFEST` and
//! fsyncs the directory. Until that rename is durable, the old manifest and old log are complete and
//! name the same state; after it, the new ones do. Files the manifest no longer names are then
//! scrubbed (overwritten with zeros, fsynced) and unlinked — segment files only once no snapshot maps
//! them. Opening for writing scrubs any file the manifest does not name (leftovers of an
//! interrupted checkpoint), once everything the manifest names was read and found sound.
//!
//! **Compaction** rewrites segments with deleted rows into one new segment, the same way; searches go
//! on over the old snapshot meanwhile.
//!
//! # Erasure of deleted templates
//! A deleted template's embedding lives on in the log (until the next checkpoint) and in its segment
//! (until compaction). [`Store::erase_deleted`] does both and scrubs the old files; every commit runs
//! it when the oldest un-erased deletion is older than [`OpenOptions::erase_within`] (default 10 min),
//! and so does [`Store::maintain`], which a terminal calls periodically. The CLI's remove erases at once.
//! The deletion's date is kept in the manifest, so the deadline holds across restarts and a store
//! opened after it erases at open (see `maintenance`).
//! Scrubbing overwrites the file's blocks through the file system; on flash behind a translation layer
//! the old physical pages are released to the device, which reclaims them on its own schedule.
//!
//! # Housekeeping never undoes a commit
//! A commit is durable once its log record is synced. The checkpoint or erasure that may follow it
//! can fail (a full disk) without making the commit fail: it returns `Ok` with
//! [`Committed::maintenance_pending`], the error is kept ([`Store::maintenance_error`], [`Stats`])
//! and the work is retried by the next commit or [`Store::maintain`] (see `maintenance`).
//!
//! # Where things live
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`Store`], the writer's state, publishing snapshots |
//! | `options.rs`, `change.rs` | [`OpenOptions`]; [`Change`] and what a commit reports ([`Committed`]) |
//! | `open.rs` | create, open (writer or read-only): manifest, mapping segments, replaying the log, then scrubbing leftovers |
//! | `upgrade.rs` | bringing a store of an older build up to this one, on open |
//! | `commit.rs` | validation, the plan under the writer lock, the log append, publication |
//! | `planner.rs` | changes resolved to rows against the current state (`Planner`) |
//! | `apply.rs` | logged ops applied to a snapshot: live bits, tail blocks and their merges |
//! | `checkpoint.rs` | checkpoint, compaction, scrubbing released files |
//! | `bulk.rs` | the bulk path: a large commit's templates staged as segment files in bounded pieces, switched in with the manifest |
//! | `maintenance.rs` | housekeeping after commits, `maintain`, erasure and its deadline, failures kept for retry |
//! | `snapshot.rs`, `stats.rs`, `bitmap.rs` | what a search sees; counts and checksums; live rows |
//! | `segment/` | the two segment formats behind one `SegmentKind` trait |
//! | `wal.rs`, `manifest.rs`, `files.rs`, `codec.rs` | the log, manifest and deletion-file formats; file names; byte encoding |
//! | `keys.rs` | [`keys::CodeKeys`]: the code keys, apart from the hashes (`CODE-KEYS` by default) |
//!
//! Searches over a snapshot are in `index`, deltas in `sync`: both sit above the store.

mod apply;
mod bitmap;
mod bulk;
mod change;
mod checkpoint;
mod codec;
mod commit;
mod files;
pub mod keys;
mod maintenance;
mod manifest;
mod open;
mod options;
mod planner;
pub(crate) mod segment;
mod snapshot;
mod stats;
mod upgrade;
mod wal;
pub mod workers;

pub use change::{Change, Committed};
pub use files::FileKind;
pub use options::{
    Clock, LogLevel, Logger, OpenOptions, DEFAULT_BULK_ROWS, DEFAULT_MAX_DELTA_BYTES,
    DEFAULT_MAX_SEGMENT_BYTES, DEFAULT_MEMORY_BUDGET,
};
pub use segment::{FaceRowIn, FaceSegment, FingerRowIn, FingerSegment};
pub use snapshot::Snapshot;
pub use stats::{IndexStats, Stats};
pub use wal::RowRef;
pub use workers::{Searching, Workers};

pub(crate) use planner::Planner;
pub(crate) use segment::SegState;

use crate::error::{Error, Result};
use crate::fs::{Fs, FsFile};
use crate::kernels::Kernels;
use maintenance::Unerased;
use manifest::Manifest;
use segment::{tail_rows, Mapped};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// (location, user, template): a template's ids.
type Key = (String, String, String);

fn key(location: &str, user: &str, template: &str) -> Key {
    (location.to_string(), user.to_string(), template.to_string())
}

/// The writer's state, behind the store's one writer mutex.
struct Writer {
    wal: Box<dyn FsFile>,
    wal_len: u64,
    manifest: Manifest,
    /// Next tail row number.
    tail_next: u64,
    /// Next finger-tail row number.
    finger_tail_next: u64,
    /// (location, user, template) → row, built on the first write (opening does not need it).
    keys: Option<BTreeMap<Key, RowRef>>,
    /// The same for fingerprint templates.
    finger_keys: Option<BTreeMap<Key, RowRef>>,
    /// Segments (face or finger) whose deletions changed since the manifest was written.
    dirty: HashSet<u64>,
    /// The catalog changed since the manifest was written.
    catalog_dirty: bool,
    /// The oldest deletion whose bytes may still be on the flash, and its erasure deadline.
    unerased: Option<Unerased>,
    /// The error of the last housekeeping when it failed (see `maintenance`).
    maintenance: Option<String>,
    /// Files no longer named by the manifest, waiting until no snapshot maps them.
    graveyard: Vec<(Option<Mapped>, PathBuf)>,
    poisoned: Option<String>,
    /// The poisoning was reported to the logger (once).
    poison_logged: bool,
}

/// A store directory, open for reading and writing.
pub struct Store {
    dir: PathBuf,
    fs: Arc<dyn Fs>,
    /// Where the locations' code keys are (see `keys`).
    code_keys: Arc<dyn keys::CodeKeys>,
    opts: OpenOptions,
    kernels: Kernels,
    /// The store's threads: every parallel loop runs on them (see `workers`).
    workers: Arc<Workers>,
    current: RwLock<Arc<Snapshot>>,
    /// Replaced snapshots that searches may still hold; freed by the writer (see `publish`).
    retired: Mutex<Vec<Arc<Snapshot>>>,
    writer: Mutex<Writer>,
    /// What `stats` reports of the writer's state, published by the writer after each commit,
    /// checkpoint and housekeeping so `stats` never waits behind a running commit.
    published: Mutex<Published>,
    /// State a layer above keeps for this open store, opaque here: the door decision's
    /// anti-passback and punch state (`access::state`), loaded on its first use.
    layered: std::sync::OnceLock<Box<dyn std::any::Any + Send + Sync>>,
    /// The event journal (`journal/`), opened with the store.
    journal: crate::journal::Journal,
    _lock: Box<dyn Send + Sync>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.dir.display())
    }
}

/// The writer's state as `stats` reports it.
#[derive(Clone)]
struct Published {
    manifest: Manifest,
    wal_len: u64,
    maintenance: Option<String>,
}

fn path_of(dir: &Path, k: FileKind) -> PathBuf {
    dir.join(k.name())
}

impl Store {
    /// The current snapshot (cheap: an `Arc` clone).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The provider of the locations' code keys (see [`keys`]).
    pub(crate) fn code_keys(&self) -> &dyn keys::CodeKeys {
        &*self.code_keys
    }

    /// The SIMD kernels in use.
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    /// Largest synchronisation delta this store accepts, in bytes
    /// ([`OpenOptions::max_delta_bytes`]); callers reading a delta from a file or the network can
    /// refuse a larger one before reading it.
    pub fn max_delta_bytes(&self) -> usize {
        self.opts.max_delta_bytes
    }

    /// Memory a bulk load may use above the mapped data ([`OpenOptions::memory_budget`]).
    pub(crate) fn memory_budget(&self) -> usize {
        self.opts.memory_budget
    }

    /// Templates from which a commit or delta takes the bulk path ([`OpenOptions::bulk_rows`]).
    pub(crate) fn bulk_rows(&self) -> usize {
        self.opts.bulk_rows
    }

    /// The search thread pool (None: searches run on the calling thread).
    pub(crate) fn pool(&self) -> Option<&rayon::ThreadPool> {
        self.workers.pool()
    }

    /// The store's threads ([`OpenOptions::threads`]): every parallel loop of the library runs
    /// on them through [`Workers::install`] or [`Workers::map`], never on rayon's global pool, and
    /// closing the store joins them (see `workers`).
    pub fn workers(&self) -> &Workers {
        &self.workers
    }

    /// Reports an event to the store's logger ([`OpenOptions::logger`]), if it has one.
    pub(crate) fn report(&self, level: LogLevel, message: impl FnOnce() -> String) {
        if let Some(l) = &self.opts.logger {
            l(level, &message());
        }
    }

    /// The store's event journal (`<store>/journal/`): decisions, applied and refused deltas,
    /// clock changes; read and acknowledged by the platform (see [`crate::journal`]).
    pub fn journal(&self) -> &crate::journal::Journal {
        &self.journal
    }

    /// The terminal's clock was set from `from_micros` to `to_micros` (Unix microseconds): a
    /// `ClockChanged` event, and the time quality of later events (see
    /// [`crate::journal::Journal::clock_changed`]). Returns the event's id.
    pub fn clock_changed(
        &self,
        from_micros: i64,
        to_micros: i64,
        quality: crate::journal::TimeQuality,
    ) -> Result<u64> {
        self.check_writable()?;
        self.journal.clock_changed(from_micros, to_micros, quality)
    }

    /// Store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Now, from [`OpenOptions::clock`] (the system clock by default).
    pub fn now(&self) -> std::time::SystemTime {
        self.opts
            .clock
            .as_ref()
            .map_or_else(std::time::SystemTime::now, |c| c())
    }

    /// The file system the store writes through.
    pub(crate) fn fs(&self) -> &dyn Fs {
        &*self.fs
    }

    /// The state a layer above keeps for this open store (see the field's docs): made by `init`
    /// on first use.
    pub(crate) fn layered<T: std::any::Any + Send + Sync>(&self, init: impl FnOnce() -> T) -> &T {
        self.layered
            .get_or_init(|| Box::new(init()))
            .downcast_ref()
            .expect("one layer keeps state in a store")
    }

    /// Publishes the writer's manifest, log length and housekeeping error for [`Store::stats`].
    fn publish_files(&self, w: &Writer) {
        *self.published.lock().unwrap_or_else(|e| e.into_inner()) = Published {
            manifest: w.manifest.clone(),
            wal_len: w.wal_len,
            maintenance: w.maintenance.clone(),
        };
    }

    /// True when either tail has grown past its checkpoint bound.
    fn tail_full(&self, snap: &Snapshot) -> bool {
        tail_rows(&snap.faces) >= self.opts.checkpoint_rows
            || tail_rows(&snap.fingers) >= self.opts.checkpoint_fingers
    }

    /// Whether the store was opened read-only (see [`OpenOptions::read_only`]).
    pub fn is_read_only(&self) -> bool {
        self.opts.read_only
    }

    /// Refuses a write on a read-only store, before any work is done.
    pub(crate) fn check_writable(&self) -> Result<()> {
        if self.opts.read_only {
            return Err(Error::ReadOnly(self.dir.clone()));
        }
        Ok(())
    }

    /// The writer's state, for every write: refused on a read-only or poisoned store.
    fn writer(&self) -> Result<std::sync::MutexGuard<'_, Writer>> {
        self.check_writable()?;
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = w.poisoned.clone() {
            if !w.poison_logged {
                w.poison_logged = true;
                self.report(LogLevel::Error, || {
                    format!(
                        "store {} refuses writes until reopened: {p}",
                        self.dir.display()
                    )
                });
            }
            return Err(Error::Poisoned(p));
        }
        Ok(w)
    }

    fn publish(&self, snap: Snapshot) {
        let old = std::mem::replace(
            &mut *self.current.write().unwrap_or_else(|e| e.into_inner()),
            Arc::new(snap),
        );
        // A search still running on the old snapshot must not be the one that frees it (hundreds
        // of MB after a full synchronisation): retired snapshots are freed here, by the writer, once
        // no search holds them.
        let mut retired = self.retired.lock().unwrap_or_else(|e| e.into_inner());
        retired.push(old);
        retired.retain(|s| Arc::strong_count(s) > 1);
    }
}
