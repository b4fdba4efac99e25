//! Fingerprint minutiae templates: codecs, the MCC matcher, score calibration, an in-memory 1:N
//! gallery and evaluation tooling.
//!
//! # Map
//! | module | what |
//! |---|---|
//! | [`codec`] | ISO/IEC 19794-2:2005, ANSI/INCITS 378-2004, ISO/IEC 19794-2:2011, ISO card normal/compact: detect, parse (strict/lenient), write, convert |
//! | [`enroll`] | which view of a record is enrolled, [`enroll::prepare`] |
//! | [`template`] | [`FingerTemplate`] / [`TemplateRef`]: the prepared, byte-serialisable form the matcher compares (fixed layout, 8-byte aligned, zero-copy from a mapped file) |
//! | [`mcc`] | Minutia Cylinder-Code: cylinder construction, local matching, LSS-R consolidation and [`compare`]; the global consolidation stage and the LSS-R options measured by the cross-validation ([`mcc::Params`], off by default) |
//! | [`calibration`] | FMR → threshold ([`calibration::threshold_for_fmr`]) |
//! | [`prefilter`] | fixed-length summaries and their weighted popcount score for 1:N |
//! | [`gallery`] | [`FingerGallery`]: insert/remove, identify (per-user fusion), verify |
//! | [`eval`] | `scores(dir)`, `eval(dir)` (EER, FNMR@FMR1%, FNMR@FMR0, FNMR@FMR1e-3/1e-4, rank-1), a reference matcher's scores |
//! | [`crossval`] | leave-one-set-out cross-validation of the consolidation parameters and the FMR thresholds |
//! | [`distort`] | seeded distorted and partial variants of real templates (test conditions) |
//! | [`det`] | DET curves as SVG |
//! | [`synth`] | seeded synthetic impressions and galleries for benchmarks |
//!
//! Typical use: `let t = FingerTemplate::from_record_bytes(&bytes)?;` once per template (about
//! 0.12 ms on a core with AVX2), store `t.as_bytes()`, view stored bytes with [`TemplateRef::from_bytes`], and score with
//! `compare(&a, &b)`; accept when the score reaches
//! `calibration::threshold_for_fmr(1e-4)` (or the FMR the site wants).
//!
//! # The matcher
//! Minutia Cylinder-Code (Cappelli, Ferrara, Maltoni, IEEE TPAMI 2010), bit version: minutiae in
//! common units (500 dpi internal pixels, y up; at most [`mcc::MAX_MINUTIAE`] of best quality), one
//! 16 × 16 × 8-cell cylinder per minutia (a 320-byte bit vector with its validity mask), local
//! similarities of cylinder pairs by popcounts (pairs whose directions differ by more than
//! [`mcc::DELTA_THETA`] after a global rotation estimate are skipped), then LSS-R consolidation: the
//! best one-to-one pairs relaxed by their geometric compatibility, the score the mean of the most
//! efficient ones, in [0, 1]. Preparation is frozen bit for bit by the template version
//! (`template::VERSION`; `tests/finger_prepare.rs` hashes prepared bytes).
//!
//! Why each parameter has its value, what was measured and rejected, and where the time goes:
//! `docs/fingerprint-matcher.md`. Parameters were tuned on the EER and rank-1 of the four `mindtct`
//! sets only; the calibration table is derived from impostor scores and was not used for tuning.

pub mod calibration;
pub mod codec;
pub mod crossval;
pub mod det;
pub mod distort;
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

/// [`compare`] with explicit consolidation parameters (evaluation and cross-validation).
pub fn compare_params(a: &TemplateRef<'_>, b: &TemplateRef<'_>, p: &mcc::Params) -> f32 {
    mcc::compare_params(a, b, crate::kernels::FingerKernels::detect().pairs(), p)
}

/// Similarity of two prepared templates in [0, 1] (higher: more similar).
pub fn compare(a: &TemplateRef<'_>, b: &TemplateRef<'_>) -> f32 {
    mcc::compare_with(a, b, crate::kernels::FingerKernels::detect().pairs())
}
