//! The terminal's copy of the platform's users: `sync apply|status|digest` (`user show` and the
//! lookups are in `user_cmds.rs`).

use crate::args::StoreArg;
use crate::out::{count, ms, open_store, round3, CmdResult, Fail, Out, Report, Text};
use clap::Args;
use edgeid::sync::{Outcome, Progress, Refusal};
use edgeid::{Error, OpenOptions, Store};
use indicatif::ProgressBar;
use serde::Serialize;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Instant;

/// Opens a store read-only for a command that only reads (see `out::open_read_only`); none of
/// these commands searches, so no search thread pool is started.
pub fn open_read_only(a: &StoreArg) -> Result<Store, Fail> {
    crate::out::open_read_only(&a.store, OpenOptions::new().threads(1))
}

#[derive(Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Delta files (JSON, format edgeid.delta/1), applied in this order.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Largest delta accepted, in MiB (default 64; see docs/sync-protocol.md, "Limits"). A larger
    /// file is refused without being read.
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    max_delta_mib: Option<u64>,
    /// The detached signature of the one FILE (default: `FILE.sig` beside each FILE, when it
    /// exists; a FILE without one is applied unsigned). See docs/sync-protocol.md, "Signed deltas".
    #[arg(long, value_name = "SIGFILE")]
    signature: Option<PathBuf>,
    /// Read each FILE as a stream: any size, in bounded memory, still atomic (unsigned deltas
    /// whose `changes` is the last member; docs/sync-protocol.md, "Large deltas").
    #[arg(long, conflicts_with_all = ["signature", "max_delta_mib"])]
    stream: bool,
}

/// One file's line of the report. `location`/`sequence` of a refused delta are read from the file
/// when it is JSON enough to have them, so the platform knows which delta to resend.
#[derive(Serialize, Default)]
pub struct FileResult {
    file: String,
    /// applied, already-applied, refused, failed or not-applied.
    status: &'static str,
    /// Why a refused delta was refused, for programs: parse, version, invalid, gap, conflict,
    /// stale, too-large or signature (docs/sync-protocol.md, "Refusals"); null otherwise.
    refusal: Option<&'static str>,
    /// The signature file applied with the delta (null: unsigned).
    signature: Option<String>,
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
    if a.signature.is_some() && a.files.len() != 1 {
        return Err(Fail::new(
            "--signature names the signature of one delta file: give exactly one FILE (or put each signature beside its file as FILE.sig)",
        ));
    }
    if let Some(sig) = a.signature.as_ref().filter(|s| !s.is_file()) {
        return Err(Fail::new(format!(
            "{}: no such file; nothing was applied",
            sig.display()
        )));
    }
    // Applying does not search: no search thread pool to start.
    let mut opts = OpenOptions::new().threads(1);
    if let Some(m) = a.max_delta_mib {
        opts = opts.max_delta_bytes(usize::try_from(m << 20).unwrap_or(usize::MAX));
    }
    let store = open_store(&a.store.store, opts)?;
    let limit = store.max_delta_bytes();
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
        // Checked above, but it may have gone since: report what was applied before it. A file
        // over the limit is refused unread (the store would refuse it anyway, after the read).
        let size = std::fs::metadata(f).map_or(0, |m| m.len());
        let over = (size > limit as u64).then(|| {
            Error::Refused(Refusal::TooLarge {
                size: usize::try_from(size).unwrap_or(usize::MAX),
                limit,
            })
        });
        let over = over.filter(|_| !a.stream);
        let read = match over {
            Some(_) => Ok(Vec::new()),
            None if a.stream => Ok(Vec::new()),
            None => std::fs::read(f),
        };
        let sig_file = a.signature.clone().filter(|_| !a.stream).or_else(|| {
            let mut p = f.clone().into_os_string();
            p.push(".sig");
            Some(PathBuf::from(p)).filter(|p| !a.stream && p.is_file())
        });
        let read = read.and_then(|b| match &sig_file {
            Some(p) => std::fs::read(p).map(|s| (b, Some(s))),
            None => Ok((b, None)),
        });
        let (bytes, sig) = match read {
            Ok(b) => b,
            Err(e) => {
                stopped = Some(format!("{file} could not be read"));
                results.push(FileResult {
                    reason: Some(format!("read {file} (or its signature): {e}")),
                    file,
                    status: "failed",
                    ..FileResult::default()
                });
                continue;
            }
        };
        let (r, took) = match over {
            Some(e) => (Err(e), 0.0),
            None if a.stream => apply_stream(&store, f),
            None => apply_one(&store, &bytes, sig.as_deref(), out),
        };
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
                let (status, refusal, reason) = match e {
                    Error::Refused(r) => ("refused", Some(r.kind()), r.to_string()),
                    other => ("failed", None, other.to_string()),
                };
                stopped = Some(format!("{file} was {status}"));
                let (location, sequence) = peek(&bytes);
                FileResult {
                    status,
                    refusal,
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
            signature: sig_file.map(|p| p.display().to_string()),
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

/// Applies one delta (with its signature envelope, if any) with a progress bar while it is
/// validated; the result and the milliseconds it took.
pub fn apply_one(
    store: &Store,
    bytes: &[u8],
    signature: Option<&[u8]>,
    out: Out,
) -> (edgeid::Result<Outcome>, f64) {
    let mut bar: Option<ProgressBar> = None;
    let t = Instant::now();
    let r = store.apply_signed_delta(bytes, signature, &mut |p| match p {
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

/// Applies one delta file as a stream (see `--stream`); the result and the milliseconds it took.
fn apply_stream(store: &Store, f: &std::path::Path) -> (edgeid::Result<Outcome>, f64) {
    let t = Instant::now();
    let r = std::fs::File::open(f)
        .map_err(|e| Error::io("open", f, e))
        .and_then(|file| {
            let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
            store.apply_delta_reader(&mut reader, &mut |_| {})
        });
    (r, ms(t.elapsed()))
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
    let store = open_read_only(a)?;
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

/// `sync digest`. A location never synchronised holds nothing: its digest is that of the empty
/// state ([`edgeid::sync::EMPTY_DIGEST`]), sequence 0, with a note on stderr in case the location
/// id was mistyped.
#[derive(Serialize)]
pub struct Digest {
    location: String,
    digest: String,
    sequence: u64,
    synchronised: bool,
}

impl Report for Digest {
    fn text(&self, t: &mut Text) {
        t.line(&self.digest);
    }
}

pub fn digest(a: &DigestArgs) -> CmdResult<Digest> {
    let store = open_read_only(&a.store)?;
    let (digest, synchronised) = match store.digest(&a.location) {
        Ok(d) => (d, true),
        Err(Error::NotFound(_)) => {
            eprintln!(
                "edgeid: note: location {} has never been synchronised; this is the digest of an empty location (see `edgeid sync status`)",
                a.location
            );
            (edgeid::sync::EMPTY_DIGEST.to_string(), false)
        }
        Err(e) => return Err(e.into()),
    };
    let sequence = store
        .sync_status()
        .into_iter()
        .find(|l| l.location == a.location)
        .map_or(0, |l| l.sequence);
    Ok(Digest {
        location: a.location.clone(),
        digest,
        sequence,
        synchronised,
    })
}
