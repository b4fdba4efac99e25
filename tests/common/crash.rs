//! The crash harness. A [`Scenario`] is a sequence of steps the store acknowledges (commits,
//! delta applies) and what the test predicts of the store after each. Two ways of pulling the plug
//! run it:
//! - [`PowerLoss`]: a simulated disk ([`SimFs`]) fails at every sync point in turn and then loses
//!   power, keeping only durable bytes (plus torn tails of unsynced appends);
//! - [`EveryOp`]: the same at every writing operation (creates, appends, renames, syncs, removals),
//!   each cut followed by power losses that keep torn prefixes or reordered pages ([`Tear`]) of
//!   the unsynced data;
//! - [`Sigkill`]: a child process (this test binary, running the test that calls
//!   [`sigkill_child`]) is killed with SIGKILL at random moments while it works.
//!
//! After either, the reopened store must hold exactly the last acknowledged state, or that state
//! plus the one step in flight — never anything in between.

use super::{create_sim, open_sim, Rng, MODEL};
use edgeid::fs::{SimFs, Tear};
use edgeid::{OpenOptions, Store};
use std::io::{BufRead, BufReader};
use std::ops::Range;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Steps on a store and the state each acknowledged step leaves.
pub trait Scenario {
    /// What the test predicts of the store: a model of its contents, a sequence number.
    type State: Clone + PartialEq;
    /// The state of a new store.
    fn start(&self) -> Self::State;
    /// The state once step `j`, taken from `state`, is acknowledged.
    fn expect(&self, j: u64, state: &Self::State) -> Self::State;
    /// Performs step `j` on a store whose acknowledged state is `state`.
    fn perform(&self, store: &Store, j: u64, state: &Self::State) -> edgeid::Result<()>;
    /// Work after step `j` that moves data between files but changes no state (checkpoints,
    /// compactions). A failure here ends the run with nothing in flight.
    fn housekeeping(&self, _store: &Store, _j: u64) -> edgeid::Result<()> {
        Ok(())
    }
    /// The state the store holds.
    fn observe(&self, store: &Store) -> Self::State;
    /// Checks of a recovered store beyond its state (checksums, derived data); `at` names the trial.
    fn check_recovered(&self, _store: &Store, _got: &Self::State, _at: &str) {}
}

/// How a run of a scenario ended.
pub struct Run<T> {
    /// The state after the last acknowledged step.
    pub acked: T,
    /// How many steps were acknowledged.
    pub steps: u64,
    /// The state the failed step would have made, when a step (not housekeeping) failed.
    pub in_flight: Option<T>,
    /// The failure that ended the run, if one did.
    pub error: Option<edgeid::Error>,
}

/// Runs steps `0..steps` on `store` until one fails; `on_ack(n, state)` is called after the `n`-th
/// step is acknowledged, before its housekeeping.
pub fn run<S: Scenario>(
    s: &S,
    store: &Store,
    steps: u64,
    mut on_ack: impl FnMut(u64, &S::State),
) -> Run<S::State> {
    let mut acked = s.start();
    for j in 0..steps {
        let next = s.expect(j, &acked);
        if let Err(e) = s.perform(store, j, &acked) {
            return Run {
                acked,
                steps: j,
                in_flight: Some(next),
                error: Some(e),
            };
        }
        acked = next;
        on_ack(j + 1, &acked);
        if let Err(e) = s.housekeeping(store, j) {
            return Run {
                acked,
                steps: j + 1,
                in_flight: None,
                error: Some(e),
            };
        }
    }
    Run {
        acked,
        steps,
        in_flight: None,
        error: None,
    }
}

/// Reopens a store from the disk a power loss left (`opts` name it) and checks it: it holds the
/// state of the run's last acknowledged step or of the step in flight, and passes the scenario's
/// own checks. `at` names the trial in failures.
fn recover<S: Scenario>(
    s: &S,
    opts: OpenOptions,
    r: &Run<S::State>,
    at: &str,
) -> (Store, S::State) {
    let store = open_sim(opts).unwrap_or_else(|e| panic!("{at}: reopen failed: {e}"));
    let got = s.observe(&store);
    assert!(
        got == r.acked || r.in_flight.as_ref() == Some(&got),
        "{at}: state is neither the acknowledged one (after {} steps) nor the one in flight",
        r.steps
    );
    s.check_recovered(&store, &got, at);
    (store, got)
}

/// Power loss at every sync point of a scenario, on a simulated disk.
pub struct PowerLoss<'a> {
    /// Options of a store on the simulated disk (see [`on_sim`]).
    pub opts: &'a dyn Fn(&SimFs) -> OpenOptions,
    /// Embedding dimension of the store.
    pub dim: usize,
    /// Steps of the scenario.
    pub steps: u64,
    /// Power losses taken at each sync point: loss `k` tears unsynced tails with the seed
    /// `point * seed_stride + k`.
    pub losses_per_point: u64,
    /// See `losses_per_point`.
    pub seed_stride: u64,
}

/// What a [`PowerLoss`] run covered.
pub struct Coverage {
    /// Sync points of the scenario (each was failed once).
    pub sync_points: u64,
    /// Recovered stores checked.
    pub trials: u64,
}

impl PowerLoss<'_> {
    /// Runs the scenario once on a disk that never fails, counting its sync points (and checking
    /// the store against the prediction after every step); then, for every sync point, runs it on a
    /// disk that fails there, loses power, reopens the store and checks it.
    pub fn run<S: Scenario>(&self, s: &S) -> Coverage {
        self.run_then(s, |_, _, _, _| {})
    }

    /// [`run`](Self::run), then `then(store, disk, state, at)` on each recovered store, the disk it
    /// was reopened from and the state it holds.
    pub fn run_then<S: Scenario>(
        &self,
        s: &S,
        mut then: impl FnMut(Store, &SimFs, &S::State, &str),
    ) -> Coverage {
        // Dry run: count the sync points.
        let fs = SimFs::new();
        let store = create_sim(self.dim, (self.opts)(&fs));
        let start = fs.syncs();
        dry_run(s, &store, self.steps);
        let sync_points = fs.syncs() - start;
        drop(store);

        let mut trials = 0;
        for point in 1..=sync_points {
            let fs = SimFs::new();
            let store = create_sim(self.dim, (self.opts)(&fs));
            fs.fail_at_sync(point);
            let r = run(s, &store, self.steps, |_, _| {});
            drop(store);
            for k in 0..self.losses_per_point {
                let at = if self.losses_per_point == 1 {
                    format!("sync point {point}")
                } else {
                    format!("sync point {point} seed {k}")
                };
                let lost = fs.power_loss(point * self.seed_stride + k);
                let (store, got) = recover(s, (self.opts)(&lost), &r, &at);
                then(store, &lost, &got, &at);
                trials += 1;
            }
        }
        Coverage {
            sync_points,
            trials,
        }
    }
}

/// Power loss at every writing operation of a scenario, on a simulated disk: for each operation in
/// turn, a run whose disk fails there, then one power loss per (tear, seed), each reopened and
/// checked like [`PowerLoss`] checks.
pub struct EveryOp<'a> {
    /// Options of a store on the simulated disk (see [`on_sim`]).
    pub opts: &'a dyn Fn(&SimFs) -> OpenOptions,
    /// Embedding dimension of the store.
    pub dim: usize,
    /// Steps of the scenario.
    pub steps: u64,
    /// How the power losses after each cut treat unsynced data.
    pub tears: &'a [Tear],
    /// Power losses per tear at each cut (seeds `op * 1000 + k`).
    pub seeds: u64,
}

impl EveryOp<'_> {
    /// Runs the scenario once on a disk that never fails (counting its operations and checking
    /// the prediction after every step), then cuts at each operation; `then(store, state, at)`
    /// runs on each recovered store. Returns (operations cut at, recovered stores checked).
    pub fn run_then<S: Scenario>(
        &self,
        s: &S,
        mut then: impl FnMut(Store, &S::State, &str),
    ) -> (u64, u64) {
        let fs = SimFs::new();
        let store = create_sim(self.dim, (self.opts)(&fs));
        let start = fs.ops();
        dry_run(s, &store, self.steps);
        let ops = fs.ops() - start;
        drop(store);
        let mut trials = 0;
        for op in 1..=ops {
            let fs = SimFs::new();
            let store = create_sim(self.dim, (self.opts)(&fs));
            fs.fail_at_op(op);
            let r = run(s, &store, self.steps, |_, _| {});
            drop(store);
            for &tear in self.tears {
                for k in 0..self.seeds {
                    let at = format!("op {op} of {ops}, {tear:?} seed {k}");
                    let lost = fs.power_loss_with(op * 1000 + k, tear);
                    let (store, got) = recover(s, (self.opts)(&lost), &r, &at);
                    then(store, &got, &at);
                    trials += 1;
                }
            }
        }
        (ops, trials)
    }
}

/// Environment of a child started by [`Sigkill::run`]: its store's directory and its trial.
const CHILD_DIR: &str = "EDGEID_CRASH_CHILD";
const CHILD_TRIAL: &str = "EDGEID_CRASH_TRIAL";

/// SIGKILL at random moments while a child process runs a scenario on a real directory.
pub struct Sigkill {
    /// The `#[test]` of this binary that calls [`sigkill_child`].
    pub child_test: &'static str,
    /// Embedding dimension of the store.
    pub dim: usize,
    /// Children started and killed.
    pub trials: u64,
    /// Seed of the generator that picks when to kill.
    pub seed: u64,
    /// Acknowledged steps to wait for before the kill: drawn from this range.
    pub wait_acks: Range<u64>,
    /// Then microseconds to wait: drawn below this.
    pub max_sleep_us: u64,
}

impl Sigkill {
    /// For each trial: creates a store in a temporary directory, starts the child on it, kills it,
    /// reopens the store and checks it against `scenario(trial)` (the child runs the same).
    pub fn run<S: Scenario>(&self, scenario: impl Fn(u64) -> S) {
        let mut rng = Rng(self.seed);
        for trial in 0..self.trials {
            let s = scenario(trial);
            let dir = tempfile::tempdir().unwrap();
            drop(
                Store::create(dir.path(), MODEL, self.dim, OpenOptions::new().threads(1)).unwrap(),
            );
            let wait_for =
                self.wait_acks.start + rng.below(self.wait_acks.end - self.wait_acks.start);
            let sleep_us = rng.below(self.max_sleep_us);
            let lines = kill_child(self.child_test, dir.path(), trial, wait_for, sleep_us);
            let acked = lines.iter().filter_map(|l| ack_of(l)).max().unwrap_or(0);
            let store = Store::open(dir.path(), OpenOptions::new().threads(1)).unwrap();
            let got = s.observe(&store);
            // Rebuild the acknowledged state and the one after it.
            let mut want = s.start();
            for j in 0..acked {
                want = s.expect(j, &want);
            }
            let next = s.expect(acked, &want);
            let at = format!("trial {trial}");
            assert!(
                got == want || got == next,
                "{at}: state after SIGKILL is neither the one after {acked} acknowledged steps nor the next"
            );
            s.check_recovered(&store, &got, &at);
        }
    }
}

/// The number `n` of a line "ok <n>" a child printed (libtest prints "test NAME ... " before the
/// test body runs, so the first one shares its line).
pub fn ack_of(line: &str) -> Option<u64> {
    line.rsplit_once("ok ")
        .and_then(|(_, n)| n.trim().parse().ok())
}

/// Starts `child_test` of this test binary on the directory `dir` (trial `trial`, see
/// [`child_env`]), waits until it printed `wait_for` "ok <n>" lines, waits `sleep_us`
/// microseconds more, kills it with SIGKILL and returns every line it printed.
pub fn kill_child(
    child_test: &str,
    dir: &Path,
    trial: u64,
    wait_for: u64,
    sleep_us: u64,
) -> Vec<String> {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(&exe)
        .args(["--exact", child_test, "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .env(CHILD_TRIAL, trial.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut printed = Vec::new();
    let mut oks = 0u64;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while oks < wait_for {
        let Some(Ok(line)) = lines.next() else { break };
        oks += u64::from(ack_of(&line).is_some());
        printed.push(line);
    }
    // Kill at a random instant inside the following steps.
    std::thread::sleep(Duration::from_micros(sleep_us));
    child.kill().unwrap();
    child.wait().unwrap();
    printed.extend(lines.map_while(Result::ok));
    printed
}

/// In a child started by [`kill_child`]: its directory and trial; None in any other process.
pub fn child_env() -> Option<(std::path::PathBuf, u64)> {
    let dir = std::env::var(CHILD_DIR).ok()?;
    let trial = std::env::var(CHILD_TRIAL).ok()?.parse().ok()?;
    Some((dir.into(), trial))
}

/// The child side of [`Sigkill::run`]: does nothing unless this process was started by it; then
/// opens the store with `opts`, runs `steps` steps of `scenario(trial)` printing "ok <n>" after the
/// n-th is acknowledged, and panics if a step fails.
pub fn sigkill_child<S: Scenario>(scenario: impl FnOnce(u64) -> S, opts: OpenOptions, steps: u64) {
    let Some((dir, trial)) = child_env() else {
        return;
    };
    let s = scenario(trial);
    let store = Store::open(&dir, opts).unwrap();
    let r = run(&s, &store, steps, |n, _| println!("ok {n}"));
    if let Some(e) = r.error {
        panic!("step {} failed: {e}", r.steps);
    }
}

/// Runs the scenario on a disk that never fails, checking the prediction after every step.
fn dry_run<S: Scenario>(s: &S, store: &Store, steps: u64) {
    let dry = run(s, store, steps, |n, state| {
        assert!(
            s.observe(store) == *state,
            "dry run: the store differs from the prediction after step {n}"
        );
    });
    if let Some(e) = dry.error {
        panic!("dry run: step {} failed: {e}", dry.steps);
    }
}
