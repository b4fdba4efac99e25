//! A terminal's own keeper of the locations' code keys (a secure element, a TPM): callbacks given
//! at open through `edgeid_open_options.code_keys`, used instead of the key file in the store
//! directory.

use crate::args;
use crate::status::edgeid_status::*;
use crate::status::{Failure, FfiResult};
use engine::catalog::{Hash, KeyId};
use engine::store::keys::CodeKeys;
use engine::{Error, Result};
use std::ffi::c_void;

/// Bytes of a code key id (`key_id` arguments of the `edgeid_code_keys` callbacks).
pub const EDGEID_CODE_KEY_ID_LEN: usize = 16;
/// Bytes of a code key and of an HMAC-SHA256.
pub const EDGEID_CODE_KEY_LEN: usize = 32;

const _: () = assert!(EDGEID_CODE_KEY_ID_LEN == std::mem::size_of::<KeyId>());
const _: () = assert!(EDGEID_CODE_KEY_LEN == std::mem::size_of::<Hash>());

/// Keeps `key` (`EDGEID_CODE_KEY_LEN` bytes) under `key_id` (`EDGEID_CODE_KEY_ID_LEN` bytes),
/// durably, then returns 0. Any other value is a failure: the delta that brought the key is not
/// applied (`EDGEID_ERR_IO`) and nothing changes. Storing a key already held must succeed.
#[allow(non_camel_case_types)]
pub type edgeid_store_key_fn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, key_id: *const u8, key: *const u8) -> i32>;

/// Writes HMAC-SHA256(key of `key_id`, `message`) — `message_len` bytes, an access code — to
/// `out` (`EDGEID_CODE_KEY_LEN` bytes) and returns 0. Any other value is a failure: the lookup
/// or delta that needed it fails with `EDGEID_ERR_IO` and nothing changes. `message` holds a
/// plain access code: do not keep or log it.
#[allow(non_camel_case_types)]
pub type edgeid_code_mac_fn = Option<
    unsafe extern "C" fn(
        ctx: *mut c_void,
        key_id: *const u8,
        message: *const u8,
        message_len: usize,
        out: *mut u8,
    ) -> i32,
>;

/// The store needs no code key but the `count` ones whose ids are at `key_ids` (`count` ×
/// `EDGEID_CODE_KEY_ID_LEN` bytes; `count` may be 0): the provider may discard the others (keys
/// replaced by a rotation, or stored for a delta that then failed). Return 0; a failure is
/// harmless (called again after the next checkpoint that changes the catalog, and on open).
#[allow(non_camel_case_types)]
pub type edgeid_retain_keys_fn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, key_ids: *const u8, count: usize) -> i32>;

/// A keeper of code keys of the terminal's own (`edgeid_open_options.code_keys`): access codes
/// are stored as HMAC-SHA256 with a per-location key the platform sends in full synchronisations,
/// and whoever reads both the hashes and the key recovers every code offline. By default the key
/// is kept in the file `CODE-KEYS` in the store directory (mode 0600), apart from the hashes;
/// with these callbacks it is kept where the terminal says, e.g. in a secure element, and never
/// reaches the flash. The store names keys by an id (a one-way hash of the key).
///
/// The struct is copied at open; `ctx` is passed back to every callback and must stay valid
/// until `edgeid_close` returns. The callbacks may be called from any thread that uses the store,
/// concurrently (lookups run beside deltas): they must be thread-safe. They must return (no
/// `longjmp`, no C++ exception) and must not call edgeid functions on this store. The provider
/// must hold every key it was given for the store (reopen with the same provider): a store
/// opened without it answers code lookups with `EDGEID_ERR_NOT_FOUND` or the provider's error
/// until a full synchronisation brings the key again.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct edgeid_code_keys {
    /// Must be `sizeof(edgeid_code_keys)`.
    pub size: u32,
    /// Passed back to every callback.
    pub ctx: *mut c_void,
    /// Required: keeps a new key durably.
    pub store_key: edgeid_store_key_fn,
    /// Required: keys an access code.
    pub mac: edgeid_code_mac_fn,
    /// Optional (NULL: keys are never discarded).
    pub retain: edgeid_retain_keys_fn,
}

/// The callbacks, checked, as the library's key provider.
struct Callbacks {
    ctx: *mut c_void,
    store_key: unsafe extern "C" fn(*mut c_void, *const u8, *const u8) -> i32,
    mac: unsafe extern "C" fn(*mut c_void, *const u8, *const u8, usize, *mut u8) -> i32,
    retain: edgeid_retain_keys_fn,
}

// SAFETY: the header requires the callbacks to be thread-safe and `ctx` to stay valid until the
// store is closed; the library only passes `ctx` back to them.
unsafe impl Send for Callbacks {}
// SAFETY: as above.
unsafe impl Sync for Callbacks {}

fn failed(callback: &'static str, rc: i32) -> Error {
    Error::Io {
        op: callback,
        path: "edgeid_code_keys".into(),
        source: std::io::Error::other(format!(
            "the terminal's code key callback returned {rc}; nothing was changed"
        )),
    }
}

impl CodeKeys for Callbacks {
    fn store(&self, id: &KeyId, key: &Hash) -> Result<()> {
        // SAFETY: the callback's contract (header): `id` and `key` cover the documented lengths
        // and live for the call; `ctx` is the caller's.
        let rc = unsafe { (self.store_key)(self.ctx, id.as_ptr(), key.as_ptr()) };
        match rc {
            0 => Ok(()),
            rc => Err(failed("store_key", rc)),
        }
    }
    fn mac(&self, id: &KeyId, message: &[u8]) -> Result<Hash> {
        let mut out = [0u8; 32];
        // SAFETY: as in `store`; `out` is 32 writable bytes.
        let rc = unsafe {
            (self.mac)(
                self.ctx,
                id.as_ptr(),
                message.as_ptr(),
                message.len(),
                out.as_mut_ptr(),
            )
        };
        match rc {
            0 => Ok(out),
            rc => Err(failed("mac", rc)),
        }
    }
    fn retain(&self, keep: &[KeyId]) -> Result<()> {
        let Some(retain) = self.retain else {
            return Ok(());
        };
        // SAFETY: as in `store`; `keep` is `keep.len()` contiguous 16-byte ids.
        let rc = unsafe { retain(self.ctx, keep.as_ptr().cast::<u8>(), keep.len()) };
        match rc {
            0 => Ok(()),
            rc => Err(failed("retain", rc)),
        }
    }
}

/// The provider given by `edgeid_open_options.code_keys` (NULL: none, the default key file).
///
/// # Safety
/// If non-NULL, `ptr` must point to an `edgeid_code_keys` whose callbacks follow the header.
pub unsafe fn provider(
    ptr: *const edgeid_code_keys,
) -> FfiResult<Option<std::sync::Arc<dyn CodeKeys>>> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL `ptr` points to an edgeid_code_keys (this function's contract).
    unsafe {
        args::versioned_size(
            "options.code_keys",
            ptr,
            "code_keys->size",
            "edgeid_code_keys",
            &[],
        )
    }?;
    // SAFETY: as above; every field is a pointer or an optional function pointer, valid for any
    // bits the caller may set (NULL included).
    let k = unsafe { args::read_opt("options.code_keys", ptr) }?.expect("checked non-NULL");
    let missing = |f: &str| {
        Failure::new(
            EDGEID_ERR_NULL,
            format!("code_keys->{f} is NULL (it is required)"),
        )
    };
    Ok(Some(std::sync::Arc::new(Callbacks {
        ctx: k.ctx,
        store_key: k.store_key.ok_or_else(|| missing("store_key"))?,
        mac: k.mac.ok_or_else(|| missing("mac"))?,
        retain: k.retain,
    })))
}
