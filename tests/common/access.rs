//! Door-decision fixtures: a location `hq` (code key `[7; 32]`) with schedules in several time
//! zones, and helpers to put doors and users through format-2 deltas.

use super::deltas::{face, finger, DIM};
use super::{b64, temp_store};
use edgeid::access::{Decision, Presented};
use edgeid::{OpenOptions, Store};
use serde_json::{json, Value};
use std::cell::Cell;
use std::time::SystemTime;

pub const LOC: &str = "hq";

/// An instant from RFC 3339 text.
pub fn at(s: &str) -> SystemTime {
    let t: jiff::Timestamp = s.parse().unwrap();
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(t.as_second() as u64)
}

/// A store and the next sequence of location `hq`.
pub struct Site {
    pub _dir: tempfile::TempDir,
    pub store: Store,
    pub seq: Cell<u64>,
}

pub fn schedules() -> Vec<Value> {
    let s = |id: &str, tz: &str, weekly: Value, holidays: Value| json!({"op": "upsert_schedule", "schedule": {"id": id, "timezone": tz, "weekly": weekly, "holidays": holidays}});
    let weekdays = json!([["08:00", "18:00"]]);
    vec![
        s(
            "office",
            "Europe/Amsterdam",
            json!({"mon": weekdays, "tue": weekdays, "wed": weekdays, "thu": weekdays, "fri": weekdays}),
            json!(["2026-12-25"]),
        ),
        s(
            "night",
            "Europe/Amsterdam",
            json!({"mon": [["22:00", "24:00"]], "tue": [["00:00", "06:00"]]}),
            json!([]),
        ),
        s(
            "kolkata",
            "Asia/Kolkata",
            json!({"mon": [["09:00", "17:00"]]}),
            json!([]),
        ),
    ]
}

impl Site {
    /// A new store with the schedules and one full synchronisation (no users, no doors).
    pub fn new() -> Site {
        Site::with(OpenOptions::new().threads(1))
    }

    pub fn with(opts: OpenOptions) -> Site {
        let (dir, store) = temp_store(DIM, opts);
        let site = Site {
            _dir: dir,
            store,
            seq: Cell::new(0),
        };
        site.full(schedules());
        site
    }

    fn send(&self, kind: &str, changes: Vec<Value>) -> edgeid::Result<()> {
        let seq = self.seq.get() + 1;
        let mut d = json!({"format": "edgeid.delta/2", "location": LOC, "sequence": seq,
                           "kind": kind, "changes": changes});
        if kind == "full" {
            d["code_key"] = json!(b64(&[7; 32]));
        }
        self.store
            .apply_delta(&serde_json::to_vec(&d).unwrap(), &mut |_| {})?;
        self.seq.set(seq);
        Ok(())
    }

    pub fn full(&self, changes: Vec<Value>) {
        self.send("full", changes).unwrap()
    }

    pub fn change(&self, changes: Vec<Value>) {
        self.send("changes", changes).unwrap()
    }

    pub fn try_change(&self, changes: Vec<Value>) -> edgeid::Result<()> {
        self.send("changes", changes)
    }

    pub fn door(&self, door: Value) {
        self.change(vec![json!({"op": "upsert_door", "door": door})])
    }

    pub fn user(&self, user: Value) {
        self.change(vec![json!({"op": "upsert_user", "user": user})])
    }

    pub fn decide(&self, door: &str, when: &str, p: &Presented) -> Decision {
        self.store.decide(LOC, door, Some(at(when)), p).unwrap()
    }
}

/// Ada: face (seed 1), finger `101_1`, card `csn:04A1`, code `1234`, duress code `9999`, plate
/// `AB123`; `rights` as given.
pub fn ada(rights: Value) -> Value {
    json!({"id": "ada", "name": "Ada", "faces": [face("f1", 1)], "fingers": [finger("r1", "101_1")],
           "cards": [{"format": "csn", "number": "04A1"}], "codes": ["1234"], "duress_codes": ["9999"],
           "plates": ["AB-123"], "rights": rights})
}

/// Bob: face (seed 2), card `csn:0B0B`, code `5678`, plate `XY999`; `rights` as given.
pub fn bob(rights: Value) -> Value {
    json!({"id": "bob", "name": "Bob", "faces": [face("f1", 2)],
           "cards": [{"format": "csn", "number": "0B0B"}], "codes": ["5678"],
           "plates": ["XY999"], "rights": rights})
}

/// The code of a decision's reason (`"granted"` when granted).
pub fn outcome(d: &Decision) -> &'static str {
    match d.reason {
        None if d.granted => "granted",
        None => "denied without reason",
        Some(r) => r.code(),
    }
}

/// Nothing presented yet, with a face threshold for the tests' 32-dimensional random faces
/// (two random ones reach cosine 0.5 now and then; a probe of the same face scores above 0.9).
pub fn p() -> Presented {
    Presented::new().options(edgeid::access::DecideOptions {
        face_threshold: 0.7,
        ..Default::default()
    })
}
