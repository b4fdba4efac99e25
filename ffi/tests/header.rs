//! The committed `include/edgeid.h` is exactly what the pinned cbindgen generates from the code,
//! and its version macros are the version in Cargo.toml.
//!
//! When the code changes, regenerate the header with
//! `EDGEID_BLESS=1 cargo test -p edgeid-ffi --test header` and commit it.

use std::path::{Path, PathBuf};

fn ffi_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn header_path() -> PathBuf {
    ffi_dir().join("include").join("edgeid.h")
}

fn version_macros() -> String {
    let num = |s: &str| s.parse::<u32>().expect("numeric version part");
    let (major, minor, patch) = (
        num(env!("CARGO_PKG_VERSION_MAJOR")),
        num(env!("CARGO_PKG_VERSION_MINOR")),
        num(env!("CARGO_PKG_VERSION_PATCH")),
    );
    let abi = if major == 0 { minor } else { major * 100 };
    format!(
        "#define EDGEID_VERSION_MAJOR {major}\n#define EDGEID_VERSION_MINOR {minor}\n#define EDGEID_VERSION_PATCH {patch}\n\
         #define EDGEID_VERSION_STRING \"{}\"\n\
         /* MAJOR * 10000 + MINOR * 100 + PATCH: compare with edgeid_version_number() at run time. */\n\
         #define EDGEID_VERSION_NUMBER {}\n\
         /* The ABI: the minor while MAJOR is 0, then MAJOR * 100; compare with edgeid_abi_version(). */\n\
         #define EDGEID_ABI_VERSION {abi}",
        env!("CARGO_PKG_VERSION"),
        major * 10000 + minor * 100 + patch,
    )
}

fn generate() -> String {
    let dir = ffi_dir();
    let mut config = cbindgen::Config::from_file(dir.join("cbindgen.toml"))
        .expect("ffi/cbindgen.toml is readable and valid");
    config.after_includes = Some(version_macros());
    let bindings = cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
        .expect("cbindgen can parse the ffi crate");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("cbindgen writes UTF-8")
}

/// A line diff (longest common subsequence), in unified style without hunk headers.
fn diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] > lcs[i + 1][j]) {
            out.push_str(&format!("+{:>5} | {}\n", j + 1, b[j]));
            j += 1;
        } else {
            out.push_str(&format!("-{:>5} | {}\n", i + 1, a[i]));
            i += 1;
        }
    }
    out
}

#[test]
fn committed_header_matches_the_code() {
    let generated = generate();
    let path = header_path();
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed == generated {
        return;
    }
    if std::env::var_os("EDGEID_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
        eprintln!("wrote {}", path.display());
        return;
    }
    panic!(
        "{} differs from what cbindgen generates from ffi/src (- committed, + generated):\n{}\n\
         Regenerate it with: EDGEID_BLESS=1 cargo test -p edgeid-ffi --test header",
        path.display(),
        diff(&committed, &generated)
    );
}

/// The value of `#define NAME value` in the header.
fn macro_value(header: &str, name: &str) -> String {
    let prefix = format!("#define {name} ");
    header
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("edgeid.h does not define {name}"))
        .trim()
        .to_string()
}

/// `version = "..."` of a section of a Cargo.toml.
fn toml_version(path: &Path, section: &str) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let mut in_section = false;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            in_section = l == section;
        } else if in_section {
            if let Some(v) = l.strip_prefix("version") {
                let v = v.trim_start();
                if let Some(v) = v.strip_prefix('=') {
                    return v.trim().trim_matches('"').to_string();
                }
            }
        }
    }
    panic!("{} has no version in {section}", path.display());
}

#[test]
fn version_macros_match_cargo_toml() {
    let header = std::fs::read_to_string(header_path()).unwrap();
    let root = ffi_dir().join("..").join("Cargo.toml");
    let workspace = toml_version(&root, "[workspace.package]");
    let library = toml_version(&root, "[package]");
    assert_eq!(
        workspace, library,
        "the library ([package]) and the workspace ([workspace.package], used by the C API) \
         must have the same version in Cargo.toml"
    );
    assert_eq!(env!("CARGO_PKG_VERSION"), workspace);
    let mut parts = workspace.split('.');
    for name in [
        "EDGEID_VERSION_MAJOR",
        "EDGEID_VERSION_MINOR",
        "EDGEID_VERSION_PATCH",
    ] {
        let want = parts.next().expect("MAJOR.MINOR.PATCH");
        let want = want.split(['-', '+']).next().unwrap();
        assert_eq!(macro_value(&header, name), want, "{name}");
    }
    assert_eq!(
        macro_value(&header, "EDGEID_VERSION_STRING"),
        format!("\"{workspace}\"")
    );
}

#[test]
fn diff_shows_changed_lines() {
    let d = diff("a\nb\nc\n", "a\nx\nc\nd\n");
    assert_eq!(d, "-    2 | b\n+    2 | x\n+    4 | d\n");
}

#[test]
fn every_function_states_its_thread_safety() {
    let header = std::fs::read_to_string(header_path()).unwrap();
    let mut doc = String::new();
    let mut in_doc = false;
    let mut checked = 0;
    for line in header.lines() {
        if line.trim_start().starts_with("/**") {
            in_doc = true;
            doc.clear();
        }
        if in_doc {
            doc.push_str(line);
            doc.push('\n');
            if line.trim_end().ends_with("*/") {
                in_doc = false;
            }
            continue;
        }
        let is_function = line.starts_with(|c: char| c.is_ascii_alphabetic())
            && line.contains("edgeid_")
            && line.contains('(')
            && !line.starts_with("typedef");
        if is_function {
            assert!(
                doc.contains("Thread safety"),
                "the documentation of `{line}` does not state its thread safety"
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "found only {checked} functions");
}
