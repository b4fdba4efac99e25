//! The door decision: every mode, every denial reason, schedules (across midnight, both DST
//! transitions of Europe/Amsterdam and America/New_York, a +05:30 zone, holidays), a personal
//! mode, duress, the second-factor timeout.

mod common;
use common::access::*;
use common::deltas::{face_probe, finger_probe};
use edgeid::access::schedule::{check, InSchedule};
use edgeid::access::{Factor, Presented, Reason, REASONS};
use edgeid::catalog::Schedule;
use serde_json::json;
use std::time::Duration;

/// Tuesday 1 December 2026, 10:00 in Amsterdam.
const WORKDAY: &str = "2026-12-01T09:00:00Z";

fn site_with_door(modes: serde_json::Value) -> Site {
    let s = Site::new();
    s.door(json!({"id": "d", "modes": modes}));
    s.user(ada(json!([{"doors": ["d"]}])));
    s.user(bob(json!([{"doors": ["d"]}])));
    s
}

/// Presentations by name: `card`, `face`, `finger`, `code`, `plate`, `id` are Ada's own;
/// `wrong_face` (Bob's), `wrong_finger`, `wrong_code` are not hers; `stranger_face` is nobody's.
fn present(what: &[&str]) -> Presented {
    let mut out = p();
    for w in what {
        out = match *w {
            "card" => out.card("csn:04a1"),
            "face" => out.face(face_probe(1)),
            "finger" => out.finger(finger_probe("101_2")),
            "code" => out.code("1234"),
            "plate" => out.plate("ab 123"),
            "id" => out.id("ada"),
            "wrong_face" => out.face(face_probe(2)),
            "stranger_face" => out.face(face_probe(77)),
            "wrong_finger" => out.finger(finger_probe("102_1")),
            "wrong_code" => out.code("0000"),
            other => panic!("{other}"),
        };
    }
    out
}

#[test]
fn every_mode_grants_with_its_factors_and_names_what_is_wrong() {
    // (mode, presented, expected outcome)
    let cases: &[(&str, &[&str], &str)] = &[
        ("face", &["face"], "granted"),
        ("face", &["stranger_face"], "unknown_face"),
        ("face", &["wrong_face"], "granted"), // Bob's face: Bob passes
        ("finger", &["finger"], "granted"),
        ("finger", &["wrong_finger"], "unknown_finger"),
        ("card", &["card"], "granted"),
        ("code", &["code"], "granted"),
        ("code", &["wrong_code"], "unknown_credential"),
        ("plate", &["plate"], "granted"),
        ("card+face", &["card", "face"], "granted"),
        (
            "card+face",
            &["card", "wrong_face"],
            "second_factor_mismatch",
        ),
        ("card+face", &["card"], "second_factor_missing"),
        ("card+face", &["face"], "second_factor_missing"),
        ("card+finger", &["card", "finger"], "granted"),
        (
            "card+finger",
            &["card", "wrong_finger"],
            "second_factor_mismatch",
        ),
        ("card+code", &["card", "code"], "granted"),
        (
            "card+code",
            &["card", "wrong_code"],
            "second_factor_mismatch",
        ),
        ("card+code", &["code"], "second_factor_missing"),
        ("card+face|code", &["card", "face"], "granted"),
        ("card+face|code", &["card", "code"], "granted"),
        ("card+face|code", &["card"], "second_factor_missing"),
        (
            "card+face|code",
            &["card", "wrong_code"],
            "second_factor_mismatch",
        ),
        ("card+face+code", &["card", "face", "code"], "granted"),
        ("card+face+code", &["card", "face"], "second_factor_missing"),
        (
            "card+face+code",
            &["card", "face", "wrong_code"],
            "second_factor_mismatch",
        ),
        ("id+face", &["id", "face"], "granted"),
        ("id+face", &["id", "wrong_face"], "second_factor_mismatch"),
        ("id+face", &["id"], "second_factor_missing"),
        ("face+code", &["face", "code"], "granted"),
        (
            "face+code",
            &["face", "wrong_code"],
            "second_factor_mismatch",
        ),
        ("finger+code", &["finger", "code"], "granted"),
        ("finger+code", &["finger"], "second_factor_missing"),
        // What was presented is no mode of the door.
        ("card", &["face"], "mode_not_allowed"),
        ("face", &["plate"], "mode_not_allowed"),
    ];
    let modes: std::collections::BTreeSet<&str> = cases.iter().map(|c| c.0).collect();
    for mode in modes {
        let s = site_with_door(json!([mode]));
        for (_, what, expected) in cases.iter().filter(|c| c.0 == mode) {
            let d = s.decide("d", WORKDAY, &present(what));
            assert_eq!(
                outcome(&d),
                *expected,
                "mode {mode}, presented {what:?}: {d:?}"
            );
            if d.granted && !what.contains(&"wrong_face") {
                assert_eq!(d.user.as_deref(), Some("ada"));
                assert_eq!(d.mode.as_deref(), Some(mode));
                assert!(!d.duress);
            }
        }
    }
}

#[test]
fn a_naming_factor_makes_the_biometric_one_to_one() {
    let s = site_with_door(json!(["card+face"]));
    // Bob's face with Ada's card: a 1:N search would find Bob; the 1:1 check against Ada fails.
    let d = s.decide("d", WORKDAY, &p().card("csn:04A1").face(face_probe(2)));
    assert_eq!(d.reason, Some(Reason::SecondFactorMismatch));
    assert_eq!(d.user.as_deref(), Some("ada"));
    assert_eq!(d.scores.len(), 1);
    assert_eq!(d.scores[0].factor, Factor::Face);
    assert!(d.scores[0].score < d.scores[0].threshold);
    let d = s.decide("d", WORKDAY, &p().card("csn:04A1").face(face_probe(1)));
    assert!(d.granted);
    assert!(d.scores[0].score >= d.scores[0].threshold);
    // Two naming factors of different users.
    let d = s.decide(
        "d",
        WORKDAY,
        &p().card("csn:04A1").plate("XY999").face(face_probe(1)),
    );
    assert!(d.granted, "the plate is not part of the mode: {d:?}");
    let s = site_with_door(json!(["card+plate"]));
    let d = s.decide("d", WORKDAY, &p().card("csn:04A1").plate("XY999"));
    assert_eq!(d.reason, Some(Reason::SecondFactorMismatch));
}

#[test]
fn every_denial_reason_has_a_case_and_a_stable_code() {
    let s = Site::new();
    s.door(json!({"id": "d", "modes": ["card", "face", "finger", "card+code"]}));
    s.door(json!({"id": "apb-in", "modes": ["card"],
        "anti_passback": {"area": "lab", "direction": "entry", "kind": "hard"}}));
    s.user(ada(
        json!([{"doors": ["d", "apb-in"], "schedule": "office"}]),
    ));
    s.user(json!({"id": "off", "enabled": false, "cards": [{"format": "csn", "number": "0F"}], "rights": [{"doors": ["d"]}]}));
    s.user(json!({"id": "early", "valid_from": "2027-01-01T00:00:00Z", "cards": [{"format": "csn", "number": "0E"}], "rights": [{"doors": ["d"]}]}));
    s.user(json!({"id": "late", "valid_until": "2026-06-30T23:59:59Z", "cards": [{"format": "csn", "number": "0D"}], "rights": [{"doors": ["d"]}]}));
    s.user(json!({"id": "elsewhere", "cards": [{"format": "csn", "number": "0C"}], "rights": [{"doors": ["other"]}]}));
    let card = |c: &str| p().card(c);
    let mut seen = std::collections::HashSet::new();
    let mut expect = |door: &str, when: &str, p: Presented, r: Option<Reason>| {
        let d = s.decide(door, when, &p);
        assert_eq!(d.reason, r, "{door} {when}: {d:?}");
        assert_eq!(d.granted, r.is_none());
        if let Some(r) = r {
            seen.insert(r);
        }
    };
    expect("nope", WORKDAY, card("csn:04A1"), Some(Reason::UnknownDoor));
    expect(
        "d",
        WORKDAY,
        card("csn:FFFF"),
        Some(Reason::UnknownCredential),
    );
    expect(
        "d",
        WORKDAY,
        p().face(face_probe(77)),
        Some(Reason::UnknownFace),
    );
    expect(
        "d",
        WORKDAY,
        p().finger(finger_probe("103_1")),
        Some(Reason::UnknownFinger),
    );
    expect("d", WORKDAY, card("csn:0F"), Some(Reason::Disabled));
    expect("d", WORKDAY, card("csn:0E"), Some(Reason::NotYetValid));
    expect("d", WORKDAY, card("csn:0D"), Some(Reason::Expired));
    expect("d", WORKDAY, card("csn:0C"), Some(Reason::NoRightForDoor));
    expect(
        "d",
        "2026-12-01T20:00:00Z",
        card("csn:04A1"),
        Some(Reason::OutsideSchedule),
    );
    expect(
        "d",
        "2026-12-25T09:00:00Z",
        card("csn:04A1"),
        Some(Reason::Holiday),
    );
    expect(
        "d",
        WORKDAY,
        p().code("1234"),
        Some(Reason::SecondFactorMissing),
    );
    expect("d", WORKDAY, card("csn:04A1").code("1234"), None);
    expect(
        "d",
        WORKDAY,
        p().plate("AB123"),
        Some(Reason::ModeNotAllowed),
    );
    s.door(json!({"id": "d", "modes": ["card+code"]}));
    expect(
        "d",
        WORKDAY,
        card("csn:04A1").code("4321"),
        Some(Reason::SecondFactorMismatch),
    );
    expect("apb-in", WORKDAY, card("csn:04A1"), None);
    expect(
        "apb-in",
        WORKDAY,
        card("csn:04A1"),
        Some(Reason::AntiPassback),
    );
    for r in REASONS {
        assert!(seen.contains(&r), "no case for {r}");
    }
    let codes: std::collections::HashSet<&str> = REASONS.iter().map(|r| r.code()).collect();
    assert_eq!(codes.len(), REASONS.len());
    assert!(codes
        .iter()
        .all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
}

#[test]
fn bad_input_is_an_error_and_decides_nothing() {
    let s = site_with_door(json!(["card"]));
    for p in [
        p(),
        p().card("04A1"),
        p().card("csn:4A1"),
        p().card("wiegand26:300:1"),
        p().code("12"),
        p().plate("ÄÖ"),
        p().card("csn:04A1").punch("lunch"),
        p().face(vec![1.0; 3]),
    ] {
        assert!(s.store.decide(LOC, "d", Some(at(WORKDAY)), &p).is_err());
    }
    assert!(s
        .store
        .decide(LOC, "", None, &p().card("csn:04A1"))
        .is_err());
    // Wiegand cards as the reader gives them.
    s.user(json!({"id": "w", "cards": [{"format": "wiegand26", "facility": 12, "number": 3456}], "rights": [{"doors": ["d"]}]}));
    let d = s.decide("d", WORKDAY, &p().card("wiegand26:12:3456"));
    assert_eq!(d.user.as_deref(), Some("w"));
    assert!(d.granted);
}

fn sched(tz: &str, weekly: Vec<(u8, u16, u16)>, holidays: &[&str]) -> Schedule {
    Schedule {
        id: "s".into(),
        timezone: tz.into(),
        weekly,
        holidays: holidays.iter().map(|h| h.to_string()).collect(),
        hash: [0; 32],
    }
}

/// Minutes (UTC, one per minute over `hours` hours from `from`) at which `s` is inside.
fn inside_minutes(s: &Schedule, from: &str, hours: i64) -> usize {
    let t0: jiff::Timestamp = from.parse().unwrap();
    (0..hours * 60)
        .filter(|m| {
            let t = t0 + jiff::SignedDuration::from_mins(*m);
            check(s, t).unwrap() == InSchedule::Inside
        })
        .count()
}

const SUN: u8 = 6;

#[test]
fn daylight_saving_gaps_are_never_inside_and_folds_are_inside_twice() {
    // Europe/Amsterdam, 29 March 2026: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
    let gap = sched("Europe/Amsterdam", vec![(SUN, 120, 180)], &[]);
    assert_eq!(inside_minutes(&gap, "2026-03-28T22:00:00Z", 8), 0);
    let around = sched("Europe/Amsterdam", vec![(SUN, 60, 240)], &[]);
    assert_eq!(inside_minutes(&around, "2026-03-28T22:00:00Z", 8), 120);
    // 25 October 2026: 03:00 CEST falls back to 02:00 CET (01:00 UTC): 02:00–03:00 twice.
    let fold = sched("Europe/Amsterdam", vec![(SUN, 120, 180)], &[]);
    assert_eq!(inside_minutes(&fold, "2026-10-24T22:00:00Z", 8), 120);
    assert_eq!(
        check(&fold, "2026-10-25T00:30:00Z".parse().unwrap()).unwrap(),
        InSchedule::Inside
    );
    assert_eq!(
        check(&fold, "2026-10-25T01:30:00Z".parse().unwrap()).unwrap(),
        InSchedule::Inside
    );
    // America/New_York, 8 March 2026: 02:00 EST jumps to 03:00 EDT (07:00 UTC).
    let gap = sched("America/New_York", vec![(SUN, 120, 180)], &[]);
    assert_eq!(inside_minutes(&gap, "2026-03-08T04:00:00Z", 8), 0);
    // 1 November 2026: 02:00 EDT falls back to 01:00 EST (06:00 UTC): 01:00–02:00 twice.
    let fold = sched("America/New_York", vec![(SUN, 60, 120)], &[]);
    assert_eq!(inside_minutes(&fold, "2026-11-01T03:00:00Z", 8), 120);
    // An ordinary Sunday has one hour of it.
    assert_eq!(inside_minutes(&fold, "2026-11-08T03:00:00Z", 8), 60);
}

#[test]
fn half_hour_zones_and_minute_edges() {
    // Asia/Kolkata is UTC+05:30: Monday 09:00 there is 03:30 UTC.
    let k = sched("Asia/Kolkata", vec![(0, 540, 1020)], &[]);
    let at = |s: &str| check(&k, s.parse().unwrap()).unwrap();
    assert_eq!(at("2026-11-30T03:29:59Z"), InSchedule::Outside);
    assert_eq!(at("2026-11-30T03:30:00Z"), InSchedule::Inside);
    assert_eq!(at("2026-11-30T11:29:59Z"), InSchedule::Inside);
    assert_eq!(at("2026-11-30T11:30:00Z"), InSchedule::Outside);
    // Australia/Adelaide: +10:30 in (southern) summer, +09:30 in winter.
    let a = sched("Australia/Adelaide", vec![(0, 540, 600)], &[]);
    let at = |s: &str| check(&a, s.parse().unwrap()).unwrap();
    assert_eq!(at("2026-11-29T22:30:00Z"), InSchedule::Inside); // Mon 09:00 ACDT
    assert_eq!(at("2026-11-29T22:29:00Z"), InSchedule::Outside);
    assert_eq!(at("2026-06-28T23:30:00Z"), InSchedule::Inside); // Mon 09:00 ACST
                                                                // Through a decision: the kolkata schedule of the fixture.
    let s = Site::new();
    s.door(json!({"id": "d", "modes": ["card"]}));
    s.user(ada(json!([{"doors": ["d"], "schedule": "kolkata"}])));
    let card = p().card("csn:04A1");
    assert_eq!(
        outcome(&s.decide("d", "2026-11-30T03:29:00Z", &card)),
        "outside_schedule"
    );
    assert_eq!(
        outcome(&s.decide("d", "2026-11-30T03:30:00Z", &card)),
        "granted"
    );
}

#[test]
fn schedules_across_midnight_and_holidays_by_local_date() {
    let s = Site::new();
    s.door(json!({"id": "d", "modes": ["card"]}));
    s.user(ada(json!([{"doors": ["d"], "schedule": "night"}])));
    let card = p().card("csn:04A1");
    // Night shift Monday 22:00 → Tuesday 06:00 Amsterdam (CET, UTC+1) on 30 Nov / 1 Dec 2026.
    for (when, expected) in [
        ("2026-11-30T20:59:59Z", "outside_schedule"), // Mon 21:59:59
        ("2026-11-30T21:00:00Z", "granted"),          // Mon 22:00
        ("2026-11-30T22:59:59Z", "granted"),          // Mon 23:59:59
        ("2026-11-30T23:00:00Z", "granted"),          // Tue 00:00
        ("2026-12-01T04:59:00Z", "granted"),          // Tue 05:59
        ("2026-12-01T05:00:00Z", "outside_schedule"), // Tue 06:00
        ("2026-12-01T21:30:00Z", "outside_schedule"), // Tue 22:30: no interval
    ] {
        assert_eq!(outcome(&s.decide("d", when, &card)), expected, "{when}");
    }
    // The holiday is the local date: 25 Dec 00:30 in Amsterdam is 24 Dec 23:30 UTC.
    let office = sched(
        "Europe/Amsterdam",
        vec![(3, 0, 1440), (4, 0, 1440), (5, 0, 1440)],
        &["2026-12-25"],
    );
    let at = |x: &str| check(&office, x.parse().unwrap()).unwrap();
    assert_eq!(at("2026-12-24T22:59:00Z"), InSchedule::Inside);
    assert_eq!(at("2026-12-24T23:30:00Z"), InSchedule::Holiday);
    assert_eq!(at("2026-12-25T22:59:00Z"), InSchedule::Holiday);
    assert_eq!(at("2026-12-25T23:00:00Z"), InSchedule::Inside);
    // A right without a schedule beats one outside its schedule.
    s.user(ada(
        json!([{"doors": ["d"], "schedule": "night"}, {"doors": ["d"]}]),
    ));
    assert_eq!(
        outcome(&s.decide("d", "2026-12-01T12:00:00Z", &card)),
        "granted"
    );
}

#[test]
fn mode_schedules_offer_a_mode_only_within_them() {
    let s = Site::new();
    // Card alone in office hours, card+code otherwise.
    s.door(json!({"id": "d", "modes": [{"mode": "card", "schedule": "office"}, "card+code"]}));
    s.user(ada(json!([{"doors": ["d"]}])));
    let card = p().card("csn:04A1");
    assert_eq!(outcome(&s.decide("d", WORKDAY, &card)), "granted");
    assert_eq!(
        outcome(&s.decide("d", "2026-12-01T20:00:00Z", &card)),
        "second_factor_missing"
    );
    let d = s.decide("d", "2026-12-01T20:00:00Z", &card.code("1234"));
    assert_eq!(d.mode.as_deref(), Some("card+code"));
    // A door whose only mode is out of its schedule offers nothing.
    s.door(json!({"id": "d", "modes": [{"mode": "card", "schedule": "office"}]}));
    let card = p().card("csn:04A1");
    assert_eq!(
        outcome(&s.decide("d", "2026-12-01T20:00:00Z", &card)),
        "mode_not_allowed"
    );
}

#[test]
fn a_personal_mode_replaces_the_doors() {
    let s = site_with_door(json!(["card"]));
    let mut a = ada(json!([{"doors": ["d"]}]));
    a["mode"] = json!("card+finger");
    s.user(a);
    let card = p().card("csn:04A1");
    assert_eq!(
        outcome(&s.decide("d", WORKDAY, &card)),
        "second_factor_missing"
    );
    let d = s.decide("d", WORKDAY, &card.finger(finger_probe("101_2")));
    assert!(d.granted, "{d:?}");
    assert_eq!(d.mode.as_deref(), Some("card+finger"));
    // Bob keeps the door's mode.
    assert!(s.decide("d", WORKDAY, &p().card("csn:0B0B")).granted);
}

#[test]
fn a_duress_code_opens_and_raises_the_alarm() {
    let s = site_with_door(json!(["card+code", "code"]));
    let d = s.decide("d", WORKDAY, &p().code("9999"));
    assert!(d.granted && d.duress, "{d:?}");
    assert_eq!(d.user.as_deref(), Some("ada"));
    let d = s.decide("d", WORKDAY, &p().card("csn:04A1").code("9999"));
    assert!(d.granted && d.duress);
    let d = s.decide("d", WORKDAY, &p().card("csn:04A1").code("1234"));
    assert!(d.granted && !d.duress);
    // Bob's card with Ada's duress code: not his code, no alarm for him.
    let d = s.decide("d", WORKDAY, &p().card("csn:0B0B").code("9999"));
    assert_eq!(d.reason, Some(Reason::SecondFactorMismatch));
    assert!(!d.duress);
}

#[test]
fn factors_further_apart_than_the_timeout_do_not_combine() {
    let s = site_with_door(json!(["card+code"]));
    let t = at(WORKDAY);
    let mut q = p().card("csn:04A1").code("1234");
    q.card.as_mut().unwrap().at = Some(t - Duration::from_secs(30));
    q.code.as_mut().unwrap().at = Some(t);
    let d = s.store.decide(LOC, "d", Some(t), &q).unwrap();
    assert_eq!(d.reason, Some(Reason::SecondFactorMissing), "{d:?}");
    q.card.as_mut().unwrap().at = Some(t - Duration::from_secs(5));
    assert!(s.store.decide(LOC, "d", Some(t), &q).unwrap().granted);
    q.options.second_factor_timeout = Duration::from_secs(2);
    assert!(!s.store.decide(LOC, "d", Some(t), &q).unwrap().granted);
}
