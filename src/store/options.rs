//! How a store is opened: file system, threads, checkpoint bounds, erasure deadline, kernels,
//! read-only.

use super::keys::CodeKeys;
use crate::fs::{Fs, StdFs};
use crate::kernels::Kernels;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A wall clock (see [`OpenOptions::clock`]).
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// How much a log line matters (see [`OpenOptions::logger`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Something failed and is kept for retry, or the store refuses writes until reopened.
    Error = 1,
    /// Something was refused (a delta) or repaired (a torn log tail cut at open).
    Warn = 2,
    /// A normal event worth a line in a terminal's log (open, checkpoint, compaction).
    Info = 3,
}

/// The vendor's logger: called with a level and one line of text, on the thread of the store
/// call that produced it (calls from different threads may be concurrent). It must not call the
/// store's writing functions (see [`OpenOptions::logger`]).
pub type Logger = Arc<dyn Fn(LogLevel, &str) + Send + Sync>;

/// Default of [`OpenOptions::max_delta_bytes`]: 64 MiB. A full synchronisation of 10,000 users
/// with one 512-d face each is about 29 MB (`edgeid bench sync`), 37 MB with two fingerprints
/// each, so this fits a large site with room to grow, while bounding what one delta may cost in
/// memory (docs/sync-protocol.md, "Limits").
pub const DEFAULT_MAX_DELTA_BYTES: usize = 64 << 20;

/// Default of [`OpenOptions::max_segment_bytes`]: the largest segment file (and so the largest
/// single mapping) a store writes. 256 MiB on 32-bit targets, whose 2–3 GiB of address space must
/// also hold the firmware, its libraries and the heap; 2 GiB on 64-bit ones. See the README,
/// "Gallery size limits".
pub const DEFAULT_MAX_SEGMENT_BYTES: usize = if cfg!(target_pointer_width = "32") {
    256 << 20
} else {
    2 << 30
};

/// Default of [`OpenOptions::memory_budget`]: 128 MiB.
pub const DEFAULT_MEMORY_BUDGET: usize = 128 << 20;

/// Default of [`OpenOptions::bulk_rows`]: 4,096 templates.
pub const DEFAULT_BULK_ROWS: usize = 4_096;

/// How to open a store.
#[derive(Clone)]
pub struct OpenOptions {
    pub(super) fs: Arc<dyn Fs>,
    pub(super) threads: usize,
    pub(super) checkpoint_rows: usize,
    pub(super) checkpoint_fingers: usize,
    pub(super) erase_within: Duration,
    pub(super) kernels: Option<Kernels>,
    pub(super) read_only: bool,
    pub(super) clock: Option<Clock>,
    pub(super) max_delta_bytes: usize,
    pub(super) code_keys: Option<Arc<dyn CodeKeys>>,
    pub(super) journal_max_file_bytes: u64,
    pub(super) journal_max_files: usize,
    pub(super) time_zone: Option<jiff::tz::TimeZone>,
    pub(super) max_segment_bytes: usize,
    pub(super) memory_budget: usize,
    pub(super) bulk_rows: usize,
    pub(super) logger: Option<Logger>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            fs: Arc::new(StdFs),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            checkpoint_rows: 16_384,
            checkpoint_fingers: 2_048,
            erase_within: Duration::from_secs(600),
            kernels: None,
            read_only: false,
            clock: None,
            max_delta_bytes: DEFAULT_MAX_DELTA_BYTES,
            code_keys: None,
            journal_max_file_bytes: crate::journal::DEFAULT_MAX_FILE_BYTES,
            journal_max_files: crate::journal::DEFAULT_MAX_FILES,
            time_zone: None,
            max_segment_bytes: DEFAULT_MAX_SEGMENT_BYTES,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            bulk_rows: DEFAULT_BULK_ROWS,
            logger: None,
        }
    }
}

impl OpenOptions {
    /// Default options: the real file system, all cores, best SIMD kernel.
    pub fn new() -> Self {
        Self::default()
    }
    /// Uses another file system (tests use [`SimFs`](crate::fs::SimFs)).
    pub fn fs(mut self, fs: Arc<dyn Fs>) -> Self {
        self.fs = fs;
        self
    }
    /// Threads used by one search over a large gallery (1 = search on the calling thread only).
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self
    }
    /// Tail rows that trigger a checkpoint (default 16,384). The log is replayed into memory on open
    /// and the tail is held in RAM, so this bounds open time and memory (about 43 MB at 512-d).
    pub fn checkpoint_rows(mut self, n: usize) -> Self {
        self.checkpoint_rows = n.max(1);
        self
    }
    /// Finger tail rows that trigger a checkpoint (default 2,048: prepared templates are 13–17 KB,
    /// so the tail stays near 25–35 MB of RAM and of log).
    pub fn checkpoint_fingers(mut self, n: usize) -> Self {
        self.checkpoint_fingers = n.max(1);
        self
    }
    /// Longest time a deleted template's bytes may stay on the flash (default 10 minutes). The
    /// time of the oldest pending deletion is kept in the manifest, so the deadline holds across
    /// restarts: a store opened after it has passed erases at once (see [`Store::maintain`]).
    ///
    /// [`Store::maintain`]: crate::Store::maintain
    pub fn erase_within(mut self, d: Duration) -> Self {
        self.erase_within = d;
        self
    }
    /// Opens without writing anything (default: false): no lock file is created and no writer lock
    /// taken, so it runs beside a writer; leftovers are not scrubbed, a torn log tail is only
    /// skipped in memory, a store of an older build is not upgraded. The store shows the state
    /// at the moment it opened; its writes (`commit`, `apply_delta`, `checkpoint`, `compact`,
    /// `erase_deleted`, `maintain`) fail with [`Error::ReadOnly`](crate::Error::ReadOnly). It holds
    /// a shared lock on each segment it maps, so a writer's erasure scrubs those files only once
    /// it is closed: close read-only stores promptly.
    pub fn read_only(mut self, yes: bool) -> Self {
        self.read_only = yes;
        self
    }
    /// The wall clock that dates deletions for the erasure deadline (default: the system clock).
    /// Tests move it to cross a deadline without waiting; a terminal with a better time source than
    /// the system clock may pass it. Only dates written to the manifest and compared at open come
    /// from it; deadlines within a running process use the monotonic clock.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }
    /// Now, from [`OpenOptions::clock`], in Unix seconds (at least 1: 0 means "none" in the
    /// manifest).
    pub(super) fn unix_now(&self) -> u64 {
        let now = self.clock.as_ref().map_or_else(SystemTime::now, |c| c());
        now.duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .max(1)
    }
    /// Largest synchronisation delta accepted, in bytes (default [`DEFAULT_MAX_DELTA_BYTES`]). A
    /// larger one is refused before it is parsed or copied (`Refusal::TooLarge`), because parsing
    /// needs a few times its size in memory; raise it only with the memory to match
    /// (docs/sync-protocol.md, "Limits").
    pub fn max_delta_bytes(mut self, n: usize) -> Self {
        self.max_delta_bytes = n;
        self
    }
    /// Where the locations' code keys are kept (default: [`FileCodeKeys`], the file `CODE-KEYS`
    /// in the store directory, mode 0600). A terminal with a secure element or TPM passes a
    /// provider that keeps them there, so they never reach the flash; it must hold every key the
    /// store was given before (a store opened with another provider than it was written with
    /// answers code lookups with an error until a full synchronisation brings the key again).
    /// See `docs/security.md`.
    ///
    /// [`FileCodeKeys`]: crate::store::keys::FileCodeKeys
    pub fn code_keys(mut self, keys: Arc<dyn CodeKeys>) -> Self {
        self.code_keys = Some(keys);
        self
    }
    /// The size bound of the event journal: files of `max_file_bytes` each, at most `max_files`
    /// of them (defaults [`journal::DEFAULT_MAX_FILE_BYTES`] and [`journal::DEFAULT_MAX_FILES`]:
    /// 512 MiB, about 6 million decisions; see `docs/journal.md` for what happens when it fills).
    ///
    /// [`journal::DEFAULT_MAX_FILE_BYTES`]: crate::journal::DEFAULT_MAX_FILE_BYTES
    /// [`journal::DEFAULT_MAX_FILES`]: crate::journal::DEFAULT_MAX_FILES
    pub fn journal_bound(mut self, max_file_bytes: u64, max_files: usize) -> Self {
        self.journal_max_file_bytes = max_file_bytes;
        self.journal_max_files = max_files;
        self
    }
    /// The terminal's time zone, for the local offset and DST flag of journal events (default:
    /// the system's, `TZ` or `/etc/localtime`).
    pub fn time_zone(mut self, tz: jiff::tz::TimeZone) -> Self {
        self.time_zone = Some(tz);
        self
    }
    /// The options of the store's event journal (in `<store>/journal/`).
    pub(super) fn journal(&self) -> crate::journal::JournalOptions {
        crate::journal::JournalOptions {
            fs: self.fs.clone(),
            read_only: self.read_only,
            max_file_bytes: self.journal_max_file_bytes,
            max_files: self.journal_max_files,
            clock: self.clock.clone(),
            time_zone: self.time_zone.clone(),
            ..Default::default()
        }
    }
    /// Largest segment file written, in bytes (default [`DEFAULT_MAX_SEGMENT_BYTES`]). Checkpoints,
    /// compactions and bulk loads split their output into files of at most this size (a single
    /// row larger than it gets a file of its own), so no mapping exceeds it. Tests pass a tiny cap
    /// to get many segments.
    pub fn max_segment_bytes(mut self, n: usize) -> Self {
        self.max_segment_bytes = n.max(1);
        self
    }
    /// Memory a bulk load may use above the mapped data, in bytes (default
    /// [`DEFAULT_MEMORY_BUDGET`]): a large commit or delta (see [`OpenOptions::bulk_rows`]) is
    /// staged on disk in pieces sized from it, and a streamed delta
    /// ([`Store::apply_delta_reader`](crate::Store::apply_delta_reader)) is read in pieces sized
    /// from it (docs/sync-protocol.md, "Limits").
    pub fn memory_budget(mut self, n: usize) -> Self {
        self.memory_budget = n.max(1 << 20);
        self
    }
    /// Templates (faces and fingerprints) from which a commit or delta takes the bulk path
    /// (default [`DEFAULT_BULK_ROWS`]): its templates are written to new segment files in
    /// bounded pieces and switched in with the manifest, like a checkpoint, instead of going
    /// through the log and the in-memory tail (written once instead of twice). Smaller commits
    /// keep the one-append, one-fdatasync path.
    pub fn bulk_rows(mut self, n: usize) -> Self {
        self.bulk_rows = n.max(1);
        self
    }
    /// Where the store reports the events a firmware engineer wants in the terminal's log
    /// (default: nowhere): open and what recovery did (a torn log tail cut, leftovers of an
    /// interrupted checkpoint scrubbed), checkpoints and compactions, housekeeping failures kept
    /// for retry, a store poisoned by an I/O failure, refused deltas. Per store, not per process:
    /// two stores may log to two places, and nothing global is set.
    pub fn logger(mut self, logger: Logger) -> Self {
        self.logger = Some(logger);
        self
    }
    /// Forces a SIMD kernel (for tests and benchmarks); default: detected.
    pub fn kernels(mut self, k: Kernels) -> Self {
        self.kernels = Some(k);
        self
    }
}
