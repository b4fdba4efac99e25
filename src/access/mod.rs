//! The door decision: may this person pass this door now?
//!
//! [`Store::decide`](crate::Store::decide) takes what the readers collected ([`Presented`]: a
//! face, a fingerprint, a card, a code, a plate, a typed user id, in any combination, each with
//! the instant it was presented) and answers with a [`Decision`]. The checks run in this order,
//! and the first that fails is the [`Reason`]:
//!
//! 1. the door is known at the location (`unknown_door`);
//! 2. the credential is known: the first naming factor (id, card, plate) names a user
//!    (`unknown_credential`); without one, a face or fingerprint identifies 1:N at the
//!    threshold (`unknown_face`, `unknown_finger`), or else a code by its keyed hash
//!    (`unknown_credential`);
//! 3. the user is enabled (`disabled`), 4. within `valid_from` (`not_yet_valid`) and
//!    `valid_until` (`expired`);
//! 5. a right names the door (`no_right_for_door`);
//! 6. the time falls in one of those rights' schedules (`holiday`, `outside_schedule`; see
//!    [`schedule`] for gaps, folds and holidays);
//! 7. the mode is satisfied: the user's personal mode, or one of the door's modes offered now
//!    (a mode's schedule), by the factors that verified against the user (`second_factor_mismatch`
//!    when a factor the modes use did not match the user, `second_factor_missing` when a mode
//!    was begun but not completed, `mode_not_allowed` otherwise — also when no mode is offered
//!    now);
//! 8. anti-passback, if the door has it (`anti_passback`, hard only; see [`antipassback`]).
//!
//! A granted decision at a door with a punch records it ([`punch`]). A duress code verifies like
//! the user's code and sets [`Decision::duress`] (whatever the outcome). Factors presented further
//! apart than [`DecideOptions::second_factor_timeout`] do not combine: only those within it of
//! the latest one count. Anti-passback and punch state is durable before `decide` returns
//! ([`state`]), and so is the decision itself: every decision is appended to the store's event
//! journal ([`journal_event`], `crate::journal`) before it is returned (group commit across
//! concurrent decisions). Bad input (an error, not a decision) is not journaled.
//!
//! Anti-passback and the duplicate-punch window keep their own small state file rather than
//! being rebuilt from the journal's decision events: the journal may drop acknowledged events
//! (its size bound), and a state file of one entry per user and area is read on the first
//! decision that needs it, so opening stays as fast as before.
//!
//! | file | what |
//! |---|---|
//! | `mode.rs` | modes and factors |
//! | `schedule.rs` | an instant in a schedule, in its time zone |
//! | `decide.rs` | the ordered checks |
//! | `antipassback.rs`, `punch.rs` | the two rules on the durable state |
//! | `state.rs` | the durable state file `ACCESS-STATE` |

pub mod antipassback;
mod decide;
pub mod mode;
pub mod punch;
pub mod schedule;
pub mod state;

pub use antipassback::Passback;
pub use mode::{Factor, Factors, Mode};

use crate::finger::template::FingerTemplate;
use crate::journal::DecisionEvent;
use std::time::{Duration, SystemTime};

/// Face threshold (cosine) of [`DecideOptions::default`]: the `default_threshold` of the
/// `w600k_mbf` model descriptor (`models/w600k_mbf.json`), which lies between its genuine and
/// impostor score distributions. A terminal with its own calibration passes its own.
pub const DEFAULT_FACE_THRESHOLD: f64 = 0.30;
/// False-match rate of [`DecideOptions::default`]'s fingerprint threshold (from the built-in
/// calibration, `finger::calibration`).
pub const DEFAULT_FINGER_FMR: f64 = 1e-4;
/// Default [`DecideOptions::second_factor_timeout`].
pub const DEFAULT_SECOND_FACTOR_TIMEOUT: Duration = Duration::from_secs(10);

/// Thresholds and the second-factor timeout of a decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecideOptions {
    /// A face matches at a cosine score at least this.
    pub face_threshold: f64,
    /// A fingerprint matches at a score at least this.
    pub finger_threshold: f32,
    /// Factors presented further apart than this do not combine.
    pub second_factor_timeout: Duration,
}

impl Default for DecideOptions {
    fn default() -> Self {
        DecideOptions {
            face_threshold: DEFAULT_FACE_THRESHOLD,
            finger_threshold: crate::finger::calibration::threshold_for_fmr(DEFAULT_FINGER_FMR),
            second_factor_timeout: DEFAULT_SECOND_FACTOR_TIMEOUT,
        }
    }
}

/// One presented credential and when it was presented (`None`: at the decision's time).
#[derive(Debug, Clone)]
pub struct Shown<T> {
    /// The credential.
    pub value: T,
    /// When it was presented.
    pub at: Option<SystemTime>,
}

/// What the readers collected for one decision.
#[derive(Default)]
pub struct Presented {
    /// A face embedding (the store's model and dimension).
    pub face: Option<Shown<Vec<f32>>>,
    /// A fingerprint, prepared for matching.
    pub finger: Option<Shown<FingerTemplate>>,
    /// A card: `csn:HEX`, `wiegand26:FACILITY:NUMBER` or `wiegand34:FACILITY:NUMBER`.
    pub card: Option<Shown<String>>,
    /// An access code (4..=12 digits; hashed with the location's key, never kept).
    pub code: Option<Shown<String>>,
    /// A licence plate.
    pub plate: Option<Shown<String>>,
    /// A typed user id.
    pub id: Option<Shown<String>>,
    /// The punch chosen on the terminal (a function key), instead of the door's.
    pub punch: Option<String>,
    /// Thresholds and the second-factor timeout.
    pub options: DecideOptions,
}

fn now<T>(value: T) -> Option<Shown<T>> {
    Some(Shown { value, at: None })
}

impl Presented {
    /// Nothing presented yet, default options.
    pub fn new() -> Self {
        Presented::default()
    }
    /// With a face embedding.
    pub fn face(mut self, v: Vec<f32>) -> Self {
        self.face = now(v);
        self
    }
    /// With a fingerprint.
    pub fn finger(mut self, t: FingerTemplate) -> Self {
        self.finger = now(t);
        self
    }
    /// With a card (`csn:HEX`, `wiegand26:F:N`, `wiegand34:F:N`).
    pub fn card(mut self, c: &str) -> Self {
        self.card = now(c.to_string());
        self
    }
    /// With an access code.
    pub fn code(mut self, c: &str) -> Self {
        self.code = now(c.to_string());
        self
    }
    /// With a licence plate.
    pub fn plate(mut self, p: &str) -> Self {
        self.plate = now(p.to_string());
        self
    }
    /// With a typed user id.
    pub fn id(mut self, u: &str) -> Self {
        self.id = now(u.to_string());
        self
    }
    /// With a punch chosen on the terminal.
    pub fn punch(mut self, p: &str) -> Self {
        self.punch = Some(p.to_string());
        self
    }
    /// With these options.
    pub fn options(mut self, o: DecideOptions) -> Self {
        self.options = o;
        self
    }
    /// When each factor present was presented (`None`: at the decision's time).
    fn instants(&self) -> Vec<(Factor, Option<SystemTime>)> {
        let mut out = Vec::new();
        let mut add = |f, at: Option<Option<SystemTime>>| {
            if let Some(at) = at {
                out.push((f, at));
            }
        };
        add(Factor::Face, self.face.as_ref().map(|s| s.at));
        add(Factor::Finger, self.finger.as_ref().map(|s| s.at));
        add(Factor::Card, self.card.as_ref().map(|s| s.at));
        add(Factor::Code, self.code.as_ref().map(|s| s.at));
        add(Factor::Plate, self.plate.as_ref().map(|s| s.at));
        add(Factor::Id, self.id.as_ref().map(|s| s.at));
        out
    }
}

/// Why a decision denied, from a fixed set with stable codes ([`Reason::code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The door is not known at the location (no synchronised door record).
    UnknownDoor,
    /// No user holds the card, plate, id or code.
    UnknownCredential,
    /// No user's face matches at the threshold.
    UnknownFace,
    /// No user's fingerprint matches at the threshold.
    UnknownFinger,
    /// The user is disabled.
    Disabled,
    /// Before the user's `valid_from`.
    NotYetValid,
    /// After the user's `valid_until`.
    Expired,
    /// No right of the user names this door.
    NoRightForDoor,
    /// Outside every schedule of the user's rights for this door.
    OutsideSchedule,
    /// A holiday in the schedules of the user's rights for this door.
    Holiday,
    /// A mode was begun but a factor it needs was not presented (in time).
    SecondFactorMissing,
    /// A factor the door's modes use did not match the user (a wrong face after the card).
    SecondFactorMismatch,
    /// What was presented is no mode offered here now.
    ModeNotAllowed,
    /// A hard anti-passback violation.
    AntiPassback,
}

/// Every reason, in check order.
pub const REASONS: [Reason; 14] = [
    Reason::UnknownDoor,
    Reason::UnknownCredential,
    Reason::UnknownFace,
    Reason::UnknownFinger,
    Reason::Disabled,
    Reason::NotYetValid,
    Reason::Expired,
    Reason::NoRightForDoor,
    Reason::OutsideSchedule,
    Reason::Holiday,
    Reason::SecondFactorMissing,
    Reason::SecondFactorMismatch,
    Reason::ModeNotAllowed,
    Reason::AntiPassback,
];

impl Reason {
    /// The stable snake_case code (reports, events, the C API).
    pub fn code(self) -> &'static str {
        match self {
            Reason::UnknownDoor => "unknown_door",
            Reason::UnknownCredential => "unknown_credential",
            Reason::UnknownFace => "unknown_face",
            Reason::UnknownFinger => "unknown_finger",
            Reason::Disabled => "disabled",
            Reason::NotYetValid => "not_yet_valid",
            Reason::Expired => "expired",
            Reason::NoRightForDoor => "no_right_for_door",
            Reason::OutsideSchedule => "outside_schedule",
            Reason::Holiday => "holiday",
            Reason::SecondFactorMissing => "second_factor_missing",
            Reason::SecondFactorMismatch => "second_factor_mismatch",
            Reason::ModeNotAllowed => "mode_not_allowed",
            Reason::AntiPassback => "anti_passback",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// A biometric comparison made for a decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Face or finger.
    pub factor: Factor,
    /// The score.
    pub score: f32,
    /// The threshold it was compared with.
    pub threshold: f32,
}

/// The answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Location.
    pub location: String,
    /// Door.
    pub door: String,
    /// When (Unix seconds).
    pub at: i64,
    /// Open the door.
    pub granted: bool,
    /// Why not (None when granted).
    pub reason: Option<Reason>,
    /// The user, once known.
    pub user: Option<String>,
    /// The mode that was satisfied.
    pub mode: Option<String>,
    /// The factors that matched the user.
    pub factors: Factors,
    /// Biometric scores and thresholds.
    pub scores: Vec<Score>,
    /// A duress code was presented: raise the alarm.
    pub duress: bool,
    /// What anti-passback said (None: not checked).
    pub anti_passback: Option<Passback>,
    /// The punch recorded with a grant.
    pub punch: Option<String>,
    /// The punch is a duplicate within the door's window.
    pub duplicate_punch: bool,
}

/// The one conversion of a [`Decision`] into the journal's event (`decide` appends it).
pub fn journal_event(d: &Decision) -> DecisionEvent {
    DecisionEvent {
        location: d.location.clone(),
        door: d.door.clone(),
        granted: d.granted,
        reason: d.reason.map(|r| r.code().to_string()),
        user: d.user.clone(),
        factors: d.factors.iter().map(|f| f.name().to_string()).collect(),
        scores: d
            .scores
            .iter()
            .map(|s| (s.factor.name().to_string(), s.score, s.threshold))
            .collect(),
        duress: d.duress,
        anti_passback: d.anti_passback.map(|a| a.code().to_string()),
        punch: d.punch.clone(),
        duplicate_punch: d.duplicate_punch,
    }
}
