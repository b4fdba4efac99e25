//! Cylinder construction at preparation time: per minutia, the neighbours' spatial and directional
//! contributions summed per cell, thresholded into value bits, with the validity mask of the cells
//! near the minutiae's convex hull.

use std::f32::consts::{PI, TAU};

use super::hull::{band_near, convex_hull, hull_dist_ok, Hull};
use super::local::cells_in_circle;
use super::*;
use crate::finger::mathx::{erf, wrap_pi, Table};
use crate::finger::template::Point;

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
pub(super) const REACH: f32 = 3.0 * SIGMA_S;
pub(super) const HALF: f32 = (NS as f32 - 1.0) / 2.0;

/// The cell grid in the cylinder's frame: each cell centre's offset from the minutia, whether it
/// lies within the radius (the cells that can be valid), and the centre of each direction section.
pub(super) struct Grid {
    pub(super) u: [f32; CELLS],
    pub(super) v: [f32; CELLS],
    pub(super) in_circle: [bool; CELLS],
    pub(super) phi: [f32; ND],
    /// Cell-centre offsets along a row, continued 8 cells past the last column (vector loads of
    /// a row's cells; the extra lanes are masked). Only the x86-64 AVX2 path reads it.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(super) row_u: [f32; NS + 8],
}

pub(super) fn grid() -> &'static Grid {
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
pub(super) fn validity(hull: &Hull, g: &Grid, p: Point, s: f32, c: f32) -> Option<[u64; WPS]> {
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
pub(super) fn transpose8(mut x: u64) -> u64 {
    let t = (x ^ (x >> 7)) & 0x00AA_00AA_00AA_00AA;
    x ^= t ^ (t << 7);
    let t = (x ^ (x >> 14)) & 0x0000_CCCC_0000_CCCC;
    x ^= t ^ (t << 14);
    let t = (x ^ (x >> 28)) & 0x0000_0000_F0F0_F0F0;
    x ^ t ^ (t << 28)
}

/// Tables for cylinder construction: the spatial Gaussian over the squared distance and the
/// directional contribution (the Gaussian's mass over one section) over |α|.
pub(super) struct BuildTables {
    pub(super) gs: Table<16384>,
    pub(super) gd: Table<8192>,
}

pub(super) fn build_tables() -> &'static BuildTables {
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
