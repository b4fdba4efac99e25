//! Exactness: identification equals a brute-force scan, on every kernel, on random and adversarial data.

mod common;
use common::*;
use edgeid::fs::SimFs;
use edgeid::index::face::{identify, identify_brute_force};
use edgeid::kernels::Kernels;
use edgeid::{FaceIdentify, Store};

/// A store on a simulated disk, searched with two threads.
fn two_thread_store(dim: usize) -> Store {
    create_sim(dim, on_sim(&SimFs::new()).threads(2))
}

fn check_all(
    store: &Store,
    probes: &[Vec<f32>],
    ks: &[usize],
    thresholds: &[f64],
    loc: Option<&str>,
) {
    let snap = store.snapshot();
    let reference = Kernels::scalar();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    for p in probes {
        for &k in ks {
            for &t in thresholds {
                let mut req = FaceIdentify::new(p).k(k).threshold(t);
                if let Some(l) = loc {
                    req = req.location(l);
                }
                let want = identify_brute_force(&snap, reference, &req).unwrap();
                for kern in Kernels::all_available() {
                    let got = identify(&snap, kern, None, &req).unwrap();
                    assert_eq!(got, want, "kernel {} k={k} t={t}", kern.name);
                    let got = identify(&snap, kern, Some(&pool), &req).unwrap();
                    assert_eq!(got, want, "kernel {} parallel k={k} t={t}", kern.name);
                }
            }
        }
    }
}

#[test]
fn random_gallery_matches_brute_force() {
    // 66,300 templates: above the size where a search is split over the threads.
    let dim = 128;
    let store = two_thread_store(dim);
    let mut rng = Rng(1);
    let mut gallery = Vec::new();
    let mut batch = Vec::new();
    for i in 0..66_000 {
        let v = rng.vector(dim);
        gallery.push(v.clone());
        batch.push(put("local", &format!("u{}", i / 3), &format!("t{i}"), v));
        if batch.len() == 6000 {
            store.commit(&batch).unwrap();
            batch.clear();
        }
    }
    store.checkpoint().unwrap();
    // More in the tail after the checkpoint, so both segments and tail blocks are searched.
    for i in 66_000..66_300 {
        let v = rng.vector(dim);
        gallery.push(v.clone());
        store
            .commit(&[put("local", &format!("u{}", i / 3), &format!("t{i}"), v)])
            .unwrap();
    }
    let mut probes: Vec<Vec<f32>> = (0..6)
        .map(|i| rng.near(&gallery[i * 11_000], 0.5))
        .collect();
    probes.push(rng.vector(dim)); // matches nobody well
    check_all(&store, &probes, &[1, 3, 10], &[-1.0, 0.0, 0.5], None);
    let top = store
        .identify_face(&FaceIdentify::new(&probes[0]).k(1))
        .unwrap();
    assert_eq!(top[0].user, "u0");
    assert!(top[0].score > 0.8);
}

#[test]
fn duplicates_and_near_ties_match_brute_force_and_ties_break_by_id() {
    let dim = 64;
    let store = two_thread_store(dim);
    let mut rng = Rng(7);
    let base = rng.vector(dim);
    let mut changes = Vec::new();
    // The same vector under many users and templates: exact ties everywhere.
    for u in 0..20 {
        for t in 0..3 {
            changes.push(put(
                "local",
                &format!("dup{u:02}"),
                &format!("t{t}"),
                base.clone(),
            ));
        }
    }
    // Near-ties: tiny perturbations, below int8 resolution.
    for u in 0..50 {
        let mut v = base.clone();
        v[u % dim] += 1e-6 * (u as f32 + 1.0);
        changes.push(put("local", &format!("near{u:02}"), "a", v));
    }
    // Many templates for one user, plus a second location holding the same ids.
    for t in 0..100 {
        changes.push(put(
            "local",
            "many",
            &format!("t{t:03}"),
            rng.near(&base, 1.0),
        ));
        changes.push(put(
            "other",
            "many",
            &format!("t{t:03}"),
            rng.near(&base, 1.0),
        ));
    }
    for _ in 0..400 {
        let u = rng.below(1000);
        changes.push(put(
            "local",
            &format!("r{u}"),
            &format!("x{}", rng.next_u64()),
            rng.vector(dim),
        ));
    }
    store.commit(&changes).unwrap();
    let probes = vec![
        base.clone(),
        rng.near(&base, 0.3),
        base.iter().map(|x| -x).collect(),
    ];
    check_all(
        &store,
        &probes,
        &[1, 5, 25, 200],
        &[-1.0, 0.9, 0.999_999],
        None,
    );
    check_all(&store, &probes, &[1, 5], &[-1.0], Some("other"));
    check_all(&store, &probes, &[3], &[-1.0], Some("nowhere"));
    // Ties are broken by user id, then template id: the 20 duplicate users score exactly alike.
    let hits = store
        .identify_face(&FaceIdentify::new(&base).k(200))
        .unwrap();
    let dups: Vec<&edgeid::FaceHit> = hits.iter().filter(|h| h.user.starts_with("dup")).collect();
    assert_eq!(dups.len(), 20);
    assert!(dups
        .iter()
        .all(|h| h.score == dups[0].score && h.template == "t0"));
    let users: Vec<&str> = dups.iter().map(|h| h.user.as_str()).collect();
    let mut sorted = users.clone();
    sorted.sort();
    assert_eq!(users, sorted);
    for w in hits.windows(2) {
        assert!(w[0].score > w[1].score || (w[0].score == w[1].score && w[0].user <= w[1].user));
    }
}

#[test]
fn bad_probes_are_refused() {
    let store = two_thread_store(16);
    store
        .commit(&[put("local", "u", "t", vec![1.0; 16])])
        .unwrap();
    let err = |p: &[f32]| {
        store
            .identify_face(&FaceIdentify::new(p))
            .unwrap_err()
            .to_string()
    };
    assert!(err(&[1.0; 15]).contains("expected 16 floats, got 15"));
    let mut nan = vec![1.0; 16];
    nan[3] = f32::NAN;
    assert!(err(&nan).contains("component 3"));
    assert!(err(&[0.0; 16]).contains("zero vector"));
    assert!(store
        .identify_face(&FaceIdentify::new(&[1.0; 16]).threshold(f64::NAN))
        .is_err());
    // The same request rules as fingerprints: k = 0 and a malformed location filter are refused.
    assert!(store
        .identify_face(&FaceIdentify::new(&[1.0; 16]).k(0))
        .unwrap_err()
        .to_string()
        .contains("k must be at least 1"));
    assert!(store
        .identify_face(&FaceIdentify::new(&[1.0; 16]).location(""))
        .is_err());
}

#[test]
fn verify_scores_one_user_exactly() {
    let dim = 32;
    let store = two_thread_store(dim);
    let mut rng = Rng(3);
    let a = rng.vector(dim);
    let b = rng.vector(dim);
    store
        .commit(&[
            put("local", "ada", "t1", a.clone()),
            put("local", "ada", "t2", b.clone()),
            put("local", "bob", "t1", b.clone()),
        ])
        .unwrap();
    let hit = store.verify_face("local", "ada", &b).unwrap().unwrap();
    assert_eq!(hit.template, "t2");
    assert!((hit.score - 1.0).abs() < 1e-6);
    assert!(store.verify_face("local", "nobody", &b).unwrap().is_none());
    assert!(store.verify_face("other", "ada", &b).unwrap().is_none());
    store.checkpoint().unwrap();
    let again = store.verify_face("local", "ada", &b).unwrap().unwrap();
    assert_eq!(again, hit);
}
