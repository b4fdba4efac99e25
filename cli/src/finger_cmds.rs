//! Fingerprint commands that need no store: compare two minutiae records, score or evaluate a
//! directory of them, and show what a record holds.
//!
//! Records are read in any format the library reads (ISO/IEC 19794-2:2005 and 2011, ANSI/INCITS
//! 378-2004 detected from the header; the header-less card formats named with `--format`), strictly
//! unless `--lenient` is given. Only the first finger view of a record is matched.

use crate::out::{count, CmdResult, Fail, Out};
use clap::Args;
use edgeid::finger::calibration::{fmr_for_threshold, threshold_for_fmr, BUILTIN};
use edgeid::finger::codec::{Format, MinutiaKind, Mode, Record};
use edgeid::finger::{compare, eval, parse_with, FingerTemplate};
use serde_json::{json, Value};
use std::io::{BufWriter, Write};
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

pub fn compare_cmd(a: &CompareArgs, out: Out) -> CmdResult<Value> {
    let ta = read_template(&a.a, &a.read)?;
    let tb = read_template(&a.b, &a.read)?;
    let score = compare(&ta.as_ref(), &tb.as_ref());
    let threshold = threshold_for_fmr(a.fmr);
    let matched = score >= threshold;
    // The FMR of a threshold set at this score; the table is clamped to its range.
    let fmr = fmr_for_threshold(score);
    let (lo, hi) = (BUILTIN[BUILTIN.len() - 1].0, BUILTIN[0].0);
    let estimate = if score >= BUILTIN[BUILTIN.len() - 1].1 {
        format!("<= {}", fmr_label(lo))
    } else if score <= BUILTIN[0].1 {
        format!(">= {}", fmr_label(hi))
    } else {
        format!("{fmr:.1e}")
    };
    out.line(format_args!(
        "{score:.4} — {} at FMR {} (threshold {threshold:.4}); impostors score this high at a rate {estimate}",
        if matched { "match" } else { "no match" },
        fmr_label(a.fmr),
    ));
    Ok(json!({
        "a": a.a, "b": a.b,
        "score": score,
        "fmr": fmr,
        "fmr_target": a.fmr,
        "threshold": threshold,
        "match": matched,
    }))
}

#[derive(Args)]
pub struct DirArgs {
    /// Directory of minutiae records (every regular file is read; format detected, strict).
    dir: PathBuf,
}

fn check_dir(dir: &Path) -> Result<(), Fail> {
    if !dir.is_dir() {
        return Err(Fail::new(format!("{} is not a directory", dir.display())));
    }
    Ok(())
}

pub fn scores(a: &DirArgs, out: Out) -> CmdResult<Value> {
    check_dir(&a.dir)?;
    // Every ordered pair (probe, gallery) of different templates, scored on all cores.
    let rows = eval::scores(&a.dir)?;
    if rows.is_empty() {
        return Err(Fail::new(format!(
            "{} holds fewer than 2 template files: no pairs to score",
            a.dir.display()
        )));
    }
    if !out.is_json() {
        // One buffered writer: thousands of lines. A closed pipe (`| head`) just stops the output.
        let mut w = BufWriter::new(std::io::stdout().lock());
        for r in &rows {
            if writeln!(w, "{}\t{}\t{:.6}", r.probe, r.gallery, r.score).is_err() {
                break;
            }
        }
        let _ = w.flush();
        return Ok(Value::Null);
    }
    let templates = {
        let mut names: Vec<&str> = rows.iter().map(|r| r.probe.as_str()).collect();
        names.dedup();
        names.len()
    };
    Ok(json!({
        "dir": a.dir,
        "templates": templates,
        "pairs": rows.len(),
        "scores": rows
            .iter()
            .map(|r| json!({"probe": r.probe, "gallery": r.gallery, "score": r.score}))
            .collect::<Vec<_>>(),
    }))
}

fn pct(x: f64) -> String {
    if x.is_nan() {
        "n/a".into()
    } else {
        format!("{:.2}%", x * 100.0)
    }
}

/// A fraction for JSON (NaN → null, since JSON has no NaN).
fn frac(x: f64) -> Value {
    if x.is_nan() {
        Value::Null
    } else {
        json!(x)
    }
}

pub fn eval_cmd(a: &DirArgs, out: Out) -> CmdResult<Value> {
    check_dir(&a.dir)?;
    let r = eval::eval(&a.dir)?;
    out.line(format_args!(
        "{}: {}, {} genuine and {} impostor pairs (each unordered pair once)",
        a.dir.display(),
        count(r.templates, "template"),
        r.genuine,
        r.impostor
    ));
    out.line(format_args!("  EER           {:>8}", pct(r.eer)));
    out.line(format_args!(
        "  FNMR@FMR1%    {:>8}",
        pct(r.fnmr_at_fmr_1pct)
    ));
    out.line(format_args!("  FNMR@FMR0     {:>8}", pct(r.fnmr_at_fmr_0)));
    out.line(format_args!(
        "  rank-1        {:>8}",
        format!("{}/{}", r.rank1, r.templates)
    ));
    if r.genuine == 0 || r.impostor == 0 {
        out.line(format_args!(
            "  (error rates need both genuine and impostor pairs: names are FINGER_IMPRESSION)"
        ));
    }
    Ok(json!({
        "dir": a.dir,
        "templates": r.templates,
        "genuine": r.genuine,
        "impostor": r.impostor,
        "eer": frac(r.eer),
        "fnmr_at_fmr_1pct": frac(r.fnmr_at_fmr_1pct),
        "fnmr_at_fmr_0": frac(r.fnmr_at_fmr_0),
        "rank1": r.rank1,
        "rank1_rate": r.rank1 as f64 / r.templates as f64,
    }))
}

#[derive(Args)]
pub struct InfoArgs {
    /// The record file.
    file: PathBuf,
    #[command(flatten)]
    read: ReadArgs,
}

/// "1 minutia", "2 minutiae".
fn minutiae(n: usize) -> String {
    format!("{n} minuti{}", if n == 1 { "a" } else { "ae" })
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

pub fn info(a: &InfoArgs, out: Out) -> CmdResult<Value> {
    let (rec, bytes) = read_record(&a.file, &a.read)?;
    let format = rec.format;
    let detected = a.read.format.is_none();
    out.line(format_args!(
        "{}: {} ({}{}), {bytes} bytes, {}",
        a.file.display(),
        format.name(),
        long_name(format),
        if detected { ", detected" } else { "" },
        count(rec.views.len(), "view")
    ));
    if format == Format::Ansi2004 {
        out.line(format_args!(
            "  CBEFF product {:#010x}, capture equipment {:#06x}",
            rec.cbeff_product, rec.capture_equipment
        ));
    }
    let mut views = Vec::new();
    for (i, v) in rec.views.iter().enumerate() {
        let kinds = |k: MinutiaKind| v.minutiae.iter().filter(|m| m.kind == k).count();
        let (endings, bifurcations, other) = (
            kinds(MinutiaKind::RidgeEnding),
            kinds(MinutiaKind::Bifurcation),
            kinds(MinutiaKind::Other),
        );
        let blocks = v.extended_blocks().map(|b| b.len()).unwrap_or(0);
        let prepared = FingerTemplate::from_view(v, format);
        out.line(format_args!(
            "  view {i}: {} ({}), view number {}, impression {} ({}), quality {}",
            position_name(v.position),
            v.position,
            v.view_number,
            v.impression,
            impression_name(v.impression),
            v.quality
        ));
        match format.card_micrometres() {
            Some(um) => out.line(format_args!(
                "    coordinates in {} mm (card format: no image size or resolution)",
                f64::from(um) / 1000.0
            )),
            None => out.line(format_args!(
                "    image {}x{} px, resolution {}x{} px/cm ({:.0}x{:.0} dpi)",
                v.width,
                v.height,
                v.x_res,
                v.y_res,
                f64::from(v.x_res) * 2.54,
                f64::from(v.y_res) * 2.54
            )),
        }
        let extended = if v.extended.is_empty() {
            "no extended data".to_string()
        } else {
            format!(
                "extended data: {} in {}",
                count(v.extended.len(), "byte"),
                count(blocks, "block")
            )
        };
        out.line(format_args!(
            "    {} ({endings} ridge endings, {bifurcations} bifurcations, {other} other), {extended}",
            minutiae(v.minutiae.len()),
        ));
        let (used, cylinders) = match &prepared {
            Ok(t) => {
                let r = t.as_ref();
                out.line(format_args!(
                    "    matcher: {} used, {} with enough neighbours to match",
                    minutiae(r.n_min()),
                    count(r.n_cyl(), "cylinder")
                ));
                (Some(r.n_min()), Some(r.n_cyl()))
            }
            Err(e) => {
                out.line(format_args!("    matcher: cannot prepare this view: {e}"));
                (None, None)
            }
        };
        views.push(json!({
            "position": v.position,
            "view_number": v.view_number,
            "impression": v.impression,
            "quality": v.quality,
            "width": v.width,
            "height": v.height,
            "x_res": v.x_res,
            "y_res": v.y_res,
            "minutiae": v.minutiae.len(),
            "ridge_endings": endings,
            "bifurcations": bifurcations,
            "other": other,
            "extended_bytes": v.extended.len(),
            "extended_blocks": blocks,
            "matcher_minutiae": used,
            "matcher_cylinders": cylinders,
            "prepare_error": prepared.as_ref().err().map(|e| e.to_string()),
        }));
    }
    for w in &rec.warnings {
        out.line(format_args!("  warning: {w}"));
    }
    Ok(json!({
        "file": a.file,
        "format": format.name(),
        "detected": detected,
        "mode": if a.read.lenient { "lenient" } else { "strict" },
        "bytes": bytes,
        "views": views,
        "warnings": rec.warnings,
    }))
}
