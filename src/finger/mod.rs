//! Fingerprint minutiae templates: codecs, the MCC matcher, score calibration, an in-memory 1:N
//! gallery and evaluation tooling.
//!
//! # Map
//! | module | what |
//! |---|---|
//! | [`codec`] | ISO/IEC 19794-2:2005, ANSI/INCITS 378-2004, ISO/IEC 19794-2:2011, ISO card normal/compact: detect, parse (strict/lenient), write, convert |
//! | [`enroll`] | which view of a record is enrolled, [`enroll::prepare`] |
//! | [`template`] | [`FingerTemplate`] / [`TemplateRef`]: the prepared, byte-serialisable form the matcher compares (fixed layout, 8-byte aligned, zero-copy from a mapped file) |
//! | [`mcc`] | Minutia Cylinder-Code: cylinder construction and [`compare`] |
//! | [`calibration`] | FMR → threshold ([`calibration::threshold_for_fmr`]) |
//! | [`prefilter`] | fixed-length summaries and their weighted popcount score for 1:N |
//! | [`gallery`] | [`FingerGallery`]: insert/remove, identify (per-user fusion), verify |
//! | [`eval`] | `scores(dir)`, `eval(dir)` (EER, FNMR@FMR1%, FNMR@FMR0, rank-1) |
//! | [`synth`] | seeded synthetic impressions and galleries for benchmarks |
//!
//! Typical use: `let t = FingerTemplate::from_record_bytes(&bytes)?;` once per template (about
//! 0.12 ms on a core with AVX2), store `t.as_bytes()`, view stored bytes with [`TemplateRef::from_bytes`], and score with
//! `compare(&a, &b)`; accept when the score reaches
//! `calibration::threshold_for_fmr(1e-4)` (or the FMR the site wants).
//!
//! # The matcher
//! Minutia Cylinder-Code (Cappelli, Ferrara, Maltoni, IEEE TPAMI 2010), bit version:
//!
//! 1. **Common units.** Every format is converted to millimetres and radians ([`codec::View::normalized`]),
//!    then to internal pixels of 500 dpi (19.7 px/mm) with y pointing up, so records of any
//!    resolution (and card formats in metric units) compare directly. The [`mcc::MAX_MINUTIAE`] (64)
//!    minutiae of best reported quality are kept; no quality threshold (dropping mindtct's low-quality
//!    minutiae lowered accuracy on every DB).
//! 2. **Cylinders.** Per minutia, a cylinder of radius R = 70 px, `NS × NS × ND` = 16 × 16 × 8 cells;
//!    each cell sums the Gaussian spatial (σS = 8.5 px) and directional (σD = 0.5 rad) contributions
//!    of the neighbouring minutiae and is 1 when the sum reaches μψ = 0.01. Cells outside the
//!    minutiae's convex hull enlarged by Ω = 50 px are invalid; a cylinder needs 75 % valid cells and
//!    2 neighbours. A cylinder is 2,048 value bits plus a 256-bit validity mask (320 bytes).
//!    NS = 8 (4× smaller) was measured and lost about 1.5 EER points on DB3.
//!    ND = 8 with the narrower σD and σS replaced the paper's ND = 6, σD = 2π/9, σS = 28/3 (template
//!    version 2): mindtct EER DB1..4 1.88/0.70/5.70/2.85 → 1.90/0.70/4.28/2.50 %, the pairwise ranking
//!    error (1 − AUC, summed over the four DBs) 2.35 → 1.95 %; secugen 2.13/1.09/5.12/1.06 →
//!    2.13/1.20/4.67/1.06 % (DB3 rank-1 79 → 78 of 80). The gain holds over the neighbourhood
//!    σD 0.47–0.52, σS 8–8.75 (mindtct DB3 4.3–5.35 %), so it is not one lucky point. With ND = 6,
//!    one-at-a-time sweeps of σD, σS, μψ, Ω, MIN_VC, MIN_M and MIN_ME reached DB3 5.12 % at best
//!    (σS = 7, with DB4 2.94 % and secugen DB3 5.70 %), Ω = 60 and σS = 8 5.35 %, most settings cost
//!    elsewhere. ND = 8 costs a third more popcount work per cylinder pair (32 value words instead of
//!    24; ND = 7 would cost the same after padding): about 10 % fewer comparisons/s, won back by the
//!    speed work of 5. ND = 5 was worse (DB3 6–8 %).
//!    MIN_VC below 0.75 changes nothing on this data (cylinders with two neighbours are nearly always
//!    75 % valid); 0.8 and above was worse. Weighting neighbours by minutia quality (contribution ×
//!    min(1, max(0.3, q/Q0)), Q0 20–60) was worse on every mindtct DB. With ND = 8, MIN_M = 1 was
//!    mixed (DB1 1.90 → 2.13 %, the rest ±0.05); μψ 0.009–0.011 and Ω = 45 were worse (summed
//!    mindtct EER 9.7–10.7 % against 9.38 %); Ω = 55 was even (summed EER 9.19 %, but 1 − AUC 1.95 →
//!    2.15 %), so Ω stays 50.
//! 3. **Local similarities.** For two cylinders, with `x = a ∧ valid(b)`, `y = b ∧ valid(a)`:
//!    `λ = 1 − √|x ⊕ y| / (√|x| + √|y|)`, three popcounts over 32 words (4 AVX-512 registers), when at
//!    least 60 % of the cells are valid in both (on this data every pair passes: MIN_ME 0.4–0.7 made
//!    no difference). Pairs whose directions differ by more than [`mcc::DELTA_THETA`] are skipped
//!    (60°, tuned: 90° as in the paper was worse on the mindtct sets; with ND = 6, 46°, 52°, 69° and
//!    74° were not better; with ND = 8, 50° and 55° raised the summed 1 − AUC 1.95 → 2.25 %).
//!    The direction check is relative to a global rotation estimated from the best matches of 16
//!    sampled cylinders, used only when the votes clearly agree on a rotation beyond 45°, so a
//!    template matches its own rotations by any angle while near-upright pairs (the tuning data) are
//!    unaffected. Fewer samples would be cheaper (8: +8 % comparisons/s, 12: +3 %) but give more
//!    spurious rotation estimates on upright pairs (8: DB4 EER 2.50 → 3.20 %; 12: DB1's ranking error
//!    1 − AUC 0.54 → 0.82 %).
//! 4. **Consolidation: LSS-R.** The top `min(nA, nB)` pairs by λ (greedy one-to-one: each minutia once,
//!    which measured better than the paper's plain sort) are relaxed 5 times with weight 0.5, pair
//!    compatibility ρ the product of logistic functions of the distance difference (μ = 5 px,
//!    τ = −1.6), the direction-difference difference (μ = π/12, τ = −30) and the radial angle difference
//!    (μ = π/12, τ = −30). The score is the mean relaxed λ of the `n_P` most efficient pairs (relaxed /
//!    initial λ), `n_P` = 4 + round(8 · Z(min(nA, nB); 20, 0.4)). Scores lie in [0, 1]; in practice
//!    impostors score below about 0.04 and genuine pairs up to about 1 (a template against itself).
//!    A global pairing stage after LSS-R (align by the top pairs, count minutiae within 20 px) was
//!    tried and lowered accuracy (mindtct's spurious minutiae pair by chance); it is not used.
//!    Measured and rejected (one at a time, with ND = 6; baseline sums of the four EERs: mindtct
//!    11.14 %, secugen 9.40 %): a floor of 20 on the relaxation's divisor `m − 1` (so small templates'
//!    few pairs support each other less): 10.76 / 9.15 %, DB3 5.35 %, but with ND = 8 it moved DB3
//!    4.28 → 5.00 %; the divisor `40 · ((m − 1)/40)^α`, α 0.3–0.85: worse; λ × 0.9 (0.8, 0.6) when
//!    the two minutiae's types differ: 11.18 % (13.54, 16.44); λ weighted by the two minutiae's
//!    qualities: 13.2–21.1 %; a distance tolerance growing with the distance (|dA − dB| / (1 + κ
//!    (dA + dB)/200), κ 0.1–1): secugen down to 8.91 % but mindtct up to 11.4–12.6 %; NR_MAX 20–50
//!    instead of 64: 11.4–13.6 %. Sweeps of n_P (MIN_NP 2–6, MAX_NP 8–16, μP 12–30, τP 0.2–1), ρ
//!    (μρ1 3–8 px, τρ1 −1…−3, μρ2 and μρ3 0.2–0.45 rad), wR 0.3–0.7 and N_REL 3–8 found nothing better
//!    than noise: one genuine pair moves an EER by 0.36 points.
//! 5. **Speed.** No allocation per comparison (thread-local scratch), the λ kernel on one cylinder
//!    against a row at a time (its four counts packed into 16-bit fields and reduced once), the
//!    rotation-sample rows computed once and reused by the main pass, λ sorted by a 1,024-bucket
//!    counting sort (bucket computed once per candidate, prefix sum over the occupied buckets only),
//!    compatibilities computed once per unordered pair with early exits and kept sparse for the
//!    relaxation (ρ3 from each pair's frame rotation: one sin/cos per pair), only the `n_P` most
//!    efficient pairs selected (not a full sort). Where a comparison's time goes (rdtsc, ND = 8): the
//!    rotation-sample rows 30 %, the direction-checked rows 29 %, sort and greedy selection 13 %,
//!    compatibilities 21 %, relaxation 5 %. Tried without gain: a vectorisable pass computing all the
//!    distances before the compatibility checks (−1 %), a branch-free λ pass over each row (±0),
//!    keeping the relaxation's sparse rows in the scratch instead of zeroing 20 KiB per comparison
//!    (±0), picking each rotation sample's best match by cross-multiplied ratios instead of λ (−7 %),
//!    and stopping the full rotation-sample rows as soon as the remaining samples provably cannot
//!    make a far rotation confident (exact, but settles only after 85 % of the samples on average:
//!    +1 %, not worth its code).
//! 6. **Preparation speed.** Prepared templates are stored and compared with ones prepared earlier, so
//!    preparation is frozen bit for bit by the template version (`tests/finger_prepare.rs` hashes
//!    the prepared bytes of every test record and of 405 synthetic point sets; the construction as
//!    it was is kept in `mcc`'s tests as the reference). Every cell sum is therefore the same
//!    floating-point expression with the same terms in the same order; the speed comes from around
//!    it: sums kept cell-major (a cell's 8 sections are one 8-lane multiply and add, each lane its
//!    section's scalar operation; Rust never fuses them into an FMA), the validity test run per hull
//!    edge over all cells and the undecided cells' exact distance test run together (both
//!    vectorise), bits packed a byte per cell by one compare and transposed 8 × 8 into section
//!    words, `wrap_pi` skipping its `fmodf` call where it is the identity, and the prefilter's
//!    coarse code read by word operations. An AVX2 build of the same code (chosen at run time; the
//!    portable one otherwise) also computes a row's distances and spatial table indices and a
//!    neighbour's 8 directional terms in one register each, gathering at exactly the scalar
//!    indices. Measured (`cargo bench --bench finger -- prepare`, one real FVC2002 record of either
//!    extractor, one core, same machine state, three runs each): 533–557 µs → 119–121 µs a
//!    template (4.5×), 188–196 µs with the portable build (x86-64 baseline, SSE2); enrolment into
//!    a store (`edgeid bench finger --gallery 10000`, both cores, parse + prepare + log +
//!    checkpoint) 2,690–2,930 → 6,800–7,250 templates/s. Tried without
//!    gain: the `gs` lookup with an unchecked conversion where d² is known in range (±0), stopping
//!    a group of 8 undecided cells at the first edge within Ω once all are (+20 % time: the early
//!    exit costs more than it saves), plain loads instead of the gather for a row's `gs` samples
//!    (±0). Where preparation time goes now (perf, by source line): the cell sums roughly a third,
//!    the validity mask roughly a quarter (edge distances, then the exact test of the cells near
//!    the hull's border), the rest (bits, neighbour search, zeroing, sin/cos, hull, prefilter
//!    summary) the remainder.
//!
//! Parameters were tuned on the EER and rank-1 of the four `mindtct` sets only (the README protocol);
//! the calibration table is derived from impostor scores and was not used for tuning.

pub mod calibration;
pub mod codec;
pub mod enroll;
pub mod eval;
pub mod gallery;
mod mathx;
pub mod mcc;
pub mod prefilter;
pub mod search;
pub mod synth;
pub mod template;

pub use codec::{
    detect, parse, parse_with, Format, FormatError, Minutia, MinutiaKind, Mode, Record, View,
};
pub use gallery::{FingerGallery, GalleryHit};
pub use search::SearchParams;
pub use template::{FingerTemplate, TemplateRef};

/// Similarity of two prepared templates in [0, 1] (higher: more similar).
pub fn compare(a: &TemplateRef<'_>, b: &TemplateRef<'_>) -> f32 {
    mcc::compare_with(a, b, crate::kernels::FingerKernels::detect().pairs())
}
