//! Consolidation (MCC's LSS-R): the best one-to-one pairs by λ, relaxed by their pairs' geometric
//! compatibility; the score is the mean relaxed λ of the most efficient pairs.

use std::f32::consts::{PI, TAU};

use super::global::overlap;
use super::local::{adiff, Cand, QBUCKETS};
use super::*;
use crate::finger::mathx::{sigmoid, Table};
use crate::finger::template::TemplateRef;

/// Length of [`Tables::sqrt`]: a power of two above every popcount of a cylinder.
pub(super) const SQRT_LEN: usize = (CYL_WORDS * 64 + 1).next_power_of_two();

/// Lookup tables for the comparison.
pub(super) struct Tables {
    /// sqrt of popcounts (those above `CYL_WORDS · 64` unused: the length is the power of two
    /// that lets an index be masked instead of bounds-checked).
    pub(super) sqrt: [f32; SQRT_LEN],
    /// ρ1 over the distance difference (px).
    pub(super) z1: Table<256>,
    /// ρ2 over the direction difference (rad).
    pub(super) z2: Table<256>,
    /// ρ3 over 1 − cos of the radial angle difference.
    pub(super) z3: Table<512>,
    /// n_P per min(nA, nB).
    pub(super) np: [usize; MAX_MINUTIAE + 1],
    /// Direction difference (u16 code) beyond which ρ2 < 1e-4.
    pub(super) z2_cut: u16,
    /// Distance difference beyond which ρ1 < 1e-4.
    pub(super) z1_cut: f32,
}

pub(super) fn tables() -> &'static Tables {
    static T: std::sync::OnceLock<Tables> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let mut np = [0; MAX_MINUTIAE + 1];
        for (n, v) in np.iter_mut().enumerate() {
            *v = MIN_NP
                + (sigmoid(n as f32, MU_P, TAU_P) * (MAX_NP - MIN_NP) as f32).round() as usize;
        }
        // Z(v) = 1e-4 where τ (v − μ) = ln(1e4 − 1).
        let cut = |mu: f32, tau: f32| mu + (1e4f32 - 1.0).ln() / -tau;
        Tables {
            sqrt: std::array::from_fn(|i| (i as f32).sqrt()),
            z1: Table::new(24.0, |d| sigmoid(d, MU_RHO1, TAU_RHO1)),
            z2: Table::new(PI, |d| sigmoid(d, MU_RHO2, TAU_RHO2)),
            z3: Table::new(0.5, |omc| {
                let d = (1.0 - omc).clamp(-1.0, 1.0).acos();
                sigmoid(d, MU_RHO3, TAU_RHO3)
            }),
            np,
            z2_cut: (cut(MU_RHO2, TAU_RHO2) / TAU * 65536.0) as u16,
            z1_cut: cut(MU_RHO1, TAU_RHO1),
        }
    })
}

/// Local similarity sort with relaxation (MCC's LSS-R), on the candidate pairs (λ, i, j).
pub(super) fn lssr(
    a: &TemplateRef<'_>,
    b: &TemplateRef<'_>,
    cand: &[Cand],
    sorted: &mut Vec<Cand>,
    t: &Tables,
    pairs: &mut Pairs,
    p: &Params,
) -> f32 {
    let rho1_growth = p.rho1_growth;
    let n_min = a.n_cyl().min(b.n_cyl());
    let nr = n_min.min(NR_MAX);
    pairs.n = 0;
    if cand.is_empty() {
        return 0.0;
    }
    // Top pairs by local similarity, each minutia used at most once (greedy). The minutiae used
    // are bits of one word per side (MAX_MINUTIAE = 64), so the greedy pass has no branch on
    // them.
    const { assert!(MAX_MINUTIAE <= 64) };
    let mut used_a = 0u64;
    let mut used_b = 0u64;
    let mut sel: [(f32, u8, u8); NR_MAX] = [(0.0, 0, 0); NR_MAX];
    let mut m = 0;
    // Bucket sort by λ quantised to 1/1024 (descending; ties in matrix order), then greedy.
    // Counting sort on the precomputed buckets; the prefix sum spans only the occupied ones.
    let mut start = [0u16; QBUCKETS + 1];
    let (mut lo, mut hi) = (QBUCKETS, 0);
    for c in cand.iter() {
        let q = usize::from(c.q);
        start[q] += 1;
        lo = lo.min(q);
        hi = hi.max(q);
    }
    let mut acc = 0u16;
    for v in start[lo..=hi].iter_mut() {
        let h = *v;
        *v = acc;
        acc += h;
    }
    sorted.clear();
    sorted.resize(cand.len(), Cand::default());
    for &c in cand.iter() {
        let q = usize::from(c.q);
        sorted[usize::from(start[q])] = c;
        start[q] += 1;
    }
    if p.min_quality > 0 {
        // Minutiae of known quality below the floor take no part in the consolidation.
        let low = |q: u8| q > 0 && q < p.min_quality;
        for (k, pt) in a.points().iter().enumerate().take(MAX_MINUTIAE) {
            used_a |= u64::from(low(pt.quality)) << k;
        }
        for (k, pt) in b.points().iter().enumerate().take(MAX_MINUTIAE) {
            used_b |= u64::from(low(pt.quality)) << k;
        }
    }
    for c in sorted.iter() {
        // Every pair is written to the next slot, which only a pair of two unused minutiae keeps.
        let free = !((used_a >> c.i) | (used_b >> c.j)) & 1;
        sel[m] = (c.lam, c.i, c.j);
        used_a |= free << c.i;
        used_b |= free << c.j;
        m += free as usize;
        if m == nr {
            break;
        }
    }
    let sel = &sel[..m];
    // Pair data, structure of arrays.
    let mut ax = [0f32; NR_MAX];
    let mut ay = [0f32; NR_MAX];
    let mut bx = [0f32; NR_MAX];
    let mut by = [0f32; NR_MAX];
    let mut dang = [0u16; NR_MAX];
    // cos and sin of each pair's frame rotation φ = θb − θa.
    let mut cphi = [0f32; NR_MAX];
    let mut sphi = [0f32; NR_MAX];
    for (ti, &(_, i, j)) in sel.iter().enumerate() {
        let p = a.point(i as usize);
        let q = b.point(j as usize);
        (ax[ti], ay[ti]) = (p.x, p.y);
        (bx[ti], by[ti]) = (q.x, q.y);
        dang[ti] = q.angle.wrapping_sub(p.angle);
        (sphi[ti], cphi[ti]) = (f32::from(dang[ti]) * (TAU / 65536.0)).sin_cos();
    }
    // Compatibility ρ(t, k) of every two selected pairs, kept sparse (most pairs of pairs are
    // incompatible). Cheapest test first: the direction difference, then the distances.
    let d2_max = t.z2_cut;
    let l_max = t.z1_cut;
    let mut nnz = [0u8; NR_MAX];
    let mut rk = [[0u8; NR_MAX]; NR_MAX];
    let mut rv = [[0f32; NR_MAX]; NR_MAX];
    let mut push = |ti: usize, ki: usize, r: f32| {
        if r > 1e-4 {
            let n = nnz[ti] as usize;
            rk[ti][n] = ki as u8;
            rv[ti][n] = r;
            nnz[ti] += 1;
        }
    };
    for ti in 0..m {
        // The pairs after t within the direction difference, listed without a branch (most pairs
        // of a non-mated comparison fail it, unpredictably).
        let mut ks = [0u8; NR_MAX];
        let mut nk = 0;
        for ki in ti + 1..m {
            ks[nk] = ki as u8;
            nk += usize::from(adiff(dang[ki], dang[ti]) <= d2_max);
        }
        for &ki in &ks[..nk] {
            let ki = usize::from(ki);
            let d2 = adiff(dang[ki], dang[ti]);
            let (dxa, dya) = (ax[ki] - ax[ti], ay[ki] - ay[ti]);
            let (dxb, dyb) = (bx[ki] - bx[ti], by[ki] - by[ti]);
            let la = (dxa * dxa + dya * dya).sqrt();
            let lb = (dxb * dxb + dyb * dyb).sqrt();
            let mut dl = (la - lb).abs();
            if rho1_growth > 0.0 {
                // Distortion tolerance: a distance difference counts less between far minutiae.
                dl /= 1.0 + rho1_growth * (la + lb) / 200.0;
            }
            if dl > l_max {
                continue;
            }
            let r12 = t.z1.get(dl) * t.z2.get(f32::from(d2) * (TAU / 65536.0));
            let den = la * lb;
            if den <= 0.0 {
                push(ti, ki, r12);
                push(ki, ti, r12);
                continue;
            }
            let inv = 1.0 / den;
            // The segment's direction in each minutia's own frame, compared through the cosine of
            // the angle between them (ρ3), seen from t and from k. The dot product of the segment
            // rotated into a's and b's frames, R(−θa)·d_a · R(−θb)·d_b = d_a · R(−φ)·d_b with
            // φ = θb − θa, is cos φ (d_a · d_b) + sin φ (d_a × d_b): only the frames' relative
            // rotation matters, and the dot and cross products are shared by t and k.
            let dot = dxa * dxb + dya * dyb;
            let cross = dxa * dyb - dya * dxb;
            let cos_t = (cphi[ti] * dot + sphi[ti] * cross) * inv;
            let cos_k = (cphi[ki] * dot + sphi[ki] * cross) * inv;
            push(ti, ki, r12 * t.z3.get(1.0 - cos_t));
            push(ki, ti, r12 * t.z3.get(1.0 - cos_k));
        }
    }
    // Relaxation, then the most efficient pairs. With `relax_overlap`, a second pass divides the
    // support by the overlap's minutiae (under the first pass's alignment) instead of m − 1.
    let mut denom = if m > 1 { (m - 1) as f32 } else { 1.0 };
    let max_np = p.max_np.clamp(MIN_NP, MAX_NP_PARAM);
    let np_of = |n: usize, mu: f32| {
        MIN_NP + (sigmoid(n as f32, mu, TAU_P) * (max_np - MIN_NP) as f32).round() as usize
    };
    let np_templates = if max_np == MAX_NP {
        t.np[n_min.min(MAX_MINUTIAE)]
    } else {
        np_of(n_min, MU_P)
    };
    let mut n_ov = None;
    let passes = if p.relax_overlap { 2 } else { 1 };
    let mut eff: [(f32, f32, u8); NR_MAX] = [(0.0, 0.0, 0); NR_MAX];
    let mut top_n = 0;
    for pass in 0..passes {
        if pass == 1 {
            let n = *n_ov.get_or_insert_with(|| {
                overlap(a.points(), b.points(), &pairs.pairs[..pairs.n], p.margin)
            });
            denom = denom.min((n.max(2) - 1) as f32);
        }
        let mut lam = [0f32; NR_MAX];
        let mut next = [0f32; NR_MAX];
        for (ti, pr) in sel.iter().enumerate() {
            lam[ti] = pr.0;
        }
        let wr = W_R;
        for _ in 0..N_REL {
            for ti in 0..m {
                let n = nnz[ti] as usize;
                let mut acc = 0.0;
                for (&k, &r) in rk[ti][..n].iter().zip(&rv[ti][..n]) {
                    acc += r * lam[k as usize];
                }
                next[ti] = wr * lam[ti] + (1.0 - wr) * acc / denom;
            }
            lam[..m].copy_from_slice(&next[..m]);
        }
        // Efficiency ε = λ_final / λ_initial; average λ_final of the n_P most efficient pairs.
        for ti in 0..m {
            let e = if p.rank_relaxed {
                lam[ti]
            } else {
                lam[ti] / sel[ti].0
            };
            eff[ti] = (e, lam[ti], ti as u8);
        }
        let eff = &mut eff[..m];
        let top = np_templates.min(m);
        // Only the `top` most efficient are needed (then in descending order, as they are summed).
        // Ties are common (every pair without a compatible one keeps ε = wR^N_REL), so they are
        // broken by selection order (higher initial λ first): a total order, the same result
        // however sorted.
        let by_eff =
            |x: &(f32, f32, u8), y: &(f32, f32, u8)| y.0.total_cmp(&x.0).then(x.2.cmp(&y.2));
        if top < m {
            eff.select_nth_unstable_by(top, by_eff);
        }
        let top = &mut eff[..top];
        top.sort_unstable_by(by_eff);
        pairs.n = top.len();
        for (k, e) in top.iter().enumerate() {
            let (_, i, j) = sel[usize::from(e.2)];
            pairs.pairs[k] = (i, j, e.1);
        }
        top_n = top.len();
    }
    let np = if p.np_overlap_mu > 0.0 {
        let n = *n_ov.get_or_insert_with(|| {
            overlap(a.points(), b.points(), &pairs.pairs[..pairs.n], p.margin)
        });
        np_of(n, p.np_overlap_mu).min(np_templates)
    } else {
        np_templates
    };
    let sum: f32 = eff[..top_n].iter().take(np).map(|e| e.1).sum();
    sum / np as f32
}

/// The pairs behind an LSS-R score: (minutia of A, minutia of B, relaxed λ), most efficient first.
pub(super) struct Pairs {
    pub(super) pairs: [(u8, u8, f32); MAX_NP_PARAM],
    pub(super) n: usize,
}

impl Pairs {
    pub(super) const EMPTY: Pairs = Pairs {
        pairs: [(0, 0, 0.0); MAX_NP_PARAM],
        n: 0,
    };
}
