//! Commands that only read never change a store: they open it read-only (no lock file, no
//! scrubbing, no cut log tail), and `verify` refuses a damaged log without cutting it.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every file of a directory with its bytes (a subdirectory's, the event journal's, as
/// `sub/file`).
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        if e.path().is_dir() {
            for (sub, bytes) in files(&e.path()) {
                out.insert(format!("{name}/{sub}"), bytes);
            }
        } else {
            out.insert(name, std::fs::read(e.path()).unwrap());
        }
    }
    out
}

/// A store of 8-d faces with three commits in its log, and a face probe file.
fn store_with_commits(tmp: &Path) -> (PathBuf, PathBuf) {
    let store = tmp.join("store");
    let st = s(&store);
    json(&["init", "--store", st, "--model", "m", "--dim", "8"]);
    let probe = tmp.join("probe.json");
    for (i, u) in ["u0", "u1", "u2"].iter().enumerate() {
        let v: Vec<f32> = (0..8).map(|d| ((d * 7 + i * 3) as f32).sin()).collect();
        std::fs::write(&probe, serde_json::to_string(&v).unwrap()).unwrap();
        json(&[
            "face",
            "add",
            "--store",
            st,
            "--user",
            u,
            "--template",
            "t",
            s(&probe),
        ]);
    }
    (store, probe)
}

fn wal_of(store: &Path) -> PathBuf {
    let name = files(store)
        .into_keys()
        .find(|n| n.starts_with("wal-"))
        .unwrap();
    store.join(name)
}

/// Offset of the second of three records (32-byte header, records `len u32 | crc | seq | payload`).
fn middle_record(wal: &[u8]) -> usize {
    let len = u32::from_le_bytes(wal[32..36].try_into().unwrap()) as usize;
    32 + 16 + len
}

#[test]
fn verify_refuses_a_damaged_log_and_changes_no_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = store_with_commits(tmp.path());
    let wal = wal_of(&store);
    let mut b = std::fs::read(&wal).unwrap();
    let at = middle_record(&b);
    b[at + 20] ^= 0x01;
    std::fs::write(&wal, &b).unwrap();
    let before = files(&store);
    let o = edgeid(&["verify", "--store", s(&store)]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(err.contains("damage found"), "{err}");
    assert!(err.contains(s(&wal)), "{err}");
    assert!(err.contains(&format!("byte {at}")), "{err}");
    assert_eq!(files(&store), before, "verify changed the store");
    // A writer refuses it too, and cuts nothing.
    let o = edgeid(&["stats", "--store", s(&store)]);
    assert_eq!(o.status.code(), Some(1));
    let o = edgeid(&["compact", "--store", s(&store)]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(files(&store), before, "a refused open changed the store");
}

#[test]
fn read_only_commands_change_no_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, probe) = store_with_commits(tmp.path());
    let st = s(&store);
    // What a writer would change: create LOCK, scrub a leftover, cut a torn tail.
    std::fs::remove_file(store.join("LOCK")).unwrap();
    std::fs::write(store.join("seg-0000000000000099.seg"), b"leftover").unwrap();
    let wal = wal_of(&store);
    let mut b = std::fs::read(&wal).unwrap();
    b.extend_from_slice(&[9, 0, 0]);
    std::fs::write(&wal, b).unwrap();
    let before = files(&store);
    let p = s(&probe);
    let must_succeed: [&[&str]; 5] = [
        &["stats", "--store", st],
        &["verify", "--store", st],
        &["sync", "status", "--store", st],
        &["face", "identify", "--store", st, p],
        &["face", "verify", "--store", st, "--user", "u2", p],
    ];
    for args in must_succeed {
        let o = edgeid(args);
        assert!(o.status.success(), "{args:?}: {}{}", stdout(&o), stderr(&o));
        assert_eq!(files(&store), before, "{args:?} changed the store");
    }
    // These answer "not found" here; they must not write either.
    let may_fail: [&[&str]; 4] = [
        &["lookup", "code", "--store", st, "123456"],
        &["sync", "digest", "--store", st, "--location", "hq"],
        &[
            "user",
            "show",
            "--store",
            st,
            "--location",
            "hq",
            "--user",
            "u",
        ],
        &["lookup", "card", "--store", st, "04a1b2c3d4e5f6"],
    ];
    for args in may_fail {
        let o = edgeid(args);
        assert!(o.status.code().is_some(), "{args:?}");
        assert_eq!(files(&store), before, "{args:?} changed the store");
    }
    let v = json(&["stats", "--store", st]);
    assert_eq!(v["live"], 3, "{v}");
    // A writer then cleans up as before.
    json(&["compact", "--store", st]);
    assert!(!store.join("seg-0000000000000099.seg").exists());
}
