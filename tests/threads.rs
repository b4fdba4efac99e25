//! The threads a store starts, counted from `/proc/self/task` around every operation.
//!
//! `threads = 1` must start no thread at all (not even rayon's global pool behind a parallel
//! loop); `threads = n` starts exactly `n`, and closing the store joins them, so a firmware that
//! unloads the library after `close` leaves nothing of it running (see `src/store/workers.rs`).
//!
//! A plain binary (`harness = false`): libtest runs tests on threads of its own, which would
//! blur the count. Each case runs in a child process of this binary (the first case's pool, even
//! joined, must not hide a leak of the second), and the galleries are large enough that every
//! parallel path runs: commits and deltas with fingerprints (preparation), ≥ 65,536 faces and
//! ≥ 4,096 fingerprints (parallel search), checkpoints, compaction, maintenance and an upgrade-free
//! reopen.

mod common;

use common::{deltas, finger, put, MODEL};
use edgeid::store::Change;
use edgeid::{FaceIdentify, FingerIdentify, OpenOptions, Store};
use std::process::Command;

const DIM: usize = deltas::DIM;
const FACES: usize = 70_000;
const FINGERS: usize = 4_200;

fn threads_now() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .count()
}

/// Checks the count after `what`, reporting every mismatch instead of stopping at the first.
struct Counter {
    base: usize,
    extra: usize,
    failures: Vec<String>,
}

impl Counter {
    fn check(&mut self, what: &str, expected_extra: usize) {
        let now = threads_now();
        let want = self.base + expected_extra;
        println!("  {what}: {now} threads (expected {want})");
        if now != want {
            self.failures.push(format!(
                "after {what}: {now} threads, expected {want} (base {}, store threads {})",
                self.base, self.extra
            ));
        }
    }
}

fn case(n: usize) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let mut c = Counter {
        base: threads_now(),
        extra: n,
        failures: Vec::new(),
    };
    let own = if n > 1 { n } else { 0 };
    let opts = || OpenOptions::new().threads(n).checkpoint_fingers(1_024);
    let store = Store::create(&path, MODEL, DIM, opts()).unwrap();
    c.check("create", own);

    // Faces in batches (checkpoints on the way), then fingerprints (prepared in parallel).
    let mut rng = common::Rng(7);
    for b in 0..(FACES / 10_000) {
        let changes: Vec<Change> = (0..10_000)
            .map(|i| {
                let u = format!("u{}", b * 10_000 + i);
                put("local", &u, "f", rng.vector(DIM))
            })
            .collect();
        store.commit(&changes).unwrap();
    }
    c.check("face commits", own);
    let record = finger::record("mindtct", 1, "101_1");
    for b in 0..(FINGERS / 1_050) {
        let changes: Vec<Change> = (0..1_050)
            .map(|i| Change::PutFinger {
                location: "local".into(),
                user: format!("u{}", b * 1_050 + i),
                template: "r1".into(),
                record: record.clone(),
                format: None,
                position: Some(1),
            })
            .collect();
        store.commit(&changes).unwrap();
    }
    c.check("finger commits", own);

    // Deltas with faces and fingerprints (their preparation is a parallel loop of the sync).
    for d in deltas::realistic() {
        store.apply_delta(&d, &mut |_| {}).unwrap();
    }
    c.check("deltas", own);

    let probe = rng.vector(DIM);
    let hits = store
        .identify_face(&FaceIdentify::new(&probe).k(3))
        .unwrap();
    assert_eq!(hits.len(), 3);
    let fp = deltas::finger_probe("101_2");
    let hits = store
        .identify_finger(&FingerIdentify::new(fp.as_ref()).k(2))
        .unwrap();
    assert!(!hits.is_empty());
    c.check("searches", own);

    store
        .commit(&[Change::RemoveFace {
            location: "local".into(),
            user: "u1".into(),
            template: "f".into(),
        }])
        .unwrap();
    store.maintain().unwrap();
    store.checkpoint().unwrap();
    store.compact().unwrap();
    store.erase_deleted().unwrap();
    c.check("maintenance", own);

    drop(store);
    c.check("close", 0);

    let store = Store::open(&path, opts()).unwrap();
    let hits = store
        .identify_face(&FaceIdentify::new(&probe).k(1))
        .unwrap();
    assert_eq!(hits.len(), 1);
    c.check("reopen and search", own);
    drop(store);
    c.check("second close", 0);
    c.failures
}

fn main() {
    // A child runs one case: `threads --case N`.
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--case") {
        let n: usize = args[i + 1].parse().unwrap();
        let failures = case(n);
        for f in &failures {
            eprintln!("FAIL threads = {n}: {f}");
        }
        std::process::exit(i32::from(!failures.is_empty()));
    }
    let me = std::env::current_exe().unwrap();
    let mut failed = 0;
    for n in [1, 2] {
        println!("threads = {n}:");
        let ok = Command::new(&me)
            .args(["--case", &n.to_string()])
            .status()
            .unwrap()
            .success();
        if !ok {
            failed += 1;
        }
    }
    println!("{} passed, {failed} failed", 2 - failed);
    if failed > 0 {
        std::process::exit(1);
    }
}
