//! The delta format's door-decision settings (`edgeid.delta/2`): what is accepted and refused,
//! that they survive a checkpoint (catalog file version 4) and a log replay, and that stores
//! written before them (the golden fixtures) still open and decide.

mod common;
use common::access::*;
use edgeid::access::Reason;
use edgeid::{OpenOptions, Store};
use serde_json::{json, Value};
use std::path::Path;

fn send(s: &Site, format: &str, changes: Vec<Value>) -> edgeid::Result<()> {
    let seq = s.seq.get() + 1;
    let d = json!({"format": format, "location": LOC, "sequence": seq, "kind": "changes", "changes": changes});
    s.store
        .apply_delta(&serde_json::to_vec(&d).unwrap(), &mut |_| {})?;
    s.seq.set(seq);
    Ok(())
}

fn door(d: Value) -> Vec<Value> {
    vec![json!({"op": "upsert_door", "door": d})]
}

fn user(u: Value) -> Vec<Value> {
    vec![json!({"op": "upsert_user", "user": u})]
}

#[test]
fn format_1_refuses_the_new_fields_and_format_2_takes_them() {
    let s = Site::new();
    let apb = json!({"area": "a", "direction": "entry", "kind": "hard"});
    for (changes, field) in [
        (
            door(json!({"id": "d", "modes": ["card"], "anti_passback": apb})),
            "anti_passback",
        ),
        (
            door(json!({"id": "d", "modes": ["card"], "punch": {"kind": "check_in"}})),
            "punch",
        ),
        (
            door(json!({"id": "d", "modes": [{"mode": "card"}]})),
            "modes[0]",
        ),
        (user(json!({"id": "u", "mode": "card+code"})), "mode"),
        (
            user(json!({"id": "u", "duress_codes": ["9999"]})),
            "duress_codes",
        ),
    ] {
        let e = send(&s, "edgeid.delta/1", changes.clone())
            .unwrap_err()
            .to_string();
        assert!(e.contains(field) && e.contains("edgeid.delta/2"), "{e}");
        send(&s, "edgeid.delta/2", changes).unwrap();
    }
    // Format 1 keeps working, also the old plain mode strings in format 2.
    send(
        &s,
        "edgeid.delta/1",
        door(json!({"id": "d", "modes": ["card", "face"]})),
    )
    .unwrap();
    send(
        &s,
        "edgeid.delta/2",
        door(json!({"id": "d", "modes": ["card", {"mode": "face", "schedule": "office"}]})),
    )
    .unwrap();
    let e = send(&s, "edgeid.delta/3", vec![]).unwrap_err().to_string();
    assert!(e.contains("not supported"), "{e}");
}

#[test]
fn bad_settings_are_refused_and_change_nothing() {
    let s = Site::new();
    s.user(ada(json!([])));
    let digest = s.store.digest(LOC).unwrap();
    let seq = s.seq.get();
    let bad: Vec<(Vec<Value>, &str)> = vec![
        (
            door(json!({"id": "d", "modes": ["card+card"]})),
            "appears twice",
        ),
        (door(json!({"id": "d", "modes": ["id"]})), "id alone"),
        (
            door(json!({"id": "d", "modes": ["id|card"]})),
            "alternative",
        ),
        (
            door(json!({"id": "d", "modes": ["Face"]})),
            "unknown factor",
        ),
        (
            door(json!({"id": "d", "modes": [{"mode": "card", "schedule": "nope"}]})),
            "unknown schedule",
        ),
        (
            door(json!({"id": "d", "modes": [{"mode": "card", "extra": 1}]})),
            "unknown field",
        ),
        (
            door(
                json!({"id": "d", "modes": ["card"], "anti_passback": {"area": "a", "direction": "in", "kind": "hard"}}),
            ),
            "entry",
        ),
        (
            door(
                json!({"id": "d", "modes": ["card"], "anti_passback": {"area": "a", "direction": "entry", "kind": "medium"}}),
            ),
            "soft",
        ),
        (
            door(
                json!({"id": "d", "modes": ["card"], "anti_passback": {"area": "a", "direction": "entry", "kind": "hard", "reset_after": 99_999_999}}),
            ),
            "at most",
        ),
        (
            door(
                json!({"id": "d", "modes": ["card"], "anti_passback": {"direction": "entry", "kind": "hard"}}),
            ),
            "area",
        ),
        (
            door(json!({"id": "d", "modes": ["card"], "punch": {"kind": "lunch"}})),
            "unknown punch",
        ),
        (
            user(json!({"id": "u", "mode": "card++code"})),
            "unknown factor",
        ),
        (
            user(json!({"id": "u", "codes": ["1111"], "duress_codes": ["1111"]})),
            "twice",
        ),
        (
            user(json!({"id": "u", "duress_codes": ["1234"]})),
            "already belongs",
        ),
        (user(json!({"id": "u", "duress_codes": ["12"]})), "4..=12"),
    ];
    for (changes, why) in bad {
        let e = send(&s, "edgeid.delta/2", changes.clone())
            .unwrap_err()
            .to_string();
        assert!(e.contains(why), "{changes:?}: {e}");
        assert_eq!(s.store.digest(LOC).unwrap(), digest);
        assert_eq!(s.seq.get(), seq);
    }
    // A schedule a door's mode names cannot be deleted.
    send(
        &s,
        "edgeid.delta/2",
        door(json!({"id": "d", "modes": [{"mode": "card", "schedule": "night"}]})),
    )
    .unwrap();
    let e = send(
        &s,
        "edgeid.delta/2",
        vec![json!({"op": "delete_schedule", "id": "night"})],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("door \"d\""), "{e}");
}

fn configured(s: &Site) {
    s.door(
        json!({"id": "d", "modes": [{"mode": "card", "schedule": "office"}, "card+code"],
        "anti_passback": {"area": "lab", "direction": "entry", "kind": "hard", "reset_after": 60},
        "punch": {"kind": "check_in", "duplicate_window": 30}}),
    );
    let mut a = ada(json!([{"doors": ["d"]}]));
    a["mode"] = json!("card+code|face");
    s.user(a);
}

/// What the decision sees of the configured site: the door's and Ada's settings at work.
fn check_configured(store: &Store) {
    let snap = store.snapshot();
    let loc = snap.catalog().location(LOC).unwrap();
    let d = &loc.doors["d"].access;
    assert_eq!(d.mode_schedules, vec![Some("office".to_string()), None]);
    assert_eq!(d.anti_passback.as_ref().unwrap().reset_after, Some(60));
    assert_eq!(d.punch.as_ref().unwrap().duplicate_window, 30);
    let a = &loc.users["ada"].access;
    assert_eq!(a.mode.as_deref(), Some("card+code|face"));
    assert_eq!(a.duress_codes.len(), 1);
    let dec = store
        .decide(
            LOC,
            "d",
            Some(at("2026-12-01T09:00:00Z")),
            &p().code("9999"),
        )
        .unwrap();
    assert_eq!(
        dec.user.as_deref(),
        Some("ada"),
        "the duress code is indexed"
    );
    assert_eq!(
        dec.reason,
        Some(Reason::SecondFactorMissing),
        "the personal mode applies"
    );
    assert!(dec.duress);
}

#[test]
fn settings_survive_the_log_replay_and_a_checkpoint() {
    let s = Site::new();
    configured(&s);
    check_configured(&s.store);
    let dir = s._dir.path().to_path_buf();
    drop(s.store);
    // Replayed from the log.
    let store = Store::open(&dir, OpenOptions::new().threads(1)).unwrap();
    check_configured(&store);
    // Written to a catalog file (version 4) and read back.
    store.checkpoint().unwrap();
    drop(store);
    let store = Store::open(&dir, OpenOptions::new().threads(1)).unwrap();
    check_configured(&store);
    let cat = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "cat"))
        .unwrap();
    let bytes = std::fs::read(cat).unwrap();
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 4);
}

#[test]
fn a_store_without_settings_logs_what_older_builds_read() {
    // A format-1 door and user are logged as before (no new op), so the catalog keeps its
    // settings empty and every decision works from the format-1 modes.
    let s = Site::new();
    send(
        &s,
        "edgeid.delta/1",
        door(json!({"id": "d", "modes": ["card"]})),
    )
    .unwrap();
    send(&s, "edgeid.delta/1", user(json!({"id": "u", "cards": [{"format": "csn", "number": "0101"}], "rights": [{"doors": ["d"]}]}))).unwrap();
    let snap = s.store.snapshot();
    let loc = snap.catalog().location(LOC).unwrap();
    assert!(loc.doors["d"].access.is_default() && loc.users["u"].access.is_default());
    assert!(
        s.decide("d", "2026-12-01T09:00:00Z", &p().card("csn:0101"))
            .granted
    );
}

/// A copy of a golden fixture (opening writes: lock, possibly a trimmed log).
fn copy_of(fixture: &Path) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(fixture).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), tmp.path().join(e.file_name())).unwrap();
    }
    tmp
}

#[test]
fn stores_written_before_the_door_decision_open_and_decide() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/formats");
    let mut decided = 0;
    for fixture in ["v1", "v2", "v3", "code-keys"] {
        let tmp = copy_of(&root.join(fixture));
        let store = Store::open(tmp.path(), OpenOptions::new().threads(1)).unwrap();
        let snap = store.snapshot();
        let Some(loc) = snap.catalog().location("hq") else {
            continue;
        };
        if !loc.users.contains_key("ada") {
            continue;
        }
        let seq = loc.seq;
        let Some(card_key) = loc.users["ada"]
            .cards
            .iter()
            .find(|c| c.starts_with("csn:"))
            .cloned()
        else {
            continue;
        };
        drop(snap);
        let t = Some(at("2026-12-01T09:00:00Z"));
        let card = p().card(&card_key);
        let d = store.decide("hq", "front", t, &card).unwrap();
        assert_eq!(d.reason, Some(Reason::UnknownDoor), "{fixture}");
        let delta = json!({"format": "edgeid.delta/1", "location": "hq", "sequence": seq + 1, "kind": "changes",
            "changes": [{"op": "upsert_door", "door": {"id": "front", "modes": ["card", "code"]}}]});
        store
            .apply_delta(&serde_json::to_vec(&delta).unwrap(), &mut |_| {})
            .unwrap();
        let d = store.decide("hq", "front", t, &card).unwrap();
        assert_eq!(
            (d.reason, d.user.as_deref()),
            (Some(Reason::NoRightForDoor), Some("ada")),
            "{fixture}"
        );
        if fixture == "v1" {
            // The code, hashed with the key the old store kept.
            let d = store.decide("hq", "front", t, &p().code("2468")).unwrap();
            assert_eq!(d.user.as_deref(), Some("ada"), "{fixture}");
        }
        // A format-2 delta on the old store, then a reopen.
        let delta = json!({"format": "edgeid.delta/2", "location": "hq", "sequence": seq + 2, "kind": "changes",
            "changes": [{"op": "upsert_user", "user": {"id": "ada", "cards": [{"format": "csn", "number": &card_key[4..]}],
              "duress_codes": ["8642"], "rights": [{"doors": ["front"]}]}}]});
        store
            .apply_delta(&serde_json::to_vec(&delta).unwrap(), &mut |_| {})
            .unwrap();
        drop(store);
        let store = Store::open(tmp.path(), OpenOptions::new().threads(1)).unwrap();
        let d = store.decide("hq", "front", t, &p().code("8642")).unwrap();
        assert!(d.granted && d.duress, "{fixture}: {d:?}");
        decided += 1;
    }
    assert!(decided >= 1);
}
