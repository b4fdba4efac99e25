//! Status codes, the thread's last error message, and the panic boundary every export runs in.

use engine::Error;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What a call returned. `EDGEID_OK` is 0; every other value is an error, and the thread's last
/// error message (`edgeid_last_error_message`) then says what was expected and what was found.
/// Values are stable: a code keeps its number forever and new codes are only appended.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum edgeid_status {
    /// Success.
    EDGEID_OK = 0,
    /// A required pointer argument was NULL (or a pointer was not aligned for its type).
    EDGEID_ERR_NULL = 1,
    /// A string argument is not valid UTF-8.
    EDGEID_ERR_UTF8 = 2,
    /// An argument or input was refused: id rules (1..=64 bytes, no control characters), a NaN,
    /// infinite or all-zero embedding, k = 0, a non-finite threshold, bad options. Nothing changed.
    EDGEID_ERR_INVALID = 3,
    /// An embedding's length is not the store's dimension. Nothing changed.
    EDGEID_ERR_DIMENSION = 4,
    /// A struct's `size` field is not `sizeof` of a version of that struct this library knows, or
    /// a caller's array is too small for the result (`edgeid_sync_status` says what it needs).
    EDGEID_ERR_SIZE = 5,
    /// The user or template does not exist (remove, verify), or the location has never received a
    /// delta (digest).
    EDGEID_ERR_NOT_FOUND = 6,
    /// `edgeid_open`: the directory holds no store. `edgeid_create`: it already holds one.
    EDGEID_ERR_NO_STORE = 7,
    /// The store is open elsewhere (another process or another handle): one writer per store.
    EDGEID_ERR_LOCKED = 8,
    /// A file operation failed (the message names the operation and the path).
    EDGEID_ERR_IO = 9,
    /// The storage device is full: the commit was refused and the store is unchanged.
    EDGEID_ERR_STORAGE_FULL = 10,
    /// A file of the store is damaged (the message names it and the first thing found wrong).
    EDGEID_ERR_CORRUPT = 11,
    /// A file was written in a format version this library does not read.
    EDGEID_ERR_VERSION = 12,
    /// Input of another face model than the store's.
    EDGEID_ERR_MODEL = 13,
    /// An earlier write or fsync failed; the store refuses writes until it is closed and reopened.
    EDGEID_ERR_POISONED = 14,
    /// The store handle was closed, or never was a handle.
    EDGEID_ERR_CLOSED = 15,
    /// The option or flag is not supported by this version of the library.
    EDGEID_ERR_UNSUPPORTED = 16,
    /// An internal error (a bug in edgeid) was caught. The store handle involved has been closed
    /// (the files on disk are consistent: reopen the store); output arguments are unspecified.
    EDGEID_ERR_PANIC = 17,
    /// An error this version of the C API does not classify; the message tells what happened.
    EDGEID_ERR_OTHER = 18,
    /// `edgeid_apply_delta`: the delta was refused (not JSON, unsupported format, an invalid field,
    /// a sequence gap, a conflict, a stale sequence); nothing of it was applied. The result says
    /// which kind of refusal, the message what exactly (e.g. the path of the invalid field).
    EDGEID_ERR_REFUSED = 19,
    /// A write (put, remove, commit, apply a delta, compact, erase, maintain) on a store opened
    /// with `EDGEID_OPEN_READ_ONLY`. Nothing changed.
    EDGEID_ERR_READ_ONLY = 20,
    /// Memory for the operation could not be allocated (a large batch, delta, segment or search
    /// buffer). Like `EDGEID_ERR_STORAGE_FULL`: nothing was done, the store is as it was; retry
    /// with a smaller batch or more memory free.
    EDGEID_ERR_OUT_OF_MEMORY = 21,
    /// The progress callback asked to stop (returned non-zero) before the delta was committed:
    /// nothing of it was applied.
    EDGEID_ERR_CANCELLED = 22,
}

use edgeid_status::*;

impl edgeid_status {
    /// Every status, for tables and tests.
    pub(crate) const ALL: [edgeid_status; 23] = [
        EDGEID_OK,
        EDGEID_ERR_NULL,
        EDGEID_ERR_UTF8,
        EDGEID_ERR_INVALID,
        EDGEID_ERR_DIMENSION,
        EDGEID_ERR_SIZE,
        EDGEID_ERR_NOT_FOUND,
        EDGEID_ERR_NO_STORE,
        EDGEID_ERR_LOCKED,
        EDGEID_ERR_IO,
        EDGEID_ERR_STORAGE_FULL,
        EDGEID_ERR_CORRUPT,
        EDGEID_ERR_VERSION,
        EDGEID_ERR_MODEL,
        EDGEID_ERR_POISONED,
        EDGEID_ERR_CLOSED,
        EDGEID_ERR_UNSUPPORTED,
        EDGEID_ERR_PANIC,
        EDGEID_ERR_OTHER,
        EDGEID_ERR_REFUSED,
        EDGEID_ERR_READ_ONLY,
        EDGEID_ERR_OUT_OF_MEMORY,
        EDGEID_ERR_CANCELLED,
    ];

    /// The status with this number, if there is one (C may pass any `uint32_t`).
    pub fn from_u32(v: u32) -> Option<edgeid_status> {
        Self::ALL.get(v as usize).copied()
    }
}

/// A failed call: its status and the message for `edgeid_last_error_message`.
#[derive(Debug)]
pub struct Failure {
    /// The status returned to C.
    pub status: edgeid_status,
    /// What was expected and what was found.
    pub message: String,
}

impl Failure {
    /// A failure with a status and a message.
    pub fn new(status: edgeid_status, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        let status = match &e {
            Error::Io { .. } => EDGEID_ERR_IO,
            Error::StorageFull { .. } => EDGEID_ERR_STORAGE_FULL,
            Error::Corrupt { .. } => EDGEID_ERR_CORRUPT,
            Error::Version { .. } => EDGEID_ERR_VERSION,
            Error::Locked(_) => EDGEID_ERR_LOCKED,
            Error::NoStore(_) => EDGEID_ERR_NO_STORE,
            Error::Invalid(_) => EDGEID_ERR_INVALID,
            Error::Model { .. } => EDGEID_ERR_MODEL,
            Error::NotFound(_) => EDGEID_ERR_NOT_FOUND,
            Error::Poisoned(_) => EDGEID_ERR_POISONED,
            Error::Refused(_) => EDGEID_ERR_REFUSED,
            Error::ReadOnly(_) => EDGEID_ERR_READ_ONLY,
            Error::OutOfMemory { .. } => EDGEID_ERR_OUT_OF_MEMORY,
            Error::Cancelled => EDGEID_ERR_CANCELLED,
            _ => EDGEID_ERR_OTHER,
        };
        Failure::new(status, e.to_string())
    }
}

/// Result of an export's body.
pub type FfiResult<T = ()> = Result<T, Failure>;

thread_local! {
    /// Message of the last failed call on this thread ("" before any failure).
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Records `message` as this thread's last error.
pub fn set_last_error(message: String) {
    LAST_ERROR.with(|m| *m.borrow_mut() = message);
}

/// Runs `f` with this thread's last error message.
pub fn with_last_error<R>(f: impl FnOnce(&str) -> R) -> R {
    LAST_ERROR.with(|m| f(&m.borrow()))
}

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

/// Records a failure of `func` and returns its status.
pub fn fail(func: &str, f: Failure) -> edgeid_status {
    set_last_error(format!("{func}: {}", f.message));
    f.status
}

/// The one place the C API catches panics: runs `body`; a panic becomes an `EDGEID_ERR_PANIC`
/// failure saying "internal error (please report)" and what the panic said. Exports do not call
/// this directly: they run inside [`boundary`] (or [`guard`], or [`crate::handle::with_store`],
/// which also closes the store handle a panic interrupted).
///
/// `AssertUnwindSafe` is sound here because a body that panics leaves nothing behind that a later
/// call could observe: it only touches its arguments (caller memory, whose contents are documented
/// as unspecified after an error) and values it owns; a store it was using is closed by
/// `with_store`.
pub fn catch_panic<R>(body: impl FnOnce() -> R) -> Result<R, Failure> {
    catch_unwind(AssertUnwindSafe(body)).map_err(|p| {
        Failure::new(
            EDGEID_ERR_PANIC,
            format!("internal error (please report): {}", panic_message(&*p)),
        )
    })
}

/// The panic boundary every export runs in: runs `body`; a failure, or a panic (as
/// `EDGEID_ERR_PANIC`), is recorded as this thread's last error, named after `func`, and its status
/// returned. Exports that return something other than a status map the `Err` to their documented
/// fallback (NULL, 0).
pub fn boundary<R>(func: &str, body: impl FnOnce() -> FfiResult<R>) -> Result<R, edgeid_status> {
    catch_panic(body).and_then(|r| r).map_err(|f| fail(func, f))
}

/// [`boundary`] for an export that returns a status (and uses no store handle: see
/// [`crate::handle::with_store`]).
pub fn guard(func: &str, body: impl FnOnce() -> FfiResult) -> edgeid_status {
    boundary(func, body).err().unwrap_or(EDGEID_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_stable_and_dense() {
        for (i, s) in edgeid_status::ALL.iter().enumerate() {
            assert_eq!(*s as u32, i as u32);
            assert_eq!(edgeid_status::from_u32(i as u32), Some(*s));
        }
        assert_eq!(edgeid_status::from_u32(23), None);
        assert_eq!(edgeid_status::from_u32(u32::MAX), None);
    }

    #[test]
    fn guard_catches_panics_and_records_messages() {
        let s = guard("edgeid_test", || panic!("boom {}", 42));
        assert_eq!(s, EDGEID_ERR_PANIC);
        with_last_error(|m| assert!(m.contains("edgeid_test") && m.contains("boom 42"), "{m}"));
        let s = guard("edgeid_test", || {
            Err(Failure::new(EDGEID_ERR_INVALID, "bad k"))
        });
        assert_eq!(s, EDGEID_ERR_INVALID);
        with_last_error(|m| assert_eq!(m, "edgeid_test: bad k"));
        // Success leaves the last error alone (errno-like).
        assert_eq!(guard("edgeid_test", || Ok(())), EDGEID_OK);
        with_last_error(|m| assert_eq!(m, "edgeid_test: bad k"));
    }

    #[test]
    fn boundary_returns_values_or_the_status() {
        assert_eq!(boundary("edgeid_test", || Ok(7)), Ok(7));
        let r: Result<u8, _> = boundary("edgeid_test", || panic!("oops"));
        assert_eq!(r, Err(EDGEID_ERR_PANIC));
        with_last_error(|m| {
            assert_eq!(m, "edgeid_test: internal error (please report): oops");
        });
    }

    #[test]
    fn library_errors_map_to_codes() {
        let f: Failure = Error::NotFound("user \"u\"".into()).into();
        assert_eq!(f.status, EDGEID_ERR_NOT_FOUND);
        let f: Failure = Error::Invalid("x".into()).into();
        assert_eq!(f.status, EDGEID_ERR_INVALID);
        let f: Failure = Error::Locked("/s".into()).into();
        assert_eq!(f.status, EDGEID_ERR_LOCKED);
        let f: Failure = Error::io(
            "write",
            "/s/x",
            std::io::Error::from_raw_os_error(28), // ENOSPC
        )
        .into();
        assert_eq!(f.status, EDGEID_ERR_STORAGE_FULL);
        let f: Failure = Error::Refused(engine::sync::Refusal::Parse("x".into())).into();
        assert_eq!(f.status, EDGEID_ERR_REFUSED);
        assert_eq!(f.message, "delta refused: x");
    }
}
