//! One error type for the crate. Every message says what was expected and what was found, and I/O
//! errors carry the path they concern, because a terminal's log is often all a field engineer sees.

use std::io;
use std::path::PathBuf;

/// Convenient result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in edgeid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("write", "fsync", ...).
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The storage device is full. The operation that needed the space was not done and left the
    /// store as it was: a commit refused this way is not in the store; a checkpoint or erasure is
    /// retried later (`Store::maintain`). What was committed before stays durable. (A commit whose
    /// log record is durable never reports this: the housekeeping after it keeps its error for
    /// `Store::maintenance_error` instead.)
    #[error("storage full while writing {path}: not done, the store is as it was before this operation; free some space")]
    StorageFull {
        /// The file that could not grow.
        path: PathBuf,
    },
    /// A file of the store is damaged or not what it claims to be.
    #[error("corrupt {path}: {what}")]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// The first thing found wrong.
        what: String,
    },
    /// A file was written by a newer or unknown format version.
    #[error("{path}: format version {found} not supported (this build reads {min}..={max})")]
    Version {
        /// The file.
        path: PathBuf,
        /// Version found in the header.
        found: u32,
        /// Oldest supported.
        min: u32,
        /// Newest supported.
        max: u32,
    },
    /// Another process holds the store's writer lock.
    #[error("store {0} is locked by another process (only one writer may open a store)")]
    Locked(PathBuf),
    /// The store was opened read-only (`OpenOptions::read_only`) and a write was asked of it;
    /// nothing was changed.
    #[error("store {0} is open read-only: writes are refused (open it for writing to change it)")]
    ReadOnly(PathBuf),
    /// The directory holds no store (or it already holds one, for `create`).
    #[error("{0}")]
    NoStore(String),
    /// An input (template, probe, id, argument) was refused; nothing was changed.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// A template or probe of another model or dimension than the store's.
    #[error("model mismatch: store holds {expected}, got {found}")]
    Model {
        /// What the store declares.
        expected: String,
        /// What was offered.
        found: String,
    },
    /// The named user or template does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A synchronisation delta was refused; nothing of it was applied.
    #[error("delta refused: {0}")]
    Refused(#[from] Refusal),
    /// Memory for an operation could not be allocated (the allocation's size comes from the input
    /// or the gallery: a batch, a delta, a segment, search buffers). Like
    /// [`Error::StorageFull`], nothing was done and the store is as it was; retry with a smaller
    /// batch or delta, or with more memory free.
    #[error("out of memory: {what} needs {bytes} bytes that could not be allocated; nothing was done, the store is as it was")]
    OutOfMemory {
        /// What the memory was for.
        what: &'static str,
        /// The size of the allocation that failed.
        bytes: usize,
    },
    /// The caller's progress callback asked to stop; nothing of the operation was applied.
    #[error("cancelled by the caller: nothing was applied")]
    Cancelled,
    /// An earlier write or fsync failed; the store refuses further writes until reopened,
    /// because the state of the disk is no longer known.
    #[error("store is poisoned by an earlier I/O failure ({0}); reopen it")]
    Poisoned(String),
}

impl Error {
    /// Wraps an I/O error with the operation and path; ENOSPC becomes [`Error::StorageFull`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        if source.kind() == io::ErrorKind::StorageFull || source.raw_os_error() == Some(28) {
            return Error::StorageFull { path };
        }
        Error::Io { op, path, source }
    }

    /// An out-of-memory error for `n` items of `T` (see [`Error::OutOfMemory`]).
    pub fn out_of_memory<T>(what: &'static str, n: usize) -> Self {
        Error::OutOfMemory {
            what,
            bytes: n.saturating_mul(std::mem::size_of::<T>()),
        }
    }

    /// A corruption error for `path`.
    pub fn corrupt(path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        Error::Corrupt {
            path: path.into(),
            what: what.into(),
        }
    }
}

/// Fallible allocation for every buffer whose size comes from input or gallery size: a failed
/// allocation is [`Error::OutOfMemory`] (a status for the caller), not an abort of the firmware.
pub mod alloc {
    use super::{Error, Result};

    /// An empty `Vec` with room for `n` items.
    pub fn with_capacity<T>(n: usize, what: &'static str) -> Result<Vec<T>> {
        let mut v = Vec::new();
        reserve(&mut v, n, what)?;
        Ok(v)
    }

    /// `n` copies of `value`.
    pub fn filled<T: Clone>(n: usize, value: T, what: &'static str) -> Result<Vec<T>> {
        let mut v = with_capacity(n, what)?;
        v.resize(n, value);
        Ok(v)
    }

    /// Room for `more` items in `v` beyond its length.
    pub fn reserve<T>(v: &mut Vec<T>, more: usize, what: &'static str) -> Result<()> {
        v.try_reserve_exact(more)
            .map_err(|_| Error::out_of_memory::<T>(what, more))
    }

    /// Hands the allocator's free memory back to the system (glibc only; nothing elsewhere).
    /// glibc keeps what a thread frees in that thread's arena for reuse; a bulk load calls this
    /// between pieces, because with the pieces' buffers passing through several threads that
    /// retention, not live data, took its anonymous memory 5–22 MB over the 128 MB budget
    /// (`full_sync_peak_anon_mb` of `edgeid bench sync`: 133–150 MB with glibc's default arena
    /// count, 111 MB with `MALLOC_ARENA_MAX=2`, 105–116 MB with this call).
    pub fn release_free() {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: `malloc_trim` takes the allocator's own locks and only returns free pages of
        // its heaps to the kernel; no memory in use is touched.
        unsafe {
            libc::malloc_trim(0);
        }
    }

    /// A copy of `data`.
    pub fn copy<T: Clone>(data: &[T], what: &'static str) -> Result<Vec<T>> {
        let mut v = with_capacity(data.len(), what)?;
        v.extend_from_slice(data);
        Ok(v)
    }
}

/// The largest sequence number a delta may carry: 2^53 - 1, the largest integer a JavaScript
/// sender represents exactly (sequences are 1..=this; see `docs/sync-protocol.md`).
pub const MAX_SEQUENCE: u64 = (1 << 53) - 1;

/// What a sender should do when a full synchronisation is needed after sequence `last`.
fn full_advice(last: u64) -> String {
    if last >= MAX_SEQUENCE {
        format!("send a full synchronisation with any sequence 1..={MAX_SEQUENCE}: the location is at the end of the range and its numbering restarts")
    } else {
        format!("send a full synchronisation with a sequence above {last}")
    }
}

/// Why a synchronisation delta was refused (see `sync`). Nothing of a refused delta is applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// Not JSON.
    #[error("{0}")]
    Parse(String),
    /// An unsupported format version.
    #[error("{0}")]
    Version(String),
    /// A field is wrong; `path` says where (`changes[3].user.faces[0].embedding`).
    #[error("{path}: {message}")]
    Invalid {
        /// Where in the delta.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The sequence skips deltas.
    #[error("location {location}: expected sequence {expected}, got {got}: a full synchronisation is needed ({})", full_advice(expected.saturating_sub(1)))]
    Gap {
        /// Location.
        location: String,
        /// The sequence that would be accepted.
        expected: u64,
        /// The sequence received.
        got: u64,
    },
    /// An applied sequence re-sent with different content.
    #[error("location {location}: sequence {sequence} was already applied with different content")]
    Conflict {
        /// Location.
        location: String,
        /// Sequence.
        sequence: u64,
    },
    /// Larger than the store's limit (`OpenOptions::max_delta_bytes`); refused before parsing.
    #[error("the delta is {size} bytes, more than this terminal accepts ({limit} bytes): send the location's users in several deltas (a full delta with part of them, then changes deltas), or raise the terminal's limit")]
    TooLarge {
        /// Bytes received.
        size: usize,
        /// The store's limit.
        limit: usize,
    },
    /// The delta's signature is missing where the location requires one, malformed, made with a
    /// key this terminal does not trust (for this location), or does not match the delta's bytes
    /// (`docs/sync-protocol.md`, "Signed deltas"). Checked before the delta is parsed wherever
    /// the delta's location is not needed.
    #[error("signature: {0}")]
    Signature(String),
    /// A sequence older than the kept history.
    #[error("location {location}: sequence {sequence} is older than the deltas this terminal remembers (last is {last}); {}", full_advice(*last))]
    Stale {
        /// Location.
        location: String,
        /// Sequence received.
        sequence: u64,
        /// Last applied.
        last: u64,
    },
}

impl Refusal {
    /// The kind of refusal, one word for programs (`docs/sync-protocol.md`, "Refusals"):
    /// `parse`, `version`, `invalid`, `gap`, `conflict`, `stale`, `too-large` or `signature`.
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::Parse(_) => "parse",
            Refusal::Version(_) => "version",
            Refusal::Invalid { .. } => "invalid",
            Refusal::Gap { .. } => "gap",
            Refusal::Conflict { .. } => "conflict",
            Refusal::Stale { .. } => "stale",
            Refusal::TooLarge { .. } => "too-large",
            Refusal::Signature(_) => "signature",
        }
    }
}
