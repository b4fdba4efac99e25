//! Fingerprint commands on a store: enrol and remove templates by hand, identify (1:N) and verify
//! (1:1) a probe record against the store's finger index.
//!
//! Records are read like the other finger commands (format detected unless named, strict unless
//! `--lenient`). A record with several finger views enrols the one at `--position`.

use crate::args::{RemoveArgs, SearchArgs, TemplateAt, VerifyAt};
use crate::finger_cmds::{fmr_label, parse_fmr, read_record, ReadArgs};
use crate::out::{count, ms, open_read_only, open_store, round3, CmdResult, Fail, Report, Text};
use crate::store_cmds::quiet_opts;
use crate::templates::{self, Added, Kind, Removed};
use clap::Args;
use edgeid::finger::calibration::{fmr_for_threshold, threshold_for_fmr};
use edgeid::finger::enroll::{enrol_view, select_view};
use edgeid::finger::{FingerTemplate, Format};
use edgeid::{Change, FingerHit, FingerIdentify, OpenOptions};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Reads a record and prepares the view to enrol or search with.
pub(crate) fn read_view(
    path: &Path,
    r: &ReadArgs,
    position: Option<u8>,
) -> Result<(FingerTemplate, u8), Fail> {
    let (rec, _) = read_record(path, r)?;
    enrol_view(&rec, position).map_err(|e| Fail::new(format!("{}: {e}", path.display())))
}

/// What the store is given to enrol: the file as it is, or — when lenient reading accepted
/// something strict parsing refuses — the record written again in its format, so the store keeps
/// a well-formed source; its format; and the minutiae of the view to enrol and the finger
/// position. The record is checked here (view chosen, no cylinders built); the store prepares it.
fn enrolment_source(
    path: &Path,
    r: &ReadArgs,
    position: Option<u8>,
) -> Result<(Vec<u8>, Format, usize, u8), Fail> {
    let (rec, _) = read_record(path, r)?;
    let (view, position) =
        select_view(&rec, position).map_err(|e| Fail::new(format!("{}: {e}", path.display())))?;
    let minutiae = rec.views[view].minutiae.len();
    if rec.warnings.is_empty() {
        let bytes =
            std::fs::read(path).map_err(|e| Fail::new(format!("read {}: {e}", path.display())))?;
        return Ok((bytes, rec.format, minutiae, position));
    }
    let bytes = rec
        .encode()
        .map_err(|e| Fail::new(format!("{}: {e}", path.display())))?;
    Ok((bytes, rec.format, minutiae, position))
}

fn parse_position(s: &str) -> Result<u8, String> {
    match s.parse::<u8>() {
        Ok(p) if p <= 10 => Ok(p),
        _ => Err(format!(
            "{s:?}: a finger position is 0..=10 (0 unknown, 1 right thumb … 10 left little)"
        )),
    }
}

#[derive(Args)]
pub struct AddArgs {
    #[command(flatten)]
    at: TemplateAt,
    /// Finger position to enrol from a record with several views (required then), and the
    /// position recorded for card formats, which carry none.
    #[arg(long, value_parser = parse_position)]
    position: Option<u8>,
    #[command(flatten)]
    read: ReadArgs,
    /// Minutiae record (ISO/IEC 19794-2, ANSI/INCITS 378, or a card format with --format).
    file: PathBuf,
}

pub fn add(a: &AddArgs) -> CmdResult<Added> {
    let (record, format, minutiae, position) = enrolment_source(&a.file, &a.read, a.position)?;
    let store = open_store(&a.at.store.store, quiet_opts())?;
    let change = Change::PutFinger {
        location: a.at.who.location.clone(),
        user: a.at.who.user.clone(),
        template: a.at.template.clone(),
        record,
        format: Some(format),
        position: Some(position),
    };
    let mut added = templates::put(&store, Kind::Finger, &a.at, change)?;
    added.position = Some(position);
    added.minutiae = Some(minutiae);
    Ok(added)
}

/// Fingerprints only: the user's faces stay (`edgeid face remove` removes those).
pub fn remove(a: &RemoveArgs) -> CmdResult<Removed> {
    let store = open_store(&a.store.store, quiet_opts())?;
    templates::remove(&store, Kind::Finger, a)
}

/// Score threshold from `--threshold` or `--fmr`.
#[derive(Args)]
pub struct Decision {
    /// Accept only scores of at least this (matcher scores lie in 0..=1).
    #[arg(long, conflicts_with = "fmr")]
    threshold: Option<f32>,
    /// Accept only scores whose false-match rate is at most this (built-in calibration,
    /// 1e-6..=1e-1), e.g. 1e-4.
    #[arg(long, value_parser = parse_fmr)]
    fmr: Option<f64>,
}

impl Decision {
    fn threshold(&self) -> Result<Option<f32>, Fail> {
        match (self.threshold, self.fmr) {
            (Some(t), _) if !(0.0..=1.0).contains(&t) => Err(Fail::new(format!(
                "threshold {t} is outside 0..=1 (matcher scores)"
            ))),
            (Some(t), _) => Ok(Some(t)),
            (None, Some(f)) => Ok(Some(threshold_for_fmr(f))),
            (None, None) => Ok(None),
        }
    }
}

/// One user found by a fingerprint search.
#[derive(Serialize)]
pub struct Hit {
    location: String,
    user: String,
    template: String,
    position: u8,
    score: f32,
    /// False-match rate of a threshold set at this score (built-in calibration).
    fmr: f64,
}

impl From<FingerHit> for Hit {
    fn from(h: FingerHit) -> Hit {
        Hit {
            fmr: fmr_for_threshold(h.score),
            location: h.location,
            user: h.user,
            template: h.template,
            position: h.position,
            score: h.score,
        }
    }
}

#[derive(Args)]
pub struct IdentifyArgs {
    #[command(flatten)]
    search: SearchArgs,
    #[command(flatten)]
    decision: Decision,
    /// Match every template instead of the prefiltered candidates (slower; for checking).
    #[arg(long)]
    exhaustive: bool,
    /// Finger position of the view to search with, for a record with several views.
    #[arg(long, value_parser = parse_position)]
    position: Option<u8>,
    #[command(flatten)]
    read: ReadArgs,
    /// Probe minutiae record.
    file: PathBuf,
}

#[derive(Serialize)]
pub struct Identified {
    hits: Vec<Hit>,
    k: u64,
    threshold: Option<f32>,
    location: Option<String>,
    exhaustive: bool,
    /// Live fingerprint templates in the store.
    searched: usize,
    ms: f64,
}

impl Report for Identified {
    fn text(&self, t: &mut Text) {
        if self.hits.is_empty() {
            match self.threshold {
                Some(th) => t.line(format_args!("no match (no user scores {th:.4} or more)")),
                None => t.line("no match (the store holds no fingerprint templates here)"),
            }
        }
        for (i, h) in self.hits.iter().enumerate() {
            t.line(format_args!(
                "{:>3}. {:<24} score {:.4}  FMR {:.0e}  (location {}, template {}, finger {})",
                i + 1,
                h.user,
                h.score,
                h.fmr,
                h.location,
                h.template,
                h.position
            ));
        }
        t.line(format_args!(
            "searched {} in {:.2} ms{}",
            count(self.searched, "fingerprint template"),
            self.ms,
            if self.exhaustive { " (exhaustive)" } else { "" }
        ));
    }
}

pub fn identify(a: &IdentifyArgs) -> CmdResult<Identified> {
    let s = &a.search;
    let (probe, _) = read_view(&a.file, &a.read, a.position)?;
    let threshold = a.decision.threshold()?;
    let store = open_read_only(&s.store.store, OpenOptions::new())?;
    let mut req = FingerIdentify::new(probe.as_ref()).k(s.k as usize);
    if let Some(t) = threshold {
        req = req.threshold(t);
    }
    if let Some(l) = &s.location {
        req = req.location(l);
    }
    if a.exhaustive {
        req = req.exhaustive();
    }
    let t = Instant::now();
    let hits = store.identify_finger(&req)?;
    let took = ms(t.elapsed());
    Ok(Identified {
        hits: hits.into_iter().map(Hit::from).collect(),
        k: s.k,
        threshold,
        location: s.location.clone(),
        exhaustive: a.exhaustive,
        searched: store.snapshot().live_fingers(),
        ms: round3(took),
    })
}

#[derive(Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    at: VerifyAt,
    #[command(flatten)]
    decision: Decision,
    /// Finger position of the view to verify with, for a record with several views.
    #[arg(long, value_parser = parse_position)]
    position: Option<u8>,
    #[command(flatten)]
    read: ReadArgs,
    /// Probe minutiae record.
    file: PathBuf,
}

#[derive(Serialize)]
pub struct Verified {
    location: String,
    user: String,
    /// The user's best-scoring template.
    template: String,
    position: u8,
    score: f32,
    threshold: Option<f32>,
    /// The false-match rate asked for with `--fmr`.
    fmr_target: Option<f64>,
    accepted: Option<bool>,
    ms: f64,
}

impl Report for Verified {
    fn text(&self, t: &mut Text) {
        let verdict = |ok: bool| if ok { "accepted" } else { "rejected" };
        let decision = match (self.accepted, self.fmr_target) {
            (Some(ok), Some(f)) => format!(" — {} at FMR {}", verdict(ok), fmr_label(f)),
            (Some(ok), None) => format!(
                " — {} (threshold {:.4})",
                verdict(ok),
                self.threshold.unwrap_or_default()
            ),
            _ => String::new(),
        };
        t.line(format_args!(
            "user {} at {}: score {:.4} (best template {}, finger {}){decision}, {:.3} ms",
            self.user, self.location, self.score, self.template, self.position, self.ms
        ));
    }
}

pub fn verify(a: &VerifyArgs) -> CmdResult<Verified> {
    let who = &a.at.who;
    let (probe, _) = read_view(&a.file, &a.read, a.position)?;
    let threshold = a.decision.threshold()?;
    let store = open_read_only(&a.at.store.store, quiet_opts())?;
    let t = Instant::now();
    let hit = store.verify_finger(&who.location, &who.user, &probe.as_ref())?;
    let took = ms(t.elapsed());
    let Some(hit) = hit else {
        return Err(Fail::new(format!(
            "user {} has no fingerprint templates at location {}",
            who.user, who.location
        )));
    };
    Ok(Verified {
        location: who.location.clone(),
        user: who.user.clone(),
        template: hit.template,
        position: hit.position,
        score: hit.score,
        threshold,
        fmr_target: a.decision.fmr,
        accepted: threshold.map(|t| hit.score >= t),
        ms: round3(took),
    })
}
