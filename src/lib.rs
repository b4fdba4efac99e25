//! edgeid: the identity engine inside access-control terminals.
//!
//! A terminal keeps its own copy of the users of its location so that a cut cable never stops anyone at
//! the door. This crate is that copy — a crash-safe, memory-mapped [`store::Store`] of face templates —
//! and what answers from it: exact 1:N identification and 1:1 verification ([`index::face`]).
//! See `ARCHITECTURE.md` for the map of concepts to modules.

pub mod catalog;
pub mod error;
pub mod face;
pub mod finger;
pub mod ids;
pub mod index;
pub mod kernels;
mod mmap;
pub mod store;
pub mod sync;

pub use error::{Error, Result};
pub use index::face::{FaceHit, FaceIdentify};
pub use index::finger::{FingerHit, FingerIdentify};
pub use store::{Change, OpenOptions, Snapshot, Stats, Store};
