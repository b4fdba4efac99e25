//! Opening, creating and closing stores; maintenance and statistics.

use crate::args::{self, fill};
use crate::handle::{self, edgeid_store};
use crate::status::edgeid_status::{self, *};
use crate::status::{guard, Failure, FfiResult};
use engine::{OpenOptions, Store};
use std::ffi::{c_char, c_void};
use std::path::Path;

/// `edgeid_open_options.flags`: open read-only. Nothing is written (no lock file, no clean-up of
/// leftovers, no cut of a torn log tail, no upgrade), no writer lock is taken, so read-only handles
/// open beside a writer (in this or another process); the handle shows the store as it was when it
/// opened. Writes return `EDGEID_ERR_READ_ONLY`. The writer scrubs erased segment files only once
/// the read-only handles mapping them are closed: close them promptly. `edgeid_create` refuses it.
pub const EDGEID_OPEN_READ_ONLY: u32 = 1;

/// Most search threads a store may start (edgeid_open_options.threads).
pub const EDGEID_MAX_THREADS: u32 = 1024;

/// How to open or create a store. Zero means "default" in every field, so
/// `edgeid_open_options o = { .size = sizeof(edgeid_open_options) };` gives the defaults, and so
/// does passing NULL instead of options. Version 2 appended `code_keys`, version 3 `log` and
/// `log_user_data`; the sizes of versions 1 (`EDGEID_OPEN_OPTIONS_SIZE_V1`, 12) and 2 (24 on
/// 64-bit targets, 16 on 32-bit ones) are still accepted.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct edgeid_open_options {
    /// Must be `sizeof(edgeid_open_options)` (lets later versions add fields; see ABI rules).
    pub size: u32,
    /// Search threads: 0 = one per CPU core (default), 1 = search on the calling thread only,
    /// n = a pool of n threads (at most `EDGEID_MAX_THREADS`) that share each large search.
    pub threads: u32,
    /// `EDGEID_OPEN_*` bits; unknown bits give `EDGEID_ERR_UNSUPPORTED`.
    pub flags: u32,
    // ---- Version 2 (code keys kept by the terminal) appends the field below.
    /// NULL (default): the locations' code keys are kept in the file `CODE-KEYS` in the store
    /// directory (mode 0600), apart from the hashes they key. Else: the terminal keeps them, e.g.
    /// in a secure element (see `edgeid_code_keys`); the struct is copied during the call.
    pub code_keys: *const crate::keys::edgeid_code_keys,
    // ---- Version 3 (the vendor's logger) appends the fields below.
    /// NULL (default): no log. Else the store reports the events a firmware log wants through it
    /// (`edgeid_log_fn`): open and what recovery did, checkpoints and compactions, housekeeping
    /// failures kept for retry, a store that refuses writes until reopened, refused deltas.
    pub log: edgeid_log_fn,
    /// Passed to `log` unchanged.
    pub log_user_data: *mut c_void,
}

/// `edgeid_log_fn`'s level: an error kept for retry (or a store refusing writes), a refusal or
/// repair, a normal event.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum edgeid_log_level {
    /// Something failed (housekeeping kept for retry; a store refusing writes until reopened).
    EDGEID_LOG_ERROR = 1,
    /// Something was refused (a delta) or repaired (a torn log tail cut at open).
    EDGEID_LOG_WARN = 2,
    /// A normal event (open, checkpoint, compaction).
    EDGEID_LOG_INFO = 3,
}

/// The vendor's logger (`edgeid_open_options.log`): `message` is one line of UTF-8 text,
/// NUL-terminated, valid only during the call. Called on the thread of the store call that
/// produced the event; calls from different threads may be concurrent, so the function must be
/// thread-safe. It must return normally and must not call this store's writing functions or close
/// it. Set per store (each handle its own logger): the library keeps no global logger.
#[allow(non_camel_case_types)]
pub type edgeid_log_fn = Option<
    unsafe extern "C" fn(user_data: *mut c_void, level: edgeid_log_level, message: *const c_char),
>;

/// The C logger of a store, as the library's [`engine::store::Logger`].
struct CLogger {
    f: unsafe extern "C" fn(*mut c_void, edgeid_log_level, *const c_char),
    user_data: *mut c_void,
}

// SAFETY: the header contract of `edgeid_log_fn` makes the function (with its `user_data`)
// callable from any thread, concurrently.
unsafe impl Send for CLogger {}
// SAFETY: as above.
unsafe impl Sync for CLogger {}

impl CLogger {
    fn log(&self, level: engine::store::LogLevel, message: &str) {
        use engine::store::LogLevel;
        let level = match level {
            LogLevel::Error => edgeid_log_level::EDGEID_LOG_ERROR,
            LogLevel::Warn => edgeid_log_level::EDGEID_LOG_WARN,
            LogLevel::Info => edgeid_log_level::EDGEID_LOG_INFO,
        };
        // Messages hold no NUL; one that did would be cut there.
        let text = std::ffi::CString::new(message.replace('\0', " ")).unwrap_or_default();
        // SAFETY: header contract of `edgeid_log_fn`: callable with its user data from any
        // thread; the message outlives the call.
        unsafe { (self.f)(self.user_data, level, text.as_ptr()) }
    }
}

/// `sizeof(edgeid_open_options)` of version 1 (before `code_keys`): still accepted in
/// `edgeid_open_options.size`.
pub const EDGEID_OPEN_OPTIONS_SIZE_V1: u32 = 12;

/// `sizeof(edgeid_open_options)` of version 2 (before `log`): accepted in
/// `edgeid_open_options.size` (24 on 64-bit targets, 16 on 32-bit ones).
const SIZE_V2: u32 = std::mem::offset_of!(edgeid_open_options, log) as u32;

/// Counts and sizes of a store (`edgeid_store_stats`). Set `size` before the call. Version 2 of
/// this struct appended the fingerprint counts; fields are only ever appended.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct edgeid_stats {
    /// Must be `sizeof(edgeid_stats)` on input (lets later versions add fields).
    pub size: u32,
    /// Embedding dimension.
    pub dim: u32,
    /// Live face templates.
    pub live_templates: u64,
    /// Deleted rows whose space compaction has not reclaimed yet.
    pub deleted_rows: u64,
    /// Segment files.
    pub segments: u64,
    /// Rows in the in-memory tail (logged, not yet written as a segment).
    pub tail_rows: u64,
    /// Bytes of segment files.
    pub segment_bytes: u64,
    /// Bytes of the write-ahead log.
    pub wal_bytes: u64,
    /// Sequence number of the last commit (0 for a new store).
    pub seq: u64,
    /// Length of `model` in bytes.
    pub model_len: u32,
    /// Face model name, printable ASCII, NUL-terminated.
    pub model: [c_char; EDGEID_MODEL_BUF],
    // ---- Version 2 (fingerprints) appends the fields below. A caller compiled with version 1
    // (`EDGEID_STATS_SIZE_V1` bytes) gets the fields above only.
    /// Live fingerprint templates.
    pub fingers: u64,
    /// Deleted fingerprint rows whose space compaction has not reclaimed yet.
    pub deleted_fingers: u64,
    /// Fingerprint segment files.
    pub finger_segments: u64,
    /// Fingerprint rows in the in-memory tail (logged, not yet written as a segment).
    pub finger_tail_rows: u64,
}

/// `sizeof(edgeid_stats)` of version 1 (before the fingerprint counts): still accepted in
/// `edgeid_stats.size`, and then only that many bytes are written.
pub const EDGEID_STATS_SIZE_V1: u32 = 104;

/// Size of the `model` buffer in `edgeid_stats`: the longest model name (32 bytes) plus a NUL.
pub const EDGEID_MODEL_BUF: usize = 33;

const _: () = assert!(EDGEID_MODEL_BUF == engine::ids::MAX_MODEL_LEN + 1);
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<edgeid_stats>() == 136);
// Version 1 ended where the fingerprint counts begin (its size rounded up to its alignment of 8).
const _: () = assert!(std::mem::offset_of!(edgeid_stats, fingers) == EDGEID_STATS_SIZE_V1 as usize);
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<edgeid_open_options>() == 40);
#[cfg(target_pointer_width = "64")]
const _: () = assert!(SIZE_V2 == 24);
// Version 1 ended where `code_keys` begins (rounded up to the pointer's alignment).
const _: () = assert!(
    std::mem::offset_of!(edgeid_open_options, code_keys) >= EDGEID_OPEN_OPTIONS_SIZE_V1 as usize
);

fn open_options(ptr: *const edgeid_open_options) -> FfiResult<OpenOptions> {
    let mut o = OpenOptions::new();
    if ptr.is_null() {
        return Ok(o);
    }
    // SAFETY: non-NULL `options` points to an edgeid_open_options (header contract); the size
    // field is read first, and the whole struct only if it has the size of this version's struct.
    let size = unsafe {
        args::versioned_size(
            "options",
            ptr,
            "options.size",
            "edgeid_open_options",
            &[(EDGEID_OPEN_OPTIONS_SIZE_V1, 1), (SIZE_V2, 2)],
        )
    }?;
    // SAFETY: as above, `size` bytes (a known version); every field is an integer or a pointer,
    // valid for any bits (zero for the fields an older version does not have).
    let opts = unsafe { args::read_prefix("options", ptr, size as usize) }?;
    // SAFETY: header contract of `code_keys`.
    if let Some(k) = unsafe { crate::keys::provider(opts.code_keys) }? {
        o = o.code_keys(k);
    }
    if let Some(f) = opts.log {
        let l = CLogger {
            f,
            user_data: opts.log_user_data,
        };
        o = o.logger(std::sync::Arc::new(move |level, m: &str| l.log(level, m)));
    }
    if opts.flags & EDGEID_OPEN_READ_ONLY != 0 {
        o = o.read_only(true);
    }
    if opts.flags & !EDGEID_OPEN_READ_ONLY != 0 {
        return Err(Failure::new(
            EDGEID_ERR_UNSUPPORTED,
            format!(
                "options.flags has bits this version does not know: {:#x}",
                opts.flags
            ),
        ));
    }
    if opts.threads > EDGEID_MAX_THREADS {
        return Err(Failure::new(
            EDGEID_ERR_INVALID,
            format!(
                "options.threads must be 0..={EDGEID_MAX_THREADS}, got {}",
                opts.threads
            ),
        ));
    }
    if opts.threads > 0 {
        o = o.threads(opts.threads as usize);
    }
    Ok(o)
}

/// Opens an existing store.
///
/// `path`/`path_len`: the store directory, UTF-8, not NUL-terminated. `options`: NULL for
/// defaults. On success `*store_out` is the new handle; on failure it is set to NULL.
/// Errors: `EDGEID_ERR_NO_STORE` (no store there: create one), `EDGEID_ERR_LOCKED` (open in another
/// process or through another handle), `EDGEID_ERR_CORRUPT`, `EDGEID_ERR_VERSION`, `EDGEID_ERR_IO`,
/// `EDGEID_ERR_UNSUPPORTED` (unknown flags), `EDGEID_ERR_SIZE`, and argument errors.
/// Thread safety: any thread. A store directory can be open for writing once at a time, and
/// read-only (`EDGEID_OPEN_READ_ONLY`) any number of times beside it.
///
/// # Safety
/// `path` must point to `path_len` readable bytes; `options`, if not NULL, to an
/// `edgeid_open_options`; `store_out` to writable memory for one pointer.
#[no_mangle]
pub unsafe extern "C" fn edgeid_open(
    path: *const c_char,
    path_len: usize,
    options: *const edgeid_open_options,
    store_out: *mut *mut edgeid_store,
) -> edgeid_status {
    guard("edgeid_open", || {
        // SAFETY: header contract of `store_out`.
        unsafe { args::write_out("store_out", store_out, std::ptr::null_mut()) }?;
        // SAFETY: header contract of `path`.
        let path = unsafe { args::str_arg("path", path, path_len) }?;
        let opts = open_options(options)?;
        let store = Store::open(Path::new(path), opts)?;
        let h = handle::register(store)?;
        // SAFETY: as above.
        unsafe { args::write_out("store_out", store_out, h) }
    })
}

/// Creates a new, empty store in directory `path` (created if missing) for embeddings of face
/// model `model` (1..=32 printable ASCII bytes) with `dim` dimensions (8..=4096), and opens it.
///
/// On success `*store_out` is the new handle; on failure it is set to NULL.
/// Errors: `EDGEID_ERR_NO_STORE` (a store already exists there), `EDGEID_ERR_INVALID` (model name,
/// dimension, or `EDGEID_OPEN_READ_ONLY`), `EDGEID_ERR_IO`, `EDGEID_ERR_LOCKED`, and as `edgeid_open`.
/// Thread safety: any thread.
///
/// # Safety
/// `path` must point to `path_len` readable bytes, `model` to `model_len`; `options`, if not NULL,
/// to an `edgeid_open_options`; `store_out` to writable memory for one pointer.
#[no_mangle]
pub unsafe extern "C" fn edgeid_create(
    path: *const c_char,
    path_len: usize,
    model: *const c_char,
    model_len: usize,
    dim: usize,
    options: *const edgeid_open_options,
    store_out: *mut *mut edgeid_store,
) -> edgeid_status {
    guard("edgeid_create", || {
        // SAFETY: header contract of `store_out`.
        unsafe { args::write_out("store_out", store_out, std::ptr::null_mut()) }?;
        // SAFETY: header contract of `path` and `model`.
        let (path, model) = unsafe {
            (
                args::str_arg("path", path, path_len)?,
                args::str_arg("model", model, model_len)?,
            )
        };
        let opts = open_options(options)?;
        let store = Store::create(Path::new(path), model, dim, opts)?;
        let h = handle::register(store)?;
        // SAFETY: as above.
        unsafe { args::write_out("store_out", store_out, h) }
    })
}

/// Closes a store: waits until calls running on it in other threads return, then closes its files
/// and releases its lock (the directory can be opened again as soon as this returns). Afterwards
/// every call with this handle returns `EDGEID_ERR_CLOSED`.
///
/// `edgeid_close(NULL)` does nothing and returns `EDGEID_OK`; closing a handle twice returns
/// `EDGEID_ERR_CLOSED`. Everything committed is already durable: closing loses nothing.
/// Thread safety: any thread, also while other threads use the store (their later calls return
/// `EDGEID_ERR_CLOSED`).
#[no_mangle]
pub extern "C" fn edgeid_close(store: *mut edgeid_store) -> edgeid_status {
    guard("edgeid_close", || {
        if store.is_null() {
            return Ok(());
        }
        handle::close(store)
    })
}

/// Fills `*stats` with the store's counts and sizes, face and fingerprint. Set
/// `stats->size = sizeof(edgeid_stats)` first. Sizes of older versions of the struct are accepted
/// too (`EDGEID_STATS_SIZE_V1`: without the fingerprint counts) and only that many bytes are
/// written; any other size gives `EDGEID_ERR_SIZE`.
/// Thread safety: any thread, concurrently with every other call on the store.
///
/// # Safety
/// `stats` must point to `stats->size` writable bytes (an `edgeid_stats` of the version the caller
/// was compiled with) whose `size` field is initialised.
#[no_mangle]
pub unsafe extern "C" fn edgeid_store_stats(
    store: *mut edgeid_store,
    stats: *mut edgeid_stats,
) -> edgeid_status {
    handle::with_store("edgeid_store_stats", store, |s| {
        // SAFETY: header contract of `stats`: its size field is readable.
        let size = unsafe {
            args::versioned_size(
                "stats",
                stats.cast_const(),
                "stats->size",
                "edgeid_stats",
                &[(EDGEID_STATS_SIZE_V1, 1)],
            )
        }?;
        let st = s.stats();
        let out = edgeid_stats {
            size,
            dim: st.dim as u32,
            live_templates: st.faces.live as u64,
            deleted_rows: st.faces.dead as u64,
            segments: st.faces.segments as u64,
            tail_rows: st.faces.tail_rows as u64,
            segment_bytes: st.faces.segment_bytes + st.fingers.segment_bytes,
            wal_bytes: st.wal_bytes,
            seq: st.seq,
            model_len: st.model.len() as u32,
            model: fill(&st.model),
            fingers: st.fingers.live as u64,
            deleted_fingers: st.fingers.dead as u64,
            finger_segments: st.fingers.segments as u64,
            finger_tail_rows: st.fingers.tail_rows as u64,
        };
        // SAFETY: header contract of `stats`: `size` writable bytes, a known struct size (checked)
        // no larger than this version's.
        unsafe { args::write_prefix("stats", stats, out, size as usize) }
    })
}

/// Compacts the store: writes the in-memory tail as a segment and rewrites segments with deleted
/// rows, so dead rows stop costing scan time and their bytes leave the flash.
/// Thread safety: any thread; serialised with commits and other maintenance; identify and verify
/// on other threads continue meanwhile (on the state before compaction).
#[no_mangle]
pub extern "C" fn edgeid_compact(store: *mut edgeid_store) -> edgeid_status {
    handle::with_store("edgeid_compact", store, |s| Ok(s.compact()?))
}

/// Erases the bytes of deleted templates now (compaction plus overwriting the obsolete files).
/// `*still_mapped_out` (may be NULL) receives how many obsolete files searches running right now
/// still read; they are erased by a later commit or `edgeid_maintain`.
/// Thread safety: as `edgeid_compact`.
///
/// # Safety
/// `still_mapped_out`, if not NULL, must point to writable memory for one `size_t`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_erase_deleted(
    store: *mut edgeid_store,
    still_mapped_out: *mut usize,
) -> edgeid_status {
    handle::with_store("edgeid_erase_deleted", store, |s| {
        let n = s.erase_deleted()?;
        // SAFETY: header contract of `still_mapped_out`.
        unsafe { args::write_opt("still_mapped_out", still_mapped_out, n) }
    })
}

/// Housekeeping a long-running terminal calls periodically (say once a minute): erases deleted
/// templates once the oldest deletion is 10 minutes old, writes a large tail as a segment, and
/// removes files no search uses any more. Cheap when there is nothing to do.
/// Thread safety: as `edgeid_compact`.
#[no_mangle]
pub extern "C" fn edgeid_maintain(store: *mut edgeid_store) -> edgeid_status {
    handle::with_store("edgeid_maintain", store, |s| Ok(s.maintain()?))
}

/// Reads every segment completely and checks all checksums (`EDGEID_ERR_CORRUPT` names the first
/// damaged file). `*segments_out` (may be NULL) receives the number of segments checked.
/// Thread safety: any thread, concurrently with every other call on the store.
///
/// # Safety
/// `segments_out`, if not NULL, must point to writable memory for one `size_t`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_verify_checksums(
    store: *mut edgeid_store,
    segments_out: *mut usize,
) -> edgeid_status {
    handle::with_store("edgeid_verify_checksums", store, |s| {
        let n = s.verify_checksums()?;
        // SAFETY: header contract of `segments_out`.
        unsafe { args::write_opt("segments_out", segments_out, n) }
    })
}
