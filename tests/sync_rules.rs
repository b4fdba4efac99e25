//! The validation rules of `docs/sync-protocol.md` that a platform's JSON library or a careless
//! sender could trip over (issue 13, defect 7): each case is refused with a clear error and changes
//! nothing, or — where the rule is about the end state of a delta — accepted.

mod common;
use common::*;
use edgeid::sync::{Outcome, Refusal, MAX_SEQUENCE};
use edgeid::{Error, Store};
use serde_json::{json, Value};

const DIM: usize = 8;
const KEY: [u8; 32] = [42; 32];
const KEY2: [u8; 32] = [7; 32];

fn emb(seed: u64) -> String {
    b64(&le_bytes(&Rng(seed).vector(DIM)))
}

fn user(id: &str) -> Value {
    json!({"id": id, "name": format!("User {id}")})
}

fn delta_with(
    loc: &str,
    seq: u64,
    kind: &str,
    key: Option<[u8; 32]>,
    changes: Vec<Value>,
) -> Value {
    let mut d = json!({"format": "edgeid.delta/1", "location": loc, "sequence": seq, "kind": kind, "changes": changes});
    if let Some(k) = key {
        d["code_key"] = json!(b64(&k));
    }
    d
}

fn delta(seq: u64, kind: &str, changes: Vec<Value>) -> Value {
    let key = (kind == "full").then_some(KEY);
    delta_with("hq", seq, kind, key, changes)
}

fn upsert(u: Value) -> Value {
    json!({"op": "upsert_user", "user": u})
}

fn apply(s: &Store, d: &Value) -> edgeid::Result<Outcome> {
    s.apply_delta(&serde_json::to_vec(d).unwrap(), &mut |_| {})
}

fn apply_bytes(s: &Store, d: &[u8]) -> edgeid::Result<Outcome> {
    s.apply_delta(d, &mut |_| {})
}

/// A store with location `hq` at sequence 1 (users a and b, a schedule and a door).
fn base() -> (edgeid::fs::SimFs, Store) {
    let (fs, s) = sim_store(DIM);
    let mut a = user("a");
    a["cards"] = json!([{"format": "csn", "number": "AA01"}]);
    a["codes"] = json!(["1111"]);
    a["plates"] = json!(["AB-1"]);
    a["rights"] = json!([{"doors": ["front"], "schedule": "office"}]);
    let mut b = user("b");
    b["cards"] = json!([{"format": "csn", "number": "BB02"}]);
    b["codes"] = json!(["2222"]);
    b["plates"] = json!(["CD-2"]);
    apply(
        &s,
        &delta(
            1,
            "full",
            vec![
                json!({"op": "upsert_schedule", "schedule": {"id": "office", "timezone": "UTC"}}),
                json!({"op": "upsert_schedule", "schedule": {"id": "night", "timezone": "UTC"}}),
                json!({"op": "upsert_door", "door": {"id": "front", "modes": ["card"]}}),
                upsert(a),
                upsert(b),
            ],
        ),
    )
    .unwrap();
    (fs, s)
}

/// Applies each refused delta and checks the message and that nothing changed.
fn refused(s: &Store, fs: &edgeid::fs::SimFs, cases: &[(Vec<u8>, &str)]) {
    let digest = s.digest("hq").unwrap();
    let seq = s.sync_status()[0].sequence;
    let files = store_bytes(fs);
    let last_event = s.journal().stats().last_id;
    for (d, want) in cases {
        let e = apply_bytes(s, d).expect_err(want).to_string();
        assert!(e.contains(want), "{e:?} should contain {want:?}");
        assert_eq!(s.digest("hq").unwrap(), digest);
        assert_eq!(s.sync_status()[0].sequence, seq);
    }
    assert_eq!(store_bytes(fs), files, "refused deltas wrote nothing");
    let journaled = refusals_after(s, last_event).len();
    assert_eq!(journaled, cases.len(), "each refusal is journaled");
}

#[test]
fn duplicate_keys_are_refused_at_every_depth() {
    let (fs, s) = base();
    let head = r#"{"format":"edgeid.delta/1","location":"hq","sequence":2,"kind":"changes""#;
    // 40 distinct keys make the object larger than the small-map limit of the JSON parser.
    let many: String = (0..40).map(|i| format!(r#""k{i}":1,"#)).collect();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            format!(r#"{head},"changes":[{{"op":"upsert_user","user":{{"id":"c","name":"X","name":"Y"}}}}]}}"#).into_bytes(),
            "changes[0].user.name: duplicate key",
        ),
        (
            format!(r#"{head},"sequence":2,"changes":[]}}"#).into_bytes(),
            "sequence: duplicate key",
        ),
        (
            format!(r#"{head},"changes":[{{"op":"upsert_user","op":"delete_user","user":{{"id":"c"}}}}]}}"#).into_bytes(),
            "changes[0].op: duplicate key",
        ),
        (
            format!(r#"{head},"changes":[{{"op":"upsert_door","door":{{{many}"id":"d","id":"e"}}}}]}}"#).into_bytes(),
            "changes[0].door.id: duplicate key",
        ),
    ];
    refused(&s, &fs, &cases);
}

#[test]
fn a_schedule_still_used_by_a_right_cannot_be_deleted() {
    let (fs, s) = base();
    let del = json!({"op": "delete_schedule", "id": "office"});
    refused(
        &s,
        &fs,
        &[(
            serde_json::to_vec(&delta(2, "changes", vec![del.clone()])).unwrap(),
            "changes[0]: schedule \"office\" is still used by user \"a\"",
        )],
    );
    // Unused, or no longer used once the delta is applied: fine.
    apply(
        &s,
        &delta(
            2,
            "changes",
            vec![json!({"op": "delete_schedule", "id": "night"})],
        ),
    )
    .unwrap();
    let mut a = user("a");
    a["rights"] = json!([{"doors": ["front"]}]);
    apply(&s, &delta(3, "changes", vec![del, upsert(a)])).unwrap();
}

#[test]
fn a_full_delta_must_carry_its_changes_and_no_deletions() {
    let (fs, s) = base();
    let mut no_changes = delta(2, "full", vec![]);
    no_changes.as_object_mut().unwrap().remove("changes");
    let mut null_changes = delta(2, "full", vec![]);
    null_changes["changes"] = Value::Null;
    let mut no_changes2 = delta(2, "changes", vec![]);
    no_changes2.as_object_mut().unwrap().remove("changes");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (serde_json::to_vec(&no_changes).unwrap(), "changes: missing"),
        (
            serde_json::to_vec(&null_changes).unwrap(),
            "changes: missing",
        ),
        (
            serde_json::to_vec(&no_changes2).unwrap(),
            "changes: missing",
        ),
        (
            serde_json::to_vec(&delta(
                2,
                "full",
                vec![upsert(user("a")), json!({"op": "delete_user", "id": "a"})],
            ))
            .unwrap(),
            "changes[1].op: a full delta lists the whole state",
        ),
    ];
    refused(&s, &fs, &cases);
    // An explicitly empty full empties the location.
    apply(&s, &delta(2, "full", vec![])).unwrap();
    assert_eq!(s.sync_status()[0].users, 0);
}

#[test]
fn sequences_stay_within_the_javascript_safe_range() {
    let (fs, s) = base();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            serde_json::to_vec(&delta(u64::MAX, "full", vec![])).unwrap(),
            "sequence: must be 1..=9007199254740991",
        ),
        (
            serde_json::to_vec(&delta(MAX_SEQUENCE + 1, "full", vec![])).unwrap(),
            "sequence: must be 1..=9007199254740991",
        ),
        (
            serde_json::to_vec(&delta(0, "full", vec![])).unwrap(),
            "sequence: must be 1..=9007199254740991",
        ),
    ];
    refused(&s, &fs, &cases);
    // The largest sequence is accepted; the location is not locked: the refusal's advice works.
    apply(&s, &delta(MAX_SEQUENCE, "full", vec![upsert(user("a"))])).unwrap();
    let e = apply(&s, &delta(1, "changes", vec![])).unwrap_err();
    assert!(matches!(e, Error::Refused(Refusal::Gap { .. })), "{e}");
    let advice = e.to_string();
    assert!(
        advice.contains("send a full synchronisation with any sequence"),
        "{advice}"
    );
    // Following the advice restarts the numbering.
    apply(&s, &delta(3, "full", vec![upsert(user("z"))])).unwrap();
    assert_eq!(s.sync_status()[0].sequence, 3);
    apply(&s, &delta(4, "changes", vec![])).unwrap();
    // And the history restarted with it: a re-sent delta is recognised.
    assert!(matches!(
        apply(&s, &delta(3, "full", vec![upsert(user("z"))])).unwrap(),
        Outcome::AlreadyApplied { .. }
    ));
    // Ordinary advice names the sequence to exceed.
    let e = apply(&s, &delta(2, "full", vec![]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("with a sequence above 4"), "{e}");
    let e = apply(&s, &delta(9, "changes", vec![]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("with a sequence above 4"), "{e}");
}

#[test]
fn credentials_may_change_hands_within_one_delta() {
    for swap_first in [false, true] {
        let (_fs, s) = base();
        let mut a = user("a");
        a["cards"] = json!([{"format": "csn", "number": "BB02"}]);
        a["codes"] = json!(["2222"]);
        a["plates"] = json!(["CD 2"]);
        a["rights"] = json!([{"doors": ["front"], "schedule": "office"}]);
        let mut b = user("b");
        b["cards"] = json!([{"format": "csn", "number": "aa01"}]);
        b["codes"] = json!(["1111"]);
        b["plates"] = json!(["ab.1"]);
        let changes = if swap_first {
            vec![upsert(b), upsert(a)]
        } else {
            vec![upsert(a), upsert(b)]
        };
        apply(&s, &delta(2, "changes", changes)).unwrap();
        let who = |r: Option<edgeid::sync::UserRef>| r.unwrap().user;
        assert_eq!(who(s.lookup_card(None, "csn", "AA01", None).unwrap()), "b");
        assert_eq!(who(s.lookup_card(None, "csn", "BB02", None).unwrap()), "a");
        assert_eq!(who(s.lookup_code(None, "1111").unwrap()), "b");
        assert_eq!(who(s.lookup_code(None, "2222").unwrap()), "a");
        assert_eq!(who(s.lookup_plate(None, "AB1").unwrap()), "b");
        assert_eq!(who(s.lookup_plate(None, "CD2").unwrap()), "a");
        // Deleting a user who gave its card away keeps the new owner's.
        apply(
            &s,
            &delta(3, "changes", vec![json!({"op": "delete_user", "id": "a"})]),
        )
        .unwrap();
        assert_eq!(who(s.lookup_card(None, "csn", "AA01", None).unwrap()), "b");
        assert!(s.lookup_card(None, "csn", "BB02", None).unwrap().is_none());
    }
    // What the end state would duplicate is still refused, whoever comes first.
    let (fs, s) = base();
    let mut c = user("c");
    c["cards"] = json!([{"format": "csn", "number": "AA01"}]);
    let mut c2 = user("c");
    c2["plates"] = json!(["CD-2"]);
    let mut d = user("d");
    d["codes"] = json!(["9999"]);
    let mut e = user("e");
    e["codes"] = json!(["9999"]);
    refused(
        &s,
        &fs,
        &[
            (
                serde_json::to_vec(&delta(2, "changes", vec![upsert(c)])).unwrap(),
                "changes[0]: card csn:AA01 already belongs to user \"a\"",
            ),
            (
                serde_json::to_vec(&delta(2, "changes", vec![upsert(c2)])).unwrap(),
                "changes[0]: plate CD2 already belongs to user \"b\"",
            ),
            (
                serde_json::to_vec(&delta(2, "changes", vec![upsert(d), upsert(e)])).unwrap(),
                "changes[1]: an access code already belongs to another user",
            ),
        ],
    );
}

#[test]
fn a_resent_delta_is_recognised_after_a_code_key_rotation() {
    let (_fs, s) = sim_store(DIM);
    let mut a = user("a");
    a["codes"] = json!(["1234"]);
    apply(
        &s,
        &delta_with("hq", 1, "full", Some(KEY), vec![upsert(user("z"))]),
    )
    .unwrap();
    let d2 = delta_with("hq", 2, "changes", None, vec![upsert(a.clone())]);
    apply(&s, &d2).unwrap();
    let d3 = delta_with("hq", 3, "full", Some(KEY2), vec![upsert(a.clone())]);
    apply(&s, &d3).unwrap();
    assert_eq!(s.lookup_code(None, "1234").unwrap().unwrap().user, "a");
    for d in [&d2, &d3] {
        assert!(
            matches!(apply(&s, d).unwrap(), Outcome::AlreadyApplied { .. }),
            "{d}"
        );
    }
    // Other content under an applied sequence is still a conflict.
    let other = delta_with("hq", 2, "changes", None, vec![upsert(user("q"))]);
    assert!(matches!(
        apply(&s, &other).unwrap_err(),
        Error::Refused(Refusal::Conflict { .. })
    ));
    let mut a9 = a.clone();
    a9["codes"] = json!(["9999"]);
    let codes_differ = delta_with("hq", 4, "changes", None, vec![upsert(a9)]);
    apply(&s, &delta_with("hq", 4, "changes", None, vec![upsert(a)])).unwrap();
    assert!(matches!(
        apply(&s, &codes_differ).unwrap_err(),
        Error::Refused(Refusal::Conflict { .. })
    ));
}

#[test]
fn control_and_bidi_characters_are_refused_in_ids_and_names() {
    let (fs, s) = base();
    let mut cases: Vec<(Vec<u8>, &str)> = Vec::new();
    for bad in [
        "\u{202E}", "\u{202A}", "\u{2066}", "\u{2069}", "\u{7}", "\u{85}",
    ] {
        let mut u = user(&format!("x{bad}y"));
        cases.push((
            serde_json::to_vec(&delta(2, "changes", vec![upsert(u.clone())])).unwrap(),
            "changes[0].user.id: user id",
        ));
        u["id"] = json!("ok");
        u["name"] = json!(format!("Eve{bad}gnirts"));
        cases.push((
            serde_json::to_vec(&delta(2, "changes", vec![upsert(u)])).unwrap(),
            "changes[0].user.name: ",
        ));
    }
    cases.push((
        serde_json::to_vec(&delta_with("h\u{202E}q", 2, "changes", None, vec![])).unwrap(),
        "location: location id",
    ));
    refused(&s, &fs, &cases);
}

#[test]
fn times_offsets_numbers_and_base64_have_one_strict_syntax() {
    let (fs, s) = base();
    let bad_user = |field: &str, v: Value| {
        let mut u = user("c");
        u[field] = v;
        serde_json::to_vec(&delta(2, "changes", vec![upsert(u)])).unwrap()
    };
    let sched = |v: Value| {
        serde_json::to_vec(&delta(
            2,
            "changes",
            vec![json!({"op": "upsert_schedule", "schedule": {"id": "s", "timezone": "UTC", "weekly": {"mon": [v]}}})],
        ))
        .unwrap()
    };
    let card = |c: Value| bad_user("cards", json!([c]));
    let face = |e: String| bad_user("faces", json!([{"id": "f", "model": "m", "embedding": e}]));
    let good = b64(&le_bytes(&Rng(1).vector(DIM)));
    let mut cases: Vec<(Vec<u8>, &str)> = vec![
        (sched(json!(["+7:00", "09:00"])), "expected HH:MM"),
        (sched(json!(["07:00", "9:0 "])), "expected HH:MM"),
        (sched(json!(["07:00", "-9:00"])), "expected HH:MM"),
        (
            card(json!({"format": "wiegand26", "facility": 1, "number": "+5"})),
            "decimal digits",
        ),
        (
            card(json!({"format": "wiegand26", "facility": 1, "number": " 5 "})),
            "decimal digits",
        ),
        (
            card(json!({"format": "wiegand26", "facility": 1, "number": "00123"})),
            "leading zeros",
        ),
        (
            card(json!({"format": "csn", "number": 1234})),
            "csn number must be a string",
        ),
        (
            card(json!({"format": "csn", "number": " AA01"})),
            "hex digits",
        ),
        (
            card(json!({"format": "csn", "number": "ABC"})),
            "even number",
        ),
        (face(good.trim_end_matches('=').to_string()), "base64"),
        (
            face(good.replace('+', "-").replace('/', "_") + " "),
            "base64",
        ),
        (bad_user("plates", json!(["ÄB-12"])), "plate must be"),
    ];
    for t in [
        "2026-01-01T00:00:00+25:00",
        "2026-01-01T00:00:00+07:60",
        "2026-01-01t00:00:00Z",
        "2026-01-01T00:00:00z",
        "2026-01-01 00:00:00Z",
        "2026-01-01T00:00:60Z",
        "2026-01-01T00:00:00-00:00",
        "2026-01-01T00:00:00+00:00",
        "2026-01-01T00:00:00.5Z",
        "2026-02-30T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T00:00:00",
    ] {
        cases.push((bad_user("valid_from", json!(t)), "valid_from: "));
    }
    refused(&s, &fs, &cases);
    // The accepted forms.
    let mut u = user("c");
    u["valid_from"] = json!("2026-01-01T00:00:00Z");
    u["valid_until"] = json!("2026-06-01T09:30:00+02:00");
    u["cards"] = json!([{"format": "wiegand26", "facility": 1, "number": "0"}, {"format": "wiegand34", "facility": 9, "number": 65535}]);
    apply(&s, &delta(2, "changes", vec![upsert(u)])).unwrap();
    let r = s.user("hq", "c").unwrap();
    assert_eq!(r.valid_until, Some(1_780_299_000));
}

#[test]
fn the_empty_digest_is_the_digest_of_a_location_never_synchronised() {
    let (_fs, s) = sim_store(DIM);
    assert_eq!(
        edgeid::sync::EMPTY_DIGEST,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    apply(&s, &delta(1, "full", vec![])).unwrap();
    assert_eq!(s.digest("hq").unwrap(), edgeid::sync::EMPTY_DIGEST);
}

#[test]
fn limits_are_enforced() {
    let (fs, s) = base();
    let faces: Vec<Value> = (0..=edgeid::sync::MAX_FACES_PER_USER)
        .map(|i| json!({"id": format!("f{i}"), "model": "m", "embedding": emb(i as u64)}))
        .collect();
    let mut u = user("c");
    u["faces"] = json!(faces);
    refused(
        &s,
        &fs,
        &[(
            serde_json::to_vec(&delta(2, "changes", vec![upsert(u)])).unwrap(),
            "changes[0].user.faces: at most",
        )],
    );
}
