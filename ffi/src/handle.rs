//! Store handles: `edgeid_store *` is a token naming an open store in a process-wide registry.
//!
//! Why not a pointer to the store: C code that calls a function on a closed handle (or after a
//! failed open left garbage in its variable) must get `EDGEID_ERR_CLOSED`, not a use-after-free.
//! The registry owns each store as an `Arc<Store>`; a call looks its token up, clones the `Arc` and
//! releases the registry lock before working, so many threads use one store at once, and a store
//! closed by one thread stays alive until calls already running on it return. Tokens are never
//! reused, so a stale handle cannot reach a store opened later.

use crate::status::edgeid_status::{self, *};
use crate::status::{catch_panic, guard, Failure, FfiResult};
use engine::Store;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// An open store. Opaque: obtained from `edgeid_open` / `edgeid_create`, released by
/// `edgeid_close`. The value is a token, not an address; never dereference it.
#[allow(non_camel_case_types)]
pub struct edgeid_store {
    _private: [u8; 0],
}

struct Registry {
    /// Number of the next handle (1, 2, ...); never reused.
    next: u64,
    stores: BTreeMap<u64, Arc<Store>>,
}

static REGISTRY: RwLock<Registry> = RwLock::new(Registry {
    next: 1,
    stores: BTreeMap::new(),
});

/// Tokens are `number << 4`: non-NULL, aligned-looking, distinct.
const SHIFT: u32 = 4;

fn registry_read() -> std::sync::RwLockReadGuard<'static, Registry> {
    // No code panics while holding the lock, but stay usable if that ever changes.
    REGISTRY.read().unwrap_or_else(|e| e.into_inner())
}

fn registry_write() -> std::sync::RwLockWriteGuard<'static, Registry> {
    REGISTRY.write().unwrap_or_else(|e| e.into_inner())
}

fn key_of(h: *const edgeid_store) -> Option<u64> {
    let a = h.addr();
    if a == 0 || a & ((1 << SHIFT) - 1) != 0 {
        return None;
    }
    Some((a >> SHIFT) as u64)
}

/// Registers an open store and returns its new handle.
pub fn register(store: Store) -> FfiResult<*mut edgeid_store> {
    let mut r = registry_write();
    let id = r.next;
    // A token must fit a pointer: on 32-bit targets that allows 2^28 opens per process.
    let addr = usize::try_from(id)
        .ok()
        .and_then(|i| i.checked_shl(SHIFT))
        .filter(|a| a >> SHIFT == id as usize)
        .ok_or_else(|| Failure::new(EDGEID_ERR_OTHER, "too many stores opened in this process"))?;
    r.next += 1;
    r.stores.insert(id, Arc::new(store));
    Ok(std::ptr::without_provenance_mut(addr))
}

/// The store a handle names, or `EDGEID_ERR_NULL` / `EDGEID_ERR_CLOSED`.
pub fn lookup(h: *const edgeid_store) -> FfiResult<Arc<Store>> {
    if h.is_null() {
        return Err(Failure::new(EDGEID_ERR_NULL, "store handle is NULL"));
    }
    key_of(h)
        .and_then(|k| registry_read().stores.get(&k).cloned())
        .ok_or_else(|| {
            Failure::new(
                EDGEID_ERR_CLOSED,
                "store handle is closed (or is not a handle from edgeid_open/edgeid_create)",
            )
        })
}

/// Takes a store out of the registry: later lookups of the handle fail. None if it was not there.
fn unregister(h: *const edgeid_store) -> Option<Arc<Store>> {
    key_of(h).and_then(|k| registry_write().stores.remove(&k))
}

/// Closes a handle: unregisters it, waits until calls still running on other threads release the
/// store, then drops it (closing its files and releasing its lock).
pub fn close(h: *const edgeid_store) -> FfiResult {
    let Some(mut store) = unregister(h) else {
        return Err(Failure::new(
            EDGEID_ERR_CLOSED,
            "store handle is already closed (or is not a handle from edgeid_open/edgeid_create)",
        ));
    };
    loop {
        match Arc::try_unwrap(store) {
            Ok(s) => {
                drop(s);
                return Ok(());
            }
            Err(still_used) => {
                store = still_used;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    }
}

/// The panic boundary of an export that works on a store: looks the handle up and runs `body`
/// with the store, inside [`guard`]. A failure becomes its status (recording the message); a panic
/// becomes `EDGEID_ERR_PANIC` and closes the handle, because a panic may have interrupted the store
/// half-way through an in-memory update. Reopening replays the durable log, which a panic cannot
/// have damaged: a commit is durable (one checksummed record, fsynced) before memory changes.
pub fn with_store(
    func: &str,
    h: *const edgeid_store,
    body: impl FnOnce(&Store) -> FfiResult,
) -> edgeid_status {
    guard(func, || {
        catch_panic(|| body(&*lookup(h)?)).unwrap_or_else(|mut panic| {
            // Dropped without waiting: calls on other threads still hold their own references.
            drop(unregister(h));
            panic
                .message
                .push_str("; the store handle was closed, reopen it");
            Err(panic)
        })
    })
}
