//! What the journal records: [`Event`] and its [`EventKind`], their record encoding, and the JSON
//! view the CLI and the C API give the platform ([`EventView`]).
//!
//! # Record payload (version 1)
//! One byte, the record format version (1), then the postcard encoding of
//! `(utc_micros i64, offset_secs i32, dst bool, time_quality, kind)` — the event without its id,
//! which is in the record head (see `segment.rs`). Enums are postcard variant indexes in
//! declaration order, so new [`EventKind`] variants and new reasons are appended at the end and
//! older records still read; a field added to an existing variant needs record version 2 (decoded
//! beside version 1, which then fills the new field with its default).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Record format version written.
pub const RECORD_VERSION: u8 = 1;

/// How far an event's time can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeQuality {
    /// The clock was set since boot (by the platform or NTP) and the time is plausible.
    Synced,
    /// The clock was not set since boot (it runs from the RTC, or from nothing).
    Unsynced,
    /// The time is not plausible: before the journal's floor (a reset clock: 1970, 2000) or
    /// earlier than the event before it. The time is kept as read but must not be taken as real.
    Suspect,
}

impl TimeQuality {
    /// The name used in JSON and by the CLI: `synced`, `unsynced`, `suspect`.
    pub fn name(self) -> &'static str {
        match self {
            TimeQuality::Synced => "synced",
            TimeQuality::Unsynced => "unsynced",
            TimeQuality::Suspect => "suspect",
        }
    }
}

/// A door decision, as plain data (the decision engine fills it; the journal does not interpret
/// it).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DecisionEvent {
    /// Location id.
    pub location: String,
    /// Door id.
    pub door: String,
    /// Granted or denied.
    pub granted: bool,
    /// The reason code of a denial (`outside_schedule`, ...), None when granted.
    pub reason: Option<String>,
    /// The user, when known.
    pub user: Option<String>,
    /// What was presented: `card`, `face`, `finger`, `code`, `plate`, `id`.
    pub factors: Vec<String>,
    /// (factor, score, threshold) of each biometric check.
    pub scores: Vec<(String, f32, f32)>,
    /// A duress code was used (granted, and this raises the alarm).
    pub duress: bool,
    /// Anti-passback outcome, e.g. `soft_violation`.
    pub anti_passback: Option<String>,
    /// Time-and-attendance punch: `check_in`, `check_out`, `break_out`, `break_in`,
    /// `overtime_in`, `overtime_out`.
    pub punch: Option<String>,
    /// The punch repeats the user's previous one within the duplicate-punch window.
    pub duplicate_punch: bool,
}

/// Whether an applied delta was a full synchronisation or changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeltaKind {
    /// A full synchronisation of the location.
    Full,
    /// Changes after the previous sequence.
    Changes,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EventKind {
    /// A door decision.
    Decision(DecisionEvent),
    /// A synchronisation delta was applied (durable before this event was appended).
    DeltaApplied {
        /// Location id.
        location: String,
        /// The delta's sequence.
        sequence: u64,
        /// Full or changes.
        kind: DeltaKind,
        /// The delta's hash (as the location's sync state keeps it).
        hash: [u8; 32],
    },
    /// A synchronisation delta was refused; nothing of it was applied.
    DeltaRefused {
        /// Location id, when the refusal names it.
        location: Option<String>,
        /// The refusal kind (`gap`, `invalid`, ..., see `Refusal::kind`).
        refusal: String,
        /// The refusal's message.
        message: String,
    },
    /// The terminal's clock was set.
    ClockChanged {
        /// The time before (Unix microseconds).
        from_micros: i64,
        /// The time after.
        to_micros: i64,
        /// The quality of the new time.
        quality: TimeQuality,
    },
    /// The journal was full of unacknowledged events and dropped its oldest file: the events
    /// `first_id..=last_id` (`count` of them: every id lost since the last acknowledgement,
    /// including older reports) are lost (see the module docs of `journal`).
    Overflow {
        /// First id dropped.
        first_id: u64,
        /// Last id dropped.
        last_id: u64,
        /// Unacknowledged events dropped.
        count: u64,
    },
}

impl EventKind {
    /// The kind's name in JSON: `decision`, `delta_applied`, `delta_refused`, `clock_changed`,
    /// `overflow`.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Decision(_) => "decision",
            EventKind::DeltaApplied { .. } => "delta_applied",
            EventKind::DeltaRefused { .. } => "delta_refused",
            EventKind::ClockChanged { .. } => "clock_changed",
            EventKind::Overflow { .. } => "overflow",
        }
    }
}

/// One event of the journal.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its id: increasing, never repeated for this store.
    pub id: u64,
    /// UTC time, Unix microseconds.
    pub utc_micros: i64,
    /// The terminal's offset from UTC at that instant, in seconds.
    pub offset_secs: i32,
    /// Whether daylight-saving time was in effect there.
    pub dst: bool,
    /// How far the time can be trusted.
    pub time_quality: TimeQuality,
    /// What happened.
    pub kind: EventKind,
}

/// The event as written, without its id (see the module docs).
#[derive(Serialize)]
struct BodyRef<'a> {
    utc_micros: i64,
    offset_secs: i32,
    dst: bool,
    time_quality: TimeQuality,
    kind: &'a EventKind,
}

#[derive(Deserialize)]
struct Body {
    utc_micros: i64,
    offset_secs: i32,
    dst: bool,
    time_quality: TimeQuality,
    kind: EventKind,
}

/// The time stamp of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// UTC, Unix microseconds.
    pub utc_micros: i64,
    /// Offset from UTC in seconds.
    pub offset_secs: i32,
    /// Daylight-saving time.
    pub dst: bool,
    /// Quality.
    pub quality: TimeQuality,
}

/// Appends the payload of an event (version byte + postcard) to `out`.
pub fn encode(out: &mut Vec<u8>, stamp: &Stamp, kind: &EventKind) -> Result<()> {
    out.push(RECORD_VERSION);
    let body = BodyRef {
        utc_micros: stamp.utc_micros,
        offset_secs: stamp.offset_secs,
        dst: stamp.dst,
        time_quality: stamp.quality,
        kind,
    };
    let taken = std::mem::take(out);
    match postcard::to_extend(&body, taken) {
        Ok(v) => {
            *out = v;
            Ok(())
        }
        Err(e) => Err(Error::Invalid(format!("event cannot be encoded: {e}"))),
    }
}

/// Decodes the payload of event `id` (in file `path`, for errors).
pub fn decode(id: u64, payload: &[u8], path: &std::path::Path) -> Result<Event> {
    let bad = |what: String| Error::corrupt(path, format!("event {id}: {what}"));
    match payload.first() {
        Some(&RECORD_VERSION) => {}
        Some(v) => return Err(bad(format!("record version {v}, this build reads 1"))),
        None => return Err(bad("empty record".into())),
    }
    let b: Body = postcard::from_bytes(&payload[1..]).map_err(|e| bad(e.to_string()))?;
    Ok(Event {
        id,
        utc_micros: b.utc_micros,
        offset_secs: b.offset_secs,
        dst: b.dst,
        time_quality: b.time_quality,
        kind: b.kind,
    })
}

/// The JSON shape of an event for the platform (CLI `events read --json`, C API): `id`, `kind`,
/// `time` (RFC 3339 UTC, microseconds), `offset` (`+01:00`), `offset_secs`, `dst`,
/// `time_quality`, and the fields of the kind (a decision's under `decision`).
#[derive(Debug, Clone, Serialize)]
pub struct EventView<'a> {
    /// Event id.
    pub id: u64,
    /// Kind name (see [`EventKind::name`]).
    pub kind: &'static str,
    /// UTC time, RFC 3339.
    pub time: String,
    /// Local offset, `±HH:MM`.
    pub offset: String,
    /// Local offset in seconds.
    pub offset_secs: i32,
    /// Daylight-saving time.
    pub dst: bool,
    /// `synced`, `unsynced` or `suspect`.
    pub time_quality: &'static str,
    /// The decision, for `decision` events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<DecisionView<'a>>,
    /// The delta, for `delta_applied` and `delta_refused` events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<DeltaView<'a>>,
    /// The clock change, for `clock_changed` events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock: Option<ClockView>,
    /// The lost range, for `overflow` events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overflow: Option<OverflowView>,
}

/// JSON of a decision.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionView<'a> {
    /// Location id.
    pub location: &'a str,
    /// Door id.
    pub door: &'a str,
    /// Granted.
    pub granted: bool,
    /// Denial reason.
    pub reason: Option<&'a str>,
    /// User.
    pub user: Option<&'a str>,
    /// Factors presented.
    pub factors: &'a [String],
    /// Scores.
    pub scores: Vec<ScoreView<'a>>,
    /// Duress.
    pub duress: bool,
    /// Anti-passback outcome.
    pub anti_passback: Option<&'a str>,
    /// Punch.
    pub punch: Option<&'a str>,
    /// Duplicate punch.
    pub duplicate_punch: bool,
}

/// JSON of one score.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreView<'a> {
    /// Factor.
    pub factor: &'a str,
    /// Score.
    pub score: f32,
    /// Threshold.
    pub threshold: f32,
}

/// JSON of a delta event.
#[derive(Debug, Clone, Serialize)]
pub struct DeltaView<'a> {
    /// Location.
    pub location: Option<&'a str>,
    /// Sequence (applied only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// `full` or `changes` (applied only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta_kind: Option<&'static str>,
    /// Hash in hex (applied only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// Refusal kind (refused only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<&'a str>,
    /// Refusal message (refused only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'a str>,
}

/// JSON of a clock change.
#[derive(Debug, Clone, Serialize)]
pub struct ClockView {
    /// Before, RFC 3339.
    pub from: String,
    /// After, RFC 3339.
    pub to: String,
    /// Quality of the new time.
    pub quality: &'static str,
}

/// JSON of an overflow.
#[derive(Debug, Clone, Serialize)]
pub struct OverflowView {
    /// First id lost.
    pub first_id: u64,
    /// Last id lost.
    pub last_id: u64,
    /// Events lost.
    pub count: u64,
}

/// RFC 3339 UTC with microseconds (`1970-01-01T00:00:00Z` style; out-of-range times as a number).
pub fn rfc3339(micros: i64) -> String {
    match jiff::Timestamp::from_microsecond(micros) {
        Ok(t) => format!("{t:.6}"),
        Err(_) => format!("@{micros}us"),
    }
}

/// `±HH:MM` (with `:SS` when the offset has seconds).
pub fn offset_text(secs: i32) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    if a.is_multiple_of(60) {
        format!("{sign}{:02}:{:02}", a / 3600, a / 60 % 60)
    } else {
        format!("{sign}{:02}:{:02}:{:02}", a / 3600, a / 60 % 60, a % 60)
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Event {
    /// The JSON view of this event (see [`EventView`]).
    pub fn view(&self) -> EventView<'_> {
        let mut v = EventView {
            id: self.id,
            kind: self.kind.name(),
            time: rfc3339(self.utc_micros),
            offset: offset_text(self.offset_secs),
            offset_secs: self.offset_secs,
            dst: self.dst,
            time_quality: self.time_quality.name(),
            decision: None,
            delta: None,
            clock: None,
            overflow: None,
        };
        match &self.kind {
            EventKind::Decision(d) => {
                v.decision = Some(DecisionView {
                    location: &d.location,
                    door: &d.door,
                    granted: d.granted,
                    reason: d.reason.as_deref(),
                    user: d.user.as_deref(),
                    factors: &d.factors,
                    scores: d
                        .scores
                        .iter()
                        .map(|(f, s, t)| ScoreView {
                            factor: f,
                            score: *s,
                            threshold: *t,
                        })
                        .collect(),
                    duress: d.duress,
                    anti_passback: d.anti_passback.as_deref(),
                    punch: d.punch.as_deref(),
                    duplicate_punch: d.duplicate_punch,
                })
            }
            EventKind::DeltaApplied {
                location,
                sequence,
                kind,
                hash,
            } => {
                v.delta = Some(DeltaView {
                    location: Some(location),
                    sequence: Some(*sequence),
                    delta_kind: Some(match kind {
                        DeltaKind::Full => "full",
                        DeltaKind::Changes => "changes",
                    }),
                    hash: Some(hex(hash)),
                    refusal: None,
                    message: None,
                })
            }
            EventKind::DeltaRefused {
                location,
                refusal,
                message,
            } => {
                v.delta = Some(DeltaView {
                    location: location.as_deref(),
                    sequence: None,
                    delta_kind: None,
                    hash: None,
                    refusal: Some(refusal),
                    message: Some(message),
                })
            }
            EventKind::ClockChanged {
                from_micros,
                to_micros,
                quality,
            } => {
                v.clock = Some(ClockView {
                    from: rfc3339(*from_micros),
                    to: rfc3339(*to_micros),
                    quality: quality.name(),
                })
            }
            EventKind::Overflow {
                first_id,
                last_id,
                count,
            } => {
                v.overflow = Some(OverflowView {
                    first_id: *first_id,
                    last_id: *last_id,
                    count: *count,
                })
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_and_a_decision_is_small() {
        let stamp = Stamp {
            utc_micros: 1_780_000_000_123_456,
            offset_secs: 3600,
            dst: false,
            quality: TimeQuality::Synced,
        };
        let d = EventKind::Decision(DecisionEvent {
            location: "site-1".into(),
            door: "main".into(),
            granted: true,
            user: Some("u-000123".into()),
            factors: vec!["card".into(), "face".into()],
            scores: vec![("face".into(), 0.61, 0.42)],
            punch: Some("check_in".into()),
            ..DecisionEvent::default()
        });
        let mut out = Vec::new();
        encode(&mut out, &stamp, &d).unwrap();
        assert!(out.len() < 80, "{} bytes", out.len());
        let e = decode(5, &out, std::path::Path::new("x")).unwrap();
        assert_eq!((e.id, e.utc_micros, e.kind), (5, stamp.utc_micros, d));
        assert!(decode(5, &[2, 0], std::path::Path::new("x")).is_err());
        assert_eq!(offset_text(-9000), "-02:30");
        assert_eq!(offset_text(19800), "+05:30");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
    }
}
