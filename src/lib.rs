//! edgeid: the identity engine inside access-control terminals.
//!
//! A terminal keeps its own copy of the users of its location so that a cut cable never stops anyone
//! at the door. This crate is that copy and what answers from it:
//! - [`store::Store`]: a crash-safe, memory-mapped directory holding face and fingerprint templates
//!   side by side (one commit changes both atomically) and the [`catalog`] of users, cards, codes,
//!   plates, rights, schedules and doors;
//! - [`index`]: exact face 1:N identification and 1:1 verification ([`index::face`]) and fingerprint
//!   1:N and 1:1 ([`index::finger`]), with the same request rules for both;
//! - [`sync`]: the platform's deltas applied atomically, durably and idempotently, with digests;
//! - [`face`] and [`finger`]: the templates themselves (embedding validation and quantisation;
//!   ISO/ANSI minutiae codecs and the MCC matcher), over SIMD [`kernels`] chosen once at run time.
//!
//! Modules read one way down: `error` → `ids`, `mmap`, `kernels` → `face`, `finger`, `catalog` →
//! `store` → `index`, `sync` → this facade (checked by `tests/layers.rs`). See `ARCHITECTURE.md` for
//! the map of concepts to modules.

pub mod access;
pub mod catalog;
pub mod error;
pub mod face;
pub mod finger;
pub mod fs;
pub mod ids;
pub mod index;
pub mod journal;
pub mod kernels;
mod mmap;
pub mod store;
pub mod sync;
#[cfg(feature = "vision")]
pub mod vision;

pub use access::{Decision, Presented, Reason};
pub use error::{Error, Result};
pub use index::face::{FaceHit, FaceIdentify};
pub use index::finger::{FingerHit, FingerIdentify};
pub use store::{Change, Committed, OpenOptions, Snapshot, Stats, Store};
