//! The terminal's copy of the platform's users: `sync apply|status|digest`, `user show` and
//! `lookup card|code|plate`.

use crate::args::StoreArg;
use crate::out::{count, ms, open_store, round3, CmdResult, Fail, Out};
use clap::Args;
use edgeid::sync::{canonical, Outcome, Progress, UserRef};
use edgeid::{Error, OpenOptions, Store};
use indicatif::ProgressBar;
use serde_json::{json, Value};
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
fn result(
    file: &str,
    status: &str,
    location: Option<&str>,
    sequence: Option<u64>,
    changes: Option<usize>,
    reason: Option<&str>,
    took: Option<f64>,
) -> Value {
    json!({
        "file": file, "status": status, "location": location, "sequence": sequence,
        "changes": changes, "reason": reason, "ms": took.map(round3),
    })
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

pub fn apply(a: &ApplyArgs, out: Out) -> CmdResult<Value> {
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
            out.line(format_args!("{file}: not applied"));
            results.push(result(&file, "not-applied", None, None, None, None, None));
            continue;
        }
        // Checked above, but it may have gone since: report what was applied before it.
        let bytes = match std::fs::read(f) {
            Ok(b) => b,
            Err(e) => {
                let reason = format!("read {file}: {e}");
                out.line(format_args!("{file}: failed: {reason}"));
                results.push(result(
                    &file,
                    "failed",
                    None,
                    None,
                    None,
                    Some(&reason),
                    None,
                ));
                stopped = Some(format!("{file} could not be read"));
                continue;
            }
        };
        let mut bar: Option<ProgressBar> = None;
        let t = Instant::now();
        let r = store.apply_delta(&bytes, &mut |p| match p {
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
        match r {
            Ok(Outcome::Applied {
                location,
                sequence,
                changes,
            }) => {
                out.line(format_args!(
                    "{file}: applied (location {location}, sequence {sequence}, {})",
                    count(changes, "change")
                ));
                results.push(result(
                    &file,
                    "applied",
                    Some(&location),
                    Some(sequence),
                    Some(changes),
                    None,
                    Some(took),
                ));
            }
            Ok(Outcome::AlreadyApplied { location, sequence }) => {
                out.line(format_args!(
                    "{file}: already-applied (location {location}, sequence {sequence}; nothing changed)"
                ));
                results.push(result(
                    &file,
                    "already-applied",
                    Some(&location),
                    Some(sequence),
                    None,
                    None,
                    Some(took),
                ));
            }
            Err(e) => {
                // A refusal is the delta's fault (resending it will not help); anything else
                // (storage full, I/O) is the terminal's, and the delta may be sent again.
                let (status, reason) = match e {
                    Error::Refused(r) => ("refused", r.to_string()),
                    other => ("failed", other.to_string()),
                };
                out.line(format_args!("{file}: {status}: {reason}"));
                let (location, sequence) = peek(&bytes);
                results.push(result(
                    &file,
                    status,
                    location.as_deref(),
                    sequence,
                    None,
                    Some(&reason),
                    Some(took),
                ));
                stopped = Some(format!("{file} was {status}"));
            }
        }
    }
    let report = json!({ "results": results });
    match stopped {
        None => Ok(report),
        Some(what) => {
            let rest = results
                .iter()
                .filter(|r| r["status"] == "not-applied")
                .count();
            let message = if rest == 0 {
                what
            } else {
                format!("{what}; {} not applied", count(rest, "later file"))
            };
            Err(Fail::with(message, report))
        }
    }
}

pub fn status(a: &StoreArg, out: Out) -> CmdResult<Value> {
    let store = open(a)?;
    let st = store.sync_status();
    if st.is_empty() {
        out.line("no location has been synchronised yet (apply a delta with `edgeid sync apply`)");
    } else {
        let w = st
            .iter()
            .map(|l| l.location.chars().count())
            .max()
            .unwrap_or(0)
            .max("location".len());
        out.line(format_args!(
            "{:<w$}  {:>10}  {:>9}  {:>9}  {:>9}  digest",
            "location", "sequence", "users", "faces", "fingers"
        ));
        for l in &st {
            out.line(format_args!(
                "{:<w$}  {:>10}  {:>9}  {:>9}  {:>9}  {}",
                l.location, l.sequence, l.users, l.faces, l.fingers, l.digest
            ));
        }
    }
    let locations: Vec<Value> = st
        .iter()
        .map(|l| {
            json!({
                "location": l.location, "sequence": l.sequence, "users": l.users,
                "faces": l.faces, "fingers": l.fingers, "digest": l.digest,
            })
        })
        .collect();
    Ok(json!({ "locations": locations }))
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

pub fn digest(a: &DigestArgs, out: Out) -> CmdResult<Value> {
    let store = open(&a.store)?;
    let d = store
        .digest(&a.location)
        .map_err(|e| unknown_location(e, &a.location))?;
    out.line(&d);
    Ok(json!({ "location": a.location, "digest": d }))
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

pub fn user_show(a: &UserShowArgs, out: Out) -> CmdResult<Value> {
    let store = open(&a.store)?;
    let Some(u) = store.user(&a.location, &a.user) else {
        check_location(&store, Some(&a.location))?;
        return Err(Fail::new(format!(
            "no user {} at location {}",
            a.user, a.location
        )));
    };
    let from = u.valid_from.map(rfc3339);
    let until = u.valid_until.map(rfc3339);
    let hash = canonical::hex(&u.hash);
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(", ")
        }
    };
    out.line(format_args!("user {} at {}", u.id, a.location));
    out.line(format_args!(
        "  name         {}",
        u.name.as_deref().unwrap_or("-")
    ));
    out.line(format_args!(
        "  enabled      {}",
        if u.enabled {
            "yes"
        } else {
            "no (never granted)"
        }
    ));
    out.line(format_args!(
        "  valid        {} .. {}",
        from.as_deref().unwrap_or("(no start)"),
        until.as_deref().unwrap_or("(no end)")
    ));
    out.line(format_args!("  faces        {}", list(&u.faces)));
    if u.fingers.is_empty() {
        out.line("  fingers      -");
    }
    for (i, f) in u.fingers.iter().enumerate() {
        out.line(format_args!(
            "  {:<12} {} (position {}, {}, {} bytes)",
            if i == 0 { "fingers" } else { "" },
            f.id,
            f.position,
            f.format,
            f.data.len()
        ));
    }
    out.line(format_args!("  cards        {}", list(&u.cards)));
    out.line(format_args!(
        "  codes        {} (never shown)",
        count(u.codes.len(), "access code")
    ));
    out.line(format_args!("  plates       {}", list(&u.plates)));
    if u.rights.is_empty() {
        out.line("  rights       -");
    }
    for (i, r) in u.rights.iter().enumerate() {
        out.line(format_args!(
            "  {:<12} {} ({})",
            if i == 0 { "rights" } else { "" },
            r.doors.join(", "),
            r.schedule
                .as_ref()
                .map_or("always".to_string(), |s| format!("schedule {s}"))
        ));
    }
    out.line(format_args!("  record hash  {hash}"));
    Ok(json!({
        "location": a.location,
        "user": u.id,
        "name": u.name,
        "enabled": u.enabled,
        "valid_from": from,
        "valid_until": until,
        "faces": u.faces,
        "fingers": u.fingers.iter().map(|f| json!({
            "id": f.id, "position": f.position, "format": f.format, "bytes": f.data.len(),
        })).collect::<Vec<_>>(),
        "cards": u.cards,
        "access_codes": u.codes.len(),
        "plates": u.plates,
        "rights": u.rights.iter().map(|r| json!({"doors": r.doors, "schedule": r.schedule})).collect::<Vec<_>>(),
        "record_hash": hash,
    }))
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

/// Prints the answer of a lookup: `location/user`, or "no user" with exit status 1.
fn answer(kind: &str, query: Option<&str>, found: Option<UserRef>, out: Out) -> CmdResult<Value> {
    let report = json!({
        "kind": kind,
        "query": query,
        "found": found.is_some(),
        "location": found.as_ref().map(|r| &r.location),
        "user": found.as_ref().map(|r| &r.user),
    });
    match found {
        Some(r) => {
            out.line(format_args!("{}/{}", r.location, r.user));
            Ok(report)
        }
        None => {
            out.line("no user");
            Err(Fail::no(report))
        }
    }
}

pub fn lookup_card(a: &CardArgs, out: Out) -> CmdResult<Value> {
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
    answer("card", Some(&query), found, out)
}

pub fn lookup_code(a: &CodeArgs, out: Out) -> CmdResult<Value> {
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
    answer("code", None, found, out)
}

pub fn lookup_plate(a: &PlateArgs, out: Out) -> CmdResult<Value> {
    let store = open(&a.scope.store)?;
    check_location(&store, a.scope.location.as_deref())?;
    let found = store.lookup_plate(a.scope.location.as_deref(), &a.plate)?;
    answer("plate", Some(&a.plate), found, out)
}
