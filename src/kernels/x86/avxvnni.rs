//! AVX-VNNI kernels: 256-bit `vpdpbusd` for u8 × i8 and packed-u4 × i8 (see `super` for why they are
//! sound to call).

use super::*;

// ---------------------------------------------------------------------------
// AVX-VNNI: 256-bit `vpdpbusd` (u8 × i8, groups of four summed into i32,
// no saturation in this non-`s` form).

/// u8 × i8 dot with AVX-VNNI.
///
/// # Safety
/// The CPU must support AVX2 and AVX-VNNI.
#[target_feature(enable = "avx2,avxvnni")]
pub(super) unsafe fn dot_u8i8_avxvnni(a: &[u8], b: &[i8]) -> i32 {
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
pub(super) unsafe fn dot_u8i8_rows_avxvnni(codes: &[u8], query: &[i8], out: &mut [i32]) {
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

// Packed 4-bit codes: see `super` for the block layout.

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
pub(super) unsafe fn dot_u4i8_rows_avxvnni(codes: &[u8], query: &[i8], out: &mut [i32]) {
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
