//! Small numeric helpers for the matcher: angle wrapping, a fast sigmoid table, erf.

use std::f32::consts::{PI, TAU};

/// Wraps an angle difference to [-π, π).
#[inline]
pub(crate) fn wrap_pi(a: f32) -> f32 {
    // `%` (fmodf, a call) is exact and returns its argument unchanged when |a| < TAU, the usual
    // case (a difference of two angles in [-π, π] or [0, 2π)), so it is skipped there: the same
    // result for every input, NaN and infinities included (they fail the test and take `%`).
    let mut x = if a.abs() < TAU { a } else { a % TAU };
    if x < -PI {
        x += TAU;
    } else if x >= PI {
        x -= TAU;
    }
    x
}

/// Error function, Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7).
pub(crate) fn erf(x: f64) -> f64 {
    let s = x.signum();
    let x = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let y = 1.0
        - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t
            + 0.254_829_592)
            * t
            * (-x * x).exp();
    s * y
}

/// The logistic Z(v; μ, τ) = 1 / (1 + e^{-τ (v - μ)}) of MCC.
#[inline]
pub(crate) fn sigmoid(v: f32, mu: f32, tau: f32) -> f32 {
    1.0 / (1.0 + (-tau * (v - mu)).exp())
}

/// A sampled function on [0, max] with linear index (nearest sample), clamped at the ends.
pub(crate) struct Table<const N: usize> {
    vals: [f32; N],
    scale: f32,
}

impl<const N: usize> Table<N> {
    pub(crate) fn new(max: f32, f: impl Fn(f32) -> f32) -> Self {
        let mut vals = [0.0; N];
        for (i, v) in vals.iter_mut().enumerate() {
            *v = f(i as f32 * max / (N - 1) as f32);
        }
        Table {
            vals,
            scale: (N - 1) as f32 / max,
        }
    }

    /// The samples and the index scale, for vector lookups that must index as [`Table::get`] does.
    #[inline]
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // used by the AVX2 build only
    pub(crate) fn parts(&self) -> (&[f32; N], f32) {
        (&self.vals, self.scale)
    }

    #[inline]
    pub(crate) fn get(&self, x: f32) -> f32 {
        let i = (x * self.scale + 0.5) as usize; // saturating cast: negative → 0
        self.vals[i.min(N - 1)]
    }
}
