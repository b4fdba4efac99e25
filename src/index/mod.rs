//! Search over the store's snapshots: face 1:N identification and 1:1 verification.
pub mod face;
