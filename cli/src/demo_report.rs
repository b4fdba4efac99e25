//! The answer of `edgeid demo`: what each step did and whether every answer was right, as JSON or
//! as the demo's narration.

use crate::out::{count, human_bytes, Report, Text};
use serde::Serialize;
use std::path::PathBuf;

/// One identification (by face or finger) and whether the demo got the answer it expected.
#[derive(Serialize)]
pub struct ProbeLine {
    pub probe: String,
    /// The user who should be found; none for strangers and deleted users.
    pub expected: Option<String>,
    pub found: Option<String>,
    pub score: Option<f64>,
    pub ms: f64,
    pub ok: bool,
}

impl ProbeLine {
    /// `threshold` as the "nobody" answer names it.
    fn text(&self, t: &mut Text, threshold: &str) {
        let found = match (&self.found, self.score) {
            (Some(u), Some(s)) => format!("{u:<10} score {s:.3}"),
            _ => format!("{:<10} (no score >= {threshold})", "nobody"),
        };
        t.line(format_args!(
            "  {:<20} -> {found:<28} {:>7.2} ms  {}",
            self.probe,
            self.ms,
            if self.ok { "ok" } else { "WRONG" }
        ));
    }
}

/// One lookup by credential.
#[derive(Serialize)]
pub struct LookupLine {
    pub lookup: String,
    pub expected: String,
    pub found: String,
    pub ok: bool,
}

/// The location as `sync status` shows it after the three deltas.
#[derive(Serialize)]
pub struct StatusLine {
    pub location: String,
    pub sequence: u64,
    pub users: usize,
    pub faces: usize,
    pub fingers: usize,
}

/// `edgeid demo`.
#[derive(Serialize)]
pub struct Demo {
    /// Every answer and check was right.
    pub ok: bool,
    pub users: usize,
    /// Face templates of the full synchronisation.
    pub templates: u64,
    /// Users with a fingerprint, card, code, plate and right.
    pub with_credentials: usize,
    pub dim: usize,
    pub model: String,
    pub store: PathBuf,
    /// The store is a temporary directory, removed at exit.
    pub temporary: bool,
    pub full_sync_bytes: usize,
    /// Seconds taken to build the full synchronisation's JSON.
    pub build_s: f64,
    pub full_sync_ms: f64,
    /// The user re-enrolled by the "synchronize user" delta.
    pub resynced: String,
    pub sync_user_ms: f64,
    /// Users re-enrolled by the "synchronize all changes" delta.
    pub changed: usize,
    pub sync_changes_ms: f64,
    pub sequence: u64,
    pub sync_status: StatusLine,
    pub digest: String,
    pub lookups: Vec<LookupLine>,
    pub failed_checks: Vec<String>,
    pub open_ms: f64,
    pub threshold: f64,
    pub probes: Vec<ProbeLine>,
    pub removed: String,
    pub after_removal: ProbeLine,
    pub fingers: Vec<ProbeLine>,
    pub fingers_ok: usize,
    pub finger_fmr: f64,
    pub finger_threshold: f32,
    pub identified: usize,
    pub strangers_rejected: usize,
    pub median_ms: f64,
    /// Live face templates at the end.
    pub live: usize,
    pub live_fingers: usize,
    pub dead: usize,
    pub segments: usize,
    pub kernel: &'static str,
    /// Faces from the test photos (feature `vision`).
    #[cfg(feature = "vision")]
    pub photos: Option<crate::demo_photos::PhotoDemo>,
}

impl Demo {
    fn failed(&self, check: &str) -> bool {
        self.failed_checks.iter().any(|c| c == check)
    }
}

impl Report for Demo {
    fn text(&self, t: &mut Text) {
        let (n, dim) = (self.users, self.dim);
        t.line(format_args!(
            "edgeid demo: {n} synthetic users, {dim}-dim embeddings (model {})",
            self.model
        ));
        t.line(format_args!(
            "store: {}{}",
            self.store.display(),
            if self.temporary {
                " (temporary, removed at exit)"
            } else {
                ""
            }
        ));
        t.line(format_args!(
            "full synchronisation (sequence 1): {n} users, {} face templates, {} with fingerprint, card, code, plate and a right on door {}; {} of JSON built in {:.2} s",
            self.templates,
            self.with_credentials,
            crate::demo::DOOR,
            human_bytes(self.full_sync_bytes as u64),
            self.build_s
        ));
        t.line(format_args!(
            "  applied in {:.2} s ({:.0} templates/s, parse, validation and one durable commit)",
            self.full_sync_ms / 1e3,
            self.templates as f64 / (self.full_sync_ms / 1e3)
        ));
        t.line(format_args!(
            "synchronize user (sequence 2): {} re-enrolled with a new capture, applied in {:.1} ms",
            self.resynced, self.sync_user_ms
        ));
        t.line(format_args!(
            "synchronize all changes (sequence 3): {} re-enrolled, {} deleted (erased from disk at once), applied in {:.1} ms",
            count(self.changed, "user"),
            self.removed,
            self.sync_changes_ms
        ));
        if !self.failed(crate::demo::RESENT) {
            t.line("  the same delta re-sent: already applied, nothing changed");
        }
        let st = &self.sync_status;
        t.line(format_args!(
            "sync status: location {}, sequence {}, {}, {}, {}",
            st.location,
            st.sequence,
            count(st.users, "user"),
            count(st.faces, "face"),
            count(st.fingers, "finger")
        ));
        t.line(format_args!("  digest {}", self.digest));
        if self.lookups.is_empty() {
            t.line("lookups: skipped (no user with credentials left)");
        } else {
            t.line("lookups:");
        }
        for l in &self.lookups {
            t.line(format_args!(
                "  {:<28} -> {:<16} {}",
                l.lookup,
                l.found,
                if l.ok { "ok" } else { "WRONG" }
            ));
        }
        t.line(format_args!(
            "reopened the store in {:.2} ms ({} live templates, kernel {}){}",
            self.open_ms,
            self.live,
            self.kernel,
            if self.failed(crate::demo::SAME_DIGEST) {
                ""
            } else {
                "; digest unchanged"
            }
        ));
        let face_threshold = self.threshold.to_string();
        t.line(format_args!("identify (k=1, threshold {face_threshold}):"));
        for p in &self.probes {
            p.text(t, &face_threshold);
        }
        t.line(format_args!(
            "deleted by the platform ({}); probing:",
            self.removed
        ));
        self.after_removal.text(t, &face_threshold);
        let finger_threshold = format!("{:.4}", self.finger_threshold);
        t.line(format_args!(
            "identify by fingerprint (k=1, FMR {:.0e}: score >= {finger_threshold}):",
            self.finger_fmr
        ));
        for p in &self.fingers {
            p.text(t, &finger_threshold);
        }
        t.line(format_args!(
            "stats: {} live face templates, {} fingerprint templates, {} dead, {} segment(s), kernel {}",
            self.live, self.live_fingers, self.dead, self.segments, self.kernel
        ));
        for c in &self.failed_checks {
            t.line(format_args!("  WRONG: {c}"));
        }
        let known = self.probes.iter().filter(|p| p.expected.is_some()).count();
        let strangers = self.probes.len() - known;
        t.line(format_args!(
            "{}/{known} enrolled users identified, {}/{strangers} strangers rejected, removed user {}, {}/{} fingerprint answers right, {}/{} lookups right, median {:.2} ms",
            self.identified,
            self.strangers_rejected,
            if self.after_removal.ok {
                "no longer identified"
            } else {
                "STILL IDENTIFIED"
            },
            self.fingers_ok,
            self.fingers.len(),
            self.lookups.iter().filter(|l| l.ok).count(),
            self.lookups.len(),
            self.median_ms
        ));
        #[cfg(feature = "vision")]
        if let Some(p) = &self.photos {
            p.text(t);
        }
    }
}
