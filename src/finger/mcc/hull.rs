//! The minutiae's convex hull and the test of which cylinder cells lie inside it or within Ω of it.

use super::CELLS;
use crate::finger::template::Point;

/// Convex hull (counter-clockwise, y up) by Andrew's monotone chain.
pub(super) fn convex_hull(pts: &[Point]) -> Vec<(f32, f32)> {
    let mut p: Vec<(f32, f32)> = pts.iter().map(|m| (m.x, m.y)).collect();
    p.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    p.dedup();
    if p.len() < 3 {
        return p;
    }
    let cross = |o: (f32, f32), a: (f32, f32), b: (f32, f32)| {
        (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
    };
    let mut h: Vec<(f32, f32)> = Vec::with_capacity(2 * p.len());
    for &q in &p {
        while h.len() >= 2 && cross(h[h.len() - 2], h[h.len() - 1], q) <= 0.0 {
            h.pop();
        }
        h.push(q);
    }
    let lower = h.len() + 1;
    for &q in p.iter().rev().skip(1) {
        while h.len() >= lower && cross(h[h.len() - 2], h[h.len() - 1], q) <= 0.0 {
            h.pop();
        }
        h.push(q);
    }
    h.pop();
    h
}

/// A convex hull with its edges' inward unit normals, for the cell validity test.
pub(super) struct Hull {
    pub(super) pts: Vec<(f32, f32)>,
    pub(super) normals: Vec<(f32, f32)>,
}

impl Hull {
    pub(super) fn new(pts: Vec<(f32, f32)>) -> Hull {
        let n = pts.len();
        let normals = if n >= 3 {
            (0..n)
                .map(|i| {
                    let (a, b) = (pts[i], pts[(i + 1) % n]);
                    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
                    let l = (dx * dx + dy * dy).sqrt().max(1e-6);
                    (-dy / l, dx / l)
                })
                .collect()
        } else {
            Vec::new()
        };
        Hull { pts, normals }
    }
}

/// [`hull_dist_ok`] for many points of a hull of at least three vertices: `ok[c]` for (`xs[c]`,
/// `ys[c]`). The same expressions per point, with the edges in the outer loop so the points
/// vectorise; "inside" and "some edge within Ω" are order-free, so the answers are the same.
#[inline(always)]
pub(super) fn band_near(h: &[(f32, f32)], xs: &[f32], ys: &[f32], omega: f32, ok: &mut [bool]) {
    let n = h.len();
    debug_assert!(n >= 3);
    let m = xs.len();
    let (ys, ok) = (&ys[..m], &mut ok[..m]);
    let mut outside = [false; CELLS];
    let mut close = [false; CELLS];
    let (outside, close) = (&mut outside[..m], &mut close[..m]);
    for i in 0..n {
        let (a, b) = (h[i], h[(i + 1) % n]);
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let l2 = dx * dx + dy * dy;
        for c in 0..m {
            let (x, y) = (xs[c], ys[c]);
            outside[c] |= (b.0 - a.0) * (y - a.1) - (b.1 - a.1) * (x - a.0) < 0.0;
            let t = if l2 > 0.0 {
                (((x - a.0) * dx + (y - a.1) * dy) / l2).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let (px, py) = (a.0 + t * dx - x, a.1 + t * dy - y);
            close[c] |= px * px + py * py <= omega * omega;
        }
    }
    for c in 0..m {
        ok[c] = !outside[c] || close[c];
    }
}

/// True if (x, y) is inside the hull or within `omega` of it.
pub(super) fn hull_dist_ok(h: &[(f32, f32)], x: f32, y: f32, omega: f32) -> bool {
    let seg_d2 = |a: (f32, f32), b: (f32, f32)| {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let l2 = dx * dx + dy * dy;
        let t = if l2 > 0.0 {
            (((x - a.0) * dx + (y - a.1) * dy) / l2).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let (px, py) = (a.0 + t * dx - x, a.1 + t * dy - y);
        px * px + py * py
    };
    match h.len() {
        0 => false,
        1 => seg_d2(h[0], h[0]) <= omega * omega,
        2 => seg_d2(h[0], h[1]) <= omega * omega,
        n => {
            let mut inside = true;
            let mut best = f32::INFINITY;
            for i in 0..n {
                let a = h[i];
                let b = h[(i + 1) % n];
                if (b.0 - a.0) * (y - a.1) - (b.1 - a.1) * (x - a.0) < 0.0 {
                    inside = false;
                }
                best = best.min(seg_d2(a, b));
            }
            inside || best <= omega * omega
        }
    }
}
