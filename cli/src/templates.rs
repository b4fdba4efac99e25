//! What face and fingerprint enrolment by hand have in common: one commit putting or removing a
//! user's templates, the answer it gives (`Added`, `Removed`), and erasing removed templates from
//! disk at once.

use crate::args::{RemoveArgs, TemplateAt};
use crate::out::{count, ms, round3, CmdResult, Fail, Report, Text};
use edgeid::store::Committed;
use edgeid::{Change, Store};
use serde::Serialize;
use std::time::Instant;

/// Which index a command works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Face,
    Finger,
}

impl Kind {
    /// What one template of this kind is called in messages.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Face => "template",
            Kind::Finger => "fingerprint template",
        }
    }

    /// Live templates of this kind in the store.
    fn live(self, store: &Store) -> usize {
        let snap = store.snapshot();
        match self {
            Kind::Face => snap.live_faces(),
            Kind::Finger => snap.live_fingers(),
        }
    }
}

/// The answer of `face add` and `finger add`.
#[derive(Serialize)]
pub struct Added {
    pub location: String,
    pub user: String,
    pub template: String,
    /// Finger position (fingerprints only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<u8>,
    /// Minutiae of the enrolled view (fingerprints only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minutiae: Option<usize>,
    /// The user already had a template with this id: it was replaced (or put again unchanged).
    pub replaced: bool,
    /// The same template was put again: nothing was written.
    pub unchanged: bool,
    pub seq: u64,
    /// Live templates of this kind in the store.
    pub live: usize,
    #[serde(skip)]
    kind: Kind,
}

impl Report for Added {
    fn text(&self, t: &mut Text) {
        let detail = match (self.minutiae, self.position) {
            (Some(m), Some(p)) => format!("{}, finger position {p}; ", minutiae(m)),
            _ => String::new(),
        };
        t.line(format_args!(
            "{} {} {} of user {} at {} ({detail}seq {}, {})",
            if self.replaced { "replaced" } else { "added" },
            self.kind.noun(),
            self.template,
            self.user,
            self.location,
            self.seq,
            count(self.live, &format!("live {}", self.kind.noun()))
        ));
    }
}

/// "1 minutia", "2 minutiae".
pub fn minutiae(n: usize) -> String {
    format!("{n} minuti{}", if n == 1 { "a" } else { "ae" })
}

/// Commits one put of a template (`change` is a `PutFace` or `PutFinger` for `a`'s ids) and says
/// what happened. Whether it replaced a template is the store's answer, not a guess.
pub fn put(store: &Store, kind: Kind, a: &TemplateAt, change: Change) -> CmdResult<Added> {
    let done: Committed = store.commit(&[change])?;
    Ok(Added {
        location: a.who.location.clone(),
        user: a.who.user.clone(),
        template: a.template.clone(),
        position: None,
        minutiae: None,
        replaced: done.replaced + done.unchanged > 0,
        unchanged: done.unchanged > 0,
        seq: done.seq,
        live: kind.live(store),
        kind,
    })
}

/// The answer of `face remove` and `finger remove`.
#[derive(Serialize)]
pub struct Removed {
    pub location: String,
    pub user: String,
    /// The template removed, or none when all the user's templates of this kind were.
    pub template: Option<String>,
    /// Templates removed.
    pub removed: usize,
    pub seq: u64,
    /// Erased from disk now (no old file still in use).
    pub erased: bool,
    /// Old files still in use, overwritten at the next commit.
    pub files_pending_erase: usize,
    pub erase_ms: f64,
    /// Why the erasure could not be done now (the removal itself is durable; the command exits
    /// with 1 and the erasure is retried by the next commit or `edgeid compact`). Absent when
    /// it was done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub erase_error: Option<String>,
    #[serde(skip)]
    kind: Kind,
}

impl Report for Removed {
    fn text(&self, t: &mut Text) {
        let what = match &self.template {
            Some(tpl) => format!("{} {tpl}", self.kind.noun()),
            None => count(self.removed, self.kind.noun()),
        };
        t.line(format_args!(
            "removed {what} of user {} at {} (seq {})",
            self.user, self.location, self.seq
        ));
        if let Some(e) = &self.erase_error {
            t.line(format_args!(
                "the removal is durable; erasing its bytes from disk is pending: {e}"
            ));
        } else if self.erased {
            t.line(format_args!(
                "erased from disk now: log checkpointed, segments rewritten, old files overwritten and deleted ({:.1} ms)",
                self.erase_ms
            ));
        } else {
            t.line(format_args!(
                "erased from the store's files; {} old file(s) still in use will be overwritten at the next commit",
                self.files_pending_erase
            ));
        }
    }
}

/// Removes one template or all of a user's templates of `kind` (the other kind stays), then
/// erases their bytes from disk at once.
pub fn remove(store: &Store, kind: Kind, a: &RemoveArgs) -> CmdResult<Removed> {
    let (location, user) = (a.who.location.clone(), a.who.user.clone());
    let change = match (kind, a.template.clone()) {
        (Kind::Face, Some(template)) => Change::RemoveFace {
            location,
            user,
            template,
        },
        (Kind::Face, None) => Change::RemoveUserFaces { location, user },
        (Kind::Finger, Some(template)) => Change::RemoveFinger {
            location,
            user,
            template,
        },
        (Kind::Finger, None) => Change::RemoveUserFingers { location, user },
    };
    // The library's message names the batch position ("change 0"); say it in the user's terms.
    let done = store.commit(&[change]).map_err(|e| match e {
        edgeid::Error::NotFound(_) => Fail::new(match &a.template {
            Some(t) => format!(
                "user {} has no {} {t} at location {}",
                a.who.user,
                kind.noun(),
                a.who.location
            ),
            None => format!(
                "user {} has no {}s at location {}",
                a.who.user,
                kind.noun(),
                a.who.location
            ),
        }),
        other => other.into(),
    })?;
    // Biometric data must not linger: checkpoint, compact and scrub now rather than within the
    // store's erase deadline.
    let t = Instant::now();
    let erased = store.erase_deleted();
    let erase_ms = ms(t.elapsed());
    let mut report = Removed {
        location: a.who.location.clone(),
        user: a.who.user.clone(),
        template: a.template.clone(),
        removed: done.removed,
        seq: done.seq,
        erased: false,
        files_pending_erase: 0,
        erase_ms: round3(erase_ms),
        erase_error: None,
        kind,
    };
    match erased {
        Ok(pending) => {
            report.erased = pending == 0;
            report.files_pending_erase = pending;
            Ok(report)
        }
        // The removal is durable (committed above); only the erasure is left to do. Exit status 1
        // because the command promised to erase now, with the report saying what did happen.
        Err(e) => {
            let message = format!(
                "the removal is durable (seq {}), but erasing its bytes from disk failed: {e}; the erasure is retried by the next commit or `edgeid compact`",
                done.seq
            );
            report.erase_error = Some(e.to_string());
            Err(Fail::with(message, report))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{StoreArg, UserAt};
    use edgeid::fs::SimFs;
    use edgeid::OpenOptions;
    use std::path::Path;
    use std::sync::Arc;

    /// A removal is durable once committed: when the erasure after it finds the disk full, `remove`
    /// says so (and that the erasure is pending), never that anything was refused.
    #[test]
    fn a_removal_whose_erasure_fills_the_disk_says_it_is_durable() {
        let fs = SimFs::new();
        let opts = || OpenOptions::new().fs(Arc::new(fs.clone())).threads(1);
        let dir = Path::new("/s");
        let store = Store::create(dir, "m", 8, opts()).unwrap();
        let face = |user: &str, v: [f32; 8]| Change::PutFace {
            location: "a".into(),
            user: user.into(),
            template: "t".into(),
            embedding: v.to_vec(),
        };
        store
            .commit(&[
                face("u", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]),
                face("v", [8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]),
            ])
            .unwrap();
        store.checkpoint().unwrap();
        // Room for the removal's log record, not for the compaction that erases the bytes.
        fs.full_after(120);
        let args = RemoveArgs {
            store: StoreArg { store: dir.into() },
            who: UserAt {
                user: "u".into(),
                location: "a".into(),
            },
            template: None,
        };
        let fail = match remove(&store, Kind::Face, &args) {
            Ok(_) => panic!("the erasure cannot have been done on a full disk"),
            Err(f) => f,
        };
        assert!(
            fail.message.contains("removal is durable") && !fail.message.contains("refused"),
            "{}",
            fail.message
        );
        assert!(fail.report.is_some(), "the removal's report is printed too");
        assert!(store.maintenance_error().is_some());
        // Space frees: the next maintain (or commit) erases.
        fs.set_capacity(None);
        store.maintain().unwrap();
        assert_eq!(store.maintenance_error(), None);
        let u = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let u = edgeid::face::normalize(&u, 8).unwrap();
        let ub: Vec<u8> = u.iter().flat_map(|f| f.to_le_bytes()).collect();
        for (p, b) in fs.all_bytes() {
            assert!(!b.windows(ub.len()).any(|w| w == ub), "{}", p.display());
        }
        drop(store);
        let store = Store::open(dir, opts()).unwrap();
        assert_eq!(store.snapshot().live_faces(), 1, "the removal is durable");
    }
}
