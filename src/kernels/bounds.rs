//! Size helpers shared by the SIMD kernels: they decide how many rows and blocks a kernel may
//! read, which is what keeps every load in bounds whatever the slice lengths.

/// The rows the kernel may read: `min(out.len(), codes.len() / d)`. Rows
/// beyond that (only possible when a caller bypasses the size assert) get 0.
#[inline(always)]
pub(super) fn usable_rows(codes: &[u8], d: usize, out: &mut [i32]) -> usize {
    if d == 0 {
        out.fill(0);
        return 0;
    }
    let rows = out.len().min(codes.len() / d);
    out[rows..].fill(0);
    rows
}

/// Whole 128-dimension blocks the u4 helpers read from each of `n` rows of
/// `rb` bytes at the start of `rows`: 0 unless all `n` rows are there.
///
/// The helpers load only blocks below this count, which keeps every load in
/// bounds whatever the slice lengths: row r < n, block b reads bytes
/// `r * rb + 64b..r * rb + 64b + 64`, and `64b + 64 <= rb`, `n * rb <= rows.len()`.
#[inline(always)]
pub(super) fn u4_blocks(rows: &[u8], n: usize, rb: usize, query: &[i8]) -> usize {
    if rows.len() / n.max(1) < rb {
        0
    } else {
        (query.len() / 128).min(rb / 64)
    }
}

/// Row size in bytes (`d / 2`) and how many rows of `codes` the u4 kernels may
/// read; rows beyond that (only possible when a caller bypasses the size
/// assert) get 0.
#[inline(always)]
pub(super) fn u4_rows(codes: &[u8], d: usize, out: &mut [i32]) -> (usize, usize) {
    let rb = d / 2;
    (rb, usable_rows(codes, rb, out))
}
