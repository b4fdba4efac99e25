//! Synchronisation: deltas applied atomically, idempotently, in order; refusals change nothing;
//! digests prove completeness; codes never reach the disk; crashes leave before-or-after.

mod common;
use common::crash::{sigkill_child, PowerLoss, Scenario, Sigkill};
use common::*;
use edgeid::fs::SimFs;
use edgeid::sync::{Outcome, Refusal};
use edgeid::{Error, FaceIdentify, OpenOptions, Store};
use serde_json::{json, Value};
use sha2::Digest;
use std::sync::Arc;

const DIM: usize = 32;
const KEY: [u8; 32] = [42; 32];

fn emb(seed: u64) -> String {
    b64(&le_bytes(&Rng(seed).vector(DIM)))
}

fn user(id: &str, seed: u64) -> Value {
    json!({"id": id, "name": format!("User {id}"), "enabled": true,
           "faces": [{"id": "f1", "model": "m", "embedding": emb(seed)}]})
}

fn delta(loc: &str, seq: u64, kind: &str, changes: Vec<Value>) -> Vec<u8> {
    let mut d = json!({"format": "edgeid.delta/1", "location": loc, "sequence": seq, "kind": kind, "changes": changes});
    if kind == "full" {
        d["code_key"] = json!(b64(&KEY));
    }
    serde_json::to_vec(&d).unwrap()
}

fn upsert(u: Value) -> Value {
    json!({"op": "upsert_user", "user": u})
}

fn apply(s: &Store, d: &[u8]) -> edgeid::Result<Outcome> {
    s.apply_delta(d, &mut |_| {})
}

/// The digest as the platform computes it, from what it sent (serde_json's sorted-key, compact
/// output is the canonical form for these documents).
fn platform_digest(users: &[Value], schedules: &[Value], doors: &[Value]) -> String {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let canon = |v: &Value| {
        let mut v = v.clone();
        if let Some(codes) = v.get_mut("codes").and_then(Value::as_array_mut) {
            for c in codes.iter_mut() {
                use hmac::{KeyInit, Mac};
                let mut m = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&KEY).unwrap();
                m.update(c.as_str().unwrap().as_bytes());
                *c = json!(hex(&m.finalize().into_bytes()));
            }
        }
        hex(&sha2::Sha256::digest(
            serde_json::to_string(&v).unwrap().as_bytes(),
        ))
    };
    let mut lines = String::new();
    for (kind, items) in [("user", users), ("schedule", schedules), ("door", doors)] {
        let mut v: Vec<(String, String)> = items
            .iter()
            .map(|x| (x["id"].as_str().unwrap().to_string(), canon(x)))
            .collect();
        v.sort();
        for (id, h) in v {
            lines += &format!("{kind} {id} {h}\n");
        }
    }
    hex(&sha2::Sha256::digest(lines.as_bytes()))
}

#[test]
fn the_issue_example_applies_and_the_digest_matches_the_platform() {
    let (_fs, s) = sim_store(DIM);
    apply(
        &s,
        &delta("hq", 41, "full", vec![upsert(user("u-1002", 1))]),
    )
    .unwrap();
    let ada = json!({
        "id": "u-1001", "name": "Ada Lovelace", "enabled": true,
        "valid_from": "2026-01-01T00:00:00Z", "valid_until": null,
        "faces": [{"id": "f1", "model": "m", "embedding": emb(2)}],
        "cards": [{"format": "csn", "number": "04A1B2C3D4E5F6"}, {"format": "wiegand26", "facility": 12, "number": 34567}],
        "codes": ["482913"], "plates": ["AB-123-C"],
        "rights": [{"doors": ["front", "lab"], "schedule": "office-hours"}]});
    let sched = json!({"id": "office-hours", "timezone": "Europe/Amsterdam",
        "weekly": {"mon": [["07:00", "19:00"]], "tue": [["07:00", "19:00"]]}, "holidays": ["2026-12-25"]});
    let door = json!({"id": "front", "modes": ["face", "card+code"]});
    let d = delta(
        "hq",
        42,
        "changes",
        vec![
            upsert(ada.clone()),
            json!({"op": "delete_user", "id": "u-1002"}),
            json!({"op": "upsert_schedule", "schedule": sched.clone()}),
            json!({"op": "upsert_door", "door": door.clone()}),
        ],
    );
    let mut seen = Vec::new();
    let out = s.apply_delta(&d, &mut |p| seen.push(p)).unwrap();
    assert_eq!(
        out,
        Outcome::Applied {
            location: "hq".into(),
            sequence: 42,
            changes: 4
        }
    );
    assert!(!seen.is_empty());
    assert_eq!(
        s.digest("hq").unwrap(),
        platform_digest(&[ada], &[sched], &[door])
    );
    let st = s.sync_status();
    assert_eq!((st[0].sequence, st[0].users, st[0].faces), (42, 1, 1));
    // Lookups, normalised.
    let who = |r: Option<edgeid::sync::UserRef>| r.map(|r| r.user);
    assert_eq!(
        who(s
            .lookup_card(Some("hq"), "csn", "04a1b2c3d4e5f6", None)
            .unwrap())
        .as_deref(),
        Some("u-1001")
    );
    assert_eq!(
        who(s.lookup_card(None, "wiegand26", "34567", Some(12)).unwrap()).as_deref(),
        Some("u-1001")
    );
    assert_eq!(
        who(s.lookup_card(None, "wiegand26", "34568", Some(12)).unwrap()),
        None
    );
    assert_eq!(
        who(s.lookup_code(Some("hq"), "482913").unwrap()).as_deref(),
        Some("u-1001")
    );
    assert!(s.check_code("hq", "u-1001", "482913").unwrap());
    assert!(!s.check_code("hq", "u-1001", "482914").unwrap());
    assert_eq!(
        who(s.lookup_plate(None, "ab 123c").unwrap()).as_deref(),
        Some("u-1001")
    );
    assert!(s.user("hq", "u-1002").is_none());
    // The face was enrolled with the user.
    let probe = Rng(2).vector(DIM);
    let hits = s
        .identify_face(&FaceIdentify::new(&probe).location("hq"))
        .unwrap();
    assert_eq!(hits[0].user, "u-1001");
}

#[test]
fn sequences_are_ordered_idempotent_and_conflicts_refused() {
    let (_fs, s) = sim_store(DIM);
    let e = apply(&s, &delta("hq", 5, "changes", vec![upsert(user("a", 1))])).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Refused(Refusal::Gap {
                expected: 1,
                got: 5,
                ..
            })
        ),
        "{e}"
    );
    let d1 = delta("hq", 1, "changes", vec![upsert(user("a", 1))]);
    assert!(matches!(apply(&s, &d1).unwrap(), Outcome::Applied { .. }));
    let seq = s.snapshot().seq();
    assert_eq!(
        apply(&s, &d1).unwrap(),
        Outcome::AlreadyApplied {
            location: "hq".into(),
            sequence: 1
        }
    );
    assert_eq!(s.snapshot().seq(), seq, "a re-sent delta writes nothing");
    let other = delta("hq", 1, "changes", vec![upsert(user("b", 2))]);
    assert!(matches!(
        apply(&s, &other).unwrap_err(),
        Error::Refused(Refusal::Conflict { .. })
    ));
    let gap = delta("hq", 3, "changes", vec![]);
    let e = apply(&s, &gap).unwrap_err().to_string();
    assert!(e.contains("full synchronisation is needed"), "{e}");
    // A full synchronisation may jump ahead.
    apply(&s, &delta("hq", 10, "full", vec![upsert(user("c", 3))])).unwrap();
    apply(&s, &delta("hq", 11, "changes", vec![])).unwrap();
    assert_eq!(s.sync_status()[0].sequence, 11);
    // Locations are independent.
    apply(
        &s,
        &delta("annex", 1, "changes", vec![upsert(user("a", 4))]),
    )
    .unwrap();
    assert_eq!(s.sync_status().len(), 2);
}

#[test]
fn full_synchronisation_removes_what_is_absent() {
    let (_fs, s) = sim_store(DIM);
    apply(
        &s,
        &delta(
            "hq",
            1,
            "full",
            vec![
                upsert(user("a", 1)),
                upsert(user("b", 2)),
                upsert(user("c", 3)),
            ],
        ),
    )
    .unwrap();
    apply(&s, &delta("other", 1, "full", vec![upsert(user("a", 9))])).unwrap();
    assert_eq!(s.snapshot().live_faces(), 4);
    apply(&s, &delta("hq", 2, "full", vec![upsert(user("b", 2))])).unwrap();
    let st = s.sync_status();
    assert_eq!(
        (st[0].location.as_str(), st[0].users, st[0].faces),
        ("hq", 1, 1)
    );
    assert_eq!(
        (st[1].location.as_str(), st[1].users, st[1].faces),
        ("other", 1, 1)
    );
    assert!(s.user("hq", "a").is_none());
    // An upsert replaces the whole record: faces no longer listed are gone.
    let mut b = user("b", 2);
    b["faces"] = json!([{"id": "f2", "model": "m", "embedding": emb(7)}]);
    apply(&s, &delta("hq", 3, "changes", vec![upsert(b)])).unwrap();
    let t: Vec<String> = s
        .snapshot()
        .face_templates()
        .filter(|x| x.0 == "hq")
        .map(|x| x.2.to_string())
        .collect();
    assert_eq!(t, ["f2"]);
}

#[test]
fn refusals_name_the_place_and_change_nothing() {
    let (fs, s) = sim_store(DIM);
    apply(&s, &delta("hq", 1, "full", vec![upsert(user("a", 1))])).unwrap();
    let digest = s.digest("hq").unwrap();
    let seq = s.snapshot().seq();
    let short = b64(&[0u8; 4 * (DIM - 1)]);
    let mut cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{not json".to_vec(), "not valid JSON"),
        (br#"{"format":"edgeid.delta/3","location":"hq","sequence":2,"kind":"changes","changes":[]}"#.to_vec(), "not supported"),
        (delta("hq", 2, "changes", vec![upsert(json!({"id": "b", "faces": [{"id": "f", "model": "m", "embedding": short}]}))]),
         "changes[0].user.faces[0].embedding: expected 32 floats, got 31"),
        (delta("hq", 2, "changes", vec![upsert(json!({"id": "b", "faces": [{"id": "f", "model": "other", "embedding": emb(1)}]}))]),
         "changes[0].user.faces[0].model"),
        (delta("hq", 2, "changes", vec![upsert(user("b", 2)), upsert(json!({"id": "c", "valid_untill": "x"}))]),
         "changes[1].user.valid_untill: unknown field"),
        (delta("hq", 2, "changes", vec![upsert(json!({"id": "b", "cards": [{"format": "wiegand26", "facility": 300, "number": 1}]}))]),
         "changes[0].user.cards[0]: wiegand26 facility must be 0..=255"),
        (delta("hq", 2, "changes", vec![json!({"op": "delete_user", "id": "ghost"})]), "no such user"),
        (delta("hq", 2, "changes", vec![upsert(json!({"id": "b", "rights": [{"doors": ["x"], "schedule": "nope"}]}))]),
         "changes[0].user.rights[0].schedule: unknown schedule"),
        (delta("hq", 2, "changes", vec![json!({"op": "upsert_schedule", "schedule": {"id": "s", "timezone": "Mars/Olympus"}})]),
         "unknown time zone"),
        (delta("hq", 2, "changes", vec![upsert(json!({"id": "b", "codes": ["12"]}))]), "4..=12 digits"),
    ];
    // Duplicates across users.
    let mut c1 = user("b", 2);
    c1["cards"] = json!([{"format": "csn", "number": "AA01"}]);
    let mut c2 = user("c", 3);
    c2["cards"] = json!([{"format": "csn", "number": "aa01"}]);
    cases.push((
        delta("hq", 2, "changes", vec![upsert(c1), upsert(c2)]),
        "card csn:AA01 already belongs to user \"b\"",
    ));
    let files = store_bytes(&fs);
    let last_event = s.journal().stats().last_id;
    let n = cases.len();
    for (d, want) in cases {
        let e = apply(&s, &d).unwrap_err().to_string();
        assert!(e.contains(want), "{e:?} should contain {want:?}");
        assert_eq!(s.digest("hq").unwrap(), digest);
        assert_eq!(s.snapshot().seq(), seq);
    }
    assert_eq!(store_bytes(&fs), files, "refused deltas wrote nothing");
    assert_eq!(
        refusals_after(&s, last_event).len(),
        n,
        "each refusal is journaled"
    );
}

#[test]
fn digest_is_deterministic_and_changes_with_any_field() {
    let base = json!({"id": "a", "name": "A", "enabled": true, "codes": ["1234"], "plates": ["X-1"],
        "cards": [{"format": "csn", "number": "0A"}], "faces": [{"id": "f", "model": "m", "embedding": emb(1)}]});
    let digest_of = |u: &Value| {
        let (_fs, s) = sim_store(DIM);
        apply(&s, &delta("hq", 1, "full", vec![upsert(u.clone())])).unwrap();
        s.digest("hq").unwrap()
    };
    let d0 = digest_of(&base);
    assert_eq!(d0, digest_of(&base));
    assert_eq!(d0, platform_digest(std::slice::from_ref(&base), &[], &[]));
    for (field, value) in [
        ("name", json!("B")),
        ("enabled", json!(false)),
        ("codes", json!(["1235"])),
        ("plates", json!(["X-2"])),
        ("cards", json!([{"format": "csn", "number": "0B"}])),
        (
            "faces",
            json!([{"id": "f", "model": "m", "embedding": emb(2)}]),
        ),
    ] {
        let mut u = base.clone();
        u[field] = value;
        assert_ne!(digest_of(&u), d0, "changing {field} must change the digest");
    }
}

#[test]
fn access_codes_never_reach_the_disk() {
    let (fs, s) = sim_store(DIM);
    let mut u = user("a", 1);
    u["codes"] = json!(["97531864"]);
    apply(&s, &delta("hq", 1, "full", vec![upsert(u)])).unwrap();
    s.checkpoint().unwrap();
    let mut u = user("b", 2);
    u["codes"] = json!(["86420975"]);
    apply(&s, &delta("hq", 2, "changes", vec![upsert(u)])).unwrap(); // in the log only
    for (p, b) in fs.all_bytes() {
        for code in [&b"97531864"[..], b"86420975"] {
            assert!(!contains(&b, code), "{} holds an access code", p.display());
        }
    }
    assert_eq!(s.lookup_code(None, "86420975").unwrap().unwrap().user, "b");
    // And after a reopen (log replay, catalog file).
    drop(s);
    let s = open_sim(on_sim(&fs)).unwrap();
    assert_eq!(s.lookup_code(None, "97531864").unwrap().unwrap().user, "a");
    assert_eq!(s.lookup_code(None, "86420975").unwrap().unwrap().user, "b");
}

#[test]
fn searches_never_see_half_a_delta() {
    let (_fs, s) = sim_store(DIM);
    let s = Arc::new(s);
    apply(&s, &delta("hq", 1, "full", vec![])).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started = Arc::new(std::sync::Barrier::new(2));
    let reader = {
        let (s, stop, started) = (s.clone(), stop.clone(), started.clone());
        std::thread::spawn(move || {
            let mut checks = 0;
            started.wait();
            loop {
                let done = stop.load(std::sync::atomic::Ordering::Relaxed);
                let snap = s.snapshot();
                // Every delta adds one user with two faces: catalog and face index agree, always.
                let users = snap.catalog().location("hq").map_or(0, |l| l.users.len());
                assert_eq!(
                    snap.live_faces(),
                    2 * users,
                    "a snapshot shows half a delta"
                );
                checks += 1;
                if done {
                    break;
                }
            }
            checks
        })
    };
    started.wait();
    for seq in 2..60u64 {
        let mut u = user(&format!("u{seq}"), seq);
        u["faces"] = json!([{"id": "f1", "model": "m", "embedding": emb(seq)}, {"id": "f2", "model": "m", "embedding": emb(seq + 1000)}]);
        apply(&s, &delta("hq", seq, "changes", vec![upsert(u)])).unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
}

/// Deltas applied in order; the state is the location's sequence, which the digest after each
/// delta (from a store on a disk that never fails) proves.
struct Applies<'a> {
    deltas: &'a [Vec<u8>],
    digests: &'a [String],
}

impl Scenario for Applies<'_> {
    type State = usize;
    fn start(&self) -> usize {
        0
    }
    fn expect(&self, j: u64, _: &usize) -> usize {
        j as usize + 1
    }
    fn perform(&self, store: &Store, j: u64, _: &usize) -> edgeid::Result<()> {
        apply(store, &self.deltas[j as usize]).map(drop)
    }
    fn observe(&self, store: &Store) -> usize {
        store.sync_status().first().map_or(0, |l| l.sequence) as usize
    }
    fn check_recovered(&self, store: &Store, &seq: &usize, at: &str) {
        if seq > 0 {
            assert_eq!(
                store.digest("hq").unwrap(),
                self.digests[seq],
                "{at}: the digest proves the state"
            );
        }
    }
}

/// The digest after each delta (none before the first), on a disk that never fails.
fn digests_of(deltas: &[Vec<u8>]) -> Vec<String> {
    let (_fs, reference) = sim_store(DIM);
    let mut digests = vec![String::new()];
    for d in deltas {
        apply(&reference, d).unwrap();
        digests.push(reference.digest("hq").unwrap());
    }
    digests
}

#[test]
fn power_loss_during_applies_leaves_before_or_after() {
    let deltas: Vec<Vec<u8>> = (1..=8u64)
        .map(|seq| {
            let kind = if seq == 5 { "full" } else { "changes" };
            let n = if seq == 5 { 3 } else { 1 };
            delta(
                "hq",
                seq,
                kind,
                (0..n)
                    .map(|i| upsert(user(&format!("u{seq}-{i}"), seq * 10 + i)))
                    .collect(),
            )
        })
        .collect();
    let digests = digests_of(&deltas);
    let harness = PowerLoss {
        opts: &|fs: &SimFs| on_sim(fs).checkpoint_rows(2),
        dim: DIM,
        steps: deltas.len() as u64,
        losses_per_point: 1,
        seed_stride: 1,
    };
    let covered = harness.run(&Applies {
        deltas: &deltas,
        digests: &digests,
    });
    assert!(covered.trials > 20, "{}", covered.trials);
}

fn kill_deltas() -> Vec<Vec<u8>> {
    (1..=40u64)
        .map(|seq| {
            let kind = if seq % 13 == 1 { "full" } else { "changes" };
            let mut changes: Vec<Value> = (0..3).map(|i| upsert(user(&format!("u{}", (seq * 3 + i) % 17), seq * 7 + i))).collect();
            if kind == "changes" && seq % 4 == 0 {
                changes.push(json!({"op": "upsert_schedule", "schedule": {"id": format!("s{seq}"), "timezone": "UTC"}}));
            }
            delta("hq", seq, kind, changes)
        })
        .collect()
}

/// Child side of `sigkill_during_applies`: applies the deltas, printing "ok <seq>" after each.
#[test]
fn child_of_sigkill_during_applies() {
    let deltas = kill_deltas();
    sigkill_child(
        |_| Applies {
            deltas: &deltas,
            digests: &[],
        },
        OpenOptions::new().threads(1).checkpoint_rows(8),
        deltas.len() as u64,
    );
}

#[test]
fn sigkill_during_applies() {
    let deltas = kill_deltas();
    let digests = digests_of(&deltas);
    Sigkill {
        child_test: "child_of_sigkill_during_applies",
        dim: DIM,
        trials: 200,
        seed: 77,
        wait_acks: 0..deltas.len() as u64 - 2,
        max_sleep_us: 4000,
    }
    .run(|_| Applies {
        deltas: &deltas,
        digests: &digests,
    });
}
