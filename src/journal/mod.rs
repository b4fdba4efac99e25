//! The event journal: every door decision, applied or refused delta and clock change, durable
//! before it is reported, read by the platform in pages after a cursor and acknowledged.
//!
//! The store owns it (`<store>/journal/`, opened with the store, under its writer lock; a
//! read-only store can read it). Everything goes through [`Fs`], so the crash tests cut the power
//! at each of its sync points.
//!
//! # Ids, cursor, acknowledgement
//! Every event gets an id: 1, 2, 3, ... for this store, never repeated — across crashes, restarts
//! and after every file was dropped. The newest file's header names its first id and the state
//! file (`ACK`) keeps the high-water mark, so the next id after a restart is past every id a
//! reader may have seen. An id is only handed to a reader once its record is durable, and a record
//! once durable keeps its id, so **re-reading after a crash returns the same ids** (the platform
//! de-duplicates by id). Ids whose append failed (the caller got an error, no reader saw them)
//! may be given again after a restart.
//!
//! A **cursor** is the last id the platform has: [`Journal::read`]`(after, limit)` returns the
//! durable events with id > `after` in id order, at most `limit`, and [`Page::cursor`] — the id of
//! the last event returned (or `after` when none) — is what the platform acknowledges and passes
//! as the next `after`. Cursor 0 is "before everything". [`Journal::ack`]`(cursor)` marks every
//! event up to it acknowledged: it never moves backwards (an older cursor changes nothing), and
//! a cursor past the last durable event is refused. Only acknowledged events may be dropped.
//!
//! # Durability and group commit
//! [`Journal::append`] returns once the event is durable (fdatasynced). Concurrent callers share
//! fdatasyncs: each encodes its record into a shared buffer under a short lock; one of them (the
//! leader) takes the buffer, writes it and fdatasyncs, while the others wait on a condition
//! variable; one fdatasync covers every record written before it. A single append alone costs
//! one write and one fdatasync. [`Journal::append_batch`] writes many events with one.
//!
//! # Files and the size bound
//! Events go to `evt-<first id>.log` files (format in `segment.rs`) of at most
//! [`JournalOptions::max_file_bytes`] each (a file is rolled before a batch would pass it), and at
//! most [`JournalOptions::max_files`] files are kept. Defaults: 16 MiB × 32 files = 512 MiB, about
//! 6 million decision events of 85 bytes (`edgeid bench journal` measures the bytes per event).
//! When a roll makes one file too many, the oldest file goes, which is also the most acknowledged
//! one (acknowledgement is a prefix of the ids):
//! - **all its events acknowledged**: it is removed (scrubbed: events name people);
//! - **some not acknowledged** (the terminal was offline longer than the journal holds): it is
//!   removed too — appends never fail because the journal is full, the door keeps deciding — and
//!   the loss is reported: the state file records the dropped range and count first (`lost`,
//!   `overflows`, and the range as pending), then the file is removed, then an
//!   [`EventKind::Overflow`] event is appended, then the pending range is cleared. The event
//!   names every id lost since the last acknowledgement (`acked + 1 ..= last dropped`), so the
//!   newest report covers the older ones, which may have been dropped with their files. A crash in between is finished on open (the event appended if it is not in the
//!   newest file). [`JournalStats`] shows `lost` and `overflows`. See `docs/journal.md`.
//!
//! # Time
//! Each event carries its UTC time, the terminal's UTC offset and DST flag at that instant (from
//! the system time zone, or [`JournalOptions::time_zone`]) and a [`TimeQuality`]: `Synced` once
//! the terminal said its clock was set ([`Journal::set_clock_synced`],
//! [`Journal::clock_changed`]), `Unsynced` before, and `Suspect` for a time before
//! [`JournalOptions::floor_micros`] (a reset clock: 1970) or earlier than the previous event (a
//! clock change reported with `clock_changed` moves that reference).
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`Journal`], options, open, stats |
//! | `append.rs` | append, group commit, roll, the size bound |
//! | `read.rs` | pages after a cursor, acknowledgement |
//! | `event.rs` | [`Event`], its record encoding, the JSON view |
//! | `segment.rs` | the file format, torn tail or damage |
//! | `ack.rs` | the state file |

mod ack;
mod append;
mod event;
mod read;
mod segment;

pub use event::{
    offset_text, rfc3339, DecisionEvent, DeltaKind, Event, EventKind, EventView, TimeQuality,
};
pub use read::{Page, MAX_PAGE};

use crate::error::{Error, Result};
use crate::fs::{Fs, FsFile, StdFs};
use ack::AckState;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// Name of the journal's directory inside a store.
pub const DIR: &str = "journal";
/// Default [`JournalOptions::max_file_bytes`]: 16 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 16 << 20;
/// Default [`JournalOptions::max_files`].
pub const DEFAULT_MAX_FILES: usize = 32;
/// Default [`JournalOptions::floor_micros`]: 2025-01-01T00:00:00Z, before this code was written;
/// a clock showing an earlier time was reset.
pub const DEFAULT_FLOOR_MICROS: i64 = 1_735_689_600_000_000;

/// A wall clock (the store's `Clock`).
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The names of the files a journal directory may hold, for listings and scrubbing.
pub mod files {
    pub use super::ack::{FILE as ACK, TMP as ACK_TMP};
    pub use super::segment::{file_name, parse_name};
}

/// How to open a journal.
#[derive(Clone)]
pub struct JournalOptions {
    /// The file system.
    pub fs: Arc<dyn Fs>,
    /// Read only: nothing is written, appends and acks fail with [`Error::ReadOnly`].
    pub read_only: bool,
    /// Bytes of one file before the next is started (default [`DEFAULT_MAX_FILE_BYTES`]).
    pub max_file_bytes: u64,
    /// Files kept (default [`DEFAULT_MAX_FILES`], at least 2).
    pub max_files: usize,
    /// The wall clock (default: the system clock).
    pub clock: Option<Clock>,
    /// The terminal's time zone for offsets and DST (default: the system's).
    pub time_zone: Option<jiff::tz::TimeZone>,
    /// Times before this (Unix microseconds) are [`TimeQuality::Suspect`].
    pub floor_micros: i64,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            fs: Arc::new(StdFs),
            read_only: false,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_files: DEFAULT_MAX_FILES,
            clock: None,
            time_zone: None,
            floor_micros: DEFAULT_FLOOR_MICROS,
        }
    }
}

impl std::fmt::Debug for JournalOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalOptions")
            .field("read_only", &self.read_only)
            .field("max_file_bytes", &self.max_file_bytes)
            .field("max_files", &self.max_files)
            .finish_non_exhaustive()
    }
}

/// What the journal reports about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct JournalStats {
    /// Id of the oldest event kept (None: no event).
    pub oldest_id: Option<u64>,
    /// Id of the last durable event (0: none yet).
    pub last_id: u64,
    /// The acknowledged cursor.
    pub acked: u64,
    /// Durable events not acknowledged (and not dropped).
    pub unacked: u64,
    /// Files.
    pub files: usize,
    /// Bytes of the files.
    pub bytes: u64,
    /// Unacknowledged events dropped by the size bound, in total.
    pub lost: u64,
    /// Times the size bound dropped unacknowledged events.
    pub overflows: u64,
    /// Whether the clock was reported set (see [`Journal::set_clock_synced`]).
    pub clock_synced: bool,
}

/// The appender's shared state (behind `Journal::state`).
struct State {
    /// The next id to give.
    next_id: u64,
    /// Every id below this is durable.
    durable_next: u64,
    /// Records encoded and not yet written, ids `pending_first..next_id`.
    pending: Vec<u8>,
    pending_first: u64,
    /// Offset in `pending` of its last record.
    pending_last_at: usize,
    /// A caller is writing a batch.
    leader: bool,
    /// Set by a failed write or fdatasync: the journal refuses appends until reopened.
    failed: Option<String>,
    /// Time of the last event given an id (for [`TimeQuality::Suspect`]).
    last_micros: i64,
    /// First ids of the files, ascending; the last is the one appended to.
    files: Vec<u64>,
    /// Bytes of the newest file known durable.
    active_len: u64,
    /// The state file's contents.
    ack: AckState,
}

/// The file appended to (behind `Journal::io`, held by the leader, acks and drops).
struct Io {
    file: Box<dyn FsFile>,
    len: u64,
    /// The id of an Overflow event whose durability clears the state file's pending range.
    overflow_event: Option<u64>,
}

/// The event journal of a store (see the module docs).
pub struct Journal {
    dir: PathBuf,
    fs: Arc<dyn Fs>,
    opts: JournalOptions,
    tz: jiff::tz::TimeZone,
    state: Mutex<State>,
    cv: Condvar,
    io: Mutex<Io>,
    /// Held for reading while a reader reads files, for writing while a file is removed.
    files_guard: RwLock<()>,
    /// The last file read, for paging through it without reading it again.
    cache: Mutex<Option<read::Cached>>,
    synced: AtomicBool,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Journal({})", self.dir.display())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Journal {
    /// Opens (a writer: creating if needed) the journal in `dir`. Reads the state file and the
    /// newest file only (the others are listed, not read), cuts a torn tail, removes leftovers
    /// of an interrupted drop, and finishes an overflow report a crash interrupted.
    pub fn open(dir: &Path, opts: JournalOptions) -> Result<Journal> {
        let fs = opts.fs.clone();
        let mut opts = opts;
        opts.max_files = opts.max_files.max(2);
        opts.max_file_bytes = opts.max_file_bytes.max(segment::HEADER_LEN + 64);
        let names = match fs.list(dir) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if opts.read_only {
                    Vec::new()
                } else {
                    fs.create_dir_all(dir)
                        .map_err(|e| Error::io("create directory", dir, e))?;
                    if let Some(parent) = dir.parent() {
                        fs.sync_dir(parent)
                            .map_err(|e| Error::io("fsync", parent, e))?;
                    }
                    Vec::new()
                }
            }
            Err(e) => return Err(Error::io("list", dir, e)),
        };
        let ack = if names.is_empty() {
            AckState::default()
        } else {
            AckState::read(&*fs, dir)?
        };
        let mut files: Vec<u64> = names
            .iter()
            .filter_map(|n| segment::parse_name(n))
            .collect();
        files.sort_unstable();
        let writer = !opts.read_only;
        let mut removed = false;
        if writer && names.iter().any(|n| n == ack::TMP) {
            let p = dir.join(ack::TMP);
            fs.scrub_remove(&p)
                .map_err(|e| Error::io("remove", &p, e))?;
            removed = true;
        }
        // Leftovers of a drop a crash interrupted: files whose every id is at or below the floor.
        while files.len() > 1 && files[1] - 1 <= ack.floor {
            let p = dir.join(segment::file_name(files[0]));
            if writer {
                fs.scrub_remove(&p)
                    .map_err(|e| Error::io("remove", &p, e))?;
                removed = true;
            }
            files.remove(0);
        }
        // The newest file: a torn creation is removed, a torn tail cut.
        let mut newest = None;
        while let Some(&first) = files.last() {
            let p = dir.join(segment::file_name(first));
            let bytes = fs.read(&p).map_err(|e| Error::io("read", &p, e))?;
            match segment::check_header(&bytes, first, &p) {
                Ok(_) => {
                    let scan = segment::scan(&bytes, first, &p)?;
                    newest = Some((first, bytes, scan));
                    break;
                }
                Err(_) if bytes.len() as u64 <= segment::HEADER_LEN => {
                    if writer {
                        fs.scrub_remove(&p)
                            .map_err(|e| Error::io("remove", &p, e))?;
                        removed = true;
                    }
                    files.pop();
                }
                Err(e) => return Err(e),
            }
        }
        if removed {
            fs.sync_dir(dir).map_err(|e| Error::io("fsync", dir, e))?;
        }
        let floor_next = ack.next_id.max(ack.floor + 1);
        let (mut next_id, mut last_micros, mut active_len) = (floor_next, i64::MIN, 0);
        let mut file: Box<dyn FsFile> = Box::new(crate::fs::ReadOnlyFile);
        if let Some((first, bytes, scan)) = &newest {
            next_id = scan.last.map_or(*first, |r| r.id + 1);
            active_len = scan.valid_len;
            if let Some(r) = scan.last {
                let p = dir.join(segment::file_name(*first));
                let e = event::decode(r.id, &bytes[r.payload.0..r.payload.1], &p)?;
                last_micros = e.utc_micros;
            }
            if writer {
                let p = dir.join(segment::file_name(*first));
                file = fs.open_append(&p).map_err(|e| Error::io("open", &p, e))?;
                if scan.valid_len < bytes.len() as u64 {
                    file.truncate(scan.valid_len)
                        .and_then(|_| file.sync_data())
                        .map_err(|e| Error::io("truncate torn tail of", &p, e))?;
                }
            }
        }
        let j = Journal {
            dir: dir.to_path_buf(),
            fs: fs.clone(),
            tz: opts
                .time_zone
                .clone()
                .unwrap_or_else(jiff::tz::TimeZone::system),
            state: Mutex::new(State {
                next_id: next_id.max(floor_next),
                durable_next: next_id.max(floor_next),
                pending: Vec::new(),
                pending_first: next_id.max(floor_next),
                pending_last_at: 0,
                leader: false,
                failed: None,
                last_micros,
                files,
                active_len,
                ack,
            }),
            cv: Condvar::new(),
            io: Mutex::new(Io {
                file,
                len: active_len,
                overflow_event: None,
            }),
            files_guard: RwLock::new(()),
            cache: Mutex::new(None),
            synced: AtomicBool::new(false),
            opts,
        };
        if writer {
            // A new journal, or ids that must start past the newest file's (the high-water mark
            // is ahead of it): a new file.
            if newest.is_none() || next_id < floor_next {
                let mut io = lock(&j.io);
                j.roll(&mut io, floor_next)?;
            }
            if let Some((first, last, count)) = ack.pending {
                j.finish_overflow(first, last, count, newest.as_ref().map(|n| &n.1[..]))?;
            }
            j.settle()?;
        }
        Ok(j)
    }

    /// The journal's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Now, from the clock, in Unix microseconds.
    pub fn now_micros(&self) -> i64 {
        let now = self
            .opts
            .clock
            .as_ref()
            .map_or_else(SystemTime::now, |c| c());
        match now.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_micros().min(i64::MAX as u128) as i64,
            Err(e) => -(e.duration().as_micros().min(i64::MAX as u128) as i64),
        }
    }

    /// Tells the journal whether the terminal's clock was set since boot (by the platform or
    /// NTP): the quality of later events' times (default: not set).
    pub fn set_clock_synced(&self, synced: bool) {
        self.synced.store(synced, Ordering::Relaxed);
    }

    /// Records that the terminal's clock was changed from `from_micros` to `to_micros` (Unix
    /// microseconds), with the quality of the new time: appends a
    /// [`EventKind::ClockChanged`] event (dated `to_micros`) and sets the clock's state
    /// (`Synced` → set; otherwise not set). Later events are compared with `to_micros` to detect
    /// a clock running backwards.
    pub fn clock_changed(
        &self,
        from_micros: i64,
        to_micros: i64,
        quality: TimeQuality,
    ) -> Result<u64> {
        self.check_writable()?;
        self.set_clock_synced(quality == TimeQuality::Synced);
        self.append_at(
            to_micros,
            EventKind::ClockChanged {
                from_micros,
                to_micros,
                quality,
            },
        )
    }

    fn check_writable(&self) -> Result<()> {
        if self.opts.read_only {
            return Err(Error::ReadOnly(self.dir.clone()));
        }
        Ok(())
    }

    /// Counts and sizes.
    pub fn stats(&self) -> JournalStats {
        let s = lock(&self.state);
        let mut bytes = s.active_len;
        for &f in &s.files[..s.files.len().saturating_sub(1)] {
            bytes += self
                .fs
                .file_len(&self.dir.join(segment::file_name(f)))
                .unwrap_or(0);
        }
        let last_id = s.durable_next - 1;
        let oldest = s.files.first().copied().filter(|&f| f <= last_id);
        let acked = s.ack.acked.min(last_id);
        JournalStats {
            oldest_id: oldest,
            last_id,
            acked,
            unacked: oldest.map_or(0, |o| last_id + 1 - o.max(acked + 1)),
            files: s.files.len(),
            bytes,
            lost: s.ack.lost,
            overflows: s.ack.overflows,
            clock_synced: self.synced.load(Ordering::Relaxed),
        }
    }
}
