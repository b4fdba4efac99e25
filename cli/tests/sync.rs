//! End-to-end tests of `edgeid sync`, `user show` and `lookup` on the example deltas of
//! `testdata/sync/`, and of `bench sync`.

mod common;
use common::*;

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The one JSON object a `--json` command printed, whatever its exit status.
fn parse(args: &[&str], o: &Output) -> Value {
    serde_json::from_str(stdout(o).trim())
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}{}", stdout(o), stderr(o)))
}

/// Runs a command with `--json`; returns its exit code and JSON object.
fn run_json(args: &[&str]) -> (Option<i32>, Value) {
    let mut all = args.to_vec();
    all.push("--json");
    let o = edgeid(&all);
    (o.status.code(), parse(args, &o))
}

/// Runs a command that must succeed and returns its one JSON object.
fn json(args: &[&str]) -> Value {
    let (code, v) = run_json(args);
    assert_eq!(code, Some(0), "{args:?}: {v}");
    v
}

fn example(name: &str) -> String {
    let p: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "testdata", "sync", name]
        .iter()
        .collect();
    assert!(p.is_file(), "{} is missing", p.display());
    p.to_str().unwrap().to_string()
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(example("expected.json")).unwrap()).unwrap()
}

fn new_store(dir: &Path) -> String {
    let store = dir.join("store");
    let st = store.to_str().unwrap().to_string();
    json(&[
        "init",
        "--store",
        &st,
        "--model",
        "w600k_mbf",
        "--dim",
        "512",
    ]);
    st
}

fn statuses(v: &Value) -> Vec<&str> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect()
}

const LOC: &str = "hq-amsterdam";

#[test]
fn example_deltas_apply_refuse_and_prove_their_state() {
    let tmp = tempfile::tempdir().unwrap();
    let st = new_store(tmp.path());
    let (f1, f2, f3, f4, f5) = (
        example("01-full.json"),
        example("02-changes.json"),
        example("03-gap.json"),
        example("04-conflict.json"),
        example("05-bad-embedding.json"),
    );
    let want = expected();

    // 01 and 02 apply, in order.
    let r = json(&["sync", "apply", "--store", &st, &f1, &f2]);
    assert_eq!(statuses(&r), ["applied", "applied"]);
    let res = &r["results"];
    assert_eq!(res[0]["file"], f1.as_str());
    assert_eq!(
        (&res[0]["location"], &res[0]["sequence"], &res[0]["changes"]),
        (&Value::from(LOC), &Value::from(41), &Value::from(5))
    );
    assert_eq!(
        (&res[1]["sequence"], &res[1]["changes"]),
        (&42.into(), &4.into())
    );
    assert!(res[1]["reason"].is_null());

    // Human output of a re-sent delta.
    let o = edgeid(&["sync", "apply", "--store", &st, &f2]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with(&format!(
            "{f2}: already-applied (location {LOC}, sequence 42"
        )),
        "{}",
        stdout(&o)
    );
    let r = json(&["sync", "apply", "--store", &st, &f2]);
    assert_eq!(statuses(&r), ["already-applied"]);

    let digest = |st: &str| -> String {
        json(&["sync", "digest", "--store", st, "--location", LOC])["digest"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let before = digest(&st);
    // The platform's digest (computed by testdata/sync/generate.py from what it sent) matches.
    assert_eq!(before, want["after_02"]["digest"].as_str().unwrap());

    // 03: a gap, and the file after it is not applied.
    let (code, r) = run_json(&["sync", "apply", "--store", &st, &f3, &f4]);
    assert_eq!(code, Some(1));
    assert_eq!(statuses(&r), ["refused", "not-applied"]);
    let reason = r["results"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("full synchronisation"), "{reason}");
    assert_eq!(r["results"][0]["sequence"], 44);
    let o = edgeid(&["sync", "apply", "--store", &st, &f3, &f4]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains(&format!(
            "{f3}: refused: location {LOC}: expected sequence 43, got 44"
        )) && stdout(&o).contains(&format!("{f4}: not applied")),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).starts_with("edgeid: error: ")
            && stderr(&o).contains("1 later file not applied"),
        "{}",
        stderr(&o)
    );

    // 04: the same sequence as 02 with other content.
    let (code, r) = run_json(&["sync", "apply", "--store", &st, &f4]);
    assert_eq!(code, Some(1));
    let reason = r["results"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("already applied with different content"),
        "{reason}"
    );

    // 05: a bad embedding in the second change; the first change is not applied either.
    let (code, r) = run_json(&["sync", "apply", "--store", &st, &f5]);
    assert_eq!(code, Some(1));
    assert_eq!(
        r["results"][0]["reason"],
        "changes[1].user.faces[0].embedding: expected 512 floats, got 511"
    );
    assert_eq!(digest(&st), before, "refused deltas change nothing");
    let o = edgeid(&[
        "user",
        "show",
        "--store",
        &st,
        "--location",
        LOC,
        "--user",
        "u-1004",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no user u-1004 at location hq-amsterdam"),
        "{}",
        stderr(&o)
    );

    // Status.
    let s = json(&["sync", "status", "--store", &st]);
    let locs = s["locations"].as_array().unwrap();
    assert_eq!(locs.len(), 1);
    let a2 = &want["after_02"];
    for key in ["sequence", "users", "faces", "fingers", "digest"] {
        assert_eq!(locs[0][key], a2[key], "{key}: {s}");
    }
    assert_eq!(locs[0]["location"], LOC);
    let o = edgeid(&["sync", "status", "--store", &st]);
    assert!(stdout(&o).contains(LOC) && stdout(&o).contains(&before));

    // user show: everything but the code.
    let args = [
        "user",
        "show",
        "--store",
        &st,
        "--location",
        LOC,
        "--user",
        "u-1001",
    ];
    let u = json(&args);
    assert_eq!(u["name"], "Ada Lovelace");
    assert_eq!(u["enabled"], true);
    assert_eq!(u["valid_from"], "2026-01-01T00:00:00Z");
    assert!(u["valid_until"].is_null());
    assert_eq!(u["faces"], serde_json::json!(["f1"]));
    assert_eq!(u["fingers"][0]["id"], "r-index");
    assert_eq!(u["fingers"][0]["position"], 2);
    assert_eq!(u["fingers"][0]["format"], "iso19794-2:2005");
    assert!(u["fingers"][0]["bytes"].as_u64().unwrap() > 0);
    assert_eq!(u["cards"].as_array().unwrap().len(), 2);
    assert_eq!(u["access_codes"], 1);
    assert_eq!(u["plates"], serde_json::json!(["AB123C"]));
    assert_eq!(u["rights"][0]["schedule"], "office-hours");
    assert_eq!(u["record_hash"].as_str().unwrap().len(), 64);
    let o = edgeid(&args);
    let text = stdout(&o);
    assert!(text.contains("1 access code (never shown)"), "{text}");
    assert!(
        !text.contains("482913")
            && !stdout(&edgeid(&[&args[..], &["--json"]].concat())).contains("482913")
    );
    // Nor is it in any file of the store.
    let journal = std::fs::read_dir(std::path::Path::new(&st).join("journal")).unwrap();
    for p in std::fs::read_dir(&st)
        .unwrap()
        .chain(journal)
        .map(|e| e.unwrap().path())
    {
        if p.is_dir() {
            continue;
        }
        let b = std::fs::read(&p).unwrap();
        assert!(
            !b.windows(6).any(|w| w == b"482913"),
            "{} holds the code",
            p.display()
        );
    }

    // Lookups.
    let found = |args: &[&str]| -> String {
        let o = edgeid(args);
        assert!(o.status.success(), "{args:?}: {}{}", stdout(&o), stderr(&o));
        stdout(&o).trim().to_string()
    };
    let ada = format!("{LOC}/u-1001");
    assert_eq!(
        found(&["lookup", "card", "--store", &st, "04a1b2c3d4e5f6"]),
        ada
    );
    assert_eq!(
        found(&[
            "lookup",
            "card",
            "--store",
            &st,
            "--format",
            "wiegand26",
            "--facility",
            "12",
            "34567"
        ]),
        ada
    );
    assert_eq!(found(&["lookup", "code", "--store", &st, "482913"]), ada);
    assert_eq!(
        found(&[
            "lookup",
            "plate",
            "--store",
            &st,
            "--location",
            LOC,
            "ab 123 c"
        ]),
        ada
    );
    let j = json(&["lookup", "plate", "--store", &st, "ab 123 c"]);
    assert_eq!((&j["found"], &j["user"]), (&true.into(), &"u-1001".into()));
    // The code from standard input, kept out of the process list.
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgeid"))
        .args(["lookup", "code", "--store", &st, "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"482913\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    let j: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["user"], "u-1001");
    assert!(!stdout(&o).contains("482913"));

    // Not found: "no user", exit 1, no error line. The deleted user's credentials are gone.
    for args in [
        vec!["lookup", "plate", "--store", &st, "CB-42-X"],
        vec!["lookup", "code", "--store", &st, "730015"],
        vec![
            "lookup",
            "card",
            "--store",
            &st,
            "--format",
            "wiegand26",
            "--facility",
            "12",
            "34568",
        ],
    ] {
        let o = edgeid(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert_eq!(stdout(&o).trim(), "no user");
        assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    }
    let (code, j) = run_json(&["lookup", "plate", "--store", &st, "CB-42-X"]);
    assert_eq!((code, &j["found"]), (Some(1), &false.into()));
    // Errors are errors.
    let o = edgeid(&[
        "lookup",
        "card",
        "--store",
        &st,
        "--format",
        "wiegand26",
        "34567",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--facility"), "{}", stderr(&o));
    let o = edgeid(&["lookup", "card", "--store", &st, "--format", "mifare", "1"]);
    assert_eq!(o.status.code(), Some(2));
    let help = edgeid(&["lookup", "--help"]);
    assert!(
        stdout(&help).contains("1 when none does"),
        "{}",
        stdout(&help)
    );
}

#[test]
fn the_full_example_alone_has_the_platform_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let st = new_store(tmp.path());
    json(&["sync", "apply", "--store", &st, &example("01-full.json")]);
    let s = json(&["sync", "status", "--store", &st]);
    let a1 = &expected()["after_01"];
    for key in ["sequence", "users", "faces", "fingers", "digest"] {
        assert_eq!(s["locations"][0][key], a1[key], "{key}: {s}");
    }
    // A location never synchronised holds nothing: it has the digest of the empty state
    // (docs/sync-protocol.md), which a platform compares like any other.
    let o = edgeid(&["sync", "digest", "--store", &st, "--location", "elsewhere"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).trim(),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert!(
        stderr(&o).contains("never been synchronised"),
        "{}",
        stderr(&o)
    );
    let j = json(&["sync", "digest", "--store", &st, "--location", "elsewhere"]);
    assert_eq!(
        (&j["sequence"], &j["synchronised"]),
        (&0.into(), &false.into())
    );
    let j = json(&["sync", "digest", "--store", &st, "--location", LOC]);
    assert_eq!(
        (&j["sequence"], &j["synchronised"], &j["digest"]),
        (&41.into(), &true.into(), &a1["digest"])
    );
}

#[test]
fn apply_reports_a_machine_readable_refusal_kind() {
    let tmp = tempfile::tempdir().unwrap();
    let st = new_store(tmp.path());
    let (f1, f2) = (example("01-full.json"), example("02-changes.json"));
    json(&["sync", "apply", "--store", &st, &f1, &f2]);
    let bad = |name: &str, text: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let head = r#""format":"edgeid.delta/1","location":"hq-amsterdam""#;
    for (file, kind) in [
        (example("03-gap.json"), "gap"),
        (example("04-conflict.json"), "conflict"),
        (example("05-bad-embedding.json"), "invalid"),
        (bad("parse.json", "{not json"), "parse"),
        (
            bad("version.json", r#"{"format":"edgeid.delta/9"}"#),
            "version",
        ),
        (
            bad(
                "stale.json",
                &format!(r#"{{{head},"sequence":3,"kind":"full","changes":[]}}"#),
            ),
            "stale",
        ),
    ] {
        let (code, r) = run_json(&["sync", "apply", "--store", &st, &file]);
        assert_eq!(code, Some(1), "{r}");
        assert_eq!(r["results"][0]["status"], "refused", "{r}");
        assert_eq!(r["results"][0]["refusal"], kind, "{r}");
    }
    let r = json(&["sync", "apply", "--store", &st, &f2]);
    assert!(r["results"][0]["refusal"].is_null(), "{r}");
}

#[test]
fn apply_checks_files_and_store_first() {
    let tmp = tempfile::tempdir().unwrap();
    let st = new_store(tmp.path());
    let missing = tmp.path().join("nope.json");
    let o = edgeid(&[
        "sync",
        "apply",
        "--store",
        &st,
        &example("01-full.json"),
        missing.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("nothing was applied"), "{}", stderr(&o));
    assert!(json(&["sync", "status", "--store", &st])["locations"]
        .as_array()
        .unwrap()
        .is_empty());
    let o = edgeid(&["sync", "apply", "--store", &st]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn bench_sync_reports_every_number() {
    let j = json(&[
        "bench",
        "sync",
        "--users",
        "200",
        "--dim",
        "64",
        "--full-users",
        "500",
    ]);
    for key in [
        "bytes",
        "parse_ms",
        "parse_mb_s",
        "apply_ms",
        "one_user_ms",
        "full_sync_ms",
        "search_p50_idle_ms",
        "search_p99_idle_ms",
        "search_p50_during_ms",
        "search_p99_during_ms",
        "search_p99_ratio",
    ] {
        assert!(
            j.get(key).is_some_and(|v| !v.is_null()),
            "missing {key}: {j}"
        );
    }
    assert_eq!(j["users"], 200);
    assert_eq!(j["full_users"], 500);
    assert_eq!(j["search_wrong"], 0);
    let j = json(&[
        "bench",
        "sync",
        "--users",
        "50",
        "--dim",
        "64",
        "--full-users",
        "0",
    ]);
    assert!(
        j["full_sync_ms"].is_null() && j["apply_ms"].is_number(),
        "{j}"
    );
}

#[test]
fn a_delta_over_the_size_limit_is_refused_unread() {
    let tmp = tempfile::tempdir().unwrap();
    let st = new_store(tmp.path());
    // Just over 1 MiB, and not even JSON: refused by its size, before anything reads it.
    let big = tmp.path().join("big.json");
    std::fs::write(&big, vec![b' '; (1 << 20) + 1]).unwrap();
    let big = big.to_str().unwrap();
    let f1 = example("01-full.json");
    let (code, r) = run_json(&[
        "sync",
        "apply",
        "--store",
        &st,
        "--max-delta-mib",
        "1",
        big,
        &f1,
    ]);
    assert_eq!(code, Some(1), "{r}");
    assert_eq!(statuses(&r), ["refused", "not-applied"]);
    let reason = r["results"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("1048577 bytes") && reason.contains("(1048576 bytes)"),
        "{reason}"
    );
    // Nothing was applied; the example (well under the default 64 MiB) applies afterwards.
    let status = json(&["sync", "status", "--store", &st]);
    assert_eq!(status["locations"].as_array().unwrap().len(), 0, "{status}");
    assert_eq!(
        statuses(&json(&["sync", "apply", "--store", &st, &f1])),
        ["applied"]
    );
}

/// Signed deltas end to end: keys provisioned with `keys add`, `FILE.sig` picked up beside each
/// file (or named with `--signature`), a rotation, refusals of kind `signature`.
#[test]
fn keys_and_signed_deltas() {
    let tmp = tempfile::tempdir().unwrap();
    let st = new_store(tmp.path());
    let signed = |f: &str| example(&format!("signed/{f}"));
    let keys: Value =
        serde_json::from_str(&std::fs::read_to_string(signed("keys.json")).unwrap()).unwrap();
    let (k1, k2) = (
        keys["platform-1"]["public_key"].as_str().unwrap(),
        keys["platform-2"]["public_key"].as_str().unwrap(),
    );
    let id2 = keys["platform-2"]["key_id"].as_str().unwrap();
    let loc = "hq-amsterdam";
    let v = json(&[
        "keys",
        "add",
        "--store",
        &st,
        "--location",
        loc,
        "--require",
        k1,
    ]);
    assert_eq!(v["locations"][0]["require_signatures"], true);
    assert_eq!(
        v["locations"][0]["keys"][0]["key_id"],
        keys["platform-1"]["key_id"]
    );
    // An unsigned delta is refused where signatures are required.
    let (code, v) = run_json(&["sync", "apply", "--store", &st, &example("01-full.json")]);
    assert_eq!(code, Some(1));
    assert_eq!(v["results"][0]["refusal"], "signature");
    // The signature beside the file; 03 is signed by the key 02 rotates to.
    let v = json(&[
        "sync",
        "apply",
        "--store",
        &st,
        &signed("01-full.json"),
        &signed("02-rotate.json"),
        &signed("03-changes.json"),
    ]);
    assert_eq!(statuses(&v), ["applied", "applied", "applied"]);
    assert!(v["results"][0]["signature"]
        .as_str()
        .unwrap()
        .ends_with("01-full.json.sig"));
    let v = json(&["keys", "list", "--store", &st]);
    assert_eq!(v["locations"][0]["keys"][0]["public_key"], k2);
    for f in ["04-old-key.json", "05-tampered.json"] {
        let (code, v) = run_json(&["sync", "apply", "--store", &st, &signed(f)]);
        assert_eq!(code, Some(1), "{f}");
        assert_eq!(v["results"][0]["refusal"], "signature", "{f}");
    }
    // --signature names the envelope of one file.
    let (code, _) = run_json(&[
        "sync",
        "apply",
        "--store",
        &st,
        "--signature",
        &signed("03-changes.json.sig"),
        &signed("05-tampered.json"),
    ]);
    assert_eq!(code, Some(1));
    let v = json(&[
        "sync",
        "apply",
        "--store",
        &st,
        "--signature",
        &signed("03-changes.json.sig"),
        &signed("03-changes.json"),
    ]);
    assert_eq!(statuses(&v), ["already-applied"]);
    // Bad keys are refused; removing by key id.
    let o = edgeid(&["keys", "add", "--store", &st, "--location", loc, "AAAA"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v = json(&["keys", "remove", "--store", &st, "--location", loc, id2]);
    assert_eq!(v["locations"][0]["keys"].as_array().unwrap().len(), 0);
    let v = json(&[
        "keys",
        "require",
        "--store",
        &st,
        "--location",
        loc,
        "--off",
    ]);
    assert_eq!(v["locations"].as_array().unwrap().len(), 0);
}
