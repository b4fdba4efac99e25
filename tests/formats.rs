//! Golden fixtures: a store written by any format version must open and answer the same forever.
//! `testdata/formats/v1/` was written by `write_v1_fixture`, `testdata/formats/v2/` (the finger
//! index) by `write_v2_fixture`, `testdata/formats/v3/` (the dated erasure deadline) by
//! `write_v3_fixture`, `testdata/formats/code-keys/` (manifest version 3 with catalog and log
//! version 2 and `CODE-KEYS` version 1: code keys apart from the hashes) by
//! `write_code_keys_fixture` (run them with `--ignored` only when a new format version is added,
//! into a new folder; never rewrite an existing fixture).

mod common;
use common::*;
use edgeid::{Change, FaceIdentify, OpenOptions, Store};
use std::path::{Path, PathBuf};

const DIM: usize = 16;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/formats/v1")
}

/// A copy of a fixture to work on: opening writes (lock file, possibly a trimmed log).
fn copy_of(fixture: &Path) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(fixture).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), tmp.path().join(e.file_name())).unwrap();
    }
    tmp
}

fn full_delta() -> Vec<u8> {
    br#"{"format":"edgeid.delta/1","location":"hq","sequence":3,"kind":"full","code_key":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=","changes":[
      {"op":"upsert_user","user":{"id":"ada","name":"Ada","cards":[{"format":"csn","number":"0A0B"}],"codes":["2468"],"plates":["AB-1"]}},
      {"op":"upsert_schedule","schedule":{"id":"always","timezone":"UTC","weekly":{"mon":[["00:00","24:00"]]}}}]}"#.to_vec()
}

/// Writes the fixture: two checkpointed segments (one with a deleted row), a catalog file, and a log
/// with more commits on top.
#[test]
#[ignore]
fn write_v1_fixture() {
    let dir = fixture();
    let _ = std::fs::remove_dir_all(&dir);
    let s = Store::create(&dir, "fixture-model", DIM, OpenOptions::new().threads(1)).unwrap();
    let mut rng = Rng(11);
    let batch: Vec<Change> = (0..6)
        .map(|i| put("lobby", &format!("u{i}"), "f", rng.vector(DIM)))
        .collect();
    s.commit(&batch).unwrap();
    s.apply_delta(&full_delta(), &mut |_| {}).unwrap();
    s.checkpoint().unwrap();
    s.commit(&[put("lobby", "u6", "f", rng.vector(DIM))])
        .unwrap();
    s.checkpoint().unwrap();
    s.commit(&[Change::RemoveUser {
        location: "lobby".into(),
        user: "u1".into(),
    }])
    .unwrap();
    s.checkpoint().unwrap();
    s.commit(&[put("lobby", "u7", "f", rng.vector(DIM))])
        .unwrap();
    drop(s);
    let _ = std::fs::remove_file(dir.join("LOCK"));
}

#[test]
fn v1_fixture_opens_and_answers() {
    let tmp = copy_of(&fixture());
    let s = Store::open(tmp.path(), OpenOptions::new().threads(1)).unwrap();
    // Opening upgrades a version-1 store (it predates the finger index): its log is checkpointed and
    // a manifest of the current version (3) written.
    let manifest = std::fs::read(tmp.path().join("MANIFEST")).unwrap();
    assert_eq!(u32::from_le_bytes(manifest[8..12].try_into().unwrap()), 3);
    assert_eq!(s.stats().faces.tail_rows, 0);
    assert_eq!(
        s.verify_checksums().unwrap(),
        s.stats().faces.segments + s.stats().fingers.segments
    );
    let st = s.stats();
    assert_eq!(
        (st.model.as_str(), st.dim, st.faces.live),
        ("fixture-model", DIM, 7)
    );
    let mut rng = Rng(11);
    let vs: Vec<Vec<f32>> = (0..8).map(|_| rng.vector(DIM)).collect();
    for (i, v) in vs.iter().enumerate() {
        let hits = s.identify_face(&FaceIdentify::new(v).k(1)).unwrap();
        if i == 1 {
            assert_ne!(hits[0].user, "u1", "u1 was deleted");
        } else {
            assert_eq!(hits[0].user, format!("u{i}"));
            assert!(hits[0].score > 0.999_999);
        }
    }
    assert_eq!(
        s.lookup_code(Some("hq"), "2468").unwrap().unwrap().user,
        "ada"
    );
    assert_eq!(
        s.lookup_card(None, "csn", "0a0b", None)
            .unwrap()
            .unwrap()
            .user,
        "ada"
    );
    assert_eq!(s.sync_status()[0].sequence, 3);
    // The already-applied full delta is recognised after the reopen.
    assert!(matches!(
        s.apply_delta(&full_delta(), &mut |_| {}).unwrap(),
        edgeid::sync::Outcome::AlreadyApplied { .. }
    ));
}

fn fixture_v2() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/formats/v2")
}

fn finger_record(name: &str) -> Vec<u8> {
    finger::record("mindtct", 1, name)
}

fn put_finger(user: &str, tpl: &str, record: &str) -> Change {
    Change::PutFinger {
        location: "lobby".into(),
        user: user.into(),
        template: tpl.into(),
        record: finger_record(record),
        format: None,
        position: None,
    }
}

/// Format version 2 (finger index): face and finger segments, a finger deletion file, a catalog
/// with a synchronised user's fingerprint, and a log with finger inserts and deletes on top.
#[test]
#[ignore]
fn write_v2_fixture() {
    let dir = fixture_v2();
    let _ = std::fs::remove_dir_all(&dir);
    let s = Store::create(&dir, "fixture-model", DIM, OpenOptions::new().threads(1)).unwrap();
    let mut rng = Rng(12);
    s.commit(&[
        put("lobby", "u0", "f", rng.vector(DIM)),
        put_finger("u0", "r1", "101_1"),
        put_finger("u1", "r1", "102_1"),
        put_finger("u2", "r1", "103_1"),
    ])
    .unwrap();
    let data = b64(&finger_record("104_1"));
    let delta = format!(
        r#"{{"format":"edgeid.delta/1","location":"hq","sequence":1,"kind":"full","changes":[{{"op":"upsert_user","user":{{"id":"ada","fingers":[{{"id":"l1","position":7,"format":"iso19794-2:2005","data":"{data}"}}]}}}}]}}"#
    );
    s.apply_delta(delta.as_bytes(), &mut |_| {}).unwrap();
    s.checkpoint().unwrap();
    s.commit(&[Change::RemoveFinger {
        location: "lobby".into(),
        user: "u1".into(),
        template: "r1".into(),
    }])
    .unwrap();
    s.checkpoint().unwrap();
    s.commit(&[
        put_finger("u3", "r1", "105_1"),
        put_finger("u2", "r2", "103_2"),
    ])
    .unwrap();
    s.commit(&[Change::RemoveFinger {
        location: "lobby".into(),
        user: "u2".into(),
        template: "r1".into(),
    }])
    .unwrap();
    drop(s);
    let _ = std::fs::remove_file(dir.join("LOCK"));
}

#[test]
fn v2_fixture_opens_and_answers() {
    let tmp = copy_of(&fixture_v2());
    let s = Store::open(tmp.path(), OpenOptions::new().threads(1)).unwrap();
    s.verify_checksums().unwrap();
    let st = s.stats();
    assert_eq!((st.faces.live, st.fingers.live), (1, 4));
    assert_eq!((st.fingers.segments, st.fingers.tail_rows), (1, 2));
    let probes = [
        ("101_2", "u0"),
        ("103_3", "u2"),
        ("104_2", "ada"),
        ("105_2", "u3"),
    ];
    for (probe, user) in probes {
        let t = edgeid::finger::FingerTemplate::from_record_bytes(&finger_record(probe)).unwrap();
        let hits = s
            .identify_finger(&edgeid::FingerIdentify::new(t.as_ref()))
            .unwrap();
        assert_eq!(hits[0].user, user, "probe {probe}");
    }
    // u1's only template and u2's first were deleted.
    let t = edgeid::finger::FingerTemplate::from_record_bytes(&finger_record("102_2")).unwrap();
    assert!(s
        .verify_finger("lobby", "u1", &t.as_ref())
        .unwrap()
        .is_none());
    let ada = s.verify_finger("hq", "ada", &t.as_ref()).unwrap().unwrap();
    assert_eq!((ada.template.as_str(), ada.position), ("l1", 7));
    assert_eq!(s.sync_status()[0].fingers, 1);
}

fn fixture_v3() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/formats/v3")
}

/// The fixed dates of the v3 fixture: a wall clock `secs` after 2027-01-15T08:00:00Z.
fn at(secs: u64) -> edgeid::store::Clock {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000 + secs);
    std::sync::Arc::new(move || t)
}

/// Format version 3 (the erasure deadline in the manifest): a face deleted at +0 s and
/// checkpointed (a deletion file; the manifest dates it), a checkpoint at +60 s that starts the
/// log, and a fingerprint deleted in the log after it.
#[test]
#[ignore]
fn write_v3_fixture() {
    let dir = fixture_v3();
    let _ = std::fs::remove_dir_all(&dir);
    let o = |t| OpenOptions::new().threads(1).clock(at(t));
    let s = Store::create(&dir, "fixture-model", DIM, o(0)).unwrap();
    let mut rng = Rng(13);
    s.commit(&[
        put("lobby", "u0", "f", rng.vector(DIM)),
        put("lobby", "u1", "f", rng.vector(DIM)),
        put("lobby", "u2", "f", rng.vector(DIM)),
        put_finger("u0", "r1", "101_1"),
        put_finger("u1", "r1", "102_1"),
    ])
    .unwrap();
    s.checkpoint().unwrap();
    s.commit(&[Change::RemoveFace {
        location: "lobby".into(),
        user: "u1".into(),
        template: "f".into(),
    }])
    .unwrap();
    drop(s);
    let s = Store::open(&dir, o(60)).unwrap();
    s.checkpoint().unwrap();
    s.commit(&[Change::RemoveFinger {
        location: "lobby".into(),
        user: "u1".into(),
        template: "r1".into(),
    }])
    .unwrap();
    drop(s);
    let _ = std::fs::remove_file(dir.join("LOCK"));
}

#[test]
fn v3_fixture_opens_and_answers() {
    let m = std::fs::read(fixture_v3().join("MANIFEST")).unwrap();
    let n = m.len();
    let time = |at: usize| u64::from_le_bytes(m[at..at + 8].try_into().unwrap());
    assert_eq!(u32::from_le_bytes(m[8..12].try_into().unwrap()), 3);
    // log_started, unerased_since: the checkpoint at +60 s, the face deleted at +0 s.
    assert_eq!((time(n - 20), time(n - 12)), (1_800_000_060, 1_800_000_000));
    let mut rng = Rng(13);
    let vs: Vec<Vec<f32>> = (0..3).map(|_| rng.vector(DIM)).collect();
    let answers = |s: &Store| {
        for (i, v) in vs.iter().enumerate() {
            let hits = s.identify_face(&FaceIdentify::new(v).k(1)).unwrap();
            assert_eq!(hits[0].user == format!("u{i}"), i != 1, "u{i}");
        }
        let t = edgeid::finger::FingerTemplate::from_record_bytes(&finger_record("101_2")).unwrap();
        let hits = s
            .identify_finger(&edgeid::FingerIdentify::new(t.as_ref()))
            .unwrap();
        assert_eq!(hits[0].user, "u0");
        let t = edgeid::finger::FingerTemplate::from_record_bytes(&finger_record("102_2")).unwrap();
        assert!(s
            .verify_finger("lobby", "u1", &t.as_ref())
            .unwrap()
            .is_none());
    };
    let o = |t| OpenOptions::new().threads(1).clock(at(t));
    // Before the deadline (10 minutes from +0 s): as written.
    let tmp = copy_of(&fixture_v3());
    let s = Store::open(tmp.path(), o(300)).unwrap();
    s.verify_checksums().unwrap();
    let st = s.stats();
    assert_eq!((st.faces.live, st.faces.dead), (2, 1));
    assert_eq!((st.fingers.live, st.fingers.dead), (1, 1));
    answers(&s);
    drop(s);
    // After it: erased at open, the same answers.
    let s = Store::open(tmp.path(), o(601)).unwrap();
    let st = s.stats();
    assert_eq!((st.faces.live, st.faces.dead), (2, 0));
    assert_eq!((st.fingers.live, st.fingers.dead), (1, 0));
    assert_eq!(st.maintenance_error, None);
    answers(&s);
}

fn fixture_code_keys() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/formats/code-keys")
}

/// The code key of the code-keys fixture.
const FIXTURE_KEY: [u8; 32] = [0xc5; 32];

fn code_keys_deltas() -> [Vec<u8>; 2] {
    let key = b64(&FIXTURE_KEY);
    [
        format!(
            r#"{{"format":"edgeid.delta/1","location":"hq","sequence":1,"kind":"full","code_key":"{key}","changes":[{{"op":"upsert_user","user":{{"id":"ada","codes":["2468"],"cards":[{{"format":"csn","number":"0A0B"}}]}}}}]}}"#
        )
        .into_bytes(),
        br#"{"format":"edgeid.delta/1","location":"hq","sequence":2,"kind":"changes","changes":[{"op":"upsert_user","user":{"id":"bob","codes":["97531"]}}]}"#.to_vec(),
    ]
}

/// Code keys kept apart (catalog and log version 2, `CODE-KEYS` version 1): a full delta with a
/// code key, checkpointed (a catalog file naming the key by id), and a changes delta in the log.
#[test]
#[ignore]
fn write_code_keys_fixture() {
    let dir = fixture_code_keys();
    let _ = std::fs::remove_dir_all(&dir);
    let s = Store::create(&dir, "fixture-model", DIM, OpenOptions::new().threads(1)).unwrap();
    let [d1, d2] = code_keys_deltas();
    s.apply_delta(&d1, &mut |_| {}).unwrap();
    s.checkpoint().unwrap();
    s.apply_delta(&d2, &mut |_| {}).unwrap();
    drop(s);
    let _ = std::fs::remove_file(dir.join("LOCK"));
}

#[test]
fn code_keys_fixture_opens_and_answers() {
    let tmp = copy_of(&fixture_code_keys());
    for e in std::fs::read_dir(tmp.path()).unwrap() {
        let p = e.unwrap().path();
        let b = std::fs::read(&p).unwrap();
        assert_eq!(
            contains(&b, &FIXTURE_KEY),
            p.ends_with("CODE-KEYS"),
            "{}",
            p.display()
        );
    }
    for read_only in [true, false] {
        let s = Store::open(
            tmp.path(),
            OpenOptions::new().threads(1).read_only(read_only),
        )
        .unwrap();
        assert_eq!(
            s.lookup_code(Some("hq"), "2468").unwrap().unwrap().user,
            "ada"
        );
        assert_eq!(s.lookup_code(None, "97531").unwrap().unwrap().user, "bob");
        assert_eq!(s.sync_status()[0].sequence, 2);
        if !read_only {
            for d in code_keys_deltas() {
                assert!(matches!(
                    s.apply_delta(&d, &mut |_| {}).unwrap(),
                    edgeid::sync::Outcome::AlreadyApplied { .. }
                ));
            }
        }
    }
}
