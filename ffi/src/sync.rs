//! Synchronisation: applying the platform's deltas, the sync state and digest per location, and
//! the types of the lookups in [`crate::lookup`] (`edgeid_user_ref`, `EDGEID_NO_FACILITY`).

use crate::args::{self, fill};
use crate::face::EDGEID_ID_BUF;
use crate::handle::{self, edgeid_store};
use crate::status::edgeid_status::{self, *};
use crate::status::{Failure, FfiResult};
use engine::sync::{LocationStatus, Outcome, Progress, Refusal, UserRef};
use engine::{Error, Store};
use std::ffi::{c_char, c_int, c_void};
use std::ops::ControlFlow;

/// Size of a digest buffer: 64 lowercase hex digits (SHA-256) plus a NUL.
pub const EDGEID_DIGEST_BUF: usize = 65;
/// `edgeid_lookup_card`'s `facility` for card formats without a facility code (`csn`).
pub const EDGEID_NO_FACILITY: i64 = -1;

#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<edgeid_apply_result>() == 112);
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<edgeid_location_status>() == 176);
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<edgeid_user_ref>() == 152);

/// What `edgeid_apply_delta` did with a delta (`edgeid_apply_result.outcome`). Values are stable;
/// new ones may be appended.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum edgeid_apply_outcome {
    /// No outcome: the call failed before deciding (see its status), e.g. an I/O error.
    EDGEID_OUTCOME_NONE = 0,
    /// Applied: the delta's changes are committed and durable.
    EDGEID_OUTCOME_APPLIED = 1,
    /// This exact delta had been applied before; nothing changed. A success: re-sending a delta
    /// is harmless.
    EDGEID_OUTCOME_ALREADY_APPLIED = 2,
    /// Refused (the call returned `EDGEID_ERR_REFUSED`); nothing of the delta was applied.
    EDGEID_OUTCOME_REFUSED = 3,
}

/// Why a delta was refused (`edgeid_apply_result.refusal`). Values are stable; new ones may be
/// appended, so handle `default:`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum edgeid_refusal {
    /// Not refused.
    EDGEID_REFUSAL_NONE = 0,
    /// Not JSON.
    EDGEID_REFUSAL_PARSE = 1,
    /// A `format` this library does not read.
    EDGEID_REFUSAL_VERSION = 2,
    /// A field is wrong; the message names it, e.g.
    /// `changes[1].user.faces[0].embedding: expected 512 floats, got 511`.
    EDGEID_REFUSAL_INVALID = 3,
    /// The sequence skips deltas: the platform must send a full synchronisation.
    EDGEID_REFUSAL_GAP = 4,
    /// A sequence already applied, re-sent with different content.
    EDGEID_REFUSAL_CONFLICT = 5,
    /// A sequence older than the deltas this store remembers: send a full synchronisation.
    EDGEID_REFUSAL_STALE = 6,
    /// A reason this version of the C API does not classify; the message tells what it is.
    EDGEID_REFUSAL_OTHER = 7,
    /// Larger than this store accepts (`max_delta_bytes`); refused before it was parsed. The
    /// platform sends the location's users in several deltas.
    EDGEID_REFUSAL_TOO_LARGE = 8,
    /// The signature is missing (the location requires signed deltas, or the delta replaces the
    /// signing keys), malformed, made with a key not trusted for the delta's location, or does
    /// not match the delta's bytes (see `edgeid_apply_delta_signed`).
    EDGEID_REFUSAL_SIGNATURE = 9,
}

/// The stage an apply has reached, passed to an `edgeid_progress_fn`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum edgeid_progress_stage {
    /// Parsing and validating: `done` of `total` changes checked (reported at the start, every
    /// 256 changes, and at the end with `done == total`).
    EDGEID_PROGRESS_VALIDATING = 1,
    /// The delta is valid and its sequence is next: committing (once; `done == total ==` the
    /// number of changes).
    EDGEID_PROGRESS_COMMITTING = 2,
}

/// Progress callback of `edgeid_apply_delta`: `user_data` is the pointer given to it, unchanged.
/// Called on the thread that called `edgeid_apply_delta`, before it returns; see there for what
/// the callback may and may not do.
#[allow(non_camel_case_types)]
pub type edgeid_progress_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        stage: edgeid_progress_stage,
        done: usize,
        total: usize,
    ),
>;

/// Progress callback of `edgeid_apply_delta_cancellable`: as `edgeid_progress_fn`, and its return
/// value decides: 0 goes on, any other value cancels the apply (`EDGEID_ERR_CANCELLED`, nothing of
/// the delta applied). See `edgeid_apply_delta_cancellable` for when a cancel takes effect.
#[allow(non_camel_case_types)]
pub type edgeid_progress_cancel_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        stage: edgeid_progress_stage,
        done: usize,
        total: usize,
    ) -> c_int,
>;

/// Result of `edgeid_apply_delta`. Set `size = sizeof(edgeid_apply_result)` before the call (lets
/// later versions add fields at the end); the library fills in everything else.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct edgeid_apply_result {
    /// Must be `sizeof(edgeid_apply_result)` on input; left unchanged.
    pub size: u32,
    /// What happened.
    pub outcome: edgeid_apply_outcome,
    /// Why it was refused (`EDGEID_REFUSAL_NONE` unless `outcome` is `EDGEID_OUTCOME_REFUSED`).
    pub refusal: edgeid_refusal,
    /// The delta's sequence number (applied: the location's sequence now). 0 when refused for a
    /// reason that is not about the sequence (parse, version, invalid).
    pub sequence: u64,
    /// Number of changes applied (0 unless `outcome` is `EDGEID_OUTCOME_APPLIED`).
    pub changes: u64,
    /// Length of `location_id` in bytes (0 when refused for a parse, version or invalid reason).
    pub location_id_len: usize,
    /// The delta's location, UTF-8, NUL-terminated.
    pub location_id: [c_char; EDGEID_ID_BUF],
}

/// Sync state of one location (`edgeid_sync_status`). This struct's layout never changes within
/// a major version.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct edgeid_location_status {
    /// Sequence number of the last delta applied.
    pub sequence: u64,
    /// Users.
    pub users: u64,
    /// Face templates in the face index at this location.
    pub faces: u64,
    /// Fingerprint templates.
    pub fingers: u64,
    /// Length of `location_id` in bytes.
    pub location_id_len: usize,
    /// The location, UTF-8, NUL-terminated.
    pub location_id: [c_char; EDGEID_ID_BUF],
    /// The location's digest: 64 lowercase hex digits and a NUL (as `edgeid_digest`).
    pub digest: [c_char; EDGEID_DIGEST_BUF],
}

/// A user found by a credential: location and user id, UTF-8 with lengths, NUL-terminated. This
/// struct's layout never changes within a major version.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct edgeid_user_ref {
    /// Length of `location_id` in bytes.
    pub location_id_len: usize,
    /// Length of `user_id` in bytes.
    pub user_id_len: usize,
    /// The user's location.
    pub location_id: [c_char; EDGEID_ID_BUF],
    /// The user.
    pub user_id: [c_char; EDGEID_ID_BUF],
}

impl edgeid_user_ref {
    /// No user (what a lookup writes before it looks).
    pub(crate) const EMPTY: edgeid_user_ref = edgeid_user_ref {
        location_id_len: 0,
        user_id_len: 0,
        location_id: [0; EDGEID_ID_BUF],
        user_id: [0; EDGEID_ID_BUF],
    };
}

impl From<&UserRef> for edgeid_user_ref {
    fn from(r: &UserRef) -> edgeid_user_ref {
        edgeid_user_ref {
            location_id_len: r.location.len(),
            user_id_len: r.user.len(),
            location_id: fill(&r.location),
            user_id: fill(&r.user),
        }
    }
}

impl From<&LocationStatus> for edgeid_location_status {
    fn from(l: &LocationStatus) -> edgeid_location_status {
        edgeid_location_status {
            sequence: l.sequence,
            users: l.users as u64,
            faces: l.faces as u64,
            fingers: l.fingers as u64,
            location_id_len: l.location.len(),
            location_id: fill(&l.location),
            digest: fill(&l.digest),
        }
    }
}

fn apply_result(
    size: u32,
    outcome: edgeid_apply_outcome,
    refusal: edgeid_refusal,
    location: &str,
    sequence: u64,
    changes: usize,
) -> edgeid_apply_result {
    edgeid_apply_result {
        size,
        outcome,
        refusal,
        sequence,
        changes: changes as u64,
        location_id_len: location.len(),
        location_id: fill(location),
    }
}

/// The kind of a refusal, and the location and sequence it concerns (if it is about a sequence).
fn refusal_kind(r: &Refusal) -> (edgeid_refusal, &str, u64) {
    use edgeid_refusal::*;
    match r {
        Refusal::Parse(_) => (EDGEID_REFUSAL_PARSE, "", 0),
        Refusal::Version(_) => (EDGEID_REFUSAL_VERSION, "", 0),
        Refusal::Invalid { .. } => (EDGEID_REFUSAL_INVALID, "", 0),
        Refusal::Gap { location, got, .. } => (EDGEID_REFUSAL_GAP, location, *got),
        Refusal::Conflict { location, sequence } => (EDGEID_REFUSAL_CONFLICT, location, *sequence),
        Refusal::Stale {
            location, sequence, ..
        } => (EDGEID_REFUSAL_STALE, location, *sequence),
        Refusal::TooLarge { .. } => (EDGEID_REFUSAL_TOO_LARGE, "", 0),
        Refusal::Signature(_) => (EDGEID_REFUSAL_SIGNATURE, "", 0),
        _ => (EDGEID_REFUSAL_OTHER, "", 0),
    }
}

/// Applies one synchronisation delta (`edgeid.delta/1` JSON, see docs/sync-protocol.md) from a
/// buffer: validates all of it, then commits all of it atomically and durably, or nothing.
///
/// `delta`/`delta_len`: the JSON bytes (UTF-8; not NUL-terminated; only read during the call).
/// `progress` (may be NULL) is called with `user_data` as the apply goes on (see below).
/// `result`: set `result->size = sizeof(edgeid_apply_result)` first (`EDGEID_ERR_SIZE` otherwise).
///
/// Returns and fills in `*result`:
/// - `EDGEID_OK`, outcome `EDGEID_OUTCOME_APPLIED` (durable when this returns; `changes` says how
///   many) or `EDGEID_OUTCOME_ALREADY_APPLIED` (this exact delta was applied before: nothing
///   changed); `location_id` and `sequence` are the delta's.
/// - `EDGEID_ERR_REFUSED`, outcome `EDGEID_OUTCOME_REFUSED`: nothing was applied. `refusal` says
///   why (`EDGEID_REFUSAL_GAP` and `_STALE`: send a full synchronisation; `_CONFLICT`; `_PARSE`,
///   `_VERSION`, `_INVALID`: a bad delta) and `edgeid_last_error_message` what exactly, e.g.
///   "changes[1].user.faces[0].embedding: expected 512 floats, got 511". For gap, conflict and
///   stale, `location_id` and `sequence` are the delta's; otherwise they are empty and 0.
/// - any other error (`EDGEID_ERR_IO`, `EDGEID_ERR_STORAGE_FULL`, `EDGEID_ERR_POISONED`, argument
///   errors, ...): outcome `EDGEID_OUTCOME_NONE`. A NULL or closed store, or a NULL or wrong-size
///   `result`, leave `*result` untouched: initialise it as
///   `edgeid_apply_result r = { .size = sizeof r };` and its outcome reads `EDGEID_OUTCOME_NONE`
///   after every failure that is not a refusal.
///
/// The progress callback runs on the calling thread, inside this call: first with
/// `EDGEID_PROGRESS_VALIDATING` (`done` of `total` changes checked, from 0 to `total`), then once
/// with `EDGEID_PROGRESS_COMMITTING` when the whole delta is valid and its sequence is the one to
/// apply next (an already applied delta, or a gap, conflict or stale one, gets no committing
/// report); an invalid delta stops the reports where it was found invalid. The callback must return
/// normally (no longjmp out of it, no C++ exception through it), must not call this store's
/// writing functions (put, remove, commit, apply, compact, maintain, erase) and must not close it
/// (`edgeid_close` would wait for this call forever);
/// functions that only read (identify, verify, stats, sync status, digest, lookups) are allowed.
///
/// Thread safety: any thread. Applies, commits and maintenance on one store are serialised;
/// identify, verify, stats, sync status, digest and lookups on other threads run concurrently and
/// see the store before or after the delta, never part of it.
///
/// # Safety
/// `delta` must point to `delta_len` readable bytes; `progress`, if not NULL, must be a function
/// of this type that is safe to call with `user_data`; `result` must point to a writable
/// `edgeid_apply_result` whose `size` field is initialised.
#[no_mangle]
pub unsafe extern "C" fn edgeid_apply_delta(
    store: *mut edgeid_store,
    delta: *const u8,
    delta_len: usize,
    progress: edgeid_progress_fn,
    user_data: *mut c_void,
    result: *mut edgeid_apply_result,
) -> edgeid_status {
    // SAFETY: the header contract of every argument is this function's.
    unsafe {
        apply(
            "edgeid_apply_delta",
            store,
            delta,
            delta_len,
            None,
            progress,
            None,
            user_data,
            result,
        )
    }
}

/// `edgeid_apply_delta` (or `edgeid_apply_delta_signed` when `signature` is given) with a
/// progress callback that may cancel: when `progress` returns non-zero the call returns
/// `EDGEID_ERR_CANCELLED`, outcome `EDGEID_OUTCOME_NONE`, and nothing of the delta was applied
/// (the sequence does not move; send it again later). A cancel during `EDGEID_PROGRESS_VALIDATING`
/// stops the reports at once and takes effect when validation ends; the `EDGEID_PROGRESS_COMMITTING`
/// report is the last chance: after it returns 0 the delta is committed. Everything else (result,
/// other statuses, what the callback may call) is as for `edgeid_apply_delta`.
///
/// Thread safety: as `edgeid_apply_delta`.
///
/// # Safety
/// As `edgeid_apply_delta`; `signature` must point to `signature_len` readable bytes (NULL with
/// length 0: an unsigned delta).
#[no_mangle]
pub unsafe extern "C" fn edgeid_apply_delta_cancellable(
    store: *mut edgeid_store,
    delta: *const u8,
    delta_len: usize,
    signature: *const u8,
    signature_len: usize,
    progress: edgeid_progress_cancel_fn,
    user_data: *mut c_void,
    result: *mut edgeid_apply_result,
) -> edgeid_status {
    let signature =
        (!(signature.is_null() && signature_len == 0)).then_some((signature, signature_len));
    // SAFETY: the header contract of every argument is this function's.
    unsafe {
        apply(
            "edgeid_apply_delta_cancellable",
            store,
            delta,
            delta_len,
            signature,
            None,
            progress,
            user_data,
            result,
        )
    }
}

/// `edgeid_apply_delta` and `edgeid_apply_delta_signed`: `signature` is the envelope's pointer
/// and length, `None` for an unsigned delta.
///
/// # Safety
/// The contracts of `edgeid_apply_delta_signed`'s arguments.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn apply(
    func: &str,
    store: *mut edgeid_store,
    delta: *const u8,
    delta_len: usize,
    signature: Option<(*const u8, usize)>,
    progress: edgeid_progress_fn,
    cancellable: edgeid_progress_cancel_fn,
    user_data: *mut c_void,
    result: *mut edgeid_apply_result,
) -> edgeid_status {
    let run = |s: &Store, report: &mut dyn FnMut(Progress) -> ControlFlow<()>| {
        // SAFETY: header contract of `delta`.
        let bytes = unsafe { args::slice("delta", delta, delta_len) }?;
        let envelope = match signature {
            // SAFETY: header contract of `signature`.
            Some((p, n)) => Some(unsafe { args::slice("signature", p, n) }?),
            None => None,
        };
        Ok(s.apply_delta_cancellable(bytes, envelope, report))
    };
    // SAFETY: the contracts of `store`, `progress`, `cancellable`, `user_data` and `result` are
    // this function's caller's.
    unsafe { apply_with(func, store, progress, cancellable, user_data, result, run) }
}

/// What every apply export shares: checks `result` and writes outcome NONE into it, runs `run`
/// (argument checks, then the apply itself) with a progress reporter that calls `progress` and
/// `cancellable` (either may be NULL) with `user_data`, and writes the outcome or refusal.
///
/// # Safety
/// `progress` and `cancellable`, if not NULL, must be safe to call with `user_data`; `result` must
/// point to a writable `edgeid_apply_result` whose `size` field is initialised.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn apply_with(
    func: &str,
    store: *mut edgeid_store,
    progress: edgeid_progress_fn,
    cancellable: edgeid_progress_cancel_fn,
    user_data: *mut c_void,
    result: *mut edgeid_apply_result,
    run: impl FnOnce(
        &Store,
        &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> FfiResult<engine::Result<Outcome>>,
) -> edgeid_status {
    use edgeid_apply_outcome::*;
    use edgeid_refusal::*;
    handle::with_store(func, store, |s| {
        // SAFETY: header contract of `result`: its size field is readable.
        let size = unsafe {
            args::versioned_size(
                "result",
                result.cast_const(),
                "result->size",
                "edgeid_apply_result",
                &[],
            )
        }?;
        let write = |r: edgeid_apply_result| {
            // SAFETY: header contract of `result`: a writable edgeid_apply_result.
            unsafe { args::write_out("result", result, r) }
        };
        write(apply_result(
            size,
            EDGEID_OUTCOME_NONE,
            EDGEID_REFUSAL_NONE,
            "",
            0,
            0,
        ))?;
        let mut total = 0;
        let mut report = |p: Progress| {
            let (stage, done) = match p {
                Progress::Validating { done, total: t } => {
                    total = t;
                    (edgeid_progress_stage::EDGEID_PROGRESS_VALIDATING, done)
                }
                Progress::Committing => (edgeid_progress_stage::EDGEID_PROGRESS_COMMITTING, total),
            };
            if let Some(f) = progress {
                // SAFETY: header contract of `progress` and `user_data`; the callback returns
                // normally and does not close the store (documented).
                unsafe { f(user_data, stage, done, total) };
            }
            if let Some(f) = cancellable {
                // SAFETY: as above, for the cancelling exports' `progress`.
                if unsafe { f(user_data, stage, done, total) } != 0 {
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        };
        match run(s, &mut report)? {
            Ok(Outcome::Applied {
                location,
                sequence,
                changes,
            }) => write(apply_result(
                size,
                EDGEID_OUTCOME_APPLIED,
                EDGEID_REFUSAL_NONE,
                &location,
                sequence,
                changes,
            )),
            Ok(Outcome::AlreadyApplied { location, sequence }) => write(apply_result(
                size,
                EDGEID_OUTCOME_ALREADY_APPLIED,
                EDGEID_REFUSAL_NONE,
                &location,
                sequence,
                0,
            )),
            Err(Error::Refused(r)) => {
                let (kind, location, sequence) = refusal_kind(&r);
                write(apply_result(
                    size,
                    EDGEID_OUTCOME_REFUSED,
                    kind,
                    location,
                    sequence,
                    0,
                ))?;
                Err(Error::Refused(r).into())
            }
            Err(e) => Err(e.into()),
        }
    })
}

/// The sync state of every location this store has received deltas for, sorted by location id:
/// sequence, number of users, face and fingerprint templates, and digest.
///
/// `statuses`: an array of `cap` entries (may be NULL if `cap` is 0). `*n_statuses` receives the
/// number of locations, also when it is larger than `cap`: then the first `cap` entries are
/// written and the call returns `EDGEID_ERR_SIZE` (call again with an array of `*n_statuses`
/// entries; `edgeid_sync_status(store, NULL, 0, &n)` asks for the number only).
/// Thread safety: any thread, concurrently with every other call on the store (a consistent
/// snapshot: before or after a delta applied meanwhile).
///
/// # Safety
/// `statuses`, if not NULL, must point to `cap` writable `edgeid_location_status`; `n_statuses`
/// to a writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_sync_status(
    store: *mut edgeid_store,
    statuses: *mut edgeid_location_status,
    cap: usize,
    n_statuses: *mut usize,
) -> edgeid_status {
    handle::with_store("edgeid_sync_status", store, |s| {
        // SAFETY: header contract of `n_statuses`.
        unsafe { args::write_out("n_statuses", n_statuses, 0) }?;
        // SAFETY: header contract of `statuses`.
        let out = unsafe { args::out_array_or_empty("statuses", statuses, cap) }?;
        let all = s.sync_status();
        for (o, l) in out.iter_mut().zip(&all) {
            o.write(l.into());
        }
        // SAFETY: as above.
        unsafe { args::write_out("n_statuses", n_statuses, all.len()) }?;
        if all.len() > cap {
            return Err(Failure::new(
                EDGEID_ERR_SIZE,
                format!(
                    "statuses has room for {cap} entries, the store has {} locations",
                    all.len()
                ),
            ));
        }
        Ok(())
    })
}

/// The digest of a location (see docs/sync-protocol.md, "The digest"): equal to the platform's
/// digest of what it sent iff the store holds exactly that. Writes 64 lowercase hex digits and a
/// NUL to `digest_out` (`EDGEID_DIGEST_BUF` bytes). `EDGEID_ERR_NOT_FOUND` if the location has
/// never received a delta (or the id is mistyped); `digest_out` then holds the digest of an empty
/// location (SHA-256 of the empty text, `e3b0c442...`), which is what that location holds and
/// what `edgeid sync digest` prints for it.
/// Thread safety: as `edgeid_sync_status`.
///
/// # Safety
/// `location_id` must point to `location_id_len` readable bytes; `digest_out` to
/// `EDGEID_DIGEST_BUF` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn edgeid_digest(
    store: *mut edgeid_store,
    location_id: *const c_char,
    location_id_len: usize,
    digest_out: *mut c_char,
) -> edgeid_status {
    handle::with_store("edgeid_digest", store, |s| {
        // SAFETY: header contract of `location_id` and `digest_out`.
        let (location, out) = unsafe {
            (
                args::id_arg("location_id", location_id, location_id_len)?,
                args::out_array("digest_out", digest_out, EDGEID_DIGEST_BUF)?,
            )
        };
        let (digest, never) = match s.digest(location) {
            Ok(d) => (d, None),
            Err(e @ Error::NotFound(_)) => (engine::sync::EMPTY_DIGEST.to_string(), Some(e)),
            Err(e) => return Err(e.into()),
        };
        let buf: [c_char; EDGEID_DIGEST_BUF] = fill(&digest);
        for (o, c) in out.iter_mut().zip(buf) {
            o.write(c);
        }
        never.map_or(Ok(()), |e| Err(e.into()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_kinds() {
        use edgeid_refusal::*;
        let gap = Refusal::Gap {
            location: "hq".into(),
            expected: 43,
            got: 44,
        };
        assert_eq!(refusal_kind(&gap), (EDGEID_REFUSAL_GAP, "hq", 44));
        let stale = Refusal::Stale {
            location: "hq".into(),
            sequence: 1,
            last: 20_000,
        };
        assert_eq!(refusal_kind(&stale), (EDGEID_REFUSAL_STALE, "hq", 1));
        let invalid = Refusal::Invalid {
            path: "changes[0]".into(),
            message: "x".into(),
        };
        assert_eq!(refusal_kind(&invalid), (EDGEID_REFUSAL_INVALID, "", 0));
        assert_eq!(
            refusal_kind(&Refusal::Version("v".into())).0,
            EDGEID_REFUSAL_VERSION
        );
        let large = Refusal::TooLarge {
            size: 2 << 20,
            limit: 1 << 20,
        };
        assert_eq!(refusal_kind(&large), (EDGEID_REFUSAL_TOO_LARGE, "", 0));
        let sig = Refusal::Signature("x".into());
        assert_eq!(refusal_kind(&sig), (EDGEID_REFUSAL_SIGNATURE, "", 0));
    }

    #[test]
    fn results_hold_terminated_ids() {
        let r = apply_result(
            112,
            edgeid_apply_outcome::EDGEID_OUTCOME_APPLIED,
            edgeid_refusal::EDGEID_REFUSAL_NONE,
            "hq-amsterdam",
            42,
            4,
        );
        assert_eq!(r.location_id_len, 12);
        assert_eq!(r.location_id[12], 0);
        let u: edgeid_user_ref = (&UserRef {
            location: "hq".into(),
            user: "u-1".into(),
        })
            .into();
        assert_eq!((u.location_id_len, u.user_id_len), (2, 3));
        assert_eq!(
            u.user_id[..4].iter().map(|c| *c as u8).collect::<Vec<_>>(),
            b"u-1\0"
        );
    }
}
