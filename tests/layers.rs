//! The library's modules read one way down (ARCHITECTURE.md, "Layers"): a module may use the
//! modules of lower layers and never one of its own layer or above. This test reads every source
//! file under `src/` and fails on any `crate::` path that points sideways or up.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Layer of each top-level module, lowest first.
const LAYERS: &[(&str, u32)] = &[
    ("error", 0),
    ("ids", 1),
    ("mmap", 1),
    ("kernels", 1),
    ("face", 2),
    ("finger", 2),
    ("catalog", 2),
    ("vision", 2),
    ("fs", 2),
    ("journal", 3),
    ("store", 4),
    ("index", 5),
    ("sync", 5),
    ("access", 6),
];

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

/// The top-level modules a source text names through `crate::` paths (comments skipped).
fn crate_paths(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push(name);
            } else if rest.starts_with('{') {
                // `use crate::{a, b::c}`: every first segment inside the braces.
                let inner = &rest[1..rest.find('}').unwrap_or(rest.len())];
                for part in inner.split(',') {
                    let seg = part.trim().split("::").next().unwrap_or("").trim();
                    if !seg.is_empty() {
                        found.push(seg.to_string());
                    }
                }
            }
        }
    }
    found
}

#[test]
fn no_module_uses_a_module_of_its_own_layer_or_above() {
    let layers: BTreeMap<&str, u32> = LAYERS.iter().copied().collect();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    let mut checked = 0;
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        if top == "lib" {
            continue; // the facade re-exports from every layer
        }
        let Some(&own) = layers.get(top.as_str()) else {
            panic!(
                "{} is in no layer: add its module to LAYERS and ARCHITECTURE.md",
                rel.display()
            );
        };
        for used in crate_paths(&std::fs::read_to_string(f).unwrap()) {
            checked += 1;
            if used == top {
                continue;
            }
            match layers.get(used.as_str()) {
                Some(&l) if l < own => {}
                Some(&l) => violations.push(format!(
                    "{} (layer {own}) uses crate::{used} (layer {l})",
                    rel.display()
                )),
                None => violations.push(format!(
                    "{} uses crate::{used}, which is in no layer",
                    rel.display()
                )),
            }
        }
    }
    assert!(checked > 50, "the scan found only {checked} crate paths");
    assert!(
        violations.is_empty(),
        "layering violations:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_scan_sees_grouped_and_nested_paths() {
    let text = "use crate::{error::Error, ids};\n// crate::sync in a comment\nlet x = crate::store::Store::open;";
    assert_eq!(crate_paths(text), ["error", "ids", "store"]);
}
