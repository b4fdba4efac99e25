//! Local matching: the global rotation estimate and the local similarity λ of every direction-
//! compatible cylinder pair (popcounts), collected as candidates for the consolidation.

use std::cell::RefCell;
use std::f32::consts::TAU;

use super::consolidation::{lssr, tables, Pairs};
use super::global::fuse;
use super::*;
use crate::finger::template::TemplateRef;
use crate::kernels::popcnt::{Counts, PairFn};

/// A candidate pair: local similarity λ, its sort bucket, the minutia of A and of B.
#[derive(Clone, Copy, Default)]
pub(super) struct Cand {
    pub(super) lam: f32,
    pub(super) q: u16,
    pub(super) i: u8,
    pub(super) j: u8,
}

/// Per-thread scratch space, so a comparison allocates nothing.
pub(super) struct Scratch {
    pub(super) cand: Vec<Cand>,
    /// Counts of the rotation-sample rows against all of B (`MAX_MINUTIAE` per row).
    pub(super) rows: Vec<Counts>,
    /// The candidates in descending λ order.
    pub(super) sorted: Vec<Cand>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch {

        cand: Vec::with_capacity(MAX_MINUTIAE * MAX_MINUTIAE),
        rows: vec![Counts::default(); ROT_SAMPLES * MAX_MINUTIAE],
        sorted: Vec::with_capacity(MAX_MINUTIAE * MAX_MINUTIAE),
    });
}

/// Angle difference of two u16-coded angles (65536 = 2π), absolute, in code units (0..=32768).
#[inline]
pub(super) fn adiff(a: u16, b: u16) -> u16 {
    (a.wrapping_sub(b) as i16).unsigned_abs()
}

/// Compares two prepared templates with the given pair kernel. Score in [0, 1].
pub(crate) fn compare_with(a: &TemplateRef<'_>, b: &TemplateRef<'_>, kernel: PairFn) -> f32 {
    compare_params(a, b, kernel, &Params::DEFAULT)
}

/// [`compare_with`] with the given consolidation parameters.
pub(crate) fn compare_params(
    a: &TemplateRef<'_>,
    b: &TemplateRef<'_>,
    kernel: PairFn,
    p: &Params,
) -> f32 {
    let na = a.n_cyl();
    let nb = b.n_cyl();
    if na == 0 || nb == 0 {
        return 0.0;
    }
    let t = tables();
    let min_common = (MIN_ME * cells_in_circle() as f32) as u32;
    let dtheta_max = (DELTA_THETA / TAU * 65536.0) as u16;
    SCRATCH.with(|s| {
        let s = &mut *s.borrow_mut();
        s.cand.clear();
        let mut idx = [0u8; MAX_MINUTIAE];
        let mut counts = [Counts::default(); MAX_MINUTIAE];
        let bcyl = b.cylinders();
        let lambda = |c: &Counts| {
            if c.common < min_common || c.na + c.nb == 0 {
                0.0
            } else {
                1.0 - t.sqrt[c.nx as usize] / (t.sqrt[c.na as usize] + t.sqrt[c.nb as usize])
            }
        };
        // Global rotation estimate: the best match of up to ROT_SAMPLES cylinders of A among all of
        // B's votes for its direction difference; the direction check below is relative to it.
        let mut all_idx = [0u8; MAX_MINUTIAE];
        for (j, x) in all_idx.iter_mut().enumerate().take(nb) {
            *x = j as u8;
        }
        let mut votes = [0f32; ROT_BINS];
        let step = na.div_ceil(ROT_SAMPLES).max(1);
        // The sampled rows are kept whole: the pass below takes its direction-checked subset.
        let rows = &mut s.rows;
        for (r, i) in (0..na).step_by(step).enumerate() {
            let row = &mut rows[r * MAX_MINUTIAE..r * MAX_MINUTIAE + nb];
            kernel(a.cylinder(i), bcyl, &all_idx[..nb], row);
            let (mut best, mut bj) = (0.0, 0);
            for (j, c) in row.iter().enumerate() {
                let l = lambda(c);
                if l > best {
                    best = l;
                    bj = j;
                }
            }
            if best > 0.0 {
                let d = b.point(bj).angle.wrapping_sub(a.point(i).angle);
                votes[usize::from(d) * ROT_BINS / 65536] += best;
            }
        }
        // Peak of the circular histogram smoothed over three bins.
        let mut peak = 0;
        let mut peak_v = -1.0;
        for k in 0..ROT_BINS {
            let v = votes[(k + ROT_BINS - 1) % ROT_BINS] + votes[k] + votes[(k + 1) % ROT_BINS];
            if v > peak_v {
                peak_v = v;
                peak = k;
            }
        }
        // Upright unless the votes agree clearly on a rotation beyond ±ROT_FREE: the data this was
        // tuned on (and most sensors with a finger guide) is near upright, and a weak estimate on an
        // upright pair would only cost accuracy.
        let total: f32 = votes.iter().sum();
        let centre = ((peak * 65536 + 32768) / ROT_BINS) as u16;
        let far = adiff(centre, 0) > (ROT_FREE / TAU * 65536.0) as u16;
        let rot = if far && peak_v >= ROT_CONFIDENCE * total {
            centre
        } else {
            0
        };
        let mut bang = [0u16; MAX_MINUTIAE];
        for (j, x) in bang[..nb].iter_mut().enumerate() {
            *x = b.point(j).angle;
        }
        for i in 0..na {
            let ta = a.point(i).angle.wrapping_add(rot);
            let mut n = 0;
            for (j, &bj) in bang[..nb].iter().enumerate() {
                idx[n] = j as u8;
                n += usize::from(adiff(ta, bj) <= dtheta_max);
            }
            if i % step == 0 {
                let row = &rows[(i / step) * MAX_MINUTIAE..];
                for (c, &j) in counts[..n].iter_mut().zip(&idx[..n]) {
                    *c = row[usize::from(j)];
                }
            } else {
                kernel(a.cylinder(i), bcyl, &idx[..n], &mut counts[..n]);
            }
            for (c, &j) in counts[..n].iter().zip(&idx[..n]) {
                let lam = lambda(c);
                if lam > 0.0 {
                    s.cand.push(Cand {
                        lam,
                        q: qbucket(lam) as u16,
                        i: i as u8,
                        j,
                    });
                }
            }
        }
        let mut pairs = Pairs::EMPTY;
        let local = lssr(a, b, &s.cand, &mut s.sorted, t, &mut pairs, p);
        fuse(local, a, b, &pairs, p)
    })
}

pub(super) fn cells_in_circle() -> usize {
    static N: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *N.get_or_init(|| {
        let half = (NS as f32 - 1.0) / 2.0;
        (0..CELLS)
            .filter(|&c| {
                let u = (c % NS) as f32 - half;
                let v = (c / NS) as f32 - half;
                (u * u + v * v) * CELL * CELL <= R * R
            })
            .count()
    })
}

pub(super) const QBUCKETS: usize = 1024;

/// Bucket of λ ∈ (0, 1] in descending order (bucket 0 holds the highest).
#[inline]
pub(super) fn qbucket(l: f32) -> usize {
    debug_assert!(l > 0.0 && l <= 1.0);
    // SAFETY: λ is in (0, 1] (a candidate has λ > 0, and λ = 1 − a ratio of non-negative terms), so
    // λ · QBUCKETS is finite and in (0, QBUCKETS], representable as u32.
    let k = unsafe { (l * QBUCKETS as f32).to_int_unchecked::<u32>() } as usize;
    QBUCKETS - k.min(QBUCKETS)
}
