//! Search over the store's snapshots: 1:N identification and 1:1 verification of faces and
//! fingerprints, with the same request rules for both.
pub mod face;
pub mod finger;

use crate::error::{Error, Result};
use crate::ids::check_id;

/// The rules every 1:N request follows, face or fingerprint: at least one user asked for, a finite
/// threshold, and a location filter that is a valid id (a typo is refused, not an empty answer).
pub(crate) fn check_request(k: usize, threshold: f64, location: Option<&str>) -> Result<()> {
    if k == 0 {
        return Err(Error::Invalid("k must be at least 1".into()));
    }
    if !threshold.is_finite() {
        return Err(Error::Invalid("threshold must be a finite number".into()));
    }
    if let Some(l) = location {
        check_id("location", l)?;
    }
    Ok(())
}
