//! Face templates: validation, normalisation and the quantised codes the index scans.
//!
//! A face template is an embedding produced by a recognition model. edgeid stores it L2-normalised
//! (cosine similarity becomes a dot product) at full f32 precision for exact scores, plus an int8 code
//! with a per-template scale and error terms, so the scan can bound every template's score without
//! touching the f32 copy (see `index::face`).

use crate::error::{Error, Result};

/// Smallest and largest embedding dimension a store accepts.
pub const DIM_RANGE: std::ops::RangeInclusive<usize> = 8..=4096;

/// Validates an embedding of the expected dimension and returns it L2-normalised.
///
/// Refuses a wrong dimension, NaN or infinite components, and the zero vector (which has no direction).
pub fn normalize(embedding: &[f32], dim: usize) -> Result<Vec<f32>> {
    normalize_owned(embedding.to_vec(), dim)
}

/// [`normalize`] in place: the same checks and the same bits, without a second vector.
pub fn normalize_owned(mut embedding: Vec<f32>, dim: usize) -> Result<Vec<f32>> {
    if embedding.len() != dim {
        return Err(Error::Invalid(format!(
            "expected {dim} floats, got {}",
            embedding.len()
        )));
    }
    if let Some(i) = embedding.iter().position(|v| !v.is_finite()) {
        return Err(Error::Invalid(format!(
            "component {i} is {} (must be finite)",
            embedding[i]
        )));
    }
    let norm = embedding
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt();
    if norm < 1e-12 {
        return Err(Error::Invalid(
            "zero vector has no direction and cannot be a template".into(),
        ));
    }
    for v in &mut embedding {
        *v = (f64::from(*v) / norm) as f32;
    }
    Ok(embedding)
}

/// The int8 code of a vector and the terms that bound its error.
///
/// `v = scale * c + e` with `c` in -127..=127. The scan stores `c + 128` as u8 (what the kernels take).
#[derive(Debug, Clone, PartialEq)]
pub struct Quantized {
    /// Codes `c + 128`, length = padded stride (padding is 128, i.e. code 0).
    pub codes: Vec<u8>,
    /// Per-vector scale.
    pub scale: f32,
    /// `scale * ||c||`, rounded up: multiplies the probe's quantisation error in the bound.
    pub code_norm: f32,
    /// `||e||` = `||v - scale * c||`, rounded up: the template's own quantisation error.
    pub residual: f32,
}

/// Rounds to the nearest integer (halves away from zero) without a libm call, so quantisation
/// loops vectorise. Exactness does not depend on the rounding: the error terms are computed from the
/// codes actually chosen.
#[inline(always)]
fn round(x: f32) -> f32 {
    ((x.abs() + 0.5) as i32) as f32 * x.signum()
}

/// `round(x).clamp(-lim, lim)` for an integer `lim` below 2^22, bit for bit, without the
/// saturating float-to-int conversion (which keeps loops scalar): clamping first changes nothing
/// (rounding is monotone and keeps integers), and below 2^22 the truncation of `|x| + 0.5` is its
/// round-to-nearest through 2^23, less one where that went up. NaN stays NaN.
#[inline(always)]
fn round_clamped(x: f32, lim: f32) -> f32 {
    const M: f32 = 8_388_608.0; // 2^23
    let t = x.clamp(-lim, lim).abs() + 0.5;
    let r = (t + M) - M;
    let r = if r > t { r - 1.0 } else { r };
    r.copysign(x)
}

/// Whether `v` lies in the quantisation cells of its int8 `codes` (stored as `c + 128`) at `scale`:
/// every component within half a step of `scale * c`, as [`quantize`] leaves it (plus f32 rounding
/// of `v / scale`). A stored template that fails this is damaged: its vector, code or scale was
/// changed after it was written. Searches check it on each template they score exactly
/// (`index::face`), so a flipped bit is reported instead of believed. NaN and infinite components
/// fail.
pub fn in_code_cells(v: &[f32], codes: &[u8], scale: f32) -> bool {
    if !(scale.is_finite() && scale > 0.0) || codes.len() < v.len() {
        return false;
    }
    // Half a step, plus the relative error of `x / scale` in f32 at codes up to 127 and of this
    // f32 arithmetic (both below 1e-5 of a step).
    let tol = scale * (0.5 + 1e-4);
    // No early exit: a branch-free `&=` over all components vectorises (NaN compares false).
    let mut ok = true;
    for (&x, &c) in v.iter().zip(codes) {
        ok &= (x - scale * (f32::from(c) - 128.0)).abs() <= tol;
    }
    ok
}

/// Rounds a non-negative f64 up to the next f32 (bounds must never shrink when stored).
pub fn round_up_f32(x: f64) -> f32 {
    let f = x as f32;
    if f64::from(f) >= x {
        f
    } else {
        f32::from_bits(f.to_bits() + 1)
    }
}

/// Quantises `v` to int8 codes with per-vector scale; `stride >= v.len()` pads the codes.
/// (Templates are finite: NaN components give codes but no meaningful bounds.)
pub fn quantize(v: &[f32], stride: usize) -> Quantized {
    let scale = scale8(max_abs(v));
    let mut codes = vec![128u8; stride];
    codes8(v, scale, &mut codes);
    let mut err2 = 0f64;
    // One chain of f64 additions in component order (the stored bound's exact value depends on
    // it); everything else above vectorises.
    for (&x, &b) in v.iter().zip(&codes) {
        let e = f64::from(x) - f64::from(scale) * f64::from(i32::from(b) - 128);
        err2 += e * e;
    }
    let n2 = code_norm2(&codes, 128);
    params(codes, scale, n2, err2)
}

/// Dimensions covered by a 4-bit code row: a multiple of 128 (see `Kernels::dot_u4i8_rows`).
pub fn dims4(dim: usize) -> usize {
    dim.div_ceil(128) * 128
}

/// Quantises `v` to packed 4-bit codes (`c` in -7..=7 stored as `c + 8`) for the first scan pass.
///
/// The scale is chosen among a few clipping levels to minimise `||e||`: with 15 levels, clipping the
/// rare large components costs less than coarse steps for all the others. `dims` = [`dims4`].
pub fn quantize4(v: &[f32], dims: usize) -> Quantized {
    let scale = scale4(v, max_abs(v));
    let mut c4 = vec![0i8; v.len()];
    codes4(v, scale, &mut c4);
    let mut err2 = 0f64;
    for (&x, &c) in v.iter().zip(&c4) {
        let e = f64::from(x) - f64::from(scale) * f64::from(c);
        err2 += e * e;
    }
    params(pack4(&c4, dims), scale, code_norm2(&c4, 0), err2)
}

/// [`quantize`] and [`quantize4`] of one vector, bit for bit the same, in one pass: their two
/// error sums (chains of f64 additions in component order) advance side by side, so each
/// hides the other's latency. What a segment's encoder calls.
pub fn quantize_both(v: &[f32], stride: usize, dims: usize) -> (Quantized, Quantized) {
    let max = max_abs(v);
    let (s8, s4) = (scale8(max), scale4(v, max));
    let mut codes = vec![128u8; stride];
    codes8(v, s8, &mut codes);
    let mut c4 = vec![0i8; v.len()];
    codes4(v, s4, &mut c4);
    let (mut err8, mut err4) = (0f64, 0f64);
    for ((&x, &b), &c) in v.iter().zip(&codes).zip(&c4) {
        let x = f64::from(x);
        let e = x - f64::from(s8) * f64::from(i32::from(b) - 128);
        err8 += e * e;
        let e = x - f64::from(s4) * f64::from(c);
        err4 += e * e;
    }
    let n8 = code_norm2(&codes, 128);
    (
        params(codes, s8, n8, err8),
        params(pack4(&c4, dims), s4, code_norm2(&c4, 0), err4),
    )
}

/// Largest `|x|` (0 for an empty vector).
fn max_abs(v: &[f32]) -> f32 {
    v.iter().fold(0f32, |m, x| m.max(x.abs()))
}

/// The int8 scale for a vector whose largest component is `max`.
fn scale8(max: f32) -> f32 {
    if max > 0.0 {
        max / 127.0
    } else {
        1.0
    }
}

/// The int8 codes (`c + 128`) of `v` at `scale` into `out` (vectorises).
fn codes8(v: &[f32], scale: f32, out: &mut [u8]) {
    for (o, &x) in out.iter_mut().zip(v) {
        *o = (round_clamped(x / scale, 127.0) + 128.0) as u8;
    }
}

/// Clipping levels tried for the 4-bit scale, in order (the first of equal errors wins).
const CLIPS: [f32; 5] = [1.0, 0.8, 0.66, 0.55, 0.46];

/// The 4-bit scale: the clipping level of least (approximate, f32) error. The five error sums
/// are five independent chains in component order, kept in the lanes of one array so the loop
/// vectorises across levels without changing any sum's order.
fn scale4(v: &[f32], max: f32) -> f32 {
    const L: usize = 8;
    let mut scale = [1f32; L];
    let mut inv = [1f32; L];
    for k in 0..L {
        let f = CLIPS[k.min(CLIPS.len() - 1)];
        scale[k] = if max > 0.0 { max * f / 7.0 } else { 1.0 };
        inv[k] = 1.0 / scale[k];
    }
    let mut err = [0f32; L];
    for &x in v {
        for k in 0..L {
            let c = round_clamped(x * inv[k], 7.0);
            let e = x - scale[k] * c;
            err[k] += e * e;
        }
    }
    let mut best = 0;
    for k in 1..CLIPS.len() {
        if err[k] < err[best] {
            best = k;
        }
    }
    scale[best]
}

/// The 4-bit code values (-7..=7) of `v` at `scale` into `out` (vectorises).
fn codes4(v: &[f32], scale: f32, out: &mut [i8]) {
    for (o, &x) in out.iter_mut().zip(v) {
        *o = round_clamped(x / scale, 7.0) as i8;
    }
}

/// Packs 4-bit code values as `c + 8`: per block of 128 dimensions, components `o < 64` in the
/// low nibbles of bytes `0..64`, the others in the high nibbles; padding is code 0.
fn pack4(c4: &[i8], dims: usize) -> Vec<u8> {
    let mut codes = vec![0x88u8; dims / 2];
    for (block, out) in codes.chunks_exact_mut(64).enumerate() {
        let lo = c4.get(block * 128..).unwrap_or(&[]);
        let hi = c4.get(block * 128 + 64..).unwrap_or(&[]);
        for (o, byte) in out.iter_mut().enumerate() {
            let l = lo.get(o).filter(|_| o < 64).map_or(8, |&c| (c + 8) as u8);
            let h = hi.get(o).map_or(8, |&c| (c + 8) as u8);
            *byte = l | (h << 4);
        }
    }
    codes
}

/// `Σ (code - bias)²`: exact in integers (so in any order), returned as f64.
fn code_norm2<T: Copy + Into<i32>>(codes: &[T], bias: i32) -> f64 {
    let s: i64 = codes
        .iter()
        .map(|&b| {
            let c = i64::from(b.into() - bias);
            c * c
        })
        .sum();
    s as f64
}

/// The stored terms of codes at `scale`: `code_norm` from `Σc²`, `residual` from `Σe²`.
fn params(codes: Vec<u8>, scale: f32, cnorm2: f64, err2: f64) -> Quantized {
    Quantized {
        codes,
        scale,
        code_norm: round_up_f32(f64::from(scale) * cnorm2.sqrt() * (1.0 + 1e-9)),
        residual: round_up_f32(err2.sqrt() * (1.0 + 1e-9)),
    }
}

/// A probe quantised to i8 (the kernels' second operand) with its error terms.
#[derive(Debug, Clone)]
pub struct QuantizedProbe {
    /// Codes in -127..=127, padded with 0 to `max(stride, dims4)`.
    pub codes: Vec<i8>,
    /// Scale.
    pub scale: f32,
    /// Σ codes, to undo the +128 bias of template codes.
    pub code_sum: i32,
    /// `||e_q||`, rounded up.
    pub residual: f64,
    /// `||q||` (about 1 for a normalised probe), rounded up.
    pub norm: f64,
}

/// Quantises a (normalised) probe; `len` is the padded code length.
pub fn quantize_probe(q: &[f32], len: usize) -> QuantizedProbe {
    let stride = len;
    let max = q.iter().fold(0f32, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    let mut codes = vec![0i8; stride];
    let mut err2 = 0f64;
    let mut norm2 = 0f64;
    let mut sum = 0i32;
    for (i, &x) in q.iter().enumerate() {
        let c = round(x / scale).clamp(-127.0, 127.0);
        codes[i] = c as i8;
        sum += c as i32;
        let e = f64::from(x) - f64::from(scale) * f64::from(c);
        err2 += e * e;
        norm2 += f64::from(x) * f64::from(x);
    }
    QuantizedProbe {
        codes,
        scale,
        code_sum: sum,
        residual: err2.sqrt() * (1.0 + 1e-9),
        norm: norm2.sqrt() * (1.0 + 1e-9),
    }
}

/// Reads a template file: `dim` little-endian f32 (raw) or a JSON array of numbers.
pub fn parse_embedding_file(bytes: &[u8]) -> Result<Vec<f32>> {
    let trimmed = bytes.trim_ascii();
    if trimmed.first() == Some(&b'[') {
        let text = std::str::from_utf8(trimmed)
            .map_err(|_| Error::Invalid("JSON template is not UTF-8".into()))?;
        let inner = text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .ok_or_else(|| Error::Invalid("JSON template must be one array of numbers".into()))?;
        if inner.trim().is_empty() {
            return Ok(Vec::new());
        }
        return inner
            .split(',')
            .enumerate()
            .map(|(i, s)| {
                s.trim().parse::<f32>().map_err(|_| {
                    Error::Invalid(format!(
                        "JSON template element {i}: {:?} is not a number",
                        s.trim()
                    ))
                })
            })
            .collect();
    }
    if !bytes.len().is_multiple_of(4) {
        return Err(Error::Invalid(format!(
            "raw template must be little-endian f32 (a multiple of 4 bytes), got {} bytes",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    // The first implementations, kept as the reference the faster ones must match bit for bit.
    /// Quantises `v` to int8 codes with per-vector scale; `stride >= v.len()` pads the codes.
    fn quantize_reference(v: &[f32], stride: usize) -> Quantized {
        let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        let mut codes = vec![128u8; stride];
        let mut cnorm2 = 0f64;
        let mut err2 = 0f64;
        for (i, &x) in v.iter().enumerate() {
            let c = round(x / scale).clamp(-127.0, 127.0);
            codes[i] = (c as i32 + 128) as u8;
            cnorm2 += f64::from(c) * f64::from(c);
            let e = f64::from(x) - f64::from(scale) * f64::from(c);
            err2 += e * e;
        }
        Quantized {
            codes,
            scale,
            code_norm: round_up_f32(f64::from(scale) * cnorm2.sqrt() * (1.0 + 1e-9)),
            residual: round_up_f32(err2.sqrt() * (1.0 + 1e-9)),
        }
    }

    /// Quantises `v` to packed 4-bit codes (`c` in -7..=7 stored as `c + 8`) for the first scan pass.
    ///
    /// The scale is chosen among a few clipping levels to minimise `||e||`: with 15 levels, clipping the
    /// rare large components costs less than coarse steps for all the others. `dims` = [`dims4`].
    fn quantize4_reference(v: &[f32], dims: usize) -> Quantized {
        let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
        let mut best: Option<(f32, f32)> = None;
        // Choosing among clipping levels only needs an approximate error (f32, vectorised); the error
        // term stored for the bound is computed exactly below from the codes chosen.
        for f in [1.0f32, 0.8, 0.66, 0.55, 0.46] {
            let scale = if max > 0.0 { max * f / 7.0 } else { 1.0 };
            let inv = 1.0 / scale;
            let err2: f32 = v
                .iter()
                .map(|&x| {
                    let c = round(x * inv).clamp(-7.0, 7.0);
                    let e = x - scale * c;
                    e * e
                })
                .sum();
            if best.is_none_or(|b| err2 < b.0) {
                best = Some((err2, scale));
            }
        }
        let (_, scale) = best.expect("at least one candidate");
        let mut codes = vec![0x88u8; dims / 2];
        let mut cnorm2 = 0f64;
        let mut err2 = 0f64;
        for (i, &x) in v.iter().enumerate() {
            let c = round(x / scale).clamp(-7.0, 7.0);
            let nib = (c as i32 + 8) as u8;
            let (block, o) = (i / 128, i % 128);
            let byte = &mut codes[block * 64 + o % 64];
            *byte = if o < 64 {
                (*byte & 0xf0) | nib
            } else {
                (*byte & 0x0f) | (nib << 4)
            };
            cnorm2 += f64::from(c) * f64::from(c);
            let e = f64::from(x) - f64::from(scale) * f64::from(c);
            err2 += e * e;
        }
        Quantized {
            codes,
            scale,
            code_norm: round_up_f32(f64::from(scale) * cnorm2.sqrt() * (1.0 + 1e-9)),
            residual: round_up_f32(err2.sqrt() * (1.0 + 1e-9)),
        }
    }

    #[test]
    fn round_clamped_is_round_then_clamp() {
        let mut ys: Vec<f32> = (-600..=600).map(|i| i as f32 * 0.25).collect();
        ys.extend([
            0.0,
            -0.0,
            1e-30,
            -1e-30,
            1e9,
            -1e9,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ]);
        ys.extend((0..2000).map(|i| (i as f32 * 0.618_034).sin() * 140.0));
        for lim in [7.0, 127.0] {
            for &y in &ys {
                for y in [
                    y,
                    f32::from_bits(y.to_bits() + 1),
                    f32::from_bits(y.to_bits().saturating_sub(1)),
                ] {
                    if y.is_nan() {
                        continue;
                    }
                    let want = round(y).clamp(-lim, lim);
                    assert_eq!(
                        round_clamped(y, lim).to_bits(),
                        want.to_bits(),
                        "{y} at {lim}"
                    );
                }
            }
        }
        assert!(round_clamped(f32::NAN, 7.0).is_nan());
    }

    #[test]
    fn quantisation_matches_the_reference_bit_for_bit() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let mut cases: Vec<Vec<f32>> = Vec::new();
        for dim in [8, 100, 127, 128, 129, 512, 1000, 4096] {
            for _ in 0..50 {
                let v: Vec<f32> = (0..dim).map(|_| next()).collect();
                cases.push(normalize(&v, dim).unwrap());
                // Spiky: a few large components (the clipping levels matter).
                let mut w: Vec<f32> = (0..dim).map(|_| next() * 0.01).collect();
                w[dim / 3] = 1.0;
                cases.push(w);
            }
        }
        // Ties at half a step, zeros, one component, the zero vector, exact multiples.
        cases.push(vec![0.0; 16]);
        cases.push((0..16).map(|i| (i as f32 - 8.0) * 0.5).collect());
        cases.push((0..300).map(|i| ((i % 15) as f32 - 7.0) / 7.0).collect());
        cases.push(
            (0..300)
                .map(|i| ((i % 255) as f32 - 127.0) / 127.0)
                .collect(),
        );
        cases.push(vec![1.0; 8]);
        for v in &cases {
            let (stride, dims) = (v.len().div_ceil(64) * 64, dims4(v.len()));
            let (r8, r4) = (quantize_reference(v, stride), quantize4_reference(v, dims));
            let bits = |q: &Quantized| {
                (
                    q.codes.clone(),
                    q.scale.to_bits(),
                    q.code_norm.to_bits(),
                    q.residual.to_bits(),
                )
            };
            assert_eq!(
                bits(&quantize(v, stride)),
                bits(&r8),
                "int8, dim {}",
                v.len()
            );
            assert_eq!(
                bits(&quantize4(v, dims)),
                bits(&r4),
                "4-bit, dim {}",
                v.len()
            );
            let (b8, b4) = quantize_both(v, stride, dims);
            assert_eq!((bits(&b8), bits(&b4)), (bits(&r8), bits(&r4)));
        }
    }

    #[test]
    fn every_quantised_vector_lies_in_its_code_cells_and_a_changed_one_does_not() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for dim in [8, 100, 512, 1000] {
            let v: Vec<f32> = (0..dim)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
                })
                .collect();
            let v = normalize(&v, dim).unwrap();
            let q = quantize(&v, dim.div_ceil(64) * 64);
            assert!(in_code_cells(&v, &q.codes, q.scale), "dim {dim}");
            let big = (0..dim)
                .max_by(|&a, &b| v[a].abs().total_cmp(&v[b].abs()))
                .unwrap();
            for bad in [v[big] * 2.0, -v[big], f32::NAN, f32::INFINITY, 0.0] {
                let mut w = v.clone();
                w[big] = bad;
                assert!(!in_code_cells(&w, &q.codes, q.scale), "dim {dim}: {bad}");
            }
            assert!(!in_code_cells(&v, &q.codes, f32::NAN));
            assert!(!in_code_cells(&v, &q.codes, 2.0 * q.scale));
            assert!(!in_code_cells(&v, &q.codes[..dim - 1], q.scale));
        }
    }

    #[test]
    fn normalize_refuses_bad_vectors() {
        assert!(normalize(&[1.0, 2.0], 3)
            .unwrap_err()
            .to_string()
            .contains("expected 3 floats, got 2"));
        assert!(normalize(&[1.0, f32::NAN, 0.0], 3).is_err());
        assert!(normalize(&[1.0, f32::INFINITY, 0.0], 3).is_err());
        assert!(normalize(&[0.0; 3], 3).is_err());
        let n = normalize(&[3.0, 4.0, 0.0], 3).unwrap();
        assert!((n[0] - 0.6).abs() < 1e-7 && (n[1] - 0.8).abs() < 1e-7);
    }

    #[test]
    fn quantization_error_terms_bound_the_truth() {
        let v = normalize(&[0.3, -0.2, 0.9, 0.01, -0.5, 0.0, 0.7, -0.05], 8).unwrap();
        let q = quantize(&v, 64);
        assert_eq!(q.codes.len(), 64);
        assert!(q.codes[8..].iter().all(|&c| c == 128));
        let err: f64 = v
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let c = f64::from(q.codes[i]) - 128.0;
                (f64::from(x) - f64::from(q.scale) * c).powi(2)
            })
            .sum::<f64>()
            .sqrt();
        assert!(f64::from(q.residual) >= err);
        assert!(err < 0.01);
    }

    #[test]
    fn four_bit_codes_pack_and_bound() {
        let mut x = 1u64;
        let v: Vec<f32> = (0..200)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((x >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect();
        let v = normalize(&v, 200).unwrap();
        let q = quantize4(&v, dims4(200));
        assert_eq!(q.codes.len(), 128);
        let mut err2 = 0f64;
        for (i, &x) in v.iter().enumerate() {
            let (b, o) = (i / 128, i % 128);
            let byte = q.codes[b * 64 + o % 64];
            let nib = if o < 64 { byte & 15 } else { byte >> 4 };
            let c = f64::from(nib) - 8.0;
            assert!((-7.0..=7.0).contains(&c));
            err2 += (f64::from(x) - f64::from(q.scale) * c).powi(2);
        }
        assert!(f64::from(q.residual) >= err2.sqrt());
        assert!(err2.sqrt() < 0.2, "4-bit error {}", err2.sqrt());
        // Padding (dims 200..256) is code 0, i.e. nibble 8.
        assert_eq!(q.codes[64 + (200 - 128) % 64] >> 4, 8);
    }

    #[test]
    fn template_files_parse() {
        assert_eq!(
            parse_embedding_file(b"[1, 2.5,-3]").unwrap(),
            vec![1.0, 2.5, -3.0]
        );
        assert!(parse_embedding_file(b"[1, x]").is_err());
        let raw: Vec<u8> = [1.0f32, -2.0]
            .iter()
            .flat_map(|f| f.to_le_bytes())
            .collect();
        assert_eq!(parse_embedding_file(&raw).unwrap(), vec![1.0, -2.0]);
        assert!(parse_embedding_file(&raw[..7]).is_err());
    }
}
