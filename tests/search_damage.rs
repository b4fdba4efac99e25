//! Damaged bulk data never becomes a match (issue 13, defect 2): a flipped bit in a face segment's
//! stored vector gave `verify` a score of 4.8e35 and `accepted: true`, other flips NaN or -inf.
//! Searches return scores in [-1, 1] (faces) or [0, 1] (fingerprints), finite; an exact score that
//! contradicts the template's quantised bounds is reported as corruption of the segment file.

mod common;
use common::*;
use edgeid::{Error, FaceIdentify, OpenOptions, Store};
use std::path::{Path, PathBuf};

const DIM: usize = 64;

/// Three users committed and checkpointed into one segment file; returns the store directory,
/// the segment's path and the users' raw embeddings.
fn segment_store() -> (tempfile::TempDir, PathBuf, Vec<Vec<f32>>) {
    let (dir, store) = temp_store(DIM, OpenOptions::new().threads(1));
    let mut rng = Rng(13);
    let vs: Vec<Vec<f32>> = (0..3).map(|_| rng.vector(DIM)).collect();
    store
        .commit(&[
            put("local", "ada", "t1", vs[0].clone()),
            put("local", "bob", "t1", vs[1].clone()),
            put("local", "cy", "t1", vs[2].clone()),
        ])
        .unwrap();
    store.checkpoint().unwrap();
    drop(store);
    let seg = segment_file(dir.path());
    (dir, seg, vs)
}

fn segment_file(dir: &Path) -> PathBuf {
    let segs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    assert_eq!(segs.len(), 1, "one face segment expected: {segs:?}");
    segs.into_iter().next().unwrap()
}

/// Rewrites component `i` of the stored (normalised) vector `v` in the segment with `f(bits)`.
fn damage(seg: &Path, v: &[f32], i: usize, f: impl Fn(u32) -> u32) {
    let stored = edgeid::face::normalize(v, DIM).unwrap();
    let mut bytes = std::fs::read(seg).unwrap();
    let needle = le_bytes(&stored);
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the stored vector is in the segment");
    let c = at + 4 * i;
    let bits = u32::from_le_bytes(bytes[c..c + 4].try_into().unwrap());
    bytes[c..c + 4].copy_from_slice(&f(bits).to_le_bytes());
    std::fs::write(seg, bytes).unwrap();
}

fn assert_corrupt<T: std::fmt::Debug>(r: edgeid::Result<T>, seg: &Path, what: &str) {
    match r {
        Err(Error::Corrupt { path, .. }) => assert_eq!(path, seg, "{what}: names the file"),
        other => panic!("{what}: expected a corruption error naming {seg:?}, got {other:?}"),
    }
}

/// Every damaged flip: the template's own vector as the probe never scores outside [-1, 1] nor a
/// non-finite score; verify and identify report corruption of the segment; the other users and the
/// in-memory tail still answer correctly.
fn check_flip(name: &str, f: impl Fn(u32) -> u32) {
    let (dir, seg, vs) = segment_store();
    damage(&seg, &vs[0], 5, f);
    let store = Store::open(dir.path(), OpenOptions::new().threads(1)).unwrap();
    let probe = &vs[0];

    let v = store.verify_face("local", "ada", probe);
    if let Ok(Some(h)) = &v {
        assert!(
            h.score.is_finite() && (-1.0..=1.0).contains(&h.score),
            "{name}: verify scored {}",
            h.score
        );
    }
    assert_corrupt(v, &seg, &format!("{name}: verify"));
    for k in [1, 3] {
        let r = store.identify_face(&FaceIdentify::new(probe).k(k));
        if let Ok(hits) = &r {
            for h in hits {
                assert!(
                    h.score.is_finite() && (-1.0..=1.0).contains(&h.score),
                    "{name}: identify k={k} scored {} for {}",
                    h.score,
                    h.user
                );
            }
        }
        assert_corrupt(r, &seg, &format!("{name}: identify k={k}"));
    }

    // Undamaged users still answer (their searches never re-score the damaged row).
    let hit = store.verify_face("local", "bob", &vs[1]).unwrap().unwrap();
    assert!((hit.score - 1.0).abs() < 1e-6);
    let hits = store
        .identify_face(&FaceIdentify::new(&vs[2]).threshold(0.5))
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].user, "cy");

    // The in-memory tail is not affected: a new template answers exactly.
    let mut rng = Rng(99);
    let eve = rng.vector(DIM);
    store
        .commit(&[put("local", "eve", "t1", eve.clone())])
        .unwrap();
    let hit = store.verify_face("local", "eve", &eve).unwrap().unwrap();
    assert!((hit.score - 1.0).abs() < 1e-6 && hit.score <= 1.0);
    let hits = store
        .identify_face(&FaceIdentify::new(&eve).threshold(0.5))
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].user, "eve");
}

#[test]
fn flipped_exponent_bit_is_corruption_not_a_match() {
    // Bit 30 is the exponent's top bit: a component below 2 in magnitude becomes ~1e38 times
    // larger (the 4.8e35 of the issue).
    check_flip("exponent bit 30", |b| b ^ (1 << 30));
}

#[test]
fn nan_and_infinity_are_corruption_not_a_match() {
    check_flip("NaN", |b| b | 0x7fc0_0000);
    check_flip("-inf", |_| f32::NEG_INFINITY.to_bits());
    check_flip("+inf", |_| f32::INFINITY.to_bits());
}

#[test]
fn a_small_flip_is_caught_when_it_moves_the_score_out_of_its_bounds() {
    // An exponent bit that doubles one component: the score moves by that component's square,
    // far outside the int8 bounds (about 1e-2 wide at 64-d) when the component is the largest.
    let (dir, seg, vs) = segment_store();
    let stored = edgeid::face::normalize(&vs[0], DIM).unwrap();
    let big = (0..DIM)
        .max_by(|&a, &b| stored[a].abs().total_cmp(&stored[b].abs()))
        .unwrap();
    {
        let needle = le_bytes(&stored);
        let mut bytes = std::fs::read(&seg).unwrap();
        let at = bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap();
        let c = at + 4 * big;
        let x = f32::from_le_bytes(bytes[c..c + 4].try_into().unwrap()) * 2.0;
        bytes[c..c + 4].copy_from_slice(&x.to_le_bytes());
        std::fs::write(&seg, bytes).unwrap();
    }
    let store = Store::open(dir.path(), OpenOptions::new().threads(1)).unwrap();
    assert_corrupt(
        store.verify_face("local", "ada", &vs[0]),
        &seg,
        "doubled component: verify",
    );
    assert_corrupt(
        store.identify_face(&FaceIdentify::new(&vs[0])),
        &seg,
        "doubled component: identify",
    );
}

#[test]
fn scores_never_exceed_one() {
    // A probe equal to a stored template scores 1 up to rounding; the answer is clamped to [-1, 1].
    let (_dir, store) = temp_store(DIM, OpenOptions::new().threads(1));
    let mut rng = Rng(5);
    let vs: Vec<Vec<f32>> = (0..50).map(|_| rng.vector(DIM)).collect();
    let changes: Vec<_> = vs
        .iter()
        .enumerate()
        .map(|(i, v)| put("local", &format!("u{i}"), "t", v.clone()))
        .collect();
    store.commit(&changes).unwrap();
    for round in 0..2 {
        for (i, v) in vs.iter().enumerate() {
            let hits = store.identify_face(&FaceIdentify::new(v).k(50)).unwrap();
            assert!(hits
                .iter()
                .all(|h| h.score.is_finite() && (-1.0..=1.0).contains(&h.score)));
            let h = store
                .verify_face("local", &format!("u{i}"), v)
                .unwrap()
                .unwrap();
            assert!(
                (-1.0..=1.0).contains(&h.score),
                "round {round}: {}",
                h.score
            );
        }
        store.checkpoint().unwrap();
    }
}
