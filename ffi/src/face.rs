//! Face templates: changes (one at a time or in a batch), 1:N identification, 1:1 verification.
//! Batches (`edgeid_batch`) hold fingerprint changes too (see [`crate::finger`]).

use crate::args::{self, fill};
use crate::handle::{self, edgeid_store};
use crate::status::edgeid_status::{self, *};
use crate::status::{boundary, guard, Failure, FfiResult};
use engine::face::normalize;
use engine::{Change, FaceHit, FaceIdentify, Store};
use std::ffi::c_char;

/// Longest location, user or template id in bytes (UTF-8, no control characters, not empty).
pub const EDGEID_ID_MAX_LEN: usize = 64;
/// Size of the id buffers in `edgeid_hit`: the longest id plus a NUL.
pub const EDGEID_ID_BUF: usize = 65;
/// A threshold that accepts every score (face scores are cosine similarities in -1..=1,
/// fingerprint scores lie in 0..=1).
pub const EDGEID_ANY_SCORE: f64 = -1.0;

const _: () = assert!(EDGEID_ID_MAX_LEN == engine::ids::MAX_ID_LEN);
const _: () = assert!(EDGEID_ID_BUF == EDGEID_ID_MAX_LEN + 1);
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<edgeid_hit>() == 232);

/// One identified user (or the result of a verification). The ids are copied into the struct:
/// `xxx_id_len` bytes of UTF-8, followed by a NUL (ids never contain NUL), so they can be used with
/// or without the length. This struct's layout never changes within a major version.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct edgeid_hit {
    /// Cosine similarity of the probe to the user's best template, -1..=1.
    pub score: f64,
    /// Length of `location_id` in bytes.
    pub location_id_len: usize,
    /// Length of `user_id` in bytes.
    pub user_id_len: usize,
    /// Length of `template_id` in bytes.
    pub template_id_len: usize,
    /// Location the user belongs to.
    pub location_id: [c_char; EDGEID_ID_BUF],
    /// The user.
    pub user_id: [c_char; EDGEID_ID_BUF],
    /// The user's template that scored best.
    pub template_id: [c_char; EDGEID_ID_BUF],
}

impl From<&FaceHit> for edgeid_hit {
    fn from(h: &FaceHit) -> edgeid_hit {
        edgeid_hit {
            score: h.score,
            location_id_len: h.location.len(),
            user_id_len: h.user.len(),
            template_id_len: h.template.len(),
            location_id: fill(&h.location),
            user_id: fill(&h.user),
            template_id: fill(&h.template),
        }
    }
}

/// A list of changes to face and fingerprint templates committed together, atomically, by
/// `edgeid_commit`. Opaque: created by `edgeid_batch_new`, released by `edgeid_batch_free`. Not
/// tied to a store.
#[allow(non_camel_case_types)]
pub struct edgeid_batch {
    /// The changes, in the order they were added (faces and fingerprints).
    pub(crate) changes: Vec<Change>,
}

impl edgeid_batch {
    /// Adds a change; a batch that cannot grow is `EDGEID_ERR_OUT_OF_MEMORY` (the batch is as it
    /// was), never an abort.
    pub(crate) fn push(&mut self, change: Change) -> FfiResult<()> {
        engine::error::alloc::reserve(&mut self.changes, 1, "batch")?;
        self.changes.push(change);
        Ok(())
    }
}

/// The three ids of a change, read from C and checked.
pub(crate) struct Ids {
    /// Location id.
    pub(crate) location: String,
    /// User id.
    pub(crate) user: String,
    /// Template id (None for a whole-user change).
    pub(crate) template: Option<String>,
}

/// Reads and checks ids. `template` is None for a whole-user change.
///
/// # Safety
/// Each non-NULL pointer must cover its length (header contract of the calling export).
pub(crate) unsafe fn ids(
    location: (*const c_char, usize),
    user: (*const c_char, usize),
    template: Option<(*const c_char, usize)>,
) -> FfiResult<Ids> {
    let id = |what: &str, (p, n): (*const c_char, usize)| -> FfiResult<String> {
        // SAFETY: forwarded contract.
        Ok(unsafe { args::id_arg(what, p, n) }?.to_string())
    };
    Ok(Ids {
        location: id("location_id", location)?,
        user: id("user_id", user)?,
        template: template.map(|t| id("template_id", t)).transpose()?,
    })
}

/// Reads and checks an embedding (finite, not all zero); the dimension is checked by the caller.
///
/// # Safety
/// A non-NULL `ptr` must point to `dim` floats.
unsafe fn embedding(what: &str, ptr: *const f32, dim: usize) -> FfiResult<Vec<f32>> {
    // SAFETY: forwarded contract.
    let v = unsafe { args::slice(what, ptr, dim) }?;
    normalize(v, v.len()).map_err(|e| Failure::new(EDGEID_ERR_INVALID, format!("{what}: {e}")))?;
    Ok(engine::error::alloc::copy(v, "embedding")?)
}

/// Fails unless `dim` is the store's dimension.
fn check_dim(store: &Store, what: &str, dim: usize) -> FfiResult {
    let want = store.snapshot().dim();
    if dim != want {
        return Err(Failure::new(
            EDGEID_ERR_DIMENSION,
            format!("{what} has {dim} floats, the store's model needs {want}"),
        ));
    }
    Ok(())
}

/// Commits `changes` after checking their dimensions; writes the sequence number.
pub(crate) fn commit(store: &Store, changes: &[Change], seq_out: *mut u64) -> FfiResult {
    for (i, c) in changes.iter().enumerate() {
        if let Change::PutFace { embedding, .. } = c {
            check_dim(store, &format!("change {i}: embedding"), embedding.len())?;
        }
    }
    let seq = store.commit(changes)?.seq;
    // SAFETY: header contract of `seq_out` of the calling export.
    unsafe { args::write_opt("seq_out", seq_out, seq) }
}

/// Reads the arguments of a face put and makes the change. `store`: the store it is committed to
/// now, whose dimension is checked before the embedding is read; None for a batch (`edgeid_commit`
/// checks the dimension).
///
/// # Safety
/// Each non-NULL pointer must cover its length (`embedding`: `dim` floats).
unsafe fn put_change(
    location: (*const c_char, usize),
    user: (*const c_char, usize),
    template: (*const c_char, usize),
    (embedding, dim): (*const f32, usize),
    store: Option<&Store>,
) -> FfiResult<Change> {
    // SAFETY: forwarded contract.
    let ids = unsafe { ids(location, user, Some(template)) }?;
    if let Some(s) = store {
        check_dim(s, "embedding", dim)?;
    }
    // SAFETY: forwarded contract.
    let embedding = unsafe { self::embedding("embedding", embedding, dim) }?;
    Ok(Change::PutFace {
        location: ids.location,
        user: ids.user,
        template: ids.template.expect("asked for"),
        embedding,
    })
}

/// Reads the ids of a face removal and makes the change.
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
    Ok(Change::RemoveFace {
        location: ids.location,
        user: ids.user,
        template: ids.template.expect("asked for"),
    })
}

/// Reads the ids of a removal of a user's faces and makes the change.
///
/// # Safety
/// Each non-NULL pointer must cover its length.
unsafe fn remove_user_change(
    location: (*const c_char, usize),
    user: (*const c_char, usize),
) -> FfiResult<Change> {
    // SAFETY: forwarded contract.
    let ids = unsafe { ids(location, user, None) }?;
    Ok(Change::RemoveUserFaces {
        location: ids.location,
        user: ids.user,
    })
}

/// Adds or replaces one face template and commits it (durable when this returns).
///
/// The ids are UTF-8, 1..=64 bytes, no control characters, not NUL-terminated. `embedding` holds
/// `dim` floats as the model produced them (the store normalises them); `dim` must be the store's
/// dimension (`EDGEID_ERR_DIMENSION`), values finite and not all zero (`EDGEID_ERR_INVALID`). A
/// template with the same three ids is replaced. `*seq_out` (may be NULL) receives the commit's
/// sequence number.
/// Thread safety: any thread, concurrently with identify/verify/stats on other threads (they see
/// the store before or after the commit, never half of it); commits are serialised.
///
/// # Safety
/// Each id pointer must point to its length in readable bytes, `embedding` to `dim` floats;
/// `seq_out`, if not NULL, to writable memory for one `uint64_t`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_face_put(
    store: *mut edgeid_store,
    location_id: *const c_char,
    location_id_len: usize,
    user_id: *const c_char,
    user_id_len: usize,
    template_id: *const c_char,
    template_id_len: usize,
    embedding: *const f32,
    dim: usize,
    seq_out: *mut u64,
) -> edgeid_status {
    handle::with_store("edgeid_face_put", store, |s| {
        // SAFETY: header contract of the id pointers and `embedding`.
        let change = unsafe {
            put_change(
                (location_id, location_id_len),
                (user_id, user_id_len),
                (template_id, template_id_len),
                (embedding, dim),
                Some(s),
            )
        }?;
        commit(s, &[change], seq_out)
    })
}

/// Removes one face template and commits (`EDGEID_ERR_NOT_FOUND` if it does not exist).
/// `*seq_out` (may be NULL) receives the commit's sequence number.
/// Thread safety: as `edgeid_face_put`.
///
/// # Safety
/// Each id pointer must point to its length in readable bytes; `seq_out`, if not NULL, to writable
/// memory for one `uint64_t`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_face_remove(
    store: *mut edgeid_store,
    location_id: *const c_char,
    location_id_len: usize,
    user_id: *const c_char,
    user_id_len: usize,
    template_id: *const c_char,
    template_id_len: usize,
    seq_out: *mut u64,
) -> edgeid_status {
    handle::with_store("edgeid_face_remove", store, |s| {
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

/// Removes every face template of a user at a location and commits (`EDGEID_ERR_NOT_FOUND` if the
/// user has none); the user's fingerprint templates stay (see `edgeid_finger_remove_user`).
/// `*seq_out` (may be NULL) receives the commit's sequence number.
/// Thread safety: as `edgeid_face_put`.
///
/// # Safety
/// Each id pointer must point to its length in readable bytes; `seq_out`, if not NULL, to writable
/// memory for one `uint64_t`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_face_remove_user(
    store: *mut edgeid_store,
    location_id: *const c_char,
    location_id_len: usize,
    user_id: *const c_char,
    user_id_len: usize,
    seq_out: *mut u64,
) -> edgeid_status {
    handle::with_store("edgeid_face_remove_user", store, |s| {
        // SAFETY: header contract of the id pointers.
        let change =
            unsafe { remove_user_change((location_id, location_id_len), (user_id, user_id_len)) }?;
        commit(s, &[change], seq_out)
    })
}

/// A new, empty batch. Returns NULL only if the library failed internally (see
/// `edgeid_last_error_message`). Free it with `edgeid_batch_free`.
/// Thread safety: a batch may be used by one thread at a time, and handed between threads.
#[no_mangle]
pub extern "C" fn edgeid_batch_new() -> *mut edgeid_batch {
    boundary("edgeid_batch_new", || {
        Ok(Box::into_raw(Box::new(edgeid_batch {
            changes: Vec::new(),
        })))
    })
    .unwrap_or(std::ptr::null_mut())
}

/// Runs `body` on a batch, inside the panic boundary.
pub(crate) fn with_batch(
    func: &str,
    batch: *mut edgeid_batch,
    body: impl FnOnce(&mut edgeid_batch) -> FfiResult,
) -> edgeid_status {
    guard(func, || {
        // SAFETY: a non-NULL batch comes from edgeid_batch_new and is not yet freed, and no other
        // thread uses it during this call (header contract of the calling export).
        body(unsafe { args::object_mut("batch", batch) }?)
    })
}

/// Adds "put this face template" to a batch. Checks the ids and values now (the batch is unchanged
/// if they are refused); the dimension is checked by `edgeid_commit` against the store.
/// Thread safety: see `edgeid_batch_new`.
///
/// # Safety
/// `batch` must be NULL or a live batch from `edgeid_batch_new`; each id pointer must point to its
/// length in readable bytes, `embedding` to `dim` floats.
#[no_mangle]
pub unsafe extern "C" fn edgeid_batch_face_put(
    batch: *mut edgeid_batch,
    location_id: *const c_char,
    location_id_len: usize,
    user_id: *const c_char,
    user_id_len: usize,
    template_id: *const c_char,
    template_id_len: usize,
    embedding: *const f32,
    dim: usize,
) -> edgeid_status {
    with_batch("edgeid_batch_face_put", batch, |b| {
        // SAFETY: header contract of the id pointers and `embedding`.
        let change = unsafe {
            put_change(
                (location_id, location_id_len),
                (user_id, user_id_len),
                (template_id, template_id_len),
                (embedding, dim),
                None,
            )
        }?;
        b.push(change)?;
        Ok(())
    })
}

/// Adds "remove this face template" to a batch (the commit fails with `EDGEID_ERR_NOT_FOUND` if it
/// does not exist then). Thread safety: see `edgeid_batch_new`.
///
/// # Safety
/// `batch` must be NULL or a live batch; each id pointer must point to its length in readable bytes.
#[no_mangle]
pub unsafe extern "C" fn edgeid_batch_face_remove(
    batch: *mut edgeid_batch,
    location_id: *const c_char,
    location_id_len: usize,
    user_id: *const c_char,
    user_id_len: usize,
    template_id: *const c_char,
    template_id_len: usize,
) -> edgeid_status {
    with_batch("edgeid_batch_face_remove", batch, |b| {
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

/// Adds "remove every face template of this user" to a batch (the commit fails with
/// `EDGEID_ERR_NOT_FOUND` if the user has none then); fingerprints stay. Thread safety: see
/// `edgeid_batch_new`.
///
/// # Safety
/// `batch` must be NULL or a live batch; each id pointer must point to its length in readable bytes.
#[no_mangle]
pub unsafe extern "C" fn edgeid_batch_face_remove_user(
    batch: *mut edgeid_batch,
    location_id: *const c_char,
    location_id_len: usize,
    user_id: *const c_char,
    user_id_len: usize,
) -> edgeid_status {
    with_batch("edgeid_batch_face_remove_user", batch, |b| {
        // SAFETY: header contract of the id pointers.
        let change =
            unsafe { remove_user_change((location_id, location_id_len), (user_id, user_id_len)) }?;
        b.push(change)?;
        Ok(())
    })
}

/// Number of changes in a batch (0 for NULL). Thread safety: see `edgeid_batch_new`.
///
/// # Safety
/// `batch` must be NULL or a live batch not used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn edgeid_batch_len(batch: *const edgeid_batch) -> usize {
    boundary("edgeid_batch_len", || {
        if batch.is_null() {
            return Ok(0);
        }
        // SAFETY: a non-NULL batch is live and not mutated during the call (contract).
        Ok(unsafe { args::object("batch", batch) }?.changes.len())
    })
    .unwrap_or(0)
}

/// Commits every change of `batch` (faces and fingerprints), in order, as one atomic and durable
/// commit: all or nothing (a refused change, e.g. removing a template that does not exist, refuses
/// the whole batch and the message names the change by its index). The batch is not modified:
/// free it or reuse it. `*seq_out` (may be NULL) receives the commit's sequence number. An empty
/// batch writes nothing; `*seq_out` then receives the current sequence number.
/// Thread safety: as `edgeid_face_put`; the batch must not be modified during the call.
///
/// # Safety
/// `batch` must be NULL or a live batch; `seq_out`, if not NULL, must point to writable memory for
/// one `uint64_t`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_commit(
    store: *mut edgeid_store,
    batch: *const edgeid_batch,
    seq_out: *mut u64,
) -> edgeid_status {
    handle::with_store("edgeid_commit", store, |s| {
        // SAFETY: a non-NULL batch is live and not mutated during the call (header contract).
        let b = unsafe { args::object("batch", batch) }?;
        commit(s, &b.changes, seq_out)
    })
}

/// Frees a batch. `edgeid_batch_free(NULL)` does nothing. Thread safety: any thread, once no other
/// thread uses the batch.
///
/// # Safety
/// `batch` must be NULL or a live batch from `edgeid_batch_new`, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn edgeid_batch_free(batch: *mut edgeid_batch) {
    // Dropping owned strings and vectors does not panic; the boundary is there on principle.
    let _ = boundary("edgeid_batch_free", || {
        if !batch.is_null() {
            // SAFETY: a non-NULL batch was made by Box::into_raw in edgeid_batch_new and is freed
            // once (contract).
            drop(unsafe { Box::from_raw(batch) });
        }
        Ok(())
    });
}

/// 1:N identification: the up to `k` users whose best template is most similar to the probe,
/// best first (ties: by user id, location id, template id), each at most once.
///
/// `probe`: `dim` floats as the model produced them; `dim` must be the store's dimension.
/// `location_id`: NULL for every location, or only users of this location. `threshold`: only users
/// scoring at least this (cosine, -1..=1; `EDGEID_ANY_SCORE` for all; must be finite).
/// `hits`: an array of `k >= 1` entries; the first `*n_hits` are written, the rest untouched.
/// The result is exact (equal to scoring every template) and the same on every CPU.
/// Thread safety: any number of threads at once, also while another thread commits.
///
/// # Safety
/// `probe` must point to `dim` floats, `location_id` (if not NULL) to `location_id_len` bytes,
/// `hits` to `k` writable `edgeid_hit`, `n_hits` to a writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_face_identify(
    store: *mut edgeid_store,
    probe: *const f32,
    dim: usize,
    location_id: *const c_char,
    location_id_len: usize,
    threshold: f64,
    hits: *mut edgeid_hit,
    k: usize,
    n_hits: *mut usize,
) -> edgeid_status {
    handle::with_store("edgeid_face_identify", store, |s| {
        // SAFETY: header contract of `n_hits`.
        unsafe { args::write_out("n_hits", n_hits, 0) }?;
        // SAFETY: header contract of `probe`, `location_id` and `hits`.
        let (probe, location, out) = unsafe {
            (
                args::slice("probe", probe, dim)?,
                args::location_filter(location_id, location_id_len)?,
                args::out_array("hits", hits, k)?,
            )
        };
        if k == 0 {
            return Err(Failure::new(EDGEID_ERR_INVALID, "k must be at least 1"));
        }
        if !threshold.is_finite() {
            return Err(Failure::new(
                EDGEID_ERR_INVALID,
                format!("threshold must be a finite number, got {threshold}"),
            ));
        }
        check_dim(s, "probe", dim)?;
        let mut req = FaceIdentify::new(probe).k(k).threshold(threshold);
        if let Some(l) = location {
            req = req.location(l);
        }
        let found = s.identify_face(&req)?;
        for (o, h) in out.iter_mut().zip(&found) {
            o.write(h.into());
        }
        // SAFETY: as above.
        unsafe { args::write_out("n_hits", n_hits, found.len().min(k)) }
    })
}

/// 1:1 verification: how similar the probe is to a user's best template at a location.
/// `*hit_out` receives the score and the template; compare the score with your threshold.
/// `EDGEID_ERR_NOT_FOUND` if the user has no face template there.
/// Thread safety: as `edgeid_face_identify`.
///
/// # Safety
/// Each id pointer must point to its length in readable bytes, `probe` to `dim` floats, `hit_out`
/// to a writable `edgeid_hit`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_face_verify(
    store: *mut edgeid_store,
    location_id: *const c_char,
    location_id_len: usize,
    user_id: *const c_char,
    user_id_len: usize,
    probe: *const f32,
    dim: usize,
    hit_out: *mut edgeid_hit,
) -> edgeid_status {
    handle::with_store("edgeid_face_verify", store, |s| {
        // SAFETY: header contract of the id pointers and `probe`.
        let (ids, probe) = unsafe {
            (
                ids((location_id, location_id_len), (user_id, user_id_len), None)?,
                args::slice("probe", probe, dim)?,
            )
        };
        args::check_out("hit_out", hit_out)?;
        check_dim(s, "probe", dim)?;
        let hit = s
            .verify_face(&ids.location, &ids.user, probe)?
            .ok_or_else(|| {
                Failure::new(
                    EDGEID_ERR_NOT_FOUND,
                    format!(
                        "user {:?} has no face template at location {:?}",
                        ids.user, ids.location
                    ),
                )
            })?;
        // SAFETY: header contract of `hit_out`.
        unsafe { args::write_out("hit_out", hit_out, (&hit).into()) }
    })
}
