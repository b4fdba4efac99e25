//! End-to-end tests of the `edgeid` binary: the commands a field engineer or a script runs, their
//! JSON output, exit codes and error messages.

mod common;
use common::*;

use std::path::{Path, PathBuf};

const DIM: usize = 512;

/// A deterministic "face": a smooth function of the index, different per `phase`.
fn face(phase: f32) -> Vec<f32> {
    (0..DIM)
        .map(|i| (i as f32 * 0.37 + phase).sin() + 0.3 * (i as f32 * phase).cos())
        .collect()
}

/// The same face with a small perturbation (another capture of the same person).
fn capture(phase: f32, wobble: f32) -> Vec<f32> {
    face(phase)
        .iter()
        .enumerate()
        .map(|(i, v)| v + wobble * (i as f32 * 1.3).sin())
        .collect()
}

fn write_raw(dir: &Path, name: &str, v: &[f32]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(
        &p,
        v.iter().flat_map(|f| f.to_le_bytes()).collect::<Vec<u8>>(),
    )
    .unwrap();
    p
}

fn write_json(dir: &Path, name: &str, v: &[f32]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string(v).unwrap()).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn enrol_identify_verify_remove_and_maintain() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let st = s(&store);
    let init = json(&[
        "init",
        "--store",
        st,
        "--model",
        "w600k_mbf",
        "--dim",
        "512",
    ]);
    assert_eq!(init["dim"], 512);

    let alice0 = write_raw(tmp.path(), "alice0.f32", &capture(1.0, 0.05));
    let alice1 = write_json(tmp.path(), "alice1.json", &capture(1.0, -0.05));
    let bob = write_raw(tmp.path(), "bob.f32", &face(2.5));
    let probe = write_json(tmp.path(), "probe.json", &capture(1.0, 0.1));
    let added = json(&[
        "face",
        "add",
        "--store",
        st,
        "--user",
        "alice",
        "--template",
        "t0",
        s(&alice0),
    ]);
    assert_eq!(added["replaced"], false);
    json(&[
        "face",
        "add",
        "--store",
        st,
        "--user",
        "alice",
        "--template",
        "t1",
        s(&alice1),
    ]);
    json(&[
        "face",
        "add",
        "--store",
        st,
        "--user",
        "bob",
        "--template",
        "t0",
        "--location",
        "local",
        s(&bob),
    ]);
    let again = json(&[
        "face",
        "add",
        "--store",
        st,
        "--user",
        "bob",
        "--template",
        "t0",
        s(&bob),
    ]);
    assert_eq!(again["replaced"], true);
    assert_eq!(again["live"], 3);

    let id = json(&["face", "identify", "--store", st, "--k", "2", s(&probe)]);
    let hits = id["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0]["user"], "alice");
    assert!(hits[0]["score"].as_f64().unwrap() > 0.99, "{id}");
    assert_eq!(hits[1]["user"], "bob");

    let human = edgeid(&["face", "identify", "--store", st, s(&probe)]);
    assert!(human.status.success());
    assert!(
        stdout(&human).contains("alice") && stdout(&human).contains(" ms"),
        "{}",
        stdout(&human)
    );

    let v = json(&[
        "face",
        "verify",
        "--store",
        st,
        "--user",
        "alice",
        "--threshold",
        "0.9",
        s(&probe),
    ]);
    assert!(v["score"].as_f64().unwrap() > 0.99);
    assert_eq!(v["accepted"], true);

    // Remove one template, then the user; the output says the bytes were erased.
    let r = json(&[
        "face",
        "remove",
        "--store",
        st,
        "--user",
        "alice",
        "--template",
        "t1",
    ]);
    assert_eq!(r["removed"], 1);
    let r = edgeid(&["face", "remove", "--store", st, "--user", "alice"]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert!(stdout(&r).contains("erased from disk"), "{}", stdout(&r));

    let id = json(&[
        "face",
        "identify",
        "--store",
        st,
        "--threshold",
        "0.5",
        s(&probe),
    ]);
    assert!(
        id["hits"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["user"] != "alice"),
        "{id}"
    );
    let gone = edgeid(&[
        "face",
        "verify",
        "--store",
        st,
        "--user",
        "alice",
        s(&probe),
    ]);
    assert_eq!(gone.status.code(), Some(1));

    let stats = json(&["stats", "--store", st]);
    assert_eq!(stats["live"], 1);
    assert_eq!(stats["users"], 1);
    assert_eq!(stats["dim"], 512);
    assert!(stats["kernel"].is_string());
    let human = edgeid(&["stats", "--store", st]);
    assert!(stdout(&human).contains("kernel"));
    assert_eq!(json(&["verify", "--store", st])["ok"], true);
    json(&["compact", "--store", st]);
    assert_eq!(json(&["verify", "--store", st])["segments"], 1);
}

#[test]
fn wrong_dimension_is_refused_with_the_expected_size() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    json(&["init", "--store", s(&store), "--model", "m", "--dim", "512"]);
    let short = write_json(tmp.path(), "short.json", &[1.0, 2.0, 3.0]);
    for cmd in [
        vec![
            "face",
            "add",
            "--store",
            s(&store),
            "--user",
            "u",
            "--template",
            "t",
            s(&short),
        ],
        vec!["face", "identify", "--store", s(&store), s(&short)],
    ] {
        let o = edgeid(&cmd);
        assert_eq!(o.status.code(), Some(1));
        assert!(stderr(&o).contains("expected 512 floats"), "{}", stderr(&o));
        assert!(stdout(&o).is_empty());
    }
    let odd = tmp.path().join("odd.f32");
    std::fs::write(&odd, [0u8; 7]).unwrap();
    let o = edgeid(&[
        "face",
        "add",
        "--store",
        s(&store),
        "--user",
        "u",
        "--template",
        "t",
        s(&odd),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("multiple of 4 bytes"), "{}", stderr(&o));
}

#[test]
fn missing_stores_and_second_init_are_explained() {
    let tmp = tempfile::tempdir().unwrap();
    let nowhere = tmp.path().join("nowhere");
    let o = edgeid(&["stats", "--store", s(&nowhere)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("does not exist") && stderr(&o).contains("edgeid init"),
        "{}",
        stderr(&o)
    );

    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = edgeid(&["compact", "--store", s(&empty)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("holds no store"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_dir(&empty).unwrap().count(),
        0,
        "no LOCK file left behind"
    );

    let store = tmp.path().join("store");
    json(&["init", "--store", s(&store), "--model", "m", "--dim", "128"]);
    let o = edgeid(&["init", "--store", s(&store), "--model", "m", "--dim", "128"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("already holds a store"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(edgeid(&["face", "add"]).status.code(), Some(2));
    assert_eq!(edgeid(&["bogus"]).status.code(), Some(2));
    let help = edgeid(&["bench", "face", "--help"]);
    assert!(help.status.success() && stdout(&help).contains("--gallery-file"));
}

#[test]
fn verify_reports_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let st = s(&store);
    json(&["init", "--store", st, "--model", "m", "--dim", "512"]);
    for (i, phase) in [0.5f32, 1.5, 2.5, 3.5].iter().enumerate() {
        let f = write_raw(tmp.path(), &format!("f{i}.f32"), &face(*phase));
        json(&[
            "face",
            "add",
            "--store",
            st,
            "--user",
            &format!("u{i}"),
            "--template",
            "t",
            s(&f),
        ]);
    }
    json(&["compact", "--store", st]);
    let seg = std::fs::read_dir(&store)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .expect("a segment after compaction");
    let mut bytes = std::fs::read(&seg).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&seg, bytes).unwrap();
    let o = edgeid(&["verify", "--store", st]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stderr(&o).contains("damage found"), "{}", stderr(&o));
}

#[test]
fn demo_identifies_everyone() {
    let o = edgeid(&["demo", "--users", "300", "--dim", "64"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("10/10 enrolled users identified, 2/2 strangers rejected"),
        "{out}"
    );
    // Driven by deltas: full sync, one user, a batch with a deletion, status, lookups.
    for line in [
        "full synchronisation (sequence 1): 300 users",
        "synchronize user (sequence 2)",
        "synchronize all changes (sequence 3)",
        "already applied, nothing changed",
        "sync status: location local, sequence 3, 299 users",
        "removed user no longer identified",
        "fingerprint answers right, 3/3 lookups right",
        "identify by fingerprint (k=1, FMR 1e-4",
        "stranger's finger    -> nobody",
    ] {
        assert!(out.contains(line), "{line:?} missing: {out}");
    }
    let j = json(&["demo", "--users", "20", "--dim", "32"]);
    assert_eq!(j["ok"], true);
    assert_eq!(j["probes"].as_array().unwrap().len(), 12);
    // Users 0 and 10 enrol a finger; both are found and the stranger's finger is not.
    let fingers = j["fingers"].as_array().unwrap();
    assert!(fingers.len() >= 3, "{j}");
    assert_eq!(j["fingers_ok"].as_u64(), Some(fingers.len() as u64));
}

#[test]
fn bench_is_exact_on_synthetic_data() {
    let j = json(&[
        "bench",
        "face",
        "--gallery",
        "2000",
        "--dim",
        "64",
        "--queries",
        "20",
    ]);
    for key in [
        "gallery",
        "dim",
        "kernel",
        "threads",
        "open_ms",
        "p50_ms",
        "p99_ms",
        "batch_qps",
        "insert_per_s",
        "delete_10k_ms",
        "peak_rss_mb",
        "exact",
    ] {
        assert!(j.get(key).is_some(), "missing {key}: {j}");
    }
    assert_eq!(j["exact"], true);
    assert_eq!(j["gallery"], 2000);
    assert_eq!(j["top1_source_agreement"], 1.0);
}

#[test]
fn bench_reads_files_and_pins_kernels() {
    let tmp = tempfile::tempdir().unwrap();
    let dim = 16;
    let rows = |n: usize, salt: f32| -> Vec<f32> {
        (0..n * dim)
            .map(|i| ((i as f32) * 0.61 + salt).sin())
            .collect()
    };
    let g = write_raw(tmp.path(), "gallery.f32", &rows(500, 0.0));
    let q = write_raw(tmp.path(), "queries.f32", &rows(7, 3.0));
    let j = json(&[
        "bench",
        "face",
        "--dim",
        "16",
        "--gallery-file",
        s(&g),
        "--queries-file",
        s(&q),
        "--kernel",
        "scalar",
        "--threads",
        "1",
        "--dir",
        s(tmp.path()),
    ]);
    assert_eq!(j["gallery"], 500);
    assert_eq!(j["queries"], 7);
    assert_eq!(j["kernel"], "scalar");
    assert_eq!(j["exact"], true);
    let o = edgeid(&[
        "bench",
        "face",
        "--dim",
        "24",
        "--gallery-file",
        s(&g),
        "--queries-file",
        s(&q),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("not a whole number of rows"),
        "{}",
        stderr(&o)
    );
}
