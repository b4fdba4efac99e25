//! What the terminal knows of the platform's users: `user show` and `lookup card|code|plate`.

use crate::args::StoreArg;
use crate::out::{count, CmdResult, Fail, Report, Text};
use crate::sync_cmds::open_read_only;
use clap::Args;
use edgeid::sync::{canonical, UserRef};
use edgeid::Store;
use serde::Serialize;
use std::io::BufRead;

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
    let store = open_read_only(&a.store)?;
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
    let store = open_read_only(&a.scope.store)?;
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

/// An access code as given: `-` reads it from standard input (one line).
pub fn code_arg(code: &str) -> Result<String, Fail> {
    if code == "-" {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Fail::new(format!("read the access code from standard input: {e}")))?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    } else {
        Ok(code.to_string())
    }
}

pub fn lookup_code(a: &CodeArgs) -> CmdResult<Answer> {
    let code = code_arg(&a.code)?;
    let store = open_read_only(&a.scope.store)?;
    // The library's message never quotes the code; neither does the report.
    check_location(&store, a.scope.location.as_deref())?;
    let found = store.lookup_code(a.scope.location.as_deref(), &code)?;
    answer("code", None, found)
}

pub fn lookup_plate(a: &PlateArgs) -> CmdResult<Answer> {
    let store = open_read_only(&a.scope.store)?;
    check_location(&store, a.scope.location.as_deref())?;
    let found = store.lookup_plate(a.scope.location.as_deref(), &a.plate)?;
    answer("plate", Some(a.plate.clone()), found)
}
