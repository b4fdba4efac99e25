//! Search over the store's snapshots: 1:N identification and 1:1 verification of faces and
//! fingerprints.
pub mod face;
pub mod finger;
