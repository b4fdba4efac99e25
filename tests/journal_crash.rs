//! Crash safety of the event journal, with the store's crash harness (`tests/common/crash.rs`):
//! - power loss (simulated disk) at every sync point and at every writing operation of a run of
//!   appends, batches and acknowledgements on a journal bounded so small that it rolls files,
//!   drops acknowledged ones and overflows (drops unacknowledged ones, reporting them) during the
//!   run: the reopened journal holds exactly the acknowledged state or the one in flight — every
//!   event whose append returned is there, the acknowledgement never went backwards — and the
//!   next id is past every id the run gave;
//! - SIGKILL at random moments of a child process appending from four threads and acknowledging:
//!   no event whose append returned is lost, no id repeats, the acknowledgement never goes back.

mod common;
use common::crash::{child_env, kill_child, EveryOp, PowerLoss, Scenario};
use common::deltas::DIM;
use common::*;
use edgeid::fs::{SimFs, Tear};
use edgeid::journal::{DecisionEvent, EventKind};
use edgeid::{OpenOptions, Store};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

fn decision(n: u64) -> EventKind {
    EventKind::Decision(DecisionEvent {
        location: "site".into(),
        door: format!("door-{}", n % 3),
        granted: true,
        user: Some(format!("u{n}")),
        factors: vec!["card".into()],
        ..DecisionEvent::default()
    })
}

/// A small bound (about 6 events per file, 3 files) and a fixed clock, so every run is the same.
fn sim_opts(fs: &SimFs) -> OpenOptions {
    on_sim(fs)
        .journal_bound(400, 3)
        .clock(Arc::new(|| UNIX_EPOCH + Duration::from_secs(1_780_000_000)))
        .time_zone(jiff::tz::TimeZone::UTC)
}

/// What the journal holds: the acknowledged cursor, the losses, and every event after the cursor
/// (acknowledged events may be dropped any time, so they are not compared).
#[derive(Debug, Clone)]
struct Held {
    acked: u64,
    lost: u64,
    events: Vec<(u64, String)>,
}

impl Held {
    /// The ids its Overflow events report lost.
    fn reported_lost(&self, id: u64) -> bool {
        self.events.iter().any(|(_, k)| {
            k.strip_prefix("Overflow { first_id: ").is_some_and(|r| {
                let n: Vec<u64> = r
                    .split(|c: char| !c.is_ascii_digit())
                    .filter_map(|x| x.parse().ok())
                    .collect();
                (n[0]..=n[1]).contains(&id)
            })
        })
    }
    /// Every event of `self` (but the journal's own Overflow reports) is in `other`, with the
    /// same id and content, or reported lost there.
    fn within(&self, other: &Held) -> bool {
        self.events
            .iter()
            .filter(|(_, k)| !k.starts_with("Overflow"))
            .all(|e| other.events.contains(e) || other.reported_lost(e.0))
    }
}

/// Two states are the same when the acknowledged cursor is, and every event is in both or
/// reported lost (by an Overflow event) in the one without it: where the size bound drops a
/// file relative to a crash (before the crash, or on the reopen after it) moves which events
/// are reported lost and which id the report gets, never an event's id or content.
impl PartialEq for Held {
    fn eq(&self, other: &Held) -> bool {
        self.acked == other.acked && self.within(other) && other.within(self)
    }
}

fn held(store: &Store) -> Held {
    let j = store.journal();
    let s = j.stats();
    let mut events = Vec::new();
    let mut cursor = s.acked;
    loop {
        let p = j.read(cursor, 50).unwrap();
        if p.events.is_empty() {
            break;
        }
        cursor = p.cursor;
        events.extend(p.events.iter().map(|e| (e.id, format!("{:?}", e.kind))));
    }
    Held {
        acked: s.acked,
        lost: s.lost,
        events,
    }
}

/// Appends, batches and acknowledgements; the state after each step comes from a run on a disk
/// that never fails (the run is deterministic).
struct Journaling {
    states: Vec<Held>,
}

const STEPS: u64 = 40;

fn step(store: &Store, j: u64) -> edgeid::Result<()> {
    let jn = store.journal();
    match j % 6 {
        // Acknowledge up to two events before the last (not every step: files overflow too).
        2 if j % 12 == 2 => jn.ack(jn.stats().last_id.saturating_sub(2)).map(drop),
        4 => jn
            .append_batch(&[decision(j), decision(j + 100), decision(j + 200)])
            .map(drop),
        _ => jn.append(decision(j)).map(drop),
    }
}

impl Journaling {
    fn new() -> Journaling {
        let fs = SimFs::new();
        let store = create_sim(DIM, sim_opts(&fs));
        let mut states = vec![held(&store)];
        for j in 0..STEPS {
            step(&store, j).unwrap();
            states.push(held(&store));
        }
        let s = store.journal().stats();
        assert!(
            s.overflows > 0 && s.lost > 0,
            "the run must overflow: {s:?}"
        );
        Journaling { states }
    }
}

impl Scenario for Journaling {
    type State = Held;
    fn start(&self) -> Held {
        self.states[0].clone()
    }
    fn expect(&self, j: u64, _: &Held) -> Held {
        self.states[j as usize + 1].clone()
    }
    fn perform(&self, store: &Store, j: u64, _: &Held) -> edgeid::Result<()> {
        step(store, j)
    }
    fn observe(&self, store: &Store) -> Held {
        held(store)
    }
    fn check_recovered(&self, store: &Store, got: &Held, at: &str) {
        // The next id is past every id this run gave, acknowledged or not.
        let given = self
            .states
            .iter()
            .flat_map(|s| s.events.iter().map(|e| e.0))
            .max()
            .unwrap_or(0);
        let last = got.events.last().map_or(got.acked, |e| e.0);
        // Only what the bound forces is lost: at most one file (about 6 events) more than the
        // run without a crash lost by then.
        let most = self.states.iter().map(|s| s.lost).max().unwrap_or(0);
        assert!(got.lost <= most + 8, "{at}: {} lost", got.lost);
        let id = store.journal().append(decision(7)).unwrap();
        assert!(id > last, "{at}: new id {id} after {last}");
        assert!(
            id <= given + 2,
            "{at}: new id {id}, the run gave up to {given}"
        );
        let again = store.journal().read(id - 1, 1).unwrap();
        assert_eq!(again.events[0].id, id, "{at}");
    }
}

#[test]
fn power_loss_at_every_sync_point_of_the_journal() {
    let s = Journaling::new();
    let c = PowerLoss {
        opts: &sim_opts,
        dim: DIM,
        steps: STEPS,
        losses_per_point: 3,
        seed_stride: 17,
    }
    .run(&s);
    assert!(c.sync_points > 60, "{} sync points", c.sync_points);
}

#[test]
fn power_loss_at_every_writing_operation_of_the_journal() {
    let s = Journaling::new();
    let (ops, trials) = EveryOp {
        opts: &sim_opts,
        dim: DIM,
        steps: STEPS,
        tears: &[Tear::Prefix, Tear::Pages(64)],
        seeds: 1,
    }
    .run_then(&s, |_, _, _| {});
    assert!(ops > 100 && trials == 2 * ops, "{ops} ops, {trials} trials");
}

/// The child of `sigkill_during_concurrent_appends`: four threads append, printing "ok <id>"
/// after each returned append; the main thread acknowledges what it reads, printing
/// "acked <cursor>" after each returned acknowledgement.
#[test]
fn child_of_sigkill_during_concurrent_appends() {
    let Some((dir, _trial)) = child_env() else {
        return;
    };
    let store = Store::open(&dir, OpenOptions::new().threads(1).journal_bound(8192, 4)).unwrap();
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let store = &store;
            s.spawn(move || {
                for n in 0.. {
                    let id = store.journal().append(decision(t * 1_000_000 + n)).unwrap();
                    println!("ok {id}");
                }
            });
        }
        let mut cursor = store.journal().acked();
        loop {
            let p = store.journal().read(cursor, 20).unwrap();
            if let Some(e) = p.events.get(p.events.len() / 2) {
                cursor = store.journal().ack(e.id).unwrap();
                println!("acked {cursor}");
            }
            std::thread::sleep(Duration::from_micros(300));
        }
    });
}

#[test]
fn sigkill_during_concurrent_appends() {
    let mut rng = Rng(0x5eed_0010);
    for trial in 0..200 {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::create(dir.path(), MODEL, DIM, OpenOptions::new().threads(1)).unwrap());
        // Kill after 1..=60 returned appends and up to 2 ms more.
        let lines = kill_child(
            "child_of_sigkill_during_concurrent_appends",
            dir.path(),
            trial,
            1 + rng.below(60),
            rng.below(2000),
        );
        let mut returned = BTreeSet::new();
        let mut acked = 0;
        for l in &lines {
            if let Some((_, n)) = l.rsplit_once("acked ") {
                let n: u64 = n.trim().parse().unwrap();
                assert!(
                    n >= acked,
                    "trial {trial}: ack went back to {n} from {acked}"
                );
                acked = n;
            } else if let Some((_, n)) = l.rsplit_once("ok ") {
                let id: u64 = n.trim().parse().unwrap();
                assert!(returned.insert(id), "trial {trial}: id {id} returned twice");
            }
        }
        let store = Store::open(
            dir.path(),
            OpenOptions::new().threads(1).journal_bound(8192, 4),
        )
        .unwrap_or_else(|e| panic!("trial {trial}: reopen: {e}"));
        let j = store.journal();
        assert!(j.acked() >= acked, "trial {trial}: ack went back");
        let s = j.stats();
        assert_eq!(
            s.lost, 0,
            "trial {trial}: acknowledged files only are dropped"
        );
        let mut seen = BTreeSet::new();
        let mut cursor = 0;
        loop {
            let p = j.read(cursor, 500).unwrap();
            if p.events.is_empty() {
                break;
            }
            for e in &p.events {
                assert!(seen.insert(e.id), "trial {trial}: id {} twice", e.id);
            }
            cursor = p.cursor;
        }
        for id in &returned {
            assert!(
                seen.contains(id) || *id <= j.acked(),
                "trial {trial}: returned event {id} lost"
            );
        }
        let oldest = s.oldest_id.unwrap_or(1);
        assert_eq!(seen, (oldest..=s.last_id).collect(), "trial {trial}");
        let next = j.append(decision(1)).unwrap();
        assert!(
            next > returned.last().copied().unwrap_or(0) && next == s.last_id + 1,
            "trial {trial}: next id {next}"
        );
    }
}
