//! The test vectors of `testdata/sync/vectors/` (docs/sync-protocol.md, "Test vectors"): each
//! set of deltas, applied by the engine, gives the digest recorded in `expected.json` — and
//! `scripts/sync-digest.py`, the document's algorithm in plain Python, gives the same digest
//! from the deltas alone. `EDGEID_WRITE_VECTORS=1` rewrites `expected.json` from the engine.

mod common;
use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const DIM: usize = 8;

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sync/vectors")
}

fn sets() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(vectors())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

fn deltas(set: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(set)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}

/// `location sequence digest` lines for each set, as the engine computes them.
fn engine(set: &Path) -> Vec<String> {
    let (_fs, s) = sim_store(DIM);
    for d in deltas(set) {
        let bytes = std::fs::read(&d).unwrap();
        s.apply_delta(&bytes, &mut |_| {})
            .unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        // Each is recognised when sent again.
        assert!(matches!(
            s.apply_delta(&bytes, &mut |_| {}).unwrap(),
            edgeid::sync::Outcome::AlreadyApplied { .. }
        ));
    }
    s.sync_status()
        .into_iter()
        .map(|l| format!("{} {} {}", l.location, l.sequence, l.digest))
        .collect()
}

#[test]
fn the_engine_gives_the_recorded_digests() {
    let mut got = serde_json::Map::new();
    for set in sets() {
        let name = set.file_name().unwrap().to_str().unwrap().to_string();
        got.insert(name, json!(engine(&set)));
    }
    let path = vectors().join("expected.json");
    let got = Value::Object(got);
    if std::env::var_os("EDGEID_WRITE_VECTORS").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
    }
    let want: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(got, want, "the engine's digests changed");
    assert!(got.as_object().unwrap().len() >= 3);
}

#[test]
fn the_documented_python_algorithm_gives_the_engines_digests() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/sync-digest.py");
    for set in sets() {
        let out = std::process::Command::new("python3")
            .arg(&script)
            .arg(&set)
            .output()
            .expect("python3 runs scripts/sync-digest.py (the protocol's reference algorithm)");
        assert!(
            out.status.success(),
            "{}: {}",
            set.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(lines, engine(&set), "{}", set.display());
    }
}
