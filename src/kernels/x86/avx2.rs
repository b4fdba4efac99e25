//! AVX2 kernels: u8 × i8 and packed-u4 × i8 by widening to i16 and `vpmaddwd`, and the canonical
//! f32 dot (see `super` for why they are sound to call).

use super::*;

// ---------------------------------------------------------------------------
// AVX2: widen u8 -> i16 (zero-extend) and i8 -> i16 (sign-extend), then
// `vpmaddwd`. Each pair sum is at most 2 * 255 * 127, far inside i32 (unlike
// `vpmaddubsw`, which saturates at i16).

/// u8 × i8 dot with AVX2.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn dot_u8i8_avx2(a: &[u8], b: &[i8]) -> i32 {
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
pub(super) unsafe fn dot_u8i8_rows_avx2(codes: &[u8], query: &[i8], out: &mut [i32]) {
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
pub(super) unsafe fn dot_f32_f64_avx2(a: &[f32], b: &[f32]) -> f64 {
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

// Packed 4-bit codes: see `super` for the block layout.

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
pub(super) unsafe fn dot_u4i8_rows_avx2(codes: &[u8], query: &[i8], out: &mut [i32]) {
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
