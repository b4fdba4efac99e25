//! Rules shared by every fingerprint 1:N search, in memory ([`super::gallery`]) or over the store's
//! finger index (`index::finger`): how many candidates the prefilter passes to the matcher, and
//! which probes are refused.

use super::TemplateRef;
use crate::error::{Error, Result};

/// Search tuning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchParams {
    /// Templates always fully matched (the whole gallery when it is smaller).
    pub min_candidates: usize,
    /// Fraction of the gallery fully matched beyond `min_candidates`.
    pub candidate_fraction: f64,
}

impl Default for SearchParams {
    fn default() -> Self {
        SearchParams {
            min_candidates: 256,
            candidate_fraction: 0.005,
        }
    }
}

impl SearchParams {
    /// Number of templates fully matched in a gallery of `n`.
    pub fn candidates(&self, n: usize) -> usize {
        let frac = (self.candidate_fraction * n as f64).ceil() as usize;
        self.min_candidates.max(frac).min(n)
    }
}

/// Refuses a probe that cannot match anything (no valid cylinder).
pub fn check_probe(probe: &TemplateRef<'_>) -> Result<()> {
    if probe.n_cyl() == 0 {
        return Err(Error::Invalid(format!(
            "fingerprint probe has {} minutiae and no usable local structure (too few or too sparse minutiae)",
            probe.n_min()
        )));
    }
    Ok(())
}
