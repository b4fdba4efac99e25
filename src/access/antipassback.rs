//! Anti-passback: a user who entered an area must leave it before entering again (and the
//! other way round), through the area's entry and exit doors.
//!
//! Each granted passage through a door with anti-passback records the user's direction and time
//! for the area (`state`). A passage in the same direction as the user's last one is a
//! violation — unless that last one is older than the door's `reset_after` (a timed reset: the
//! area forgets the user), or the user never passed (no record: the first passage is free in
//! either direction). A **hard** violation denies (`anti_passback`); a **soft** one grants and
//! reports the violation. Only granted passages are recorded (a soft violation is one).

use super::state::StateFile;
use crate::catalog::{AntiPassback, Direction, PassbackKind};

/// What anti-passback said about a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passback {
    /// The passage is in order.
    Ok,
    /// A soft violation: granted, recorded.
    SoftViolation,
    /// A hard violation: denied.
    Denied,
}

impl Passback {
    /// Stable name in reports and events (`ok`, `soft_violation`, `denied`).
    pub fn code(self) -> &'static str {
        match self {
            Passback::Ok => "ok",
            Passback::SoftViolation => "soft_violation",
            Passback::Denied => "denied",
        }
    }
}

/// Judges a passage of `user` through a door with `apb` at `now` (Unix seconds).
pub fn judge(s: &StateFile, location: &str, apb: &AntiPassback, user: &str, now: i64) -> Passback {
    let last = s
        .passages
        .get(&(location.to_string(), apb.area.clone()))
        .and_then(|m| m.get(user));
    let violation = match last {
        None => false,
        Some(&(dir, t)) => {
            let expired = apb
                .reset_after
                .is_some_and(|r| now.saturating_sub(t) >= r as i64);
            dir == apb.direction && !expired
        }
    };
    match (violation, apb.kind) {
        (false, _) => Passback::Ok,
        (true, PassbackKind::Soft) => Passback::SoftViolation,
        (true, PassbackKind::Hard) => Passback::Denied,
    }
}

/// Records a granted passage.
pub fn record(s: &mut StateFile, location: &str, apb: &AntiPassback, user: &str, now: i64) {
    s.passages
        .entry((location.to_string(), apb.area.clone()))
        .or_default()
        .insert(user.to_string(), (apb.direction, now));
}

/// The direction's name (`entry`, `exit`).
pub fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::Entry => "entry",
        Direction::Exit => "exit",
    }
}
