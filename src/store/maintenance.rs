//! Housekeeping: what runs after a durable commit, on [`Store::maintain`] and at open — the
//! checkpoint of a full tail and the erasure of deleted templates when due — and what happens when
//! it fails.
//!
//! # A failure of housekeeping is not a failure of the commit before it
//! A commit is durable once its log record is fdatasynced; the checkpoint or erasure that may follow
//! only moves bytes between files. If it fails (typically a full disk), the commit still returns
//! `Ok` with [`Committed::maintenance_pending`] set, the error is kept for [`Stats`] and
//! [`Store::maintenance_error`], and the work stays due: the next commit or `maintain` retries it
//! (a failed [`Store::erase_deleted`] or [`Store::compact`] makes the erasure due at once). A
//! rewrite that fails on a full disk removes the files it had written, so nothing it did
//! survives and the retry starts clean.
//!
//! # The erasure deadline across restarts
//! A deleted template must leave the flash within [`OpenOptions::erase_within`]. The deadline of the
//! oldest pending deletion runs on the monotonic clock while the store is open; its wall-clock date
//! is what survives a restart:
//! - a commit dates its first pending deletion with [`OpenOptions::clock`];
//! - a checkpoint writes that date to the manifest (`unerased_since`) with the time it starts the
//!   new log (`log_started`);
//! - open dates pending deletions from the manifest: deletion files from `unerased_since`,
//!   deletions replayed from the log from `log_started` (they happened after it: erasure may come
//!   early, never late), and erases at once when the deadline has passed;
//! - a date later than the clock at open means one of the two clocks was wrong: the deletion is
//!   due at once, so a wrong clock can never postpone erasure (the cap `now + erase_within` that a
//!   future date would otherwise give could be renewed by every restart);
//! - a manifest from before version 3 has no dates: its pending deletions count from the open, and
//!   the first commit or `maintain` checkpoints to write the date down.
//!
//! [`OpenOptions::erase_within`]: super::OpenOptions::erase_within
//! [`OpenOptions::clock`]: super::OpenOptions::clock
//! [`Committed::maintenance_pending`]: super::Committed::maintenance_pending
//! [`Stats`]: super::Stats

use super::manifest;
use super::{Store, Writer};
use crate::error::Result;
use std::time::{Duration, Instant};

/// The oldest deletion whose template bytes may still be on the flash.
#[derive(Debug, Clone, Copy)]
pub(super) struct Unerased {
    /// Its wall-clock date (Unix seconds), as the manifest records it.
    pub since: u64,
    /// When it must be erased, on the monotonic clock.
    pub due: Instant,
}

impl Unerased {
    /// A deletion dated `since`, seen at wall-clock `now` (both Unix seconds).
    pub fn dated(since: u64, now: u64, within: Duration) -> Unerased {
        let left = if since > now {
            Duration::ZERO // a clock was wrong; waiting on it could last forever
        } else {
            within.saturating_sub(Duration::from_secs(now - since))
        };
        let start = Instant::now();
        Unerased {
            since,
            due: start.checked_add(left).unwrap_or(start),
        }
    }
}

impl Store {
    /// Whether the oldest pending deletion must be erased now.
    pub(super) fn erase_due(&self, w: &Writer) -> bool {
        w.unerased.is_some_and(|u| Instant::now() >= u.due)
    }

    /// Dates the first pending deletion (a commit that deletes calls this).
    pub(super) fn note_deletion(&self, w: &mut Writer) {
        if w.unerased.is_none() {
            let now = self.opts.unix_now();
            w.unerased = Some(Unerased::dated(now, now, self.opts.erase_within));
        }
    }

    /// The housekeeping due now: the erasure when its deadline has passed, else a checkpoint when a
    /// tail is full (or when pending deletions are not yet dated in the manifest); then the scrubbing
    /// of released files. Its outcome is kept for `stats` (see the module docs).
    pub(super) fn housekeep(&self, w: &mut Writer) -> Result<()> {
        let r = if self.erase_due(w) {
            self.erase_locked(w)
        } else if self.tail_full(&self.snapshot())
            || (w.unerased.is_some() && w.manifest.version < manifest::VERSION)
        {
            self.checkpoint_locked(w)
        } else {
            Ok(())
        };
        self.reap(w);
        self.note_maintenance(w, &r);
        r
    }

    /// Keeps the error of housekeeping that failed for `stats`; clears it when housekeeping
    /// succeeds, unless an erasure is still due (a plain checkpoint does not do that work).
    pub(super) fn note_maintenance(&self, w: &mut Writer, r: &Result<()>) {
        if let Err(e) = r {
            self.report(super::LogLevel::Error, || {
                format!("housekeeping failed, kept for retry by the next commit or maintain: {e}")
            });
        }
        w.maintenance = match r {
            Err(e) => Some(e.to_string()),
            Ok(()) if self.erase_due(w) => w.maintenance.take(),
            Ok(()) => None,
        };
        self.publish_files(w);
    }

    /// Periodic housekeeping for a long-running terminal process: erases deleted templates when the
    /// oldest deletion is due, checkpoints a large tail, scrubs released files, and retries what a
    /// commit's housekeeping could not do (see the module docs). Returns that work's error, if any.
    pub fn maintain(&self) -> Result<()> {
        let mut w = self.writer()?;
        self.housekeep(&mut w)
    }

    /// The error of the last housekeeping (checkpoint, compaction, erasure) when it failed and its
    /// work is still to do; `None` once one succeeds. Also in [`Stats`](super::Stats).
    pub fn maintenance_error(&self) -> Option<String> {
        self.published
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .maintenance
            .clone()
    }

    /// Compacts: checkpoints the tail and rewrites every segment with deleted rows, so dead rows stop
    /// costing scan time and their bytes leave the flash. Searches continue meanwhile.
    pub fn compact(&self) -> Result<()> {
        self.erase_deleted().map(|_| ())
    }

    /// Erases deleted templates' bytes now (checkpoint + compaction + scrubbing). Returns how many
    /// obsolete files are still mapped by running searches (scrubbed at a later commit or maintain).
    /// When it fails, the erasure stays due: the next commit or `maintain` retries it.
    pub fn erase_deleted(&self) -> Result<usize> {
        let mut w = self.writer()?;
        let r = self.erase_locked(&mut w);
        if r.is_err() {
            if let Some(u) = &mut w.unerased {
                u.due = Instant::now();
            }
        }
        self.reap(&mut w);
        self.note_maintenance(&mut w, &r);
        r.map(|()| w.graveyard.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_from_dates() {
        let within = Duration::from_secs(600);
        let left = |since, now| {
            let u = Unerased::dated(since, now, within);
            u.due.saturating_duration_since(Instant::now())
        };
        assert!(left(1000, 1000) > Duration::from_secs(590));
        let l = left(1000, 1300);
        assert!(l <= Duration::from_secs(300) && l > Duration::from_secs(290));
        assert_eq!(left(1000, 1600), Duration::ZERO);
        assert_eq!(left(1000, 99_999), Duration::ZERO);
        // A date in the future: a clock was wrong, due now.
        assert_eq!(left(5000, 1000), Duration::ZERO);
        assert_eq!(Unerased::dated(7, 7, Duration::MAX).since, 7, "no overflow");
    }
}
