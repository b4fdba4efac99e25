//! The C API of edgeid: `libedgeid.so` / `libedgeid.a` and `include/edgeid.h`.
//!
//! The header is generated from this crate by a pinned cbindgen and committed; `tests/header.rs`
//! fails (with a diff) when the two disagree, and `EDGEID_BLESS=1 cargo test -p edgeid-ffi --test
//! header` rewrites it. Every exported function is declared in the module of its concept:
//! [`store`] (open, create, close, maintenance, stats), [`face`] (changes, batches, identify,
//! verify), [`info`] (version, kernel, error messages), [`sync`] (deltas, sync status, digests),
//! [`lookup`] (card / code / plate lookups) and [`finger`] (fingerprint compare, calibration,
//! changes, batch entries, identify, verify), then [`signed`] (signed deltas, signing keys), then
//! `vision` (face images to templates, feature `vision`), then [`decide`] (the door decision),
//! then [`stream`] (deltas of any size from a file or a read callback);
//! [`keys`] holds the callbacks of a terminal's own code key keeper (`edgeid_code_keys`, given at
//! open). Functions appear in the header in that order: the sync and lookup functions, then the
//! finger functions, then the signed-delta and vision functions came later and were appended, so nothing
//! above them moved.
//!
//! # Ownership (the one place it is recorded)
//! | C type | Rust representation | owner | released by |
//! |---|---|---|---|
//! | `edgeid_store *` | a token (not an address) naming an `Arc<Store>` in [`handle`]'s registry | the registry | `edgeid_close` (waits for calls in progress) |
//! | `edgeid_batch *` | `Box<edgeid_batch>` turned into a raw pointer | the caller | `edgeid_batch_free` |
//! | `edgeid_vision *` | `Box<edgeid_vision>` (ONNX Runtime sessions and buffers behind a lock) turned into a raw pointer | the caller | `edgeid_vision_free` |
//! | `edgeid_face`, embedding buffers of `edgeid_face_extract*` | caller memory, written during the call | the caller | the caller |
//! | frame and image bytes of `edgeid_face_*` | caller memory, read during the call only | the caller | the caller |
//! | `const char *` from `edgeid_version`, `edgeid_kernel_name`, `edgeid_status_str` | `'static` C strings | the library | never |
//! | `edgeid_hit`, `edgeid_finger_hit`, `edgeid_stats`, `edgeid_apply_result`, `edgeid_location_status`, `edgeid_user_ref`, digest and message buffers | caller memory, written during the call | the caller | the caller |
//! | `const uint8_t *` delta and signature, `void *user_data` of `edgeid_apply_delta` / `edgeid_apply_delta_signed`, public keys of `edgeid_signing_key_*` | caller memory, read / passed back during the call only | the caller | the caller |
//! | path, `edgeid_read_fn` and `void *user_data` of `edgeid_apply_delta_file` / `edgeid_apply_delta_stream`; the read callback's buffer | caller memory and functions, used during the call only; the buffer is the library's, lent to `read` for one call | the caller (the buffer: the library) | the caller (the buffer: the library) |
//! | `const uint8_t *` fingerprint records (`edgeid_finger_*`, `edgeid_batch_finger_put`) | caller memory, read during the call only (a batch keeps its own prepared template) | the caller | the caller |
//! | `edgeid_presented` and everything it points to, `edgeid_decision` (`edgeid_decide`) | caller memory, read / written during the call only | the caller | the caller |
//!
//! Because a store handle is only a key, a closed or made-up handle is looked up, not dereferenced:
//! it gives `EDGEID_ERR_CLOSED`, never a crash, and a store stays alive while a call on another
//! thread still uses it.
//!
//! # Rules every export follows
//! - runs inside the one panic boundary, [`status::boundary`] (directly where it returns no
//!   status, else through [`status::guard`] or [`handle::with_store`]; [`status::catch_panic`] is
//!   the only `catch_unwind`): panics are caught and become `EDGEID_ERR_PANIC`; failures set the
//!   thread's last error message. Only `edgeid_version` and `edgeid_status_str`, which return a
//!   static string and execute nothing that can panic, have no boundary;
//! - checks every pointer for NULL (and alignment) and every string for UTF-8 before use, through
//!   the helpers in [`args`], the only module that turns C pointers into references.

pub mod args;
pub mod handle;
pub mod status;

pub mod store;

pub mod face;

pub mod info;

pub mod sync;

pub mod lookup;

pub mod finger;

pub mod keys;
pub mod signed;
/// Face images to templates (feature `vision`, on by default): appended after the finger
/// functions, so nothing above moved.
#[cfg(feature = "vision")]
pub mod vision;

/// The event journal (appended after the other functions).
pub mod journal;

/// The door decision: appended after the vision functions, so nothing above moved.
pub mod decide;

/// Streamed deltas from a file or a read callback: appended after the door decision.
pub mod stream;

pub use decide::{edgeid_decision, edgeid_presented};
pub use face::{edgeid_batch, edgeid_hit};
pub use finger::{edgeid_finger_format, edgeid_finger_hit};
pub use handle::edgeid_store;
pub use keys::edgeid_code_keys;
pub use status::edgeid_status;
pub use store::{edgeid_open_options, edgeid_stats};
pub use stream::edgeid_read_fn;
pub use sync::{edgeid_apply_result, edgeid_location_status, edgeid_user_ref};
#[cfg(feature = "vision")]
pub use vision::{edgeid_face, edgeid_vision};
