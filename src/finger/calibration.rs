//! Score calibration: which matcher score corresponds to a false-match rate (FMR).
//!
//! # How the built-in table was made
//! Impostor scores: every ordered pair of templates of different fingers within each of the eight
//! sets of the committed test data (`fvc2002/DB{1..4}_B/{mindtct,secugen}`, 8 × 80 × 72 = 46,080
//! scores), computed by the matcher of this build (`tests/finger_calibration.rs` recomputes them and
//! fails if the built-in table drifts). For an FMR `f` the threshold is the smallest score that at
//! most `f · N` impostor scores reach. Where fewer than [`MIN_TAIL_COUNT`] impostors would remain above
//! it, the empirical quantile is not trusted on its own: the threshold is the larger of an exponential
//! fit of the impostor tail (`P(S ≥ s) = p0 · exp(-(s - s0) / β)`, fitted on the top 1 % of scores)
//! and the empirical quantile (so the data never shows more false matches than the target allows).
//!
//! # How far the data supports each FMR
//! | FMR | impostors above the threshold in the data | basis |
//! |---|---|---|
//! | 1e-2 | ≈ 461 | empirical quantile, well supported |
//! | 1e-3 | ≈ 46 | empirical quantile, supported |
//! | 1e-4 | ≈ 4 | max(tail fit, empirical quantile): weakly supported (4 scores) |
//! | 1e-5, 1e-6 | < 1 | tail-fit extrapolation above the highest impostor: not verified by data |
//!
//! Tuning and calibration are kept apart: the matcher's parameters were chosen on the `mindtct` sets'
//! EER and rank-1 alone; the FMR table is a by-product of the impostor scores and was never used to
//! choose parameters. `tests/finger_calibration.rs` also checks it across extractors: thresholds fitted
//! on the `secugen` impostors alone, applied to the `mindtct` impostors, give FMRs within a factor of
//! the target.

/// Fewest impostor scores above a threshold for the empirical quantile to be used.
pub const MIN_TAIL_COUNT: usize = 10;

/// A calibration: FMR → threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// Impostor scores, descending.
    sorted: Vec<f32>,
    /// Tail fit: threshold s0 (the score at the top-1 % boundary), p0 = P(S ≥ s0), β.
    s0: f64,
    p0: f64,
    beta: f64,
}

impl Calibration {
    /// Fits a calibration to impostor scores (at least 100).
    pub fn fit(impostors: &[f32]) -> Option<Calibration> {
        if impostors.len() < 100 {
            return None;
        }
        let mut sorted = impostors.to_vec();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let n = sorted.len();
        let k = (n / 100).max(10);
        let s0 = f64::from(sorted[k - 1]);
        let p0 = k as f64 / n as f64;
        // Maximum-likelihood exponential scale of the excess over s0.
        let beta = sorted[..k].iter().map(|&s| f64::from(s) - s0).sum::<f64>() / k as f64;
        Some(Calibration {
            sorted,
            s0,
            p0,
            beta: beta.max(1e-9),
        })
    }

    /// Number of impostor scores the calibration rests on.
    pub fn impostors(&self) -> usize {
        self.sorted.len()
    }

    /// The threshold (accept when score ≥ threshold) for a false-match rate `fmr` in (0, 1).
    pub fn threshold(&self, fmr: f64) -> f32 {
        let n = self.sorted.len();
        let allowed = (fmr * n as f64).floor() as usize;
        if allowed >= MIN_TAIL_COUNT && allowed < n {
            // Just above the (allowed+1)-th highest impostor score: at most `allowed` reach it.
            return next_up(self.sorted[allowed]);
        }
        if allowed >= n {
            return 0.0;
        }
        // Tail fit, but never below what the data shows: at most `allowed` impostors reach it.
        let fit = (self.s0 + self.beta * (self.p0 / fmr.max(1e-300)).ln()) as f32;
        fit.max(next_up(self.sorted[allowed]))
    }

    /// The estimated false-match rate of a threshold (empirical where at least [`MIN_TAIL_COUNT`]
    /// impostor scores reach it, the tail fit beyond).
    pub fn fmr(&self, threshold: f32) -> f64 {
        let n = self.sorted.len();
        let above = self.sorted.partition_point(|&s| s >= threshold);
        if above >= MIN_TAIL_COUNT {
            return above as f64 / n as f64;
        }
        let t = f64::from(threshold);
        (self.p0 * (-(t - self.s0) / self.beta).exp()).min(MIN_TAIL_COUNT as f64 / n as f64)
    }
}

fn next_up(x: f32) -> f32 {
    if x.is_nan() || x == f32::INFINITY {
        return x;
    }
    if x == 0.0 {
        return f32::from_bits(1);
    }
    let b = x.to_bits();
    f32::from_bits(if x > 0.0 { b + 1 } else { b - 1 })
}

/// The built-in table: (FMR, threshold) made as described in the module docs.
pub const BUILTIN: [(f64, f32); 6] = [
    (1e-1, 0.015684806),
    (1e-2, 0.019898403),
    (1e-3, 0.02550762),
    (1e-4, 0.0312808),
    (1e-5, 0.03613364),
    (1e-6, 0.041546535),
];

/// The threshold for a false-match rate from the built-in table (log-linear interpolation between
/// its points; clamped to its range 1e-6..=1e-1).
pub fn threshold_for_fmr(fmr: f64) -> f32 {
    let f = fmr.clamp(BUILTIN[BUILTIN.len() - 1].0, BUILTIN[0].0);
    for w in BUILTIN.windows(2) {
        let ((f0, t0), (f1, t1)) = (w[0], w[1]);
        if f <= f0 && f >= f1 {
            let a = (f0.ln() - f.ln()) / (f0.ln() - f1.ln());
            return (f64::from(t0) + a * f64::from(t1 - t0)) as f32;
        }
    }
    BUILTIN[BUILTIN.len() - 1].1
}

/// The estimated false-match rate of a score threshold from the built-in table (log-linear
/// interpolation; 1e-1 below its range, 1e-6 above).
pub fn fmr_for_threshold(t: f32) -> f64 {
    if t <= BUILTIN[0].1 {
        return BUILTIN[0].0;
    }
    for w in BUILTIN.windows(2) {
        let ((f0, t0), (f1, t1)) = (w[0], w[1]);
        if t >= t0 && t <= t1 && t1 > t0 {
            let a = f64::from(t - t0) / f64::from(t1 - t0);
            return (f0.ln() + a * (f1.ln() - f0.ln())).exp();
        }
    }
    BUILTIN[BUILTIN.len() - 1].0
}
