//! Evaluation: score every pair of a directory of templates, and the accuracy figures of the shared
//! test data's protocol (EER, FNMR at FMR ≤ 1 % and at FMR = 0, rank-1).
//!
//! Protocol (`testdata/fingerprint/README.md`): over the templates of one directory, every unordered
//! pair {a, b} of different templates is scored once with the file stem that sorts first as the probe;
//! the pair is genuine when both stems name the same finger (the part before the last `_`), an
//! impostor otherwise. Rank-1: each template is searched against all the others and must find a
//! template of its own finger strictly above every other finger's.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::codec::{parse_with, Mode};
use super::mcc::Params;
use super::template::FingerTemplate;
use super::{compare, compare_params};
use crate::error::{Error, Result};

/// A named prepared template loaded from a file.
#[derive(Debug, Clone)]
pub struct Named {
    /// File stem.
    pub name: String,
    /// The prepared first view.
    pub template: FingerTemplate,
}

/// One score of [`scores`].
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreRow {
    /// Probe name (file stem).
    pub probe: String,
    /// Gallery name (file stem).
    pub gallery: String,
    /// Similarity in [0, 1].
    pub score: f32,
}

/// Accuracy figures of one directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Templates.
    pub templates: usize,
    /// Genuine pairs scored.
    pub genuine: usize,
    /// Impostor pairs scored.
    pub impostor: usize,
    /// Equal error rate (FVC definition: middle of the [EER_low, EER_high] interval), as a fraction.
    pub eer: f64,
    /// Lowest FNMR at a threshold whose FMR is at most 1 %.
    pub fnmr_at_fmr_1pct: f64,
    /// FNMR at the lowest threshold with no false match.
    pub fnmr_at_fmr_0: f64,
    /// Lowest FNMR at a threshold whose FMR (on this set's impostors) is at most 1e-3.
    pub fnmr_at_fmr_1e3: f64,
    /// Lowest FNMR at a threshold whose FMR (on this set's impostors) is at most 1e-4 (with fewer
    /// than 10,000 impostor pairs, the same as at FMR 0).
    pub fnmr_at_fmr_1e4: f64,
    /// Templates whose best match (over all others) is of the same finger, strictly.
    pub rank1: usize,
    /// The genuine scores.
    pub genuine_scores: Vec<f32>,
    /// The impostor scores.
    pub impostor_scores: Vec<f32>,
}

/// The finger part of a stem: everything before the last `_` (the whole stem if none).
pub fn finger_of(stem: &str) -> &str {
    stem.rsplit_once('_').map_or(stem, |(f, _)| f)
}

/// Loads and prepares every regular file of `dir` (format detected; strict parsing), sorted by stem.
pub fn load_dir(dir: &Path) -> Result<Vec<Named>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io("read directory", dir, e))?;
    let mut files: Vec<PathBuf> = Vec::new();
    for e in rd {
        let e = e.map_err(|e| Error::io("read directory", dir, e))?;
        let p = e.path();
        if p.is_file() {
            files.push(p);
        }
    }
    files.sort();
    let out: Result<Vec<Named>> = files
        .par_iter()
        .map(|p| {
            let bytes = std::fs::read(p).map_err(|e| Error::io("read", p, e))?;
            let rec = parse_with(&bytes, None, Mode::Strict)
                .map_err(|e| Error::Invalid(format!("{}: {e}", p.display())))?;
            let template = FingerTemplate::from_record(&rec, 0)
                .map_err(|e| Error::Invalid(format!("{}: {e}", p.display())))?;
            let name = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok(Named { name, template })
        })
        .collect();
    let mut out = out?;
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Full score matrix `m[i][j] = compare(i as probe, j as gallery)` (diagonal 0), on all cores.
pub fn score_matrix(t: &[Named]) -> Vec<Vec<f32>> {
    (0..t.len())
        .into_par_iter()
        .map(|i| {
            let a = t[i].template.as_ref();
            (0..t.len())
                .map(|j| {
                    if i == j {
                        0.0
                    } else {
                        compare(&a, &t[j].template.as_ref())
                    }
                })
                .collect()
        })
        .collect()
}

/// [`score_matrix`] with the given consolidation parameters.
pub fn score_matrix_with(t: &[Named], p: &Params) -> Vec<Vec<f32>> {
    score_matrix_cross(t, t, p)
}

/// `m[i][j] = compare(probes[i], gallery[j])` with the given parameters (diagonal 0: `probes[i]`
/// and `gallery[i]` are taken to be the same impression), on all cores.
pub fn score_matrix_cross(probes: &[Named], gallery: &[Named], p: &Params) -> Vec<Vec<f32>> {
    (0..probes.len())
        .into_par_iter()
        .map(|i| {
            let a = probes[i].template.as_ref();
            (0..gallery.len())
                .map(|j| {
                    if i == j {
                        0.0
                    } else {
                        compare_params(&a, &gallery[j].template.as_ref(), p)
                    }
                })
                .collect()
        })
        .collect()
}

/// Every ordered pair of different templates of `dir`: (probe, gallery, score), on all cores.
pub fn scores(dir: &Path) -> Result<Vec<ScoreRow>> {
    let t = load_dir(dir)?;
    let m = score_matrix(&t);
    let mut out = Vec::with_capacity(t.len() * t.len().saturating_sub(1));
    for (i, row) in m.iter().enumerate() {
        for (j, &s) in row.iter().enumerate() {
            if i != j {
                out.push(ScoreRow {
                    probe: t[i].name.clone(),
                    gallery: t[j].name.clone(),
                    score: s,
                });
            }
        }
    }
    Ok(out)
}

/// The accuracy figures of `dir` by the protocol of the module docs.
pub fn eval(dir: &Path) -> Result<Report> {
    let t = load_dir(dir)?;
    if t.len() < 2 {
        return Err(Error::Invalid(format!(
            "{}: {} template(s); evaluation needs at least 2",
            dir.display(),
            t.len()
        )));
    }
    Ok(report(&t, &score_matrix(&t)))
}

/// Figures from a score matrix of `t` (sorted by name).
pub fn report(t: &[Named], m: &[Vec<f32>]) -> Report {
    let mut gen = Vec::new();
    let mut imp = Vec::new();
    for i in 0..t.len() {
        for j in i + 1..t.len() {
            // t is sorted by name, so i is the probe.
            let s = m[i][j];
            if finger_of(&t[i].name) == finger_of(&t[j].name) {
                gen.push(s);
            } else {
                imp.push(s);
            }
        }
    }
    let mut rank1 = 0;
    for i in 0..t.len() {
        let fi = finger_of(&t[i].name);
        let mut best_mate = f32::NEG_INFINITY;
        let mut best_other = f32::NEG_INFINITY;
        for j in 0..t.len() {
            if i == j {
                continue;
            }
            if finger_of(&t[j].name) == fi {
                best_mate = best_mate.max(m[i][j]);
            } else {
                best_other = best_other.max(m[i][j]);
            }
        }
        if best_mate > best_other {
            rank1 += 1;
        }
    }
    let (eer, f1, f0) = rates(&gen, &imp);
    Report {
        templates: t.len(),
        genuine: gen.len(),
        impostor: imp.len(),
        eer,
        fnmr_at_fmr_1pct: f1,
        fnmr_at_fmr_0: f0,
        fnmr_at_fmr_1e3: fnmr_at_fmr(&gen, &imp, 1e-3),
        fnmr_at_fmr_1e4: fnmr_at_fmr(&gen, &imp, 1e-4),
        rank1,
        genuine_scores: gen,
        impostor_scores: imp,
    }
}

/// (EER, FNMR at FMR ≤ 1 %, FNMR at FMR = 0) of genuine and impostor scores; a pair matches when
/// its score is ≥ the threshold.
pub fn rates(gen: &[f32], imp: &[f32]) -> (f64, f64, f64) {
    if gen.is_empty() || imp.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mut g = gen.to_vec();
    let mut i = imp.to_vec();
    g.sort_by(f32::total_cmp);
    i.sort_by(f32::total_cmp);
    let ng = g.len() as f64;
    let ni = i.len() as f64;
    // Thresholds: every score, and above all.
    let mut th: Vec<f32> = g.iter().chain(i.iter()).copied().collect();
    th.push(f32::INFINITY);
    th.sort_by(f32::total_cmp);
    th.dedup();
    let fmr = |t: f32| (i.len() - i.partition_point(|&s| s < t)) as f64 / ni;
    let fnmr = |t: f32| g.partition_point(|&s| s < t) as f64 / ng;
    let mut f1 = 1.0f64;
    let mut f0 = 1.0f64;
    for &t in &th {
        let (a, b) = (fmr(t), fnmr(t));
        if a <= 0.01 {
            f1 = f1.min(b);
        }
        if a == 0.0 {
            f0 = f0.min(b);
        }
    }
    // FVC EER: t1 = largest threshold with FNMR <= FMR, t2 = smallest with FNMR >= FMR.
    let mut t1 = None;
    let mut t2 = None;
    for &t in &th {
        if fnmr(t) <= fmr(t) {
            t1 = Some(t);
        }
        if t2.is_none() && fnmr(t) >= fmr(t) {
            t2 = Some(t);
        }
    }
    let eer = match (t1, t2) {
        (Some(t1), Some(t2)) => {
            let (lo, hi) = if fnmr(t1) + fmr(t1) <= fnmr(t2) + fmr(t2) {
                (fnmr(t1), fmr(t1))
            } else {
                (fmr(t2), fnmr(t2))
            };
            (lo + hi) / 2.0
        }
        (None, Some(t2)) => (fmr(t2) + fnmr(t2)) / 2.0,
        (Some(t1), None) => (fmr(t1) + fnmr(t1)) / 2.0,
        (None, None) => f64::NAN,
    };
    (eer, f1, f0)
}

/// Lowest FNMR at a threshold whose FMR on `imp` is at most `fmr` (a pair matches when its score
/// is ≥ the threshold); NaN without scores.
pub fn fnmr_at_fmr(gen: &[f32], imp: &[f32], fmr: f64) -> f64 {
    if gen.is_empty() || imp.is_empty() {
        return f64::NAN;
    }
    let mut i = imp.to_vec();
    i.sort_by(|a, b| b.total_cmp(a));
    // At most `allowed` impostors may reach the threshold: just above the next one.
    let allowed = (fmr * i.len() as f64).floor() as usize;
    let t = if allowed >= i.len() {
        f32::NEG_INFINITY
    } else {
        next_up(i[allowed])
    };
    fnmr_at_threshold(gen, t)
}

/// Share of `gen` below the threshold `t`.
pub fn fnmr_at_threshold(gen: &[f32], t: f32) -> f64 {
    gen.iter().filter(|&&s| s < t).count() as f64 / gen.len().max(1) as f64
}

/// Share of `imp` at or above the threshold `t`.
pub fn fmr_at_threshold(imp: &[f32], t: f32) -> f64 {
    imp.iter().filter(|&&s| s >= t).count() as f64 / imp.len().max(1) as f64
}

/// The smallest f32 above `x` (finite `x`).
fn next_up(x: f32) -> f32 {
    if x.is_nan() || x == f32::INFINITY {
        return x;
    }
    if x == 0.0 {
        return f32::from_bits(1);
    }
    let b = x.to_bits();
    f32::from_bits(if x > 0.0 { b + 1 } else { b - 1 })
}

/// Genuine and impostor scores of `t` (sorted by name) from a score matrix, by the README protocol
/// (every unordered pair once, the first-sorting stem as the probe).
pub fn split(t: &[Named], m: &[Vec<f32>]) -> (Vec<f32>, Vec<f32>) {
    let mut gen = Vec::new();
    let mut imp = Vec::new();
    for i in 0..t.len() {
        for j in i + 1..t.len() {
            if finger_of(&t[i].name) == finger_of(&t[j].name) {
                gen.push(m[i][j]);
            } else {
                imp.push(m[i][j]);
            }
        }
    }
    (gen, imp)
}

/// Genuine and impostor scores of a reference matcher read from a TSV of `db`, `probe`, `gallery`,
/// `score` lines (a header line first, e.g. NBIS bozorth3's scores of the test data), for the rows
/// whose `db` is `db`, by the README protocol (probe sorts before gallery). Errors name the line.
pub fn reference_scores(tsv: &str, db: &str) -> Result<(Vec<f32>, Vec<f32>)> {
    let mut gen = Vec::new();
    let mut imp = Vec::new();
    for (n, line) in tsv.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 4 {
            return Err(Error::Invalid(format!(
                "reference scores line {}: {} fields, expected 4 (db, probe, gallery, score)",
                n + 1,
                f.len()
            )));
        }
        if f[0] != db || f[1] >= f[2] {
            continue;
        }
        let s: f32 = f[3].parse().map_err(|_| {
            Error::Invalid(format!(
                "reference scores line {}: score {:?} is not a number",
                n + 1,
                f[3]
            ))
        })?;
        if finger_of(f[1]) == finger_of(f[2]) {
            gen.push(s);
        } else {
            imp.push(s);
        }
    }
    Ok((gen, imp))
}
