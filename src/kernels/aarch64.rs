//! aarch64 kernels: NEON (baseline on aarch64) and the Armv8.2 dot-product
//! extension (`sdot`).
//!
//! Every `unsafe fn` here is `#[target_feature]` code whose only safety
//! precondition is that the CPU supports the listed features; each is
//! memory-safe for any slice lengths (it works on the common prefix and only
//! loads whole in-bounds blocks). The safe `*_entry` wrappers are only put into
//! a [`Kernels`] table by [`available`], after `is_aarch64_feature_detected!`
//! confirmed the features, which is what makes calling them sound.
//!
//! The `vdotq_s32` intrinsic is still unstable (`stdarch_neon_dotprod`,
//! rust-lang/rust#117224), so `sdot` is emitted with stable inline assembly.

use std::arch::aarch64::*;
use std::arch::asm;

use super::bounds::{u4_blocks, u4_rows, usable_rows};
use super::{scalar, Kernels};

/// Rows scored per iteration of the rows kernels: the query chunk is loaded
/// (and widened) once and used against this many rows.
const ROWS: usize = 4;

/// The aarch64 kernel tables this CPU supports, best first.
pub(super) fn available() -> Vec<Kernels> {
    let mut v = Vec::new();
    if !std::arch::is_aarch64_feature_detected!("neon") {
        return v;
    }
    if std::arch::is_aarch64_feature_detected!("dotprod") {
        v.push(Kernels {
            name: "dotprod",
            finger: super::FingerKernels::detect(),
            dot_u8i8: dot_u8i8_dotprod_entry,
            dot_u8i8_rows: dot_u8i8_rows_dotprod_entry,
            dot_f32_f64: dot_f32_f64_neon_entry,
            dot_u4i8_rows: dot_u4i8_rows_dotprod_entry,
        });
    }
    v.push(Kernels {
        name: "neon",
        finger: super::FingerKernels::detect(),
        dot_u8i8: dot_u8i8_neon_entry,
        dot_u8i8_rows: dot_u8i8_rows_neon_entry,
        dot_f32_f64: dot_f32_f64_neon_entry,
        dot_u4i8_rows: dot_u4i8_rows_neon_entry,
    });
    v
}

// ---------------------------------------------------------------------------
// Safe entries (see the module docs for why they are sound).

fn dot_u8i8_neon_entry(a: &[u8], b: &[i8]) -> i32 {
    // SAFETY: only reachable through a table built by `available` after NEON was detected.
    unsafe { dot_u8i8_neon(a, b) }
}

fn dot_u8i8_rows_neon_entry(codes: &[u8], query: &[i8], out: &mut [i32]) {
    // SAFETY: only reachable through a table built by `available` after NEON was detected.
    unsafe { dot_u8i8_rows_neon(codes, query, out) }
}

fn dot_f32_f64_neon_entry(a: &[f32], b: &[f32]) -> f64 {
    // SAFETY: only reachable through a table built by `available` after NEON was detected.
    unsafe { dot_f32_f64_neon(a, b) }
}

fn dot_u8i8_dotprod_entry(a: &[u8], b: &[i8]) -> i32 {
    // SAFETY: only in the "dotprod" table, built after NEON and dotprod were detected.
    unsafe { dot_u8i8_dotprod(a, b) }
}

fn dot_u8i8_rows_dotprod_entry(codes: &[u8], query: &[i8], out: &mut [i32]) {
    // SAFETY: only in the "dotprod" table, built after NEON and dotprod were detected.
    unsafe { dot_u8i8_rows_dotprod(codes, query, out) }
}

fn dot_u4i8_rows_neon_entry(codes: &[u8], query: &[i8], out: &mut [i32]) {
    // SAFETY: only reachable through a table built by `available` after NEON was detected.
    unsafe { dot_u4i8_rows_neon(codes, query, out) }
}

fn dot_u4i8_rows_dotprod_entry(codes: &[u8], query: &[i8], out: &mut [i32]) {
    // SAFETY: only in the "dotprod" table, built after NEON and dotprod were detected.
    unsafe { dot_u4i8_rows_dotprod(codes, query, out) }
}

// ---------------------------------------------------------------------------
// Shared helpers.

// ---------------------------------------------------------------------------
// NEON: widen u8 -> u16 (reinterpreted as s16; 0..=255 fits) and i8 -> s16,
// then widening multiply-accumulate into s32 (`smlal`/`smlal2`).

/// Adds Σ a[k] * b[k] over one 16-byte block into two i32x4 accumulators.
#[target_feature(enable = "neon")]
fn mla_block(acc: &mut [int32x4_t; 2], a: uint8x16_t, bl: int16x8_t, bh: int16x8_t) {
    let al = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(a)));
    let ah = vreinterpretq_s16_u16(vmovl_high_u8(a));
    acc[0] = vmlal_s16(acc[0], vget_low_s16(al), vget_low_s16(bl));
    acc[1] = vmlal_high_s16(acc[1], al, bl);
    acc[0] = vmlal_s16(acc[0], vget_low_s16(ah), vget_low_s16(bh));
    acc[1] = vmlal_high_s16(acc[1], ah, bh);
}

/// u8 × i8 dot with NEON.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
unsafe fn dot_u8i8_neon(a: &[u8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let full = n - n % 16;
    let mut acc = [vdupq_n_s32(0); 2];
    let mut i = 0;
    while i < full {
        // SAFETY: i + 16 <= full <= n, in bounds of both slices.
        let (va, vb) = unsafe { (vld1q_u8(a.as_ptr().add(i)), vld1q_s8(b.as_ptr().add(i))) };
        mla_block(&mut acc, va, vmovl_s8(vget_low_s8(vb)), vmovl_high_s8(vb));
        i += 16;
    }
    vaddvq_s32(vaddq_s32(acc[0], acc[1])) + scalar::dot_u8i8(&a[full..n], &b[full..n])
}

/// Rows kernel with NEON: four rows share each widened query block.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
unsafe fn dot_u8i8_rows_neon(codes: &[u8], query: &[i8], out: &mut [i32]) {
    let d = query.len();
    let nrows = usable_rows(codes, d, out);
    let full = d - d % 16;
    let mut r0 = 0;
    while r0 + ROWS <= nrows {
        let rows: [&[u8]; ROWS] = std::array::from_fn(|r| &codes[(r0 + r) * d..(r0 + r + 1) * d]);
        let mut acc = [[vdupq_n_s32(0); 2]; ROWS];
        let mut i = 0;
        while i < full {
            // SAFETY: i + 16 <= full <= d = query.len().
            let vq = unsafe { vld1q_s8(query.as_ptr().add(i)) };
            let (ql, qh) = (vmovl_s8(vget_low_s8(vq)), vmovl_high_s8(vq));
            for r in 0..ROWS {
                // SAFETY: each row has d bytes and i + 16 <= d.
                let vc = unsafe { vld1q_u8(rows[r].as_ptr().add(i)) };
                mla_block(&mut acc[r], vc, ql, qh);
            }
            i += 16;
        }
        for r in 0..ROWS {
            out[r0 + r] = vaddvq_s32(vaddq_s32(acc[r][0], acc[r][1]))
                + scalar::dot_u8i8(&rows[r][full..], &query[full..]);
        }
        r0 += ROWS;
    }
    for r in r0..nrows {
        // SAFETY: NEON is supported (this function's precondition).
        out[r] = unsafe { dot_u8i8_neon(&codes[r * d..(r + 1) * d], query) };
    }
}

/// Canonical f32 dot with NEON: lanes (0,1), (2,3), (4,5), (6,7) live in four
/// f64x2 accumulators.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
unsafe fn dot_f32_f64_neon(a: &[f32], b: &[f32]) -> f64 {
    #[target_feature(enable = "neon")]
    fn step(acc: &mut [float64x2_t; 4], a: [float32x4_t; 2], b: [float32x4_t; 2]) {
        for h in 0..2 {
            let lo = vmulq_f64(
                vcvt_f64_f32(vget_low_f32(a[h])),
                vcvt_f64_f32(vget_low_f32(b[h])),
            );
            let hi = vmulq_f64(vcvt_high_f64_f32(a[h]), vcvt_high_f64_f32(b[h]));
            acc[2 * h] = vaddq_f64(acc[2 * h], lo);
            acc[2 * h + 1] = vaddq_f64(acc[2 * h + 1], hi);
        }
    }
    let n = a.len().min(b.len());
    let full = n - n % 8;
    let mut acc = [vdupq_n_f64(0.0); 4];
    let mut i = 0;
    while i < full {
        // SAFETY: i + 8 <= full <= n, in bounds of both slices.
        let (va, vb) = unsafe {
            let (pa, pb) = (a.as_ptr().add(i), b.as_ptr().add(i));
            (
                [vld1q_f32(pa), vld1q_f32(pa.add(4))],
                [vld1q_f32(pb), vld1q_f32(pb.add(4))],
            )
        };
        step(&mut acc, va, vb);
        i += 8;
    }
    if full < n {
        // Tail: zero padding adds +0.0 products, which leave the lanes unchanged.
        let mut ta = [0.0f32; 8];
        let mut tb = [0.0f32; 8];
        ta[..n - full].copy_from_slice(&a[full..n]);
        tb[..n - full].copy_from_slice(&b[full..n]);
        // SAFETY: the padded arrays hold 8 f32 each.
        let (va, vb) = unsafe {
            (
                [vld1q_f32(ta.as_ptr()), vld1q_f32(ta.as_ptr().add(4))],
                [vld1q_f32(tb.as_ptr()), vld1q_f32(tb.as_ptr().add(4))],
            )
        };
        step(&mut acc, va, vb);
    }
    // [l0+l4, l1+l5] + [l2+l6, l3+l7] = [(l0+l4)+(l2+l6), (l1+l5)+(l3+l7)]
    let t = vaddq_f64(vaddq_f64(acc[0], acc[2]), vaddq_f64(acc[1], acc[3]));
    vgetq_lane_f64::<0>(t) + vgetq_lane_f64::<1>(t)
}

// ---------------------------------------------------------------------------
// dotprod: `sdot` multiplies signed bytes in groups of four into i32 lanes.
// Codes are u8, so they are shifted to signed with a ^ 0x80 = a - 128, and
// Σ a*b = Σ (a - 128)*b + 128 * Σ b. Every term stays far inside i32.

/// `acc += sdot(a, b)` (four signed byte products per i32 lane).
///
/// # Safety
/// The CPU must support NEON and dotprod.
#[target_feature(enable = "neon,dotprod")]
#[inline]
unsafe fn sdot(mut acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    // SAFETY: `sdot` is available (precondition); it only reads and writes the
    // given vector registers, touches no memory, stack or flags.
    unsafe {
        asm!(
            "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    acc
}

/// Codes block shifted to signed: a ^ 0x80 reinterpreted as i8 equals a - 128.
#[target_feature(enable = "neon")]
fn to_signed(a: uint8x16_t) -> int8x16_t {
    vreinterpretq_s8_u8(veorq_u8(a, vdupq_n_u8(0x80)))
}

/// u8 × i8 dot with dotprod.
///
/// # Safety
/// The CPU must support NEON and dotprod.
#[target_feature(enable = "neon,dotprod")]
unsafe fn dot_u8i8_dotprod(a: &[u8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let full = n - n % 16;
    let ones = vdupq_n_s8(1);
    let mut acc = vdupq_n_s32(0);
    let mut bsum = vdupq_n_s32(0);
    let mut i = 0;
    while i < full {
        // SAFETY: i + 16 <= full <= n, in bounds of both slices.
        let (va, vb) = unsafe { (vld1q_u8(a.as_ptr().add(i)), vld1q_s8(b.as_ptr().add(i))) };
        // SAFETY: dotprod is supported (this function's precondition).
        unsafe {
            acc = sdot(acc, to_signed(va), vb);
            bsum = sdot(bsum, ones, vb);
        }
        i += 16;
    }
    vaddvq_s32(acc) + 128 * vaddvq_s32(bsum) + scalar::dot_u8i8(&a[full..n], &b[full..n])
}

/// Rows kernel with dotprod: four rows share each query block, and the
/// `128 * Σ query` correction is computed once per call.
///
/// # Safety
/// The CPU must support NEON and dotprod.
#[target_feature(enable = "neon,dotprod")]
unsafe fn dot_u8i8_rows_dotprod(codes: &[u8], query: &[i8], out: &mut [i32]) {
    let d = query.len();
    let nrows = usable_rows(codes, d, out);
    let full = d - d % 16;
    let qsum: i32 = query[..full].iter().map(|&q| i32::from(q)).sum();
    let correction = 128 * qsum;
    let mut r0 = 0;
    while r0 + ROWS <= nrows {
        let rows: [&[u8]; ROWS] = std::array::from_fn(|r| &codes[(r0 + r) * d..(r0 + r + 1) * d]);
        let mut acc = [vdupq_n_s32(0); ROWS];
        let mut i = 0;
        while i < full {
            // SAFETY: i + 16 <= full <= d = query.len().
            let vq = unsafe { vld1q_s8(query.as_ptr().add(i)) };
            for r in 0..ROWS {
                // SAFETY: each row has d bytes and i + 16 <= d; dotprod is
                // supported (this function's precondition).
                unsafe {
                    let vc = vld1q_u8(rows[r].as_ptr().add(i));
                    acc[r] = sdot(acc[r], to_signed(vc), vq);
                }
            }
            i += 16;
        }
        for r in 0..ROWS {
            out[r0 + r] = vaddvq_s32(acc[r])
                + correction
                + scalar::dot_u8i8(&rows[r][full..], &query[full..]);
        }
        r0 += ROWS;
    }
    for r in r0..nrows {
        // SAFETY: NEON and dotprod are supported (this function's precondition).
        out[r] = unsafe { dot_u8i8_dotprod(&codes[r * d..(r + 1) * d], query) };
    }
}

// ---------------------------------------------------------------------------
// Packed 4-bit codes × i8 query (`Kernels::dot_u4i8_rows`). A row holds one
// 64-byte block per 128 dimensions; byte j of a block carries dimension j in
// its low nibble and dimension 64 + j in its high nibble, so 16-byte chunk k
// of a block unpacks (`and 0x0f`, `ushr 4`) into the codes for query
// [16k..16k + 16] and [64 + 16k..64 + 16k + 16]. The helpers score N rows
// (ROWS in the main loop, 1 for the leftover rows) so each query load serves
// four rows.

/// Lane sums of four vectors: result lane r = Σ lanes of `v[r]`.
#[target_feature(enable = "neon")]
fn hsum4_s32(v: &[int32x4_t; 4]) -> int32x4_t {
    vpaddq_s32(vpaddq_s32(v[0], v[1]), vpaddq_s32(v[2], v[3]))
}

/// Packed-u4 × i8 over N rows with NEON; returns per-row i32 lane sums.
///
/// Nibbles (0..=15) are valid signed bytes, so `smlal`/`smlal2` multiply
/// them by the query into i16 accumulators: `half0` for bytes 0..8 of each
/// 16-byte chunk, `half1` for bytes 8..16. Over one block each 16-bit lane
/// takes eight products of magnitude <= 15 * 128 = 1920, at most 15360:
/// exact. `sadalp` then adds the lane pairs into i32 once per block.
#[target_feature(enable = "neon")]
fn u4_block_neon<const N: usize>(rows: &[u8], rb: usize, query: &[i8]) -> [int32x4_t; N] {
    let blocks = u4_blocks(rows, N, rb, query);
    let nib = vdupq_n_u8(0x0f);
    let (pc, pq) = (rows.as_ptr(), query.as_ptr());
    let mut acc = [vdupq_n_s32(0); N];
    for b in 0..blocks {
        let mut half0 = [vdupq_n_s16(0); N];
        let mut half1 = [vdupq_n_s16(0); N];
        for k in 0..4 {
            // SAFETY: b < blocks <= query.len() / 128 and k < 4: both loads
            // lie in query bytes 128b..128b + 128.
            let (ql, qh) = unsafe {
                (
                    vld1q_s8(pq.add(128 * b + 16 * k)),
                    vld1q_s8(pq.add(128 * b + 64 + 16 * k)),
                )
            };
            for r in 0..N {
                // SAFETY: row r < N, block b < blocks, k < 4: in bounds (see `u4_blocks`).
                let c = unsafe { vld1q_u8(pc.add(r * rb + 64 * b + 16 * k)) };
                let lo = vreinterpretq_s8_u8(vandq_u8(c, nib));
                let hi = vreinterpretq_s8_u8(vshrq_n_u8::<4>(c));
                half0[r] = vmlal_s8(half0[r], vget_low_s8(lo), vget_low_s8(ql));
                half0[r] = vmlal_s8(half0[r], vget_low_s8(hi), vget_low_s8(qh));
                half1[r] = vmlal_high_s8(half1[r], lo, ql);
                half1[r] = vmlal_high_s8(half1[r], hi, qh);
            }
        }
        for r in 0..N {
            acc[r] = vpadalq_s16(vpadalq_s16(acc[r], half0[r]), half1[r]);
        }
    }
    acc
}

/// Packed-u4 rows kernel with NEON.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
unsafe fn dot_u4i8_rows_neon(codes: &[u8], query: &[i8], out: &mut [i32]) {
    let (rb, nrows) = u4_rows(codes, query.len(), out);
    let mut r0 = 0;
    while r0 + ROWS <= nrows {
        let s = hsum4_s32(&u4_block_neon::<ROWS>(&codes[r0 * rb..], rb, query));
        // SAFETY: out[r0..r0 + ROWS] is in bounds (r0 + ROWS <= nrows <= out.len()).
        unsafe { vst1q_s32(out.as_mut_ptr().add(r0), s) };
        r0 += ROWS;
    }
    for r in r0..nrows {
        out[r] = vaddvq_s32(u4_block_neon::<1>(&codes[r * rb..], rb, query)[0]);
    }
}

/// Packed-u4 × i8 over N rows with `sdot`; returns per-row i32 lane sums.
///
/// Nibbles (0..=15) are valid signed bytes, so they go into `sdot` as they
/// are (no `a ^ 0x80` shift and correction as for u8 codes). The low and high
/// nibbles use separate accumulators to keep two independent `sdot` chains.
#[target_feature(enable = "neon,dotprod")]
fn u4_block_dotprod<const N: usize>(rows: &[u8], rb: usize, query: &[i8]) -> [int32x4_t; N] {
    let blocks = u4_blocks(rows, N, rb, query);
    let nib = vdupq_n_u8(0x0f);
    let (pc, pq) = (rows.as_ptr(), query.as_ptr());
    let mut lo = [vdupq_n_s32(0); N];
    let mut hi = [vdupq_n_s32(0); N];
    for b in 0..blocks {
        for k in 0..4 {
            // SAFETY: b < blocks <= query.len() / 128 and k < 4: both loads
            // lie in query bytes 128b..128b + 128.
            let (ql, qh) = unsafe {
                (
                    vld1q_s8(pq.add(128 * b + 16 * k)),
                    vld1q_s8(pq.add(128 * b + 64 + 16 * k)),
                )
            };
            for r in 0..N {
                // SAFETY: row r < N, block b < blocks, k < 4: in bounds (see
                // `u4_blocks`). `sdot` needs dotprod, which this function's
                // target features guarantee the CPU has.
                unsafe {
                    let c = vld1q_u8(pc.add(r * rb + 64 * b + 16 * k));
                    lo[r] = sdot(lo[r], vreinterpretq_s8_u8(vandq_u8(c, nib)), ql);
                    hi[r] = sdot(hi[r], vreinterpretq_s8_u8(vshrq_n_u8::<4>(c)), qh);
                }
            }
        }
    }
    let mut acc = [vdupq_n_s32(0); N];
    for r in 0..N {
        acc[r] = vaddq_s32(lo[r], hi[r]);
    }
    acc
}

/// Packed-u4 rows kernel with dotprod.
///
/// # Safety
/// The CPU must support NEON and dotprod.
#[target_feature(enable = "neon,dotprod")]
unsafe fn dot_u4i8_rows_dotprod(codes: &[u8], query: &[i8], out: &mut [i32]) {
    let (rb, nrows) = u4_rows(codes, query.len(), out);
    let mut r0 = 0;
    while r0 + ROWS <= nrows {
        let s = hsum4_s32(&u4_block_dotprod::<ROWS>(&codes[r0 * rb..], rb, query));
        // SAFETY: out[r0..r0 + ROWS] is in bounds (r0 + ROWS <= nrows <= out.len()).
        unsafe { vst1q_s32(out.as_mut_ptr().add(r0), s) };
        r0 += ROWS;
    }
    for r in r0..nrows {
        out[r] = vaddvq_s32(u4_block_dotprod::<1>(&codes[r * rb..], rb, query)[0]);
    }
}
