//! Distance kernels for the 1:N scan, selected once per process by runtime CPU
//! detection.
//!
//! Why a table of function pointers: the gallery scan calls a handful of tiny
//! hot functions millions of times, and the best implementation depends on the
//! CPU the terminal happens to have (AVX-512 VNNI servers, AVX2 laptops, NEON
//! ARM terminals). Detecting once and calling through a [`Kernels`] table keeps
//! the hot loop free of feature checks while every ISA stays testable against
//! the scalar reference on the same machine.
//!
//! Contract: the integer kernels are exact, and [`Kernels::dot_f32_f64`]
//! returns the bit-identical `f64` on every ISA, so search results do not
//! depend on the machine.

use std::sync::OnceLock;

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod bounds;
mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(test)]
mod checks;
pub mod popcnt;

pub use popcnt::FingerKernels;

/// Signature of the u8 × i8 dot kernel.
type DotU8I8 = fn(&[u8], &[i8]) -> i32;
/// Signature of the many-rows u8 × i8 kernel.
type DotU8I8Rows = fn(&[u8], &[i8], &mut [i32]);
/// Signature of the canonical f32 dot kernel.
type DotF32F64 = fn(&[f32], &[f32]) -> f64;
/// Signature of the many-rows packed-u4 × i8 kernel.
type DotU4I8Rows = fn(&[u8], &[i8], &mut [i32]);

/// Kernel table selected once by runtime CPU detection.
///
/// Copy it into the scan loop; calls go through plain function pointers. The
/// private entries are safe functions: an ISA-specific table is only ever
/// constructed after the CPU was checked to support that ISA, and every entry
/// is memory-safe for any slice lengths (the size contracts are asserted by
/// the public methods).
#[derive(Clone, Copy)]
pub struct Kernels {
    /// Name of the selected face ISA, e.g. "avx512vnni", "avx2", "neon", "scalar".
    pub name: &'static str,
    /// The fingerprint kernels chosen with them (the best this CPU runs; scalar with scalar).
    pub finger: FingerKernels,
    dot_u8i8: DotU8I8,
    dot_u8i8_rows: DotU8I8Rows,
    dot_f32_f64: DotF32F64,
    dot_u4i8_rows: DotU4I8Rows,
}

impl std::fmt::Debug for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernels")
            .field("name", &self.name)
            .field("finger", &self.finger.name)
            .finish()
    }
}

impl Kernels {
    /// The best kernels for this CPU; detection runs once and is cached.
    pub fn detect() -> Kernels {
        static BEST: OnceLock<Kernels> = OnceLock::new();
        *BEST.get_or_init(|| {
            Self::all_available()
                .into_iter()
                .next()
                .unwrap_or_else(Self::scalar)
        })
    }

    /// The portable reference kernels, available everywhere.
    pub fn scalar() -> Kernels {
        Kernels {
            name: "scalar",
            finger: FingerKernels::scalar(),
            dot_u8i8: scalar::dot_u8i8,
            dot_u8i8_rows: scalar::dot_u8i8_rows,
            dot_f32_f64: scalar::dot_f32_f64,
            dot_u4i8_rows: scalar::dot_u4i8_rows,
        }
    }

    /// Every kernel table this CPU can run, best first, scalar last.
    ///
    /// For tests and benchmarks that compare ISAs on one machine.
    pub fn all_available() -> Vec<Kernels> {
        let mut v = Vec::new();
        #[cfg(target_arch = "x86_64")]
        v.extend(x86::available());
        #[cfg(target_arch = "aarch64")]
        v.extend(aarch64::available());
        v.push(Self::scalar());
        v
    }

    /// The available kernel table called `name`, if this CPU can run it.
    ///
    /// Lets a benchmark or a support setting pin one ISA.
    pub fn by_name(name: &str) -> Option<Kernels> {
        Self::all_available().into_iter().find(|k| k.name == name)
    }

    /// `Σ a[i] * b[i]` over u8 codes and an i8 query. Panics (assert) if lengths differ.
    ///
    /// Exact (no saturation) for query values in -127..=127 and lengths up to
    /// 4096, which keeps the sum within i32.
    #[inline]
    pub fn dot_u8i8(&self, a: &[u8], b: &[i8]) -> i32 {
        assert_eq!(a.len(), b.len(), "dot_u8i8: length mismatch");
        (self.dot_u8i8)(a, b)
    }

    /// Scores many rows against one query: `out[r] = dot_u8i8(row r, query)`.
    ///
    /// `codes` is row-major with rows of `query.len()` bytes and
    /// `codes.len() == out.len() * query.len()`; panics if the sizes disagree.
    /// This is the scan hot loop: SIMD versions score several rows per
    /// iteration so the query stays in registers, and prefetch ahead. Rows
    /// padded to a multiple of 64 bytes are fastest; any length is correct.
    #[inline]
    pub fn dot_u8i8_rows(&self, codes: &[u8], query: &[i8], out: &mut [i32]) {
        assert_eq!(
            Some(codes.len()),
            out.len().checked_mul(query.len()),
            "dot_u8i8_rows: codes.len() must equal out.len() * query.len()"
        );
        (self.dot_u8i8_rows)(codes, query, out)
    }

    /// Scores many rows of packed 4-bit codes against one i8 query: the first, narrowest pass of
    /// the scan (half the bytes of int8 per template).
    ///
    /// Layout of a row (`query.len() / 2` bytes, `query.len()` a multiple of 128): for each block of
    /// 128 dimensions (64 bytes), byte `j` holds dimension `j` of the block in its low nibble and
    /// dimension `64 + j` in its high nibble; nibbles are unsigned 0..=15. `out[r] = Σ nibble * q`.
    /// Panics if `query.len() % 128 != 0` or `codes.len() != out.len() * query.len() / 2`.
    ///
    /// Exact for query values in -127..=127 and lengths up to 2^20 (the sum stays within i32).
    /// SIMD versions score four rows per iteration sharing the query loads (the x86 ones also
    /// prefetch ahead): at 256 bytes a row (512 dimensions) the scan is meant to run at memory
    /// bandwidth.
    #[inline]
    pub fn dot_u4i8_rows(&self, codes: &[u8], query: &[i8], out: &mut [i32]) {
        assert!(
            query.len().is_multiple_of(128),
            "dot_u4i8_rows: query length must be a multiple of 128"
        );
        assert_eq!(
            Some(codes.len()),
            out.len().checked_mul(query.len() / 2),
            "dot_u4i8_rows: codes.len() must equal out.len() * query.len() / 2"
        );
        (self.dot_u4i8_rows)(codes, query, out)
    }

    /// Canonical f32 dot product accumulated in f64, bit-identical on every ISA.
    ///
    /// Products `a[i] as f64 * b[i] as f64` are exact. They are summed in 8
    /// lanes — lane `j` takes the indices `i` with `i % 8 == j`, in increasing
    /// `i`, starting from +0.0 (the tail `len % 8` follows the same rule) — and
    /// the lanes are reduced as `((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7))`.
    /// Because the order of every floating-point operation is fixed, all ISAs
    /// return the same bits as the scalar code (for inputs without NaN), which
    /// is what makes search results identical on every machine. Panics if the
    /// lengths differ.
    #[inline]
    pub fn dot_f32_f64(&self, a: &[f32], b: &[f32]) -> f64 {
        assert_eq!(a.len(), b.len(), "dot_f32_f64: length mismatch");
        (self.dot_f32_f64)(a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::checks::{run_all_kernels, CHECKS};
    use super::Kernels;

    fn run(name: &str) {
        let (_, check) = CHECKS
            .iter()
            .find(|(n, _)| *n == name)
            .expect("check exists");
        run_all_kernels(*check).unwrap_or_else(|e| panic!("{name}: {e}"));
    }

    /// One `#[test]` per named check, and a test that the names are exactly `CHECKS`' (so a check
    /// added without its test, or a test naming a check that is gone, fails).
    macro_rules! check_tests {
        ($($name:ident),* $(,)?) => {
            $(
                #[test]
                fn $name() {
                    run(stringify!($name));
                }
            )*

            #[test]
            fn every_check_has_a_test() {
                let tested = [$(stringify!($name)),*];
                let listed: Vec<&str> = CHECKS.iter().map(|(n, _)| *n).collect();
                assert_eq!(tested.as_slice(), listed.as_slice());
            }
        };
    }

    check_tests!(
        dot_u8i8_random_lengths,
        dot_u8i8_extremes,
        dot_u8i8_unaligned_slices,
        rows_random,
        rows_extremes,
        f32_f64_bit_identical_random,
        f32_f64_bit_identical_wild_magnitudes,
        f32_f64_special_values,
        u4_rows_random,
        u4_rows_extremes,
    );

    #[test]
    fn detect_is_available_and_cached() {
        let best = Kernels::detect();
        assert_eq!(best.name, Kernels::detect().name);
        let all = Kernels::all_available();
        assert_eq!(all[0].name, best.name);
        assert_eq!(all.last().map(|k| k.name), Some("scalar"));
        for k in &all {
            assert_eq!(Kernels::by_name(k.name).map(|b| b.name), Some(k.name));
        }
        assert!(Kernels::by_name("no-such-isa").is_none());
    }

    #[test]
    #[should_panic(expected = "length mismatch")]
    fn dot_u8i8_length_mismatch_panics() {
        Kernels::detect().dot_u8i8(&[1, 2], &[1]);
    }

    #[test]
    #[should_panic(expected = "out.len() * query.len()")]
    fn rows_size_mismatch_panics() {
        let mut out = [0i32; 2];
        Kernels::detect().dot_u8i8_rows(&[0u8; 127], &[0i8; 64], &mut out);
    }

    #[test]
    #[should_panic(expected = "multiple of 128")]
    fn u4_rows_dim_not_multiple_of_128_panics() {
        let mut out = [0i32; 1];
        Kernels::detect().dot_u4i8_rows(&[0u8; 32], &[0i8; 64], &mut out);
    }

    #[test]
    #[should_panic(expected = "out.len() * query.len() / 2")]
    fn u4_rows_size_mismatch_panics() {
        let mut out = [0i32; 2];
        Kernels::detect().dot_u4i8_rows(&[0u8; 127], &[0i8; 128], &mut out);
    }

    #[test]
    #[should_panic(expected = "length mismatch")]
    fn f32_length_mismatch_panics() {
        Kernels::detect().dot_f32_f64(&[1.0], &[]);
    }

    #[test]
    fn rows_zero_dim() {
        for k in Kernels::all_available() {
            let mut out = [7i32; 3];
            k.dot_u8i8_rows(&[], &[], &mut out);
            assert_eq!(out, [0; 3], "{}", k.name);
            let mut out = [7i32; 3];
            k.dot_u4i8_rows(&[], &[], &mut out);
            assert_eq!(out, [0; 3], "{} u4", k.name);
        }
    }
}
