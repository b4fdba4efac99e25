//! Fingerprint evaluation commands: `finger eval` (with a DET plot beside a reference matcher's),
//! `finger crossval` (leave-one-set-out cross-validation) and `finger distort` (seeded distorted
//! and partial variants of a directory of records).

use crate::finger_cmds::{check_dir, frac, pct};
use crate::out::{count, CmdResult, Fail, Report, Text};
use clap::Args;
use edgeid::finger::calibration::threshold_for_fmr;
use edgeid::finger::crossval::{self, CrossVal};
use edgeid::finger::det::{self, Curve};
use edgeid::finger::distort::{self, Condition};
use edgeid::finger::eval;
use edgeid::finger::synth::{to_record, Rng};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct EvalArgs {
    /// Directory of minutiae records (every regular file is read; format detected, strict).
    dir: PathBuf,
    /// Write the DET curve (FNMR against FMR, log axes) to this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Reference scores to draw and report beside edgeid's (TSV: db, probe, gallery, score; e.g.
    /// bozorth3_scores.tsv). Default: `bozorth3_scores.tsv` two levels above DIR, when present.
    #[arg(long, value_name = "TSV")]
    reference: Option<PathBuf>,
    /// The reference's `db` column for DIR. Default: the names of DIR's grandparent and parent
    /// (`fvc2002/DB1_B` for `.../fvc2002/DB1_B/mindtct`).
    #[arg(long, value_name = "NAME")]
    reference_db: Option<String>,
}

/// `finger eval`. Rates are fractions, null when they cannot be computed.
#[derive(Serialize)]
pub struct Evaluated {
    dir: PathBuf,
    templates: usize,
    genuine: usize,
    impostor: usize,
    eer: Option<f64>,
    fnmr_at_fmr_1pct: Option<f64>,
    fnmr_at_fmr_0: Option<f64>,
    /// FNMR at the built-in calibration's FMR 1e-3 threshold (fitted on the committed test data's
    /// impostors, see `calibration`).
    fnmr_at_calibrated_1e3: Option<f64>,
    /// FNMR at the built-in calibration's FMR 1e-4 threshold.
    fnmr_at_calibrated_1e4: Option<f64>,
    rank1: usize,
    rank1_rate: f64,
    reference: Option<ReferenceFigures>,
    plot: Option<PathBuf>,
}

/// The reference matcher's figures on the same pairs.
#[derive(Serialize)]
pub struct ReferenceFigures {
    file: PathBuf,
    db: String,
    genuine: usize,
    impostor: usize,
    eer: Option<f64>,
    fnmr_at_fmr_1pct: Option<f64>,
    fnmr_at_fmr_0: Option<f64>,
}

impl Report for Evaluated {
    fn text(&self, t: &mut Text) {
        let pct = |x: Option<f64>| pct(x.unwrap_or(f64::NAN));
        t.line(format_args!(
            "{}: {}, {} genuine and {} impostor pairs (each unordered pair once)",
            self.dir.display(),
            count(self.templates, "template"),
            self.genuine,
            self.impostor
        ));
        let r = self.reference.as_ref();
        let rp = |f: fn(&ReferenceFigures) -> Option<f64>| r.map_or(String::new(), |r| pct(f(r)));
        if let Some(r) = r {
            t.line(format_args!(
                "                {:>8}  {:>8}  ({} {}, same pairs)",
                "edgeid",
                "ref",
                r.file.display(),
                r.db
            ));
        }
        t.line(format_args!(
            "  EER           {:>8}  {:>8}",
            pct(self.eer),
            rp(|r| r.eer)
        ));
        t.line(format_args!(
            "  FNMR@FMR1%    {:>8}  {:>8}",
            pct(self.fnmr_at_fmr_1pct),
            rp(|r| r.fnmr_at_fmr_1pct)
        ));
        t.line(format_args!(
            "  FNMR@FMR0     {:>8}  {:>8}",
            pct(self.fnmr_at_fmr_0),
            rp(|r| r.fnmr_at_fmr_0)
        ));
        t.line(format_args!(
            "  FNMR at the calibrated FMR 1e-3 threshold {:>8}, 1e-4 {:>8}",
            pct(self.fnmr_at_calibrated_1e3),
            pct(self.fnmr_at_calibrated_1e4)
        ));
        t.line(format_args!(
            "  rank-1        {:>8}",
            format!("{}/{}", self.rank1, self.templates)
        ));
        if let Some(p) = &self.plot {
            t.line(format_args!("  DET curve written to {}", p.display()));
        }
        if self.genuine == 0 || self.impostor == 0 {
            t.line(
                "  (error rates need both genuine and impostor pairs: names are FINGER_IMPRESSION)",
            );
        }
    }
}

fn name_of(p: &Path) -> Option<String> {
    p.file_name().map(|s| s.to_string_lossy().into_owned())
}

pub fn eval_cmd(a: &EvalArgs) -> CmdResult<Evaluated> {
    check_dir(&a.dir)?;
    let abs = a.dir.canonicalize().unwrap_or_else(|_| a.dir.clone());
    let parent = abs.parent();
    let grand = parent.and_then(Path::parent);
    let (ref_file, explicit) = match &a.reference {
        Some(f) => (Some(f.clone()), true),
        None => (
            grand
                .map(|g| g.join("bozorth3_scores.tsv"))
                .filter(|f| f.is_file()),
            false,
        ),
    };
    let db = a.reference_db.clone().or_else(|| {
        let g = grand.and_then(name_of)?;
        let p = parent.and_then(name_of)?;
        Some(format!("{g}/{p}"))
    });
    let r = eval::eval(&a.dir)?;
    let mut reference = None;
    if let (Some(file), Some(db)) = (ref_file, db) {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| Fail::new(format!("read {}: {e}", file.display())))?;
        let (g, i) = eval::reference_scores(&text, &db)?;
        if g.is_empty() || i.is_empty() {
            if explicit {
                return Err(Fail::new(format!(
                    "{}: no genuine or no impostor pairs for db {db:?}",
                    file.display()
                )));
            }
        } else {
            let (eer, f1, f0) = eval::rates(&g, &i);
            reference = Some((
                ReferenceFigures {
                    file,
                    db,
                    genuine: g.len(),
                    impostor: i.len(),
                    eer: frac(eer),
                    fnmr_at_fmr_1pct: frac(f1),
                    fnmr_at_fmr_0: frac(f0),
                },
                g,
                i,
            ));
        }
    }
    if let Some(plot) = &a.plot {
        let mut curves = vec![Curve {
            label: format!("edgeid (EER {})", pct(r.eer)),
            genuine: r.genuine_scores.clone(),
            impostor: r.impostor_scores.clone(),
        }];
        if let Some((rf, g, i)) = &reference {
            curves.push(Curve {
                label: format!("bozorth3 (EER {})", pct(rf.eer.unwrap_or(f64::NAN))),
                genuine: g.clone(),
                impostor: i.clone(),
            });
        }
        let title = format!(
            "DET: {} ({} genuine, {} impostor pairs)",
            name_of(&abs).map_or_else(
                || a.dir.display().to_string(),
                |n| match parent.and_then(name_of) {
                    Some(p) => format!("{p}/{n}"),
                    None => n,
                }
            ),
            r.genuine,
            r.impostor
        );
        std::fs::write(plot, det::svg(&title, &curves))
            .map_err(|e| Fail::new(format!("write {}: {e}", plot.display())))?;
    }
    let cal = |f: f64| {
        frac(eval::fnmr_at_threshold(
            &r.genuine_scores,
            threshold_for_fmr(f),
        ))
        .filter(|_| r.genuine > 0)
    };
    Ok(Evaluated {
        dir: a.dir.clone(),
        templates: r.templates,
        genuine: r.genuine,
        impostor: r.impostor,
        eer: frac(r.eer),
        fnmr_at_fmr_1pct: frac(r.fnmr_at_fmr_1pct),
        fnmr_at_fmr_0: frac(r.fnmr_at_fmr_0),
        fnmr_at_calibrated_1e3: cal(1e-3),
        fnmr_at_calibrated_1e4: cal(1e-4),
        rank1: r.rank1,
        rank1_rate: r.rank1 as f64 / r.templates as f64,
        reference: reference.map(|r| r.0),
        plot: a.plot.clone(),
    })
}

#[derive(Args)]
pub struct CrossvalArgs {
    /// Root of the sets: every ROOT/<db>/<extractor> directory is one set (e.g.
    /// testdata/fingerprint/fvc2002).
    root: PathBuf,
    /// Reference scores on the same pairs (TSV: db, probe, gallery, score), one file or more.
    /// Default: ROOT/bozorth3_scores.tsv and ROOT/bozorth3_nbis-py_scores.tsv, those present.
    #[arg(long, value_name = "TSV")]
    reference: Vec<PathBuf>,
    /// The extractor whose sets the reference rows named by database alone belong to.
    #[arg(long, default_value = "mindtct")]
    reference_extractor: String,
    /// Seed of the distorted conditions.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Keep only the first N templates of each set (a cheap run; no reference figures).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Skip the distorted conditions.
    #[arg(long)]
    no_conditions: bool,
    /// Only these of the candidates (indices into the full list, comma-separated; a narrower,
    /// cheaper run). Default: all.
    #[arg(long, value_delimiter = ',', value_name = "I,J,...")]
    candidates: Vec<usize>,
}

/// `finger crossval`.
#[derive(Serialize)]
pub struct CrossvalReport {
    root: PathBuf,
    seed: u64,
    candidates: Vec<String>,
    folds: Vec<FoldRow>,
    mean_eer: f64,
    worst_eer: f64,
    chosen_on_all_sets: usize,
    /// EER of every set (in fold order) under every candidate.
    candidate_eers: Vec<Vec<f64>>,
    pooled_thresholds: Vec<PooledRow>,
}

#[derive(Serialize)]
pub struct FoldRow {
    set: String,
    chosen: usize,
    eer: f64,
    eer_candidate0: f64,
    fnmr_at_fmr_1pct: f64,
    train_impostors: usize,
    threshold_1e3: f32,
    fnmr_1e3: f64,
    fmr_1e3: f64,
    threshold_1e4: f32,
    fnmr_1e4: f64,
    fmr_1e4: f64,
    rank1: usize,
    templates: usize,
    reference_eer: Option<f64>,
    reference_fnmr_at_fmr_1pct: Option<f64>,
    conditions: Vec<ConditionRow>,
}

#[derive(Serialize)]
pub struct ConditionRow {
    condition: &'static str,
    eer: f64,
    fnmr_1e3: f64,
    rank1: usize,
}

#[derive(Serialize)]
pub struct PooledRow {
    fmr: f64,
    threshold: f32,
    impostor_pairs: usize,
    at_or_above: usize,
}

impl Report for CrossvalReport {
    fn text(&self, t: &mut Text) {
        t.line(format_args!(
            "leave-one-set-out over {} sets of {} (seed {}); candidates:",
            self.folds.len(),
            self.root.display(),
            self.seed
        ));
        for (i, c) in self.candidates.iter().enumerate() {
            t.line(format_args!("  [{i}] {c}"));
        }
        t.line("| held-out set | chosen | EER | EER cand. 0 | bozorth3 EER | FNMR@FMR1% | FNMR@1e-3 (FMR reached) | FNMR@1e-4 (FMR reached) | rank-1 |");
        t.line("|---|---|---|---|---|---|---|---|---|");
        let p = |x: f64| format!("{:.2} %", x * 100.0);
        for f in &self.folds {
            t.line(format_args!(
                "| {} | {} | {} | {} | {} | {} | {} ({}) | {} ({}) | {}/{} |",
                f.set,
                f.chosen,
                p(f.eer),
                p(f.eer_candidate0),
                f.reference_eer.map_or("–".into(), p),
                p(f.fnmr_at_fmr_1pct),
                p(f.fnmr_1e3),
                p(f.fmr_1e3),
                p(f.fnmr_1e4),
                p(f.fmr_1e4),
                f.rank1,
                f.templates
            ));
        }
        t.line(format_args!(
            "mean EER {}, worst {}; thresholds of each fold fitted on the other sets' {} impostor pairs",
            p(self.mean_eer),
            p(self.worst_eer),
            self.folds.first().map_or(0, |f| f.train_impostors)
        ));
        if self.folds.iter().any(|f| !f.conditions.is_empty()) {
            t.line("distorted conditions (held-out probes distorted, gallery as captured): EER / FNMR at the fold's 1e-3 threshold / rank-1");
            for f in &self.folds {
                let cells: Vec<String> = f
                    .conditions
                    .iter()
                    .map(|c| {
                        format!(
                            "{} {} / {} / {}",
                            c.condition,
                            p(c.eer),
                            p(c.fnmr_1e3),
                            c.rank1
                        )
                    })
                    .collect();
                t.line(format_args!("  {}: {}", f.set, cells.join(", ")));
            }
        }
        for c in 0..self.candidates.len() {
            let e: Vec<f64> = self.candidate_eers.iter().map(|r| r[c]).collect();
            let cells: Vec<String> = e.iter().map(|&x| format!("{:.2}", x * 100.0)).collect();
            t.line(format_args!(
                "candidate {c} on every set (EER %): {}; mean {:.2}, worst {:.2}",
                cells.join(" "),
                e.iter().sum::<f64>() / e.len().max(1) as f64 * 100.0,
                e.iter().cloned().fold(f64::MIN, f64::max) * 100.0
            ));
        }
        t.line(format_args!(
            "chosen on all sets: candidate {}; its thresholds from all sets' impostors:",
            self.chosen_on_all_sets
        ));
        for r in &self.pooled_thresholds {
            t.line(format_args!(
                "  FMR {:e}: threshold {:.6} ({} impostor pairs, {} at or above)",
                r.fmr, r.threshold, r.impostor_pairs, r.at_or_above
            ));
        }
    }
}

pub fn crossval_cmd(a: &CrossvalArgs) -> CmdResult<CrossvalReport> {
    check_dir(&a.root)?;
    let files: Vec<PathBuf> = if a.reference.is_empty() {
        ["bozorth3_scores.tsv", "bozorth3_nbis-py_scores.tsv"]
            .iter()
            .map(|f| a.root.join(f))
            .filter(|f| f.is_file())
            .collect()
    } else {
        a.reference.clone()
    };
    // One table: the first file's header, then every file's rows.
    let mut text: Option<String> = None;
    for f in &files {
        let t = std::fs::read_to_string(f)
            .map_err(|e| Fail::new(format!("read {}: {e}", f.display())))?;
        match &mut text {
            None => text = Some(t),
            Some(all) => {
                if !all.ends_with('\n') {
                    all.push('\n');
                }
                all.push_str(t.split_once('\n').map_or("", |(_, rows)| rows));
            }
        }
    }
    let sets = crossval::load_sets(
        &a.root,
        text.as_deref().map(|t| (t, a.reference_extractor.as_str())),
        a.limit,
    )?;
    let conditions: Vec<Condition> = if a.no_conditions {
        Vec::new()
    } else {
        Condition::ALL.to_vec()
    };
    let all = crossval::candidates();
    let picked: Vec<usize> = if a.candidates.is_empty() {
        (0..all.len()).collect()
    } else {
        a.candidates.clone()
    };
    if let Some(&bad) = picked.iter().find(|&&i| i >= all.len()) {
        return Err(Fail::new(format!(
            "--candidates: no candidate {bad} (there are {}: 0..{})",
            all.len(),
            all.len() - 1
        )));
    }
    let chosen: Vec<_> = picked.iter().map(|&i| all[i]).collect();
    let cv: CrossVal = crossval::crossval(&sets, &chosen, &conditions, a.seed);
    Ok(CrossvalReport {
        root: a.root.clone(),
        seed: a.seed,
        candidates: picked
            .iter()
            .zip(&cv.candidates)
            .map(|(i, c)| format!("candidate {i} of the full list: {c:?}"))
            .collect(),
        folds: cv
            .folds
            .iter()
            .map(|f| FoldRow {
                set: f.set.clone(),
                chosen: f.chosen,
                eer: f.scored.eer,
                eer_candidate0: f.eer_candidate0,
                fnmr_at_fmr_1pct: f.scored.fnmr_1pct,
                train_impostors: f.train_impostors,
                threshold_1e3: f.at[0].threshold,
                fnmr_1e3: f.at[0].fnmr,
                fmr_1e3: f.at[0].fmr,
                threshold_1e4: f.at[1].threshold,
                fnmr_1e4: f.at[1].fnmr,
                fmr_1e4: f.at[1].fmr,
                rank1: f.scored.rank1,
                templates: f.templates,
                reference_eer: f.reference.map(|r| r.0),
                reference_fnmr_at_fmr_1pct: f.reference.map(|r| r.1),
                conditions: f
                    .conditions
                    .iter()
                    .map(|c| ConditionRow {
                        condition: c.condition.name(),
                        eer: c.eer,
                        fnmr_1e3: c.fnmr_1e3,
                        rank1: c.rank1,
                    })
                    .collect(),
            })
            .collect(),
        mean_eer: cv.mean_eer,
        worst_eer: cv.worst_eer,
        chosen_on_all_sets: cv.chosen_all,
        candidate_eers: cv.candidate_eers.clone(),
        pooled_thresholds: cv
            .pooled
            .iter()
            .map(|&(fmr, threshold, n, above)| PooledRow {
                fmr,
                threshold,
                impostor_pairs: n,
                at_or_above: above,
            })
            .collect(),
    })
}

#[derive(Args)]
pub struct DistortArgs {
    /// Directory of minutiae records.
    dir: PathBuf,
    /// Directory the variants are written to (created; existing files of the same names are
    /// replaced). One ISO/IEC 19794-2:2005 record per input, same stem, `.iso`.
    out: PathBuf,
    /// elastic, crop, drop-add or rotate.
    #[arg(long, value_parser = parse_condition)]
    condition: Condition,
    /// Seed (each record's variant is drawn from the seed, the condition and its name).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn parse_condition(s: &str) -> Result<Condition, String> {
    Condition::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Condition::ALL.iter().map(|c| c.name()).collect();
        format!("unknown condition {s:?}: one of {}", names.join(", "))
    })
}

/// `finger distort`.
#[derive(Serialize)]
pub struct Distorted {
    out: PathBuf,
    condition: &'static str,
    seed: u64,
    records: usize,
}

impl Report for Distorted {
    fn text(&self, t: &mut Text) {
        t.line(format_args!(
            "{} ({}, seed {}) written to {}",
            count(self.records, "record"),
            self.condition,
            self.seed,
            self.out.display()
        ));
    }
}

pub fn distort_cmd(a: &DistortArgs) -> CmdResult<Distorted> {
    check_dir(&a.dir)?;
    // Everything is read and checked before anything is written.
    let set = eval::load_dir(&a.dir)?;
    std::fs::create_dir_all(&a.out)
        .map_err(|e| Fail::new(format!("create {}: {e}", a.out.display())))?;
    for t in &set {
        let mut rng = Rng::new(distort::seed_for(a.seed, &t.name, a.condition));
        let pts = distort::apply(t.template.as_ref().points(), a.condition, &mut rng);
        let path = a.out.join(format!("{}.iso", t.name));
        std::fs::write(&path, to_record(&pts))
            .map_err(|e| Fail::new(format!("write {}: {e}", path.display())))?;
    }
    Ok(Distorted {
        out: a.out.clone(),
        condition: a.condition.name(),
        seed: a.seed,
        records: set.len(),
    })
}
