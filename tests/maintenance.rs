//! What a commit reports when the housekeeping after it fails (a full disk during the checkpoint or
//! erasure that follows the log append), and the erasure deadline across restarts.

mod common;
use common::*;
use edgeid::fs::SimFs;
use edgeid::sync::Outcome;
use edgeid::{Change, Error, OpenOptions, Store};
use serde_json::json;
use std::time::Duration;

const DIM: usize = 16;

fn opts(fs: &SimFs) -> OpenOptions {
    on_sim(fs).checkpoint_rows(4)
}

fn remove_user(user: &str) -> Change {
    Change::RemoveUser {
        location: "a".into(),
        user: user.into(),
    }
}

/// Whether any file of the disk holds `needle`.
fn on_disk(fs: &SimFs, needle: &[u8]) -> bool {
    fs.all_bytes().iter().any(|(_, b)| contains(b, needle))
}

/// A disk holding a store with 3 tail rows (one short of a checkpoint with [`opts`]).
fn three_rows() -> SimFs {
    let base = SimFs::new();
    let s = create_sim(DIM, opts(&base));
    let batch: Vec<Change> = (0..3)
        .map(|i| put("a", &format!("u{i}"), "t", Rng(i).vector(DIM)))
        .collect();
    s.commit(&batch).unwrap();
    drop(s);
    base
}

/// The disk fills up at every byte budget of a commit that triggers a checkpoint: the commit is
/// either refused (and absent after a power loss) or succeeds (and survives one); a checkpoint it
/// could not do is done by the next `maintain` or commit once space is free.
#[test]
fn a_full_disk_after_the_log_append_never_refuses_a_durable_commit() {
    let base = three_rows();
    let extra = put("a", "late", "t", Rng(99).vector(DIM));
    let (mut refused, mut deferred) = (0, 0);
    for budget in (0..2400).step_by(8) {
        let fs = base.clean_restart();
        let s = open_sim(opts(&fs)).unwrap();
        fs.full_after(budget);
        match s.commit(std::slice::from_ref(&extra)) {
            Err(e) => {
                refused += 1;
                assert!(matches!(e, Error::StorageFull { .. }), "{budget}: {e}");
                assert_eq!(
                    s.snapshot().seq(),
                    1,
                    "budget {budget}: refused, yet applied"
                );
                assert_eq!(s.snapshot().live_faces(), 3);
                let after = open_sim(opts(&fs.power_loss(budget))).unwrap();
                assert_eq!(after.snapshot().live_faces(), 3, "budget {budget}");
            }
            Ok(c) => {
                assert_eq!(c.seq, 2);
                assert_eq!(s.snapshot().live_faces(), 4);
                // The checkpoint was put off exactly when the commit says so.
                let st = s.stats();
                let put_off = st.faces.tail_rows > 0;
                deferred += put_off as usize;
                assert_eq!(c.maintenance_pending, put_off, "budget {budget}");
                assert_eq!(st.maintenance_error.is_some(), put_off, "budget {budget}");
                if put_off {
                    let e = s.maintenance_error().unwrap();
                    assert!(e.contains("storage full") && !e.contains("commit"), "{e}");
                }
                // Durable now, whatever the housekeeping did.
                let after = open_sim(opts(&fs.power_loss(budget))).unwrap();
                assert_eq!(after.snapshot().live_faces(), 4, "budget {budget}");
                drop(after);
                // Space frees up: the checkpoint is done by the next maintain or commit.
                fs.set_capacity(None);
                if budget % 16 == 0 {
                    s.maintain().unwrap();
                } else {
                    s.commit(&[put("a", "later", "t", Rng(98).vector(DIM))])
                        .unwrap();
                }
                let st = s.stats();
                assert!(st.faces.tail_rows <= 1, "budget {budget}: not checkpointed");
                assert_eq!(st.maintenance_error, None, "budget {budget}");
                let live = s.snapshot().live_faces();
                drop(s);
                let s = open_sim(opts(&fs)).unwrap();
                assert_eq!(s.snapshot().live_faces(), live);
                s.verify_checksums().unwrap();
            }
        }
    }
    assert!(
        refused > 0 && deferred > 0,
        "{refused} refused, {deferred} deferred"
    );
}

/// The same for the erasure a deletion triggers when it is due: the deletion is durable and
/// reported as done; the bytes are erased once space is free.
#[test]
fn a_full_disk_during_a_due_erasure_keeps_the_deletion() {
    let base = SimFs::new();
    let o = |fs: &SimFs| opts(fs).erase_within(Duration::ZERO);
    let secret = edgeid::face::normalize(&Rng(7).vector(DIM), DIM).unwrap();
    let sb = le_bytes(&secret);
    let s = create_sim(DIM, o(&base));
    s.commit(&[
        put("a", "x", "t", secret.clone()),
        put("a", "y", "t", Rng(8).vector(DIM)),
    ])
    .unwrap();
    s.checkpoint().unwrap();
    drop(s);
    let mut deferred = 0;
    for budget in (0..1600).step_by(8) {
        let fs = base.clean_restart();
        let s = open_sim(o(&fs)).unwrap();
        fs.full_after(budget);
        match s.commit(&[remove_user("x")]) {
            Err(e) => {
                assert!(matches!(e, Error::StorageFull { .. }), "{budget}: {e}");
                assert_eq!(s.snapshot().live_faces(), 2, "budget {budget}");
            }
            Ok(c) => {
                assert_eq!((c.seq, c.removed), (2, 1));
                assert_eq!(s.snapshot().live_faces(), 1);
                let after = open_sim(on_sim(&fs.power_loss(budget))).unwrap();
                assert_eq!(after.snapshot().live_faces(), 1, "budget {budget}");
                drop(after);
                if on_disk(&fs, &sb) {
                    deferred += 1;
                    assert!(c.maintenance_pending, "budget {budget}");
                    assert!(s.maintenance_error().is_some(), "budget {budget}");
                }
                fs.set_capacity(None);
                s.maintain().unwrap();
                assert_eq!(s.maintenance_error(), None);
                assert!(!on_disk(&fs, &sb), "budget {budget}: not erased");
            }
        }
    }
    assert!(deferred > 0);
}

fn emb(seed: u64) -> String {
    b64(&le_bytes(&Rng(seed).vector(DIM)))
}

fn delta(seq: u64, kind: &str, users: &[&str]) -> Vec<u8> {
    let changes: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            json!({"op": "upsert_user", "user": {"id": u,
                "faces": [{"id": "f", "model": MODEL, "embedding": emb(seq * 10 + i as u64)}]}})
        })
        .collect();
    let mut d = json!({"format": "edgeid.delta/1", "location": "hq", "sequence": seq,
        "kind": kind, "changes": changes});
    if kind == "full" {
        d["code_key"] = json!(b64(&[3; 32]));
    }
    serde_json::to_vec(&d).unwrap()
}

/// A delta whose checkpoint hits a full disk is applied and says so; re-sending it says it was
/// already applied, before and after space frees.
#[test]
fn a_delta_whose_checkpoint_fills_the_disk_is_applied() {
    let base = SimFs::new();
    let s = create_sim(DIM, opts(&base));
    s.apply_delta(&delta(1, "full", &["a", "b", "c"]), &mut |_| {})
        .unwrap();
    drop(s);
    let d2 = delta(2, "changes", &["d"]);
    let mut applied = 0;
    for budget in (0..4000).step_by(16) {
        let fs = base.clean_restart();
        let s = open_sim(opts(&fs)).unwrap();
        fs.full_after(budget);
        match s.apply_delta(&d2, &mut |_| {}) {
            Err(e) => {
                assert!(matches!(e, Error::StorageFull { .. }), "{budget}: {e}");
                assert_eq!(s.sync_status()[0].sequence, 1, "budget {budget}");
            }
            Ok(o) => {
                applied += 1;
                assert!(matches!(o, Outcome::Applied { sequence: 2, .. }), "{o:?}");
                let again = s.apply_delta(&d2, &mut |_| {}).unwrap();
                assert!(matches!(again, Outcome::AlreadyApplied { .. }), "{again:?}");
                fs.set_capacity(None);
                s.maintain().unwrap();
                assert_eq!(s.stats().faces.tail_rows, 0, "budget {budget}");
                drop(s);
                let s = open_sim(opts(&fs)).unwrap();
                assert_eq!(s.snapshot().live_faces(), 4);
                let again = s.apply_delta(&d2, &mut |_| {}).unwrap();
                assert!(matches!(again, Outcome::AlreadyApplied { .. }), "{again:?}");
            }
        }
    }
    assert!(applied > 0);
}

/// `StorageFull` says what is true wherever it comes from: a checkpoint called on its own that
/// finds the disk full refused nothing of any commit.
#[test]
fn storage_full_outside_a_commit_does_not_claim_a_refused_commit() {
    let fs = three_rows();
    let s = open_sim(opts(&fs)).unwrap();
    fs.full_after(0);
    let e = s.checkpoint().unwrap_err();
    assert!(matches!(e, Error::StorageFull { .. }), "{e}");
    assert!(!e.to_string().contains("commit"), "{e}");
    assert_eq!(s.snapshot().live_faces(), 3);
    fs.set_capacity(None);
    s.checkpoint().unwrap();
    assert_eq!(s.stats().faces.tail_rows, 0);
}

/// Deleted templates are erased by a reopened store once their deadline has passed, whether
/// their deletion was checkpointed (in a deletion file) or is still only in the log.
#[test]
fn the_erasure_deadline_survives_a_restart() {
    let fs = SimFs::new();
    let s = create_sim(DIM, on_sim(&fs));
    let a = edgeid::face::normalize(&Rng(31).vector(DIM), DIM).unwrap();
    let b = edgeid::face::normalize(&Rng(32).vector(DIM), DIM).unwrap();
    s.commit(&[
        put("a", "x", "t", a.clone()),
        put("a", "keep", "t", Rng(33).vector(DIM)),
    ])
    .unwrap();
    s.checkpoint().unwrap();
    s.commit(&[remove_user("x")]).unwrap();
    s.checkpoint().unwrap(); // the deletion is now in a deletion file, the row in the segment
    s.commit(&[put("a", "y", "t", b.clone())]).unwrap();
    s.commit(&[remove_user("y")]).unwrap(); // only in the log
    drop(s);
    assert!(on_disk(&fs, &le_bytes(&a)) && on_disk(&fs, &le_bytes(&b)));
    // Reopened after the deadline: erased at open, before any commit or maintain.
    let s = open_sim(on_sim(&fs).erase_within(Duration::ZERO)).unwrap();
    for (p, bytes) in fs.all_bytes() {
        for v in [&a, &b] {
            assert!(
                !contains(&bytes, &le_bytes(v)),
                "{} still holds a deleted template",
                p.display()
            );
        }
    }
    assert_eq!(s.snapshot().live_faces(), 1);
}

/// A wall clock `offset` seconds from a fixed date (the tests' "now").
fn clock(offset: i64) -> edgeid::store::Clock {
    let base = std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let t = if offset >= 0 {
        base + Duration::from_secs(offset as u64)
    } else {
        base - Duration::from_secs(offset.unsigned_abs())
    };
    std::sync::Arc::new(move || t)
}

/// A store holding one deleted template `x` (in a deletion file when `checkpointed`, else only in
/// the log), deleted at `clock(deleted_at)`; returns its bytes.
fn deleted_at(fs: &SimFs, deleted_at: i64, checkpointed: bool) -> Vec<u8> {
    let s = create_sim(DIM, on_sim(fs).clock(clock(deleted_at)));
    let v = edgeid::face::normalize(&Rng(41).vector(DIM), DIM).unwrap();
    s.commit(&[
        put("a", "x", "t", v.clone()),
        put("a", "keep", "t", Rng(42).vector(DIM)),
    ])
    .unwrap();
    s.checkpoint().unwrap();
    s.commit(&[remove_user("x")]).unwrap();
    if checkpointed {
        s.checkpoint().unwrap();
    }
    le_bytes(&v)
}

/// A terminal restarted more often than `erase_within` still erases: the deadline runs from the
/// deletion, not from the last open.
#[test]
fn restarts_do_not_postpone_the_erasure_deadline() {
    for checkpointed in [false, true] {
        let fs = SimFs::new();
        let v = deleted_at(&fs, 0, checkpointed);
        // Opened 6 minutes later: not due yet.
        let s = open_sim(on_sim(&fs).clock(clock(360))).unwrap();
        s.maintain().unwrap();
        assert!(on_disk(&fs, &v), "erased before its deadline");
        drop(s);
        // Opened again 5 minutes after that: 11 minutes since the deletion.
        let s = open_sim(on_sim(&fs).clock(clock(660))).unwrap();
        assert!(
            !on_disk(&fs, &v),
            "checkpointed {checkpointed}: not erased at open"
        );
        assert_eq!(s.snapshot().live_faces(), 1);
        drop(s);
        assert!(open_sim(on_sim(&fs)).is_ok());
    }
}

/// The date survives checkpoints that do not erase: deleted at 0, a checkpoint at 5 min writes
/// it down, a reopen at 11 min erases.
#[test]
fn a_checkpoint_keeps_the_date_of_the_oldest_deletion() {
    let fs = SimFs::new();
    let v = deleted_at(&fs, 0, false);
    let s = open_sim(on_sim(&fs).clock(clock(300))).unwrap();
    s.commit(&[put("a", "new", "t", Rng(43).vector(DIM))])
        .unwrap();
    s.checkpoint().unwrap();
    drop(s);
    assert!(on_disk(&fs, &v));
    let _s = open_sim(on_sim(&fs).clock(clock(660))).unwrap();
    assert!(!on_disk(&fs, &v));
}

/// A deletion dated in the future (the clock was wrong when it was made, or is wrong now) is
/// erased at the next open rather than waiting for a date that may never come.
#[test]
fn a_deletion_dated_in_the_future_is_erased_at_open() {
    for checkpointed in [false, true] {
        let fs = SimFs::new();
        let year = 365 * 24 * 3600;
        let v = deleted_at(&fs, year, checkpointed);
        let _s = open_sim(on_sim(&fs).clock(clock(0))).unwrap();
        assert!(!on_disk(&fs, &v), "checkpointed {checkpointed}");
    }
    // A deletion dated long ago (a clock behind, then corrected) is due too.
    let fs = SimFs::new();
    let v = deleted_at(&fs, -365 * 24 * 3600, true);
    let _s = open_sim(on_sim(&fs).clock(clock(0))).unwrap();
    assert!(!on_disk(&fs, &v));
}

/// A store written before the deadline was dated (manifest version 2) counts its pending deletions
/// from the open, and the first maintain writes that date down, so later restarts keep it.
#[test]
fn an_older_store_gets_its_deletions_dated() {
    let tmp = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/formats/v2");
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), tmp.path().join(e.file_name())).unwrap();
    }
    let o = |t: i64| OpenOptions::new().threads(1).clock(clock(t));
    let s = Store::open(tmp.path(), o(0)).unwrap();
    let before = s.stats();
    assert!(before.fingers.dead > 0, "the fixture has deletions");
    s.maintain().unwrap();
    drop(s);
    let m = std::fs::read(tmp.path().join("MANIFEST")).unwrap();
    assert_eq!(u32::from_le_bytes(m[8..12].try_into().unwrap()), 3);
    let s = Store::open(tmp.path(), o(360)).unwrap();
    assert!(s.stats().fingers.dead > 0, "not due after 6 minutes");
    drop(s);
    let s = Store::open(tmp.path(), o(660)).unwrap();
    assert_eq!(s.stats().fingers.dead, 0, "erased at open after 11 minutes");
    assert_eq!(s.stats().fingers.live, before.fingers.live);
}

/// The erasure an open does is crash-safe like any other: power lost at each of its sync points
/// leaves the same templates, and the next open finishes the erasure.
#[test]
fn power_loss_during_the_erasure_at_open() {
    let base = SimFs::new();
    let v = deleted_at(&base, 0, true);
    let s = open_sim(on_sim(&base).clock(clock(10))).unwrap();
    s.commit(&[remove_user("keep"), put("a", "z", "t", Rng(44).vector(DIM))])
        .unwrap(); // one more deletion, in the log
    let want = model_of(&s.snapshot());
    drop(s);
    let late = |fs: &SimFs| on_sim(fs).clock(clock(700));
    // Count the sync points of the erasure at open.
    let dry = base.clean_restart();
    let start = dry.syncs();
    drop(open_sim(late(&dry)).unwrap());
    let points = dry.syncs() - start;
    assert!(points > 3, "{points}");
    for point in 1..=points {
        let fs = base.clean_restart();
        fs.fail_at_sync(point);
        // The open fails (the disk died under it), reports the erasure as pending, or (when only
        // the scrubbing of released files failed) keeps them to scrub later.
        let _ = open_sim(late(&fs));
        for seed in 0..3 {
            let lost = fs.power_loss(point * 10 + seed);
            let s = open_sim(late(&lost)).unwrap();
            assert_eq!(model_of(&s.snapshot()), want, "point {point} seed {seed}");
            assert_eq!(s.maintenance_error(), None, "point {point} seed {seed}");
            assert!(!on_disk(&lost, &v), "point {point} seed {seed}");
        }
    }
}
