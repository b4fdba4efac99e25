//! Fingerprint commands on a store: enrol and remove templates by hand, identify (1:N) and verify
//! (1:1) a probe record against the store's finger index.
//!
//! Records are read like the other finger commands (format detected unless named, strict unless
//! `--lenient`). A record with several finger views enrols the one at `--position`.

use crate::finger_cmds::{fmr_label, parse_fmr, read_record, ReadArgs};
use crate::out::{count, ms, open_store, round3, CmdResult, Fail, Out};
pub use crate::store_cmds::RemoveArgs;
use crate::store_cmds::DEFAULT_LOCATION;
use crate::StoreArg;
use clap::Args;
use edgeid::finger::calibration::{fmr_for_threshold, threshold_for_fmr};
use edgeid::finger::enroll::{enrol_view, select_view};
use edgeid::finger::{FingerTemplate, Format};
use edgeid::{Change, FingerHit, FingerIdentify, OpenOptions};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Reads a record and prepares the view to enrol or search with.
fn read_view(
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
    store: StoreArg,
    /// User id.
    #[arg(long)]
    user: String,
    /// Template id (a user may have several; adding an existing one replaces it).
    #[arg(long)]
    template: String,
    /// Location id.
    #[arg(long, default_value = DEFAULT_LOCATION)]
    location: String,
    /// Finger position to enrol from a record with several views (required then), and the
    /// position recorded for card formats, which carry none.
    #[arg(long, value_parser = parse_position)]
    position: Option<u8>,
    #[command(flatten)]
    read: ReadArgs,
    /// Minutiae record (ISO/IEC 19794-2, ANSI/INCITS 378, or a card format with --format).
    file: PathBuf,
}

pub fn add(a: &AddArgs, out: Out) -> CmdResult {
    let (record, format, minutiae, position) = enrolment_source(&a.file, &a.read, a.position)?;
    let store = open_store(&a.store.store, OpenOptions::new().threads(1))?;
    let done = store.commit(&[Change::PutFinger {
        location: a.location.clone(),
        user: a.user.clone(),
        template: a.template.clone(),
        record,
        format: Some(format),
        position: Some(position),
    }])?;
    let seq = done.seq;
    let live = store.snapshot().live_fingers();
    // Same ids as a template already held (replaced, or put again unchanged).
    let replaced = done.added == 0;
    out.line(format_args!(
        "{} fingerprint template {} of user {} at {} ({}, finger position {position}; seq {seq}, {})",
        if replaced { "replaced" } else { "added" },
        a.template,
        a.user,
        a.location,
        count(minutiae, "minutia"),
        count(live, "live fingerprint template")
    ));
    Ok(json!({
        "location": a.location, "user": a.user, "template": a.template, "position": position,
        "minutiae": minutiae, "replaced": replaced, "seq": seq, "live": live,
    }))
}

pub fn remove(a: &RemoveArgs, out: Out) -> CmdResult {
    let store = open_store(&a.store.store, OpenOptions::new().threads(1))?;
    let change = match &a.template {
        Some(t) => Change::RemoveFinger {
            location: a.location.clone(),
            user: a.user.clone(),
            template: t.clone(),
        },
        None => Change::RemoveUserFingers {
            location: a.location.clone(),
            user: a.user.clone(),
        },
    };
    let missing = || match &a.template {
        Some(t) => format!(
            "user {} has no fingerprint template {t} at location {}",
            a.user, a.location
        ),
        None => format!(
            "user {} has no fingerprint templates at location {}",
            a.user, a.location
        ),
    };
    let done = store.commit(&[change]).map_err(|e| match e {
        edgeid::Error::NotFound(_) => Fail::new(missing()),
        other => other.into(),
    })?;
    let (seq, removed) = (done.seq, done.removed);
    // Biometric data must not linger: erase now rather than within the store's deadline.
    let t = Instant::now();
    let still_mapped = store.erase_deleted()?;
    let erase_ms = ms(t.elapsed());
    out.line(format_args!(
        "removed {} of user {} at {} (seq {seq}); {}",
        count(removed, "fingerprint template"),
        a.user,
        a.location,
        if still_mapped == 0 {
            format!("erased from disk now ({erase_ms:.1} ms)")
        } else {
            format!("{still_mapped} old file(s) still in use will be erased at the next commit")
        }
    ));
    Ok(json!({
        "location": a.location, "user": a.user, "template": a.template, "removed": removed,
        "seq": seq, "erased": still_mapped == 0, "erase_ms": round3(erase_ms),
    }))
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

fn hit_json(h: &FingerHit) -> Value {
    json!({
        "location": h.location, "user": h.user, "template": h.template, "position": h.position,
        "score": h.score, "fmr": fmr_for_threshold(h.score),
    })
}

#[derive(Args)]
pub struct IdentifyArgs {
    #[command(flatten)]
    store: StoreArg,
    /// How many users to list, best first.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    k: u64,
    #[command(flatten)]
    decision: Decision,
    /// Only users of this location.
    #[arg(long)]
    location: Option<String>,
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

pub fn identify(a: &IdentifyArgs, out: Out) -> CmdResult {
    let (probe, _) = read_view(&a.file, &a.read, a.position)?;
    let threshold = a.decision.threshold()?;
    let store = open_store(&a.store.store, OpenOptions::new())?;
    let mut req = FingerIdentify::new(probe.as_ref()).k(a.k as usize);
    if let Some(t) = threshold {
        req = req.threshold(t);
    }
    if let Some(l) = &a.location {
        req = req.location(l);
    }
    if a.exhaustive {
        req = req.exhaustive();
    }
    let t = Instant::now();
    let hits = store.identify_finger(&req)?;
    let took = ms(t.elapsed());
    let live = store.snapshot().live_fingers();
    if hits.is_empty() {
        match threshold {
            Some(t) => out.line(format_args!("no match (no user scores {t:.4} or more)")),
            None => out.line("no match (the store holds no fingerprint templates here)"),
        }
    }
    for (i, h) in hits.iter().enumerate() {
        out.line(format_args!(
            "{:>3}. {:<24} score {:.4}  FMR {:.0e}  (location {}, template {}, finger {})",
            i + 1,
            h.user,
            h.score,
            fmr_for_threshold(h.score),
            h.location,
            h.template,
            h.position
        ));
    }
    out.line(format_args!(
        "searched {} in {took:.2} ms{}",
        count(live, "fingerprint template"),
        if a.exhaustive { " (exhaustive)" } else { "" }
    ));
    Ok(json!({
        "hits": hits.iter().map(hit_json).collect::<Vec<_>>(), "k": a.k, "threshold": threshold,
        "location": a.location, "exhaustive": a.exhaustive, "searched": live, "ms": round3(took),
    }))
}

#[derive(Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    store: StoreArg,
    /// User id.
    #[arg(long)]
    user: String,
    /// Location id.
    #[arg(long, default_value = DEFAULT_LOCATION)]
    location: String,
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

pub fn verify(a: &VerifyArgs, out: Out) -> CmdResult {
    let (probe, _) = read_view(&a.file, &a.read, a.position)?;
    let threshold = a.decision.threshold()?;
    let store = open_store(&a.store.store, OpenOptions::new().threads(1))?;
    let t = Instant::now();
    let hit = store.verify_finger(&a.location, &a.user, &probe.as_ref())?;
    let took = ms(t.elapsed());
    let Some(hit) = hit else {
        return Err(Fail::new(format!(
            "user {} has no fingerprint templates at location {}",
            a.user, a.location
        )));
    };
    let accepted = threshold.map(|t| hit.score >= t);
    let decision = match (accepted, a.decision.fmr) {
        (Some(ok), Some(f)) => format!(
            " — {} at FMR {}",
            if ok { "accepted" } else { "rejected" },
            fmr_label(f)
        ),
        (Some(ok), None) => format!(
            " — {} (threshold {:.4})",
            if ok { "accepted" } else { "rejected" },
            threshold.unwrap_or_default()
        ),
        _ => String::new(),
    };
    out.line(format_args!(
        "user {} at {}: score {:.4} (best template {}, finger {}){decision}, {took:.3} ms",
        a.user, a.location, hit.score, hit.template, hit.position
    ));
    Ok(json!({
        "location": a.location, "user": a.user, "template": hit.template, "position": hit.position,
        "score": hit.score, "threshold": threshold, "accepted": accepted, "ms": round3(took),
    }))
}
