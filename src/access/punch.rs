//! Time-and-attendance punches: a grant at a door with a punch (or with a punch the terminal's
//! function keys chose) records `check_in`, `check_out`, `break_out`, `break_in`, `overtime_in`
//! or `overtime_out` for the user. A second punch of the same kind by the same user within the
//! door's `duplicate_window` (seconds, measured from the last punch of that kind that was **not**
//! a duplicate) is reported as a duplicate: the door still opens, the punch is marked so the
//! platform does not count it twice, and the window is not extended by it.

use super::state::StateFile;

/// The punch kinds.
pub const PUNCHES: &[&str] = &[
    "check_in",
    "check_out",
    "break_out",
    "break_in",
    "overtime_in",
    "overtime_out",
];

/// Whether a punch of `kind` by `user` at `now` is a duplicate within `window` seconds.
pub fn is_duplicate(
    s: &StateFile,
    location: &str,
    user: &str,
    kind: &str,
    window: u64,
    now: i64,
) -> bool {
    s.punches
        .get(&(location.to_string(), user.to_string(), kind.to_string()))
        .is_some_and(|&t| now >= t && now.saturating_sub(t) < window as i64)
}

/// Records a punch that was not a duplicate.
pub fn record(s: &mut StateFile, location: &str, user: &str, kind: &str, now: i64) {
    s.punches.insert(
        (location.to_string(), user.to_string(), kind.to_string()),
        now,
    );
}
