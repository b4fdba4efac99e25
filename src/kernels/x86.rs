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

use super::{scalar, Kernels};

/// Rows scored per iteration of the rows kernels: the query chunk is loaded
/// once and used against this many rows.
const ROWS: usize = 4;

/// The x86 kernel tables this CPU supports, best first.
pub(super) fn available() -> Vec<Kernels> {
    let mut v = Vec::new();
    let avx2 = is_x86_feature_detected!("avx2");
    let avx512bw =
        avx2 && is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw");
    if avx512bw && is_x86_feature_detected!("avx512vnni") {
        v.push(Kernels {
            name: "avx512vnni",
            dot_u8i8: dot_u8i8_avx512vnni_entry,
            dot_u8i8_rows: dot_u8i8_rows_avx512vnni_entry,
            dot_f32_f64: dot_f32_f64_avx512_entry,
        });
    }
    if avx2 && is_x86_feature_detected!("avxvnni") {
        v.push(Kernels {
            name: "avxvnni",
            dot_u8i8: dot_u8i8_avxvnni_entry,
            dot_u8i8_rows: dot_u8i8_rows_avxvnni_entry,
            dot_f32_f64: dot_f32_f64_avx2_entry,
        });
    }
    if avx512bw {
        v.push(Kernels {
            name: "avx512bw",
            dot_u8i8: dot_u8i8_avx512bw_entry,
            dot_u8i8_rows: dot_u8i8_rows_avx512bw_entry,
            dot_f32_f64: dot_f32_f64_avx512_entry,
        });
    }
    if avx2 {
        v.push(Kernels {
            name: "avx2",
            dot_u8i8: dot_u8i8_avx2_entry,
            dot_u8i8_rows: dot_u8i8_rows_avx2_entry,
            dot_f32_f64: dot_f32_f64_avx2_entry,
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

// ---------------------------------------------------------------------------
// Shared helpers.

/// Splits `codes` into the rows the kernel may read: `min(out.len(), codes.len() / d)`.
/// Rows beyond that (only possible when a caller bypasses the size assert) get 0.
#[inline(always)]
fn usable_rows(codes: &[u8], d: usize, out: &mut [i32]) -> usize {
    if d == 0 {
        out.fill(0);
        return 0;
    }
    let rows = out.len().min(codes.len() / d);
    out[rows..].fill(0);
    rows
}

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
