//! The door decision (`edgeid_decide`): may this person pass this door now?
//!
//! What the readers collected comes in an `edgeid_presented` (every field optional, zero meaning
//! "not presented" or "default"); the answer is written to an `edgeid_decision`. A person who may
//! not pass is an answer (`granted` false, a reason), not an error: errors are for bad input and
//! for failures of the store.
//!
//! The access code in `edgeid_presented.code` is only read during the call: it is hashed with the
//! location's key and never stored, copied, logged or put in an error message.

use crate::args::{self, fill};
use crate::face::EDGEID_ID_BUF;
use crate::handle::{self, edgeid_store};
use crate::status::edgeid_status::{self, *};
use crate::status::{Failure, FfiResult};
use engine::access::{DecideOptions, Decision, Factor, Passback, Presented, Reason, Shown};
use std::ffi::c_char;
use std::time::{Duration, SystemTime};

/// Size of `edgeid_decision.mode` (a mode and its NUL).
pub const EDGEID_MODE_BUF: usize = 64;
/// Size of `edgeid_decision.reason_code` and `edgeid_decision.punch`.
pub const EDGEID_CODE_BUF: usize = 32;

/// `edgeid_decision.reason`: granted (no reason).
pub const EDGEID_REASON_NONE: u32 = 0;
/// The door is not known at the location.
pub const EDGEID_REASON_UNKNOWN_DOOR: u32 = 1;
/// No user holds the card, plate, id or code.
pub const EDGEID_REASON_UNKNOWN_CREDENTIAL: u32 = 2;
/// No user's face matches at the threshold.
pub const EDGEID_REASON_UNKNOWN_FACE: u32 = 3;
/// No user's fingerprint matches at the threshold.
pub const EDGEID_REASON_UNKNOWN_FINGER: u32 = 4;
/// The user is disabled.
pub const EDGEID_REASON_DISABLED: u32 = 5;
/// Before the user's validity.
pub const EDGEID_REASON_NOT_YET_VALID: u32 = 6;
/// After the user's validity.
pub const EDGEID_REASON_EXPIRED: u32 = 7;
/// No right of the user names the door.
pub const EDGEID_REASON_NO_RIGHT_FOR_DOOR: u32 = 8;
/// Outside the schedules of the user's rights for the door.
pub const EDGEID_REASON_OUTSIDE_SCHEDULE: u32 = 9;
/// A holiday of those schedules.
pub const EDGEID_REASON_HOLIDAY: u32 = 10;
/// A mode was begun but not completed (in time).
pub const EDGEID_REASON_SECOND_FACTOR_MISSING: u32 = 11;
/// A factor the modes use did not match the user.
pub const EDGEID_REASON_SECOND_FACTOR_MISMATCH: u32 = 12;
/// What was presented is no mode offered here now.
pub const EDGEID_REASON_MODE_NOT_ALLOWED: u32 = 13;
/// A hard anti-passback violation.
pub const EDGEID_REASON_ANTI_PASSBACK: u32 = 14;

/// `edgeid_decision.factors` bit: a face matched.
pub const EDGEID_FACTOR_FACE: u32 = 1;
/// A fingerprint matched.
pub const EDGEID_FACTOR_FINGER: u32 = 2;
/// A card named the user.
pub const EDGEID_FACTOR_CARD: u32 = 4;
/// An access code matched.
pub const EDGEID_FACTOR_CODE: u32 = 8;
/// A plate named the user.
pub const EDGEID_FACTOR_PLATE: u32 = 16;
/// A typed user id named the user.
pub const EDGEID_FACTOR_ID: u32 = 32;

/// `edgeid_decision.anti_passback`: the door has no anti-passback (or it was not reached).
pub const EDGEID_APB_NONE: u32 = 0;
/// The passage is in order.
pub const EDGEID_APB_OK: u32 = 1;
/// A soft violation: granted and recorded.
pub const EDGEID_APB_SOFT_VIOLATION: u32 = 2;
/// A hard violation: denied.
pub const EDGEID_APB_DENIED: u32 = 3;

/// What the readers collected. Zero means "not presented" (NULL pointers) or "default" in every
/// field, so `edgeid_presented p = { .size = sizeof(edgeid_presented) };` presents nothing.
/// Strings are UTF-8 with lengths. The `*_at` fields say when a factor was presented (Unix
/// seconds; 0 = at the decision's time): factors further apart than the second-factor timeout do
/// not combine. Fields are only ever appended (see ABI rules).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct edgeid_presented {
    /// Must be `sizeof(edgeid_presented)`.
    pub size: u32,
    /// Format of `finger` (`edgeid_finger_format`; `EDGEID_FINGER_FORMAT_DETECT` for ISO/ANSI).
    pub finger_format: u32,
    /// Second-factor timeout in milliseconds (0 = 10 s).
    pub second_factor_timeout_ms: u32,
    /// Padding (must be 0).
    pub reserved: u32,
    /// Face threshold, cosine (0 = the default, 0.30).
    pub face_threshold: f64,
    /// Fingerprint threshold (0 = the built-in calibration's at FMR 1e-4).
    pub finger_threshold: f64,
    /// A face embedding of the store's dimension (NULL: none).
    pub face: *const f32,
    /// Floats at `face`.
    pub face_len: usize,
    /// A fingerprint minutiae record (NULL: none).
    pub finger: *const u8,
    /// Bytes at `finger`.
    pub finger_len: usize,
    /// A card: "csn:HEX", "wiegand26:FACILITY:NUMBER" or "wiegand34:FACILITY:NUMBER" (NULL: none).
    pub card: *const c_char,
    /// Bytes at `card`.
    pub card_len: usize,
    /// An access code, 4..=12 digits (NULL: none).
    pub code: *const c_char,
    /// Bytes at `code`.
    pub code_len: usize,
    /// A licence plate (NULL: none).
    pub plate: *const c_char,
    /// Bytes at `plate`.
    pub plate_len: usize,
    /// A typed user id (NULL: none).
    pub user_id: *const c_char,
    /// Bytes at `user_id`.
    pub user_id_len: usize,
    /// The punch chosen on the terminal ("check_in", "check_out", "break_out", "break_in",
    /// "overtime_in", "overtime_out"; NULL: the door's).
    pub punch: *const c_char,
    /// Bytes at `punch`.
    pub punch_len: usize,
    /// When the face was presented.
    pub face_at: i64,
    /// When the fingerprint was presented.
    pub finger_at: i64,
    /// When the card was presented.
    pub card_at: i64,
    /// When the code was entered.
    pub code_at: i64,
    /// When the plate was read.
    pub plate_at: i64,
    /// When the user id was typed.
    pub user_id_at: i64,
}

/// A decision. Strings are UTF-8, NUL-terminated (lengths for the user id). This struct's layout
/// never changes within a major version.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct edgeid_decision {
    /// Open the door.
    pub granted: bool,
    /// A duress code was used: raise the alarm (whatever the outcome).
    pub duress: bool,
    /// The punch is a duplicate within the door's window.
    pub duplicate_punch: bool,
    /// `EDGEID_REASON_*` (`EDGEID_REASON_NONE` when granted).
    pub reason: u32,
    /// `EDGEID_FACTOR_*` bits of the factors that matched the user.
    pub factors: u32,
    /// `EDGEID_APB_*`.
    pub anti_passback: u32,
    /// When the decision was made (Unix seconds).
    pub at: i64,
    /// Face score (NaN when no face was compared) and its threshold.
    pub face_score: f32,
    /// Threshold the face score was compared with.
    pub face_threshold: f32,
    /// Fingerprint score (NaN when none was compared).
    pub finger_score: f32,
    /// Threshold the fingerprint score was compared with.
    pub finger_threshold: f32,
    /// Length of `user_id` (0: no user known).
    pub user_id_len: usize,
    /// The user, once known.
    pub user_id: [c_char; EDGEID_ID_BUF],
    /// The reason's stable code ("" when granted), e.g. "outside_schedule".
    pub reason_code: [c_char; EDGEID_CODE_BUF],
    /// The mode that was satisfied ("" when denied).
    pub mode: [c_char; EDGEID_MODE_BUF],
    /// The punch recorded ("" for none).
    pub punch: [c_char; EDGEID_CODE_BUF],
}

fn reason_number(r: Option<Reason>) -> u32 {
    match r {
        None => EDGEID_REASON_NONE,
        Some(r) => {
            engine::access::REASONS
                .iter()
                .position(|x| *x == r)
                .expect("every reason is listed") as u32
                + 1
        }
    }
}

fn factor_bit(f: Factor) -> u32 {
    match f {
        Factor::Face => EDGEID_FACTOR_FACE,
        Factor::Finger => EDGEID_FACTOR_FINGER,
        Factor::Card => EDGEID_FACTOR_CARD,
        Factor::Code => EDGEID_FACTOR_CODE,
        Factor::Plate => EDGEID_FACTOR_PLATE,
        Factor::Id => EDGEID_FACTOR_ID,
    }
}

impl From<&Decision> for edgeid_decision {
    fn from(d: &Decision) -> edgeid_decision {
        let score = |f: Factor| {
            d.scores
                .iter()
                .find(|s| s.factor == f)
                .map_or((f32::NAN, f32::NAN), |s| (s.score, s.threshold))
        };
        let (face_score, face_threshold) = score(Factor::Face);
        let (finger_score, finger_threshold) = score(Factor::Finger);
        let user = d.user.as_deref().unwrap_or("");
        edgeid_decision {
            granted: d.granted,
            duress: d.duress,
            duplicate_punch: d.duplicate_punch,
            reason: reason_number(d.reason),
            factors: d.factors.iter().map(factor_bit).sum(),
            anti_passback: match d.anti_passback {
                None => EDGEID_APB_NONE,
                Some(Passback::Ok) => EDGEID_APB_OK,
                Some(Passback::SoftViolation) => EDGEID_APB_SOFT_VIOLATION,
                Some(Passback::Denied) => EDGEID_APB_DENIED,
            },
            at: d.at,
            face_score,
            face_threshold,
            finger_score,
            finger_threshold,
            user_id_len: user.len(),
            user_id: fill(user),
            reason_code: fill(d.reason.map_or("", |r| r.code())),
            mode: fill(d.mode.as_deref().unwrap_or("")),
            punch: fill(d.punch.as_deref().unwrap_or("")),
        }
    }
}

fn shown<T>(value: T, at: i64, what: &str) -> FfiResult<Option<Shown<T>>> {
    Ok(Some(Shown {
        value,
        at: instant(what, at)?,
    }))
}

fn instant(what: &str, secs: i64) -> FfiResult<Option<SystemTime>> {
    if secs == 0 {
        return Ok(None);
    }
    let d = Duration::from_secs(secs.unsigned_abs());
    let t = if secs > 0 {
        SystemTime::UNIX_EPOCH.checked_add(d)
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(d)
    };
    t.map(Some)
        .ok_or_else(|| Failure::new(EDGEID_ERR_INVALID, format!("{what} {secs} is out of range")))
}

/// An optional string field: NULL is absent.
///
/// # Safety
/// A non-NULL `ptr` must point to `len` readable bytes.
unsafe fn opt_str(what: &str, ptr: *const c_char, len: usize) -> FfiResult<Option<String>> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded contract.
    Ok(Some(unsafe { args::str_arg(what, ptr, len) }?.to_string()))
}

/// Reads what was presented.
///
/// # Safety
/// `p` must satisfy the contract of `edgeid_decide`'s `presented`.
unsafe fn read_presented(p: *const edgeid_presented) -> FfiResult<Presented> {
    // SAFETY: forwarded contract (the size field is read first).
    unsafe {
        args::versioned_size("presented", p, "presented->size", "edgeid_presented", &[])?;
    }
    // SAFETY: the size is this version's, so the whole struct is readable.
    let p = unsafe { args::object("presented", p) }?;
    if p.reserved != 0 {
        return Err(Failure::new(
            EDGEID_ERR_INVALID,
            "presented->reserved must be 0",
        ));
    }
    let mut out = Presented::new();
    let mut o = DecideOptions::default();
    if p.face_threshold != 0.0 {
        o.face_threshold = p.face_threshold;
    }
    if p.finger_threshold != 0.0 {
        o.finger_threshold = p.finger_threshold as f32;
    }
    if p.second_factor_timeout_ms != 0 {
        o.second_factor_timeout = Duration::from_millis(u64::from(p.second_factor_timeout_ms));
    }
    out.options = o;
    if !p.face.is_null() {
        // SAFETY: header contract of the pointer fields of `presented`.
        let v = unsafe { args::slice("presented->face", p.face, p.face_len) }?.to_vec();
        out.face = shown(v, p.face_at, "presented->face_at")?;
    }
    if !p.finger.is_null() {
        // SAFETY: header contract of the pointer fields of `presented`.
        let (t, _) = unsafe {
            crate::finger::finger_probe(
                "presented->finger",
                p.finger,
                p.finger_len,
                p.finger_format,
                -1,
            )
        }?;
        out.finger = shown(t, p.finger_at, "presented->finger_at")?;
    }
    // SAFETY: header contract of the pointer fields of `presented`.
    if let Some(c) = unsafe { opt_str("presented->card", p.card, p.card_len) }? {
        out.card = shown(c, p.card_at, "presented->card_at")?;
    }
    // SAFETY: header contract of the pointer fields of `presented`.
    if let Some(c) = unsafe { opt_str("presented->code", p.code, p.code_len) }? {
        out.code = shown(c, p.code_at, "presented->code_at")?;
    }
    // SAFETY: header contract of the pointer fields of `presented`.
    if let Some(c) = unsafe { opt_str("presented->plate", p.plate, p.plate_len) }? {
        out.plate = shown(c, p.plate_at, "presented->plate_at")?;
    }
    // SAFETY: header contract of the pointer fields of `presented`.
    if let Some(c) = unsafe { opt_str("presented->user_id", p.user_id, p.user_id_len) }? {
        out.id = shown(c, p.user_id_at, "presented->user_id_at")?;
    }
    // SAFETY: header contract of the pointer fields of `presented`.
    out.punch = unsafe { opt_str("presented->punch", p.punch, p.punch_len) }?;
    Ok(out)
}

/// May the person who presented `*presented` pass `door_id` of `location_id`? `at`: when (Unix
/// seconds; 0 = now, from the system clock). The checks, their order and the reasons are those of
/// the library (`docs`: the `access` module): unknown door, credential, enabled, validity, right,
/// schedule (in its IANA zone, with holidays), mode, anti-passback. `*decision_out` receives the
/// answer; a denial is `EDGEID_OK` with `granted` false and a reason. Anti-passback and punch
/// state is durable before the call returns.
/// Errors: `EDGEID_ERR_INVALID` for nothing presented or a malformed card, code, plate, id,
/// punch or fingerprint record, a face of the wrong dimension,
/// `EDGEID_ERR_SIZE` for a wrong `presented->size`, `EDGEID_ERR_READ_ONLY` on a read-only store;
/// `*decision_out` is then all zero (not granted).
/// Thread safety: any thread, concurrently with every other call on the store; decisions at
/// doors with anti-passback or punches are serialised among themselves.
///
/// # Safety
/// `location_id` and `door_id` must point to their lengths in readable bytes; `presented` to a
/// readable `edgeid_presented` whose non-NULL pointers point to their lengths in readable
/// elements; `decision_out` to a writable `edgeid_decision`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_decide(
    store: *mut edgeid_store,
    location_id: *const c_char,
    location_id_len: usize,
    door_id: *const c_char,
    door_id_len: usize,
    at: i64,
    presented: *const edgeid_presented,
    decision_out: *mut edgeid_decision,
) -> edgeid_status {
    handle::with_store("edgeid_decide", store, |s| {
        // SAFETY: header contract of `decision_out`; all zero: not granted, no reason.
        unsafe {
            args::write_out(
                "decision_out",
                decision_out,
                std::mem::zeroed::<edgeid_decision>(),
            )?;
        }
        // SAFETY: header contract of the ids and `presented`.
        let (location, door, p) = unsafe {
            (
                args::id_arg("location_id", location_id, location_id_len)?,
                args::id_arg("door_id", door_id, door_id_len)?,
                read_presented(presented)?,
            )
        };
        let d = s.decide(location, door, instant("at", at)?, &p)?;
        // SAFETY: as above.
        unsafe { args::write_out("decision_out", decision_out, (&d).into()) }
    })
}
