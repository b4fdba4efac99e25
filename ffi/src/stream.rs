//! Streamed deltas: a synchronisation delta of any size applied from a file or from the caller's
//! read callback in bounded memory (`Store::apply_delta_reader_cancellable`, see
//! docs/sync-protocol.md, "Large deltas"), so a terminal never holds a whole full
//! synchronisation in memory. The result, refusals and progress stages are those of
//! `edgeid_apply_delta` ([`crate::sync`]).

use crate::args;
use crate::handle::edgeid_store;
use crate::status::edgeid_status;
use crate::sync::{apply_with, edgeid_apply_result, edgeid_progress_cancel_fn};
use engine::sync::Progress;
use engine::{Error, Store};
use std::ffi::{c_char, c_void};
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::path::Path;

/// The path the engine names a delta stream's read errors with.
const STREAM: &str = "(delta stream)";

/// Read callback of `edgeid_apply_delta_stream`: writes the next bytes of the delta to
/// `buf` (room for `cap` bytes, `cap` > 0) and returns how many it wrote (1..=`cap`), 0 at the
/// end of the delta, or a negative value on an error (the apply then fails with `EDGEID_ERR_IO`
/// and nothing of the delta is applied). `user_data` is the pointer given to
/// `edgeid_apply_delta_stream`, unchanged. Called on the thread that called it, before it returns;
/// it may block (e.g. on a socket), but while it does other writes to the store wait.
#[allow(non_camel_case_types)]
pub type edgeid_read_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, buf: *mut u8, cap: usize) -> isize>;

/// The caller's read callback as a `Read`.
struct CallbackReader {
    read: unsafe extern "C" fn(*mut c_void, *mut u8, usize) -> isize,
    user_data: *mut c_void,
}

impl Read for CallbackReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // SAFETY: header contract of `edgeid_apply_delta_stream`'s `read` and `user_data`: a
        // function of this type, safe to call with `user_data` and a buffer of `cap` writable
        // bytes, which `buf` is.
        let n = unsafe { (self.read)(self.user_data, buf.as_mut_ptr(), buf.len()) };
        match usize::try_from(n) {
            Ok(n) if n <= buf.len() => Ok(n),
            Ok(n) => Err(io::Error::other(format!(
                "the read callback returned {n} for a buffer of {} bytes",
                buf.len()
            ))),
            Err(_) => Err(io::Error::other(format!(
                "the read callback returned {n} (an error)"
            ))),
        }
    }
}

/// Applies one synchronisation delta read from the file at `path`, of any size, in bounded memory
/// (`edgeid_open_options` has no limit for it: `max_delta_bytes` does not apply; the store's
/// memory budget sizes the pieces it is read in). Validated, then committed atomically and
/// durably, or nothing: as `edgeid_apply_delta`, whose result, statuses and refusals it shares.
///
/// `path`/`path_len`: the file, UTF-8, not NUL-terminated. The delta's `changes` must be its last
/// member (as the platform writes it; otherwise `EDGEID_ERR_REFUSED`, `EDGEID_REFUSAL_INVALID`),
/// and it must be unsigned (a location that requires signed deltas refuses it with
/// `EDGEID_REFUSAL_SIGNATURE`: a signature covers the exact bytes, which are never all held; use
/// `edgeid_apply_delta_signed` there). A file that cannot be opened or read gives `EDGEID_ERR_IO`
/// (outcome `EDGEID_OUTCOME_NONE`), with the path in the message.
///
/// `progress` (may be NULL) is called with `user_data`; a non-zero return cancels the apply:
/// `EDGEID_ERR_CANCELLED`, outcome `EDGEID_OUTCOME_NONE`, nothing of the delta applied. The order
/// of the reports differs from `edgeid_apply_delta`: `EDGEID_PROGRESS_COMMITTING` comes first
/// (once, `done == total == 0`, when the delta's header is valid and its sequence is next; the
/// changes are then read and staged under the store's writer lock), then
/// `EDGEID_PROGRESS_VALIDATING` with `done` changes read and `total` 0 (unknown), as the changes
/// are read. The last report comes after the whole file was read, before anything is committed:
/// every report is a chance to cancel. What the callback may call is as for `edgeid_apply_delta`.
///
/// Thread safety: any thread. Applies, commits and maintenance on one store are serialised (a
/// slow disk delays other writes, never searches); identify, verify, stats, sync status, digest
/// and lookups on other threads run concurrently and see the store before or after the delta.
///
/// # Safety
/// `path` must point to `path_len` readable bytes; `progress`, if not NULL, must be a function of
/// this type that is safe to call with `user_data`; `result` must point to a writable
/// `edgeid_apply_result` whose `size` field is initialised.
#[no_mangle]
pub unsafe extern "C" fn edgeid_apply_delta_file(
    store: *mut edgeid_store,
    path: *const c_char,
    path_len: usize,
    progress: edgeid_progress_cancel_fn,
    user_data: *mut c_void,
    result: *mut edgeid_apply_result,
) -> edgeid_status {
    let run = |s: &Store, report: &mut dyn FnMut(Progress) -> ControlFlow<()>| {
        // SAFETY: header contract of `path`.
        let path = Path::new(unsafe { args::str_arg("path", path, path_len) }?);
        let mut file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) => return Ok(Err(Error::io("open", path, e))),
        };
        Ok(s.apply_delta_reader_cancellable(&mut file, report)
            .map_err(|e| match e {
                // The stream's read errors name the file (the store's own keep theirs).
                Error::Io {
                    source, path: p, ..
                } if p == Path::new(STREAM) => Error::io("read", path, source),
                e => e,
            }))
    };
    // SAFETY: the header contract of every argument is this function's.
    unsafe {
        apply_with(
            "edgeid_apply_delta_file",
            store,
            None,
            progress,
            user_data,
            result,
            run,
        )
    }
}

/// `edgeid_apply_delta_file` with the delta's bytes coming from `read` instead of a file (e.g. a
/// socket or a decompressor): `read` is called with `user_data` until it returns 0 (see
/// `edgeid_read_fn`); it may return any number of bytes at a time. `progress` (may be NULL) is
/// called with the same `user_data`. A negative return of `read`, or more bytes than `cap`, gives
/// `EDGEID_ERR_IO` and nothing applied. Everything else (the delta's form, progress and cancel,
/// result, statuses) is as for `edgeid_apply_delta_file`.
///
/// Thread safety: as `edgeid_apply_delta_file`; `read` runs on the calling thread.
///
/// # Safety
/// `read` must be a function of this type that is safe to call with `user_data` and a buffer of
/// `cap` writable bytes; `progress`, if not NULL, a function of its type safe to call with
/// `user_data`; `result` must point to a writable `edgeid_apply_result` whose `size` field is
/// initialised.
#[no_mangle]
pub unsafe extern "C" fn edgeid_apply_delta_stream(
    store: *mut edgeid_store,
    read: edgeid_read_fn,
    progress: edgeid_progress_cancel_fn,
    user_data: *mut c_void,
    result: *mut edgeid_apply_result,
) -> edgeid_status {
    // SAFETY: the header contract of every argument is this function's.
    unsafe {
        apply_with(
            "edgeid_apply_delta_stream",
            store,
            None,
            progress,
            user_data,
            result,
            |s, report| {
                let read = read.ok_or_else(|| {
                    crate::status::Failure::new(edgeid_status::EDGEID_ERR_NULL, "read is NULL")
                })?;
                let mut reader = CallbackReader { read, user_data };
                Ok(s.apply_delta_reader_cancellable(&mut reader, report))
            },
        )
    }
}
