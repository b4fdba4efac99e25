//! Whether an instant falls inside a schedule, in the schedule's IANA time zone (`jiff` with its
//! bundled time-zone database).
//!
//! The rule, in full:
//! - The instant is turned into the **wall-clock** date and time of the schedule's zone. Weekly
//!   intervals are wall-clock times `[start, end)` of one weekday (minutes, `end` up to 24:00),
//!   compared at minute precision: 21:59:59 is outside an interval starting at 22:00.
//! - An interval never crosses midnight: a night shift is `mon 22:00–24:00` plus
//!   `tue 00:00–06:00`, which together cover Monday 22:00 to Tuesday 06:00 without a gap (24:00
//!   is the end of Monday, 00:00 the start of Tuesday).
//! - **Spring forward** (a gap): a wall time that does not exist that night is never reached by
//!   any instant, so it is never inside; `02:00–03:00` in Europe/Amsterdam on the last Sunday of
//!   March covers no instant, and an interval `01:00–04:00` covers two real hours that night.
//! - **Fall back** (a fold): both instants of a repeated wall time are inside when the wall time
//!   is; `02:00–03:00` covers two real hours that night.
//! - **Holidays** are local dates in the schedule's zone: on such a date the schedule is closed
//!   all day, whatever its intervals (the night shift's Tuesday-morning part is closed when
//!   Tuesday is a holiday). The decision reports `holiday` rather than `outside_schedule` then.

use crate::catalog::Schedule;
use crate::error::{Error, Result};
use jiff::Timestamp;

/// Where an instant falls in a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InSchedule {
    /// Inside an interval on a day that is not a holiday.
    Inside,
    /// Outside every interval.
    Outside,
    /// On a holiday.
    Holiday,
}

/// Where `at` falls in `s` (see the module docs). Fails only on a time zone this build's
/// database does not know (a delta's zone is checked when it is applied).
pub fn check(s: &Schedule, at: Timestamp) -> Result<InSchedule> {
    let tz = jiff::tz::TimeZone::get(&s.timezone)
        .map_err(|e| Error::Invalid(format!("schedule {:?}: time zone: {e}", s.id)))?;
    let local = tz.to_datetime(at);
    let date = local.date();
    if !s.holidays.is_empty() {
        let day = format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day());
        if s.holidays.contains(&day) {
            return Ok(InSchedule::Holiday);
        }
    }
    let weekday = date.weekday().to_monday_zero_offset() as u8;
    let minute = local.hour() as u16 * 60 + local.minute() as u16;
    let inside = s
        .weekly
        .iter()
        .any(|&(d, a, b)| d == weekday && a <= minute && minute < b);
    Ok(if inside {
        InSchedule::Inside
    } else {
        InSchedule::Outside
    })
}
