//! The event journal: append / read / ack semantics, ids across reopens and drops, torn tails and
//! damage, time stamps, the size bound and its fill policy (an offline week at a busy door), and
//! the deltas a store records. Crash tests are in `tests/journal_crash.rs`.

mod common;
use common::deltas::{delta, upsert, DIM};
use common::*;
use edgeid::fs::SimFs;
use edgeid::journal::{DecisionEvent, EventKind, TimeQuality};
use edgeid::{Error, OpenOptions, Store};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// 2026-06-01T12:00:00Z.
const JUNE: i64 = 1_780_315_200_000_000;

fn decision(n: u64) -> EventKind {
    EventKind::Decision(DecisionEvent {
        location: "site".into(),
        door: "main".into(),
        granted: !n.is_multiple_of(3),
        reason: n.is_multiple_of(3).then(|| "outside_schedule".to_string()),
        user: Some(format!("u{:05}", n % 500)),
        factors: vec!["card".into()],
        punch: n.is_multiple_of(2).then(|| "check_in".to_string()),
        ..DecisionEvent::default()
    })
}

/// A clock the test moves (Unix microseconds).
fn clock(at: &Arc<AtomicI64>) -> edgeid::store::Clock {
    let at = at.clone();
    Arc::new(move || UNIX_EPOCH + Duration::from_micros(at.load(Ordering::Relaxed) as u64))
}

fn sim_with(fs: &SimFs, file_bytes: u64, files: usize) -> OpenOptions {
    on_sim(fs)
        .journal_bound(file_bytes, files)
        .time_zone(jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap())
}

fn ids(store: &Store, after: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut cursor = after;
    loop {
        let p = store.journal().read(cursor, 1000).unwrap();
        if p.events.is_empty() {
            return out;
        }
        out.extend(p.events.iter().map(|e| e.id));
        cursor = p.cursor;
    }
}

#[test]
fn append_read_and_ack() {
    let (_fs, store) = sim_store(DIM);
    let j = store.journal();
    for n in 1..=10 {
        assert_eq!(j.append(decision(n)).unwrap(), n);
    }
    assert_eq!(
        j.append_batch(&[decision(11), decision(12)]).unwrap(),
        11..=12
    );
    let p = j.read(0, 4).unwrap();
    assert_eq!(
        p.events.iter().map(|e| e.id).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(p.cursor, 4);
    assert_eq!(p.events[1].kind, decision(2));
    let p = j.read(4, 100).unwrap();
    assert_eq!(p.events.len(), 8);
    assert_eq!(p.cursor, 12);
    let p = j.read(12, 100).unwrap();
    assert!(p.events.is_empty());
    assert_eq!(p.cursor, 12, "an empty page keeps the cursor");
    // A cursor in the middle of a page, read again: the same events.
    assert_eq!(
        j.read(6, 2).unwrap().events,
        j.read(4, 4).unwrap().events[2..]
    );

    assert_eq!(j.ack(4).unwrap(), 4);
    assert_eq!(
        j.ack(2).unwrap(),
        4,
        "the acknowledgement never moves backwards"
    );
    assert!(
        matches!(j.ack(13), Err(Error::Invalid(_))),
        "beyond the last event"
    );
    assert_eq!(j.acked(), 4);
    let s = j.stats();
    assert_eq!((s.last_id, s.acked, s.unacked, s.lost), (12, 4, 8, 0));
    assert_eq!(store.stats().journal, s);
    // Acknowledged events stay readable until the bound drops them.
    assert_eq!(ids(&store, 0), (1..=12).collect::<Vec<_>>());
}

#[test]
fn ids_and_acks_survive_reopen_and_every_file_being_dropped() {
    let fs = SimFs::new();
    let opts = || sim_with(&fs, 600, 2);
    let store = create_sim(DIM, opts());
    let mut last = 0;
    for round in 0..3 {
        for n in 0..40 {
            let id = store.journal().append(decision(n)).unwrap();
            assert!(id > last, "round {round}: id {id} after {last}");
            last = id;
            store.journal().ack(id).unwrap();
        }
    }
    let files = store.journal().stats().files;
    assert!(files <= 3, "{files} files");
    drop(store);
    // Every file but the newest was dropped; reopened, ids go on past every one given.
    let store = open_sim(opts()).unwrap();
    assert_eq!(store.journal().acked(), last);
    assert_eq!(store.journal().stats().last_id, last);
    assert_eq!(store.journal().append(decision(1)).unwrap(), last + 1);
    assert!(matches!(
        store.journal().ack(last + 2),
        Err(Error::Invalid(_))
    ));
    drop(store);
    let lost = fs.power_loss(7);
    let store = open_sim(sim_with(&lost, 600, 2)).unwrap();
    assert_eq!(store.journal().acked(), last);
    assert_eq!(store.journal().append(decision(2)).unwrap(), last + 2);
}

#[test]
fn a_cursor_read_before_a_crash_returns_the_same_events_after() {
    let fs = SimFs::new();
    let store = create_sim(DIM, sim_with(&fs, 2000, 4));
    for n in 0..50 {
        store.journal().append(decision(n)).unwrap();
    }
    let before = store.journal().read(10, 30).unwrap();
    // An append the power cuts: not acknowledged, may or may not survive.
    fs.fail_at_sync(1);
    assert!(store.journal().append(decision(99)).is_err());
    assert!(matches!(
        store.journal().append(decision(98)),
        Err(Error::Poisoned(_))
    ));
    drop(store);
    for seed in 0..8 {
        let store = open_sim(sim_with(&fs.power_loss(seed), 2000, 4)).unwrap();
        assert_eq!(store.journal().read(10, 30).unwrap(), before, "seed {seed}");
        let last = store.journal().stats().last_id;
        assert!(last == 50 || last == 51, "seed {seed}: {last}");
        assert_eq!(store.journal().append(decision(1)).unwrap(), last + 1);
    }
}

#[test]
fn a_torn_tail_is_cut_and_damage_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || OpenOptions::new().threads(1).journal_bound(4096, 8);
    let store = Store::create(dir.path(), MODEL, DIM, opts()).unwrap();
    for n in 0..200 {
        store.journal().append(decision(n)).unwrap();
    }
    drop(store);
    let jdir = dir.path().join("journal");
    let mut files: Vec<_> = std::fs::read_dir(&jdir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    let newest = files.last().unwrap().clone();
    let good = std::fs::read(&newest).unwrap();

    // A torn tail (half a record): cut on open, the events before it kept.
    let mut torn = good.clone();
    torn.extend_from_slice(&good[32..32 + 20]);
    std::fs::write(&newest, &torn).unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(store.journal().stats().last_id, 200);
    assert_eq!(
        std::fs::read(&newest).unwrap(),
        good,
        "the torn tail is cut"
    );
    assert_eq!(store.journal().append(decision(1)).unwrap(), 201);
    drop(store);
    let good = std::fs::read(&newest).unwrap();

    // A damaged record followed by an intact one in the newest file: the open is refused and
    // nothing is cut.
    let mut bad = good.clone();
    bad[40] ^= 0x20;
    std::fs::write(&newest, &bad).unwrap();
    match Store::open(dir.path(), opts()) {
        Err(Error::Corrupt { path, what }) => {
            assert_eq!(path, newest);
            assert!(what.contains("byte 32"), "{what}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read(&newest).unwrap(), bad);
    std::fs::write(&newest, &good).unwrap();

    // Damage in a complete (older) file: the read that reaches it fails, naming the file.
    let older = &files[files.len() - 2];
    let mut bytes = std::fs::read(older).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(older, &bytes).unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let oldest = store.journal().stats().oldest_id.unwrap();
    let e = (|| -> edgeid::Result<()> {
        let mut c = oldest - 1;
        loop {
            let p = store.journal().read(c, 7)?;
            if p.events.is_empty() {
                return Ok(());
            }
            c = p.cursor;
        }
    })();
    match e {
        Err(Error::Corrupt { path, .. }) => assert_eq!(&path, older),
        other => panic!("{other:?}"),
    }
}

#[test]
fn times_carry_offset_dst_and_quality() {
    let fs = SimFs::new();
    let now = Arc::new(AtomicI64::new(JUNE));
    let store = create_sim(DIM, sim_with(&fs, 1 << 20, 4).clock(clock(&now)));
    let j = store.journal();
    let summer = j.append(decision(1)).unwrap();
    let winter = j
        .append_at(JUNE + 180 * 86_400_000_000, decision(2))
        .unwrap();
    let earlier = j.append_at(JUNE, decision(3)).unwrap();
    let reset = j.append_at(86_400_000_000, decision(4)).unwrap();
    j.set_clock_synced(true);
    let synced = j
        .append_at(JUNE + 200 * 86_400_000_000, decision(5))
        .unwrap();
    // The clock set back by the platform: reported, and later events compare with it.
    store
        .clock_changed(JUNE + 200 * 86_400_000_000, JUNE, TimeQuality::Synced)
        .unwrap();
    let after_change = j.append_at(JUNE + 1, decision(6)).unwrap();
    let p = j.read(0, 100).unwrap();
    let e = |id: u64| p.events.iter().find(|e| e.id == id).unwrap();
    assert_eq!((e(summer).offset_secs, e(summer).dst), (7200, true));
    assert_eq!(e(summer).utc_micros, JUNE);
    assert_eq!(e(summer).time_quality, TimeQuality::Unsynced);
    assert_eq!((e(winter).offset_secs, e(winter).dst), (3600, false));
    assert_eq!(
        e(earlier).time_quality,
        TimeQuality::Suspect,
        "before the previous"
    );
    assert_eq!(e(reset).time_quality, TimeQuality::Suspect, "1970");
    assert_eq!(e(synced).time_quality, TimeQuality::Synced);
    assert_eq!(e(after_change).time_quality, TimeQuality::Synced);
    assert!(matches!(
        e(after_change - 1).kind,
        EventKind::ClockChanged {
            quality: TimeQuality::Synced,
            ..
        }
    ));
    let v = serde_json::to_value(e(summer).view()).unwrap();
    assert_eq!(v["time"], "2026-06-01T12:00:00.000000Z");
    assert_eq!(v["offset"], "+02:00");
    assert_eq!(v["kind"], "decision");
    assert_eq!(v["decision"]["user"], "u00001");
}

#[test]
fn concurrent_appends_share_fdatasyncs_and_get_distinct_ids() {
    let (fs, store) = sim_store(DIM);
    let before = fs.syncs();
    let threads = 8;
    let per = 200;
    let got: Vec<u64> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let store = &store;
                s.spawn(move || {
                    (0..per)
                        .map(|n| store.journal().append(decision(t * 1000 + n)).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let set: BTreeSet<u64> = got.iter().copied().collect();
    assert_eq!(set.len() as u64, threads * per);
    assert_eq!(set, (1..=threads * per).collect());
    assert_eq!(ids(&store, 0), (1..=threads * per).collect::<Vec<_>>());
    let syncs = fs.syncs() - before;
    assert!(syncs <= threads * per, "{syncs} syncs");
    // A single batch is one fdatasync.
    let before = fs.syncs();
    store
        .journal()
        .append_batch(&(0..500).map(decision).collect::<Vec<_>>())
        .unwrap();
    assert_eq!(fs.syncs() - before, 1);
}

/// An offline week at a busy door: a decision every 5 seconds for 7 days (120,960 events), on a
/// journal bounded to about 6,500 events, nothing acknowledged. Appends never fail; the oldest
/// files go; every dropped id is named by an Overflow event; the newest events are all there.
/// Then the platform comes back, reads everything and acknowledges; a second day online drops
/// only acknowledged files.
#[test]
fn an_offline_week_at_a_busy_door() {
    let fs = SimFs::new();
    let store = create_sim(DIM, sim_with(&fs, 64 << 10, 8));
    let j = store.journal();
    let start = JUNE;
    let step = 5_000_000i64;
    let total = 7 * 86_400 / 5;
    let per_minute = 12;
    let mut n = 0u64;
    while n < total {
        let batch: Vec<(i64, EventKind)> = (n..(n + per_minute).min(total))
            .map(|k| (start + k as i64 * step, decision(k)))
            .collect();
        j.append_batch_at(&batch).unwrap();
        n += batch.len() as u64;
    }
    let s = j.stats();
    assert!(s.files <= 8 && s.bytes <= 9 * (64 << 10), "{s:?}");
    assert!(s.lost > 100_000 && s.overflows > 10, "{s:?}");
    // Everything readable, from the start.
    let mut events = Vec::new();
    let mut cursor = 0;
    loop {
        let p = j.read(cursor, 4096).unwrap();
        if p.events.is_empty() {
            break;
        }
        cursor = p.cursor;
        events.extend(p.events);
    }
    let kept: Vec<u64> = events.iter().map(|e| e.id).collect();
    assert!(
        kept.windows(2).all(|w| w[1] == w[0] + 1),
        "ids kept are contiguous"
    );
    assert_eq!(*kept.last().unwrap(), s.last_id);
    // The newest report names every id lost since the last acknowledgement (here: ever).
    let mut reported = BTreeSet::new();
    let mut count = 0;
    for e in &events {
        if let EventKind::Overflow {
            first_id,
            last_id,
            count: c,
        } = e.kind
        {
            assert_eq!(first_id, 1);
            assert_eq!(c, last_id);
            reported.extend(first_id..=last_id);
            count = c;
        }
    }
    assert_eq!(count, s.lost);
    // Every id is either kept or reported lost, and the last decision of the week is there.
    let all: BTreeSet<u64> = kept
        .iter()
        .copied()
        .chain(reported.iter().copied())
        .collect();
    assert_eq!(all, (1..=s.last_id).collect());
    assert!(kept.len() > 5000, "{} kept", kept.len());
    let last_decision = events
        .iter()
        .rev()
        .find(|e| matches!(e.kind, EventKind::Decision(_)));
    assert_eq!(
        last_decision.unwrap().utc_micros,
        start + (total as i64 - 1) * step
    );

    // Online again: acknowledged up to the end, a day of traffic drops only acknowledged files.
    j.ack(cursor).unwrap();
    let lost = s.lost;
    for k in 0..17_280u64 / per_minute {
        let t = start + (total + k * per_minute) as i64 * step;
        let batch: Vec<(i64, EventKind)> = (0..per_minute).map(|i| (t, decision(i))).collect();
        j.append_batch_at(&batch).unwrap();
        if k % 100 == 0 {
            let p = j.read(j.acked(), 4096).unwrap();
            j.ack(p.cursor).unwrap();
        }
    }
    assert_eq!(
        j.stats().lost,
        lost,
        "only acknowledged events were dropped"
    );
    drop(store);
    let store = open_sim(sim_with(&fs, 64 << 10, 8)).unwrap();
    assert_eq!(store.journal().stats().lost, lost);
}

#[test]
fn deltas_applied_and_refused_are_recorded() {
    let (_fs, store) = sim_store(DIM);
    let user = json!({"id": "u1", "name": "A"});
    store
        .apply_delta(
            &delta("loc", 1, "full", None, vec![upsert(user)]),
            &mut |_| {},
        )
        .unwrap();
    let gap = delta("loc", 5, "changes", None, vec![]);
    assert!(store.apply_delta(&gap, &mut |_| {}).is_err());
    assert!(store.apply_delta(b"{not json", &mut |_| {}).is_err());
    let p = store.journal().read(0, 10).unwrap();
    assert_eq!(p.events.len(), 3);
    match &p.events[0].kind {
        EventKind::DeltaApplied {
            location, sequence, ..
        } => assert_eq!((location.as_str(), *sequence), ("loc", 1)),
        k => panic!("{k:?}"),
    }
    match &p.events[1].kind {
        EventKind::DeltaRefused {
            location, refusal, ..
        } => assert_eq!(
            (location.as_deref(), refusal.as_str()),
            (Some("loc"), "gap")
        ),
        k => panic!("{k:?}"),
    }
    match &p.events[2].kind {
        EventKind::DeltaRefused {
            location, refusal, ..
        } => assert_eq!((location.as_deref(), refusal.as_str()), (None, "parse")),
        k => panic!("{k:?}"),
    }
}

#[test]
fn read_only_stores_read_the_journal_and_older_stores_get_an_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path(), MODEL, DIM, OpenOptions::new().threads(1)).unwrap();
    store.journal().append(decision(1)).unwrap();
    let ro = Store::open(dir.path(), OpenOptions::new().read_only(true)).unwrap();
    assert_eq!(ro.journal().read(0, 10).unwrap().events.len(), 1);
    assert!(matches!(ro.journal().ack(1), Err(Error::ReadOnly(_))));
    assert!(matches!(
        ro.journal().append(decision(2)),
        Err(Error::ReadOnly(_))
    ));
    drop((ro, store));
    // A store from before the journal: no journal directory.
    std::fs::remove_dir_all(dir.path().join("journal")).unwrap();
    let ro = Store::open(dir.path(), OpenOptions::new().read_only(true)).unwrap();
    assert!(ro.journal().read(0, 10).unwrap().events.is_empty());
    assert!(
        !dir.path().join("journal").exists(),
        "read-only writes nothing"
    );
    drop(ro);
    let store = Store::open(dir.path(), OpenOptions::new().threads(1)).unwrap();
    assert_eq!(store.journal().append(decision(1)).unwrap(), 1);
}
