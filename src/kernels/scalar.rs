//! Portable reference kernels.
//!
//! These define the results every SIMD kernel must reproduce. They are written
//! for clarity first; they are also the fallback on CPUs without a SIMD path.
//! All of them are memory-safe for any input lengths: they use the common
//! prefix, and the sizes are checked by the safe wrappers in `Kernels`.

/// Σ a[i] * b[i] over the common prefix of `a` and `b`.
pub(super) fn dot_u8i8(a: &[u8], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum()
}

/// `out[r] = dot_u8i8(codes[r*d..(r+1)*d], query)` with `d = query.len()`.
///
/// Rows missing from `codes` (or all rows when `d == 0`) get 0.
pub(super) fn dot_u8i8_rows(codes: &[u8], query: &[i8], out: &mut [i32]) {
    let d = query.len();
    if d == 0 {
        out.fill(0);
        return;
    }
    let mut rows = codes.chunks_exact(d);
    for o in out.iter_mut() {
        *o = rows.next().map_or(0, |row| dot_u8i8(row, query));
    }
}

/// Canonical dot product of f32 vectors, accumulated in f64.
///
/// Each product `a[i] as f64 * b[i] as f64` is exact (24-bit × 24-bit
/// significands fit in 53 bits and the exponent range cannot overflow or
/// underflow). Lane `j` (0..8) sums the products with `i % 8 == j` in
/// increasing `i`, starting from +0.0; the lanes are then reduced as
/// `((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7))`.
///
/// SIMD kernels that pad the tail with zeros add extra `+0.0` products; that
/// leaves a lane unchanged because a lane that starts at +0.0 can never be
/// -0.0 (round-to-nearest gives -0.0 only for (-0.0) + (-0.0)).
pub(super) fn dot_f32_f64(a: &[f32], b: &[f32]) -> f64 {
    let mut lanes = [0.0f64; 8];
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        lanes[i % 8] += f64::from(x) * f64::from(y);
    }
    reduce_lanes(&lanes)
}

/// The fixed reduction tree shared by every ISA (documented on [`dot_f32_f64`]).
#[inline]
pub(super) fn reduce_lanes(l: &[f64; 8]) -> f64 {
    ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]))
}

/// Packed 4-bit rows × i8 query (layout in [`super::Kernels::dot_u4i8_rows`]).
///
/// Rows are `query.len() / 2` bytes; only whole 64-byte blocks paired with
/// whole 128-value query blocks count. Rows missing from `codes` (or all rows
/// when `query.len() < 2`) get 0.
pub(super) fn dot_u4i8_rows(codes: &[u8], query: &[i8], out: &mut [i32]) {
    let row_bytes = query.len() / 2;
    if row_bytes == 0 {
        out.fill(0);
        return;
    }
    let mut rows = codes.chunks_exact(row_bytes);
    for o in out.iter_mut() {
        *o = rows.next().map_or(0, |row| dot_u4i8(row, query));
    }
}

/// One packed 4-bit row × i8 query.
fn dot_u4i8(row: &[u8], query: &[i8]) -> i32 {
    let mut acc = 0i32;
    for (bytes, q) in row.chunks_exact(64).zip(query.chunks_exact(128)) {
        for (j, &byte) in bytes.iter().enumerate() {
            acc += i32::from(byte & 0x0f) * i32::from(q[j]);
            acc += i32::from(byte >> 4) * i32::from(q[64 + j]);
        }
    }
    acc
}
