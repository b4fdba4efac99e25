//! Local matching: the global rotation estimate and the local similarity λ of every direction-
//! compatible cylinder pair (popcounts), collected as candidates for the consolidation.

use std::cell::RefCell;
use std::f32::consts::TAU;

use super::consolidation::{lssr, tables, Pairs, SQRT_LEN};
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
    /// Candidate pairs (λ > 0), the first `n` of `MAX_MINUTIAE²` slots: a row writes every pair
    /// into the next slot and advances past those with λ > 0 (no branch on λ).
    pub(super) cand: Vec<Cand>,
    /// λ of the rotation-sample rows against all of B (`MAX_MINUTIAE` per row).
    pub(super) rows: Vec<f32>,
    /// The candidates in descending λ order.
    pub(super) sorted: Vec<Cand>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch {
        cand: vec![Cand::default(); MAX_MINUTIAE * MAX_MINUTIAE],
        rows: vec![0.0; ROT_SAMPLES * MAX_MINUTIAE],
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

/// The local similarity λ of a counted cylinder pair: 0 where the pair has too few commonly valid
/// cells (or no value bit), else `1 − √nx / (√na + √nb)`, computed either way and selected (no
/// branch).
#[inline(always)]
fn lambda(c: &Counts, sqrt: &[f32; SQRT_LEN], min_common: u32) -> f32 {
    // Counts are at most CYL_WORDS · 64 < SQRT_LEN: the masks only spare the bounds checks.
    let v = 1.0
        - sqrt[c.nx as usize & (SQRT_LEN - 1)]
            / (sqrt[c.na as usize & (SQRT_LEN - 1)] + sqrt[c.nb as usize & (SQRT_LEN - 1)]);
    if c.common < min_common || c.na + c.nb == 0 {
        0.0
    } else {
        v
    }
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
        let mut idx = [0u8; MAX_MINUTIAE];
        let mut counts = [Counts::default(); MAX_MINUTIAE];
        let bcyl = b.cylinders();
        // Global rotation estimate: the best match of up to ROT_SAMPLES cylinders of A among all of
        // B's votes for its direction difference; the direction check below is relative to it.
        let mut all_idx = [0u8; MAX_MINUTIAE];
        for (j, x) in all_idx.iter_mut().enumerate().take(nb) {
            *x = j as u8;
        }
        let mut votes = [0f32; ROT_BINS];
        let step = na.div_ceil(ROT_SAMPLES).max(1);
        // The sampled rows' λ are kept whole: the pass below takes its direction-checked subset.
        let rows = &mut s.rows;
        for (r, i) in (0..na).step_by(step).enumerate() {
            let row = &mut rows[r * MAX_MINUTIAE..r * MAX_MINUTIAE + nb];
            kernel(a.cylinder(i), bcyl, &all_idx[..nb], &mut counts[..nb]);
            for (l, c) in row.iter_mut().zip(&counts[..nb]) {
                *l = lambda(c, &t.sqrt, min_common);
            }
            let (mut best, mut bj) = (0.0, 0);
            for (j, &l) in row.iter().enumerate() {
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
        let cand = &mut s.cand[..MAX_MINUTIAE * MAX_MINUTIAE];
        let mut nc = 0;
        let nb_mask = u64::MAX >> (64 - nb);
        for i in 0..na {
            let ta = a.point(i).angle.wrapping_add(rot);
            // B's minutiae within the direction difference as the bits of one word: the tests
            // over all MAX_MINUTIAE slots (a loop that vectorises), each 8 bytes of 0/1 gathered
            // into 8 bits by a multiply (bit k ← byte k), then the set bits listed in order.
            let mut pass = [0u8; MAX_MINUTIAE];
            for (p, &bj) in pass.iter_mut().zip(&bang) {
                *p = u8::from(adiff(ta, bj) <= dtheta_max);
            }
            let mut mask = 0u64;
            for (k, ch) in pass.chunks_exact(8).enumerate() {
                let bytes = u64::from_le_bytes(ch.try_into().expect("8 bytes"));
                mask |= (bytes.wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * k);
            }
            mask &= nb_mask;
            let mut n = 0;
            while mask != 0 {
                idx[n] = mask.trailing_zeros() as u8;
                n += 1;
                mask &= mask - 1;
            }
            // Every pair is written to the next slot, which only those with λ > 0 keep (at most
            // MAX_MINUTIAE per row and MAX_MINUTIAE rows, so the slot exists).
            let mut keep = |l: f32, j: u8| {
                cand[nc] = Cand {
                    lam: l,
                    q: qbucket(l) as u16,
                    i: i as u8,
                    j,
                };
                nc += usize::from(l > 0.0);
            };
            if i % step == 0 {
                let row = &rows[(i / step) * MAX_MINUTIAE..];
                for &j in &idx[..n] {
                    keep(row[usize::from(j)], j);
                }
            } else {
                kernel(a.cylinder(i), bcyl, &idx[..n], &mut counts[..n]);
                for (c, &j) in counts[..n].iter().zip(&idx[..n]) {
                    keep(lambda(c, &t.sqrt, min_common), j);
                }
            }
        }
        let mut pairs = Pairs::EMPTY;
        let local = lssr(a, b, &s.cand[..nc], &mut s.sorted, t, &mut pairs, p);
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

/// Bucket of λ ∈ (0, 1] in descending order (bucket 0 holds the highest). Any other λ (0, for a
/// pair that is not a candidate) gets some bucket in 0..=QBUCKETS.
#[inline]
pub(super) fn qbucket(l: f32) -> usize {
    // Truncation toward zero (saturating: NaN and negatives give 0).
    let k = (l * QBUCKETS as f32) as u32 as usize;
    QBUCKETS - k.min(QBUCKETS)
}
