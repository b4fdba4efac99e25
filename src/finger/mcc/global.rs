//! Global consolidation: the local (LSS-R) pairs fix one rigid alignment, every minutia of A is
//! carried into B's frame and paired one-to-one with B's minutiae under a tolerance that grows with
//! the distance from the centre of the overlap (where the pairs that fixed the alignment lie, so
//! non-linear distortion has moved minutiae least); the global score is the paired count squared
//! over the two counts of minutiae inside the overlap (each side's minutiae within the other's
//! convex hull), so a small overlap is not penalised for the minutiae it could not see. It is fused
//! with the local score as a weighted geometric mean ([`Params::fusion`]).

use std::f32::consts::TAU;

use super::consolidation::Pairs;
use super::local::adiff;
use super::{Params, MAX_MINUTIAE};
use crate::finger::template::{Point, TemplateRef};

/// Largest direction difference (after the alignment) of two paired minutiae (π/6 in u16 code).
const PAIR_ANGLE: u16 = (65536u32 / 12) as u16;
/// Candidate pairs kept for the one-to-one assignment (the nearest first).
const MAX_CAND: usize = 512;

/// The fused score of a comparison whose LSS-R score is `local` with the pairs `pairs`.
pub(super) fn fuse(
    local: f32,
    a: &TemplateRef<'_>,
    b: &TemplateRef<'_>,
    pairs: &Pairs,
    p: &Params,
) -> f32 {
    if p.fusion <= 0.0 || local <= 0.0 {
        return local;
    }
    let g = global_score(a.points(), b.points(), &pairs.pairs[..pairs.n], p);
    (local.powf(1.0 - p.fusion) * g.powf(p.fusion)).clamp(0.0, 1.0)
}

/// A's minutiae carried into B's frame by the rigid alignment the pairs fix.
struct Aligned {
    /// A's minutiae (at most [`MAX_MINUTIAE`]) in B's frame.
    ta: [(f32, f32); MAX_MINUTIAE],
    /// Their count.
    na: usize,
    /// The rotation (u16 angle code).
    rot: u16,
    /// The pairs' weighted centre in B.
    cb: (f32, f32),
}

/// The alignment of `pa` onto B by `pairs` (index in A, index in B, weight): rotation by the
/// weighted circular mean of the pairs' direction differences, translation by their weighted
/// centres.
fn align(pa: &[Point], pb: &[Point], pairs: &[(u8, u8, f32)]) -> Aligned {
    let na = pa.len().min(MAX_MINUTIAE);
    let (mut sw, mut ss, mut sc) = (0f32, 0f32, 0f32);
    let (mut cax, mut cay, mut cbx, mut cby) = (0f32, 0f32, 0f32, 0f32);
    for &(i, j, w) in pairs {
        let (pi, qj) = (pa[usize::from(i)], pb[usize::from(j)]);
        let w = w.max(1e-6);
        let d = f32::from(qj.angle.wrapping_sub(pi.angle)) * (TAU / 65536.0);
        let (s, c) = d.sin_cos();
        ss += w * s;
        sc += w * c;
        sw += w;
        cax += w * pi.x;
        cay += w * pi.y;
        cbx += w * qj.x;
        cby += w * qj.y;
    }
    let (cax, cay, cbx, cby) = (cax / sw, cay / sw, cbx / sw, cby / sw);
    let phi = ss.atan2(sc);
    let (s, c) = phi.sin_cos();
    let rot = (phi.rem_euclid(TAU) * (65536.0 / TAU)) as u32 as u16;
    let mut ta = [(0f32, 0f32); MAX_MINUTIAE];
    for (t, q) in ta.iter_mut().zip(&pa[..na]) {
        let (dx, dy) = (q.x - cax, q.y - cay);
        *t = (c * dx - s * dy + cbx, s * dx + c * dy + cby);
    }
    Aligned {
        ta,
        na,
        rot,
        cb: (cbx, cby),
    }
}

/// Minutiae inside the overlap: (A's within B's convex hull, B's within A's), both enlarged by
/// `margin`, A's minutiae `ta` already in B's frame.
fn overlap_counts(ta: &[(f32, f32)], pb: &[Point], margin: f32) -> (usize, usize) {
    let nb = pb.len().min(MAX_MINUTIAE);
    let mut pts_b = [(0f32, 0f32); MAX_MINUTIAE];
    for (t, q) in pts_b.iter_mut().zip(&pb[..nb]) {
        *t = (q.x, q.y);
    }
    let mut hull = [(0f32, 0f32); 2 * MAX_MINUTIAE + 1];
    let hb = convex_hull(&pts_b[..nb], &mut hull);
    let in_b = ta
        .iter()
        .filter(|&&(x, y)| inside(&hull[..hb], x, y, margin))
        .count();
    let ha = convex_hull(ta, &mut hull);
    let in_a = pts_b[..nb]
        .iter()
        .filter(|&&(x, y)| inside(&hull[..ha], x, y, margin))
        .count();
    (in_b, in_a)
}

/// The fewer of the two overlap counts ([`overlap_counts`]) under the alignment `pairs` fix; with
/// fewer than 2 pairs (no alignment), the fewer of the two minutia counts.
pub(super) fn overlap(pa: &[Point], pb: &[Point], pairs: &[(u8, u8, f32)], margin: f32) -> usize {
    let (na, nb) = (pa.len().min(MAX_MINUTIAE), pb.len().min(MAX_MINUTIAE));
    if pairs.len() < 2 {
        return na.min(nb);
    }
    let al = align(pa, pb, pairs);
    let (in_b, in_a) = overlap_counts(&al.ta[..al.na], pb, margin);
    in_b.min(in_a)
}

/// The global score in [0, 1] of `pa` against `pb` aligned by `pairs` (index in A, index in B,
/// weight).
pub(super) fn global_score(pa: &[Point], pb: &[Point], pairs: &[(u8, u8, f32)], p: &Params) -> f32 {
    if pairs.len() < 2 {
        return 0.0;
    }
    let nb = pb.len().min(MAX_MINUTIAE);
    let al = align(pa, pb, pairs);
    let (rot, (cbx, cby)) = (al.rot, al.cb);
    let ta = &al.ta[..al.na];
    // Candidate pairs within the growing tolerance, nearest (relative to it) first.
    let mut cand = [(0f32, 0u8, 0u8); MAX_CAND];
    let mut m = 0;
    'outer: for (i, &(x, y)) in ta.iter().enumerate() {
        let ang = pa[i].angle.wrapping_add(rot);
        for (j, q) in pb[..nb].iter().enumerate() {
            let (rx, ry) = (q.x - cbx, q.y - cby);
            let tol = p.tol0 + p.tol_slope * (rx * rx + ry * ry).sqrt();
            let (dx, dy) = (q.x - x, q.y - y);
            let d2 = dx * dx + dy * dy;
            if d2 <= tol * tol && adiff(ang, q.angle) <= PAIR_ANGLE {
                cand[m] = (d2.sqrt() / tol, i as u8, j as u8);
                m += 1;
                if m == MAX_CAND {
                    break 'outer;
                }
            }
        }
    }
    let cand = &mut cand[..m];
    cand.sort_unstable_by(|x, y| x.0.total_cmp(&y.0).then((x.1, x.2).cmp(&(y.1, y.2))));
    let mut used_a = [false; MAX_MINUTIAE];
    let mut used_b = [false; MAX_MINUTIAE];
    let mut paired = 0usize;
    for &(_, i, j) in cand.iter() {
        let (i, j) = (usize::from(i), usize::from(j));
        if !used_a[i] && !used_b[j] {
            used_a[i] = true;
            used_b[j] = true;
            paired += 1;
        }
    }
    let (in_b, in_a) = overlap_counts(ta, pb, p.margin);
    let m0 = p.min_overlap as f32;
    let den = (in_b as f32).max(m0) * (in_a as f32).max(m0);
    ((paired * paired) as f32 / den).min(1.0)
}

/// Convex hull of `pts` (counter-clockwise, y up) by Andrew's monotone chain, into `out`; returns
/// its vertex count.
fn convex_hull(pts: &[(f32, f32)], out: &mut [(f32, f32); 2 * MAX_MINUTIAE + 1]) -> usize {
    let mut v = [(0f32, 0f32); MAX_MINUTIAE];
    let n = pts.len().min(MAX_MINUTIAE);
    v[..n].copy_from_slice(&pts[..n]);
    let v = &mut v[..n];
    v.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    if n < 3 {
        out[..n].copy_from_slice(v);
        return n;
    }
    let cross = |o: (f32, f32), a: (f32, f32), b: (f32, f32)| {
        (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
    };
    let mut k = 0;
    for &p in v.iter() {
        while k >= 2 && cross(out[k - 2], out[k - 1], p) <= 0.0 {
            k -= 1;
        }
        out[k] = p;
        k += 1;
    }
    let lower = k + 1;
    for &p in v.iter().rev().skip(1) {
        while k >= lower && cross(out[k - 2], out[k - 1], p) <= 0.0 {
            k -= 1;
        }
        out[k] = p;
        k += 1;
    }
    k - 1
}

/// Whether (x, y) lies inside the counter-clockwise hull `h` or within about `margin` of it (each
/// edge's line moved out by `margin`).
fn inside(h: &[(f32, f32)], x: f32, y: f32, margin: f32) -> bool {
    if h.len() < 3 {
        return false;
    }
    for k in 0..h.len() {
        let (a, b) = (h[k], h[(k + 1) % h.len()]);
        let (ex, ey) = (b.0 - a.0, b.1 - a.1);
        let cross = ex * (y - a.1) - ey * (x - a.0);
        if cross < -margin * (ex * ex + ey * ey).sqrt() {
            return false;
        }
    }
    true
}
