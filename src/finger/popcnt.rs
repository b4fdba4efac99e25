//! The cylinder similarity kernel: for two cylinders, the population counts of `a ∧ vb`, `b ∧ va` and
//! their XOR (and of the common validity mask), chosen once per process by CPU detection.
//!
//! Scalar reference everywhere; on x86-64 the same code compiled with POPCNT, and an AVX-512
//! VPOPCNTDQ version (one 512-bit register per 8 words). Every ISA returns identical counts
//! (tested against the scalar version).

use super::mcc::{CYL_WORDS, MASK_WORDS, VAL_WORDS, WPS};

/// Counts for one cylinder pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Cells valid in both cylinders (one section).
    pub common: u32,
    /// |a ∧ vb|.
    pub na: u32,
    /// |b ∧ va|.
    pub nb: u32,
    /// |(a ∧ vb) ⊕ (b ∧ va)|.
    pub nx: u32,
}

/// Signature of a kernel: one cylinder `a` against the cylinders `idx` of `b` (each `CYL_WORDS`
/// words), counts into `out[..idx.len()]`.
pub type PairFn = fn(&[u64], &[u64], &[u8], &mut [Counts]);

/// Portable reference.
#[inline(always)]
fn pair_generic(a: &[u64], b: &[u64]) -> Counts {
    let (av, am) = a[..CYL_WORDS].split_at(VAL_WORDS);
    let (bv, bm) = b[..CYL_WORDS].split_at(VAL_WORDS);
    let mut c = Counts::default();
    for w in 0..WPS {
        c.common += (am[w] & bm[w]).count_ones();
    }
    for (k, (x, y)) in av.iter().zip(bv).enumerate() {
        let w = k % WPS;
        let x = x & bm[w];
        let y = y & am[w];
        c.na += x.count_ones();
        c.nb += y.count_ones();
        c.nx += (x ^ y).count_ones();
    }
    let _ = MASK_WORDS;
    c
}

#[inline(always)]
fn row_generic(a: &[u64], b: &[u64], idx: &[u8], out: &mut [Counts]) {
    for (o, &j) in out.iter_mut().zip(idx) {
        let j = usize::from(j) * CYL_WORDS;
        *o = pair_generic(a, &b[j..j + CYL_WORDS]);
    }
}

/// The scalar kernel.
pub fn pair_scalar(a: &[u64], b: &[u64], idx: &[u8], out: &mut [Counts]) {
    row_generic(a, b, idx, out)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;
    use std::arch::x86_64::*;

    /// Scalar code compiled with the POPCNT instruction.
    ///
    /// # Safety
    /// The CPU must support POPCNT.
    #[target_feature(enable = "popcnt")]
    pub(super) unsafe fn row_popcnt(a: &[u64], b: &[u64], idx: &[u8], out: &mut [Counts]) {
        row_generic(a, b, idx, out)
    }

    /// One cylinder against several, AVX-512.
    ///
    /// # Safety
    /// The CPU must support AVX-512F and AVX-512 VPOPCNTDQ.
    #[target_feature(enable = "avx512f,avx512vpopcntdq,popcnt")]
    pub(super) unsafe fn row_avx512(a: &[u64], b: &[u64], idx: &[u8], out: &mut [Counts]) {
        for (o, &j) in out.iter_mut().zip(idx) {
            let j = usize::from(j) * CYL_WORDS;
            // SAFETY: this function has the same target features as `pair_avx512`.
            *o = unsafe { pair_avx512(a, &b[j..j + CYL_WORDS]) };
        }
    }

    /// AVX-512 VPOPCNTDQ: values in `VAL_WORDS / 8` registers, the mask (stored repeated to 8 words)
    /// in one. The four counts are reduced together: every lane's counts are small (at most
    /// `VAL_WORDS / 8 · 64` per lane, `VAL_WORDS · 64` over the register), so they are packed into the
    /// four 16-bit fields of each 64-bit lane and summed by one horizontal reduction.
    ///
    /// # Safety
    /// The CPU must support AVX-512F and AVX-512 VPOPCNTDQ.
    #[inline]
    #[target_feature(enable = "avx512f,avx512vpopcntdq,popcnt")]
    pub(super) unsafe fn pair_avx512(a: &[u64], b: &[u64]) -> Counts {
        assert!(a.len() >= CYL_WORDS && b.len() >= CYL_WORDS);
        const {
            assert!(VAL_WORDS.is_multiple_of(8) && MASK_WORDS == 8 && 8 % WPS == 0);
            // Largest field sum: the value counts over all lanes (each field must stay below 2^16).
            assert!(VAL_WORDS * 64 < 1 << 16);
        };
        // SAFETY: both slices hold at least CYL_WORDS = VAL_WORDS + 8 words (asserted above), so the
        // 8-word unaligned loads at VAL_WORDS and at every multiple of 8 below VAL_WORDS are in bounds.
        unsafe {
            let am = _mm512_loadu_si512(a.as_ptr().add(VAL_WORDS).cast());
            let bm = _mm512_loadu_si512(b.as_ptr().add(VAL_WORDS).cast());
            let mut sa = _mm512_setzero_si512();
            let mut sb = _mm512_setzero_si512();
            let mut sx = _mm512_setzero_si512();
            let mut i = 0;
            while i < VAL_WORDS {
                let x = _mm512_and_si512(_mm512_loadu_si512(a.as_ptr().add(i).cast()), bm);
                let y = _mm512_and_si512(_mm512_loadu_si512(b.as_ptr().add(i).cast()), am);
                sa = _mm512_add_epi64(sa, _mm512_popcnt_epi64(x));
                sb = _mm512_add_epi64(sb, _mm512_popcnt_epi64(y));
                sx = _mm512_add_epi64(sx, _mm512_popcnt_epi64(_mm512_xor_si512(x, y)));
                i += 8;
            }
            // The mask is repeated 8 / WPS times in its register: its popcount over all lanes is
            // that multiple of the common cell count.
            let sc = _mm512_popcnt_epi64(_mm512_and_si512(am, bm));
            let packed = _mm512_add_epi64(
                _mm512_add_epi64(sa, _mm512_slli_epi64::<16>(sb)),
                _mm512_add_epi64(_mm512_slli_epi64::<32>(sx), _mm512_slli_epi64::<48>(sc)),
            );
            let t = _mm512_reduce_add_epi64(packed) as u64;
            Counts {
                common: ((t >> 48) as u32) / (8 / WPS) as u32,
                na: (t & 0xffff) as u32,
                nb: ((t >> 16) & 0xffff) as u32,
                nx: ((t >> 32) & 0xffff) as u32,
            }
        }
    }

    pub(super) fn popcnt(a: &[u64], b: &[u64], idx: &[u8], out: &mut [Counts]) {
        // SAFETY: only listed by `available` after POPCNT was detected.
        unsafe { row_popcnt(a, b, idx, out) }
    }

    pub(super) fn avx512(a: &[u64], b: &[u64], idx: &[u8], out: &mut [Counts]) {
        // SAFETY: only listed by `available` after AVX-512F, VPOPCNTDQ and POPCNT were detected.
        unsafe { row_avx512(a, b, idx, out) }
    }
}

/// Signature of the weighted prefilter score.
pub type WeightedFn = fn(&[u64], &super::prefilter::Weights) -> u32;

#[cfg(target_arch = "x86_64")]
mod x86w {
    use super::super::prefilter::{weighted_generic, Weights};

    /// # Safety
    /// The CPU must support AVX-512F, AVX-512 VPOPCNTDQ and POPCNT.
    #[target_feature(enable = "avx512f,avx512vpopcntdq,popcnt")]
    unsafe fn weighted_avx512(s: &[u64], w: &Weights) -> u32 {
        weighted_generic(s, w)
    }

    /// # Safety
    /// The CPU must support POPCNT.
    #[target_feature(enable = "popcnt")]
    unsafe fn weighted_popcnt(s: &[u64], w: &Weights) -> u32 {
        weighted_generic(s, w)
    }

    pub(super) fn avx512(s: &[u64], w: &Weights) -> u32 {
        // SAFETY: only listed by `weighted_available` after AVX-512F, VPOPCNTDQ and POPCNT were detected.
        unsafe { weighted_avx512(s, w) }
    }

    pub(super) fn popcnt(s: &[u64], w: &Weights) -> u32 {
        // SAFETY: only listed by `weighted_available` after POPCNT was detected.
        unsafe { weighted_popcnt(s, w) }
    }
}

fn weighted_scalar(s: &[u64], w: &super::prefilter::Weights) -> u32 {
    super::prefilter::weighted_generic(s, w)
}

/// Every weighted-score kernel this CPU can run, best first; scalar last.
pub fn weighted_available() -> Vec<(&'static str, WeightedFn)> {
    let mut v: Vec<(&'static str, WeightedFn)> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512vpopcntdq")
            && std::is_x86_feature_detected!("popcnt")
        {
            v.push(("avx512vpopcntdq", x86w::avx512));
        }
        if std::is_x86_feature_detected!("popcnt") {
            v.push(("popcnt", x86w::popcnt));
        }
    }
    v.push(("scalar", weighted_scalar));
    v
}

/// Every kernel this CPU can run, best first, with its name; scalar last.
pub fn available() -> Vec<(&'static str, PairFn)> {
    let mut v: Vec<(&'static str, PairFn)> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512vpopcntdq")
            && std::is_x86_feature_detected!("popcnt")
        {
            v.push(("avx512vpopcntdq", x86::avx512));
        }
        if std::is_x86_feature_detected!("popcnt") {
            v.push(("popcnt", x86::popcnt));
        }
    }
    v.push(("scalar", pair_scalar));
    v
}

/// The best kernel for this CPU (detected once).
pub fn detect() -> (&'static str, PairFn) {
    static BEST: std::sync::OnceLock<(&'static str, PairFn)> = std::sync::OnceLock::new();
    *BEST.get_or_init(|| available()[0])
}
