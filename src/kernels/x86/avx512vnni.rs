//! AVX-512 VNNI kernels: 512-bit `vpdpbusd` for u8 × i8 and packed-u4 × i8 (see `super` for why
//! they are sound to call).

use super::*;

// ---------------------------------------------------------------------------
// AVX-512 VNNI: 512-bit `vpdpbusd` is exactly u8 codes × i8 query.

/// u8 × i8 dot with AVX-512 VNNI.
///
/// # Safety
/// The CPU must support AVX2, AVX-512F, AVX-512BW and AVX-512 VNNI.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vnni")]
pub(super) unsafe fn dot_u8i8_avx512vnni(a: &[u8], b: &[i8]) -> i32 {
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
pub(super) unsafe fn dot_u8i8_rows_avx512vnni(codes: &[u8], query: &[i8], out: &mut [i32]) {
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

// Packed 4-bit codes: see `super` for the block layout.

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
pub(super) unsafe fn dot_u4i8_rows_avx512vnni(codes: &[u8], query: &[i8], out: &mut [i32]) {
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
