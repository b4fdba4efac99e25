//! Fingerprint templates: comparing two minutiae records, the score calibration (false-match rate
//! ↔ threshold), changes (one at a time or in a batch, mixed with faces), 1:N identification and
//! 1:1 verification against the store's finger index.
//!
//! Records come from C as bytes: ISO/IEC 19794-2:2005 or :2011, ANSI/INCITS 378-2004, or an ISO
//! card format (normal or compact size). They are parsed strictly; a record that cannot be read
//! gives `EDGEID_ERR_INVALID` with the parser's message (the field, the offset, what was expected).

use crate::args::{self, fill};
use crate::face::{commit, ids, with_batch, EDGEID_ID_BUF};
use crate::handle::{self, edgeid_store};
use crate::status::edgeid_status::{self, *};
use crate::status::{guard, Failure, FfiResult};
use engine::finger::calibration::{fmr_for_threshold, threshold_for_fmr};
use engine::finger::compare;
use engine::{Change, FingerHit, FingerIdentify};
use std::ffi::c_char;

mod record;
pub(crate) use record::record as finger_probe;
use record::{check_threshold, f32_at_least, record, record_arg};

/// `position` argument: take the finger position from the record (a record with one finger view),
/// instead of naming one.
pub const EDGEID_FINGER_POSITION_FROM_RECORD: i32 = -1;
/// Highest finger position (ISO/IEC 19794-2 codes: 0 unknown, 1 right thumb … 10 left little).
pub const EDGEID_FINGER_POSITION_MAX: i32 = 10;
/// Lowest false-match rate the built-in calibration covers (`edgeid_finger_threshold_for_fmr`).
pub const EDGEID_FINGER_FMR_MIN: f64 = 1e-6;
/// Highest false-match rate the built-in calibration covers (`edgeid_finger_threshold_for_fmr`).
pub const EDGEID_FINGER_FMR_MAX: f64 = 1e-1;

#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<edgeid_finger_hit>() == 232);

/// The format of a minutiae record passed as a `uint32_t format` argument. Values are stable; new
/// formats may be appended (an unknown value gives `EDGEID_ERR_UNSUPPORTED`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum edgeid_finger_format {
    /// Detect the format from the record's header (ISO 2005, ISO 2011, ANSI 378). The card
    /// formats have no header and must be named.
    EDGEID_FINGER_FORMAT_DETECT = 0,
    /// ISO/IEC 19794-2:2005 finger minutiae record.
    EDGEID_FINGER_FORMAT_ISO2005 = 1,
    /// ANSI/INCITS 378-2004 finger minutiae record.
    EDGEID_FINGER_FORMAT_ANSI378 = 2,
    /// ISO/IEC 19794-2:2011 finger minutiae record.
    EDGEID_FINGER_FORMAT_ISO2011 = 3,
    /// ISO/IEC 19794-2 card format, normal size (5-byte minutiae, no header).
    EDGEID_FINGER_FORMAT_CARD_NORMAL = 4,
    /// ISO/IEC 19794-2 card format, compact size (3-byte minutiae, no header).
    EDGEID_FINGER_FORMAT_CARD_COMPACT = 5,
}

/// One user identified by a fingerprint (or the result of a fingerprint verification). The ids
/// are copied into the struct: `xxx_id_len` bytes of UTF-8, followed by a NUL. This struct's
/// layout never changes within a major version.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct edgeid_finger_hit {
    /// Matcher score of the probe against the user's best fingerprint template, 0..=1 (compare it
    /// with `edgeid_finger_threshold_for_fmr`'s threshold).
    pub score: f64,
    /// Length of `location_id` in bytes.
    pub location_id_len: usize,
    /// Length of `user_id` in bytes.
    pub user_id_len: usize,
    /// Length of `template_id` in bytes.
    pub template_id_len: usize,
    /// Finger position of that template (0 unknown, 1 right thumb … 10 left little).
    pub position: u32,
    /// Location the user belongs to.
    pub location_id: [c_char; EDGEID_ID_BUF],
    /// The user.
    pub user_id: [c_char; EDGEID_ID_BUF],
    /// The user's fingerprint template that scored best.
    pub template_id: [c_char; EDGEID_ID_BUF],
}

impl From<&FingerHit> for edgeid_finger_hit {
    fn from(h: &FingerHit) -> edgeid_finger_hit {
        edgeid_finger_hit {
            score: f64::from(h.score),
            location_id_len: h.location.len(),
            user_id_len: h.user.len(),
            template_id_len: h.template.len(),
            position: u32::from(h.position),
            location_id: fill(&h.location),
            user_id: fill(&h.user),
            template_id: fill(&h.template),
        }
    }
}

/// Compares two fingerprint minutiae records (1:1, no store): `*score_out` receives the matcher
/// score, 0..=1 (higher: more similar; compare it with `edgeid_finger_threshold_for_fmr`).
///
/// `a`/`a_len` and `b`/`b_len`: the two records. `a_format` and `b_format`: an
/// `edgeid_finger_format` each (`EDGEID_FINGER_FORMAT_DETECT` for ISO and ANSI records; card
/// formats must be named), so a live scan can be compared with a card template. `a_position` and
/// `b_position`: which finger view of a record with several to compare (required then);
/// `EDGEID_FINGER_POSITION_FROM_RECORD` (-1) for a record with one view. A record that cannot be
/// read (truncated, a field out of range, a card format not named, several views and no position)
/// gives `EDGEID_ERR_INVALID` and the message says which record and what is wrong; an unknown
/// format number `EDGEID_ERR_UNSUPPORTED`. `*score_out` is set to 0 first.
/// Thread safety: any thread, any number at once.
///
/// # Safety
/// `a` must point to `a_len` readable bytes, `b` to `b_len`; `score_out` to a writable `double`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_finger_compare(
    a: *const u8,
    a_len: usize,
    a_format: u32,
    a_position: i32,
    b: *const u8,
    b_len: usize,
    b_format: u32,
    b_position: i32,
    score_out: *mut f64,
) -> edgeid_status {
    guard("edgeid_finger_compare", || {
        // SAFETY: header contract of `score_out`.
        unsafe { args::write_out("score_out", score_out, 0.0) }?;
        // SAFETY: header contract of `a` and `b`.
        let (ta, tb) = unsafe {
            (
                record("record a", a, a_len, a_format, a_position)?,
                record("record b", b, b_len, b_format, b_position)?,
            )
        };
        let score = compare(&ta.0.as_ref(), &tb.0.as_ref());
        // SAFETY: as above.
        unsafe { args::write_out("score_out", score_out, f64::from(score)) }
    })
}

/// The score threshold for a false-match rate, from the built-in calibration: accept a comparison
/// (or a hit) when its score is at least `*threshold_out`. E.g. `fmr = 1e-4` ("1 in 10,000").
/// `fmr` must lie in `EDGEID_FINGER_FMR_MIN..=EDGEID_FINGER_FMR_MAX` (1e-6..=1e-1), the range the
/// calibration covers (`EDGEID_ERR_INVALID` otherwise, also for NaN). The calibration rests on
/// impostor scores of public test data: 1e-4 is weakly supported by data, 1e-5 and 1e-6 are
/// extrapolated; measure on your own sensor where it matters.
/// Thread safety: any thread.
///
/// # Safety
/// `threshold_out` must point to a writable `double`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_finger_threshold_for_fmr(
    fmr: f64,
    threshold_out: *mut f64,
) -> edgeid_status {
    guard("edgeid_finger_threshold_for_fmr", || {
        args::check_out("threshold_out", threshold_out)?;
        if !(EDGEID_FINGER_FMR_MIN..=EDGEID_FINGER_FMR_MAX).contains(&fmr) {
            return Err(Failure::new(
                EDGEID_ERR_INVALID,
                format!(
                    "fmr must be {EDGEID_FINGER_FMR_MIN:e}..={EDGEID_FINGER_FMR_MAX:e} (the \
                     calibrated range), got {fmr:e}"
                ),
            ));
        }
        let t = f64::from(threshold_for_fmr(fmr));
        // SAFETY: header contract of `threshold_out`.
        unsafe { args::write_out("threshold_out", threshold_out, t) }
    })
}

/// The estimated false-match rate of a score used as threshold, from the built-in calibration
/// (for logs and audit trails: "accepted at FMR 3e-5"). Scores below the calibrated range give
/// `EDGEID_FINGER_FMR_MAX`, above it `EDGEID_FINGER_FMR_MIN`. `score` must be finite
/// (`EDGEID_ERR_INVALID` otherwise).
/// Thread safety: any thread.
///
/// # Safety
/// `fmr_out` must point to a writable `double`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_finger_fmr_for_score(
    score: f64,
    fmr_out: *mut f64,
) -> edgeid_status {
    guard("edgeid_finger_fmr_for_score", || {
        args::check_out("fmr_out", fmr_out)?;
        if !score.is_finite() {
            return Err(Failure::new(
                EDGEID_ERR_INVALID,
                format!("score must be a finite number, got {score}"),
            ));
        }
        let fmr = fmr_for_threshold(f32_at_least(score));
        // SAFETY: header contract of `fmr_out`.
        unsafe { args::write_out("fmr_out", fmr_out, fmr) }
    })
}

/// Enrols one fingerprint template from a minutiae record and commits it (durable when this
/// returns). A template with the same three ids is replaced.
///
/// The ids are UTF-8, 1..=64 bytes, no control characters, not NUL-terminated. `record`/
/// `record_len`: the record, `format` an `edgeid_finger_format`. `position`: for a record with
/// several finger views, the finger position (1..=10, or 0) of the view to enrol (required then);
/// for the card formats, which carry no position, the position to record; for a record with one
/// view, ignored: its own position is recorded. `EDGEID_FINGER_POSITION_FROM_RECORD` (-1) names
/// none. A record that cannot be read, or does not say which view to enrol, gives
/// `EDGEID_ERR_INVALID` (nothing changed). `*seq_out` (may be NULL) receives the commit's sequence
/// number.
/// Thread safety: as `edgeid_face_put`.
///
/// # Safety
/// Each id pointer must point to its length in readable bytes, `record` to `record_len` bytes;
/// `seq_out`, if not NULL, to writable memory for one `uint64_t`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_finger_put(
    store: *mut edgeid_store,
    location_id: *const c_char,
    location_id_len: usize,
    user_id: *const c_char,
    user_id_len: usize,
    template_id: *const c_char,
    template_id_len: usize,
    record: *const u8,
    record_len: usize,
    format: u32,
    position: i32,
    seq_out: *mut u64,
) -> edgeid_status {
    handle::with_store("edgeid_finger_put", store, |s| {
        // SAFETY: header contract of the id pointers and `record`.
        let change = unsafe {
            put_change(
                (location_id, location_id_len),
                (user_id, user_id_len),
                (template_id, template_id_len),
                (record, record_len),
                format,
                position,
            )
        }?;
        commit(s, &[change], seq_out)
    })
}

/// Reads the arguments of a fingerprint put and makes the change.
///
/// # Safety
/// Each non-NULL pointer must cover its length.
unsafe fn put_change(
    location: (*const c_char, usize),
    user: (*const c_char, usize),
    template: (*const c_char, usize),
    (rec, rec_len): (*const u8, usize),
    format: u32,
    position: i32,
) -> FfiResult<Change> {
    // The record is parsed here too (not prepared: the store does that on commit), so a bad one is
    // refused with this call's message, and a batch refuses it when it is added.
    // SAFETY: forwarded contract.
    let (ids, r) = unsafe {
        (
            ids(location, user, Some(template))?,
            record_arg("record", rec, rec_len, format, position)?,
        )
    };
    Ok(Change::PutFinger {
        location: ids.location,
        user: ids.user,
        template: ids.template.expect("asked for"),
        record: r.data.to_vec(),
        format: r.format,
        position: Some(r.view.1),
    })
}

/// Reads the ids of a fingerprint removal and makes the change.
///
/// # Safety
/// Each non-NULL pointer must cover its length.
unsafe fn remove_change(
    location: (*const c_char, usize),
    user: (*const c_char, usize),
    template: (*const c_char, usize),
) -> FfiResult<Change> {
    // SAFETY: forwarded contract.
    let ids = unsafe { ids(location, user, Some(template)) }?;
    Ok(Change::RemoveFinger {
        location: ids.location,
        user: ids.user,
        template: ids.template.expect("asked for"),
    })
}

/// Reads the ids of a removal of a user's fingerprints and makes the change.
///
/// # Safety
/// Each non-NULL pointer must cover its length.
unsafe fn remove_user_change(
    location: (*const c_char, usize),
    user: (*const c_char, usize),
) -> FfiResult<Change> {
    // SAFETY: forwarded contract.
    let ids = unsafe { ids(location, user, None) }?;
    Ok(Change::RemoveUserFingers {
        location: ids.location,
        user: ids.user,
    })
}

/// Removes one fingerprint template and commits (`EDGEID_ERR_NOT_FOUND` if it does not exist).
/// The user's face templates stay.
/// Deleted templates are erased from the flash by `edgeid_maintain` within 10 minutes, or at once
/// by `edgeid_erase_deleted`. `*seq_out` (may be NULL) receives the commit's sequence number.
/// Thread safety: as `edgeid_face_put`.
///
/// # Safety
/// Each id pointer must point to its length in readable bytes; `seq_out`, if not NULL, to writable
/// memory for one `uint64_t`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_finger_remove(
    store: *mut edgeid_store,
    location_id: *const c_char,
    location_id_len: usize,
    user_id: *const c_char,
    user_id_len: usize,
    template_id: *const c_char,
    template_id_len: usize,
    seq_out: *mut u64,
) -> edgeid_status {
    handle::with_store("edgeid_finger_remove", store, |s| {
        // SAFETY: header contract of the id pointers.
        let change = unsafe {
            remove_change(
                (location_id, location_id_len),
                (user_id, user_id_len),
                (template_id, template_id_len),
            )
        }?;
        commit(s, &[change], seq_out)
    })
}

/// Removes every fingerprint template of a user at a location and commits
/// (`EDGEID_ERR_NOT_FOUND` if the user has none); the user's face templates stay.
/// `*seq_out` (may be NULL) receives the commit's sequence number. Thread safety: as
/// `edgeid_face_put`.
///
/// # Safety
/// Each id pointer must point to its length in readable bytes; `seq_out`, if not NULL, to writable
/// memory for one `uint64_t`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_finger_remove_user(
    store: *mut edgeid_store,
    location_id: *const c_char,
    location_id_len: usize,
    user_id: *const c_char,
    user_id_len: usize,
    seq_out: *mut u64,
) -> edgeid_status {
    handle::with_store("edgeid_finger_remove_user", store, |s| {
        // SAFETY: header contract of the id pointers.
        let change =
            unsafe { remove_user_change((location_id, location_id_len), (user_id, user_id_len)) }?;
        commit(s, &[change], seq_out)
    })
}

/// Adds "remove every fingerprint template of this user" to a batch (the commit fails with
/// `EDGEID_ERR_NOT_FOUND` if the user has none then); faces stay. Thread safety: see
/// `edgeid_batch_new`.
///
/// # Safety
/// `batch` must be NULL or a live batch; each id pointer must point to its length in readable bytes.
#[no_mangle]
pub unsafe extern "C" fn edgeid_batch_finger_remove_user(
    batch: *mut crate::face::edgeid_batch,
    location_id: *const c_char,
    location_id_len: usize,
    user_id: *const c_char,
    user_id_len: usize,
) -> edgeid_status {
    with_batch("edgeid_batch_finger_remove_user", batch, |b| {
        // SAFETY: header contract of the id pointers.
        let change =
            unsafe { remove_user_change((location_id, location_id_len), (user_id, user_id_len)) }?;
        b.push(change)?;
        Ok(())
    })
}

/// Adds "put this fingerprint template" to a batch, so faces and fingerprints can be committed
/// together by `edgeid_commit`. The ids and the record are checked and the record prepared now,
/// as `edgeid_finger_put` does (the batch is unchanged if they are refused).
/// Thread safety: see `edgeid_batch_new`.
///
/// # Safety
/// `batch` must be NULL or a live batch from `edgeid_batch_new`; each id pointer must point to its
/// length in readable bytes, `record` to `record_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn edgeid_batch_finger_put(
    batch: *mut crate::face::edgeid_batch,
    location_id: *const c_char,
    location_id_len: usize,
    user_id: *const c_char,
    user_id_len: usize,
    template_id: *const c_char,
    template_id_len: usize,
    record: *const u8,
    record_len: usize,
    format: u32,
    position: i32,
) -> edgeid_status {
    with_batch("edgeid_batch_finger_put", batch, |b| {
        // SAFETY: header contract of the id pointers and `record`.
        let change = unsafe {
            put_change(
                (location_id, location_id_len),
                (user_id, user_id_len),
                (template_id, template_id_len),
                (record, record_len),
                format,
                position,
            )
        }?;
        b.push(change)?;
        Ok(())
    })
}

/// Adds "remove this fingerprint template" to a batch (the commit fails with
/// `EDGEID_ERR_NOT_FOUND` if it does not exist then). Thread safety: see `edgeid_batch_new`.
///
/// # Safety
/// `batch` must be NULL or a live batch; each id pointer must point to its length in readable bytes.
#[no_mangle]
pub unsafe extern "C" fn edgeid_batch_finger_remove(
    batch: *mut crate::face::edgeid_batch,
    location_id: *const c_char,
    location_id_len: usize,
    user_id: *const c_char,
    user_id_len: usize,
    template_id: *const c_char,
    template_id_len: usize,
) -> edgeid_status {
    with_batch("edgeid_batch_finger_remove", batch, |b| {
        // SAFETY: header contract of the id pointers.
        let change = unsafe {
            remove_change(
                (location_id, location_id_len),
                (user_id, user_id_len),
                (template_id, template_id_len),
            )
        }?;
        b.push(change)?;
        Ok(())
    })
}

/// Fingerprint 1:N identification: the up to `k` users whose best fingerprint template scores
/// highest against the probe record, best first, each at most once.
///
/// `record`/`record_len`, `format`, `position`: the probe, as for `edgeid_finger_put` (`position`
/// selects the view of a record with several; -1 for a record with one). `location_id`: NULL for
/// every location, or only users of this location. `threshold`: only users scoring at least this
/// (0..=1, e.g. from `edgeid_finger_threshold_for_fmr`; `EDGEID_ANY_SCORE` for all; must be
/// finite). `hits`: an array of `k >= 1` entries; the first `*n_hits` are written, the rest
/// untouched. The search uses a prefilter that is widened when no candidate scores confidently;
/// its result can differ from scoring every template in rare cases (unlike face identification,
/// which is exact).
/// Thread safety: any number of threads at once, also while another thread commits.
///
/// # Safety
/// `record` must point to `record_len` bytes, `location_id` (if not NULL) to `location_id_len`
/// bytes, `hits` to `k` writable `edgeid_finger_hit`, `n_hits` to a writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_finger_identify(
    store: *mut edgeid_store,
    record: *const u8,
    record_len: usize,
    format: u32,
    position: i32,
    location_id: *const c_char,
    location_id_len: usize,
    threshold: f64,
    hits: *mut edgeid_finger_hit,
    k: usize,
    n_hits: *mut usize,
) -> edgeid_status {
    handle::with_store("edgeid_finger_identify", store, |s| {
        // SAFETY: header contract of `n_hits`.
        unsafe { args::write_out("n_hits", n_hits, 0) }?;
        // SAFETY: header contract of `location_id` and `hits`.
        let (location, out) = unsafe {
            (
                args::location_filter(location_id, location_id_len)?,
                args::out_array("hits", hits, k)?,
            )
        };
        if k == 0 {
            return Err(Failure::new(EDGEID_ERR_INVALID, "k must be at least 1"));
        }
        check_threshold(threshold)?;
        // SAFETY: header contract of `record`.
        let (probe, _) = unsafe { self::record("record", record, record_len, format, position) }?;
        let mut req = FingerIdentify::new(probe.as_ref())
            .k(k)
            .threshold(f32_at_least(threshold));
        if let Some(l) = location {
            req = req.location(l);
        }
        let found = s.identify_finger(&req)?;
        for (o, h) in out.iter_mut().zip(&found) {
            o.write(h.into());
        }
        // SAFETY: as above.
        unsafe { args::write_out("n_hits", n_hits, found.len().min(k)) }
    })
}

/// Fingerprint 1:1 verification: how well the probe record matches a user's best fingerprint
/// template at a location. `*hit_out` receives the score, the template and its finger position;
/// compare the score with your threshold (`edgeid_finger_threshold_for_fmr`).
/// `EDGEID_ERR_NOT_FOUND` if the user has no fingerprint template there. `record`, `format` and
/// `position` as for `edgeid_finger_identify`.
/// Thread safety: as `edgeid_finger_identify`.
///
/// # Safety
/// Each id pointer must point to its length in readable bytes, `record` to `record_len` bytes,
/// `hit_out` to a writable `edgeid_finger_hit`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_finger_verify(
    store: *mut edgeid_store,
    location_id: *const c_char,
    location_id_len: usize,
    user_id: *const c_char,
    user_id_len: usize,
    record: *const u8,
    record_len: usize,
    format: u32,
    position: i32,
    hit_out: *mut edgeid_finger_hit,
) -> edgeid_status {
    handle::with_store("edgeid_finger_verify", store, |s| {
        // SAFETY: header contract of the id pointers and `record`.
        let (ids, (probe, _)) = unsafe {
            (
                ids((location_id, location_id_len), (user_id, user_id_len), None)?,
                self::record("record", record, record_len, format, position)?,
            )
        };
        args::check_out("hit_out", hit_out)?;
        let hit = s
            .verify_finger(&ids.location, &ids.user, &probe.as_ref())?
            .ok_or_else(|| {
                Failure::new(
                    EDGEID_ERR_NOT_FOUND,
                    format!(
                        "user {:?} has no fingerprint template at location {:?}",
                        ids.user, ids.location
                    ),
                )
            })?;
        // SAFETY: header contract of `hit_out`.
        unsafe { args::write_out("hit_out", hit_out, (&hit).into()) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::finger::calibration::BUILTIN;

    #[test]
    fn calibrated_range_is_the_builtin_table() {
        assert_eq!(EDGEID_FINGER_FMR_MAX, BUILTIN[0].0);
        assert_eq!(EDGEID_FINGER_FMR_MIN, BUILTIN[BUILTIN.len() - 1].0);
    }
}
