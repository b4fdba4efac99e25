//! Signed deltas: applying a delta with its detached signature, and the platform's public keys
//! each location trusts (docs/sync-protocol.md, "Signed deltas"). Appended after the finger
//! functions so nothing above moved in the header.

use crate::args;
use crate::handle::{self, edgeid_store};
use crate::status::edgeid_status::{self, *};
use crate::status::Failure;
use crate::sync::{apply, edgeid_apply_result, edgeid_progress_fn};
use engine::sync::signature::{key_id, MAX_KEYS_PER_LOCATION};
use std::ffi::{c_char, c_void};

/// Bytes of an Ed25519 public key (raw).
pub const EDGEID_PUBLIC_KEY_BYTES: usize = 32;
/// Most public keys a location trusts at once.
pub const EDGEID_MAX_SIGNING_KEYS: usize = 16;
const _: () = assert!(EDGEID_MAX_SIGNING_KEYS == MAX_KEYS_PER_LOCATION);

/// Applies one synchronisation delta with its detached signature: as `edgeid_apply_delta`, and
/// first the signature is checked over the exact `delta_len` bytes of `delta`, before they are
/// parsed.
///
/// `signature`/`signature_len`: the signature envelope exactly as the platform sent it (the text
/// `edgeid.sig/1 ed25519 <key id> <base64 signature>`, optionally with a line feed; only read
/// during the call). NULL with length 0 applies the delta unsigned, like `edgeid_apply_delta`.
///
/// Refusals specific to signatures return `EDGEID_ERR_REFUSED` with `result->refusal ==
/// EDGEID_REFUSAL_SIGNATURE` and nothing applied: a malformed envelope, a key id no location
/// trusts, a signature that does not match the bytes, a key not trusted for the delta's location
/// (a key of location A never authorises a delta for B), an unsigned delta for a location that
/// requires signatures (`edgeid_require_signatures`), an unsigned delta carrying `signing_keys`.
/// A signed delta carrying `signing_keys` replaces its location's keys in the same commit.
///
/// Everything else (progress, result) is as `edgeid_apply_delta`.
/// Thread safety: as `edgeid_apply_delta`.
///
/// # Safety
/// As `edgeid_apply_delta`; `signature` must point to `signature_len` readable bytes (or be NULL
/// with `signature_len` 0).
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn edgeid_apply_delta_signed(
    store: *mut edgeid_store,
    delta: *const u8,
    delta_len: usize,
    signature: *const u8,
    signature_len: usize,
    progress: edgeid_progress_fn,
    user_data: *mut c_void,
    result: *mut edgeid_apply_result,
) -> edgeid_status {
    let sig = (!(signature.is_null() && signature_len == 0)).then_some((signature, signature_len));
    // SAFETY: the header contract of every argument is this function's.
    unsafe {
        apply(
            "edgeid_apply_delta_signed",
            store,
            delta,
            delta_len,
            sig,
            progress,
            None,
            user_data,
            result,
        )
    }
}

/// Reads a 32-byte public key argument.
///
/// # Safety
/// `key` must point to 32 readable bytes.
unsafe fn public_key(key: *const u8) -> Result<[u8; 32], Failure> {
    // SAFETY: the caller's contract.
    let k = unsafe { args::slice("public_key", key, EDGEID_PUBLIC_KEY_BYTES) }?;
    Ok(k.try_into().expect("32 bytes"))
}

/// Trusts an Ed25519 public key (`public_key`: its 32 raw bytes) for the deltas of a location.
/// A local, privileged act: the program that provisions the terminal calls it; afterwards the
/// platform rotates keys with signed deltas. Durable when it returns. `*added_out` (may be NULL)
/// is false when the key was trusted already.
///
/// Errors: `EDGEID_ERR_INVALID` for bytes that are not a usable Ed25519 public key (not a curve
/// point, or a weak key of small order), a bad location id, or a location that trusts
/// `EDGEID_MAX_SIGNING_KEYS` keys already. Thread safety: as `edgeid_apply_delta`.
///
/// # Safety
/// `location_id` must point to `location_id_len` readable bytes, `public_key` to 32 readable
/// bytes; `added_out` is NULL or points to a writable `bool`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_signing_key_add(
    store: *mut edgeid_store,
    location_id: *const c_char,
    location_id_len: usize,
    public_key: *const u8,
    added_out: *mut bool,
) -> edgeid_status {
    handle::with_store("edgeid_signing_key_add", store, |s| {
        // SAFETY: header contract of `location_id` and `public_key`.
        let (location, key) = unsafe {
            (
                args::id_arg("location_id", location_id, location_id_len)?,
                self::public_key(public_key)?,
            )
        };
        let added = s.add_signing_key(location, &key)?;
        // SAFETY: header contract of `added_out`.
        unsafe { args::write_opt("added_out", added_out, added) }
    })
}

/// Stops trusting a public key (its 32 raw bytes) for a location's deltas. Durable when it
/// returns. `*removed_out` (may be NULL) is false when it was not trusted. Removing the last key
/// of a location that requires signatures refuses every delta for it until a key is added.
/// Thread safety: as `edgeid_apply_delta`.
///
/// # Safety
/// As `edgeid_signing_key_add`, with `removed_out`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_signing_key_remove(
    store: *mut edgeid_store,
    location_id: *const c_char,
    location_id_len: usize,
    public_key: *const u8,
    removed_out: *mut bool,
) -> edgeid_status {
    handle::with_store("edgeid_signing_key_remove", store, |s| {
        // SAFETY: header contract of `location_id` and `public_key`.
        let (location, key) = unsafe {
            (
                args::id_arg("location_id", location_id, location_id_len)?,
                self::public_key(public_key)?,
            )
        };
        let removed = s.remove_signing_key(location, &key_id(&key))?;
        // SAFETY: header contract of `removed_out`.
        unsafe { args::write_opt("removed_out", removed_out, removed) }
    })
}

/// Whether unsigned deltas for a location are refused (`EDGEID_REFUSAL_SIGNATURE`). Durable when
/// it returns. Thread safety: as `edgeid_apply_delta`.
///
/// # Safety
/// `location_id` must point to `location_id_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn edgeid_require_signatures(
    store: *mut edgeid_store,
    location_id: *const c_char,
    location_id_len: usize,
    require: bool,
) -> edgeid_status {
    handle::with_store("edgeid_require_signatures", store, |s| {
        // SAFETY: header contract of `location_id`.
        let location = unsafe { args::id_arg("location_id", location_id, location_id_len) }?;
        s.set_require_signatures(location, require)?;
        Ok(())
    })
}

/// The public keys a location trusts, 32 bytes each, in the order they were added, and whether
/// it requires signatures. `keys_out`: room for `cap` keys (`cap * 32` bytes; NULL if `cap` is
/// 0). `*n_keys` receives the number of keys, also when it is larger than `cap`: then the first
/// `cap` are written and the call returns `EDGEID_ERR_SIZE`. A location with no keys gives 0 and
/// `*require_out == false` (unless it requires signatures). Thread safety: any thread,
/// concurrently with every other call.
///
/// # Safety
/// `location_id` must point to `location_id_len` readable bytes; `keys_out`, if not NULL, to
/// `cap * 32` writable bytes; `n_keys` to a writable `size_t`; `require_out` is NULL or points to
/// a writable `bool`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_signing_keys(
    store: *mut edgeid_store,
    location_id: *const c_char,
    location_id_len: usize,
    keys_out: *mut u8,
    cap: usize,
    n_keys: *mut usize,
    require_out: *mut bool,
) -> edgeid_status {
    handle::with_store("edgeid_signing_keys", store, |s| {
        // SAFETY: header contract of `n_keys` and `location_id`.
        let location = unsafe {
            args::write_out("n_keys", n_keys, 0)?;
            args::id_arg("location_id", location_id, location_id_len)?
        };
        let bytes = cap
            .checked_mul(EDGEID_PUBLIC_KEY_BYTES)
            .ok_or_else(|| Failure::new(EDGEID_ERR_INVALID, format!("cap {cap} is too large")))?;
        // SAFETY: header contract of `keys_out`.
        let out = unsafe { args::out_array_or_empty("keys_out", keys_out, bytes) }?;
        let all = s.signing_keys();
        let l = all.iter().find(|l| l.location == location);
        let keys = l.map_or(&[][..], |l| &l.keys[..]);
        for (o, b) in out.iter_mut().zip(keys.iter().flatten()) {
            o.write(*b);
        }
        // SAFETY: header contract of `n_keys` and `require_out`.
        unsafe {
            args::write_out("n_keys", n_keys, keys.len())?;
            args::write_opt(
                "require_out",
                require_out,
                l.is_some_and(|l| l.require_signatures),
            )?;
        }
        if keys.len() > cap {
            return Err(Failure::new(
                EDGEID_ERR_SIZE,
                format!(
                    "keys_out has room for {cap} keys, location {location} trusts {}",
                    keys.len()
                ),
            ));
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_match_the_library() {
        assert_eq!(EDGEID_MAX_SIGNING_KEYS, 16);
        let _: edgeid_status = EDGEID_OK;
    }
}
