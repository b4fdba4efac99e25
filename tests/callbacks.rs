//! The callbacks a firmware gives the store: a progress callback that cancels a delta (nothing
//! applied, `Error::Cancelled`, the same delta applies later) and the logger (open, checkpoint,
//! refused delta, housekeeping).

mod common;

use common::deltas::{self, delta, face, upsert};
use edgeid::store::LogLevel;
use edgeid::sync::Progress;
use edgeid::{Error, OpenOptions, Store};
use serde_json::json;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

fn users(n: usize) -> Vec<u8> {
    let changes = (0..n)
        .map(|i| upsert(json!({"id": format!("u{i}"), "faces": [face("f", i as u64)]})))
        .collect();
    delta("hq", 1, "full", None, changes)
}

#[test]
fn a_cancelled_delta_applies_nothing_and_applies_later() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path(), common::MODEL, deltas::DIM, OpenOptions::new()).unwrap();
    let d = users(600);
    // Cancel at the first validation report: reports stop, nothing applied.
    let mut reports = 0;
    let r = store.apply_delta_cancellable(&d, None, &mut |_| {
        reports += 1;
        ControlFlow::Break(())
    });
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
    assert_eq!(reports, 1, "no report after the cancel");
    assert!(store.sync_status().is_empty());
    assert_eq!(store.stats().seq, 0);
    // Cancel at the last chance, the committing report.
    let r = store.apply_delta_cancellable(&d, None, &mut |p| match p {
        Progress::Committing => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    });
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
    assert!(store.sync_status().is_empty());
    assert_eq!(store.stats().faces.live, 0);
    // Not cancelled: applied.
    store
        .apply_delta_cancellable(&d, None, &mut |_| ControlFlow::Continue(()))
        .unwrap();
    assert_eq!(store.stats().faces.live, 600);
    assert_eq!(store.sync_status()[0].sequence, 1);
}

#[test]
fn the_logger_hears_open_checkpoint_and_refusals() {
    let lines: Arc<Mutex<Vec<(LogLevel, String)>>> = Arc::default();
    let sink = lines.clone();
    let opts = || {
        let sink = sink.clone();
        OpenOptions::new().logger(Arc::new(move |l, m: &str| {
            sink.lock().unwrap().push((l, m.to_string()))
        }))
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path(), common::MODEL, deltas::DIM, opts()).unwrap();
    store.apply_delta(&users(3), &mut |_| {}).unwrap();
    store.checkpoint().unwrap();
    let refused = store.apply_delta(b"{not json", &mut |_| {});
    assert!(matches!(refused, Err(Error::Refused(_))));
    drop(store);
    let _store = Store::open(dir.path(), opts()).unwrap();
    let lines = lines.lock().unwrap();
    let has =
        |level: LogLevel, text: &str| lines.iter().any(|(l, m)| *l == level && m.contains(text));
    assert!(has(LogLevel::Info, "checkpoint"), "{lines:?}");
    assert!(has(LogLevel::Warn, "refused"), "{lines:?}");
    assert!(has(LogLevel::Info, "opened store"), "{lines:?}");
    assert!(has(LogLevel::Info, "3 face"), "{lines:?}");
}
