//! Kernel-versus-reference checks shared by the unit tests and the
//! single-threaded `tests/kernels_aarch64.rs` binary (which includes this file
//! with `#[path]`; there `super::Kernels` is `edgeid::kernels::Kernels`).
//!
//! Each check runs one kernel table against the scalar table and against a
//! naive reference written here, and returns the first mismatch as an error.
//! No threads, no external crates: the aarch64 binary runs under qemu-user,
//! where a second thread hangs.

use super::Kernels;

/// A named check of one kernel table.
pub type Check = fn(&Kernels) -> Result<(), String>;

/// Every check, by name.
pub const CHECKS: &[(&str, Check)] = &[
    ("dot_u8i8_random_lengths", dot_u8i8_random_lengths),
    ("dot_u8i8_extremes", dot_u8i8_extremes),
    ("dot_u8i8_unaligned_slices", dot_u8i8_unaligned_slices),
    ("rows_random", rows_random),
    ("rows_extremes", rows_extremes),
    ("f32_f64_bit_identical_random", f32_f64_bit_identical_random),
    (
        "f32_f64_bit_identical_wild_magnitudes",
        f32_f64_bit_identical_wild_magnitudes,
    ),
    ("f32_f64_special_values", f32_f64_special_values),
    ("u4_rows_random", u4_rows_random),
    ("u4_rows_extremes", u4_rows_extremes),
];

/// Runs `check` on every kernel table this CPU can run; errors name the kernel.
#[allow(dead_code)] // used by the unit tests, not by the aarch64 binary
pub fn run_all_kernels(check: Check) -> Result<(), String> {
    for k in Kernels::all_available() {
        check(&k).map_err(|e| format!("kernel {}: {e}", k.name))?;
    }
    Ok(())
}

/// Lengths that hit empty input, sub-vector tails and several block sizes.
const LENGTHS: &[usize] = &[
    0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 511, 512,
    513, 1000, 1024, 1025, 4096,
];

/// Tiny deterministic PRNG (splitmix64), so failures reproduce everywhere.
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Random code bytes.
    pub fn codes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }

    /// Random query values in -127..=127 (never -128).
    pub fn query(&mut self, n: usize) -> Vec<i8> {
        (0..n)
            .map(|_| (self.below(255) as i32 - 127) as i8)
            .collect()
    }

    /// Uniform f32 in [-1, 1).
    pub fn unit_f32(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 23) as f32) - 1.0
    }

    /// A finite f32 with random sign, significand and exponent over the whole
    /// range, subnormals included.
    pub fn wild_f32(&mut self) -> f32 {
        loop {
            let x = f32::from_bits(self.next_u64() as u32);
            if x.is_finite() {
                return x;
            }
        }
    }
}

/// Naive exact reference for the integer dot.
fn naive_dot(a: &[u8], b: &[i8]) -> i64 {
    a.iter().zip(b).map(|(&x, &y)| x as i64 * y as i64).sum()
}

/// Independent restatement of the canonical f32 dot, to validate the scalar one.
fn naive_f32(a: &[f32], b: &[f32]) -> f64 {
    let mut l = [0.0f64; 8];
    for (j, lane) in l.iter_mut().enumerate() {
        let mut i = j;
        while i < a.len() {
            *lane += a[i] as f64 * b[i] as f64;
            i += 8;
        }
    }
    let left = (l[0] + l[4]) + (l[2] + l[6]);
    let right = (l[1] + l[5]) + (l[3] + l[7]);
    left + right
}

fn cmp_dot(k: &Kernels, a: &[u8], b: &[i8], what: &str) -> Result<(), String> {
    let want = naive_dot(a, b);
    let scalar = Kernels::scalar().dot_u8i8(a, b);
    let got = k.dot_u8i8(a, b);
    if got as i64 != want || scalar as i64 != want {
        return Err(format!(
            "dot_u8i8 {what} len {}: got {got}, scalar {scalar}, want {want}",
            a.len()
        ));
    }
    Ok(())
}

fn cmp_rows(k: &Kernels, codes: &[u8], query: &[i8], rows: usize) -> Result<(), String> {
    let d = query.len();
    let mut got = vec![i32::MIN; rows];
    let mut scalar = vec![i32::MIN; rows];
    k.dot_u8i8_rows(codes, query, &mut got);
    Kernels::scalar().dot_u8i8_rows(codes, query, &mut scalar);
    for r in 0..rows {
        let want = naive_dot(&codes[r * d..(r + 1) * d], query);
        if got[r] as i64 != want || scalar[r] as i64 != want {
            return Err(format!(
                "rows {rows} x dim {d}, row {r}: got {}, scalar {}, want {want}",
                got[r], scalar[r]
            ));
        }
    }
    Ok(())
}

/// Naive exact reference for one packed-u4 row: unpack to one code per
/// dimension (block `b`, dimension `k` of 128: byte `64b + k % 64`, low nibble
/// for `k < 64`, high nibble otherwise), then the plain dot.
fn naive_u4(row: &[u8], query: &[i8]) -> i64 {
    let unpacked: Vec<u8> = (0..query.len())
        .map(|i| {
            let (b, k) = (i / 128, i % 128);
            let byte = row[64 * b + k % 64];
            if k < 64 {
                byte & 0x0f
            } else {
                byte >> 4
            }
        })
        .collect();
    naive_dot(&unpacked, query)
}

fn cmp_u4_rows(k: &Kernels, codes: &[u8], query: &[i8], rows: usize) -> Result<(), String> {
    let rb = query.len() / 2;
    let mut got = vec![i32::MIN; rows];
    let mut scalar = vec![i32::MIN; rows];
    k.dot_u4i8_rows(codes, query, &mut got);
    Kernels::scalar().dot_u4i8_rows(codes, query, &mut scalar);
    for r in 0..rows {
        let want = naive_u4(&codes[r * rb..(r + 1) * rb], query);
        if got[r] as i64 != want || scalar[r] as i64 != want {
            return Err(format!(
                "dot_u4i8_rows {rows} x dim {}, row {r}: got {}, scalar {}, want {want}",
                query.len(),
                got[r],
                scalar[r]
            ));
        }
    }
    Ok(())
}

/// Dimensions and row counts for the packed-u4 rows kernel (dimensions are
/// multiples of 128 by contract; row counts straddle the four-row blocking).
const U4_DIMS: &[usize] = &[128, 256, 512, 1024, 4096];
const U4_ROWS: &[usize] = &[0, 1, 3, 4, 5, 17];

fn cmp_f32(k: &Kernels, a: &[f32], b: &[f32], what: &str) -> Result<(), String> {
    let want = naive_f32(a, b);
    let scalar = Kernels::scalar().dot_f32_f64(a, b);
    let got = k.dot_f32_f64(a, b);
    if got.to_bits() != want.to_bits() || scalar.to_bits() != want.to_bits() {
        return Err(format!(
            "dot_f32_f64 {what} len {}: got {got:e} ({:#x}), scalar {scalar:e}, want {want:e} ({:#x})",
            a.len(),
            got.to_bits(),
            want.to_bits()
        ));
    }
    Ok(())
}

/// Random codes and queries over many lengths.
pub fn dot_u8i8_random_lengths(k: &Kernels) -> Result<(), String> {
    let mut rng = SplitMix64::new(1);
    for &n in LENGTHS {
        for _ in 0..4 {
            let a = rng.codes(n);
            let b = rng.query(n);
            cmp_dot(k, &a, &b, "random")?;
        }
    }
    Ok(())
}

/// Largest magnitudes: any saturation or 16-bit overflow shows up here.
pub fn dot_u8i8_extremes(k: &Kernels) -> Result<(), String> {
    for &n in LENGTHS {
        let ones = vec![255u8; n];
        cmp_dot(k, &ones, &vec![127i8; n], "255x127")?;
        cmp_dot(k, &ones, &vec![-127i8; n], "255x-127")?;
        let alt: Vec<i8> = (0..n)
            .map(|i| if i % 2 == 0 { 127 } else { -127 })
            .collect();
        cmp_dot(k, &ones, &alt, "255x+-127")?;
        cmp_dot(k, &vec![0u8; n], &vec![-127i8; n], "0x-127")?;
        let pairs: Vec<i8> = (0..n)
            .map(|i| if (i / 2) % 2 == 0 { 127 } else { -127 })
            .collect();
        cmp_dot(k, &ones, &pairs, "255x pairs")?;
    }
    Ok(())
}

/// Slices that start at every offset within a cache line.
pub fn dot_u8i8_unaligned_slices(k: &Kernels) -> Result<(), String> {
    let mut rng = SplitMix64::new(2);
    let a = rng.codes(1200);
    let b = rng.query(1200);
    for off_a in 0..65 {
        let off_b = (off_a * 7) % 64;
        for &n in &[1usize, 31, 64, 100, 512, 1025] {
            cmp_dot(k, &a[off_a..off_a + n], &b[off_b..off_b + n], "unaligned")?;
        }
    }
    Ok(())
}

/// The rows kernel over row counts around its blocking and many dimensions.
pub fn rows_random(k: &Kernels) -> Result<(), String> {
    let mut rng = SplitMix64::new(3);
    for &d in &[1usize, 7, 63, 64, 65, 128, 200, 512, 520, 1024] {
        for &rows in &[0usize, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33] {
            let codes = rng.codes(rows * d);
            let query = rng.query(d);
            cmp_rows(k, &codes, &query, rows)?;
            // Same data viewed from an odd offset, to break alignment.
            let mut shifted = vec![0u8; 3];
            shifted.extend_from_slice(&codes);
            cmp_rows(k, &shifted[3..], &query, rows)?;
        }
    }
    Ok(())
}

/// The rows kernel at the extremes and the maximum dimension.
pub fn rows_extremes(k: &Kernels) -> Result<(), String> {
    for &d in &[64usize, 512, 4096, 4095] {
        for &rows in &[1usize, 5, 17] {
            let codes = vec![255u8; rows * d];
            cmp_rows(k, &codes, &vec![127i8; d], rows)?;
            cmp_rows(k, &codes, &vec![-127i8; d], rows)?;
        }
    }
    Ok(())
}

/// Random unit-range values over many lengths: bits must match exactly.
pub fn f32_f64_bit_identical_random(k: &Kernels) -> Result<(), String> {
    let mut rng = SplitMix64::new(4);
    for &n in LENGTHS {
        for _ in 0..4 {
            let a: Vec<f32> = (0..n).map(|_| rng.unit_f32()).collect();
            let b: Vec<f32> = (0..n).map(|_| rng.unit_f32()).collect();
            cmp_f32(k, &a, &b, "random")?;
        }
    }
    Ok(())
}

/// Values of wildly different magnitude, where any change in summation order
/// changes the rounded result.
pub fn f32_f64_bit_identical_wild_magnitudes(k: &Kernels) -> Result<(), String> {
    let mut rng = SplitMix64::new(5);
    for &n in LENGTHS {
        for _ in 0..4 {
            let a: Vec<f32> = (0..n).map(|_| rng.wild_f32()).collect();
            let b: Vec<f32> = (0..n).map(|_| rng.wild_f32()).collect();
            cmp_f32(k, &a, &b, "wild")?;
            // Mix huge and tiny within one vector, with cancellation.
            let c: Vec<f32> = (0..n)
                .map(|i| {
                    let m = rng.unit_f32();
                    match i % 3 {
                        0 => m * 1e30,
                        1 => m * 1e-30,
                        _ => m,
                    }
                })
                .collect();
            cmp_f32(k, &c, &a, "mixed")?;
            cmp_f32(k, &c, &c, "mixed square")?;
        }
    }
    Ok(())
}

/// Signed zeros, subnormals, the largest finite values and infinities.
pub fn f32_f64_special_values(k: &Kernels) -> Result<(), String> {
    for &n in LENGTHS {
        let neg_zero = vec![-0.0f32; n];
        let pos = vec![1.5f32; n];
        cmp_f32(k, &neg_zero, &pos, "-0 x 1.5")?;
        cmp_f32(k, &neg_zero, &neg_zero, "-0 x -0")?;
        let tiny = vec![f32::from_bits(1); n];
        cmp_f32(k, &tiny, &tiny, "min subnormal squared")?;
        let big: Vec<f32> = (0..n)
            .map(|i| if i % 2 == 0 { f32::MAX } else { -f32::MAX })
            .collect();
        cmp_f32(k, &big, &big, "max squared")?;
        cmp_f32(k, &big, &pos, "max alternating")?;
        if n > 0 {
            let mut inf = vec![0.25f32; n];
            inf[n - 1] = f32::INFINITY;
            cmp_f32(k, &inf, &pos, "one infinity")?;
        }
    }
    Ok(())
}

/// The packed-u4 rows kernel on random codes and queries, also from an odd
/// offset to break alignment.
pub fn u4_rows_random(k: &Kernels) -> Result<(), String> {
    let mut rng = SplitMix64::new(6);
    for &d in U4_DIMS {
        for &rows in U4_ROWS {
            for _ in 0..2 {
                let codes = rng.codes(rows * d / 2);
                let query = rng.query(d);
                cmp_u4_rows(k, &codes, &query, rows)?;
                let mut shifted = vec![0u8; 5];
                shifted.extend_from_slice(&codes);
                cmp_u4_rows(k, &shifted[5..], &query, rows)?;
            }
        }
    }
    Ok(())
}

/// The packed-u4 rows kernel at the extremes: both nibbles 15 against all
/// 127 and all -127 (any i16 saturation or overflow shows up here), and each
/// nibble alone, so swapping the low and high halves cannot go unnoticed.
pub fn u4_rows_extremes(k: &Kernels) -> Result<(), String> {
    for &d in U4_DIMS {
        let half: Vec<i8> = (0..d)
            .map(|i| if i % 128 < 64 { 127 } else { -127 })
            .collect();
        for &rows in U4_ROWS {
            let n = rows * d / 2;
            for byte in [0xffu8, 0x0f, 0xf0] {
                let codes = vec![byte; n];
                cmp_u4_rows(k, &codes, &vec![127i8; d], rows)?;
                cmp_u4_rows(k, &codes, &vec![-127i8; d], rows)?;
                cmp_u4_rows(k, &codes, &half, rows)?;
            }
        }
    }
    Ok(())
}
