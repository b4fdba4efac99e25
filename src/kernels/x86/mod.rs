//! x86-64 kernels: AVX2, AVX-VNNI, AVX-512BW and AVX-512 VNNI.
//!
//! Every `unsafe fn` here is `#[target_feature]` code whose only safety
//! precondition is that the CPU supports the listed features; each is
//! memory-safe for any slice lengths (it works on the common prefix, and loads
//! stay in bounds or use fault-suppressing masked loads). The safe `*_entry`
//! wrappers are only put into a [`Kernels`] table by [`available`], after
//! `is_x86_feature_detected!` confirmed the features, which is what makes
//! calling them sound.

use std::arch::x86_64::*;

use super::bounds::{u4_blocks, u4_rows, usable_rows};
use super::{scalar, Kernels};

mod avx2;
mod avx512bw;
mod avx512vnni;
mod avxvnni;
use avx2::*;
use avx512bw::*;
use avx512vnni::*;
use avxvnni::*;

/// Rows scored per iteration of the rows kernels: the query chunk is loaded
/// once and used against this many rows.
const ROWS: usize = 4;

/// How many blocks of `ROWS` rows ahead the VNNI rows kernel prefetches (0 = off).
const PREFETCH_BLOCKS: usize = 2;

/// The x86 kernel tables this CPU supports, best first.
pub(super) fn available() -> Vec<Kernels> {
    let mut v = Vec::new();
    let avx2 = is_x86_feature_detected!("avx2");
    let avx512bw =
        avx2 && is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw");
    if avx512bw && is_x86_feature_detected!("avx512vnni") {
        v.push(Kernels {
            name: "avx512vnni",
            finger: super::FingerKernels::detect(),
            dot_u8i8: dot_u8i8_avx512vnni_entry,
            dot_u8i8_rows: dot_u8i8_rows_avx512vnni_entry,
            dot_f32_f64: dot_f32_f64_avx512_entry,
            dot_u4i8_rows: dot_u4i8_rows_avx512vnni_entry,
        });
    }
    if avx2 && is_x86_feature_detected!("avxvnni") {
        v.push(Kernels {
            name: "avxvnni",
            finger: super::FingerKernels::detect(),
            dot_u8i8: dot_u8i8_avxvnni_entry,
            dot_u8i8_rows: dot_u8i8_rows_avxvnni_entry,
            dot_f32_f64: dot_f32_f64_avx2_entry,
            dot_u4i8_rows: dot_u4i8_rows_avxvnni_entry,
        });
    }
    if avx512bw {
        v.push(Kernels {
            name: "avx512bw",
            finger: super::FingerKernels::detect(),
            dot_u8i8: dot_u8i8_avx512bw_entry,
            dot_u8i8_rows: dot_u8i8_rows_avx512bw_entry,
            dot_f32_f64: dot_f32_f64_avx512_entry,
            dot_u4i8_rows: dot_u4i8_rows_avx512bw_entry,
        });
    }
    if avx2 {
        v.push(Kernels {
            name: "avx2",
            finger: super::FingerKernels::detect(),
            dot_u8i8: dot_u8i8_avx2_entry,
            dot_u8i8_rows: dot_u8i8_rows_avx2_entry,
            dot_f32_f64: dot_f32_f64_avx2_entry,
            dot_u4i8_rows: dot_u4i8_rows_avx2_entry,
        });
    }
    v
}

// ---------------------------------------------------------------------------
// Safe entries (see the module docs for why they are sound).

fn dot_u8i8_avx2_entry(a: &[u8], b: &[i8]) -> i32 {
    // SAFETY: only reachable through a table built by `available` after AVX2 was detected.
    unsafe { dot_u8i8_avx2(a, b) }
}

fn dot_u8i8_rows_avx2_entry(codes: &[u8], query: &[i8], out: &mut [i32]) {
    // SAFETY: only reachable through a table built by `available` after AVX2 was detected.
    unsafe { dot_u8i8_rows_avx2(codes, query, out) }
}

fn dot_f32_f64_avx2_entry(a: &[f32], b: &[f32]) -> f64 {
    // SAFETY: only reachable through a table built by `available` after AVX2 was detected.
    unsafe { dot_f32_f64_avx2(a, b) }
}

fn dot_u8i8_avxvnni_entry(a: &[u8], b: &[i8]) -> i32 {
    // SAFETY: only in the "avxvnni" table, built after AVX2 and AVX-VNNI were detected.
    unsafe { dot_u8i8_avxvnni(a, b) }
}

fn dot_u8i8_rows_avxvnni_entry(codes: &[u8], query: &[i8], out: &mut [i32]) {
    // SAFETY: only in the "avxvnni" table, built after AVX2 and AVX-VNNI were detected.
    unsafe { dot_u8i8_rows_avxvnni(codes, query, out) }
}

fn dot_u8i8_avx512bw_entry(a: &[u8], b: &[i8]) -> i32 {
    // SAFETY: only in AVX-512 tables, built after AVX2, AVX-512F and AVX-512BW were detected.
    unsafe { dot_u8i8_avx512bw(a, b) }
}

fn dot_u8i8_rows_avx512bw_entry(codes: &[u8], query: &[i8], out: &mut [i32]) {
    // SAFETY: only in AVX-512 tables, built after AVX2, AVX-512F and AVX-512BW were detected.
    unsafe { dot_u8i8_rows_avx512bw(codes, query, out) }
}

fn dot_f32_f64_avx512_entry(a: &[f32], b: &[f32]) -> f64 {
    // SAFETY: only in AVX-512 tables, built after AVX2, AVX-512F and AVX-512BW were detected.
    unsafe { dot_f32_f64_avx512(a, b) }
}

fn dot_u8i8_avx512vnni_entry(a: &[u8], b: &[i8]) -> i32 {
    // SAFETY: only in the "avx512vnni" table, built after AVX2, AVX-512F/BW and
    // AVX-512 VNNI were detected.
    unsafe { dot_u8i8_avx512vnni(a, b) }
}

fn dot_u8i8_rows_avx512vnni_entry(codes: &[u8], query: &[i8], out: &mut [i32]) {
    // SAFETY: only in the "avx512vnni" table, built after AVX2, AVX-512F/BW and
    // AVX-512 VNNI were detected.
    unsafe { dot_u8i8_rows_avx512vnni(codes, query, out) }
}

fn dot_u4i8_rows_avx2_entry(codes: &[u8], query: &[i8], out: &mut [i32]) {
    // SAFETY: only reachable through a table built by `available` after AVX2 was detected.
    unsafe { dot_u4i8_rows_avx2(codes, query, out) }
}

fn dot_u4i8_rows_avxvnni_entry(codes: &[u8], query: &[i8], out: &mut [i32]) {
    // SAFETY: only in the "avxvnni" table, built after AVX2 and AVX-VNNI were detected.
    unsafe { dot_u4i8_rows_avxvnni(codes, query, out) }
}

fn dot_u4i8_rows_avx512bw_entry(codes: &[u8], query: &[i8], out: &mut [i32]) {
    // SAFETY: only in AVX-512 tables, built after AVX2, AVX-512F and AVX-512BW were detected.
    unsafe { dot_u4i8_rows_avx512bw(codes, query, out) }
}

fn dot_u4i8_rows_avx512vnni_entry(codes: &[u8], query: &[i8], out: &mut [i32]) {
    // SAFETY: only in the "avx512vnni" table, built after AVX2, AVX-512F/BW and
    // AVX-512 VNNI were detected.
    unsafe { dot_u4i8_rows_avx512vnni(codes, query, out) }
}

// ---------------------------------------------------------------------------
// Shared helpers.

/// Sum of the eight i32 lanes.
#[target_feature(enable = "avx2")]
fn hsum256_epi32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}

/// Lane sums of four vectors: result lane r = Σ lanes of `v[r]`.
#[target_feature(enable = "avx2")]
fn hsum4x256_epi32(v0: __m256i, v1: __m256i, v2: __m256i, v3: __m256i) -> __m128i {
    let h01 = _mm256_hadd_epi32(v0, v1);
    let h23 = _mm256_hadd_epi32(v2, v3);
    let h = _mm256_hadd_epi32(h01, h23);
    _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h))
}

/// Folds a 512-bit i32 accumulator to 256 bits (same total).
#[target_feature(enable = "avx2,avx512f")]
fn fold512(v: __m512i) -> __m256i {
    _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64::<1>(v))
}

/// Writes the four block sums plus the scalar tails (from byte `full` on) to `out`.
#[inline(always)]
fn store_block(
    sums: [i32; ROWS],
    rows: &[&[u8]; ROWS],
    query: &[i8],
    full: usize,
    out: &mut [i32],
) {
    for r in 0..ROWS {
        out[r] = sums[r] + scalar::dot_u8i8(&rows[r][full..], &query[full..]);
    }
}

/// Mask with the low `n` bits set (`n < 64`).
#[inline(always)]
fn low_mask64(n: usize) -> __mmask64 {
    debug_assert!(n < 64);
    (1u64 << n) - 1
}

/// Reduces f64 lanes [l0..l3] (`s` already holds lane j + lane j+4) as
/// `((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7))`, the canonical tree.
#[target_feature(enable = "avx2")]
fn reduce_f64x4(s: __m256d) -> f64 {
    // [s0 + s2, s1 + s3]
    let t = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd::<1>(s));
    _mm_cvtsd_f64(_mm_add_sd(t, _mm_unpackhi_pd(t, t)))
}

/// Copies up to 8 values into a zero-padded block.
#[inline(always)]
fn pad8(x: &[f32]) -> [f32; 8] {
    let mut t = [0.0f32; 8];
    t[..x.len()].copy_from_slice(x);
    t
}

// ---------------------------------------------------------------------------
// Packed 4-bit codes × i8 query (`Kernels::dot_u4i8_rows`). A row holds one
// 64-byte block per 128 dimensions; byte j of a block carries dimension j in
// its low nibble and dimension 64 + j in its high nibble, so one 64-byte load
// unpacks into the codes for query[0..64] and query[64..128] of the block. The
// helpers score N rows (ROWS in the main loop, 1 for the leftover rows) so
// each query load serves four rows, like the u8 kernels.

/// How many rows ahead the u4 kernels prefetch (0 = off). Sixteen rows (4 KB
/// at 512 dims) measured best for galleries beyond L2.
const U4_PREFETCH_ROWS: usize = 16;

/// Prefetches the cache line `U4_PREFETCH_ROWS` rows of `rb` bytes beyond
/// byte `off` of the rows at `pc`.
#[inline(always)]
fn u4_prefetch(pc: *const u8, off: usize, rb: usize) {
    if U4_PREFETCH_ROWS > 0 {
        let ahead = pc.wrapping_add(off + U4_PREFETCH_ROWS * rb);
        // SAFETY: a prefetch is only a hint; it never faults, even for
        // addresses past the end of `codes`. (`_mm_prefetch` is a safe fn in
        // recent std but was `unsafe` in older releases.)
        #[allow(unused_unsafe)]
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(ahead.cast())
        };
    }
}

/// Lane sums of four 512-bit vectors: result lane r = Σ lanes of `v[r]`.
#[target_feature(enable = "avx2,avx512f")]
fn hsum4x512_epi32(v: &[__m512i; 4]) -> __m128i {
    // Within each 128-bit lane: [v0 a+c, v1 a+c, v0 b+d, v1 b+d], then the
    // four rows' partial sums side by side, then the four lanes added.
    let t0 = _mm512_add_epi32(
        _mm512_unpacklo_epi32(v[0], v[1]),
        _mm512_unpackhi_epi32(v[0], v[1]),
    );
    let t1 = _mm512_add_epi32(
        _mm512_unpacklo_epi32(v[2], v[3]),
        _mm512_unpackhi_epi32(v[2], v[3]),
    );
    let u = _mm512_add_epi32(_mm512_unpacklo_epi64(t0, t1), _mm512_unpackhi_epi64(t0, t1));
    let h = fold512(u);
    _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h))
}
