//! Model descriptors: one small JSON file per model in `models/`, so that swapping in a vendor's own
//! detector or recogniser is a new descriptor and an `.onnx` file, not new code.
//!
//! A descriptor names the model file and its sha256 (checked when the model is loaded), the input
//! tensor (name, size, layout, colour order, normalisation), the output, the licence, and for a
//! recogniser the score thresholds calibrated for it (with the number of impostor pairs that
//! support each, see `edgeid face calibrate`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::VisionError;

/// What a model does in the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// A YuNet-style face detector (boxes, five landmarks, scores per stride).
    Detector,
    /// A recogniser: an aligned face crop in, an embedding out.
    Recogniser,
}

/// Colour order of the input tensor's channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ColourOrder {
    /// Red, green, blue.
    Rgb,
    /// Blue, green, red (OpenCV's order).
    Bgr,
}

/// The model's input tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    /// Name of the input in the ONNX graph.
    pub name: String,
    /// Width in pixels the model is run at (for a detector: the default, see `sizes`).
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Memory layout; only `NCHW` is supported.
    pub layout: String,
    /// Channel order.
    pub colour: ColourOrder,
    /// Subtracted from each 0..255 sample before `scale` is applied.
    pub mean: f32,
    /// Each sample becomes `(x - mean) * scale`.
    pub scale: f32,
}

/// A calibrated decision threshold for a recogniser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// Target false-match rate (impostor pairs scoring at or above `score`).
    pub fmr: f64,
    /// Cosine similarity at or above which two faces are the same person.
    pub score: f32,
    /// Impostor pairs the threshold was measured on: an FMR below `1 / impostor_pairs` is not
    /// supported by the data.
    pub impostor_pairs: u64,
    /// Genuine pairs the threshold was measured on.
    pub genuine_pairs: u64,
}

/// One model descriptor (`models/<id>.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelDescriptor {
    /// Model id; for a recogniser it is the model id the store records with every template.
    pub id: String,
    /// Detector or recogniser.
    pub kind: ModelKind,
    /// File name of the `.onnx` model, relative to the descriptor's folder or the model cache.
    pub file: String,
    /// Lower-case hex sha256 of the `.onnx` file.
    pub sha256: String,
    /// What the licence allows, in one line.
    pub licence: String,
    /// Where the file comes from when it is not committed (a setup step), if it is fetched.
    #[serde(default)]
    pub fetch: Option<String>,
    /// Input tensor.
    pub input: InputSpec,
    /// Name of the output (recogniser) or empty (a detector's outputs are found by name pattern).
    #[serde(default)]
    pub output: String,
    /// Length of the embedding (recogniser) or 0.
    #[serde(default)]
    pub dim: usize,
    /// Detector: input sizes (multiples of 32) the graph accepts besides its declared one.
    #[serde(default)]
    pub sizes: Vec<u32>,
    /// Detector: minimum face score; recogniser: unused.
    #[serde(default)]
    pub score_threshold: f32,
    /// Detector: IoU above which overlapping boxes are suppressed.
    #[serde(default)]
    pub nms_iou: f32,
    /// Recogniser: the default verification / identification threshold (cosine).
    #[serde(default)]
    pub default_threshold: f32,
    /// Recogniser: thresholds for named false-match rates.
    #[serde(default)]
    pub thresholds: Vec<Threshold>,
    /// Where the descriptor was read from (not serialised).
    #[serde(skip)]
    pub dir: PathBuf,
}

impl ModelDescriptor {
    /// Reads and checks a descriptor file.
    pub fn load(path: &Path) -> Result<ModelDescriptor, VisionError> {
        let text = std::fs::read(path).map_err(|e| VisionError::io(path, e))?;
        let mut d: ModelDescriptor =
            serde_json::from_slice(&text).map_err(|e| VisionError::Descriptor {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        d.dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        d.check().map_err(|reason| VisionError::Descriptor {
            path: path.to_path_buf(),
            reason,
        })?;
        Ok(d)
    }

    fn check(&self) -> Result<(), String> {
        if self.input.layout != "NCHW" {
            return Err(format!(
                "layout {:?} is not supported (NCHW is)",
                self.input.layout
            ));
        }
        if self.sha256.len() != 64 || !self.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("sha256 must be 64 hex digits".into());
        }
        if self.input.width == 0 || self.input.height == 0 || self.input.width > 4096 {
            return Err("input size out of range".into());
        }
        match self.kind {
            ModelKind::Recogniser if self.dim == 0 || self.dim > 4096 => {
                Err("a recogniser needs a dim of 1..=4096".into())
            }
            ModelKind::Recogniser if self.output.is_empty() => {
                Err("a recogniser names its output".into())
            }
            ModelKind::Detector if self.sizes.iter().any(|s| *s == 0 || !s.is_multiple_of(32)) => {
                Err("detector sizes must be multiples of 32".into())
            }
            _ => Ok(()),
        }
    }

    /// The model file: beside the descriptor if it is there, else in `cache` (where the setup
    /// step puts models that are not committed).
    pub fn model_path(&self, cache: Option<&Path>) -> PathBuf {
        let local = self.dir.join(&self.file);
        if local.exists() {
            return local;
        }
        match cache {
            Some(c) if c.join(&self.file).exists() => c.join(&self.file),
            _ => local,
        }
    }

    /// Reads the model file and checks its sha256 against the descriptor.
    pub fn read_model(&self, cache: Option<&Path>) -> Result<Vec<u8>, VisionError> {
        let path = self.model_path(cache);
        let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => VisionError::ModelMissing {
                path: path.clone(),
                hint: self
                    .fetch
                    .clone()
                    .unwrap_or_else(|| "put the model file beside its descriptor".into()),
            },
            _ => VisionError::io(&path, e),
        })?;
        let found = hex(&Sha256::digest(&bytes));
        if !found.eq_ignore_ascii_case(&self.sha256) {
            return Err(VisionError::ModelChecksum {
                path,
                expected: self.sha256.clone(),
                found,
            });
        }
        Ok(bytes)
    }

    /// The threshold for a false-match rate: the calibrated one with the largest FMR not above
    /// `fmr`. Refused when `fmr` is below what the calibration's impostor pairs support.
    pub fn threshold_for_fmr(&self, fmr: f64) -> Result<&Threshold, VisionError> {
        self.thresholds
            .iter()
            .filter(|t| {
                t.fmr <= fmr && t.impostor_pairs > 0 && fmr * t.impostor_pairs as f64 >= 1.0
            })
            .max_by(|a, b| a.fmr.total_cmp(&b.fmr))
            .ok_or_else(|| VisionError::UnsupportedFmr {
                fmr,
                supported: self
                    .thresholds
                    .iter()
                    .map(|t| t.fmr)
                    .fold(f64::INFINITY, f64::min),
            })
    }
}

/// Lower-case hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks that probes made with `recogniser` may be compared with a store's templates: the store's
/// model id and dimension must be the recogniser's.
pub fn check_store_model(
    recogniser: &ModelDescriptor,
    store_model: &str,
    store_dim: usize,
) -> Result<(), VisionError> {
    if recogniser.id != store_model || recogniser.dim != store_dim {
        return Err(VisionError::ModelMismatch {
            probe: format!("{} ({}-d)", recogniser.id, recogniser.dim),
            store: format!("{store_model} ({store_dim}-d)"),
        });
    }
    Ok(())
}
