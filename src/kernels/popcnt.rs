//! The fingerprint kernels, chosen with the face kernels ([`super::Kernels::finger`]):
//! - the cylinder similarity kernel: for two cylinders, the population counts of `a ∧ vb`, `b ∧ va`
//!   and their XOR (and of the common validity mask);
//! - the weighted prefilter score: masked popcounts of a summary per weight class.
//!
//! They own the layouts they read (`CYL_WORDS`, `PF_WORDS`, ...): `finger::mcc` and
//! `finger::prefilter` build templates in them and assert so at compile time.
//!
//! Scalar reference everywhere; on x86-64 the same code compiled with POPCNT, and an AVX-512
//! VPOPCNTDQ version (one 512-bit register per 8 words); on aarch64 a NEON version (byte counts
//! with `CNT`, accumulated per byte and reduced once — aarch64 has no scalar popcount, so the
//! portable code pays a vector round trip per word). Every ISA returns identical counts
//! ([`check_kernels`], run by the unit tests and, for aarch64, under qemu by
//! `scripts/test-aarch64.sh`).

/// Cells of one cylinder section (16 × 16): the layout `finger::mcc` builds, asserted there.
const CELLS: usize = 16 * 16;
/// Sections (directions) of a cylinder.
const SECTIONS: usize = 8;
/// u64 words per section.
pub const WPS: usize = CELLS.div_ceil(64);
/// Value words of a cylinder (sections, padded to a multiple of 8 words).
pub const VAL_WORDS: usize = (SECTIONS * WPS).div_ceil(8) * 8;
/// Mask words (the section validity mask repeated to 8 words).
pub const MASK_WORDS: usize = 8;
/// Words per cylinder.
pub const CYL_WORDS: usize = VAL_WORDS + MASK_WORDS;
const _: () = assert!(8 % WPS == 0);

/// Words of a prefilter summary (16 keys of 10 bits: 16 × 1024 bits), asserted by
/// `finger::prefilter`.
pub const PF_WORDS: usize = 16 * 1024 / 64;
/// Weight classes of a probe's prefilter keys.
pub const CLASSES: usize = 4;

/// A probe's prefilter summary split into weight classes (built by `finger::prefilter`).
#[derive(Debug, Clone)]
pub struct Weights {
    /// Class masks, `PF_WORDS` words each.
    pub masks: Vec<u64>,
    /// Integer weight of each class.
    pub w: [u32; CLASSES],
}

/// Weighted prefilter score of a gallery summary: the portable reference.
#[inline(always)]
pub(crate) fn weighted_generic(s: &[u64], wts: &Weights) -> u32 {
    let mut acc = [0u32; CLASSES];
    for (c, a) in acc.iter_mut().enumerate() {
        let m = &wts.masks[c * PF_WORDS..(c + 1) * PF_WORDS];
        *a = s.iter().zip(m).map(|(x, y)| (x & y).count_ones()).sum();
    }
    acc.iter().zip(&wts.w).map(|(a, w)| a * w).sum()
}

/// Counts for one cylinder pair (`repr(C)`: the AVX-512 kernel stores four pairs' counts with one
/// vector store).
#[repr(C)]
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

    /// One cylinder against several, AVX-512: eight cylinders of `b` at a time, each pair's four
    /// counts summed per lane into one register ([`pair_lanes`]), the eight registers reduced
    /// together by a transposing tree of adds (21 instructions for eight pairs instead of six or
    /// more each), the sums widened into the `Counts` of four pairs per store.
    ///
    /// # Safety
    /// The CPU must support AVX-512F and AVX-512 VPOPCNTDQ.
    #[target_feature(enable = "avx512f,avx512vpopcntdq,popcnt")]
    pub(super) unsafe fn row_avx512(a: &[u64], b: &[u64], idx: &[u8], out: &mut [Counts]) {
        const { assert!(VAL_WORDS == 8 * VREGS && MASK_WORDS == 8 && 8 % WPS == 0) };
        assert!(a.len() >= CYL_WORDS);
        let n = out.len().min(idx.len());
        let nb = b.len() / CYL_WORDS;
        // Every index is checked once, so the loads below stay in bounds.
        assert!(idx[..n].iter().all(|&j| usize::from(j) < nb));
        // SAFETY: `a` holds CYL_WORDS words (asserted), every `b` cylinder read is one of the `nb`
        // whole ones (indices asserted); the stores write `Counts` (repr(C), four u32) of pairs
        // below `n`, the masks limiting the last group's stores to them.
        unsafe {
            let av: [__m512i; VREGS] =
                std::array::from_fn(|k| _mm512_loadu_si512(a.as_ptr().add(8 * k).cast()));
            let am = _mm512_loadu_si512(a.as_ptr().add(VAL_WORDS).cast());
            let mut g = 0;
            while g < n {
                let r = (n - g).min(8);
                let mut p = [_mm512_setzero_si512(); 8];
                for (l, pl) in p.iter_mut().enumerate().take(r) {
                    let j = usize::from(idx[g + l]) * CYL_WORDS;
                    *pl = pair_lanes(&av, am, b.as_ptr().add(j));
                }
                let t = reduce8(&p);
                let o = out.as_mut_ptr().add(g).cast::<i32>();
                let lo = _mm512_cvtepu16_epi32(_mm512_castsi512_si256(t));
                let hi = _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64::<1>(t));
                if r == 8 {
                    _mm512_storeu_si512(o.cast(), lo);
                    _mm512_storeu_si512(o.add(16).cast(), hi);
                } else {
                    // Four u32 per pair: the first r pairs' lanes.
                    let lanes = (1u32 << (4 * r)) - 1;
                    _mm512_mask_storeu_epi32(o, lanes as u16, lo);
                    if r > 4 {
                        _mm512_mask_storeu_epi32(o.add(16), (lanes >> 16) as u16, hi);
                    }
                }
                g += r;
            }
        }
    }

    /// Value registers of a cylinder.
    const VREGS: usize = VAL_WORDS / 8;

    /// One pair's counts per 64-bit lane, packed in 16-bit fields in `Counts` order (common, na,
    /// nb, nx): every lane's field is at most `VREGS · 64`, and the sum over the lanes at most
    /// `VAL_WORDS · 64` < 2^16, so fields never carry into each other. The mask is stored
    /// repeated to 8 words; only its first `WPS` lanes count the common cells.
    ///
    /// # Safety
    /// The CPU must support AVX-512F and VPOPCNTDQ; `b` must point to `CYL_WORDS` readable words.
    #[inline]
    #[target_feature(enable = "avx512f,avx512vpopcntdq,popcnt")]
    unsafe fn pair_lanes(av: &[__m512i; VREGS], am: __m512i, b: *const u64) -> __m512i {
        const { assert!(VAL_WORDS * 64 < 1 << 16 && WPS <= 8) };
        // SAFETY: `b` points to CYL_WORDS = VAL_WORDS + 8 words (this function's contract).
        unsafe {
            let bm = _mm512_loadu_si512(b.add(VAL_WORDS).cast());
            let mut sa = _mm512_setzero_si512();
            let mut sb = _mm512_setzero_si512();
            let mut sx = _mm512_setzero_si512();
            for (k, &ak) in av.iter().enumerate() {
                let x = _mm512_and_si512(ak, bm);
                let y = _mm512_and_si512(_mm512_loadu_si512(b.add(8 * k).cast()), am);
                sa = _mm512_add_epi64(sa, _mm512_popcnt_epi64(x));
                sb = _mm512_add_epi64(sb, _mm512_popcnt_epi64(y));
                sx = _mm512_add_epi64(sx, _mm512_popcnt_epi64(_mm512_xor_si512(x, y)));
            }
            let sc =
                _mm512_maskz_popcnt_epi64((1u8 << WPS).wrapping_sub(1), _mm512_and_si512(am, bm));
            _mm512_add_epi64(
                _mm512_add_epi64(sc, _mm512_slli_epi64::<16>(sa)),
                _mm512_add_epi64(_mm512_slli_epi64::<32>(sb), _mm512_slli_epi64::<48>(sx)),
            )
        }
    }

    /// Lane `l` of the result: the sum of the eight lanes of `p[l]` (pairs of registers by 64-bit
    /// unpacks, then 128-bit blocks by two rounds of block shuffles).
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn reduce8(p: &[__m512i; 8]) -> __m512i {
        // Blocks [b0 + b1, b2 + b3] of `x`, then of `y`.
        let blocks = |x, y| {
            _mm512_add_epi64(
                _mm512_shuffle_i64x2::<0b10_00_10_00>(x, y),
                _mm512_shuffle_i64x2::<0b11_01_11_01>(x, y),
            )
        };
        let u: [__m512i; 4] = std::array::from_fn(|k| {
            let (x, y) = (p[2 * k], p[2 * k + 1]);
            _mm512_add_epi64(_mm512_unpacklo_epi64(x, y), _mm512_unpackhi_epi64(x, y))
        });
        blocks(blocks(u[0], u[1]), blocks(u[2], u[3]))
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

#[cfg(target_arch = "aarch64")]
mod neon {
    use super::*;
    use super::{Weights, CLASSES, PF_WORDS};
    use std::arch::aarch64::*;

    /// One cylinder against several, NEON.
    ///
    /// # Safety
    /// The CPU must support NEON.
    #[target_feature(enable = "neon")]
    unsafe fn row_neon(a: &[u64], b: &[u64], idx: &[u8], out: &mut [Counts]) {
        for (o, &j) in out.iter_mut().zip(idx) {
            let j = usize::from(j) * CYL_WORDS;
            // SAFETY: this function has the same target features as `pair_neon`.
            *o = unsafe { pair_neon(a, &b[j..j + CYL_WORDS]) };
        }
    }

    /// NEON: two words per register. The section mask (the first `WPS` words after the values)
    /// spans `WPS / 2` registers; value register `k` uses mask register `k % (WPS / 2)`. Byte
    /// counts are summed in 8-bit lanes (at most 8 per register and lane, `VAL_WORDS / 2`
    /// registers) and reduced once at the end.
    ///
    /// # Safety
    /// The CPU must support NEON.
    #[inline]
    #[target_feature(enable = "neon")]
    unsafe fn pair_neon(a: &[u64], b: &[u64]) -> Counts {
        assert!(a.len() >= CYL_WORDS && b.len() >= CYL_WORDS);
        const {
            assert!(WPS.is_multiple_of(2) && VAL_WORDS.is_multiple_of(WPS) && WPS <= MASK_WORDS);
            // Per byte lane: at most 8 per register, over VAL_WORDS / 2 registers.
            assert!(VAL_WORDS / 2 * 8 <= 255);
        };
        const MR: usize = WPS / 2;
        // SAFETY: both slices hold at least CYL_WORDS = VAL_WORDS + MASK_WORDS words (asserted
        // above), so the 2-word loads at every even index below VAL_WORDS and at VAL_WORDS + 2m
        // (m < MR, 2m + 2 <= WPS <= MASK_WORDS) are in bounds.
        unsafe {
            let mut am = [vdupq_n_u64(0); MR];
            let mut bm = [vdupq_n_u64(0); MR];
            let mut sc = vdupq_n_u8(0);
            for m in 0..MR {
                am[m] = vld1q_u64(a.as_ptr().add(VAL_WORDS + 2 * m));
                bm[m] = vld1q_u64(b.as_ptr().add(VAL_WORDS + 2 * m));
                sc = vaddq_u8(sc, vcntq_u8(vreinterpretq_u8_u64(vandq_u64(am[m], bm[m]))));
            }
            let (mut sa, mut sb, mut sx) = (vdupq_n_u8(0), vdupq_n_u8(0), vdupq_n_u8(0));
            let mut i = 0;
            while i < VAL_WORDS {
                let m = (i / 2) % MR;
                let x = vandq_u64(vld1q_u64(a.as_ptr().add(i)), bm[m]);
                let y = vandq_u64(vld1q_u64(b.as_ptr().add(i)), am[m]);
                sa = vaddq_u8(sa, vcntq_u8(vreinterpretq_u8_u64(x)));
                sb = vaddq_u8(sb, vcntq_u8(vreinterpretq_u8_u64(y)));
                sx = vaddq_u8(sx, vcntq_u8(vreinterpretq_u8_u64(veorq_u64(x, y))));
                i += 2;
            }
            Counts {
                common: u32::from(vaddlvq_u8(sc)),
                na: u32::from(vaddlvq_u8(sa)),
                nb: u32::from(vaddlvq_u8(sb)),
                nx: u32::from(vaddlvq_u8(sx)),
            }
        }
    }

    /// The weighted prefilter score, NEON: per class, byte counts of `s ∧ mask` widened into
    /// 16-bit lanes (`UADALP`, at most 16 per lane and register, `PF_WORDS / 2` registers).
    ///
    /// # Safety
    /// The CPU must support NEON.
    #[target_feature(enable = "neon")]
    unsafe fn weighted_neon(s: &[u64], w: &Weights) -> u32 {
        const { assert!(PF_WORDS.is_multiple_of(2) && PF_WORDS / 2 * 16 <= u16::MAX as usize) };
        assert!(s.len() >= PF_WORDS && w.masks.len() >= CLASSES * PF_WORDS);
        let mut total = 0u32;
        for c in 0..CLASSES {
            let m = &w.masks[c * PF_WORDS..(c + 1) * PF_WORDS];
            // SAFETY: `s` and `m` hold at least PF_WORDS words (asserted above) and the loads are
            // at even indices below PF_WORDS.
            let n = unsafe {
                let mut acc = vdupq_n_u16(0);
                let mut i = 0;
                while i < PF_WORDS {
                    let x = vandq_u64(vld1q_u64(s.as_ptr().add(i)), vld1q_u64(m.as_ptr().add(i)));
                    acc = vpadalq_u8(acc, vcntq_u8(vreinterpretq_u8_u64(x)));
                    i += 2;
                }
                vaddlvq_u16(acc)
            };
            total += n * w.w[c];
        }
        total
    }

    pub(super) fn pair(a: &[u64], b: &[u64], idx: &[u8], out: &mut [Counts]) {
        // SAFETY: only listed by `available` after NEON was detected.
        unsafe { row_neon(a, b, idx, out) }
    }

    pub(super) fn weighted(s: &[u64], w: &Weights) -> u32 {
        // SAFETY: only listed by `weighted_available` after NEON was detected.
        unsafe { weighted_neon(s, w) }
    }
}

/// Signature of the weighted prefilter score.
pub type WeightedFn = fn(&[u64], &Weights) -> u32;

#[cfg(target_arch = "x86_64")]
mod x86w {
    use super::{weighted_generic, Weights};

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

/// The scalar weighted-score kernel.
pub fn weighted_scalar(s: &[u64], w: &Weights) -> u32 {
    weighted_generic(s, w)
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
    #[cfg(target_arch = "aarch64")]
    if std::arch::is_aarch64_feature_detected!("neon") {
        v.push(("neon", neon::weighted));
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
    #[cfg(target_arch = "aarch64")]
    if std::arch::is_aarch64_feature_detected!("neon") {
        v.push(("neon", neon::pair));
    }
    v.push(("scalar", pair_scalar));
    v
}

/// The fingerprint kernels of one ISA: cylinder pair counts and the weighted prefilter score.
#[derive(Clone, Copy)]
pub struct FingerKernels {
    /// Name of the ISA, e.g. "avx512vpopcntdq", "popcnt", "neon", "scalar".
    pub name: &'static str,
    pairs: PairFn,
    weighted: WeightedFn,
}

impl std::fmt::Debug for FingerKernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FingerKernels")
            .field("name", &self.name)
            .finish()
    }
}

impl FingerKernels {
    /// The best fingerprint kernels for this CPU; detection runs once and is cached.
    pub fn detect() -> FingerKernels {
        static BEST: std::sync::OnceLock<FingerKernels> = std::sync::OnceLock::new();
        *BEST.get_or_init(|| Self::all_available()[0])
    }

    /// The portable reference kernels.
    pub fn scalar() -> FingerKernels {
        FingerKernels {
            name: "scalar",
            pairs: pair_scalar,
            weighted: weighted_scalar,
        }
    }

    /// Every fingerprint kernel table this CPU can run, best first, scalar last.
    pub fn all_available() -> Vec<FingerKernels> {
        available()
            .into_iter()
            .zip(weighted_available())
            .map(|((name, pairs), (wname, weighted))| {
                debug_assert_eq!(name, wname, "pair and weighted kernels are listed by ISA");
                FingerKernels {
                    name,
                    pairs,
                    weighted,
                }
            })
            .collect()
    }

    /// The cylinder pair-count kernel (see [`PairFn`]): a safe function for any slices.
    pub fn pairs(&self) -> PairFn {
        self.pairs
    }

    /// The weighted prefilter score kernel (see [`WeightedFn`]): a safe function for any slices.
    pub fn weighted(&self) -> WeightedFn {
        self.weighted
    }
}

/// Checks every available kernel (pair counts and weighted prefilter scores) against the scalar
/// reference on seeded synthetic words: full, empty and random cylinders and summaries. Uses no
/// threads, so it also runs under qemu-user. Returns how many comparisons agreed, or the first
/// disagreement.
pub fn check_kernels(seed: u64) -> Result<usize, String> {
    let mut x = seed | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let w = CYL_WORDS;
    let mut words = vec![u64::MAX; w];
    words.extend(vec![0u64; w]);
    words.extend((0..12 * w).map(|_| next()));
    // Sparse values, as real cylinders near the edge of a print.
    words.extend((0..4 * w).map(|_| next() & next() & next()));
    let n = words.len() / w;
    // A cylinder stores its section mask repeated to MASK_WORDS words.
    for c in words.chunks_mut(w) {
        for k in WPS..MASK_WORDS {
            c[VAL_WORDS + k] = c[VAL_WORDS + k % WPS];
        }
    }
    let idx: Vec<u8> = (0..n as u8).collect();
    let mut agreed = 0;
    let kernels = available();
    let mut reference = vec![Counts::default(); n];
    for i in 0..n {
        let a = &words[i * w..(i + 1) * w];
        pair_scalar(a, &words, &idx, &mut reference);
        for (name, k) in &kernels {
            let mut out = vec![Counts::default(); n];
            k(a, &words, &idx, &mut out);
            if out != reference {
                return Err(format!(
                    "pair kernel {name} disagrees with scalar on cylinder {i}"
                ));
            }
            agreed += 1;
        }
    }
    let summaries: Vec<Vec<u64>> = (0..24)
        .map(|i| match i {
            0 => vec![u64::MAX; PF_WORDS],
            1 => vec![0; PF_WORDS],
            _ => (0..PF_WORDS).map(|_| next() & next()).collect(),
        })
        .collect();
    for (p, probe) in summaries.iter().enumerate() {
        // Class masks split the probe's bits by word parity and a random mask, weights 1..=1000:
        // the kernels only see masks and integer weights.
        let split = next();
        let mut masks = vec![0u64; CLASSES * PF_WORDS];
        for (i, &x) in probe.iter().enumerate() {
            let c = (i + p + (split >> (i % 64) & 1) as usize) % CLASSES;
            masks[c * PF_WORDS + i] = x;
        }
        let wts = Weights {
            masks,
            w: std::array::from_fn(|c| 1 + (next() % 1000) as u32 * (c as u32 % 2 + 1)),
        };
        for s in &summaries {
            let want = weighted_scalar(s, &wts);
            for (name, k) in weighted_available() {
                if k(s, &wts) != want {
                    return Err(format!("weighted kernel {name} disagrees with scalar"));
                }
                agreed += 1;
            }
        }
    }
    Ok(agreed)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_kernel_agrees_with_scalar_on_synthetic_words() {
        for seed in [1, 0x9e37_79b9_7f4a_7c15, 42] {
            assert!(super::check_kernels(seed).unwrap() > 0);
        }
    }
}
