//! Leave-one-set-out cross-validation of the matcher's consolidation parameters and of the score
//! calibration, so the figures reported for a set were never used to choose anything.
//!
//! Sets: every `<db>/<extractor>` directory under a root (for the committed data, four FVC2002
//! databases × two extractors = eight sets). For each fold one set is held out: among the candidate
//! [`Params`], the one with the lowest mean EER over the other sets is chosen, and the FMR
//! thresholds (1e-3, 1e-4) are fitted on the other sets' impostor scores
//! ([`Calibration`], stating how many); the held-out set is then scored with them: EER, FNMR at
//! FMR 1 %, FNMR and the FMR actually reached at the transferred thresholds, rank-1, and the same
//! under each distorted condition ([`distort`](super::distort): held-out probes distorted, gallery
//! as captured). The mean and the worst fold are reported, never the best.
//!
//! Pairs follow `testdata/fingerprint/README.md` ("all pairs": every unordered pair once).

use std::path::Path;

use super::calibration::Calibration;
use super::distort::{distort_set, Condition};
use super::eval::{
    finger_of, fmr_at_threshold, fnmr_at_threshold, load_dir, rates, reference_scores,
    score_matrix_cross, split, Named,
};
use super::mcc::Params;
use crate::error::{Error, Result};

/// One set of templates, with a reference matcher's scores on the same pairs when known.
#[derive(Debug, Clone)]
pub struct Set {
    /// `<db>/<extractor>`.
    pub name: String,
    /// The templates, sorted by name.
    pub templates: Vec<Named>,
    /// The reference matcher's (genuine, impostor) scores on the same pairs.
    pub reference: Option<(Vec<f32>, Vec<f32>)>,
}

/// Loads every `<db>/<extractor>` set under `root` (sorted). When `reference` is given as (TSV
/// text, extractor), its scores are attached to the sets they name: db column `<root name>/<db>`
/// for that extractor's sets, `<root name>/<db>/<extractor>` for any set. `limit` keeps the first templates of each set (by name) for a cheap run.
pub fn load_sets(
    root: &Path,
    reference: Option<(&str, &str)>,
    limit: Option<usize>,
) -> Result<Vec<Set>> {
    let root_name = root
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut sets = Vec::new();
    for db in sorted_dirs(root)? {
        for ex in sorted_dirs(&db)? {
            let db_name = db
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let ex_name = ex
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let mut templates = load_dir(&ex)?;
            if let Some(n) = limit {
                templates.truncate(n);
            }
            let reference = match reference {
                Some((tsv, e)) if limit.is_none() => {
                    // Rows named by the database alone belong to extractor `e`; rows named by
                    // database and extractor to that set. The first kind wins where both exist.
                    let mut r = (Vec::new(), Vec::new());
                    if e == ex_name {
                        r = reference_scores(tsv, &format!("{root_name}/{db_name}"))?;
                    }
                    if r.0.is_empty() {
                        r = reference_scores(tsv, &format!("{root_name}/{db_name}/{ex_name}"))?;
                    }
                    (!r.0.is_empty()).then_some(r)
                }
                _ => None,
            };
            sets.push(Set {
                name: format!("{db_name}/{ex_name}"),
                templates,
                reference,
            });
        }
    }
    if sets.len() < 2 {
        return Err(Error::Invalid(format!(
            "{}: {} set(s) of <db>/<extractor> directories; cross-validation needs at least 2",
            root.display(),
            sets.len()
        )));
    }
    Ok(sets)
}

fn sorted_dirs(p: &Path) -> Result<Vec<std::path::PathBuf>> {
    let rd = std::fs::read_dir(p).map_err(|e| Error::io("read directory", p, e))?;
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(|e| Error::io("read directory", p, e))?;
        if e.path().is_dir() {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}

/// The candidate parameters the folds choose among: the LSS-R score alone (index 0, the matcher
/// as it ships), its fusion with the global score at a few weights and tolerances (1..=5), the
/// distortion-tolerant compatibility (6, 13, 14) and with the fusion (7), n_P over the overlap at
/// a few μ and margins (8..=12, 22, 23), the relaxation's support over the overlap (15, 16), a
/// larger n_P ceiling (17..=20), low-quality minutiae left out (24..=27), ranking by relaxed λ
/// (28, 29). Indices are stable: new candidates are appended.
pub fn candidates() -> Vec<Params> {
    let d = Params::DEFAULT;
    let fused = |fusion, tol_slope| Params {
        fusion,
        tol_slope,
        ..d
    };
    vec![
        Params { fusion: 0.0, ..d },
        fused(0.25, 0.05),
        fused(0.25, 0.15),
        fused(0.5, 0.05),
        fused(0.5, 0.15),
        fused(0.1, 0.1),
        Params {
            rho1_growth: 0.25,
            ..d
        },
        Params {
            rho1_growth: 0.25,
            ..fused(0.25, 0.15)
        },
        // n_P over the minutiae in the overlap, at a few μ (8..12).
        Params {
            np_overlap_mu: 12.0,
            ..d
        },
        Params {
            np_overlap_mu: 16.0,
            ..d
        },
        Params {
            np_overlap_mu: 20.0,
            ..d
        },
        Params {
            np_overlap_mu: 25.0,
            ..d
        },
        Params {
            np_overlap_mu: 16.0,
            margin: 30.0,
            ..d
        },
        // Distortion-tolerant ρ1 at other strengths (13, 14).
        Params {
            rho1_growth: 0.1,
            ..d
        },
        Params {
            rho1_growth: 0.5,
            ..d
        },
        // The relaxation's support divided by the overlap (15), and with n_P over it (16).
        Params {
            relax_overlap: true,
            ..d
        },
        Params {
            relax_overlap: true,
            np_overlap_mu: 16.0,
            ..d
        },
        // A larger n_P ceiling (17, 18), with n_P over the overlap (19, 20); n_P over the overlap
        // with the distortion-tolerant ρ1 (21); finer μ (22, 23).
        Params { max_np: 14, ..d },
        Params { max_np: 16, ..d },
        Params {
            max_np: 14,
            np_overlap_mu: 16.0,
            ..d
        },
        Params {
            max_np: 16,
            np_overlap_mu: 16.0,
            ..d
        },
        Params {
            rho1_growth: 0.25,
            np_overlap_mu: 16.0,
            ..d
        },
        Params {
            np_overlap_mu: 14.0,
            ..d
        },
        Params {
            np_overlap_mu: 18.0,
            ..d
        },
        // Low-quality minutiae left out of the consolidation (24..26), with n_P over the overlap
        // (27).
        Params {
            min_quality: 10,
            ..d
        },
        Params {
            min_quality: 15,
            ..d
        },
        Params {
            min_quality: 25,
            ..d
        },
        Params {
            min_quality: 15,
            np_overlap_mu: 16.0,
            ..d
        },
        // The pairs of highest relaxed λ scored instead of the most efficient (28), with n_P over
        // the overlap (29).
        Params {
            rank_relaxed: true,
            ..d
        },
        Params {
            rank_relaxed: true,
            np_overlap_mu: 16.0,
            ..d
        },
    ]
}

/// Figures of one set under one parameter choice.
#[derive(Debug, Clone)]
pub struct Scored {
    /// Genuine scores.
    pub genuine: Vec<f32>,
    /// Impostor scores.
    pub impostor: Vec<f32>,
    /// EER (fraction).
    pub eer: f64,
    /// FNMR at FMR ≤ 1 %.
    pub fnmr_1pct: f64,
    /// Rank-1 hits.
    pub rank1: usize,
}

fn scored(probes: &[Named], gallery: &[Named], p: &Params) -> Scored {
    let m = score_matrix_cross(probes, gallery, p);
    let (genuine, impostor) = split(gallery, &m);
    let (eer, fnmr_1pct, _) = rates(&genuine, &impostor);
    let mut rank1 = 0;
    for i in 0..probes.len() {
        let fi = finger_of(&probes[i].name);
        let (mut mate, mut other) = (f32::NEG_INFINITY, f32::NEG_INFINITY);
        for (j, g) in gallery.iter().enumerate() {
            if i == j {
                continue;
            }
            if finger_of(&g.name) == fi {
                mate = mate.max(m[i][j]);
            } else {
                other = other.max(m[i][j]);
            }
        }
        rank1 += usize::from(mate > other);
    }
    Scored {
        genuine,
        impostor,
        eer,
        fnmr_1pct,
        rank1,
    }
}

/// A held-out set's figures at a transferred threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AtThreshold {
    /// Target FMR.
    pub target: f64,
    /// Threshold fitted on the training sets' impostors.
    pub threshold: f32,
    /// FNMR on the held-out set.
    pub fnmr: f64,
    /// FMR reached on the held-out set's impostors.
    pub fmr: f64,
}

/// One distorted condition of a fold.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionFigures {
    /// The condition.
    pub condition: Condition,
    /// EER.
    pub eer: f64,
    /// FNMR at the fold's transferred FMR 1e-3 threshold.
    pub fnmr_1e3: f64,
    /// Rank-1 hits.
    pub rank1: usize,
}

/// One fold: a held-out set and its figures.
#[derive(Debug, Clone)]
pub struct Fold {
    /// The held-out set.
    pub set: String,
    /// Templates in it.
    pub templates: usize,
    /// Index of the chosen candidate.
    pub chosen: usize,
    /// The chosen parameters.
    pub params: Params,
    /// The held-out set's figures with them.
    pub scored: Scored,
    /// EER with candidate 0 (the LSS-R score alone), for comparison.
    pub eer_candidate0: f64,
    /// Impostor pairs of the training sets behind the thresholds.
    pub train_impostors: usize,
    /// At the FMR 1e-3 and 1e-4 thresholds fitted on the training sets.
    pub at: [AtThreshold; 2],
    /// The reference matcher's (EER, FNMR at FMR ≤ 1 %) on the same pairs, when known.
    pub reference: Option<(f64, f64)>,
    /// Distorted conditions.
    pub conditions: Vec<ConditionFigures>,
}

/// What the cross-validation reports.
#[derive(Debug, Clone)]
pub struct CrossVal {
    /// The candidates.
    pub candidates: Vec<Params>,
    /// One fold per set.
    pub folds: Vec<Fold>,
    /// Mean EER over the folds.
    pub mean_eer: f64,
    /// Worst fold's EER.
    pub worst_eer: f64,
    /// EER of every set (rows, in set order) under every candidate (columns).
    pub candidate_eers: Vec<Vec<f64>>,
    /// The candidate chosen on all sets (what would ship).
    pub chosen_all: usize,
    /// Thresholds fitted on every set's impostors with the candidate chosen on all sets:
    /// (FMR, threshold, impostor pairs behind it, impostor pairs at or above it).
    pub pooled: Vec<(f64, f32, usize, usize)>,
}

/// Runs the cross-validation of `candidates` over `sets`, distorted conditions drawn with `seed`.
pub fn crossval(
    sets: &[Set],
    candidates: &[Params],
    conditions: &[Condition],
    seed: u64,
) -> CrossVal {
    // Every set under every candidate, once.
    let table: Vec<Vec<Scored>> = sets
        .iter()
        .map(|s| {
            candidates
                .iter()
                .map(|p| scored(&s.templates, &s.templates, p))
                .collect()
        })
        .collect();
    let choose = |skip: Option<usize>| {
        let mut best = (f64::INFINITY, 0);
        for c in 0..candidates.len() {
            let (mut sum, mut n) = (0.0, 0);
            for (si, row) in table.iter().enumerate() {
                if Some(si) != skip {
                    sum += row[c].eer;
                    n += 1;
                }
            }
            let mean = sum / f64::from(n.max(1));
            if mean < best.0 {
                best = (mean, c);
            }
        }
        best.1
    };
    let mut folds = Vec::new();
    for (h, set) in sets.iter().enumerate() {
        let c = choose(Some(h));
        let train: Vec<f32> = table
            .iter()
            .enumerate()
            .filter(|&(si, _)| si != h)
            .flat_map(|(_, row)| row[c].impostor.iter().copied())
            .collect();
        let s = table[h][c].clone();
        let cal = Calibration::fit(&train);
        let at = [1e-3, 1e-4].map(|f| {
            let threshold = cal.as_ref().map_or(f32::INFINITY, |k| k.threshold(f));
            AtThreshold {
                target: f,
                threshold,
                fnmr: fnmr_at_threshold(&s.genuine, threshold),
                fmr: fmr_at_threshold(&s.impostor, threshold),
            }
        });
        let reference = set.reference.as_ref().map(|(g, i)| {
            let (eer, f1, _) = rates(g, i);
            (eer, f1)
        });
        let conditions = conditions
            .iter()
            .map(|&cond| {
                let probes = distort_set(&set.templates, cond, seed);
                let d = scored(&probes, &set.templates, &candidates[c]);
                ConditionFigures {
                    condition: cond,
                    eer: d.eer,
                    fnmr_1e3: fnmr_at_threshold(&d.genuine, at[0].threshold),
                    rank1: d.rank1,
                }
            })
            .collect();
        folds.push(Fold {
            set: set.name.clone(),
            templates: set.templates.len(),
            chosen: c,
            params: candidates[c],
            eer_candidate0: table[h][0].eer,
            scored: s,
            train_impostors: train.len(),
            at,
            reference,
            conditions,
        });
    }
    let chosen_all = choose(None);
    let all: Vec<f32> = table
        .iter()
        .flat_map(|row| row[chosen_all].impostor.iter().copied())
        .collect();
    let pooled = Calibration::fit(&all)
        .map(|k| {
            [1e-2, 1e-3, 1e-4]
                .iter()
                .map(|&f| {
                    let t = k.threshold(f);
                    (f, t, all.len(), all.iter().filter(|&&s| s >= t).count())
                })
                .collect()
        })
        .unwrap_or_default();
    let eers: Vec<f64> = folds.iter().map(|f| f.scored.eer).collect();
    CrossVal {
        candidates: candidates.to_vec(),
        candidate_eers: table
            .iter()
            .map(|row| row.iter().map(|s| s.eer).collect())
            .collect(),
        mean_eer: eers.iter().sum::<f64>() / eers.len().max(1) as f64,
        worst_eer: eers.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
        folds,
        chosen_all,
        pooled,
    }
}
