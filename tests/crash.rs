//! Crash safety. Two ways of pulling the plug:
//! - a simulated disk ([`SimFs`]) that loses power at every sync point of commits, checkpoints and
//!   compactions, keeping only durable bytes (plus torn tails of unsynced appends);
//! - a child process killed with SIGKILL at random moments while it commits (>= 100 trials).
//!
//! After either, the reopened store must hold exactly the last acknowledged state, or that state plus
//! the one commit in flight — never anything in between.

mod common;
use common::*;
use edgeid::store::fs::SimFs;
use edgeid::{Change, OpenOptions, Store};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

const DIM: usize = 16;

/// The j-th batch of a scenario: valid against `m` (puts, replacements, removals of existing keys).
fn batch(seed: u64, j: u64, m: &Model) -> Vec<Change> {
    let mut rng = Rng(seed * 1_000_003 + j);
    let n = 1 + rng.below(5);
    let mut out = Vec::new();
    let mut local = m.clone();
    for _ in 0..n {
        let c = if !local.is_empty() && rng.below(4) == 0 {
            let k = local
                .keys()
                .nth(rng.below(local.len() as u64) as usize)
                .unwrap()
                .clone();
            Change::RemoveFace {
                location: k.0,
                user: k.1,
                template: k.2,
            }
        } else {
            put(
                "a",
                &format!("u{}", rng.below(30)),
                &format!("t{}", rng.below(2)),
                rng.vector(DIM),
            )
        };
        assert!(apply_model(&mut local, std::slice::from_ref(&c), DIM));
        out.push(c);
    }
    out
}

/// What a scenario step does besides committing.
fn housekeeping(store: &Store, j: u64) -> edgeid::Result<()> {
    match j % 7 {
        3 => store.checkpoint(),
        5 => store.compact(),
        _ => Ok(()),
    }
}

fn sim_opts(fs: &SimFs) -> OpenOptions {
    OpenOptions::new()
        .fs(Arc::new(fs.clone()))
        .threads(1)
        .checkpoint_rows(8)
}

#[test]
fn power_loss_at_every_sync_point() {
    let steps = 14u64;
    let seed = 42;
    // Dry run: count the sync points.
    let fs = SimFs::new();
    let store = Store::create(Path::new("/s"), "m", DIM, sim_opts(&fs)).unwrap();
    let start = fs.syncs();
    let mut m = Model::new();
    for j in 0..steps {
        let b = batch(seed, j, &m);
        store.commit(&b).unwrap();
        apply_model(&mut m, &b, DIM);
        housekeeping(&store, j).unwrap();
    }
    let total = fs.syncs() - start;
    assert!(total > 30, "only {total} sync points");
    drop(store);

    let mut trials = 0;
    for point in 1..=total {
        for torn_seed in 0..3u64 {
            let fs = SimFs::new();
            let store = Store::create(Path::new("/s"), "m", DIM, sim_opts(&fs)).unwrap();
            fs.fail_at_sync(point);
            let mut committed = Model::new();
            let mut in_flight: Option<Model> = None;
            for j in 0..steps {
                let b = batch(seed, j, &committed);
                let mut next = committed.clone();
                apply_model(&mut next, &b, DIM);
                match store.commit(&b) {
                    Ok(_) => committed = next,
                    Err(_) => {
                        in_flight = Some(next);
                        break;
                    }
                }
                if housekeeping(&store, j).is_err() {
                    break;
                }
            }
            drop(store);
            let after = fs.power_loss(point * 31 + torn_seed);
            let store = Store::open(Path::new("/s"), sim_opts(&after))
                .unwrap_or_else(|e| panic!("sync point {point}: reopen failed: {e}"));
            let got = model_of(&store.snapshot());
            assert!(
                got == committed || in_flight.as_ref() == Some(&got),
                "sync point {point} seed {torn_seed}: state is neither the committed one nor the one in flight"
            );
            store.verify_checksums().unwrap();
            // The recovered store takes new commits and survives another power loss cleanly.
            let b = batch(seed, 999, &got);
            store.commit(&b).unwrap();
            let mut want = got.clone();
            apply_model(&mut want, &b, DIM);
            drop(store);
            let again = Store::open(Path::new("/s"), sim_opts(&after.power_loss(7))).unwrap();
            assert_eq!(
                model_of(&again.snapshot()),
                want,
                "sync point {point}: acknowledged commit lost"
            );
            trials += 1;
        }
    }
    assert!(trials >= 90);
}

/// The child side of the SIGKILL test: commits batches forever, printing "ok <j>" after each commit
/// returns. Does nothing unless started by `sigkill_during_commits`.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("EDGEID_CRASH_CHILD") else {
        return;
    };
    let seed: u64 = std::env::var("EDGEID_CRASH_SEED").unwrap().parse().unwrap();
    let dir = Path::new(&dir);
    let opts = OpenOptions::new().threads(1).checkpoint_rows(16);
    let store = Store::open(dir, opts).unwrap();
    let mut m = model_of(&store.snapshot());
    let start = store.snapshot().seq();
    for j in start.. {
        let b = batch(seed, j, &m);
        store.commit(&b).unwrap();
        apply_model(&mut m, &b, DIM);
        println!("ok {j}");
        housekeeping(&store, j).unwrap();
    }
}

#[test]
fn sigkill_during_commits() {
    let exe = std::env::current_exe().unwrap();
    let trials = 100;
    let mut rng = Rng(2026);
    for trial in 0..trials {
        let dir = tempfile::tempdir().unwrap();
        let seed = 1000 + trial;
        drop(Store::create(dir.path(), "m", DIM, OpenOptions::new().threads(1)).unwrap());
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env("EDGEID_CRASH_CHILD", dir.path())
            .env("EDGEID_CRASH_SEED", seed.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let wait_for = rng.below(25);
        let mut acked: Option<u64> = None;
        // libtest prints "test NAME ... " before the test body runs, so the first ack shares its line.
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        while acked.is_none_or(|a| a < wait_for) {
            let Some(Ok(line)) = lines.next() else { break };
            if let Some((_, n)) = line.rsplit_once("ok ") {
                acked = Some(n.parse().unwrap());
            }
        }
        // Kill at a random instant inside the following commits.
        std::thread::sleep(std::time::Duration::from_micros(rng.below(3000)));
        child.kill().unwrap();
        child.wait().unwrap();
        for line in lines.map_while(Result::ok) {
            if let Some((_, n)) = line.rsplit_once("ok ") {
                acked = Some(n.parse().unwrap());
            }
        }
        let store = Store::open(dir.path(), OpenOptions::new().threads(1)).unwrap();
        let got = model_of(&store.snapshot());
        // Rebuild the acknowledged state and the one after it.
        let mut m = Model::new();
        let upto = acked.map_or(0, |a| a + 1);
        for j in 0..upto {
            let b = batch(seed, j, &m);
            apply_model(&mut m, &b, DIM);
        }
        let mut next = m.clone();
        let b = batch(seed, upto, &m);
        apply_model(&mut next, &b, DIM);
        assert!(
            got == m || got == next,
            "trial {trial}: state after SIGKILL is neither commit {upto} nor {}",
            upto + 1
        );
        store.verify_checksums().unwrap();
    }
}
