//! The store against an in-memory model: random operation sequences, reopen after each kind of
//! operation, bad input, full disk, the writer lock, erasure of deleted templates.

mod common;
use common::*;
use edgeid::fs::{Fs, SimFs};
use edgeid::{Change, Error, FaceIdentify, OpenOptions, Store};
use std::path::Path;

const DIM: usize = 16;

fn opts(fs: &SimFs) -> OpenOptions {
    on_sim(fs).checkpoint_rows(40)
}

fn random_change(rng: &mut Rng, m: &Model) -> Change {
    let user = format!("u{}", rng.below(12));
    let loc = if rng.below(4) == 0 { "b" } else { "a" };
    match rng.below(10) {
        0..=5 => put(loc, &user, &format!("t{}", rng.below(3)), rng.vector(DIM)),
        6 | 7 => match m.keys().nth(rng.below(m.len().max(1) as u64) as usize) {
            Some(k) if rng.below(5) > 0 => Change::RemoveFace {
                location: k.0.clone(),
                user: k.1.clone(),
                template: k.2.clone(),
            },
            _ => Change::RemoveFace {
                location: loc.into(),
                user,
                template: "t9".into(),
            },
        },
        _ => Change::RemoveUser {
            location: loc.into(),
            user,
        },
    }
}

#[test]
fn random_operations_match_the_model_across_reopens() {
    for seed in 0..12u64 {
        let fs = SimFs::new();
        let mut store = create_sim(DIM, opts(&fs));
        let mut model = Model::new();
        let mut rng = Rng(seed);
        for step in 0..150 {
            let n = 1 + rng.below(4) as usize;
            let batch: Vec<Change> = (0..n).map(|_| random_change(&mut rng, &model)).collect();
            let ok = apply_model(&mut model, &batch, DIM);
            let before = store.snapshot().seq();
            let res = store.commit(&batch);
            assert_eq!(
                res.is_ok(),
                ok,
                "seed {seed} step {step}: {res:?} for {batch:?}"
            );
            if !ok {
                assert_eq!(
                    store.snapshot().seq(),
                    before,
                    "a refused batch changed nothing"
                );
            }
            match rng.below(20) {
                0 => store.checkpoint().unwrap(),
                1 => store.compact().unwrap(),
                2 => {
                    drop(store);
                    store = open_sim(opts(&fs)).unwrap();
                }
                3 => {
                    drop(store);
                    let fs2 = fs.clean_restart();
                    store = open_sim(opts(&fs2)).unwrap();
                    // keep using the restarted disk
                    drop(store);
                    store = open_sim(opts(&fs2)).unwrap();
                    assert_eq!(model_of(&store.snapshot()), model);
                    drop(store);
                    store = open_sim(opts(&fs)).unwrap();
                }
                _ => {}
            }
            assert_eq!(
                model_of(&store.snapshot()),
                model,
                "seed {seed} step {step}"
            );
            let st = store.stats();
            assert_eq!(st.faces.live, model.len());
        }
        // Search agrees with the model too.
        if let Some((k, v)) = model.iter().next() {
            let hits = store.identify_face(&FaceIdentify::new(v).k(1)).unwrap();
            assert!((hits[0].score - 1.0).abs() < 1e-6, "{k:?} {hits:?}");
        }
        store.verify_checksums().unwrap();
    }
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let fs = SimFs::new();
    let store = create_sim(DIM, opts(&fs));
    store
        .commit(&[put("a", "u1", "t1", vec![1.0; DIM])])
        .unwrap();
    let files_before = fs.all_bytes().len();
    let seq = store.snapshot().seq();
    let bad: Vec<(Vec<Change>, &str)> = vec![
        (
            vec![put("a", "u2", "t1", vec![1.0; DIM - 1])],
            "expected 16 floats, got 15",
        ),
        (
            vec![put("a", "u2", "t1", vec![f32::NAN; DIM])],
            "must be finite",
        ),
        (vec![put("a", "u2", "t1", vec![0.0; DIM])], "zero vector"),
        (vec![put("a", "", "t1", vec![1.0; DIM])], "user id must be"),
        (
            vec![put("a", &"x".repeat(65), "t1", vec![1.0; DIM])],
            "user id must be",
        ),
        (
            vec![
                put("a", "u2", "t1", vec![1.0; DIM]),
                Change::RemoveUser {
                    location: "a".into(),
                    user: "ghost".into(),
                },
            ],
            "change 1: user \"ghost\"",
        ),
        (
            vec![Change::RemoveFace {
                location: "a".into(),
                user: "u1".into(),
                template: "nope".into(),
            }],
            "not found",
        ),
    ];
    for (batch, msg) in bad {
        let e = store.commit(&batch).unwrap_err().to_string();
        assert!(e.contains(msg), "{e:?} should contain {msg:?}");
        assert_eq!(store.snapshot().seq(), seq);
        assert_eq!(store.snapshot().live_faces(), 1);
    }
    assert_eq!(fs.all_bytes().len(), files_before);
    // The refused batches left no trace after a reopen either.
    drop(store);
    let store = open_sim(opts(&fs)).unwrap();
    assert_eq!(store.snapshot().live_faces(), 1);
}

#[test]
fn a_full_disk_refuses_the_commit_and_the_store_stays_usable() {
    let fs = SimFs::new();
    let store = create_sim(DIM, opts(&fs));
    store
        .commit(&[put("a", "u1", "t1", vec![1.0; DIM])])
        .unwrap();
    let used: u64 = fs.all_bytes().iter().map(|f| f.1.len() as u64).sum();
    fs.set_capacity(Some(used + 50));
    let big: Vec<Change> = (0..10)
        .map(|i| put("a", &format!("v{i}"), "t", vec![1.0; DIM]))
        .collect();
    let e = store.commit(&big).unwrap_err();
    assert!(matches!(e, Error::StorageFull { .. }), "{e}");
    assert_eq!(store.snapshot().live_faces(), 1);
    fs.set_capacity(None);
    store.commit(&big).unwrap();
    assert_eq!(store.snapshot().live_faces(), 11);
    drop(store);
    let store = open_sim(opts(&fs)).unwrap();
    assert_eq!(store.snapshot().live_faces(), 11);
}

#[test]
fn a_second_writer_is_locked_out() {
    let (dir, s) = temp_store(DIM, OpenOptions::new());
    let e = Store::open(dir.path(), OpenOptions::new()).unwrap_err();
    assert!(matches!(e, Error::Locked(_)), "{e}");
    drop(s);
    Store::open(dir.path(), OpenOptions::new()).unwrap();
    let e = Store::open(&dir.path().join("missing"), OpenOptions::new()).unwrap_err();
    assert!(e.to_string().contains("holds no store"), "{e}");
    let e = Store::create(dir.path(), MODEL, DIM, OpenOptions::new()).unwrap_err();
    assert!(e.to_string().contains("already holds a store"), "{e}");
}

#[test]
fn deleted_templates_are_erased_from_every_file() {
    let fs = SimFs::new();
    let store = create_sim(DIM, opts(&fs));
    let mut rng = Rng(5);
    let secret = edgeid::face::normalize(&rng.vector(DIM), DIM).unwrap();
    let secret_bytes = le_bytes(&secret);
    let mut batch: Vec<Change> = (0..30)
        .map(|i| put("a", &format!("o{i}"), "t", rng.vector(DIM)))
        .collect();
    batch.push(put("a", "leaver", "t", secret.clone()));
    store.commit(&batch).unwrap();
    store.checkpoint().unwrap(); // now in a segment file, and still in no log
    store
        .commit(&[put("a", "late", "t", rng.vector(DIM))])
        .unwrap();
    assert!(fs
        .all_bytes()
        .iter()
        .any(|(_, b)| contains(b, &secret_bytes)));
    store
        .commit(&[Change::RemoveUser {
            location: "a".into(),
            user: "leaver".into(),
        }])
        .unwrap();
    assert_eq!(store.erase_deleted().unwrap(), 0);
    for (p, b) in fs.all_bytes() {
        assert!(
            !contains(&b, &secret_bytes),
            "{} still holds the deleted template",
            p.display()
        );
    }
    assert_eq!(store.snapshot().live_faces(), 31);
    // The same within the log only (deleted before any checkpoint).
    let secret2 = edgeid::face::normalize(&rng.vector(DIM), DIM).unwrap();
    let bytes2 = le_bytes(&secret2);
    store.commit(&[put("a", "brief", "t", secret2)]).unwrap();
    store
        .commit(&[Change::RemoveUser {
            location: "a".into(),
            user: "brief".into(),
        }])
        .unwrap();
    store.erase_deleted().unwrap();
    assert!(fs.all_bytes().iter().all(|(_, b)| !contains(b, &bytes2)));
}

#[test]
fn erasure_waits_for_searches_that_still_map_a_file() {
    let fs = SimFs::new();
    let store = create_sim(DIM, opts(&fs));
    store
        .commit(&[
            put("a", "x", "t", vec![1.0; DIM]),
            put("a", "y", "t", vec![-1.0; DIM]),
        ])
        .unwrap();
    store.checkpoint().unwrap();
    let held = store.snapshot(); // a search in progress
    store
        .commit(&[Change::RemoveUser {
            location: "a".into(),
            user: "x".into(),
        }])
        .unwrap();
    assert_eq!(
        store.erase_deleted().unwrap(),
        1,
        "the mapped segment waits"
    );
    // The held snapshot still reads consistent data.
    let hits = edgeid::index::face::identify(
        &held,
        store.kernels(),
        None,
        &FaceIdentify::new(&[1.0; DIM]),
    )
    .unwrap();
    assert_eq!(hits[0].user, "x");
    drop(held);
    store.maintain().unwrap();
    assert_eq!(store.erase_deleted().unwrap(), 0);
}

#[test]
fn erasure_happens_by_itself_when_due() {
    let fs = SimFs::new();
    let o = opts(&fs).erase_within(std::time::Duration::ZERO);
    let store = create_sim(DIM, o);
    let v = edgeid::face::normalize(&Rng(9).vector(DIM), DIM).unwrap();
    let vb = le_bytes(&v);
    store
        .commit(&[put("a", "x", "t", v), put("a", "y", "t", vec![1.0; DIM])])
        .unwrap();
    store.checkpoint().unwrap();
    store
        .commit(&[Change::RemoveUser {
            location: "a".into(),
            user: "x".into(),
        }])
        .unwrap();
    for (p, b) in fs.all_bytes() {
        assert!(
            !contains(&b, &vb),
            "{} still holds it; files: {:?}",
            p.display(),
            fs.list(Path::new(SIM_DIR))
        );
    }
}

#[test]
fn commit_reports_added_replaced_unchanged_and_removed() {
    let (_dir, store) = temp_store(DIM, OpenOptions::new());
    let v = Rng(21).vector(DIM);
    let w = Rng(22).vector(DIM);
    let put = |t: &str, e: &[f32]| Change::PutFace {
        location: "hq".into(),
        user: "u".into(),
        template: t.into(),
        embedding: e.to_vec(),
    };
    let c = store.commit(&[put("a", &v), put("b", &v)]).unwrap();
    assert_eq!((c.seq, c.added, c.replaced, c.unchanged), (1, 2, 0, 0));
    // Put again unchanged: nothing written, the sequence stays.
    let c = store.commit(&[put("a", &v)]).unwrap();
    assert_eq!((c.seq, c.added, c.replaced, c.unchanged), (1, 0, 0, 1));
    let c = store.commit(&[put("a", &w)]).unwrap();
    assert_eq!((c.seq, c.added, c.replaced, c.unchanged), (2, 0, 1, 0));
    let c = store
        .commit(&[Change::RemoveUser {
            location: "hq".into(),
            user: "u".into(),
        }])
        .unwrap();
    assert_eq!((c.seq, c.removed), (3, 2));
}

#[test]
fn one_kernel_selection_pins_face_and_finger_kernels() {
    use edgeid::kernels::{FingerKernels, Kernels};
    let (_dir, store) = temp_store(DIM, OpenOptions::new().kernels(Kernels::scalar()));
    let st = store.stats();
    assert_eq!((st.kernel, st.finger_kernel), ("scalar", "scalar"));
    let (_dir, store) = temp_store(DIM, OpenOptions::new());
    let st = store.stats();
    assert_eq!(st.kernel, Kernels::detect().name);
    assert_eq!(st.finger_kernel, FingerKernels::detect().name);
}

#[test]
fn local_template_changes_are_refused_in_a_platform_managed_location() {
    let (_dir, store) = temp_store(DIM, OpenOptions::new());
    let delta = r#"{"format":"edgeid.delta/1","location":"hq","sequence":1,"kind":"full","changes":[{"op":"upsert_user","user":{"id":"ada"}}]}"#;
    store.apply_delta(delta.as_bytes(), &mut |_| {}).unwrap();
    let digest = store.digest("hq").unwrap();
    let put = |l: &str| Change::PutFace {
        location: l.into(),
        user: "mallory".into(),
        template: "t".into(),
        embedding: Rng(5).vector(DIM),
    };
    // A stranger enrolled locally into a synchronised location would match at its doors while
    // the digest still says the location equals the platform's.
    let e = store.commit(&[put("local"), put("hq")]).unwrap_err();
    assert!(e.to_string().contains("managed by the platform"), "{e}");
    assert_eq!(
        store.snapshot().live_faces(),
        0,
        "nothing of a refused batch is applied"
    );
    assert!(store
        .commit(&[Change::RemoveUser {
            location: "hq".into(),
            user: "ada".into(),
        }])
        .is_err());
    assert_eq!(store.digest("hq").unwrap(), digest);
    // Local locations stay open to local enrolment.
    assert_eq!(store.commit(&[put("local")]).unwrap().added, 1);
}
