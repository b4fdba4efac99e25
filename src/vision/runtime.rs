//! ONNX Runtime, loaded at run time from a shared library whose path the device chooses.
//!
//! Nothing is downloaded or linked at build time (`ort` with `load-dynamic`). The library is found,
//! in order: the path in [`RuntimeOptions::library`], `EDGEID_ORT_DYLIB`, `ORT_DYLIB_PATH`, then the
//! copy `scripts/fetch-models.sh` caches (`$EDGEID_CACHE`, else `~/.cache/edgeid`). A process
//! loads one runtime and creates one environment, once; sessions are created once per model and
//! reused.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;

use super::VisionError;

/// The ONNX Runtime version the setup step fetches (and the tests run against).
pub const PINNED_VERSION: &str = "1.32.0";

/// How sessions are created.
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// Path of `libonnxruntime.so` (see the module doc for the search order when `None`).
    pub library: Option<PathBuf>,
    /// Intra-op threads per session (0: the runtime's default, one per core).
    pub threads: usize,
    /// Execution providers by name, tried in order before the CPU (`xnnpack`, `openvino`, `qnn`,
    /// `rknpu`, `nnapi`, `acl`, `cpu`); a provider the runtime lacks is an error.
    pub providers: Vec<String>,
}

/// The cache folder of the setup step: `$EDGEID_CACHE`, else `$XDG_CACHE_HOME/edgeid`, else
/// `~/.cache/edgeid`.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("EDGEID_CACHE").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("edgeid"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("edgeid"))
}

/// Where the runtime library is looked for when no path is given.
pub fn default_library() -> PathBuf {
    for var in ["EDGEID_ORT_DYLIB", "ORT_DYLIB_PATH"] {
        if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
            return PathBuf::from(p);
        }
    }
    cache_dir()
        .unwrap_or_default()
        .join(format!("onnxruntime-{PINNED_VERSION}"))
        .join(format!("libonnxruntime.so.{PINNED_VERSION}"))
}

struct Loaded {
    path: PathBuf,
    env: Result<Environment, String>,
}

static LOADED: OnceLock<Loaded> = OnceLock::new();
static LOADING: Mutex<()> = Mutex::new(());

/// Loads the runtime library (once per process) and returns its environment.
pub fn environment(library: Option<&Path>) -> Result<&'static Environment, VisionError> {
    let want = library
        .map(Path::to_path_buf)
        .unwrap_or_else(default_library);
    let loaded = match LOADED.get() {
        Some(l) => l,
        None => {
            let _guard = LOADING.lock().unwrap_or_else(|e| e.into_inner());
            match LOADED.get() {
                Some(l) => l,
                None => {
                    if !want.is_file() {
                        return Err(VisionError::RuntimeMissing { path: want });
                    }
                    let env = ort::init_from(&want)
                        .map_err(|e| e.to_string())
                        .and_then(|b| b.with_name("edgeid").build().map_err(|e| e.to_string()));
                    LOADED.get_or_init(|| Loaded {
                        path: want.clone(),
                        env,
                    })
                }
            }
        }
    };
    if loaded.path != want {
        return Err(VisionError::Config(format!(
            "ONNX Runtime is already loaded from {} in this process (asked for {})",
            loaded.path.display(),
            want.display()
        )));
    }
    loaded.env.as_ref().map_err(|e| {
        VisionError::Runtime(format!(
            "could not load ONNX Runtime from {}: {e}",
            loaded.path.display()
        ))
    })
}

/// Creates a session for a model's bytes: graph optimised once at load, threads and providers as
/// configured.
pub fn session(
    env: &Environment,
    model: &[u8],
    opts: &RuntimeOptions,
    what: &str,
) -> Result<Session, VisionError> {
    use ort::ep;
    let mut providers = Vec::new();
    for name in &opts.providers {
        providers.push(match name.to_ascii_lowercase().as_str() {
            "cpu" => ep::CPU::default().build(),
            "xnnpack" => ep::XNNPACK::default().build().error_on_failure(),
            "openvino" => ep::OpenVINO::default().build().error_on_failure(),
            "qnn" => ep::QNN::default().build().error_on_failure(),
            "rknpu" => ep::RKNPU::default().build().error_on_failure(),
            "nnapi" => ep::NNAPI::default().build().error_on_failure(),
            "acl" => ep::ACL::default().build().error_on_failure(),
            other => {
                return Err(VisionError::Config(format!(
                    "unknown execution provider {other:?}"
                )))
            }
        });
    }
    let wrong = |e: ort::Error| VisionError::WrongModel(format!("{what}: {e}"));
    let mut b = Session::builder(env)
        .map_err(VisionError::runtime)?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| VisionError::runtime(e.into()))?
        .with_inter_threads(1)
        .map_err(|e| VisionError::runtime(e.into()))?;
    if opts.threads > 0 {
        b = b
            .with_intra_threads(opts.threads)
            .map_err(|e| VisionError::runtime(e.into()))?;
    }
    if !providers.is_empty() {
        b = b
            .with_execution_providers(providers)
            .map_err(|e| VisionError::Config(format!("execution provider: {e}")))?;
    }
    b.commit_from_memory(model).map_err(wrong)
}
