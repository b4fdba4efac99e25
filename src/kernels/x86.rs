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

// ---------------------------------------------------------------------------
// AVX2: widen u8 -> i16 (zero-extend) and i8 -> i16 (sign-extend), then
// `vpmaddwd`. Each pair sum is at most 2 * 255 * 127, far inside i32 (unlike
// `vpmaddubsw`, which saturates at i16).

/// u8 × i8 dot with AVX2.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
unsafe fn dot_u8i8_avx2(a: &[u8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let full = n - n % 32;
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc0 = _mm256_setzero_si256();
    let mut acc1 = _mm256_setzero_si256();
    let mut i = 0;
    while i < full {
        // SAFETY: i + 32 <= full <= n, so bytes i..i+32 of both slices are in bounds.
        let (a0, a1, b0, b1) = unsafe {
            (
                _mm_loadu_si128(pa.add(i).cast()),
                _mm_loadu_si128(pa.add(i + 16).cast()),
                _mm_loadu_si128(pb.add(i).cast()),
                _mm_loadu_si128(pb.add(i + 16).cast()),
            )
        };
        acc0 = _mm256_add_epi32(
            acc0,
            _mm256_madd_epi16(_mm256_cvtepu8_epi16(a0), _mm256_cvtepi8_epi16(b0)),
        );
        acc1 = _mm256_add_epi32(
            acc1,
            _mm256_madd_epi16(_mm256_cvtepu8_epi16(a1), _mm256_cvtepi8_epi16(b1)),
        );
        i += 32;
    }
    hsum256_epi32(_mm256_add_epi32(acc0, acc1)) + scalar::dot_u8i8(&a[full..n], &b[full..n])
}

/// Rows kernel with AVX2: four rows share each widened query chunk.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
unsafe fn dot_u8i8_rows_avx2(codes: &[u8], query: &[i8], out: &mut [i32]) {
    let d = query.len();
    let nrows = usable_rows(codes, d, out);
    let full = d - d % 16;
    let pq = query.as_ptr();
    let mut r0 = 0;
    while r0 + ROWS <= nrows {
        let rows: [&[u8]; ROWS] = std::array::from_fn(|r| &codes[(r0 + r) * d..(r0 + r + 1) * d]);
        let mut acc = [_mm256_setzero_si256(); ROWS];
        let mut i = 0;
        while i < full {
            // SAFETY: i + 16 <= full <= d = query.len().
            let q = _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(pq.add(i).cast()) });
            for r in 0..ROWS {
                // SAFETY: each row has d bytes and i + 16 <= d.
                let c = unsafe { _mm_loadu_si128(rows[r].as_ptr().add(i).cast()) };
                acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(_mm256_cvtepu8_epi16(c), q));
            }
            i += 16;
        }
        let s = hsum4x256_epi32(acc[0], acc[1], acc[2], acc[3]);
        let mut sums = [0i32; ROWS];
        // SAFETY: `sums` is 16 writable bytes; unaligned store.
        unsafe { _mm_storeu_si128(sums.as_mut_ptr().cast(), s) };
        store_block(sums, &rows, query, full, &mut out[r0..r0 + ROWS]);
        r0 += ROWS;
    }
    for r in r0..nrows {
        // SAFETY: AVX2 is supported (this function's precondition).
        out[r] = unsafe { dot_u8i8_avx2(&codes[r * d..(r + 1) * d], query) };
    }
}

/// Canonical f32 dot with AVX2: lanes 0..4 in `lo`, lanes 4..8 in `hi`.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
unsafe fn dot_f32_f64_avx2(a: &[f32], b: &[f32]) -> f64 {
    #[target_feature(enable = "avx2")]
    fn step(lo: &mut __m256d, hi: &mut __m256d, va: __m256, vb: __m256) {
        let plo = _mm256_mul_pd(
            _mm256_cvtps_pd(_mm256_castps256_ps128(va)),
            _mm256_cvtps_pd(_mm256_castps256_ps128(vb)),
        );
        let phi = _mm256_mul_pd(
            _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(va)),
            _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(vb)),
        );
        *lo = _mm256_add_pd(*lo, plo);
        *hi = _mm256_add_pd(*hi, phi);
    }
    let n = a.len().min(b.len());
    let full = n - n % 8;
    let mut lo = _mm256_setzero_pd();
    let mut hi = _mm256_setzero_pd();
    let mut i = 0;
    while i < full {
        // SAFETY: i + 8 <= full <= n, in bounds of both slices.
        let (va, vb) = unsafe {
            (
                _mm256_loadu_ps(a.as_ptr().add(i)),
                _mm256_loadu_ps(b.as_ptr().add(i)),
            )
        };
        step(&mut lo, &mut hi, va, vb);
        i += 8;
    }
    if full < n {
        // Tail: zero padding adds +0.0 products, which leave the lanes unchanged.
        let (ta, tb) = (pad8(&a[full..n]), pad8(&b[full..n]));
        // SAFETY: the padded arrays hold 8 f32 each.
        let (va, vb) = unsafe { (_mm256_loadu_ps(ta.as_ptr()), _mm256_loadu_ps(tb.as_ptr())) };
        step(&mut lo, &mut hi, va, vb);
    }
    reduce_f64x4(_mm256_add_pd(lo, hi))
}

/// Copies up to 8 values into a zero-padded block.
#[inline(always)]
fn pad8(x: &[f32]) -> [f32; 8] {
    let mut t = [0.0f32; 8];
    t[..x.len()].copy_from_slice(x);
    t
}

// ---------------------------------------------------------------------------
// AVX-VNNI: 256-bit `vpdpbusd` (u8 × i8, groups of four summed into i32,
// no saturation in this non-`s` form).

/// u8 × i8 dot with AVX-VNNI.
///
/// # Safety
/// The CPU must support AVX2 and AVX-VNNI.
#[target_feature(enable = "avx2,avxvnni")]
unsafe fn dot_u8i8_avxvnni(a: &[u8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let full = n - n % 64;
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc0 = _mm256_setzero_si256();
    let mut acc1 = _mm256_setzero_si256();
    let mut i = 0;
    while i < full {
        // SAFETY: i + 64 <= full <= n, in bounds of both slices.
        let (a0, a1, b0, b1) = unsafe {
            (
                _mm256_loadu_si256(pa.add(i).cast()),
                _mm256_loadu_si256(pa.add(i + 32).cast()),
                _mm256_loadu_si256(pb.add(i).cast()),
                _mm256_loadu_si256(pb.add(i + 32).cast()),
            )
        };
        acc0 = _mm256_dpbusd_avx_epi32(acc0, a0, b0);
        acc1 = _mm256_dpbusd_avx_epi32(acc1, a1, b1);
        i += 64;
    }
    hsum256_epi32(_mm256_add_epi32(acc0, acc1)) + scalar::dot_u8i8(&a[full..n], &b[full..n])
}

/// Rows kernel with AVX-VNNI: four rows share each query load.
///
/// # Safety
/// The CPU must support AVX2 and AVX-VNNI.
#[target_feature(enable = "avx2,avxvnni")]
unsafe fn dot_u8i8_rows_avxvnni(codes: &[u8], query: &[i8], out: &mut [i32]) {
    let d = query.len();
    let nrows = usable_rows(codes, d, out);
    let full = d - d % 32;
    let pq = query.as_ptr();
    let mut r0 = 0;
    while r0 + ROWS <= nrows {
        let rows: [&[u8]; ROWS] = std::array::from_fn(|r| &codes[(r0 + r) * d..(r0 + r + 1) * d]);
        let mut acc = [_mm256_setzero_si256(); ROWS];
        let mut i = 0;
        while i < full {
            // SAFETY: i + 32 <= full <= d = query.len().
            let q = unsafe { _mm256_loadu_si256(pq.add(i).cast()) };
            for r in 0..ROWS {
                // SAFETY: each row has d bytes and i + 32 <= d.
                let c = unsafe { _mm256_loadu_si256(rows[r].as_ptr().add(i).cast()) };
                acc[r] = _mm256_dpbusd_avx_epi32(acc[r], c, q);
            }
            i += 32;
        }
        let s = hsum4x256_epi32(acc[0], acc[1], acc[2], acc[3]);
        let mut sums = [0i32; ROWS];
        // SAFETY: `sums` is 16 writable bytes; unaligned store.
        unsafe { _mm_storeu_si128(sums.as_mut_ptr().cast(), s) };
        store_block(sums, &rows, query, full, &mut out[r0..r0 + ROWS]);
        r0 += ROWS;
    }
    for r in r0..nrows {
        // SAFETY: AVX2 and AVX-VNNI are supported (this function's precondition).
        out[r] = unsafe { dot_u8i8_avxvnni(&codes[r * d..(r + 1) * d], query) };
    }
}

// ---------------------------------------------------------------------------
// AVX-512BW: the AVX2 widening scheme at 512 bits; tails use masked loads,
// which never touch (or fault on) masked-off bytes.

/// u8 × i8 dot with AVX-512BW.
///
/// # Safety
/// The CPU must support AVX2, AVX-512F and AVX-512BW.
#[target_feature(enable = "avx2,avx512f,avx512bw")]
unsafe fn dot_u8i8_avx512bw(a: &[u8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc0 = _mm512_setzero_si512();
    let mut acc1 = _mm512_setzero_si512();
    let mut i = 0;
    while i + 64 <= n {
        // SAFETY: i + 64 <= n, in bounds of both slices.
        let (a0, a1, b0, b1) = unsafe {
            (
                _mm256_loadu_si256(pa.add(i).cast()),
                _mm256_loadu_si256(pa.add(i + 32).cast()),
                _mm256_loadu_si256(pb.add(i).cast()),
                _mm256_loadu_si256(pb.add(i + 32).cast()),
            )
        };
        acc0 = _mm512_add_epi32(
            acc0,
            _mm512_madd_epi16(_mm512_cvtepu8_epi16(a0), _mm512_cvtepi8_epi16(b0)),
        );
        acc1 = _mm512_add_epi32(
            acc1,
            _mm512_madd_epi16(_mm512_cvtepu8_epi16(a1), _mm512_cvtepi8_epi16(b1)),
        );
        i += 64;
    }
    if i < n {
        let m = low_mask64(n - i);
        // SAFETY: masked loads read only the n - i in-bounds bytes from i on;
        // masked-off bytes are not accessed and read as zero.
        let (va, vb) = unsafe {
            (
                _mm512_maskz_loadu_epi8(m, pa.add(i).cast()),
                _mm512_maskz_loadu_epi8(m, pb.add(i).cast()),
            )
        };
        acc0 = _mm512_add_epi32(
            acc0,
            _mm512_madd_epi16(
                _mm512_cvtepu8_epi16(_mm512_castsi512_si256(va)),
                _mm512_cvtepi8_epi16(_mm512_castsi512_si256(vb)),
            ),
        );
        acc1 = _mm512_add_epi32(
            acc1,
            _mm512_madd_epi16(
                _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64::<1>(va)),
                _mm512_cvtepi8_epi16(_mm512_extracti64x4_epi64::<1>(vb)),
            ),
        );
    }
    _mm512_reduce_add_epi32(_mm512_add_epi32(acc0, acc1))
}

/// Rows kernel with AVX-512BW: four rows share each widened query chunk.
///
/// # Safety
/// The CPU must support AVX2, AVX-512F and AVX-512BW.
#[target_feature(enable = "avx2,avx512f,avx512bw")]
unsafe fn dot_u8i8_rows_avx512bw(codes: &[u8], query: &[i8], out: &mut [i32]) {
    let d = query.len();
    let nrows = usable_rows(codes, d, out);
    let full = d - d % 32;
    let pq = query.as_ptr();
    let mut r0 = 0;
    while r0 + ROWS <= nrows {
        let rows: [&[u8]; ROWS] = std::array::from_fn(|r| &codes[(r0 + r) * d..(r0 + r + 1) * d]);
        let mut acc = [_mm512_setzero_si512(); ROWS];
        let mut i = 0;
        while i < full {
            // SAFETY: i + 32 <= full <= d = query.len().
            let q = _mm512_cvtepi8_epi16(unsafe { _mm256_loadu_si256(pq.add(i).cast()) });
            for r in 0..ROWS {
                // SAFETY: each row has d bytes and i + 32 <= d.
                let c = unsafe { _mm256_loadu_si256(rows[r].as_ptr().add(i).cast()) };
                acc[r] = _mm512_add_epi32(acc[r], _mm512_madd_epi16(_mm512_cvtepu8_epi16(c), q));
            }
            i += 32;
        }
        let s = hsum4x256_epi32(
            fold512(acc[0]),
            fold512(acc[1]),
            fold512(acc[2]),
            fold512(acc[3]),
        );
        let mut sums = [0i32; ROWS];
        // SAFETY: `sums` is 16 writable bytes; unaligned store.
        unsafe { _mm_storeu_si128(sums.as_mut_ptr().cast(), s) };
        store_block(sums, &rows, query, full, &mut out[r0..r0 + ROWS]);
        r0 += ROWS;
    }
    for r in r0..nrows {
        // SAFETY: the features are supported (this function's precondition).
        out[r] = unsafe { dot_u8i8_avx512bw(&codes[r * d..(r + 1) * d], query) };
    }
}

/// Canonical f32 dot with AVX-512: one vector holds all eight lanes.
///
/// # Safety
/// The CPU must support AVX2 and AVX-512F.
#[target_feature(enable = "avx2,avx512f")]
unsafe fn dot_f32_f64_avx512(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len());
    let full = n - n % 8;
    let mut acc = _mm512_setzero_pd();
    let mut i = 0;
    while i < full {
        // SAFETY: i + 8 <= full <= n, in bounds of both slices.
        let (va, vb) = unsafe {
            (
                _mm256_loadu_ps(a.as_ptr().add(i)),
                _mm256_loadu_ps(b.as_ptr().add(i)),
            )
        };
        acc = _mm512_add_pd(acc, _mm512_mul_pd(_mm512_cvtps_pd(va), _mm512_cvtps_pd(vb)));
        i += 8;
    }
    if full < n {
        // Tail: zero padding adds +0.0 products, which leave the lanes unchanged.
        let (ta, tb) = (pad8(&a[full..n]), pad8(&b[full..n]));
        // SAFETY: the padded arrays hold 8 f32 each.
        let (va, vb) = unsafe { (_mm256_loadu_ps(ta.as_ptr()), _mm256_loadu_ps(tb.as_ptr())) };
        acc = _mm512_add_pd(acc, _mm512_mul_pd(_mm512_cvtps_pd(va), _mm512_cvtps_pd(vb)));
    }
    // [l0+l4, l1+l5, l2+l6, l3+l7]
    let s = _mm256_add_pd(
        _mm512_castpd512_pd256(acc),
        _mm512_extractf64x4_pd::<1>(acc),
    );
    reduce_f64x4(s)
}

// ---------------------------------------------------------------------------
// AVX-512 VNNI: 512-bit `vpdpbusd` is exactly u8 codes × i8 query.

/// u8 × i8 dot with AVX-512 VNNI.
///
/// # Safety
/// The CPU must support AVX2, AVX-512F, AVX-512BW and AVX-512 VNNI.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vnni")]
unsafe fn dot_u8i8_avx512vnni(a: &[u8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc0 = _mm512_setzero_si512();
    let mut acc1 = _mm512_setzero_si512();
    let mut i = 0;
    while i + 128 <= n {
        // SAFETY: i + 128 <= n, in bounds of both slices.
        let (a0, a1, b0, b1) = unsafe {
            (
                _mm512_loadu_si512(pa.add(i).cast()),
                _mm512_loadu_si512(pa.add(i + 64).cast()),
                _mm512_loadu_si512(pb.add(i).cast()),
                _mm512_loadu_si512(pb.add(i + 64).cast()),
            )
        };
        acc0 = _mm512_dpbusd_epi32(acc0, a0, b0);
        acc1 = _mm512_dpbusd_epi32(acc1, a1, b1);
        i += 128;
    }
    while i < n {
        let m = if n - i >= 64 { !0 } else { low_mask64(n - i) };
        // SAFETY: the mask covers only bytes i..min(i + 64, n), all in bounds;
        // masked-off bytes are not accessed and read as zero.
        let (va, vb) = unsafe {
            (
                _mm512_maskz_loadu_epi8(m, pa.add(i).cast()),
                _mm512_maskz_loadu_epi8(m, pb.add(i).cast()),
            )
        };
        acc0 = _mm512_dpbusd_epi32(acc0, va, vb);
        i += 64;
    }
    _mm512_reduce_add_epi32(_mm512_add_epi32(acc0, acc1))
}

/// Rows kernel with AVX-512 VNNI: each 64-byte query chunk is loaded once and
/// multiplied into four rows; the next block of rows is prefetched.
///
/// # Safety
/// The CPU must support AVX2, AVX-512F, AVX-512BW and AVX-512 VNNI.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vnni")]
unsafe fn dot_u8i8_rows_avx512vnni(codes: &[u8], query: &[i8], out: &mut [i32]) {
    let d = query.len();
    let nrows = usable_rows(codes, d, out);
    let pq = query.as_ptr();
    let tail = d % 64;
    let full = d - tail;
    let tail_mask = low_mask64(tail);
    let mut r0 = 0;
    while r0 + ROWS <= nrows {
        let base = codes[r0 * d..(r0 + ROWS) * d].as_ptr();
        let mut acc = [_mm512_setzero_si512(); ROWS];
        let mut i = 0;
        while i < full {
            // SAFETY: i + 64 <= full <= d = query.len().
            let q = unsafe { _mm512_loadu_si512(pq.add(i).cast()) };
            for (r, a) in acc.iter_mut().enumerate() {
                // SAFETY: the block holds ROWS rows of d bytes; r * d + i + 64 <= ROWS * d.
                let c = unsafe { _mm512_loadu_si512(base.add(r * d + i).cast()) };
                if PREFETCH_BLOCKS > 0 {
                    let ahead = base.wrapping_add(PREFETCH_BLOCKS * ROWS * d + r * d + i);
                    // SAFETY: a prefetch is only a hint; it never faults, even
                    // for addresses past the end of `codes`. (`_mm_prefetch` is a
                    // safe fn in recent std but was `unsafe` in older releases.)
                    #[allow(unused_unsafe)]
                    unsafe {
                        _mm_prefetch::<_MM_HINT_T0>(ahead.cast())
                    };
                }
                *a = _mm512_dpbusd_epi32(*a, c, q);
            }
            i += 64;
        }
        if tail != 0 {
            // SAFETY: the masks cover bytes full..d of the query and of each row,
            // all in bounds; masked-off bytes are not accessed and read as zero.
            let q = unsafe { _mm512_maskz_loadu_epi8(tail_mask, pq.add(full).cast()) };
            for (r, a) in acc.iter_mut().enumerate() {
                // SAFETY: as above, for row r of the block.
                let c =
                    unsafe { _mm512_maskz_loadu_epi8(tail_mask, base.add(r * d + full).cast()) };
                *a = _mm512_dpbusd_epi32(*a, c, q);
            }
        }
        let s = hsum4x256_epi32(
            fold512(acc[0]),
            fold512(acc[1]),
            fold512(acc[2]),
            fold512(acc[3]),
        );
        // SAFETY: out[r0..r0 + ROWS] is in bounds (r0 + ROWS <= nrows <= out.len());
        // unaligned 16-byte store of four i32.
        unsafe { _mm_storeu_si128(out.as_mut_ptr().add(r0).cast(), s) };
        r0 += ROWS;
    }
    for r in r0..nrows {
        // SAFETY: the features are supported (this function's precondition).
        out[r] = unsafe { dot_u8i8_avx512vnni(&codes[r * d..(r + 1) * d], query) };
    }
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

/// Packed-u4 × i8 over N rows with AVX2; returns per-row i32 lane sums.
///
/// `vpmaddubsw` saturates its pair sums at i16, but here the unsigned operand
/// is a nibble (<= 15) and |q| <= 128, so a pair is at most 2 * 15 * 128 =
/// 3840 in magnitude, and the four products summed per 16-bit lane of a block
/// half (low + high nibbles) at most 7680: no saturation, the sums are exact.
/// The two halves of a block are added in i16 (<= 15360) and widened to i32
/// with `vpmaddwd` by ones.
#[target_feature(enable = "avx2")]
fn u4_block_avx2<const N: usize>(rows: &[u8], rb: usize, query: &[i8]) -> [__m256i; N] {
    let blocks = u4_blocks(rows, N, rb, query);
    let nib = _mm256_set1_epi8(0x0f);
    let ones = _mm256_set1_epi16(1);
    let (pc, pq) = (rows.as_ptr(), query.as_ptr());
    let mut acc = [_mm256_setzero_si256(); N];
    for b in 0..blocks {
        // SAFETY: b < blocks <= query.len() / 128: query bytes 128b..128b + 128 are in bounds.
        let q = unsafe {
            [
                _mm256_loadu_si256(pq.add(128 * b).cast()),
                _mm256_loadu_si256(pq.add(128 * b + 32).cast()),
                _mm256_loadu_si256(pq.add(128 * b + 64).cast()),
                _mm256_loadu_si256(pq.add(128 * b + 96).cast()),
            ]
        };
        for (r, a) in acc.iter_mut().enumerate() {
            u4_prefetch(pc, r * rb + 64 * b, rb);
            // SAFETY: row r < N, block b < blocks: in bounds (see `u4_blocks`).
            let (c0, c1) = unsafe {
                let p = pc.add(r * rb + 64 * b);
                (
                    _mm256_loadu_si256(p.cast()),
                    _mm256_loadu_si256(p.add(32).cast()),
                )
            };
            let m0 = _mm256_add_epi16(
                _mm256_maddubs_epi16(_mm256_and_si256(c0, nib), q[0]),
                _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16::<4>(c0), nib), q[2]),
            );
            let m1 = _mm256_add_epi16(
                _mm256_maddubs_epi16(_mm256_and_si256(c1, nib), q[1]),
                _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16::<4>(c1), nib), q[3]),
            );
            *a = _mm256_add_epi32(*a, _mm256_madd_epi16(_mm256_add_epi16(m0, m1), ones));
        }
    }
    acc
}

/// Packed-u4 rows kernel with AVX2.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
unsafe fn dot_u4i8_rows_avx2(codes: &[u8], query: &[i8], out: &mut [i32]) {
    let (rb, nrows) = u4_rows(codes, query.len(), out);
    let mut r0 = 0;
    while r0 + ROWS <= nrows {
        let a = u4_block_avx2::<ROWS>(&codes[r0 * rb..], rb, query);
        let s = hsum4x256_epi32(a[0], a[1], a[2], a[3]);
        // SAFETY: out[r0..r0 + ROWS] is in bounds (r0 + ROWS <= nrows <= out.len());
        // unaligned 16-byte store of four i32.
        unsafe { _mm_storeu_si128(out.as_mut_ptr().add(r0).cast(), s) };
        r0 += ROWS;
    }
    for r in r0..nrows {
        out[r] = hsum256_epi32(u4_block_avx2::<1>(&codes[r * rb..], rb, query)[0]);
    }
}

/// Packed-u4 × i8 over N rows with AVX-VNNI; returns per-row i32 lane sums.
///
/// `vpdpbusd` takes the codes as its unsigned operand, so the high nibbles
/// need no shift: `c & 0xf0` is 16 × the high nibble (<= 240, a valid u8). It
/// goes into its own accumulator, divided by 16 at the end — exactly, as every
/// product is a multiple of 16. Lane bound: two `vpdpbusd` of four products
/// per block, 8 * 240 * 128 = 245760, so no overflow below 8738 blocks (over
/// 1.1 M dimensions; the contract stops at 2^20).
#[target_feature(enable = "avx2,avxvnni")]
fn u4_block_avxvnni<const N: usize>(rows: &[u8], rb: usize, query: &[i8]) -> [__m256i; N] {
    let blocks = u4_blocks(rows, N, rb, query);
    let lo_mask = _mm256_set1_epi8(0x0f);
    let hi_mask = _mm256_set1_epi8(0xf0u8 as i8);
    let (pc, pq) = (rows.as_ptr(), query.as_ptr());
    let mut lo = [_mm256_setzero_si256(); N];
    let mut hi = [_mm256_setzero_si256(); N];
    for b in 0..blocks {
        for h in 0..2 {
            // SAFETY: b < blocks <= query.len() / 128 and h < 2: both 32-byte
            // loads lie in query bytes 128b..128b + 128.
            let (ql, qh) = unsafe {
                (
                    _mm256_loadu_si256(pq.add(128 * b + 32 * h).cast()),
                    _mm256_loadu_si256(pq.add(128 * b + 64 + 32 * h).cast()),
                )
            };
            for r in 0..N {
                // SAFETY: row r < N, block b < blocks, h < 2: in bounds (see `u4_blocks`).
                let c = unsafe { _mm256_loadu_si256(pc.add(r * rb + 64 * b + 32 * h).cast()) };
                if h == 0 {
                    u4_prefetch(pc, r * rb + 64 * b, rb);
                }
                lo[r] = _mm256_dpbusd_avx_epi32(lo[r], _mm256_and_si256(c, lo_mask), ql);
                hi[r] = _mm256_dpbusd_avx_epi32(hi[r], _mm256_and_si256(c, hi_mask), qh);
            }
        }
    }
    let mut acc = [_mm256_setzero_si256(); N];
    for r in 0..N {
        acc[r] = _mm256_add_epi32(lo[r], _mm256_srai_epi32::<4>(hi[r]));
    }
    acc
}

/// Packed-u4 rows kernel with AVX-VNNI.
///
/// # Safety
/// The CPU must support AVX2 and AVX-VNNI.
#[target_feature(enable = "avx2,avxvnni")]
unsafe fn dot_u4i8_rows_avxvnni(codes: &[u8], query: &[i8], out: &mut [i32]) {
    let (rb, nrows) = u4_rows(codes, query.len(), out);
    let mut r0 = 0;
    while r0 + ROWS <= nrows {
        let a = u4_block_avxvnni::<ROWS>(&codes[r0 * rb..], rb, query);
        let s = hsum4x256_epi32(a[0], a[1], a[2], a[3]);
        // SAFETY: out[r0..r0 + ROWS] is in bounds (r0 + ROWS <= nrows <= out.len());
        // unaligned 16-byte store of four i32.
        unsafe { _mm_storeu_si128(out.as_mut_ptr().add(r0).cast(), s) };
        r0 += ROWS;
    }
    for r in r0..nrows {
        out[r] = hsum256_epi32(u4_block_avxvnni::<1>(&codes[r * rb..], rb, query)[0]);
    }
}

/// Packed-u4 × i8 over N rows with AVX-512BW `vpmaddubsw` (exact for the
/// reason given on [`u4_block_avx2`]); returns per-row i32 lane sums.
///
/// A block adds at most 7680 in magnitude to a 16-bit lane, so up to four
/// blocks (30720) are summed in i16 before `vpmaddwd` widens them to i32.
#[target_feature(enable = "avx2,avx512f,avx512bw")]
fn u4_block_avx512bw<const N: usize>(rows: &[u8], rb: usize, query: &[i8]) -> [__m512i; N] {
    const I16_BLOCKS: usize = 4;
    let blocks = u4_blocks(rows, N, rb, query);
    let nib = _mm512_set1_epi8(0x0f);
    let ones = _mm512_set1_epi16(1);
    let (pc, pq) = (rows.as_ptr(), query.as_ptr());
    let mut acc = [_mm512_setzero_si512(); N];
    let mut b0 = 0;
    while b0 < blocks {
        let mut acc16 = [_mm512_setzero_si512(); N];
        for b in b0..blocks.min(b0 + I16_BLOCKS) {
            // SAFETY: b < blocks <= query.len() / 128: query bytes 128b..128b + 128 are in bounds.
            let (ql, qh) = unsafe {
                (
                    _mm512_loadu_si512(pq.add(128 * b).cast()),
                    _mm512_loadu_si512(pq.add(128 * b + 64).cast()),
                )
            };
            for (r, a) in acc16.iter_mut().enumerate() {
                // SAFETY: row r < N, block b < blocks: in bounds (see `u4_blocks`).
                let c = unsafe { _mm512_loadu_si512(pc.add(r * rb + 64 * b).cast()) };
                u4_prefetch(pc, r * rb + 64 * b, rb);
                let lo = _mm512_and_si512(c, nib);
                let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(c), nib);
                *a = _mm512_add_epi16(*a, _mm512_maddubs_epi16(lo, ql));
                *a = _mm512_add_epi16(*a, _mm512_maddubs_epi16(hi, qh));
            }
        }
        for r in 0..N {
            acc[r] = _mm512_add_epi32(acc[r], _mm512_madd_epi16(acc16[r], ones));
        }
        b0 += I16_BLOCKS;
    }
    acc
}

/// Packed-u4 rows kernel with AVX-512BW.
///
/// # Safety
/// The CPU must support AVX2, AVX-512F and AVX-512BW.
#[target_feature(enable = "avx2,avx512f,avx512bw")]
unsafe fn dot_u4i8_rows_avx512bw(codes: &[u8], query: &[i8], out: &mut [i32]) {
    let (rb, nrows) = u4_rows(codes, query.len(), out);
    let mut r0 = 0;
    while r0 + ROWS <= nrows {
        let s = hsum4x512_epi32(&u4_block_avx512bw::<ROWS>(&codes[r0 * rb..], rb, query));
        // SAFETY: out[r0..r0 + ROWS] is in bounds (r0 + ROWS <= nrows <= out.len());
        // unaligned 16-byte store of four i32.
        unsafe { _mm_storeu_si128(out.as_mut_ptr().add(r0).cast(), s) };
        r0 += ROWS;
    }
    for r in r0..nrows {
        out[r] = _mm512_reduce_add_epi32(u4_block_avx512bw::<1>(&codes[r * rb..], rb, query)[0]);
    }
}

/// Packed-u4 × i8 over N rows with AVX-512 VNNI; returns per-row i32 lane
/// sums. One 64-byte load per row and block: `c & 0x0f` against query[0..64]
/// and `c & 0xf0` (16 × the high nibble, no shift) against query[64..128] in
/// a second accumulator divided by 16 at the end, as in [`u4_block_avxvnni`]
/// (here one `vpdpbusd` per block and lane: no overflow below 17476 blocks).
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vnni")]
fn u4_block_avx512vnni<const N: usize>(rows: &[u8], rb: usize, query: &[i8]) -> [__m512i; N] {
    let blocks = u4_blocks(rows, N, rb, query);
    let lo_mask = _mm512_set1_epi8(0x0f);
    let hi_mask = _mm512_set1_epi8(0xf0u8 as i8);
    let (pc, pq) = (rows.as_ptr(), query.as_ptr());
    let mut lo = [_mm512_setzero_si512(); N];
    let mut hi = [_mm512_setzero_si512(); N];
    for b in 0..blocks {
        // SAFETY: b < blocks <= query.len() / 128: query bytes 128b..128b + 128 are in bounds.
        let (ql, qh) = unsafe {
            (
                _mm512_loadu_si512(pq.add(128 * b).cast()),
                _mm512_loadu_si512(pq.add(128 * b + 64).cast()),
            )
        };
        for r in 0..N {
            // SAFETY: row r < N, block b < blocks: in bounds (see `u4_blocks`).
            let c = unsafe { _mm512_loadu_si512(pc.add(r * rb + 64 * b).cast()) };
            u4_prefetch(pc, r * rb + 64 * b, rb);
            lo[r] = _mm512_dpbusd_epi32(lo[r], _mm512_and_si512(c, lo_mask), ql);
            hi[r] = _mm512_dpbusd_epi32(hi[r], _mm512_and_si512(c, hi_mask), qh);
        }
    }
    let mut acc = [_mm512_setzero_si512(); N];
    for r in 0..N {
        acc[r] = _mm512_add_epi32(lo[r], _mm512_srai_epi32::<4>(hi[r]));
    }
    acc
}

/// Packed-u4 rows kernel with AVX-512 VNNI.
///
/// # Safety
/// The CPU must support AVX2, AVX-512F, AVX-512BW and AVX-512 VNNI.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vnni")]
unsafe fn dot_u4i8_rows_avx512vnni(codes: &[u8], query: &[i8], out: &mut [i32]) {
    let (rb, nrows) = u4_rows(codes, query.len(), out);
    let mut r0 = 0;
    while r0 + ROWS <= nrows {
        let s = hsum4x512_epi32(&u4_block_avx512vnni::<ROWS>(&codes[r0 * rb..], rb, query));
        // SAFETY: out[r0..r0 + ROWS] is in bounds (r0 + ROWS <= nrows <= out.len());
        // unaligned 16-byte store of four i32.
        unsafe { _mm_storeu_si128(out.as_mut_ptr().add(r0).cast(), s) };
        r0 += ROWS;
    }
    for r in r0..nrows {
        out[r] = _mm512_reduce_add_epi32(u4_block_avx512vnni::<1>(&codes[r * rb..], rb, query)[0]);
    }
}
