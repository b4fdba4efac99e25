//! End-to-end tests of the fingerprint commands: compare, scores, eval, info and `bench finger`
//! on the committed test data (testdata/fingerprint).

mod common;
use common::*;

use std::path::{Path, PathBuf};

/// Runs a command that must fail with exit 1 and returns its stderr.
fn fails(args: &[&str]) -> String {
    let o = edgeid(args);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{args:?} should exit 1: {}{}",
        stdout(&o),
        stderr(&o)
    );
    assert!(o.stdout.is_empty(), "{args:?} printed: {}", stdout(&o));
    let e = stderr(&o);
    assert!(e.starts_with("edgeid: error: "), "{args:?}: {e}");
    e
}

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/fingerprint")
}

fn db1(name: &str) -> String {
    data()
        .join("fvc2002/DB1_B/mindtct")
        .join(format!("{name}.iso"))
        .to_string_lossy()
        .into_owned()
}

#[test]
fn compare_self_high_other_finger_low() {
    let same = json(&["finger", "compare", &db1("101_1"), &db1("101_1")]);
    for k in ["a", "b", "score", "fmr"] {
        assert!(same.get(k).is_some(), "missing {k}: {same}");
    }
    assert!(same["score"].as_f64().unwrap() > 0.9, "{same}");
    assert_eq!(same["match"], true);

    let other = json(&["finger", "compare", &db1("101_1"), &db1("102_1")]);
    let s = other["score"].as_f64().unwrap();
    assert!(s < other["threshold"].as_f64().unwrap(), "{other}");
    assert_eq!(other["match"], false);
    assert!(other["fmr"].as_f64().unwrap() > 1e-4, "{other}");

    // Another impression of the same finger matches; the text says so against the threshold.
    let o = edgeid(&["finger", "compare", &db1("101_1"), &db1("101_2")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let line = stdout(&o);
    assert!(
        line.contains("match at FMR 1e-4 (threshold 0.0313)") && !line.contains("no match"),
        "{line}"
    );

    // A stricter FMR raises the threshold; an uncalibrated one is a usage error.
    let strict = json(&[
        "finger",
        "compare",
        &db1("101_1"),
        &db1("101_2"),
        "--fmr",
        "1e-6",
    ]);
    assert!(strict["threshold"].as_f64().unwrap() > same["threshold"].as_f64().unwrap());
    let o = edgeid(&[
        "finger",
        "compare",
        &db1("101_1"),
        &db1("101_2"),
        "--fmr",
        "0.5",
    ]);
    assert_eq!(o.status.code(), Some(2));

    let e = fails(&["finger", "compare", &db1("101_1"), "/no/such/file.iso"]);
    assert!(e.contains("/no/such/file.iso"), "{e}");
}

#[test]
fn scores_every_ordered_pair() {
    let tmp = tempfile::tempdir().unwrap();
    let names = ["101_1", "101_2", "102_1", "102_2", "103_1", "103_2"];
    for n in names {
        std::fs::copy(db1(n), tmp.path().join(format!("{n}.iso"))).unwrap();
    }
    let dir = tmp.path().to_str().unwrap();
    let o = edgeid(&["finger", "scores", dir]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let mut pairs = std::collections::HashSet::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 3, "{line}");
        assert_ne!(f[0], f[1], "{line}");
        assert!(names.contains(&f[0]) && names.contains(&f[1]), "{line}");
        let s: f64 = f[2].parse().unwrap();
        assert!((0.0..=1.0).contains(&s), "{line}");
        pairs.insert((f[0].to_string(), f[1].to_string()));
    }
    assert_eq!(text.lines().count(), 30);
    assert_eq!(pairs.len(), 30);

    let v = json(&["finger", "scores", dir]);
    assert_eq!(v["pairs"], 30);
    assert_eq!(v["templates"], 6);
    assert_eq!(v["scores"].as_array().unwrap().len(), 30);

    // A file that is not a record names itself.
    std::fs::write(tmp.path().join("junk.iso"), b"not a record").unwrap();
    let e = fails(&["finger", "scores", dir]);
    assert!(e.contains("junk.iso"), "{e}");
    let e = fails(&["finger", "scores", "/no/such/dir"]);
    assert!(e.contains("not a directory"), "{e}");
}

#[test]
fn eval_db1_mindtct() {
    let dir = data().join("fvc2002/DB1_B/mindtct");
    let v = json(&["finger", "eval", dir.to_str().unwrap()]);
    assert_eq!(v["templates"], 80);
    assert_eq!(v["genuine"], 280);
    assert_eq!(v["impostor"], 2880);
    let eer = v["eer"].as_f64().unwrap();
    assert!(eer < 0.03, "EER {eer}");
    assert!(v["fnmr_at_fmr_1pct"].as_f64().unwrap() <= v["fnmr_at_fmr_0"].as_f64().unwrap());
    assert_eq!(v["rank1"], 80);

    let o = edgeid(&["finger", "eval", dir.to_str().unwrap()]);
    let text = stdout(&o);
    for k in ["EER", "FNMR@FMR1%", "FNMR@FMR0", "rank-1", "80/80"] {
        assert!(text.contains(k), "{text}");
    }
}

#[test]
fn eval_plots_the_det_curve_beside_bozorth3() {
    let dir = data().join("fvc2002/DB1_B/mindtct");
    let tmp = tempfile::tempdir().unwrap();
    let svg = tmp.path().join("det.svg");
    let v = json(&[
        "finger",
        "eval",
        dir.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
    ]);
    // bozorth3's scores are found two levels above DIR; the same pairs, its own figures.
    let r = &v["reference"];
    assert_eq!(r["db"], "fvc2002/DB1_B");
    assert_eq!(
        (r["genuine"].as_u64(), r["impostor"].as_u64()),
        (Some(280), Some(2880))
    );
    assert!((r["fnmr_at_fmr_1pct"].as_f64().unwrap() - 19.0 / 280.0).abs() < 1e-9);
    assert!(
        v["fnmr_at_calibrated_1e3"].as_f64().unwrap()
            <= v["fnmr_at_calibrated_1e4"].as_f64().unwrap()
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.ends_with("</svg>\n"));
    assert_eq!(text.matches("<path").count(), 2, "edgeid and bozorth3");
    assert!(text.contains("bozorth3") && text.contains("DB1_B/mindtct"));
    // A reference file without the set's rows is refused when named explicitly.
    let bad = tmp.path().join("ref.tsv");
    std::fs::write(&bad, "db\tprobe\tgallery\tscore\nother\t101_1\t101_2\t5\n").unwrap();
    let e = fails(&[
        "finger",
        "eval",
        dir.to_str().unwrap(),
        "--reference",
        bad.to_str().unwrap(),
    ]);
    assert!(e.contains("no genuine or no impostor pairs"), "{e}");
}

#[test]
fn crossval_and_distort_run_on_the_test_data() {
    let root = data().join("fvc2002");
    let v = json(&[
        "finger",
        "crossval",
        root.to_str().unwrap(),
        "--limit",
        "16",
        "--no-conditions",
    ]);
    let folds = v["folds"].as_array().unwrap();
    assert_eq!(folds.len(), 8);
    assert!(folds.iter().all(|f| f["train_impostors"] == 7 * 64));
    assert!(v["worst_eer"].as_f64().unwrap() >= v["mean_eer"].as_f64().unwrap());
    // A narrower run over chosen candidates; an index past the list is refused.
    let one = json(&[
        "finger",
        "crossval",
        root.to_str().unwrap(),
        "--limit",
        "16",
        "--no-conditions",
        "--candidates",
        "0,9",
    ]);
    assert_eq!(one["candidates"].as_array().unwrap().len(), 2);
    assert!(one["candidates"][1]
        .as_str()
        .unwrap()
        .starts_with("candidate 9 of the full list"));
    let e = fails(&[
        "finger",
        "crossval",
        root.to_str().unwrap(),
        "--candidates",
        "0,999",
    ]);
    assert!(e.contains("no candidate 999"), "{e}");

    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("rot");
    let src = data().join("fvc2002/DB1_B/mindtct");
    let args = |seed: &'static str| {
        vec![
            "finger".to_string(),
            "distort".into(),
            src.to_str().unwrap().into(),
            out.to_str().unwrap().into(),
            "--condition".into(),
            "rotate".into(),
            "--seed".into(),
            seed.into(),
        ]
    };
    let run = |seed| {
        let a = args(seed);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let v = json(&a);
        assert_eq!(v["records"], 80);
        std::fs::read(out.join("101_1.iso")).unwrap()
    };
    let (a, b, c) = (run("3"), run("3"), run("4"));
    assert_eq!(a, b, "seeded");
    assert_ne!(a, c);
    // The variants are records the evaluation reads.
    let v = json(&["finger", "eval", out.to_str().unwrap()]);
    assert_eq!(v["templates"], 80);
    let o = edgeid(&[
        "finger",
        "distort",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
        "--condition",
        "melt",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("unknown condition \"melt\""),
        "{}",
        stderr(&o)
    );
}

#[test]
fn info_refuses_truncated_records() {
    for n in [1, 2, 3] {
        let f = data().join(format!(
            "invalid/101_1_truncate_{n}_byte{}.iso",
            if n == 1 { "" } else { "s" }
        ));
        let e = fails(&["finger", "info", f.to_str().unwrap()]);
        assert!(e.contains("truncated"), "{e}");
        assert!(e.contains(f.file_name().unwrap().to_str().unwrap()), "{e}");
        // Lenient parsing accepts disagreeing lengths, never missing data.
        let e = fails(&["finger", "info", "--lenient", f.to_str().unwrap()]);
        assert!(e.contains("truncated"), "{e}");
        fails(&["finger", "compare", f.to_str().unwrap(), &db1("101_1")]);
    }
}

#[test]
fn info_iso_annex_example_strict_and_lenient() {
    let f = data().join("standard-examples/ISO-19794-2_2005_Appendix-C2_Example.raw");
    let f = f.to_str().unwrap();
    let e = fails(&["finger", "info", f]);
    assert!(e.contains("340") && e.contains("341"), "{e}");
    assert!(e.contains("--lenient"), "{e}");

    let v = json(&["finger", "info", "--lenient", f]);
    assert_eq!(v["format"], "iso2005");
    assert_eq!(v["mode"], "lenient");
    assert_eq!(v["views"].as_array().unwrap().len(), 2);
    assert_eq!(v["views"][0]["x_res"], 197);
    assert!(v["views"][0]["minutiae"].as_u64().unwrap() > 0);
    let w = v["warnings"].to_string();
    assert!(w.contains("340") && w.contains("341"), "{w}");

    let o = edgeid(&["finger", "info", "--lenient", f]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("warning:") && text.contains("340"), "{text}");

    // The ANSI example is consistent: strict reads it, without warnings.
    let a = data().join("standard-examples/ANSI-INCITS-378_2004_Appendix-B2_Example.raw");
    let v = json(&["finger", "info", a.to_str().unwrap()]);
    assert_eq!(v["format"], "ansi378");
    assert_eq!(v["warnings"].as_array().unwrap().len(), 0);
    assert_eq!(v["views"].as_array().unwrap().len(), 2);
}

#[test]
fn bench_finger_json() {
    let v = json(&["bench", "finger", "--gallery", "2000", "--queries", "20"]);
    for k in [
        "gallery",
        "p50_ms",
        "p99_ms",
        "comparisons_per_s",
        "one_to_one_per_s",
        "rank1",
    ] {
        assert!(v.get(k).is_some_and(|x| !x.is_null()), "missing {k}: {v}");
    }
    assert_eq!(v["gallery"], 2000);
    assert_eq!(v["queries"], 20);
    assert!(v["p50_ms"].as_f64().unwrap() <= v["p99_ms"].as_f64().unwrap());
    assert!(v["comparisons_per_s"].as_f64().unwrap() > 0.0);
    assert!(v["one_to_one_per_s"].as_f64().unwrap() > 0.0);
    assert!(v["rank1"].as_f64().unwrap() >= 0.9, "{v}");

    let e = fails(&[
        "bench",
        "finger",
        "--gallery",
        "10",
        "--data",
        "/no/such/dir",
    ]);
    assert!(e.contains("/no/such/dir"), "{e}");
}

#[test]
fn store_add_identify_verify_remove() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    let store = store.to_str().unwrap();
    json(&["init", "--store", store, "--model", "m", "--dim", "8"]);
    for f in ["101", "102", "103"] {
        for i in ["1", "2"] {
            let v = json(&[
                "finger",
                "add",
                "--store",
                store,
                "--user",
                f,
                "--template",
                i,
                &db1(&format!("{f}_{i}")),
            ]);
            assert_eq!(v["replaced"], false, "{v}");
            assert!(v["minutiae"].as_u64().unwrap() > 10, "{v}");
        }
    }
    // Adding the same ids again replaces.
    let v = json(&[
        "finger",
        "add",
        "--store",
        store,
        "--user",
        "101",
        "--template",
        "1",
        &db1("101_1"),
    ]);
    assert_eq!(
        (v["replaced"].as_bool(), v["live"].as_u64()),
        (Some(true), Some(6))
    );

    let v = json(&[
        "finger",
        "identify",
        "--store",
        store,
        "--k",
        "2",
        &db1("102_5"),
    ]);
    let hits = v["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 2, "{v}");
    assert_eq!(hits[0]["user"], "102", "{v}");
    assert_eq!(hits[0]["location"], "local");
    for k in ["template", "position", "score", "fmr"] {
        assert!(hits[0].get(k).is_some(), "missing {k}: {v}");
    }
    assert_eq!(v["searched"], 6);
    // At FMR 1e-4 only the mate is left; exhaustive matching agrees.
    let v = json(&[
        "finger",
        "identify",
        "--store",
        store,
        "--fmr",
        "1e-4",
        &db1("102_5"),
    ]);
    let hits = v["hits"].as_array().unwrap();
    assert!(hits.iter().all(|h| h["user"] == "102"), "{v}");
    let ex = json(&[
        "finger",
        "identify",
        "--store",
        store,
        "--fmr",
        "1e-4",
        "--exhaustive",
        &db1("102_5"),
    ]);
    assert_eq!(ex["hits"], v["hits"]);

    let v = json(&[
        "finger",
        "verify",
        "--store",
        store,
        "--user",
        "103",
        "--fmr",
        "1e-4",
        &db1("103_3"),
    ]);
    assert_eq!(v["accepted"], true, "{v}");
    let v = json(&[
        "finger",
        "verify",
        "--store",
        store,
        "--user",
        "101",
        "--fmr",
        "1e-4",
        &db1("103_3"),
    ]);
    assert_eq!(v["accepted"], false, "{v}");
    let o = edgeid(&[
        "finger",
        "verify",
        "--store",
        store,
        "--user",
        "101",
        &db1("103_3"),
    ]);
    assert!(
        o.status.success() && stdout(&o).contains("user 101 at local: score"),
        "{}",
        stdout(&o)
    );

    // Stats count fingerprint templates and their users.
    let st = json(&["stats", "--store", store]);
    assert_eq!(
        (st["fingers"].as_u64(), st["users"].as_u64()),
        (Some(6), Some(3))
    );
    // Each index under `indexes`, with the same fields; no face was enrolled here.
    assert_eq!(st["indexes"]["fingers"]["live"], 6);
    assert_eq!(st["indexes"]["faces"]["live"], 0);
    assert!(st["finger_kernel"].is_string());

    // Remove one template, then the rest of the user; errors name what is missing.
    let v = json(&[
        "finger",
        "remove",
        "--store",
        store,
        "--user",
        "102",
        "--template",
        "1",
    ]);
    assert_eq!(
        (v["removed"].as_u64(), v["erased"].as_bool()),
        (Some(1), Some(true))
    );
    let v = json(&["finger", "remove", "--store", store, "--user", "102"]);
    assert_eq!(v["removed"], 1);
    let e = fails(&["finger", "remove", "--store", store, "--user", "102"]);
    assert!(
        e.contains("user 102 has no fingerprint templates at location local"),
        "{e}"
    );
    let e = fails(&[
        "finger",
        "verify",
        "--store",
        store,
        "--user",
        "102",
        &db1("102_5"),
    ]);
    assert!(e.contains("no fingerprint templates"), "{e}");
    let v = json(&[
        "finger",
        "identify",
        "--store",
        store,
        "--k",
        "5",
        &db1("102_5"),
    ]);
    assert!(
        v["hits"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["user"] != "102"),
        "{v}"
    );

    // Bad input changes nothing.
    let e = fails(&[
        "finger",
        "add",
        "--store",
        store,
        "--user",
        "x",
        "--template",
        "1",
        &data()
            .join("invalid/101_1_truncate_1_byte.iso")
            .to_string_lossy(),
    ]);
    assert!(e.contains("101_1_truncate_1_byte.iso"), "{e}");
    let e = fails(&[
        "finger",
        "add",
        "--store",
        store,
        "--user",
        "",
        "--template",
        "1",
        &db1("101_3"),
    ]);
    assert!(e.contains("user"), "{e}");
    assert_eq!(json(&["stats", "--store", store])["fingers"], 4);
    let o = edgeid(&[
        "finger",
        "add",
        "--store",
        store,
        "--user",
        "x",
        "--template",
        "1",
        "--position",
        "11",
        &db1("101_3"),
    ]);
    assert_eq!(o.status.code(), Some(2));
}
