//! A realistic sequence of synchronisation deltas (full with a code key, changes with cards,
//! codes, plates, schedules, doors, deletes, faces and fingerprints, a key rotation, a second
//! location), and every read a terminal makes of a store, as comparable answers.

use super::{b64, finger, le_bytes, Rng};
use edgeid::finger::FingerTemplate;
use edgeid::{FaceIdentify, FingerIdentify, Store};
use serde_json::{json, Value};

/// Embedding dimension of the stores these deltas are for (model [`super::MODEL`]).
pub const DIM: usize = 32;

/// A face embedding (base64 of little-endian f32) from a seed.
pub fn emb(seed: u64) -> String {
    b64(&le_bytes(&Rng(seed).vector(DIM)))
}

/// A face entry of a user.
pub fn face(id: &str, seed: u64) -> Value {
    json!({"id": id, "model": super::MODEL, "embedding": emb(seed)})
}

/// A fingerprint entry of a user: FVC2002 DB1_B record `name` (mindtct, ISO 19794-2:2005).
pub fn finger(id: &str, name: &str) -> Value {
    json!({"id": id, "position": 1, "format": "iso19794-2:2005",
           "data": b64(&finger::record("mindtct", 1, name))})
}

/// A delta document.
pub fn delta(loc: &str, seq: u64, kind: &str, key: Option<u8>, changes: Vec<Value>) -> Vec<u8> {
    let mut d = json!({"format": "edgeid.delta/1", "location": loc, "sequence": seq,
                       "kind": kind, "changes": changes});
    if let Some(k) = key {
        d["code_key"] = json!(b64(&[k; 32]));
    }
    serde_json::to_vec(&d).unwrap()
}

pub fn upsert(u: Value) -> Value {
    json!({"op": "upsert_user", "user": u})
}

pub fn delete(what: &str, id: &str) -> Value {
    json!({"op": format!("delete_{what}"), "id": id})
}

fn schedule(id: &str, tz: &str) -> Value {
    json!({"op": "upsert_schedule", "schedule": {"id": id, "timezone": tz,
           "weekly": {"mon": [["07:00", "19:00"]], "sat": [["09:00", "13:00"]]},
           "holidays": ["2026-12-25"]}})
}

fn door(id: &str, modes: &[&str]) -> Value {
    json!({"op": "upsert_door", "door": {"id": id, "modes": modes}})
}

/// The users of the sequence, by name, as their latest upsert leaves them.
fn ada() -> Value {
    json!({"id": "ada", "name": "Ada", "faces": [face("f1", 1)],
           "cards": [{"format": "csn", "number": "04A1B2C3"}], "codes": ["482913"],
           "plates": ["AB-123-C"], "rights": [{"doors": ["front"], "schedule": "office"}]})
}

fn bob() -> Value {
    json!({"id": "bob", "name": "Bob", "faces": [face("f1", 2)], "fingers": [finger("r1", "101_1")],
           "cards": [{"format": "wiegand26", "facility": 12, "number": 3456}]})
}

fn cy() -> Value {
    json!({"id": "cy", "name": "Cy", "enabled": false, "faces": [face("f1", 3), face("f2", 33)],
           "codes": ["730015"], "valid_from": "2026-01-01T00:00:00Z"})
}

/// The sequence: ten deltas, nine for location `hq` (sequences 1..=9) and one for `annex`.
pub fn realistic() -> Vec<Vec<u8>> {
    let mut ada2 = ada();
    ada2["cards"] = json!([{"format": "csn", "number": "04A1B2C4"}, {"format": "wiegand34", "facility": 300, "number": 7}]);
    ada2["codes"] = json!(["11223344"]);
    let mut cy2 = cy();
    cy2["rights"] = json!([{"doors": ["front", "lab"], "schedule": "night"}]);
    cy2["enabled"] = json!(true);
    let dan = json!({"id": "dan", "name": "Dan", "faces": [face("f1", 4)],
        "fingers": [finger("r1", "102_1"), finger("r2", "103_1")], "codes": ["550377"],
        "plates": ["XY 99"]});
    let mut dan2 = dan.clone();
    dan2["fingers"] = json!([finger("r2", "103_1")]);
    dan2["codes"] = json!(["660377"]);
    let eve = json!({"id": "eve", "name": "Eve", "faces": [face("f1", 5), face("f2", 55)],
        "fingers": [finger("l1", "104_1")], "cards": [{"format": "csn", "number": "0BADF00D"}]});
    let mut ada_annex = ada();
    ada_annex["rights"] = json!([{"doors": ["gate"]}]);
    let mut cy3 = cy2.clone();
    cy3["rights"] = json!([]);
    vec![
        delta(
            "hq",
            1,
            "full",
            Some(7),
            vec![
                schedule("office", "Europe/Amsterdam"),
                door("front", &["face", "card+code"]),
                upsert(ada()),
                upsert(bob()),
                upsert(cy()),
            ],
        ),
        delta(
            "hq",
            2,
            "changes",
            None,
            vec![upsert(dan), door("lab", &["finger", "face+code"])],
        ),
        delta(
            "hq",
            3,
            "changes",
            None,
            vec![delete("user", "bob"), upsert(ada2.clone())],
        ),
        delta(
            "hq",
            4,
            "changes",
            None,
            vec![schedule("night", "UTC"), upsert(cy2.clone())],
        ),
        delta(
            "hq",
            5,
            "changes",
            None,
            vec![upsert(eve.clone()), delete("door", "lab")],
        ),
        delta(
            "annex",
            1,
            "full",
            Some(9),
            vec![upsert(bob()), upsert(ada_annex)],
        ),
        // A full with a new code key: every code comes from it.
        delta(
            "hq",
            6,
            "full",
            Some(8),
            vec![
                schedule("office", "Europe/Amsterdam"),
                schedule("night", "UTC"),
                door("front", &["face"]),
                upsert(ada2),
                upsert(cy2),
                upsert(dan2),
                upsert(eve),
            ],
        ),
        delta(
            "hq",
            7,
            "changes",
            None,
            vec![delete("user", "dan"), upsert(cy3)],
        ),
        delta(
            "hq",
            8,
            "changes",
            None,
            vec![
                delete("schedule", "night"),
                upsert(
                    json!({"id": "fay", "faces": [face("f1", 6)], "fingers": [finger("r1", "105_1")],
                          "plates": ["XY 99"]}),
                ),
            ],
        ),
        delta(
            "hq",
            9,
            "changes",
            None,
            vec![delete("user", "eve"), delete("user", "ada")],
        ),
    ]
}

/// A face probe near the face of `seed`.
pub fn face_probe(seed: u64) -> Vec<f32> {
    let v = Rng(seed).vector(DIM);
    Rng(seed ^ 0xface).near(&v, 0.2)
}

/// A fingerprint probe: another impression of FVC2002 DB1_B finger `name`.
pub fn finger_probe(name: &str) -> FingerTemplate {
    FingerTemplate::from_record_bytes(&finger::record("mindtct", 1, name)).unwrap()
}

/// One read's answer: its result, printed exactly (scores to the last bit), or its error.
pub type Answer = Result<String, edgeid::Error>;

fn show<T: std::fmt::Debug>(r: edgeid::Result<T>) -> Answer {
    r.map(|v| format!("{v:?}"))
}

/// Every read a terminal makes, with its answer from `store`: identify and verify (faces and
/// fingers), card, code and plate lookups, code checks, digests, status, users, checksums, stats.
pub fn reads(store: &Store) -> Vec<(String, Answer)> {
    let mut out: Vec<(String, Answer)> = Vec::new();
    let mut add = |name: String, a: Answer| out.push((name, a));
    add(
        "sync_status".into(),
        Ok(format!("{:?}", store.sync_status())),
    );
    for loc in ["hq", "annex", "nowhere"] {
        add(format!("digest {loc}"), show(store.digest(loc)));
    }
    for seed in [1, 2, 3, 4, 5, 6, 33, 99] {
        let p = face_probe(seed);
        add(
            format!("identify_face {seed}"),
            show(store.identify_face(&FaceIdentify::new(&p).k(3))),
        );
        add(
            format!("identify_face hq {seed}"),
            show(store.identify_face(&FaceIdentify::new(&p).location("hq").k(2))),
        );
    }
    for (user, seed) in [
        ("ada", 1),
        ("bob", 2),
        ("cy", 33),
        ("dan", 4),
        ("eve", 55),
        ("fay", 6),
    ] {
        let p = face_probe(seed);
        for loc in ["hq", "annex", "local"] {
            add(
                format!("verify_face {loc} {user}"),
                show(store.verify_face(loc, user, &p)),
            );
        }
    }
    for (name, user) in [
        ("101_2", "bob"),
        ("102_2", "dan"),
        ("103_2", "dan"),
        ("104_2", "eve"),
        ("105_2", "fay"),
    ] {
        let p = finger_probe(name);
        add(
            format!("identify_finger {name}"),
            show(store.identify_finger(&FingerIdentify::new(p.as_ref()).k(3))),
        );
        for loc in ["hq", "annex", "local"] {
            add(
                format!("verify_finger {loc} {user} {name}"),
                show(store.verify_finger(loc, user, &p.as_ref())),
            );
        }
    }
    for (fmt, num, fac) in [
        ("csn", "04a1b2c3", None),
        ("csn", "04A1B2C4", None),
        ("csn", "0BADF00D", None),
        ("wiegand26", "3456", Some(12)),
        ("wiegand34", "7", Some(300)),
    ] {
        for loc in [None, Some("hq"), Some("annex")] {
            add(
                format!("lookup_card {loc:?} {fmt} {num}"),
                show(store.lookup_card(loc, fmt, num, fac)),
            );
        }
    }
    for code in ["482913", "11223344", "730015", "550377", "660377"] {
        for loc in [None, Some("hq"), Some("annex")] {
            add(
                format!("lookup_code {loc:?} {code}"),
                show(store.lookup_code(loc, code)),
            );
        }
    }
    for (user, code) in [
        ("ada", "482913"),
        ("ada", "11223344"),
        ("cy", "730015"),
        ("dan", "660377"),
    ] {
        for loc in ["hq", "annex"] {
            add(
                format!("check_code {loc} {user} {code}"),
                show(store.check_code(loc, user, code)),
            );
        }
    }
    for plate in ["ab123c", "XY-99"] {
        add(
            format!("lookup_plate {plate}"),
            show(store.lookup_plate(None, plate)),
        );
    }
    for loc in ["hq", "annex"] {
        for user in ["ada", "bob", "cy", "dan", "eve", "fay"] {
            add(
                format!("user {loc} {user}"),
                Ok(format!("{:?}", store.user(loc, user))),
            );
        }
    }
    let st = store.stats();
    add(
        "stats".into(),
        Ok(format!(
            "{} {} {} {} {} {}",
            st.model,
            st.dim,
            st.faces.live,
            st.fingers.live,
            st.seq,
            st.maintenance_error.is_some()
        )),
    );
    out
}
