//! Face images to templates, on the terminal (feature `vision`).
//!
//! ```text
//! JPEG/PNG or raw frame ─► frame: packed RGB ─► detect: YuNet (letterbox, decode, NMS)
//!     ─► align: 5-point least-squares similarity, one warp into the 112x112 tensor
//!     ─► recognise: ONNX model ─► L2-normalised embedding      quality: gate with reasons
//! ```
//! An [`Extractor`] holds one ONNX Runtime session per model, created once, and every buffer
//! (decoded image, detector input, crop tensor) allocated once and reused: extracting a face
//! allocates nothing per pixel. Models are described by [`ModelDescriptor`] files (`models/`), so a
//! vendor's recogniser is a descriptor and an `.onnx` file. A probe is compared with a store's
//! templates only when the store's model id is the recogniser's ([`check_store_model`]).

pub mod align;
pub mod calibrate;
pub mod descriptor;
pub mod detect;
pub mod frame;
pub mod quality;
pub mod recognise;
pub mod runtime;

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

pub use align::{Similarity, ARCFACE_112};
pub use descriptor::{check_store_model, ModelDescriptor, ModelKind, Threshold};
pub use detect::Detection;
pub use frame::{FrameRef, PixelFormat, Rgb};
pub use quality::{Quality, QualityLimits};
pub use runtime::RuntimeOptions;

/// What went wrong turning an image into a template.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VisionError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The bytes are not a readable JPEG or PNG image.
    #[error("cannot decode the image: {0}")]
    Decode(String),
    /// The image is smaller than 2x2 pixels.
    #[error("the image is {width}x{height} pixels: too small to hold a face")]
    TooSmall {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },
    /// The image header declares more pixels than accepted (refused before decoding).
    #[error("the image is {width}x{height} pixels: more than the {max_pixels} accepted")]
    TooLarge {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// Largest accepted pixel count.
        max_pixels: u64,
    },
    /// A raw frame's buffer, stride or size do not agree.
    #[error("bad frame: {0}")]
    BadFrame(String),
    /// The ONNX Runtime library is not where it was looked for.
    #[error("ONNX Runtime not found at {path}: run scripts/fetch-models.sh (it caches the pinned runtime), or set EDGEID_ORT_DYLIB to your libonnxruntime.so")]
    RuntimeMissing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The runtime failed.
    #[error("ONNX Runtime: {0}")]
    Runtime(String),
    /// A model file is not there.
    #[error("model file {path} is missing: {hint}")]
    ModelMissing {
        /// Where it was looked for.
        path: PathBuf,
        /// How to get it.
        hint: String,
    },
    /// A model file's checksum is not its descriptor's.
    #[error("model file {path} has sha256 {found}, its descriptor says {expected}: wrong or damaged model file")]
    ModelChecksum {
        /// The file.
        path: PathBuf,
        /// From the descriptor.
        expected: String,
        /// Of the file.
        found: String,
    },
    /// The model does not have the inputs or outputs its descriptor says, or is not an ONNX model.
    #[error("wrong model: {0}")]
    WrongModel(String),
    /// A descriptor file is unreadable or inconsistent.
    #[error("model descriptor {path}: {reason}")]
    Descriptor {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The probe's recogniser is not the store's.
    #[error("the probe was made by model {probe}, the store holds templates of {store}: they cannot be compared")]
    ModelMismatch {
        /// The recogniser's id and dimension.
        probe: String,
        /// The store's.
        store: String,
    },
    /// No threshold is calibrated for so low a false-match rate.
    #[error(
        "no threshold calibrated for FMR {fmr}: the lowest the calibration supports is {supported}"
    )]
    UnsupportedFmr {
        /// Asked for.
        fmr: f64,
        /// Lowest calibrated.
        supported: f64,
    },
    /// A configuration value is out of range.
    #[error("configuration: {0}")]
    Config(String),
}

impl VisionError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> VisionError {
        VisionError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn runtime(e: ort::Error) -> VisionError {
        VisionError::Runtime(e.to_string())
    }
}

/// How an [`Extractor`] is built.
#[derive(Debug, Clone)]
pub struct ExtractorConfig {
    /// The detector's descriptor file.
    pub detector: PathBuf,
    /// The recogniser's descriptor file.
    pub recogniser: PathBuf,
    /// Folder holding model files that are not beside their descriptor (default: the setup
    /// step's cache, [`runtime::cache_dir`]`/models`).
    pub model_cache: Option<PathBuf>,
    /// Detector input size (a multiple of 32; 0: the descriptor's).
    pub detector_size: u32,
    /// Runtime library, threads and execution providers.
    pub runtime: RuntimeOptions,
    /// The quality gate's limits.
    pub quality: QualityLimits,
}

impl ExtractorConfig {
    /// The reference models described in `dir` (`yunet.json`, `w600k_mbf.json`), defaults otherwise.
    pub fn reference(dir: &Path) -> ExtractorConfig {
        ExtractorConfig {
            detector: dir.join("yunet.json"),
            recogniser: dir.join("w600k_mbf.json"),
            model_cache: None,
            detector_size: 0,
            runtime: RuntimeOptions::default(),
            quality: QualityLimits::default(),
        }
    }
}

/// Milliseconds spent in each stage of one extraction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Timings {
    /// Decoding the file or converting the frame.
    pub decode: f64,
    /// Letterboxing into the detector's input.
    pub detect_prep: f64,
    /// The detector model.
    pub detect_model: f64,
    /// Decoding the detector's outputs into boxes, NMS.
    pub detect_post: f64,
    /// Similarity fit and warp into the recogniser's input.
    pub align: f64,
    /// The recogniser model and normalisation.
    pub embed: f64,
    /// Quality measures.
    pub quality: f64,
    /// Everything.
    pub total: f64,
}

/// One face turned into a template.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaceTemplate {
    /// L2-normalised embedding (empty when no face was found).
    pub embedding: Vec<f32>,
    /// The face used (the largest), `None` when none was found.
    pub detection: Option<Detection>,
    /// The gate's measures and verdict.
    pub quality: Quality,
    /// Per-stage times.
    pub timings: Timings,
    /// Recogniser model id (the store's model id must equal it).
    pub model: String,
}

/// The pipeline: both sessions and every buffer, created once and reused. Not `Sync`: use one per
/// thread (sessions share the process's runtime).
pub struct Extractor {
    detector: detect::Detector,
    recogniser: recognise::Recogniser,
    detector_desc: ModelDescriptor,
    recogniser_desc: ModelDescriptor,
    quality: QualityLimits,
    image: Rgb,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

impl Extractor {
    /// Loads the runtime (once per process), checks both model files against their descriptors and
    /// creates the sessions.
    pub fn new(cfg: &ExtractorConfig) -> Result<Extractor, VisionError> {
        let dd = ModelDescriptor::load(&cfg.detector)?;
        let rd = ModelDescriptor::load(&cfg.recogniser)?;
        if dd.kind != ModelKind::Detector || rd.kind != ModelKind::Recogniser {
            return Err(VisionError::Config(
                "the detector descriptor must be of kind detector, the recogniser's of kind recogniser".into(),
            ));
        }
        let cache = cfg
            .model_cache
            .clone()
            .or_else(|| runtime::cache_dir().map(|c| c.join("models")));
        let det_bytes = dd.read_model(cache.as_deref())?;
        let rec_bytes = rd.read_model(cache.as_deref())?;
        let env = runtime::environment(cfg.runtime.library.as_deref())?;
        let ds = runtime::session(env, &det_bytes, &cfg.runtime, &dd.id)?;
        let rs = runtime::session(env, &rec_bytes, &cfg.runtime, &rd.id)?;
        let size = if cfg.detector_size == 0 {
            dd.input.width
        } else {
            cfg.detector_size
        };
        let detector = detect::Detector::new(
            ds,
            dd.input.name.clone(),
            size,
            dd.score_threshold,
            dd.nms_iou,
            dd.input.colour == descriptor::ColourOrder::Bgr,
        )?;
        let recogniser = recognise::Recogniser::new(rs, &rd)?;
        Ok(Extractor {
            detector,
            recogniser,
            detector_desc: dd,
            recogniser_desc: rd,
            quality: cfg.quality,
            image: Rgb::default(),
        })
    }

    /// The recogniser's descriptor (model id, dimension, thresholds).
    pub fn recogniser(&self) -> &ModelDescriptor {
        &self.recogniser_desc
    }

    /// The detector's descriptor.
    pub fn detector(&self) -> &ModelDescriptor {
        &self.detector_desc
    }

    /// The detector's input size in use.
    pub fn detector_size(&self) -> u32 {
        self.detector.size()
    }

    /// A JPEG or PNG file's bytes to a template.
    pub fn extract_encoded(&mut self, bytes: &[u8]) -> Result<FaceTemplate, VisionError> {
        let t = Instant::now();
        self.image.set_from_encoded(bytes)?;
        let decode = ms(t);
        self.extract_decoded(decode)
    }

    /// A raw camera frame to a template.
    pub fn extract_frame(&mut self, frame: &FrameRef<'_>) -> Result<FaceTemplate, VisionError> {
        let t = Instant::now();
        self.image.set_from_frame(frame)?;
        let decode = ms(t);
        self.extract_decoded(decode)
    }

    /// Every face the detector finds in a file's bytes, largest first.
    pub fn detect_encoded(&mut self, bytes: &[u8]) -> Result<Vec<Detection>, VisionError> {
        self.image.set_from_encoded(bytes)?;
        let scale = self.detector.prepare(&self.image);
        self.detector.run(scale)
    }

    fn extract_decoded(&mut self, decode: f64) -> Result<FaceTemplate, VisionError> {
        let mut tm = Timings {
            decode,
            ..Timings::default()
        };
        let t = Instant::now();
        let scale = self.detector.prepare(&self.image);
        tm.detect_prep = ms(t);
        let t = Instant::now();
        let dets = self.detector.run(scale)?;
        tm.detect_post = self.detector.post_ms;
        tm.detect_model = ms(t) - tm.detect_post;
        let model = self.recogniser_desc.id.clone();
        let Some(det) = dets.first().copied() else {
            tm.total = tm.decode + tm.detect_prep + tm.detect_model + tm.detect_post;
            return Ok(FaceTemplate {
                embedding: Vec::new(),
                detection: None,
                quality: quality::no_face(),
                timings: tm,
                model,
            });
        };
        let t = Instant::now();
        let to_crop = Similarity::fit(&det.landmarks, &scaled_template(self.recogniser.side));
        let r = &mut self.recogniser;
        if !align::warp(
            &self.image,
            &to_crop,
            r.side,
            &r.norm,
            &mut r.input,
            &mut r.luma,
        ) {
            return Err(VisionError::WrongModel("degenerate landmarks".into()));
        }
        tm.align = ms(t);
        let t = Instant::now();
        let mut embedding = Vec::with_capacity(self.recogniser_desc.dim);
        r.run(&mut embedding)?;
        tm.embed = ms(t);
        let t = Instant::now();
        let q = quality::assess(&det, dets.len(), &to_crop, &r.luma, r.side, &self.quality);
        tm.quality = ms(t);
        tm.total = tm.decode
            + tm.detect_prep
            + tm.detect_model
            + tm.detect_post
            + tm.align
            + tm.embed
            + tm.quality;
        Ok(FaceTemplate {
            embedding,
            detection: Some(det),
            quality: q,
            timings: tm,
            model,
        })
    }
}

/// The ArcFace template scaled to a `side`-pixel crop (112: unchanged).
fn scaled_template(side: usize) -> [[f32; 2]; 5] {
    let k = side as f32 / 112.0;
    ARCFACE_112.map(|p| [p[0] * k, p[1] * k])
}

/// Cosine similarity of two L2-normalised embeddings.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
