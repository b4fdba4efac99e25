//! Fingerprint commands that need no store: compare two minutiae records, score or evaluate a
//! directory of them, and show what a record holds.
//!
//! Records are read in any format the library reads (ISO/IEC 19794-2:2005 and 2011, ANSI/INCITS
//! 378-2004 detected from the header; the header-less card formats named with `--format`), strictly
//! unless `--lenient` is given. Only the first finger view of a record is matched.

use crate::out::{count, CmdResult, Fail, Report, Text};
use crate::templates::minutiae;
use clap::Args;
use edgeid::finger::calibration::{fmr_for_threshold, threshold_for_fmr, BUILTIN};
use edgeid::finger::codec::{Format, MinutiaKind, Mode, Record};
use edgeid::finger::{compare, eval, parse_with, FingerTemplate};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// How a record file is read: format (detected unless named) and strictness.
#[derive(Args, Debug, Clone)]
pub struct ReadArgs {
    /// Accept a record whose declared length disagrees with otherwise complete content (or that
    /// has trailing bytes), with a warning, instead of refusing it.
    #[arg(long)]
    lenient: bool,
    /// Read as this format instead of detecting it from the header (needed for the header-less
    /// card formats): iso2005, ansi378, iso2011, card-normal, card-compact.
    #[arg(long, value_name = "NAME", value_parser = parse_format)]
    format: Option<Format>,
}

fn parse_format(s: &str) -> Result<Format, String> {
    Format::from_name(s).ok_or_else(|| {
        let names: Vec<_> = Format::ALL.iter().map(|f| f.name()).collect();
        format!("unknown format {s:?}; one of {}", names.join(", "))
    })
}

impl ReadArgs {
    fn mode(&self) -> Mode {
        if self.lenient {
            Mode::Lenient
        } else {
            Mode::Strict
        }
    }
}

/// The standard's name of a format, for people.
fn long_name(f: Format) -> &'static str {
    match f {
        Format::Iso2005 => "ISO/IEC 19794-2:2005 finger minutiae record",
        Format::Ansi2004 => "ANSI/INCITS 378-2004 finger minutiae record",
        Format::Iso2011 => "ISO/IEC 19794-2:2011 finger minutiae record",
        Format::IsoCardNormal => "ISO/IEC 19794-2 card format, normal size",
        Format::IsoCardCompact => "ISO/IEC 19794-2 card format, compact size",
    }
}

/// Reads and parses a record file. A strict refusal that lenient parsing would accept says so.
pub fn read_record(path: &Path, r: &ReadArgs) -> Result<(Record, usize), Fail> {
    let bytes =
        std::fs::read(path).map_err(|e| Fail::new(format!("read {}: {e}", path.display())))?;
    match parse_with(&bytes, r.format, r.mode()) {
        Ok(rec) => Ok((rec, bytes.len())),
        Err(e) => {
            let hint = if !r.lenient && parse_with(&bytes, r.format, Mode::Lenient).is_ok() {
                " (--lenient accepts it with a warning)"
            } else {
                ""
            };
            Err(Fail::new(format!("{}: {e}{hint}", path.display())))
        }
    }
}

/// Reads a record and prepares its first view for matching.
fn read_template(path: &Path, r: &ReadArgs) -> Result<FingerTemplate, Fail> {
    let (rec, _) = read_record(path, r)?;
    FingerTemplate::from_record(&rec, 0).map_err(|e| Fail::new(format!("{}: {e}", path.display())))
}

/// "1e-4" for the built-in table's FMRs.
pub fn fmr_label(f: f64) -> String {
    let e = f.log10();
    if (e - e.round()).abs() < 1e-9 {
        format!("1e{}", e.round() as i32)
    } else {
        format!("{f:.1e}")
    }
}

#[derive(Args)]
pub struct CompareArgs {
    /// First record (the probe).
    a: PathBuf,
    /// Second record (the reference).
    b: PathBuf,
    /// False-match rate at which to decide match / no match (built-in calibration,
    /// 1e-6..=1e-1).
    #[arg(long, default_value_t = 1e-4, value_parser = parse_fmr)]
    fmr: f64,
    #[command(flatten)]
    read: ReadArgs,
}

pub fn parse_fmr(s: &str) -> Result<f64, String> {
    let f: f64 = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
    let (lo, hi) = (BUILTIN[BUILTIN.len() - 1].0, BUILTIN[0].0);
    if !(lo..=hi).contains(&f) {
        return Err(format!(
            "{f} is outside the calibrated range {}..={}",
            fmr_label(lo),
            fmr_label(hi)
        ));
    }
    Ok(f)
}

/// `finger compare`.
#[derive(Serialize)]
pub struct Compared {
    a: PathBuf,
    b: PathBuf,
    score: f32,
    /// False-match rate of a threshold set at this score (clamped to the calibrated range).
    fmr: f64,
    fmr_target: f64,
    threshold: f32,
    #[serde(rename = "match")]
    matched: bool,
}

impl Report for Compared {
    fn text(&self, t: &mut Text) {
        let (lo, hi) = (BUILTIN[BUILTIN.len() - 1].0, BUILTIN[0].0);
        let estimate = if self.score >= BUILTIN[BUILTIN.len() - 1].1 {
            format!("<= {}", fmr_label(lo))
        } else if self.score <= BUILTIN[0].1 {
            format!(">= {}", fmr_label(hi))
        } else {
            format!("{:.1e}", self.fmr)
        };
        t.line(format_args!(
            "{:.4} — {} at FMR {} (threshold {:.4}); impostors score this high at a rate {estimate}",
            self.score,
            if self.matched { "match" } else { "no match" },
            fmr_label(self.fmr_target),
            self.threshold
        ));
    }
}

pub fn compare_cmd(a: &CompareArgs) -> CmdResult<Compared> {
    let ta = read_template(&a.a, &a.read)?;
    let tb = read_template(&a.b, &a.read)?;
    let score = compare(&ta.as_ref(), &tb.as_ref());
    let threshold = threshold_for_fmr(a.fmr);
    Ok(Compared {
        a: a.a.clone(),
        b: a.b.clone(),
        score,
        fmr: fmr_for_threshold(score),
        fmr_target: a.fmr,
        threshold,
        matched: score >= threshold,
    })
}

#[derive(Args)]
pub struct DirArgs {
    /// Directory of minutiae records (every regular file is read; format detected, strict).
    dir: PathBuf,
}

pub fn check_dir(dir: &Path) -> Result<(), Fail> {
    if !dir.is_dir() {
        return Err(Fail::new(format!("{} is not a directory", dir.display())));
    }
    Ok(())
}

/// One ordered pair of `finger scores`.
#[derive(Serialize)]
pub struct Pair {
    probe: String,
    gallery: String,
    score: f32,
}

/// `finger scores`: as text, `probe<TAB>gallery<TAB>score` lines only.
#[derive(Serialize)]
pub struct Scores {
    dir: PathBuf,
    templates: usize,
    pairs: usize,
    scores: Vec<Pair>,
}

impl Report for Scores {
    fn text(&self, t: &mut Text) {
        for r in &self.scores {
            t.line(format_args!("{}\t{}\t{:.6}", r.probe, r.gallery, r.score));
        }
    }
}

pub fn scores(a: &DirArgs) -> CmdResult<Scores> {
    check_dir(&a.dir)?;
    // Every ordered pair (probe, gallery) of different templates, scored on all cores.
    let rows = eval::scores(&a.dir)?;
    if rows.is_empty() {
        return Err(Fail::new(format!(
            "{} holds fewer than 2 template files: no pairs to score",
            a.dir.display()
        )));
    }
    let templates = {
        let mut names: Vec<&str> = rows.iter().map(|r| r.probe.as_str()).collect();
        names.dedup();
        names.len()
    };
    Ok(Scores {
        dir: a.dir.clone(),
        templates,
        pairs: rows.len(),
        scores: rows
            .into_iter()
            .map(|r| Pair {
                probe: r.probe,
                gallery: r.gallery,
                score: r.score,
            })
            .collect(),
    })
}

pub fn pct(x: f64) -> String {
    if x.is_nan() {
        "n/a".into()
    } else {
        format!("{:.2}%", x * 100.0)
    }
}

/// A fraction for JSON (NaN → null, since JSON has no NaN).
pub fn frac(x: f64) -> Option<f64> {
    (!x.is_nan()).then_some(x)
}

#[derive(Args)]
pub struct InfoArgs {
    /// The record file.
    file: PathBuf,
    #[command(flatten)]
    read: ReadArgs,
}

fn position_name(p: u8) -> &'static str {
    match p {
        0 => "unknown finger",
        1 => "right thumb",
        2 => "right index",
        3 => "right middle",
        4 => "right ring",
        5 => "right little",
        6 => "left thumb",
        7 => "left index",
        8 => "left middle",
        9 => "left ring",
        10 => "left little",
        _ => "finger position code",
    }
}

fn impression_name(i: u8) -> &'static str {
    match i {
        0 => "live-scan plain",
        1 => "live-scan rolled",
        2 => "non-live-scan plain",
        3 => "non-live-scan rolled",
        _ => "impression code",
    }
}

/// One finger view of `finger info`.
#[derive(Serialize)]
pub struct ViewInfo {
    position: u8,
    view_number: u8,
    impression: u8,
    quality: u8,
    width: u16,
    height: u16,
    x_res: u16,
    y_res: u16,
    minutiae: usize,
    ridge_endings: usize,
    bifurcations: usize,
    other: usize,
    extended_bytes: usize,
    extended_blocks: usize,
    /// Minutiae and cylinders of the view prepared for matching (none when it cannot be).
    matcher_minutiae: Option<usize>,
    matcher_cylinders: Option<usize>,
    prepare_error: Option<String>,
}

/// `finger info`: what a record holds.
#[derive(Serialize)]
pub struct Info {
    file: PathBuf,
    format: &'static str,
    detected: bool,
    mode: &'static str,
    bytes: usize,
    views: Vec<ViewInfo>,
    warnings: Vec<String>,
    /// ANSI/INCITS 378 header fields (text only).
    #[serde(skip)]
    ansi: Option<(u32, u16)>,
    /// Card formats: the coordinate unit in micrometres (text only).
    #[serde(skip)]
    card_micrometres: Option<u32>,
    #[serde(skip)]
    long_name: &'static str,
}

impl Report for Info {
    fn text(&self, t: &mut Text) {
        t.line(format_args!(
            "{}: {} ({}{}), {} bytes, {}",
            self.file.display(),
            self.format,
            self.long_name,
            if self.detected { ", detected" } else { "" },
            self.bytes,
            count(self.views.len(), "view")
        ));
        if let Some((product, equipment)) = self.ansi {
            t.line(format_args!(
                "  CBEFF product {product:#010x}, capture equipment {equipment:#06x}"
            ));
        }
        for (i, v) in self.views.iter().enumerate() {
            t.line(format_args!(
                "  view {i}: {} ({}), view number {}, impression {} ({}), quality {}",
                position_name(v.position),
                v.position,
                v.view_number,
                v.impression,
                impression_name(v.impression),
                v.quality
            ));
            match self.card_micrometres {
                Some(um) => t.line(format_args!(
                    "    coordinates in {} mm (card format: no image size or resolution)",
                    f64::from(um) / 1000.0
                )),
                None => t.line(format_args!(
                    "    image {}x{} px, resolution {}x{} px/cm ({:.0}x{:.0} dpi)",
                    v.width,
                    v.height,
                    v.x_res,
                    v.y_res,
                    f64::from(v.x_res) * 2.54,
                    f64::from(v.y_res) * 2.54
                )),
            }
            let extended = if v.extended_bytes == 0 {
                "no extended data".to_string()
            } else {
                format!(
                    "extended data: {} in {}",
                    count(v.extended_bytes, "byte"),
                    count(v.extended_blocks, "block")
                )
            };
            t.line(format_args!(
                "    {} ({} ridge endings, {} bifurcations, {} other), {extended}",
                minutiae(v.minutiae),
                v.ridge_endings,
                v.bifurcations,
                v.other
            ));
            match (&v.prepare_error, v.matcher_minutiae, v.matcher_cylinders) {
                (Some(e), _, _) => {
                    t.line(format_args!("    matcher: cannot prepare this view: {e}"))
                }
                (None, Some(m), Some(c)) => t.line(format_args!(
                    "    matcher: {} used, {} with enough neighbours to match",
                    minutiae(m),
                    count(c, "cylinder")
                )),
                _ => {}
            }
        }
        for w in &self.warnings {
            t.line(format_args!("  warning: {w}"));
        }
    }
}

pub fn info(a: &InfoArgs) -> CmdResult<Info> {
    let (rec, bytes) = read_record(&a.file, &a.read)?;
    let format = rec.format;
    let views = rec
        .views
        .iter()
        .map(|v| {
            let kinds = |k: MinutiaKind| v.minutiae.iter().filter(|m| m.kind == k).count();
            let prepared = FingerTemplate::from_view(v, format);
            let prepared = prepared.as_ref().map(|t| t.as_ref());
            ViewInfo {
                position: v.position,
                view_number: v.view_number,
                impression: v.impression,
                quality: v.quality,
                width: v.width,
                height: v.height,
                x_res: v.x_res,
                y_res: v.y_res,
                minutiae: v.minutiae.len(),
                ridge_endings: kinds(MinutiaKind::RidgeEnding),
                bifurcations: kinds(MinutiaKind::Bifurcation),
                other: kinds(MinutiaKind::Other),
                extended_bytes: v.extended.len(),
                extended_blocks: v.extended_blocks().map(|b| b.len()).unwrap_or(0),
                matcher_minutiae: prepared.as_ref().ok().map(|r| r.n_min()),
                matcher_cylinders: prepared.as_ref().ok().map(|r| r.n_cyl()),
                prepare_error: prepared.as_ref().err().map(|e| e.to_string()),
            }
        })
        .collect();
    Ok(Info {
        file: a.file.clone(),
        format: format.name(),
        detected: a.read.format.is_none(),
        mode: if a.read.lenient { "lenient" } else { "strict" },
        bytes,
        views,
        warnings: rec.warnings,
        ansi: (format == Format::Ansi2004).then_some((rec.cbeff_product, rec.capture_equipment)),
        card_micrometres: format.card_micrometres(),
        long_name: long_name(format),
    })
}
