//! Every kernel check of `src/kernels/checks.rs` (`CHECKS`) has its own unit test: a `#[test]`
//! under `src/kernels/` whose body runs that check by name, so a check cannot lose its test
//! unnoticed. (The unit test `kernels::tests::every_check_has_a_test` only counts the checks.)

// `super::Kernels` of the included file, as in `tests/kernels_aarch64.rs`.
use edgeid::kernels::Kernels;

#[path = "../src/kernels/checks.rs"]
mod checks;

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The checks run by `#[test]` functions in the sources under `dir`: (check name, "file: test").
fn checks_run_by_unit_tests(dir: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    rust_files(dir, &mut files);
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        // Each piece starts just after a `#[test]` and runs to the next one.
        for piece in text.split("#[test]").skip(1) {
            let Some(name) = piece
                .split_once("fn ")
                .and_then(|(_, rest)| rest.split_once('('))
                .map(|(name, _)| name.trim())
            else {
                continue;
            };
            for call in piece.split("run(\"").skip(1) {
                if let Some((check, _)) = call.split_once("\")") {
                    out.push((check.to_string(), format!("{}: {name}", f.display())));
                }
            }
        }
    }
    out
}

#[test]
fn every_kernel_check_is_run_by_a_unit_test() {
    let runs = checks_run_by_unit_tests(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src/kernels"));
    let missing: Vec<&str> = checks::CHECKS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !runs.iter().any(|(check, _)| check == name))
        .collect();
    assert!(
        missing.is_empty(),
        "kernel checks without a unit test that runs them: {missing:?}"
    );
    // And every such test runs a check that exists.
    for (check, test) in &runs {
        assert!(
            checks::CHECKS.iter().any(|(name, _)| name == check),
            "{test} runs {check:?}, which is not in CHECKS"
        );
    }
}
