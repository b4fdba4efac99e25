//! `edgeid decide`: the door demo (`scripts/demo-door.sh`) with every answer checked, the
//! `--json` object, exit statuses, bad input.

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn the_door_demo_runs_and_every_answer_is_right() {
    let o = Command::new("sh")
        .arg(repo().join("scripts/demo-door.sh"))
        .env("EDGEID", env!("CARGO_BIN_EXE_edgeid"))
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    // The answer under each title, in order.
    let answers: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("granted") || l.starts_with("denied"))
        .map(|l| l.split(" (").next().unwrap())
        .collect();
    assert_eq!(
        answers,
        [
            "granted: ann at hq-amsterdam/front",
            "granted: ann at hq-amsterdam/front",
            "denied: expired",
            "granted: cem at hq-amsterdam/lab",
            "denied: second_factor_mismatch",
            "granted: ann at hq-amsterdam/vault-in",
            "denied: anti_passback",
            "granted: ann at hq-amsterdam/vault-out",
            "granted: ann at hq-amsterdam/front",
            "denied: outside_schedule",
            "denied: holiday",
            "granted: dia at hq-amsterdam/front",
            "granted: dia at hq-amsterdam/front",
            "denied: outside_schedule",
            "granted: ann at hq-amsterdam/front",
        ],
        "{out}"
    );
    assert!(out.contains("punch: check_in (duplicate)"), "{out}");
    assert!(out.contains("DURESS"), "{out}");
    // Then the platform reads the journal (the delta and every decision, denials with their
    // reasons), acknowledges it, and finds nothing after the cursor.
    assert_eq!(out.matches("== ").count(), answers.len() + 2);
    assert!(
        out.contains(" delta_applied hq-amsterdam sequence 1"),
        "{out}"
    );
    assert_eq!(
        out.matches(" decision hq-amsterdam/").count(),
        answers.len(),
        "{out}"
    );
    assert!(out.contains("ben denied (expired)"), "{out}");
    assert!(out.contains("acknowledged up to 16"), "{out}");
    assert!(out.trim_end().ends_with("cursor 16"), "{out}");
}

fn store_with_demo(dir: &Path) -> String {
    let st = dir.join("s").to_str().unwrap().to_string();
    json(&["init", "--store", &st, "--model", "demo", "--dim", "8"]);
    let delta = repo().join("testdata/access/door-day.json");
    json(&["sync", "apply", "--store", &st, delta.to_str().unwrap()]);
    st
}

fn decide(st: &str, extra: &[&str]) -> (Option<i32>, Value, String) {
    let mut args = vec![
        "decide",
        "--store",
        st,
        "--location",
        "hq-amsterdam",
        "--json",
    ];
    args.extend_from_slice(extra);
    let o = edgeid(&args);
    let v = serde_json::from_str(stdout(&o).trim()).unwrap_or(Value::Null);
    (o.status.code(), v, stderr(&o))
}

#[test]
fn json_answers_and_exit_statuses() {
    let tmp = tempfile::tempdir().unwrap();
    let st = store_with_demo(tmp.path());
    let face = tmp.path().join("face.json");
    std::fs::write(&face, "[0.02, 1, 0, 0, 0, 0, 0, 0.1]").unwrap();
    let (code, v, _) = decide(
        &st,
        &[
            "--door",
            "lab",
            "--at",
            "2026-12-01T09:00:00+01:00",
            "--card",
            "csn:0c03",
            "--face",
            face.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["granted"], true);
    assert_eq!(v["reason"], Value::Null);
    assert_eq!(v["user"], "cem");
    assert_eq!(v["mode"], "card+face");
    assert_eq!(v["scores"][0]["factor"], "face");
    assert!(v["scores"][0]["score"].as_f64().unwrap() > 0.9);
    assert!(v["scores"][0]["threshold"].is_number());
    let (code, v, err) = decide(
        &st,
        &[
            "--door",
            "front",
            "--at",
            "2026-12-01T20:00:00+01:00",
            "--card",
            "csn:0A01",
        ],
    );
    assert_eq!(code, Some(1));
    assert_eq!(
        (v["granted"].clone(), v["reason"].clone()),
        (Value::Bool(false), Value::from("outside_schedule"))
    );
    assert!(err.is_empty(), "a denial is an answer, not an error: {err}");
    // Bad input: an error message, no decision.
    for bad in [
        vec!["--door", "front", "--card", "0A01"],
        vec!["--door", "front", "--at", "yesterday", "--card", "csn:0A01"],
        vec!["--door", "front"],
    ] {
        let (code, v, err) = decide(&st, &bad);
        assert_eq!(code, Some(1), "{bad:?}");
        assert_eq!(v, Value::Null, "{bad:?}");
        assert!(err.contains("error"), "{bad:?}: {err}");
    }
}
