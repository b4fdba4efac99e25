//! Helpers shared by the CLI's end-to-end tests: run the built `edgeid` binary and read its output.
#![allow(dead_code)]

use serde_json::Value;
use std::process::{Command, Output};

/// Runs `edgeid` with `args`.
pub fn edgeid(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgeid"))
        .args(args)
        .output()
        .expect("run edgeid")
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a command that must succeed with `--json` and returns its one JSON object.
pub fn json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let o = edgeid(&all);
    assert!(
        o.status.success(),
        "{args:?} failed ({}): {}{}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    let v: Value = serde_json::from_str(stdout(&o).trim())
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stdout(&o)));
    assert!(v.is_object(), "{args:?}: not one JSON object: {v}");
    v
}
