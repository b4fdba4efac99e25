//! Finding users by card, access code or licence plate, and checking an access code.
//!
//! Access codes passed to `edgeid_lookup_code` / `edgeid_check_code` are borrowed for the call
//! only: this module never copies, formats or records them (error messages about a code never
//! contain it), and the library keeps only keyed hashes.

use crate::args;
use crate::handle::{self, edgeid_store};
use crate::status::edgeid_status::{self, *};
use crate::status::{Failure, FfiResult};
use crate::sync::{edgeid_user_ref, EDGEID_NO_FACILITY};
use engine::sync::UserRef;
use engine::Store;
use std::ffi::c_char;

/// The body of a lookup: clears the outputs (so they are never stale), reads the location
/// filter, runs `find` and writes what it found.
///
/// # Safety
/// `location_id` (if not NULL) must point to `location_id_len` readable bytes; `user_out` to a
/// writable `edgeid_user_ref`, `found_out` to a writable `bool`.
unsafe fn lookup(
    func: &str,
    store: *mut edgeid_store,
    location_id: *const c_char,
    location_id_len: usize,
    user_out: *mut edgeid_user_ref,
    found_out: *mut bool,
    find: impl FnOnce(&Store, Option<&str>) -> FfiResult<Option<UserRef>>,
) -> edgeid_status {
    handle::with_store(func, store, |s| {
        // SAFETY: header contract of the calling export.
        unsafe {
            args::write_out("found_out", found_out, false)?;
            args::write_out("user_out", user_out, edgeid_user_ref::EMPTY)?;
        }
        // SAFETY: as above.
        let location = unsafe { args::location_filter(location_id, location_id_len) }?;
        if let Some(r) = find(s, location)? {
            // SAFETY: as above.
            unsafe {
                args::write_out("user_out", user_out, (&r).into())?;
                args::write_out("found_out", found_out, true)?;
            }
        }
        Ok(())
    })
}

/// Finds the user holding a card. `location_id`: NULL to search every location (a card is unique
/// within a location only: the first location by id that has it wins), or only this one.
/// `format`: "csn" (`number` = the card serial, 2..=32 hex digits, any case; `facility` =
/// `EDGEID_NO_FACILITY`), "wiegand26" (`facility` 0..=255) or "wiegand34" (`facility` 0..=65535),
/// with `number` the decimal card number 0..=65535.
/// On success `*found_out` says whether a user holds the card, and `*user_out` is that user (all
/// zero if none). A malformed card (unknown format, bad number or facility) gives
/// `EDGEID_ERR_INVALID`.
/// Thread safety: any thread, concurrently with every other call on the store (a lookup sees the
/// store before or after a delta applied meanwhile).
///
/// # Safety
/// `location_id` (if not NULL), `format` and `number` must point to their lengths in readable
/// bytes; `user_out` to a writable `edgeid_user_ref`, `found_out` to a writable `bool`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_lookup_card(
    store: *mut edgeid_store,
    location_id: *const c_char,
    location_id_len: usize,
    format: *const c_char,
    format_len: usize,
    number: *const c_char,
    number_len: usize,
    facility: i64,
    user_out: *mut edgeid_user_ref,
    found_out: *mut bool,
) -> edgeid_status {
    let find = |s: &Store, location: Option<&str>| {
        // SAFETY: header contract of `format` and `number`.
        let (format, number) = unsafe {
            (
                args::str_arg("format", format, format_len)?,
                args::str_arg("number", number, number_len)?,
            )
        };
        let facility = match facility {
            EDGEID_NO_FACILITY => None,
            f if f >= 0 => Some(f as u64),
            f => {
                return Err(Failure::new(
                    EDGEID_ERR_INVALID,
                    format!("facility must be 0 or more, or EDGEID_NO_FACILITY (-1), got {f}"),
                ))
            }
        };
        Ok(s.lookup_card(location, format, number, facility)?)
    };
    // SAFETY: header contract of `location_id`, `user_out` and `found_out`.
    unsafe {
        lookup(
            "edgeid_lookup_card",
            store,
            location_id,
            location_id_len,
            user_out,
            found_out,
            find,
        )
    }
}

/// Finds the user an access code belongs to (4..=12 ASCII digits, `EDGEID_ERR_INVALID`
/// otherwise). `location_id`: NULL to search every location (the first by id that has the code
/// wins), or only this one. On success `*found_out` says whether the code belongs to a user, and
/// `*user_out` is that user (all zero if none). The code is only read during the call: it is
/// hashed with each location's key and never stored, copied, logged or put in an error message.
/// Thread safety: as `edgeid_lookup_card`.
///
/// # Safety
/// `location_id` (if not NULL) and `code` must point to their lengths in readable bytes;
/// `user_out` to a writable `edgeid_user_ref`, `found_out` to a writable `bool`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_lookup_code(
    store: *mut edgeid_store,
    location_id: *const c_char,
    location_id_len: usize,
    code: *const c_char,
    code_len: usize,
    user_out: *mut edgeid_user_ref,
    found_out: *mut bool,
) -> edgeid_status {
    let find = |s: &Store, location: Option<&str>| {
        // SAFETY: header contract of `code`.
        let code = unsafe { args::str_arg("code", code, code_len) }?;
        Ok(s.lookup_code(location, code)?)
    };
    // SAFETY: header contract of `location_id`, `user_out` and `found_out`.
    unsafe {
        lookup(
            "edgeid_lookup_code",
            store,
            location_id,
            location_id_len,
            user_out,
            found_out,
            find,
        )
    }
}

/// Checks an access code against one user: `*match_out` is true iff `code` is one of the access
/// codes of user `user_id` at `location_id` (false also for an unknown user or location). The code
/// must be 4..=12 ASCII digits (`EDGEID_ERR_INVALID` otherwise); it is only read during the call,
/// never stored, copied, logged or put in an error message.
/// Thread safety: as `edgeid_lookup_card`.
///
/// # Safety
/// The id pointers and `code` must point to their lengths in readable bytes; `match_out` to a
/// writable `bool`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_check_code(
    store: *mut edgeid_store,
    location_id: *const c_char,
    location_id_len: usize,
    user_id: *const c_char,
    user_id_len: usize,
    code: *const c_char,
    code_len: usize,
    match_out: *mut bool,
) -> edgeid_status {
    handle::with_store("edgeid_check_code", store, |s| {
        // SAFETY: header contract of `match_out`.
        unsafe { args::write_out("match_out", match_out, false) }?;
        // SAFETY: header contract of the id pointers and `code`.
        let (location, user, code) = unsafe {
            (
                args::id_arg("location_id", location_id, location_id_len)?,
                args::id_arg("user_id", user_id, user_id_len)?,
                args::str_arg("code", code, code_len)?,
            )
        };
        let ok = s.check_code(location, user, code)?;
        // SAFETY: as above.
        unsafe { args::write_out("match_out", match_out, ok) }
    })
}

/// Finds the user a licence plate belongs to. Plates are compared after upper-casing and removing
/// spaces, dashes and dots ("ab 123 c" finds "AB-123-C"); 1..=16 letters or digits must remain
/// (`EDGEID_ERR_INVALID` otherwise). `location_id`: NULL to search every location (the first by
/// id that has the plate wins), or only this one. On success `*found_out` says whether the plate
/// belongs to a user, and `*user_out` is that user (all zero if none).
/// Thread safety: as `edgeid_lookup_card`.
///
/// # Safety
/// `location_id` (if not NULL) and `plate` must point to their lengths in readable bytes;
/// `user_out` to a writable `edgeid_user_ref`, `found_out` to a writable `bool`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_lookup_plate(
    store: *mut edgeid_store,
    location_id: *const c_char,
    location_id_len: usize,
    plate: *const c_char,
    plate_len: usize,
    user_out: *mut edgeid_user_ref,
    found_out: *mut bool,
) -> edgeid_status {
    let find = |s: &Store, location: Option<&str>| {
        // SAFETY: header contract of `plate`.
        let plate = unsafe { args::str_arg("plate", plate, plate_len) }?;
        Ok(s.lookup_plate(location, plate)?)
    };
    // SAFETY: header contract of `location_id`, `user_out` and `found_out`.
    unsafe {
        lookup(
            "edgeid_lookup_plate",
            store,
            location_id,
            location_id_len,
            user_out,
            found_out,
            find,
        )
    }
}
