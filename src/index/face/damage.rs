//! The checks of "Damaged data" (see the parent module's docs): an exact score is believed only
//! when its row's vector lies in its int8 code's cells and the score inside the row's int8 bounds
//! and [-1, 1]; otherwise the row is reported as corruption of its segment file.

use super::SLACK;
use crate::error::{Error, Result};
use crate::face::QuantizedProbe;
use crate::kernels::Kernels;
use crate::store::FaceSegment;

/// How far outside its bounds (or outside [-1, 1]) an exact score may fall before its row is
/// declared damaged: 50 times [`SLACK`], so f32 rounding never raises a false alarm, while a
/// damaged row that could change a decision moves its score much further.
const CHECK_SLACK: f64 = 1e-3;

/// The int8 bounds `(a - b, a + b)` of row `r`'s score (what phase 2 computes, for one row).
pub(super) fn bounds8(
    kernels: Kernels,
    seg: &FaceSegment,
    r: usize,
    pq: &QuantizedProbe,
) -> (f32, f32) {
    let stride = seg.stride();
    let (scale, cnorm, resid) = seg.params();
    let d = kernels.dot_u8i8(
        &seg.codes()[r * stride..(r + 1) * stride],
        &pq.codes[..stride],
    );
    let a = (d - 128 * pq.code_sum) as f32 * scale[r] * pq.scale;
    let b = cnorm[r] * pq.residual as f32 + resid[r] * pq.norm as f32 + SLACK;
    (a - b, a + b)
}

/// The exact score of row `r`, believed only when the row passes the checks of "Damaged data" (see
/// the module docs): its vector in its code's cells, the score inside `bounds` (the row's int8
/// bounds) and `[-1, 1]`. Returned clamped to `[-1, 1]`.
pub(super) fn exact(
    kernels: Kernels,
    q: &[f32],
    seg: &FaceSegment,
    r: usize,
    bounds: (f32, f32),
) -> Result<f64> {
    let damaged = |what: String| {
        let (l, u, t) = seg.row_ids(r);
        Error::corrupt(
            seg.path(),
            format!(
                "row {r} (location {l:?}, user {u:?}, template {t:?}): {what}; the segment is \
                 damaged, no answer is given from it (`edgeid verify` checks every file)"
            ),
        )
    };
    let stride = seg.stride();
    let v = seg.vector(r);
    let scale = seg.params().0[r];
    if !crate::face::in_code_cells(v, &seg.codes()[r * stride..(r + 1) * stride], scale) {
        return Err(damaged(
            "the stored vector does not match its int8 code".into(),
        ));
    }
    let score = kernels.dot_f32_f64(q, v);
    let (lo, hi) = (f64::from(bounds.0), f64::from(bounds.1));
    // Written so that NaN anywhere (score or bounds) fails.
    let fits =
        score >= lo - CHECK_SLACK && score <= hi + CHECK_SLACK && score.abs() <= 1.0 + CHECK_SLACK;
    if !fits {
        return Err(damaged(format!(
            "exact score {score} lies outside its quantised bounds [{lo}, {hi}]"
        )));
    }
    Ok(score.clamp(-1.0, 1.0))
}
