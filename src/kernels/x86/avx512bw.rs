//! AVX-512BW kernels: the AVX2 widening scheme at 512 bits with masked tails, the canonical f32
//! dot, and packed-u4 × i8 (see `super` for why they are sound to call).

use super::*;

// ---------------------------------------------------------------------------
// AVX-512BW: the AVX2 widening scheme at 512 bits; tails use masked loads,
// which never touch (or fault on) masked-off bytes.

/// u8 × i8 dot with AVX-512BW.
///
/// # Safety
/// The CPU must support AVX2, AVX-512F and AVX-512BW.
#[target_feature(enable = "avx2,avx512f,avx512bw")]
pub(super) unsafe fn dot_u8i8_avx512bw(a: &[u8], b: &[i8]) -> i32 {
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
pub(super) unsafe fn dot_u8i8_rows_avx512bw(codes: &[u8], query: &[i8], out: &mut [i32]) {
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
pub(super) unsafe fn dot_f32_f64_avx512(a: &[f32], b: &[f32]) -> f64 {
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

// Packed 4-bit codes: see `super` for the block layout.

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
pub(super) unsafe fn dot_u4i8_rows_avx512bw(codes: &[u8], query: &[i8], out: &mut [i32]) {
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
