//! Resource limits (issue 13, defect 8): a search asking for billions of users allocates by what
//! exists, not by `k`; a delta larger than the store's limit is refused before it is parsed, and
//! nothing of it is applied.

mod common;
use common::finger::record;
use common::*;
use edgeid::finger::FingerTemplate;
use edgeid::sync::Refusal;
use edgeid::{Change, Error, FaceIdentify, FingerIdentify, OpenOptions};
use serde_json::json;

const DIM: usize = 32;

#[test]
fn face_identify_with_a_huge_k_returns_the_normal_answer() {
    let (_dir, s) = temp_store(DIM, OpenOptions::new().threads(2));
    let mut rng = Rng(8);
    let vs: Vec<Vec<f32>> = (0..20).map(|_| rng.vector(DIM)).collect();
    let changes: Vec<Change> = vs
        .iter()
        .enumerate()
        .map(|(i, v)| put("local", &format!("u{i:02}"), "t", v.clone()))
        .collect();
    s.commit(&changes).unwrap();
    let want = s.identify_face(&FaceIdentify::new(&vs[3]).k(20)).unwrap();
    assert_eq!(want.len(), 20);
    for round in 0..2 {
        for k in [3_000_000_000usize, usize::MAX] {
            let got = s.identify_face(&FaceIdentify::new(&vs[3]).k(k)).unwrap();
            assert_eq!(got, want, "round {round} k={k}");
        }
        s.checkpoint().unwrap();
    }
    // An empty store too.
    let (_dir, empty) = temp_store(DIM, OpenOptions::new().threads(1));
    for k in [3_000_000_000usize, usize::MAX] {
        assert!(empty
            .identify_face(&FaceIdentify::new(&vs[0]).k(k))
            .unwrap()
            .is_empty());
    }
}

#[test]
fn finger_identify_with_a_huge_k_returns_the_normal_answer() {
    let (_dir, s) = temp_store(DIM, OpenOptions::new().threads(2));
    let changes: Vec<Change> = ["101_1", "102_1", "103_1"]
        .iter()
        .map(|n| Change::PutFinger {
            location: "local".into(),
            user: n.to_string(),
            template: "r".into(),
            record: record("mindtct", 1, n),
            format: None,
            position: Some(2),
        })
        .collect();
    s.commit(&changes).unwrap();
    let probe = FingerTemplate::from_record_bytes(&record("mindtct", 1, "101_2")).unwrap();
    let want = s
        .identify_finger(&FingerIdentify::new(probe.as_ref()).k(3))
        .unwrap();
    assert_eq!(want.len(), 3);
    for k in [3_000_000_000usize, usize::MAX] {
        let got = s
            .identify_finger(&FingerIdentify::new(probe.as_ref()).k(k))
            .unwrap();
        assert_eq!(got, want, "k={k}");
    }
}

/// A full delta of `users` users with one face each.
fn full_delta(users: usize, seq: u64) -> Vec<u8> {
    let mut rng = Rng(4);
    let changes: Vec<_> = (0..users)
        .map(|i| {
            json!({"op": "upsert_user", "user": {"id": format!("u{i}"), "enabled": true,
                "faces": [{"id": "f1", "model": MODEL, "embedding": b64(&le_bytes(&rng.vector(DIM)))}]}})
        })
        .collect();
    serde_json::to_vec(
        &json!({"format": "edgeid.delta/1", "location": "hq", "sequence": seq,
        "kind": "full", "code_key": b64(&[7; 32]), "changes": changes}),
    )
    .unwrap()
}

#[test]
fn a_delta_over_the_size_limit_is_refused_before_parsing_and_changes_nothing() {
    let small = full_delta(3, 1);
    let big = full_delta(50, 2);
    let limit = big.len() - 1;
    let (_dir, s) = temp_store(DIM, OpenOptions::new().max_delta_bytes(limit));
    assert_eq!(s.max_delta_bytes(), limit);
    s.apply_delta(&small, &mut |_| {}).unwrap();
    let before = s.digest("hq").unwrap();
    let mut progress = 0;
    let err = s.apply_delta(&big, &mut |_| progress += 1).unwrap_err();
    match &err {
        Error::Refused(Refusal::TooLarge { size, limit: l }) => {
            assert_eq!((*size, *l), (big.len(), limit));
        }
        other => panic!("expected a size refusal, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&big.len().to_string()) && msg.contains(&limit.to_string()),
        "{msg}"
    );
    assert_eq!(
        progress, 0,
        "refused before parsing: no validation progress"
    );
    // Not even JSON: still refused by size, not by the parser.
    let junk = vec![b'x'; limit + 1];
    assert!(matches!(
        s.apply_delta(&junk, &mut |_| {}),
        Err(Error::Refused(Refusal::TooLarge { .. }))
    ));
    assert_eq!(s.digest("hq").unwrap(), before);
    assert_eq!(s.stats().faces.live, 3);
    // At the limit it is accepted.
    let (_dir, s) = temp_store(DIM, OpenOptions::new().max_delta_bytes(big.len()));
    s.apply_delta(&big, &mut |_| {}).unwrap();
    assert_eq!(s.stats().faces.live, 50);
}

#[test]
fn the_default_limit_fits_a_ten_thousand_user_site() {
    // 10,000 users with one 512-d face each are about 29 MB as the CLI's generator writes them
    // (`edgeid bench sync`); the default leaves room for fingerprints and growth.
    let (_dir, s) = temp_store(DIM, OpenOptions::new());
    let d = s.max_delta_bytes();
    assert_eq!(d, edgeid::store::DEFAULT_MAX_DELTA_BYTES);
    assert!(d >= 2 * 29_000_000, "{d}");
}
