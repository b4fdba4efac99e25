//! How a store is opened: file system, threads, checkpoint bounds, erasure deadline, kernels,
//! read-only.

use super::keys::CodeKeys;
use crate::fs::{Fs, StdFs};
use crate::kernels::Kernels;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A wall clock (see [`OpenOptions::clock`]).
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Default of [`OpenOptions::max_delta_bytes`]: 64 MiB. A full synchronisation of 10,000 users
/// with one 512-d face each is about 29 MB (`edgeid bench sync`), 37 MB with two fingerprints
/// each, so this fits a large site with room to grow, while bounding what one delta may cost in
/// memory (docs/sync-protocol.md, "Limits").
pub const DEFAULT_MAX_DELTA_BYTES: usize = 64 << 20;

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
    /// Forces a SIMD kernel (for tests and benchmarks); default: detected.
    pub fn kernels(mut self, k: Kernels) -> Self {
        self.kernels = Some(k);
        self
    }
}
