//! Crash safety of face commits, checkpoints and compactions, by the crash harness
//! (`tests/common/crash.rs`): power loss at every sync point of a simulated disk, and a child
//! process killed with SIGKILL at random moments while it commits (100 trials).
//!
//! After either, the reopened store must hold exactly the last acknowledged state, or that state plus
//! the one commit in flight — never anything in between.

mod common;
use common::crash::{sigkill_child, PowerLoss, Scenario, Sigkill};
use common::*;
use edgeid::fs::SimFs;
use edgeid::{Change, OpenOptions, Store};

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

/// Batches of seed `seed`, each followed by a checkpoint or compaction now and then.
struct Commits {
    seed: u64,
}

impl Scenario for Commits {
    type State = Model;
    fn start(&self) -> Model {
        Model::new()
    }
    fn expect(&self, j: u64, m: &Model) -> Model {
        let mut next = m.clone();
        apply_model(&mut next, &batch(self.seed, j, m), DIM);
        next
    }
    fn perform(&self, store: &Store, j: u64, m: &Model) -> edgeid::Result<()> {
        store.commit(&batch(self.seed, j, m)).map(drop)
    }
    fn housekeeping(&self, store: &Store, j: u64) -> edgeid::Result<()> {
        match j % 7 {
            3 => store.checkpoint(),
            5 => store.compact(),
            _ => Ok(()),
        }
    }
    fn observe(&self, store: &Store) -> Model {
        model_of(&store.snapshot())
    }
    fn check_recovered(&self, store: &Store, _: &Model, at: &str) {
        store
            .verify_checksums()
            .unwrap_or_else(|e| panic!("{at}: {e}"));
    }
}

fn sim_opts(fs: &SimFs) -> OpenOptions {
    on_sim(fs).checkpoint_rows(8)
}

#[test]
fn power_loss_at_every_sync_point() {
    let seed = 42;
    let scenario = Commits { seed };
    let harness = PowerLoss {
        opts: &sim_opts,
        dim: DIM,
        steps: 14,
        losses_per_point: 3,
        seed_stride: 31,
    };
    let covered = harness.run_then(&scenario, |store, disk, got, at| {
        // The recovered store takes new commits and survives another power loss cleanly.
        let b = batch(seed, 999, got);
        store.commit(&b).unwrap();
        let mut want = got.clone();
        apply_model(&mut want, &b, DIM);
        drop(store);
        let again = open_sim(sim_opts(&disk.power_loss(7))).unwrap();
        assert_eq!(
            model_of(&again.snapshot()),
            want,
            "{at}: acknowledged commit lost"
        );
    });
    assert!(
        covered.sync_points > 30,
        "only {} sync points",
        covered.sync_points
    );
    assert!(covered.trials >= 90);
}

/// The child side of `sigkill_during_commits`: commits batches forever, printing "ok <n>" after the
/// n-th commit returns. Does nothing unless started by it.
#[test]
fn child_of_sigkill_during_commits() {
    sigkill_child(
        |trial| Commits { seed: 1000 + trial },
        OpenOptions::new().threads(1).checkpoint_rows(16),
        u64::MAX,
    );
}

#[test]
fn sigkill_during_commits() {
    Sigkill {
        child_test: "child_of_sigkill_during_commits",
        dim: DIM,
        trials: 100,
        seed: 2026,
        wait_acks: 1..26,
        max_sleep_us: 3000,
    }
    .run(|trial| Commits { seed: 1000 + trial });
}
