//! Minutia Cylinder-Code: cylinder construction (at preparation time) and the comparison of two
//! prepared templates (local similarities by popcount, relaxation, consolidation).
//!
//! | file | what |
//! |---|---|
//! | `cylinder.rs` | cylinder construction (preparation time; frozen bit for bit by the template version) |
//! | `hull.rs` | the minutiae's convex hull and the cell validity test against it |
//! | `local.rs` | local similarities of cylinder pairs by popcount, with the global rotation estimate |
//! | `consolidation.rs` | LSS-R: greedy one-to-one pairs, relaxation by geometric compatibility, the score |
//! | `global.rs` | the rigid alignment the LSS-R pairs fix, the overlap counts, the global score (options of [`Params`]) |
//! | `tests.rs` | the reference construction the fast one must match bit for bit |
//!
//! See the module docs of [`crate::finger`] for the reasoning and the parameters.

use std::f32::consts::PI;

mod consolidation;
mod cylinder;
mod global;
mod hull;
mod local;
#[cfg(test)]
mod tests;

pub(crate) use cylinder::build_cylinders;
pub(crate) use local::{compare_params, compare_with};

/// Internal length unit: pixels at 500 dpi (19.7 px/mm, the ISO 197 px/cm).
pub const PX_PER_MM: f32 = 19.7;

/// Cylinder radius R (internal pixels).
pub const R: f32 = 70.0;
/// Cells along each side of the cylinder base.
pub const NS: usize = 16;
/// Direction sections (cylinder height).
pub const ND: usize = 8;
/// Spatial standard deviation σS.
pub const SIGMA_S: f32 = 8.5;
/// Directional standard deviation σD.
pub const SIGMA_D: f32 = 0.5;
/// Bit threshold μψ of a cell's contribution.
pub const MU_PSI: f32 = 0.01;
/// Convex hull expansion Ω for cell validity.
pub const OMEGA: f32 = 50.0;
/// Minimum fraction of valid cells for a valid cylinder.
pub const MIN_VC: f32 = 0.75;
/// Minimum number of neighbour minutiae for a valid cylinder.
pub const MIN_M: usize = 2;
/// Minimum fraction of commonly valid cells for two cylinders to be comparable.
pub const MIN_ME: f32 = 0.60;
/// Largest direction difference of two comparable minutiae.
pub const DELTA_THETA: f32 = PI / 3.0;

/// Cylinders of A whose best match votes for the global rotation.
pub const ROT_SAMPLES: usize = 16;
/// Rotations up to this are handled without an estimate (radians).
pub const ROT_FREE: f32 = PI / 4.0;
/// Share of the rotation votes the peak (three bins) needs before the estimate is used.
pub const ROT_CONFIDENCE: f32 = 0.6;
/// Bins of the rotation histogram (the direction check is ±`DELTA_THETA` around the peak bin's
/// centre, so a bin must be narrower than the slack `DELTA_THETA` leaves).
pub const ROT_BINS: usize = 24;

/// Cells of one section.
pub const CELLS: usize = NS * NS;
// The cylinder layout is the popcount kernels' contract (`kernels::popcnt`); this geometry must
// produce it.
pub use crate::kernels::popcnt::{CYL_WORDS, MASK_WORDS, VAL_WORDS, WPS};
const _: () = assert!(WPS == CELLS.div_ceil(64) && VAL_WORDS == (ND * WPS).div_ceil(8) * 8);

/// Most minutiae kept per template (the best by quality).
pub const MAX_MINUTIAE: usize = 64;

/// Relaxation: pairs entering the relaxation (at most).
pub const NR_MAX: usize = 64;
/// ρ1: logistic on the difference of the two pairs' distances (px): μ.
pub const MU_RHO1: f32 = 5.0;
/// ρ1: τ.
pub const TAU_RHO1: f32 = -1.6;
/// ρ2: logistic on the difference of the direction differences: μ (rad).
pub const MU_RHO2: f32 = PI / 12.0;
/// ρ2: τ.
pub const TAU_RHO2: f32 = -30.0;
/// ρ3: logistic on the difference of the radial angles: μ (rad).
pub const MU_RHO3: f32 = PI / 12.0;
/// ρ3: τ.
pub const TAU_RHO3: f32 = -30.0;
/// Relaxation weight wR.
pub const W_R: f32 = 0.5;
/// Relaxation iterations.
pub const N_REL: usize = 5;
/// Pair count for the score: n_P = MIN_NP + round(Z(min(nA, nB); MU_P, TAU_P) · (MAX_NP − MIN_NP)).
pub const MIN_NP: usize = 4;
/// See [`MIN_NP`].
pub const MAX_NP: usize = 12;
/// Largest [`Params::max_np`] (larger values are clamped to it).
pub const MAX_NP_PARAM: usize = 20;
/// See [`MIN_NP`].
pub const MU_P: f32 = 20.0;
/// See [`MIN_NP`].
pub const TAU_P: f32 = 0.4;

const CELL: f32 = 2.0 * R / NS as f32;

/// Consolidation parameters that change scores but not prepared templates (so no template version
/// is tied to them): the fusion of the LSS-R score with the global one (`global.rs`) and options of
/// LSS-R itself, measured by the cross-validation ([`crate::finger::crossval::candidates`]).
/// [`Params::DEFAULT`] is the matcher as shipped; every option is off in it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Weight of the global score in the geometric-mean fusion `local^(1−w) · global^w`; 0 is the
    /// LSS-R score alone.
    pub fusion: f32,
    /// Pairing tolerance at the overlap's centre (internal px).
    pub tol0: f32,
    /// Growth of the pairing tolerance per px of distance from the overlap's centre.
    pub tol_slope: f32,
    /// How far outside the other side's convex hull a minutia still counts as in the overlap (px).
    pub margin: f32,
    /// Floor of the overlap counts in the global score's denominator.
    pub min_overlap: usize,
    /// Distortion-tolerant pair compatibility: the relaxation's distance difference |dA − dB| is
    /// divided by `1 + κ (dA + dB) / 200` (κ this value; 0: the plain difference).
    pub rho1_growth: f32,
    /// Small overlap: when set, LSS-R's pair count n_P is taken over the minutiae in the overlap
    /// (the fewer of A's inside B's convex hull and B's inside A's, after the alignment the most
    /// efficient pairs fix; `margin` applies) instead of the templates' cylinder counts, with this
    /// value as the logistic's μ (the templates' n_P, from [`MU_P`], stays the upper bound).
    /// 0: off.
    pub np_overlap_mu: f32,
    /// Small overlap: relax a second time with the support divided by the minutiae in the
    /// overlap (as for `np_overlap_mu`, under the first pass's alignment) less one, when fewer
    /// than the m − 1 other pairs, so pairs confined to a small overlap are not diluted.
    pub relax_overlap: bool,
    /// The largest pair count n_P (the logistic's upper end; [`MAX_NP`] as shipped, at most
    /// [`MAX_NP_PARAM`]).
    pub max_np: usize,
    /// Minutiae whose reported quality is known (not 0) and below this take no part in the
    /// consolidation (they still shape their neighbours' cylinders); 0: all take part.
    pub min_quality: u8,
    /// Score the n_P pairs of highest relaxed λ instead of the most efficient (relaxed / initial
    /// λ, MCC's choice).
    pub rank_relaxed: bool,
}

impl Params {
    /// The parameters `finger::compare` uses.
    pub const DEFAULT: Params = Params {
        fusion: 0.0,
        tol0: 12.0,
        tol_slope: 0.1,
        margin: 10.0,
        min_overlap: 10,
        rho1_growth: 0.0,
        np_overlap_mu: 0.0,
        relax_overlap: false,
        max_np: MAX_NP,
        min_quality: 0,
        rank_relaxed: false,
    };
}

impl Default for Params {
    fn default() -> Self {
        Params::DEFAULT
    }
}
