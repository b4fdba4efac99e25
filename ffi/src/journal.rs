//! The event journal: read a page of events after a cursor as JSON text into the caller's buffer,
//! acknowledge up to a cursor, and tell the journal about the clock (see `docs/journal.md`).

use crate::args;
use crate::handle::{self, edgeid_store};
use crate::status::edgeid_status::{self, *};
use crate::status::Failure;
use engine::journal::TimeQuality;
use std::ffi::c_char;

/// Events after a cursor, as one JSON object `{"events": [...], "cursor": N}` (the shape of
/// `edgeid events read --json`, `docs/journal.md`), written NUL-terminated to `buf` (room for
/// `cap` bytes). `*len_out` receives the length of the text without the NUL, also when it does not
/// fit: then nothing is written and the call returns `EDGEID_ERR_SIZE` (ask with `buf` NULL and
/// `cap` 0 for the size; a page read again is the same while nothing is acknowledged past it).
/// At most `limit` events (capped at 100,000), only durable ones, in id order. `*cursor_out`
/// (if not NULL) receives the page's cursor: the last id returned, or `after` when none — what
/// to pass to `edgeid_events_ack` and as the next `after`. Thread safety: any thread,
/// concurrently with every other call.
///
/// # Safety
/// `buf`, if not NULL, must point to `cap` writable bytes; `len_out` to a writable `size_t`;
/// `cursor_out` is NULL or points to a writable `uint64_t`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_events_read(
    store: *mut edgeid_store,
    after: u64,
    limit: usize,
    buf: *mut c_char,
    cap: usize,
    len_out: *mut usize,
    cursor_out: *mut u64,
) -> edgeid_status {
    handle::with_store("edgeid_events_read", store, |s| {
        // SAFETY: header contract of `len_out`.
        unsafe { args::write_out("len_out", len_out, 0)? };
        let page = s.journal().read(after, limit)?;
        let views: Vec<_> = page.events.iter().map(|e| e.view()).collect();
        let text = serde_json::to_string(&serde_json::json!({
            "events": views,
            "cursor": page.cursor,
        }))
        .map_err(|e| Failure::new(EDGEID_ERR_OTHER, e.to_string()))?;
        // SAFETY: header contract of `len_out` and `cursor_out`.
        unsafe {
            args::write_out("len_out", len_out, text.len())?;
            args::write_opt("cursor_out", cursor_out, page.cursor)?;
        }
        // SAFETY: header contract of `buf`.
        let out = unsafe { args::out_array_or_empty("buf", buf, cap) }?;
        if text.len() >= cap {
            return Err(Failure::new(
                EDGEID_ERR_SIZE,
                format!(
                    "buf has room for {cap} bytes, the page needs {} (with the NUL)",
                    text.len() + 1
                ),
            ));
        }
        for (o, b) in out.iter_mut().zip(text.bytes().chain([0])) {
            o.write(b as c_char);
        }
        Ok(())
    })
}

/// Acknowledges every event up to `cursor` (durable before it returns): they may be dropped from
/// now on. An older cursor than the acknowledged one changes nothing (the acknowledgement never
/// moves backwards); one past the last event is `EDGEID_ERR_INVALID`. `*acked_out` (if not NULL)
/// receives the acknowledged cursor. Thread safety: any thread, concurrently with every other
/// call.
///
/// # Safety
/// `acked_out` is NULL or points to a writable `uint64_t`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_events_ack(
    store: *mut edgeid_store,
    cursor: u64,
    acked_out: *mut u64,
) -> edgeid_status {
    handle::with_store("edgeid_events_ack", store, |s| {
        let acked = s.journal().ack(cursor)?;
        // SAFETY: header contract of `acked_out`.
        unsafe { args::write_opt("acked_out", acked_out, acked) }
    })
}

/// The terminal's clock was set from `from_micros` to `to_micros` (Unix microseconds): appends a
/// `clock_changed` event (durable before it returns; its id to `*id_out` if not NULL) and sets
/// the time quality of later events: `synced` true when the new time comes from the platform or
/// NTP, false otherwise. Thread safety: any thread, concurrently with every other call.
///
/// # Safety
/// `id_out` is NULL or points to a writable `uint64_t`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_clock_changed(
    store: *mut edgeid_store,
    from_micros: i64,
    to_micros: i64,
    synced: bool,
    id_out: *mut u64,
) -> edgeid_status {
    handle::with_store("edgeid_clock_changed", store, |s| {
        let q = if synced {
            TimeQuality::Synced
        } else {
            TimeQuality::Unsynced
        };
        let id = s.clock_changed(from_micros, to_micros, q)?;
        // SAFETY: header contract of `id_out`.
        unsafe { args::write_opt("id_out", id_out, id) }
    })
}

/// Whether the terminal's clock was set since boot (by the platform or NTP): the time quality of
/// later events (`synced` or `unsynced`; default after opening: not set). Thread safety: any
/// thread, concurrently with every other call.
#[no_mangle]
pub extern "C" fn edgeid_clock_synced(store: *mut edgeid_store, synced: bool) -> edgeid_status {
    handle::with_store("edgeid_clock_synced", store, |s| {
        s.journal().set_clock_synced(synced);
        Ok(())
    })
}
