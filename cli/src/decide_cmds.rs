//! `edgeid decide`: may this person pass this door now? What the readers collected, as files and
//! flags, decided by the store (`Store::decide`).
//!
//! Exit status 0 when granted, 1 when denied (the report is printed either way) or on errors.

use crate::args::StoreArg;
use crate::finger_cmds::ReadArgs;
use crate::out::{CmdResult, Fail, Report, Text};
use crate::store_cmds::quiet_opts;
use clap::Args;
use edgeid::access::{DecideOptions, Decision, Presented};
use serde::Serialize;
use std::path::PathBuf;
use std::time::SystemTime;

#[derive(Args)]
pub struct DecideArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Location id.
    #[arg(long)]
    location: String,
    /// Door id.
    #[arg(long)]
    door: String,
    /// When (RFC 3339, e.g. 2026-12-01T09:00:00+01:00); default now.
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
    /// A face probe embedding: the store's dimension of little-endian f32, or a JSON array.
    #[arg(long, value_name = "FILE")]
    face: Option<PathBuf>,
    /// A face image (JPEG/PNG) to take the probe from.
    #[cfg(feature = "vision")]
    #[arg(long, value_name = "FILE", conflicts_with = "face")]
    image: Option<PathBuf>,
    #[cfg(feature = "vision")]
    #[command(flatten)]
    vision: crate::vision_cmds::VisionOpts,
    /// A fingerprint minutiae record (ISO/ANSI).
    #[arg(long, value_name = "FILE")]
    finger: Option<PathBuf>,
    #[command(flatten)]
    read: ReadArgs,
    /// A card: csn:HEX, wiegand26:FACILITY:NUMBER or wiegand34:FACILITY:NUMBER.
    #[arg(long)]
    card: Option<String>,
    /// An access code (`-`: read it from standard input, so it stays out of the process list).
    #[arg(long)]
    code: Option<String>,
    /// A licence plate.
    #[arg(long)]
    plate: Option<String>,
    /// A typed user id.
    #[arg(long)]
    id: Option<String>,
    /// The punch chosen on the terminal (check_in, check_out, break_out, break_in, overtime_in,
    /// overtime_out) instead of the door's.
    #[arg(long)]
    punch: Option<String>,
    /// Face threshold (cosine).
    #[arg(long, default_value_t = edgeid::access::DEFAULT_FACE_THRESHOLD, allow_negative_numbers = true)]
    face_threshold: f64,
}

/// A biometric score of a decision.
#[derive(Serialize)]
pub struct ScoreLine {
    factor: &'static str,
    score: f32,
    threshold: f32,
}

/// The decision, as printed.
#[derive(Serialize)]
pub struct Decided {
    location: String,
    door: String,
    at: String,
    granted: bool,
    reason: Option<&'static str>,
    user: Option<String>,
    mode: Option<String>,
    factors: Vec<&'static str>,
    scores: Vec<ScoreLine>,
    duress: bool,
    anti_passback: Option<&'static str>,
    punch: Option<String>,
    duplicate_punch: bool,
}

impl From<Decision> for Decided {
    fn from(d: Decision) -> Self {
        Decided {
            at: jiff::Timestamp::from_second(d.at)
                .map_or_else(|_| d.at.to_string(), |t| t.to_string()),
            granted: d.granted,
            reason: d.reason.map(|r| r.code()),
            mode: d.mode,
            factors: d.factors.iter().map(|f| f.name()).collect(),
            scores: d
                .scores
                .iter()
                .map(|s| ScoreLine {
                    factor: s.factor.name(),
                    score: s.score,
                    threshold: s.threshold,
                })
                .collect(),
            duress: d.duress,
            anti_passback: d.anti_passback.map(|a| a.code()),
            punch: d.punch,
            duplicate_punch: d.duplicate_punch,
            user: d.user,
            location: d.location,
            door: d.door,
        }
    }
}

impl Report for Decided {
    fn text(&self, t: &mut Text) {
        let who = self.user.as_deref().unwrap_or("nobody");
        match self.reason {
            None => t.line(format_args!(
                "granted: {who} at {}/{} ({}, mode {})",
                self.location,
                self.door,
                self.at,
                self.mode.as_deref().unwrap_or("-")
            )),
            Some(r) => t.line(format_args!(
                "denied: {r} ({who} at {}/{}, {})",
                self.location, self.door, self.at
            )),
        }
        for s in &self.scores {
            t.line(format_args!(
                "  {} score {:.4} (threshold {:.4})",
                s.factor, s.score, s.threshold
            ));
        }
        if self.duress {
            t.line("  DURESS: a duress code was used");
        }
        if let Some(a) = self.anti_passback {
            t.line(format_args!("  anti-passback: {a}"));
        }
        if let Some(p) = &self.punch {
            let dup = if self.duplicate_punch {
                " (duplicate)"
            } else {
                ""
            };
            t.line(format_args!("  punch: {p}{dup}"));
        }
    }
}

fn instant(s: &str) -> Result<SystemTime, Fail> {
    let t: jiff::Timestamp = s
        .parse()
        .map_err(|e| Fail::new(format!("--at {s:?}: not an RFC 3339 time: {e}")))?;
    let d = std::time::Duration::from_secs(t.as_second().unsigned_abs());
    Ok(if t.as_second() >= 0 {
        SystemTime::UNIX_EPOCH + d
    } else {
        SystemTime::UNIX_EPOCH - d
    })
}

pub fn decide(a: &DecideArgs) -> CmdResult<Decided> {
    let at = a.at.as_deref().map(instant).transpose()?;
    let store = crate::out::open_store(&a.store.store, quiet_opts())?;
    let mut p = Presented::new().options(DecideOptions {
        face_threshold: a.face_threshold,
        ..Default::default()
    });
    #[cfg(feature = "vision")]
    let image = a.image.is_some();
    #[cfg(not(feature = "vision"))]
    let image = false;
    if a.face.is_some() || image {
        let (v, _) = crate::store_cmds::embedding_of(
            &store,
            &a.face,
            #[cfg(feature = "vision")]
            &a.image,
            #[cfg(feature = "vision")]
            &a.vision,
            #[cfg(feature = "vision")]
            false,
        )?;
        p = p.face(v);
    }
    if let Some(f) = &a.finger {
        let (t, _) = crate::finger_store_cmds::read_view(f, &a.read, None)?;
        p = p.finger(t);
    }
    if let Some(c) = &a.card {
        p = p.card(c);
    }
    if let Some(c) = &a.code {
        p = p.code(&crate::user_cmds::code_arg(c)?);
    }
    if let Some(x) = &a.plate {
        p = p.plate(x);
    }
    if let Some(u) = &a.id {
        p = p.id(u);
    }
    if let Some(k) = &a.punch {
        p = p.punch(k);
    }
    let d = Decided::from(store.decide(&a.location, &a.door, at, &p)?);
    if d.granted {
        Ok(d)
    } else {
        Err(Fail::no(d))
    }
}
