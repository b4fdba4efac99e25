//! Minutia Cylinder-Code: cylinder construction (at preparation time) and the comparison of two
//! prepared templates (local similarities by popcount, relaxation, consolidation).
//!
//! See the module docs of [`crate::finger`] for the reasoning and the parameters.

use std::cell::RefCell;
use std::f32::consts::{PI, TAU};

use super::mathx::{erf, sigmoid, wrap_pi, Table};
use super::template::{Point, TemplateRef};
use crate::kernels::popcnt::{Counts, PairFn};

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
/// See [`MIN_NP`].
pub const MU_P: f32 = 20.0;
/// See [`MIN_NP`].
pub const TAU_P: f32 = 0.4;

const CELL: f32 = 2.0 * R / NS as f32;

/// Builds the cylinders of `pts` (internal units). Returns the order in which minutiae are to be
/// stored (valid cylinders first) and the cylinder words of the valid ones.
///
/// The output is frozen by the template version: every cell's sum is the same floating-point
/// expression, with the same terms added in the same (neighbour) order, as in the straightforward
/// construction kept as `tests::build_cylinders_reference`. The speed comes from work that does not
/// touch that arithmetic: sums kept cell-major (one cell's `ND` sections are adjacent, so each
/// neighbour's contribution to a cell is one 8-lane multiply and add, each lane the scalar
/// operation of its section), the cell offsets and section centres precomputed, the validity test
/// run over all cells per hull edge (vectorisable) instead of per cell over the edges, and the
/// thresholded bits packed a byte of sections per cell and transposed into section words.
pub(crate) fn build_cylinders(pts: &[Point]) -> (Vec<usize>, Vec<u64>) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (just checked).
        return unsafe { build_cylinders_avx2(pts) };
    }
    build_cylinders_portable(pts)
}

/// [`build_cylinders`] for any CPU (the baseline instruction set).
pub(crate) fn build_cylinders_portable(pts: &[Point]) -> (Vec<usize>, Vec<u64>) {
    // SAFETY: without AVX2 code.
    unsafe { build_cylinders_with::<false>(pts) }
}

/// [`build_cylinders`] compiled for AVX2: the same code, so the same operations on each value
/// (Rust never contracts a multiply and an add into an FMA), with 8-lane registers for a cell's
/// sections and for the per-cell loops.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn build_cylinders_avx2(pts: &[Point]) -> (Vec<usize>, Vec<u64>) {
    // SAFETY: the CPU supports AVX2 (this function's contract).
    unsafe { build_cylinders_with::<true>(pts) }
}

/// The construction; with `AVX2`, the thresholds use AVX2 intrinsics.
///
/// # Safety
/// With `AVX2`, the CPU must support AVX2.
#[inline(always)]
unsafe fn build_cylinders_with<const AVX2: bool>(pts: &[Point]) -> (Vec<usize>, Vec<u64>) {
    let n = pts.len();
    let g = grid();
    let bt = build_tables();
    let hull = Hull::new(convex_hull(pts));
    let reach = REACH;
    let near2 = (R + reach) * (R + reach);
    let mut valid_order = Vec::with_capacity(n);
    let mut invalid = Vec::new();
    let mut words = Vec::with_capacity(n * CYL_WORDS);
    let mut sums = vec![[0f32; ND]; CELLS];
    let mut neighbours = Vec::with_capacity(n);
    for i in 0..n {
        let p = pts[i];
        let (s, c) = p.sincos();
        neighbours.clear();
        neighbours.extend((0..n).filter(|&j| {
            j != i && {
                let dx = pts[j].x - p.x;
                let dy = pts[j].y - p.y;
                dx * dx + dy * dy <= near2
            }
        }));
        if neighbours.len() < MIN_M {
            invalid.push(i);
            continue;
        }
        let Some(mask) = validity(&hull, g, p, s, c) else {
            invalid.push(i);
            continue;
        };
        sums.fill([0.0; ND]);
        for &j in &neighbours {
            // SAFETY: passed on from this function's contract.
            unsafe { accumulate::<AVX2>(&mut sums, bt, g, p, pts[j], s, c) };
        }
        let base = words.len();
        words.resize(base + CYL_WORDS, 0);
        // SAFETY: passed on from this function's contract.
        unsafe { threshold::<AVX2>(&sums, &mask, &mut words[base..]) };
        valid_order.push(i);
    }
    valid_order.extend(invalid);
    (valid_order, words)
}

/// Neighbours contribute to cells within 3σS of them (and minutiae within R + 3σS are neighbours).
const REACH: f32 = 3.0 * SIGMA_S;
const HALF: f32 = (NS as f32 - 1.0) / 2.0;

/// The cell grid in the cylinder's frame: each cell centre's offset from the minutia, whether it
/// lies within the radius (the cells that can be valid), and the centre of each direction section.
struct Grid {
    u: [f32; CELLS],
    v: [f32; CELLS],
    in_circle: [bool; CELLS],
    phi: [f32; ND],
    /// Cell-centre offsets along a row, continued 8 cells past the last column (vector loads of
    /// a row's cells; the extra lanes are masked). Only the x86-64 AVX2 path reads it.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    row_u: [f32; NS + 8],
}

fn grid() -> &'static Grid {
    static G: std::sync::OnceLock<Grid> = std::sync::OnceLock::new();
    G.get_or_init(|| {
        let mut g = Grid {
            u: [0.0; CELLS],
            v: [0.0; CELLS],
            in_circle: [false; CELLS],
            phi: [0.0; ND],
            row_u: [0.0; NS + 8],
        };
        for (a, u) in g.row_u.iter_mut().enumerate() {
            *u = (a as f32 - HALF) * CELL;
        }
        for cell in 0..CELLS {
            let u = ((cell % NS) as f32 - HALF) * CELL;
            let v = ((cell / NS) as f32 - HALF) * CELL;
            g.u[cell] = u;
            g.v[cell] = v;
            g.in_circle[cell] = u * u + v * v <= R * R;
        }
        let sec = TAU / ND as f32;
        for (k, phi) in g.phi.iter_mut().enumerate() {
            *phi = -PI + (k as f32 + 0.5) * sec;
        }
        g
    })
}

/// The validity mask of the cylinder of a minutia at `p` with direction (sin, cos) = (`s`, `c`):
/// cells within the radius and inside the hull or within Ω of it. `None` when fewer than `MIN_VC`
/// of the cells within the radius are valid.
#[inline(always)]
fn validity(hull: &Hull, g: &Grid, p: Point, s: f32, c: f32) -> Option<[u64; WPS]> {
    let mut wx = [0f32; CELLS];
    let mut wy = [0f32; CELLS];
    for cell in 0..CELLS {
        let (u, v) = (g.u[cell], g.v[cell]);
        wx[cell] = p.x + u * c - v * s;
        wy[cell] = p.y + u * s + v * c;
    }
    // Each cell's largest outward distance over the hull's edges (edges in hull order, as
    // `Hull::near` takes them), all cells per edge so the loop vectorises.
    let mut worst = [0f32; CELLS];
    for (&(vx, vy), &(nx, ny)) in hull.pts.iter().zip(&hull.normals) {
        for cell in 0..CELLS {
            worst[cell] = worst[cell].max(-(nx * (wx[cell] - vx) + ny * (wy[cell] - vy)));
        }
    }
    let omega = OMEGA;
    let mut mask = [0u64; WPS];
    let mut nvalid = 0;
    // Cells the edge distances leave undecided (outside some edge, but by at most Ω) take the
    // exact distance test, all together (`band_near`).
    let mut band = [0u8; CELLS];
    let (mut bx, mut by) = ([0f32; CELLS], [0f32; CELLS]);
    let mut nb = 0;
    for cell in 0..CELLS {
        if !g.in_circle[cell] {
            continue;
        }
        let w = worst[cell];
        if hull.normals.is_empty() {
            if hull_dist_ok(&hull.pts, wx[cell], wy[cell], omega) {
                mask[cell / 64] |= 1 << (cell % 64);
                nvalid += 1;
            }
        } else if w <= 0.0 {
            mask[cell / 64] |= 1 << (cell % 64);
            nvalid += 1;
        } else if w <= omega {
            (band[nb], bx[nb], by[nb]) = (cell as u8, wx[cell], wy[cell]);
            nb += 1;
        }
    }
    if nb > 0 {
        let mut ok = [false; CELLS];
        band_near(&hull.pts, &bx[..nb], &by[..nb], omega, &mut ok[..nb]);
        for (&cell, &ok) in band[..nb].iter().zip(&ok[..nb]) {
            if ok {
                let cell = usize::from(cell);
                mask[cell / 64] |= 1 << (cell % 64);
                nvalid += 1;
            }
        }
    }
    // The count is `cells_in_circle()`, whose circle test is written differently from
    // `in_circle` (so the two could differ on a boundary cell): both are kept as they were.
    ((nvalid as f32) >= MIN_VC * cells_in_circle() as f32).then_some(mask)
}

/// Adds neighbour `q`'s contributions to the cells of the cylinder of `p` (direction (sin, cos) =
/// (`s`, `c`)): `sums[cell][k] += gs(d²) · gd[k]` for every cell within 3σS of `q`, in row-major
/// cell order.
///
/// # Safety
/// With `AVX2`, the CPU must support AVX2.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn accumulate<const AVX2: bool>(
    sums: &mut [[f32; ND]],
    bt: &BuildTables,
    g: &Grid,
    p: Point,
    q: Point,
    s: f32,
    c: f32,
) {
    let reach = REACH;
    let dx = q.x - p.x;
    let dy = q.y - p.y;
    // Neighbour in the cylinder's frame (rotated by -θ).
    let lu = dx * c + dy * s;
    let lv = -dx * s + dy * c;
    let a0 = (((lu - reach) / CELL + HALF).ceil().max(0.0)) as usize;
    let a1 = (((lu + reach) / CELL + HALF).floor().min(NS as f32 - 1.0)) as isize;
    let b0 = (((lv - reach) / CELL + HALF).ceil().max(0.0)) as usize;
    let b1 = (((lv + reach) / CELL + HALF).floor().min(NS as f32 - 1.0)) as isize;
    if a1 < 0 || b1 < 0 {
        return;
    }
    let dtheta = wrap_pi(q.theta() - p.theta());
    let mut gd = [0f32; ND];
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the CPU supports AVX2 (this function's contract).
    let done = AVX2 && unsafe { x86::gd_avx2(bt, &g.phi, dtheta, &mut gd) };
    #[cfg(not(target_arch = "x86_64"))]
    let done = false;
    if !done {
        for (gk, &phi) in gd.iter_mut().zip(&g.phi) {
            *gk = bt.gd.get(wrap_pi(phi - dtheta).abs());
        }
    }
    let (a1, b1) = (a1 as usize, b1 as usize);
    #[cfg(target_arch = "x86_64")]
    if AVX2 && a0 <= a1 && a1 - a0 < 8 {
        // SAFETY: the CPU supports AVX2 (this function's contract); the row spans at most 8
        // cells from a0 <= a1 <= NS - 1.
        unsafe { x86::rows_avx2(sums, bt, &g.row_u, &gd, lu, lv, a0, a1, b0, b1) };
        return;
    }
    for b in b0..=b1 {
        let cv = g.v[b * NS];
        let dv2 = (cv - lv) * (cv - lv);
        for a in a0..=a1 {
            let cu = g.u[a];
            let d2 = (cu - lu) * (cu - lu) + dv2;
            if d2 > reach * reach {
                continue;
            }
            let gsv = bt.gs.get(d2);
            let cell = &mut sums[b * NS + a];
            for k in 0..ND {
                cell[k] += gsv * gd[k];
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;
    use std::arch::x86_64::*;

    /// The directional terms of [`accumulate`], `gd[k] = gd(|wrap_pi(phi[k] − dtheta)|)`, one
    /// section per lane: when every |phi[k] − dtheta| < 2π (always, for finite angles) `wrap_pi`
    /// is its two conditional corrections, done here by blends of the same sums, and the table
    /// index is the truncation `Table::get` takes of a value in [0, π · scale]. Returns false
    /// (nothing written) otherwise.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[inline(always)]
    pub(super) unsafe fn gd_avx2(
        bt: &BuildTables,
        phi: &[f32; ND],
        dtheta: f32,
        gd: &mut [f32; ND],
    ) -> bool {
        let (vals, scale) = bt.gd.parts();
        // SAFETY: AVX2 is supported (the contract); `phi` and `gd` hold 8 f32s; the gather
        // indices are clamped to [0, len − 1] of `vals`.
        unsafe {
            let x = _mm256_sub_ps(_mm256_loadu_ps(phi.as_ptr()), _mm256_set1_ps(dtheta));
            let abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
            let small =
                _mm256_cmp_ps::<_CMP_LT_OQ>(_mm256_and_ps(x, abs_mask), _mm256_set1_ps(TAU));
            if _mm256_movemask_ps(small) != 0xff {
                return false;
            }
            let lo = _mm256_cmp_ps::<_CMP_LT_OQ>(x, _mm256_set1_ps(-PI));
            let hi = _mm256_andnot_ps(lo, _mm256_cmp_ps::<_CMP_GE_OQ>(x, _mm256_set1_ps(PI)));
            let x = _mm256_blendv_ps(x, _mm256_add_ps(x, _mm256_set1_ps(TAU)), lo);
            let x = _mm256_blendv_ps(x, _mm256_sub_ps(x, _mm256_set1_ps(TAU)), hi);
            let x = _mm256_and_ps(x, abs_mask);
            let t = _mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(scale)), _mm256_set1_ps(0.5));
            let i = _mm256_min_epi32(
                _mm256_max_epi32(_mm256_cvttps_epi32(t), _mm256_setzero_si256()),
                _mm256_set1_epi32(vals.len() as i32 - 1),
            );
            _mm256_storeu_ps(gd.as_mut_ptr(), _mm256_i32gather_ps::<4>(vals.as_ptr(), i));
        }
        true
    }

    /// The cell loop of [`accumulate`] with a row's (at most 8) cells in the lanes of one register:
    /// each lane computes the scalar loop's d² for its cell with the same operations, and looks
    /// `gs` up at the index `Table::get` computes (truncation; NaN, which the scalar cast maps to
    /// 0, is clamped to 0 like every other index). The section sums then take the cells' terms
    /// one cell at a time, as the scalar loop does.
    ///
    /// # Safety
    /// The CPU must support AVX2; `a0 <= a1 < a0 + 8` and `a1 < NS`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn rows_avx2(
        sums: &mut [[f32; ND]],
        bt: &BuildTables,
        cu: &[f32; NS + 8],
        gd: &[f32; ND],
        lu: f32,
        lv: f32,
        a0: usize,
        a1: usize,
        b0: usize,
        b1: usize,
    ) {
        assert!(a0 <= a1 && a1 < a0 + 8 && a1 < NS);
        let (vals, scale) = bt.gs.parts();
        let reach2 = REACH * REACH;
        let row_lanes = (1u32 << (a1 - a0 + 1)) - 1;
        // SAFETY: AVX2 is supported (the contract); the load reads cu[a0..a0 + 8], in bounds as
        // a0 < NS; the gather indices are clamped to [0, len − 1] of `vals`.
        unsafe {
            let cuv = _mm256_loadu_ps(cu.as_ptr().add(a0));
            let du = _mm256_sub_ps(cuv, _mm256_set1_ps(lu));
            let du2 = _mm256_mul_ps(du, du);
            let gdv = _mm256_loadu_ps(gd.as_ptr());
            let last = _mm256_set1_epi32(vals.len() as i32 - 1);
            for b in b0..=b1 {
                let cv = (b as f32 - HALF) * CELL;
                let dv2 = (cv - lv) * (cv - lv);
                let d2 = _mm256_add_ps(du2, _mm256_set1_ps(dv2));
                let far = _mm256_cmp_ps::<_CMP_GT_OQ>(d2, _mm256_set1_ps(reach2));
                let lanes = row_lanes & !(_mm256_movemask_ps(far) as u32);
                if lanes == 0 {
                    continue;
                }
                let x = _mm256_add_ps(
                    _mm256_mul_ps(d2, _mm256_set1_ps(scale)),
                    _mm256_set1_ps(0.5),
                );
                let i = _mm256_min_epi32(
                    _mm256_max_epi32(_mm256_cvttps_epi32(x), _mm256_setzero_si256()),
                    last,
                );
                let gs = _mm256_i32gather_ps::<4>(vals.as_ptr(), i);
                let mut gsl = [0f32; 8];
                _mm256_storeu_ps(gsl.as_mut_ptr(), gs);
                let mut m = lanes;
                while m != 0 {
                    let l = m.trailing_zeros() as usize;
                    m &= m - 1;
                    let cell = &mut sums[b * NS + a0 + l];
                    let p = cell.as_mut_ptr();
                    let t = _mm256_mul_ps(_mm256_set1_ps(gsl[l]), gdv);
                    _mm256_storeu_ps(p, _mm256_add_ps(_mm256_loadu_ps(p), t));
                }
            }
        }
    }
}

// A cell's section bits are packed into one byte (and 8×8 bit blocks transposed).
const _: () = assert!(ND == 8 && CELLS.is_multiple_of(64));

/// Writes the value bits (`sums >= μψ` on valid cells) and the mask words of one cylinder.
///
/// # Safety
/// With `AVX2`, the CPU must support AVX2.
#[inline(always)]
unsafe fn threshold<const AVX2: bool>(sums: &[[f32; ND]], mask: &[u64; WPS], cyl: &mut [u64]) {
    let mut bytes = [0u8; CELLS];
    #[cfg(target_arch = "x86_64")]
    if AVX2 {
        use std::arch::x86_64::_CMP_GE_OQ;
        use std::arch::x86_64::{
            _mm256_cmp_ps, _mm256_loadu_ps, _mm256_movemask_ps, _mm256_set1_ps,
        };
        for (b, cell) in bytes.iter_mut().zip(sums) {
            // SAFETY: the CPU supports AVX2 (this function's contract); `cell` is 8 f32s. GE_OQ is
            // Rust's `>=` (false on NaN); lane k of the compare is bit k of the movemask.
            *b = unsafe {
                let v = _mm256_loadu_ps(cell.as_ptr());
                _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(v, _mm256_set1_ps(MU_PSI))) as u8
            };
        }
    }
    if !AVX2 || cfg!(not(target_arch = "x86_64")) {
        for (b, cell) in bytes.iter_mut().zip(sums) {
            let mut m = 0u8;
            for (k, &v) in cell.iter().enumerate() {
                m |= u8::from(v >= MU_PSI) << k;
            }
            *b = m;
        }
    }
    for w in 0..WPS {
        for (gi, chunk) in bytes[w * 64..(w + 1) * 64].chunks_exact(8).enumerate() {
            // Byte j = cell 8·gi + j, bit k = section k; transposed: byte k = section k, bit j =
            // cell 8·gi + j.
            let t = transpose8(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
            for k in 0..ND {
                cyl[k * WPS + w] |= ((t >> (8 * k)) & 0xff) << (8 * gi);
            }
        }
        for k in 0..ND {
            cyl[k * WPS + w] &= mask[w];
        }
    }
    for w in 0..MASK_WORDS {
        cyl[VAL_WORDS + w] = mask[w % WPS];
    }
}

/// Transposes an 8×8 bit matrix held as bit `8·row + col` (swaps bits `8r + c` and `8c + r`).
#[inline(always)]
fn transpose8(mut x: u64) -> u64 {
    let t = (x ^ (x >> 7)) & 0x00AA_00AA_00AA_00AA;
    x ^= t ^ (t << 7);
    let t = (x ^ (x >> 14)) & 0x0000_CCCC_0000_CCCC;
    x ^= t ^ (t << 14);
    let t = (x ^ (x >> 28)) & 0x0000_0000_F0F0_F0F0;
    x ^ t ^ (t << 28)
}

/// Convex hull (counter-clockwise, y up) by Andrew's monotone chain.
fn convex_hull(pts: &[Point]) -> Vec<(f32, f32)> {
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

/// Tables for cylinder construction: the spatial Gaussian over the squared distance and the
/// directional contribution (the Gaussian's mass over one section) over |α|.
struct BuildTables {
    gs: Table<16384>,
    gd: Table<8192>,
}

fn build_tables() -> &'static BuildTables {
    static T: std::sync::OnceLock<BuildTables> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let sigma_s = SIGMA_S;
        let sigma_d = f64::from(SIGMA_D);
        let reach = 3.0 * sigma_s;
        let norm = 1.0 / (sigma_s * TAU.sqrt());
        let h = std::f64::consts::TAU / ND as f64 / 2.0;
        let sd = sigma_d * std::f64::consts::SQRT_2;
        BuildTables {
            gs: Table::new(reach * reach, |d2| {
                norm * (-d2 / (2.0 * sigma_s * sigma_s)).exp()
            }),
            gd: Table::new(PI, |a| {
                let a = f64::from(a);
                (0.5 * (erf((a + h) / sd) - erf((a - h) / sd))) as f32
            }),
        }
    })
}

/// A convex hull with its edges' inward unit normals, for the cell validity test.
struct Hull {
    pts: Vec<(f32, f32)>,
    normals: Vec<(f32, f32)>,
}

impl Hull {
    fn new(pts: Vec<(f32, f32)>) -> Hull {
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
fn band_near(h: &[(f32, f32)], xs: &[f32], ys: &[f32], omega: f32, ok: &mut [bool]) {
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
fn hull_dist_ok(h: &[(f32, f32)], x: f32, y: f32, omega: f32) -> bool {
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

/// Lookup tables for the comparison.
struct Tables {
    /// sqrt of popcounts.
    sqrt: Vec<f32>,
    /// ρ1 over the distance difference (px).
    z1: Table<256>,
    /// ρ2 over the direction difference (rad).
    z2: Table<256>,
    /// ρ3 over 1 − cos of the radial angle difference.
    z3: Table<512>,
    /// n_P per min(nA, nB).
    np: [usize; MAX_MINUTIAE + 1],
    /// Direction difference (u16 code) beyond which ρ2 < 1e-4.
    z2_cut: u16,
    /// Distance difference beyond which ρ1 < 1e-4.
    z1_cut: f32,
}

fn tables() -> &'static Tables {
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
            sqrt: (0..=(CYL_WORDS * 64)).map(|i| (i as f32).sqrt()).collect(),
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

/// A candidate pair: local similarity λ, its sort bucket, the minutia of A and of B.
#[derive(Clone, Copy, Default)]
struct Cand {
    lam: f32,
    q: u16,
    i: u8,
    j: u8,
}

/// Per-thread scratch space, so a comparison allocates nothing.
struct Scratch {
    cand: Vec<Cand>,
    /// Counts of the rotation-sample rows against all of B (`MAX_MINUTIAE` per row).
    rows: Vec<Counts>,
    /// The candidates in descending λ order.
    sorted: Vec<Cand>,
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
fn adiff(a: u16, b: u16) -> u16 {
    (a.wrapping_sub(b) as i16).unsigned_abs()
}

/// Compares two prepared templates with the given pair kernel. Score in [0, 1].
pub(crate) fn compare_with(a: &TemplateRef<'_>, b: &TemplateRef<'_>, kernel: PairFn) -> f32 {
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
        lssr(a, b, &s.cand, &mut s.sorted, t)
    })
}

fn cells_in_circle() -> usize {
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

const QBUCKETS: usize = 1024;

/// Bucket of λ ∈ (0, 1] in descending order (bucket 0 holds the highest).
#[inline]
fn qbucket(l: f32) -> usize {
    debug_assert!(l > 0.0 && l <= 1.0);
    // SAFETY: λ is in (0, 1] (a candidate has λ > 0, and λ = 1 − a ratio of non-negative terms), so
    // λ · QBUCKETS is finite and in (0, QBUCKETS], representable as u32.
    let k = unsafe { (l * QBUCKETS as f32).to_int_unchecked::<u32>() } as usize;
    QBUCKETS - k.min(QBUCKETS)
}

/// Local similarity sort with relaxation (MCC's LSS-R), on the candidate pairs (λ, i, j).
fn lssr(
    a: &TemplateRef<'_>,
    b: &TemplateRef<'_>,
    cand: &[Cand],
    sorted: &mut Vec<Cand>,
    t: &Tables,
) -> f32 {
    let n_min = a.n_cyl().min(b.n_cyl());
    let nr = n_min.min(NR_MAX);
    if cand.is_empty() {
        return 0.0;
    }
    // Top pairs by local similarity, each minutia used at most once (greedy).
    let mut used_a = [false; MAX_MINUTIAE];
    let mut used_b = [false; MAX_MINUTIAE];
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
    for c in sorted.iter() {
        let (iu, ju) = (usize::from(c.i), usize::from(c.j));
        if used_a[iu] || used_b[ju] {
            continue;
        }
        used_a[iu] = true;
        used_b[ju] = true;
        sel[m] = (c.lam, c.i, c.j);
        m += 1;
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
        for ki in ti + 1..m {
            let d2 = adiff(dang[ki], dang[ti]);
            if d2 > d2_max {
                continue;
            }
            let (dxa, dya) = (ax[ki] - ax[ti], ay[ki] - ay[ti]);
            let (dxb, dyb) = (bx[ki] - bx[ti], by[ki] - by[ti]);
            let la = (dxa * dxa + dya * dya).sqrt();
            let lb = (dxb * dxb + dyb * dyb).sqrt();
            let dl = (la - lb).abs();
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
    // Relaxation.
    let mut lam = [0f32; NR_MAX];
    let mut next = [0f32; NR_MAX];
    for (ti, p) in sel.iter().enumerate() {
        lam[ti] = p.0;
    }
    let denom = if m > 1 { (m - 1) as f32 } else { 1.0 };
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
    let mut eff: [(f32, f32, u8); NR_MAX] = [(0.0, 0.0, 0); NR_MAX];
    for ti in 0..m {
        eff[ti] = (lam[ti] / sel[ti].0, lam[ti], ti as u8);
    }
    let eff = &mut eff[..m];
    let np = t.np[n_min.min(MAX_MINUTIAE)];
    let top = np.min(m);
    // Only the `top` most efficient are needed (then in descending order, as they are summed).
    // Ties are common (every pair without a compatible one keeps ε = wR^N_REL), so they are broken
    // by selection order (higher initial λ first): a total order, the same result however sorted.
    let by_eff = |x: &(f32, f32, u8), y: &(f32, f32, u8)| y.0.total_cmp(&x.0).then(x.2.cmp(&y.2));
    if top < m {
        eff.select_nth_unstable_by(top, by_eff);
    }
    let top = &mut eff[..top];
    top.sort_unstable_by(by_eff);
    let sum: f32 = top.iter().map(|e| e.1).sum();
    sum / np as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finger::synth::Rng;

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
}
