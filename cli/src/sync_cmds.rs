//! The terminal's copy of the platform's users: `sync apply|status|digest`, `user show` and
//! `lookup card|code|plate`.

use crate::args::StoreArg;
use crate::out::{count, ms, open_store, round3, CmdResult, Fail, Out, Report, Text};
use clap::Args;
use edgeid::sync::{canonical, Outcome, Progress, UserRef};
use edgeid::{Error, OpenOptions, Store};
use indicatif::ProgressBar;
use serde::Serialize;
use serde_json::Value;
use std::io::BufRead;
use std::path::PathBuf;
use std::time::Instant;

/// None of these commands searches: no search thread pool to start.
fn open(a: &StoreArg) -> Result<Store, Fail> {
    open_store(&a.store, OpenOptions::new().threads(1))
}

#[derive(Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Delta files (JSON, format edgeid.delta/1), applied in this order.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// One file's line of the report. `location`/`sequence` of a refused delta are read from the file
/// when it is JSON enough to have them, so the platform knows which delta to resend.
#[derive(Serialize, Default)]
pub struct FileResult {
    file: String,
    /// applied, already-applied, refused, failed or not-applied.
    status: &'static str,
    location: Option<String>,
    sequence: Option<u64>,
    changes: Option<usize>,
    reason: Option<String>,
    ms: Option<f64>,
}

/// `sync apply`: one result per file, in order.
#[derive(Serialize)]
pub struct Applied {
    results: Vec<FileResult>,
}

impl Report for Applied {
    fn text(&self, t: &mut Text) {
        for r in &self.results {
            let (file, reason) = (&r.file, r.reason.as_deref().unwrap_or(""));
            let (location, sequence) = (
                r.location.as_deref().unwrap_or("?"),
                r.sequence.map_or("?".to_string(), |s| s.to_string()),
            );
            match r.status {
                "not-applied" => t.line(format_args!("{file}: not applied")),
                "applied" => t.line(format_args!(
                    "{file}: applied (location {location}, sequence {sequence}, {})",
                    count(r.changes.unwrap_or(0), "change")
                )),
                "already-applied" => t.line(format_args!(
                    "{file}: already-applied (location {location}, sequence {sequence}; nothing changed)"
                )),
                status => t.line(format_args!("{file}: {status}: {reason}")),
            }
        }
    }
}

/// Location and sequence of a delta the library refused (best effort: it may not be JSON at all).
fn peek(bytes: &[u8]) -> (Option<String>, Option<u64>) {
    let Ok(v) = serde_json::from_slice::<Value>(bytes) else {
        return (None, None);
    };
    (
        v.get("location")
            .and_then(Value::as_str)
            .map(str::to_string),
        v.get("sequence").and_then(Value::as_u64),
    )
}

pub fn apply(a: &ApplyArgs, out: Out) -> CmdResult<Applied> {
    // A misspelt file name should not leave the deltas before it applied and the rest not.
    for f in &a.files {
        if !f.is_file() {
            return Err(Fail::new(format!(
                "{}: no such file; nothing was applied",
                f.display()
            )));
        }
    }
    let store = open(&a.store)?;
    let mut results = Vec::new();
    let mut stopped: Option<String> = None;
    for f in &a.files {
        let file = f.display().to_string();
        if stopped.is_some() {
            results.push(FileResult {
                file,
                status: "not-applied",
                ..FileResult::default()
            });
            continue;
        }
        // Checked above, but it may have gone since: report what was applied before it.
        let bytes = match std::fs::read(f) {
            Ok(b) => b,
            Err(e) => {
                stopped = Some(format!("{file} could not be read"));
                results.push(FileResult {
                    reason: Some(format!("read {file}: {e}")),
                    file,
                    status: "failed",
                    ..FileResult::default()
                });
                continue;
            }
        };
        let (r, took) = apply_one(&store, &bytes, out);
        let result = match r {
            Ok(Outcome::Applied {
                location,
                sequence,
                changes,
            }) => FileResult {
                status: "applied",
                location: Some(location),
                sequence: Some(sequence),
                changes: Some(changes),
                ..FileResult::default()
            },
            Ok(Outcome::AlreadyApplied { location, sequence }) => FileResult {
                status: "already-applied",
                location: Some(location),
                sequence: Some(sequence),
                ..FileResult::default()
            },
            Err(e) => {
                // A refusal is the delta's fault (resending it will not help); anything else
                // (storage full, I/O) is the terminal's, and the delta may be sent again.
                let (status, reason) = match e {
                    Error::Refused(r) => ("refused", r.to_string()),
                    other => ("failed", other.to_string()),
                };
                stopped = Some(format!("{file} was {status}"));
                let (location, sequence) = peek(&bytes);
                FileResult {
                    status,
                    location,
                    sequence,
                    reason: Some(reason),
                    ..FileResult::default()
                }
            }
        };
        results.push(FileResult {
            file,
            ms: Some(round3(took)),
            ..result
        });
    }
    let rest = results.iter().filter(|r| r.status == "not-applied").count();
    let report = Applied { results };
    match stopped {
        None => Ok(report),
        Some(what) if rest == 0 => Err(Fail::with(what, report)),
        Some(what) => Err(Fail::with(
            format!("{what}; {} not applied", count(rest, "later file")),
            report,
        )),
    }
}

/// Applies one delta with a progress bar while it is validated; the result and the milliseconds
/// it took.
pub fn apply_one(store: &Store, bytes: &[u8], out: Out) -> (edgeid::Result<Outcome>, f64) {
    let mut bar: Option<ProgressBar> = None;
    let t = Instant::now();
    let r = store.apply_delta(bytes, &mut |p| match p {
        Progress::Validating { done, total } => bar
            .get_or_insert_with(|| out.progress(total as u64, "validating"))
            .set_position(done as u64),
        Progress::Committing => {
            if let Some(b) = &bar {
                b.set_message("committing");
            }
        }
    });
    let took = ms(t.elapsed());
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    (r, took)
}

/// One location of `sync status`.
#[derive(Serialize)]
pub struct LocationLine {
    location: String,
    sequence: u64,
    users: usize,
    faces: usize,
    fingers: usize,
    digest: String,
}

/// `sync status`: every synchronised location.
#[derive(Serialize)]
pub struct SyncStatus {
    locations: Vec<LocationLine>,
}

impl Report for SyncStatus {
    fn text(&self, t: &mut Text) {
        if self.locations.is_empty() {
            t.line(
                "no location has been synchronised yet (apply a delta with `edgeid sync apply`)",
            );
            return;
        }
        let w = self
            .locations
            .iter()
            .map(|l| l.location.chars().count())
            .max()
            .unwrap_or(0)
            .max("location".len());
        t.line(format_args!(
            "{:<w$}  {:>10}  {:>9}  {:>9}  {:>9}  digest",
            "location", "sequence", "users", "faces", "fingers"
        ));
        for l in &self.locations {
            t.line(format_args!(
                "{:<w$}  {:>10}  {:>9}  {:>9}  {:>9}  {}",
                l.location, l.sequence, l.users, l.faces, l.fingers, l.digest
            ));
        }
    }
}

pub fn status(a: &StoreArg) -> CmdResult<SyncStatus> {
    let store = open(a)?;
    let locations = store
        .sync_status()
        .into_iter()
        .map(|l| LocationLine {
            location: l.location,
            sequence: l.sequence,
            users: l.users,
            faces: l.faces,
            fingers: l.fingers,
            digest: l.digest,
        })
        .collect();
    Ok(SyncStatus { locations })
}

#[derive(Args)]
pub struct DigestArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Location id.
    #[arg(long)]
    location: String,
}

/// The library says "not found: location …"; say what to do about it.
fn unknown_location(e: Error, location: &str) -> Fail {
    match e {
        Error::NotFound(_) => Fail::new(format!(
            "location {location} has never been synchronised (see `edgeid sync status`)"
        )),
        other => other.into(),
    }
}

/// `sync digest`.
#[derive(Serialize)]
pub struct Digest {
    location: String,
    digest: String,
}

impl Report for Digest {
    fn text(&self, t: &mut Text) {
        t.line(&self.digest);
    }
}

pub fn digest(a: &DigestArgs) -> CmdResult<Digest> {
    let store = open(&a.store)?;
    let digest = store
        .digest(&a.location)
        .map_err(|e| unknown_location(e, &a.location))?;
    Ok(Digest {
        location: a.location.clone(),
        digest,
    })
}

#[derive(Args)]
pub struct UserShowArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Location id.
    #[arg(long)]
    location: String,
    /// User id.
    #[arg(long)]
    user: String,
}

/// Fails when `location` is given and the store has never heard of it: "no user" would hide a typo.
fn check_location(store: &Store, location: Option<&str>) -> Result<(), Fail> {
    match location {
        Some(l) if store.snapshot().catalog().location(l).is_none() => Err(Fail::new(format!(
            "location {l} has never been synchronised (see `edgeid sync status`)"
        ))),
        _ => Ok(()),
    }
}

/// Unix seconds as RFC 3339 (UTC).
fn rfc3339(secs: i64) -> String {
    jiff::Timestamp::from_second(secs).map_or_else(|_| format!("@{secs}"), |t| t.to_string())
}

/// A fingerprint template of `user show` (its bytes are not shown, only counted).
#[derive(Serialize)]
pub struct FingerLine {
    id: String,
    position: u8,
    format: String,
    bytes: usize,
}

/// A right of `user show`.
#[derive(Serialize)]
pub struct RightLine {
    doors: Vec<String>,
    schedule: Option<String>,
}

/// `user show`: what the terminal knows of a user. Access codes are only counted.
#[derive(Serialize)]
pub struct UserShow {
    location: String,
    user: String,
    name: Option<String>,
    enabled: bool,
    valid_from: Option<String>,
    valid_until: Option<String>,
    faces: Vec<String>,
    fingers: Vec<FingerLine>,
    cards: Vec<String>,
    access_codes: usize,
    plates: Vec<String>,
    rights: Vec<RightLine>,
    record_hash: String,
}

impl Report for UserShow {
    fn text(&self, t: &mut Text) {
        let list = |v: &[String]| {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.join(", ")
            }
        };
        t.line(format_args!("user {} at {}", self.user, self.location));
        t.line(format_args!(
            "  name         {}",
            self.name.as_deref().unwrap_or("-")
        ));
        t.line(format_args!(
            "  enabled      {}",
            if self.enabled {
                "yes"
            } else {
                "no (never granted)"
            }
        ));
        t.line(format_args!(
            "  valid        {} .. {}",
            self.valid_from.as_deref().unwrap_or("(no start)"),
            self.valid_until.as_deref().unwrap_or("(no end)")
        ));
        t.line(format_args!("  faces        {}", list(&self.faces)));
        if self.fingers.is_empty() {
            t.line("  fingers      -");
        }
        for (i, f) in self.fingers.iter().enumerate() {
            t.line(format_args!(
                "  {:<12} {} (position {}, {}, {} bytes)",
                if i == 0 { "fingers" } else { "" },
                f.id,
                f.position,
                f.format,
                f.bytes
            ));
        }
        t.line(format_args!("  cards        {}", list(&self.cards)));
        t.line(format_args!(
            "  codes        {} (never shown)",
            count(self.access_codes, "access code")
        ));
        t.line(format_args!("  plates       {}", list(&self.plates)));
        if self.rights.is_empty() {
            t.line("  rights       -");
        }
        for (i, r) in self.rights.iter().enumerate() {
            t.line(format_args!(
                "  {:<12} {} ({})",
                if i == 0 { "rights" } else { "" },
                r.doors.join(", "),
                r.schedule
                    .as_ref()
                    .map_or("always".to_string(), |s| format!("schedule {s}"))
            ));
        }
        t.line(format_args!("  record hash  {}", self.record_hash));
    }
}

pub fn user_show(a: &UserShowArgs) -> CmdResult<UserShow> {
    let store = open(&a.store)?;
    let Some(u) = store.user(&a.location, &a.user) else {
        check_location(&store, Some(&a.location))?;
        return Err(Fail::new(format!(
            "no user {} at location {}",
            a.user, a.location
        )));
    };
    Ok(UserShow {
        location: a.location.clone(),
        valid_from: u.valid_from.map(rfc3339),
        valid_until: u.valid_until.map(rfc3339),
        record_hash: canonical::hex(&u.hash),
        fingers: u
            .fingers
            .into_iter()
            .map(|f| FingerLine {
                bytes: f.data.len(),
                id: f.id,
                position: f.position,
                format: f.format,
            })
            .collect(),
        rights: u
            .rights
            .into_iter()
            .map(|r| RightLine {
                doors: r.doors,
                schedule: r.schedule,
            })
            .collect(),
        access_codes: u.codes.len(),
        user: u.id,
        name: u.name,
        enabled: u.enabled,
        faces: u.faces,
        cards: u.cards,
        plates: u.plates,
    })
}

/// Where to look: the store and, optionally, one location.
#[derive(Args)]
pub struct Scope {
    #[command(flatten)]
    store: StoreArg,
    /// Only this location (default: every location of the store).
    #[arg(long)]
    location: Option<String>,
}

#[derive(Args)]
pub struct CardArgs {
    #[command(flatten)]
    scope: Scope,
    /// Card format.
    #[arg(long, default_value = "csn", value_parser = ["csn", "wiegand26", "wiegand34"])]
    format: String,
    /// Facility code (wiegand26: 0..=255, wiegand34: 0..=65535; csn cards have none).
    #[arg(long)]
    facility: Option<u64>,
    /// Card number: hex serial for csn (any case), decimal for Wiegand.
    number: String,
}

#[derive(Args)]
pub struct CodeArgs {
    #[command(flatten)]
    scope: Scope,
    /// Access code (4..=12 digits), or `-` to read it from standard input (keeps it out of the
    /// shell history and the process list).
    code: String,
}

#[derive(Args)]
pub struct PlateArgs {
    #[command(flatten)]
    scope: Scope,
    /// Licence plate, e.g. "ab 123 c" (matches AB-123-C).
    plate: String,
}

/// The answer of a lookup: `location/user`, or "no user" (exit status 1).
#[derive(Serialize)]
pub struct Answer {
    kind: &'static str,
    /// The credential asked about (none for access codes, which are never shown).
    query: Option<String>,
    found: bool,
    location: Option<String>,
    user: Option<String>,
}

impl Report for Answer {
    fn text(&self, t: &mut Text) {
        match (&self.location, &self.user) {
            (Some(l), Some(u)) => t.line(format_args!("{l}/{u}")),
            _ => t.line("no user"),
        }
    }
}

/// The report of a lookup; a "no" answer when nobody holds the credential.
fn answer(kind: &'static str, query: Option<String>, found: Option<UserRef>) -> CmdResult<Answer> {
    let report = Answer {
        kind,
        query,
        found: found.is_some(),
        location: found.as_ref().map(|r| r.location.clone()),
        user: found.map(|r| r.user),
    };
    if report.found {
        Ok(report)
    } else {
        Err(Fail::no(report))
    }
}

pub fn lookup_card(a: &CardArgs) -> CmdResult<Answer> {
    if a.format.starts_with("wiegand") && a.facility.is_none() {
        return Err(Fail::new(format!(
            "{} cards need a facility code: --facility N",
            a.format
        )));
    }
    let store = open(&a.scope.store)?;
    check_location(&store, a.scope.location.as_deref())?;
    let found = store.lookup_card(
        a.scope.location.as_deref(),
        &a.format,
        &a.number,
        a.facility,
    )?;
    let query = match a.facility {
        Some(f) => format!("{} facility {f} number {}", a.format, a.number),
        None => format!("{} {}", a.format, a.number),
    };
    answer("card", Some(query), found)
}

pub fn lookup_code(a: &CodeArgs) -> CmdResult<Answer> {
    let code = if a.code == "-" {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Fail::new(format!("read the access code from standard input: {e}")))?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        a.code.clone()
    };
    let store = open(&a.scope.store)?;
    // The library's message never quotes the code; neither does the report.
    check_location(&store, a.scope.location.as_deref())?;
    let found = store.lookup_code(a.scope.location.as_deref(), &code)?;
    answer("code", None, found)
}

pub fn lookup_plate(a: &PlateArgs) -> CmdResult<Answer> {
    let store = open(&a.scope.store)?;
    check_location(&store, a.scope.location.as_deref())?;
    let found = store.lookup_plate(a.scope.location.as_deref(), &a.plate)?;
    answer("plate", Some(a.plate.clone()), found)
}
