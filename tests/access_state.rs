//! The door decision's durable state: anti-passback (hard, soft, timed reset, across a reopen)
//! and duplicate punches.

mod common;
use common::access::*;
use edgeid::access::{Passback, Reason};
use edgeid::{OpenOptions, Store};
use serde_json::json;

fn apb(area: &str, direction: &str, kind: &str, reset: Option<u64>) -> serde_json::Value {
    let mut a = json!({"area": area, "direction": direction, "kind": kind});
    if let Some(r) = reset {
        a["reset_after"] = json!(r);
    }
    a
}

fn site() -> Site {
    let s = Site::new();
    s.door(
        json!({"id": "in", "modes": ["card"], "anti_passback": apb("lab", "entry", "hard", None)}),
    );
    s.door(
        json!({"id": "out", "modes": ["card"], "anti_passback": apb("lab", "exit", "hard", None)}),
    );
    s.door(json!({"id": "soft-in", "modes": ["card"], "anti_passback": apb("hall", "entry", "soft", None)}));
    s.door(json!({"id": "timed-in", "modes": ["card"], "anti_passback": apb("yard", "entry", "hard", Some(3600))}));
    s.door(json!({"id": "clock", "modes": ["card"], "punch": {"kind": "check_in", "duplicate_window": 300}}));
    let all = json!([{"doors": ["in", "out", "soft-in", "timed-in", "clock"]}]);
    s.user(ada(all.clone()));
    s.user(bob(all));
    s
}

const T0: &str = "2026-12-01T08:00:00Z";
const T1: &str = "2026-12-01T08:10:00Z";
const T2: &str = "2026-12-01T08:20:00Z";
const T3: &str = "2026-12-01T09:30:00Z";

#[test]
fn hard_anti_passback_denies_a_second_entry_until_an_exit() {
    let s = site();
    let ada = p().card("csn:04A1");
    let d = s.decide("in", T0, &ada);
    assert!(d.granted);
    assert_eq!(d.anti_passback, Some(Passback::Ok));
    let d = s.decide("in", T1, &ada);
    assert_eq!(d.reason, Some(Reason::AntiPassback));
    assert_eq!(d.anti_passback, Some(Passback::Denied));
    // Bob is tracked apart.
    assert!(s.decide("in", T1, &p().card("csn:0B0B")).granted);
    assert!(s.decide("out", T1, &ada).granted);
    assert_eq!(s.decide("out", T2, &ada).reason, Some(Reason::AntiPassback));
    assert!(s.decide("in", T2, &ada).granted);
    // A denied passage records nothing: a first exit of someone never seen is free.
    let s = site();
    assert!(s.decide("out", T0, &ada).granted);
}

#[test]
fn soft_anti_passback_grants_and_reports_the_violation() {
    let s = site();
    let ada = p().card("csn:04A1");
    assert_eq!(
        s.decide("soft-in", T0, &ada).anti_passback,
        Some(Passback::Ok)
    );
    let d = s.decide("soft-in", T1, &ada);
    assert!(d.granted && d.reason.is_none());
    assert_eq!(d.anti_passback, Some(Passback::SoftViolation));
}

#[test]
fn a_timed_reset_forgets_the_last_passage() {
    let s = site();
    let ada = p().card("csn:04A1");
    assert!(s.decide("timed-in", T0, &ada).granted);
    assert_eq!(
        s.decide("timed-in", T2, &ada).reason,
        Some(Reason::AntiPassback)
    );
    // 90 minutes after the entry, more than reset_after (an hour).
    assert!(s.decide("timed-in", T3, &ada).granted);
}

#[test]
fn anti_passback_and_punches_survive_a_reopen() {
    let s = site();
    let ada = p().card("csn:04A1");
    assert!(s.decide("in", T0, &ada).granted);
    assert!(!s.decide("clock", T0, &ada).duplicate_punch);
    let dir = s._dir.path().to_path_buf();
    let Site { _dir, store, seq } = s;
    drop(store);
    let reopened = Site {
        _dir,
        store: Store::open(&dir, OpenOptions::new().threads(1)).unwrap(),
        seq,
    };
    assert_eq!(
        reopened.decide("in", T1, &ada).reason,
        Some(Reason::AntiPassback)
    );
    assert!(
        reopened
            .decide("clock", "2026-12-01T08:02:00Z", &ada)
            .duplicate_punch
    );
    assert!(dir.join(edgeid::access::state::FILE).exists());
    // A damaged state file is an error for the doors that need it, never a silent reset.
    drop(reopened.store);
    std::fs::write(
        dir.join(edgeid::access::state::FILE),
        b"EDGEIDAS garbage garbage garbage",
    )
    .unwrap();
    let store = Store::open(&dir, OpenOptions::new().threads(1)).unwrap();
    assert!(store.decide(LOC, "in", Some(at(T2)), &ada).is_err());
    // Doors without anti-passback or punches do not read it.
    let d = store.decide(LOC, "nope", Some(at(T2)), &ada).unwrap();
    assert_eq!(d.reason, Some(Reason::UnknownDoor));
}

#[test]
fn duplicate_punches_within_the_window() {
    let s = site();
    let ada = p().card("csn:04A1");
    let d = s.decide("clock", "2026-12-01T08:00:00Z", &ada);
    assert_eq!(
        (d.punch.as_deref(), d.duplicate_punch),
        (Some("check_in"), false)
    );
    // 4 minutes later: a duplicate, the door still opens.
    let d = s.decide("clock", "2026-12-01T08:04:00Z", &ada);
    assert!(d.granted && d.duplicate_punch);
    // 5 minutes after the first (the duplicate did not extend the window): a new punch.
    let d = s.decide("clock", "2026-12-01T08:05:00Z", &ada);
    assert!(!d.duplicate_punch);
    // Another kind chosen on the terminal is not a duplicate of check_in.
    let d = s.decide(
        "clock",
        "2026-12-01T08:06:00Z",
        &p().card("csn:04A1").punch("break_out"),
    );
    assert_eq!(
        (d.punch.as_deref(), d.duplicate_punch),
        (Some("break_out"), false)
    );
    // Bob's punch is his own.
    assert!(
        !s.decide("clock", "2026-12-01T08:06:00Z", &p().card("csn:0B0B"))
            .duplicate_punch
    );
    // Denied decisions punch nothing.
    let d = s.decide("clock", "2026-12-01T08:07:00Z", &p().card("csn:FFFF"));
    assert_eq!(d.punch, None);
}

#[test]
fn every_decision_is_in_the_journal_before_it_is_returned() {
    let s = site();
    let before = s.store.journal().read(0, 10_000).unwrap().events.len();
    let made = vec![
        s.decide("in", T0, &p().card("csn:04A1")),
        s.decide("in", T1, &p().card("csn:04A1")),
        s.decide("clock", T1, &p().code("9999")),
        s.decide("nope", T1, &p().card("csn:FFFF")),
    ];
    // Bad input is an error, not a decision: not journaled.
    assert!(s.store.decide(LOC, "in", Some(at(T2)), &p()).is_err());
    let page = s.store.journal().read(0, 10_000).unwrap();
    let decisions: Vec<_> = page.events[before..]
        .iter()
        .filter_map(|e| match &e.kind {
            edgeid::journal::EventKind::Decision(d) => Some((e.utc_micros, d.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(decisions.len(), made.len());
    for ((micros, ev), d) in decisions.iter().zip(&made) {
        assert_eq!(*ev, edgeid::access::journal_event(d));
        assert_eq!(*micros, d.at * 1_000_000);
    }
    let (_, ev) = &decisions[1];
    assert_eq!(
        (ev.granted, ev.reason.as_deref()),
        (false, Some("anti_passback"))
    );
    assert_eq!(ev.anti_passback.as_deref(), Some("denied"));
    let (_, ev) = &decisions[2];
    assert!(
        ev.duress && ev.reason.as_deref() == Some("mode_not_allowed"),
        "the alarm is raised even when denied"
    );
    assert_eq!(ev.factors, vec!["code".to_string()]);
    // Still there after a reopen.
    let dir = s._dir.path().to_path_buf();
    let Site { _dir, store, .. } = s;
    drop(store);
    let store = Store::open(&dir, OpenOptions::new().threads(1)).unwrap();
    let again = store.journal().read(0, 10_000).unwrap();
    assert_eq!(again.events.len(), page.events.len());
}
