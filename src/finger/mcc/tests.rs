//! The reference construction and the bit-for-bit checks of the fast one against it.

use std::f32::consts::TAU;

use super::cylinder::*;
use super::hull::*;
use super::*;
use crate::finger::mathx::wrap_pi;
use crate::finger::synth::Rng;
use crate::finger::template::Point;

/// The construction as it was before the speed work (template version 2), kept verbatim as
/// the reference the fast one must match bit for bit.
#[allow(clippy::needless_range_loop)]
pub(super) fn build_cylinders_reference(pts: &[Point]) -> (Vec<usize>, Vec<u64>) {
    let n = pts.len();
    let hull = convex_hull(pts);
    let half = (NS as f32 - 1.0) / 2.0;
    let sec = TAU / ND as f32;
    let cells_in_circle = (0..CELLS)
        .filter(|&c| {
            let u = (c % NS) as f32 - half;
            let v = (c / NS) as f32 - half;
            (u * u + v * v) * CELL * CELL <= R * R
        })
        .count();
    let sigma_s = SIGMA_S;
    let mu_psi = MU_PSI;
    let omega = OMEGA;
    let min_vc = MIN_VC;
    let reach = 3.0 * sigma_s;
    let mut valid_order = Vec::new();
    let mut invalid = Vec::new();
    let mut words = Vec::new();
    let mut sums = vec![0f32; ND * CELLS];
    let bt = build_tables();
    let hull = Hull::new(hull);
    let mut neighbours = Vec::with_capacity(n);
    for i in 0..n {
        let p = pts[i];
        let (s, c) = p.sincos();
        neighbours.clear();
        neighbours.extend((0..n).filter(|&j| {
            j != i && {
                let dx = pts[j].x - p.x;
                let dy = pts[j].y - p.y;
                dx * dx + dy * dy <= (R + reach) * (R + reach)
            }
        }));
        if neighbours.len() < MIN_M {
            invalid.push(i);
            continue;
        }
        // Cell validity.
        let mut mask = [0u64; WPS];
        let mut nvalid = 0;
        for cell in 0..CELLS {
            let u = ((cell % NS) as f32 - half) * CELL;
            let v = ((cell / NS) as f32 - half) * CELL;
            if u * u + v * v > R * R {
                continue;
            }
            let wx = p.x + u * c - v * s;
            let wy = p.y + u * s + v * c;
            if near(&hull, wx, wy, omega) {
                mask[cell / 64] |= 1 << (cell % 64);
                nvalid += 1;
            }
        }
        if (nvalid as f32) < min_vc * cells_in_circle as f32 {
            invalid.push(i);
            continue;
        }
        sums.iter_mut().for_each(|v| *v = 0.0);
        for &j in &neighbours {
            let q = pts[j];
            let dx = q.x - p.x;
            let dy = q.y - p.y;
            // Neighbour in the cylinder's frame (rotated by -θ).
            let lu = dx * c + dy * s;
            let lv = -dx * s + dy * c;
            let dtheta = wrap_pi(q.theta() - p.theta());
            let mut gd = [0f32; ND];
            for (k, g) in gd.iter_mut().enumerate() {
                let phi = -PI + (k as f32 + 0.5) * sec;
                *g = bt.gd.get(wrap_pi(phi - dtheta).abs());
            }
            let a0 = (((lu - reach) / CELL + half).ceil().max(0.0)) as usize;
            let a1 = (((lu + reach) / CELL + half).floor().min(NS as f32 - 1.0)) as isize;
            let b0 = (((lv - reach) / CELL + half).ceil().max(0.0)) as usize;
            let b1 = (((lv + reach) / CELL + half).floor().min(NS as f32 - 1.0)) as isize;
            if a1 < 0 || b1 < 0 {
                continue;
            }
            for b in b0..=(b1 as usize) {
                let cv = (b as f32 - half) * CELL;
                for a in a0..=(a1 as usize) {
                    let cu = (a as f32 - half) * CELL;
                    let d2 = (cu - lu) * (cu - lu) + (cv - lv) * (cv - lv);
                    if d2 > reach * reach {
                        continue;
                    }
                    let gsv = bt.gs.get(d2);
                    let cell = b * NS + a;
                    for k in 0..ND {
                        sums[k * CELLS + cell] += gsv * gd[k];
                    }
                }
            }
        }
        let base = words.len();
        words.resize(base + CYL_WORDS, 0);
        let cyl = &mut words[base..];
        for k in 0..ND {
            for cell in 0..CELLS {
                if mask[cell / 64] >> (cell % 64) & 1 == 1 && sums[k * CELLS + cell] >= mu_psi {
                    cyl[k * WPS + cell / 64] |= 1 << (cell % 64);
                }
            }
        }
        for w in 0..MASK_WORDS {
            cyl[VAL_WORDS + w] = mask[w % WPS];
        }
        valid_order.push(i);
    }
    valid_order.extend(invalid);
    (valid_order, words)
}

/// `Hull::near` as it was: the edge distances, then the exact test for undecided points.
fn near(h: &Hull, x: f32, y: f32, omega: f32) -> bool {
    if h.normals.is_empty() {
        return hull_dist_ok(&h.pts, x, y, omega);
    }
    let mut worst = 0f32;
    for (&(vx, vy), &(nx, ny)) in h.pts.iter().zip(&h.normals) {
        worst = worst.max(-(nx * (x - vx) + ny * (y - vy)));
    }
    if worst <= 0.0 {
        return true;
    }
    if worst > omega {
        return false;
    }
    hull_dist_ok(&h.pts, x, y, omega)
}

fn random_points(rng: &mut Rng, n: usize, spread: f32) -> Vec<Point> {
    (0..n)
        .map(|_| Point {
            x: rng.range(-spread, spread),
            y: rng.range(-spread, spread),
            angle: rng.below(65536) as u16,
            kind: 1,
            quality: 0,
        })
        .collect()
}

#[test]
fn transpose8_swaps_rows_and_columns() {
    let mut rng = Rng::new(3);
    for _ in 0..1000 {
        let x = rng.next_u64();
        let t = transpose8(x);
        for r in 0..8 {
            for c in 0..8 {
                assert_eq!(x >> (8 * r + c) & 1, t >> (8 * c + r) & 1);
            }
        }
    }
}

/// Both paths against the reference on the real test records (both extractors, all DBs).
#[test]
fn cylinders_of_real_records_match_the_reference() {
    for db in 1..=4 {
        for set in ["mindtct", "secugen"] {
            let dir = format!("testdata/fingerprint/fvc2002/DB{db}_B/{set}");
            for t in crate::finger::eval::load_dir(std::path::Path::new(&dir)).unwrap() {
                let pts = t.template.as_ref().points();
                let want = build_cylinders_reference(pts);
                assert!(build_cylinders(pts) == want, "{dir}/{}", t.name);
                assert!(build_cylinders_portable(pts) == want, "{dir}/{}", t.name);
            }
        }
    }
}

/// Every path (the dispatched one, the portable one) against the reference, on clouds of every
/// size and density, including hulls of fewer than three points.
#[test]
fn cylinders_match_the_reference_bit_for_bit() {
    let mut rng = Rng::new(0xC1A1);
    for round in 0..600 {
        let n = rng.below(MAX_MINUTIAE + 1);
        let spread = [10.0, 40.0, 120.0, 200.0, 600.0][round % 5];
        let mut pts = random_points(&mut rng, n, spread);
        if round % 7 == 0 && n > 1 {
            // Repeated positions: degenerate hulls and zero distances.
            let p = pts[0];
            for q in pts.iter_mut().step_by(2) {
                (q.x, q.y) = (p.x, p.y);
            }
        }
        if round % 50 == 1 && n > 3 {
            // Non-finite coordinates (from_points takes any point): the same bytes as well.
            pts[1].x = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][round % 3];
            pts[3].y = f32::NAN;
        }
        let want = build_cylinders_reference(&pts);
        assert!(build_cylinders(&pts) == want, "round {round}, {n} points");
        assert!(
            build_cylinders_portable(&pts) == want,
            "round {round}, {n} points"
        );
    }
}
