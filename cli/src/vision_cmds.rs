//! Face images on the command line: `face embed`, the `--image` probes of `face add/identify/verify`,
//! and the model set-up they share (feature `vision`).
//!
//! The models are read through their descriptors in `models/` (`--models DIR`, `EDGEID_MODELS`); the
//! runtime and the reference recogniser, which are not committed, are fetched by
//! `scripts/fetch-models.sh` the first time a checkout needs them.

use crate::out::{round3, CmdResult, Fail, Report, Text};
use clap::Args;
use edgeid::vision::{
    check_store_model, Detection, Extractor, ExtractorConfig, FaceTemplate, Quality, Timings,
};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Where the models are and how they run.
#[derive(Args, Debug, Clone, Default)]
pub struct VisionOpts {
    /// Folder of the model descriptors (default: `EDGEID_MODELS`, else the checkout's `models/`).
    #[arg(long, value_name = "DIR")]
    pub models: Option<PathBuf>,
    /// Detector input size in pixels (a multiple of 32; default: the descriptor's, 320).
    #[arg(long, value_name = "PX")]
    pub detector_size: Option<u32>,
    /// Path of libonnxruntime.so (default: `EDGEID_ORT_DYLIB`, else the setup step's cache).
    #[arg(long, value_name = "FILE")]
    pub ort: Option<PathBuf>,
    /// ONNX Runtime intra-op threads per model (0: one per core).
    #[arg(long, default_value_t = 1)]
    pub ort_threads: usize,
    /// Execution providers to try before the CPU, by name (xnnpack, openvino, qnn, rknpu, nnapi, acl).
    #[arg(long, value_delimiter = ',')]
    pub providers: Vec<String>,
}

/// The checkout this binary was built from (its `models/` and `scripts/`).
pub fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

impl VisionOpts {
    fn models_dir(&self) -> PathBuf {
        if let Some(d) = &self.models {
            return d.clone();
        }
        if let Some(d) = std::env::var_os("EDGEID_MODELS").filter(|d| !d.is_empty()) {
            return PathBuf::from(d);
        }
        checkout().join("models")
    }

    fn config(&self) -> ExtractorConfig {
        let mut c = ExtractorConfig::reference(&self.models_dir());
        c.detector_size = self.detector_size.unwrap_or(0);
        c.runtime.library = self.ort.clone();
        c.runtime.threads = self.ort_threads;
        c.runtime.providers = self.providers.clone();
        c
    }
}

/// Runs the checkout's `scripts/fetch-models.sh` (verified, cached downloads of the runtime and the
/// reference recogniser) when it exists. Progress goes to stderr.
pub fn fetch_models() -> Result<(), Fail> {
    let script = checkout().join("scripts").join("fetch-models.sh");
    if !script.exists() {
        return Ok(());
    }
    let out = std::process::Command::new("bash")
        .arg(&script)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| Fail::new(format!("run {}: {e}", script.display())))?;
    if !out.status.success() {
        return Err(Fail::new(format!(
            "{} failed: the runtime and the reference recogniser could not be fetched",
            script.display()
        )));
    }
    Ok(())
}

/// The pipeline, fetching the runtime and reference model first when they are missing.
pub fn extractor(o: &VisionOpts) -> Result<Extractor, Fail> {
    let cfg = o.config();
    match Extractor::new(&cfg) {
        Ok(e) => Ok(e),
        Err(
            edgeid::vision::VisionError::RuntimeMissing { .. }
            | edgeid::vision::VisionError::ModelMissing { .. },
        ) if o.ort.is_none() => {
            eprintln!("edgeid: fetching ONNX Runtime and the reference recogniser (scripts/fetch-models.sh) ...");
            fetch_models()?;
            Extractor::new(&cfg).map_err(|e| Fail::new(e.to_string()))
        }
        Err(e) => Err(Fail::new(e.to_string())),
    }
}

/// Reads an image file and extracts its face.
pub fn extract_file(ex: &mut Extractor, path: &Path) -> Result<FaceTemplate, Fail> {
    let bytes =
        std::fs::read(path).map_err(|e| Fail::new(format!("read {}: {e}", path.display())))?;
    ex.extract_encoded(&bytes)
        .map_err(|e| Fail::new(format!("{}: {e}", path.display())))
}

#[derive(Args)]
pub struct EmbedArgs {
    #[command(flatten)]
    pub vision: VisionOpts,
    /// JPEG or PNG image.
    pub image: PathBuf,
}

/// `face embed`: the embedding and everything measured on the way.
#[derive(Serialize)]
pub struct Embedded {
    image: PathBuf,
    model: String,
    detector_size: u32,
    embedding: Vec<f32>,
    #[serde(rename = "box")]
    bbox: Option<[f32; 4]>,
    landmarks: Option<[[f32; 2]; 5]>,
    score: Option<f32>,
    quality: Quality,
    timings_ms: Timings,
}

impl Report for Embedded {
    fn text(&self, t: &mut Text) {
        match (self.bbox, self.score) {
            (Some(b), Some(s)) => t.line(format_args!(
                "{}: face at ({:.0}, {:.0}) {:.0}x{:.0} px, score {s:.3}; {}-d embedding of {}",
                self.image.display(),
                b[0],
                b[1],
                b[2],
                b[3],
                self.embedding.len(),
                self.model
            )),
            _ => t.line(format_args!("{}: no face found", self.image.display())),
        }
        quality_lines(t, &self.quality);
        timing_line(t, &self.timings_ms);
    }
}

/// The quality gate's verdict in one or two lines.
pub fn quality_lines(t: &mut Text, q: &Quality) {
    let verdict = if q.passed {
        "passed".to_string()
    } else {
        format!("FAILED: {}", q.reasons.join(", "))
    };
    t.line(format_args!(
        "quality {verdict}; eyes {:.0} px apart, yaw {:.0}°, pitch {:.0}°, roll {:.0}°, sharpness {:.0}, brightness {:.0}{}",
        q.eye_distance_px,
        q.yaw_deg,
        q.pitch_deg,
        q.roll_deg,
        q.sharpness,
        q.brightness,
        if q.faces > 1 { format!(" ({} faces: the largest is used)", q.faces) } else { String::new() }
    ));
}

/// Per-stage times in one line.
pub fn timing_line(t: &mut Text, m: &Timings) {
    t.line(format_args!(
        "time {:.1} ms: decode {:.1}, letterbox {:.1}, detect {:.1}, boxes {:.2}, align {:.2}, embed {:.1}, quality {:.2}",
        m.total, m.decode, m.detect_prep, m.detect_model, m.detect_post, m.align, m.embed, m.quality
    ));
}

pub fn embed(a: &EmbedArgs) -> CmdResult<Embedded> {
    let mut ex = extractor(&a.vision)?;
    let f = extract_file(&mut ex, &a.image)?;
    Ok(Embedded {
        image: a.image.clone(),
        model: f.model,
        detector_size: ex.detector_size(),
        embedding: f.embedding,
        bbox: f.detection.map(|d| d.bbox),
        landmarks: f.detection.map(|d| d.landmarks),
        score: f.detection.map(|d| d.score),
        quality: f.quality,
        timings_ms: round_timings(f.timings),
    })
}

/// Times to the microsecond.
pub fn round_timings(t: Timings) -> Timings {
    Timings {
        decode: round3(t.decode),
        detect_prep: round3(t.detect_prep),
        detect_model: round3(t.detect_model),
        detect_post: round3(t.detect_post),
        align: round3(t.align),
        embed: round3(t.embed),
        quality: round3(t.quality),
        total: round3(t.total),
    }
}

/// What a face probe from an image reports beside the search result.
#[derive(Serialize, Clone)]
pub struct FaceInfo {
    image: PathBuf,
    #[serde(rename = "box")]
    bbox: [f32; 4],
    landmarks: [[f32; 2]; 5],
    score: f32,
    quality: Quality,
    timings_ms: Timings,
}

impl FaceInfo {
    /// The lines printed before a search's result.
    pub fn text(&self, t: &mut Text) {
        t.line(format_args!(
            "{}: face at ({:.0}, {:.0}) {:.0}x{:.0} px, score {:.3}",
            self.image.display(),
            self.bbox[0],
            self.bbox[1],
            self.bbox[2],
            self.bbox[3],
            self.score
        ));
        quality_lines(t, &self.quality);
        timing_line(t, &self.timings_ms);
    }
}

/// A probe from an image for a store: the store's model must be the recogniser's; an image with
/// no face is an error (nothing to search with). With `gate`, a face failing the quality gate is
/// refused with its reasons (enrolment).
pub fn probe(
    o: &VisionOpts,
    image: &Path,
    store_model: &str,
    store_dim: usize,
    gate: bool,
) -> Result<(Vec<f32>, FaceInfo), Fail> {
    let mut ex = extractor(o)?;
    check_store_model(ex.recogniser(), store_model, store_dim)
        .map_err(|e| Fail::new(e.to_string()))?;
    let f = extract_file(&mut ex, image)?;
    let Some(Detection {
        bbox,
        landmarks,
        score,
    }) = f.detection
    else {
        return Err(Fail::new(format!(
            "{}: no face found (no_face)",
            image.display()
        )));
    };
    if gate && !f.quality.passed {
        return Err(Fail::new(format!(
            "{}: the face fails the quality gate: {} (enrolment needs a clear, frontal, well-lit face)",
            image.display(),
            f.quality.reasons.join(", ")
        )));
    }
    Ok((
        f.embedding,
        FaceInfo {
            image: image.to_path_buf(),
            bbox,
            landmarks,
            score,
            quality: f.quality,
            timings_ms: round_timings(f.timings),
        },
    ))
}

/// The recogniser descriptor's threshold for a false-match rate (`--fmr`).
pub fn threshold_for_fmr(o: &VisionOpts, fmr: f64) -> Result<f64, Fail> {
    let d = edgeid::vision::ModelDescriptor::load(&o.config().recogniser)
        .map_err(|e| Fail::new(e.to_string()))?;
    d.threshold_for_fmr(fmr)
        .map(|t| t.score as f64)
        .map_err(|e| Fail::new(e.to_string()))
}

#[derive(Args)]
pub struct CalibrateArgs {
    #[command(flatten)]
    pub vision: VisionOpts,
    /// Folder of labelled photos: the file name's prefix before the first `_` is the identity.
    pub dir: PathBuf,
    /// Target false-match rates.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.1,0.05,0.02,0.01,0.001"
    )]
    pub fmr: Vec<f64>,
    /// Draw the two score distributions and the thresholds into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

/// `face calibrate`: score distributions and thresholds per FMR, with their support.
#[derive(Serialize)]
pub struct Calibrated {
    photos: usize,
    identities: usize,
    no_face: Vec<String>,
    genuine_pairs: usize,
    impostor_pairs: usize,
    genuine_min: f32,
    genuine_mean: f32,
    impostor_max: f32,
    impostor_mean: f32,
    thresholds: Vec<edgeid::vision::calibrate::CalibratedThreshold>,
    refused: Vec<Refused>,
    plot: Option<PathBuf>,
}

#[derive(Serialize)]
struct Refused {
    fmr: f64,
    reason: String,
}

impl Report for Calibrated {
    fn text(&self, t: &mut Text) {
        t.line(format_args!(
            "{} photos of {} identities; genuine pairs {} (min {:.3}, mean {:.3}), impostor pairs {} (max {:.3}, mean {:.3})",
            self.photos, self.identities, self.genuine_pairs, self.genuine_min, self.genuine_mean,
            self.impostor_pairs, self.impostor_max, self.impostor_mean
        ));
        if !self.no_face.is_empty() {
            t.line(format_args!(
                "no face found in: {}",
                self.no_face.join(", ")
            ));
        }
        for c in &self.thresholds {
            t.line(format_args!(
                "FMR {:<6} threshold {:.4}  FNMR {:.3}  ({} of {} impostor pairs at or above)",
                c.threshold.fmr,
                c.threshold.score,
                c.fnmr,
                c.false_matches,
                c.threshold.impostor_pairs
            ));
        }
        for r in &self.refused {
            t.line(format_args!("FMR {:<6} refused: {}", r.fmr, r.reason));
        }
        if let Some(p) = &self.plot {
            t.line(format_args!("plot written to {}", p.display()));
        }
    }
}

pub fn calibrate(a: &CalibrateArgs) -> CmdResult<Calibrated> {
    let mut ex = extractor(&a.vision)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&a.dir)
        .map_err(|e| Fail::new(format!("{}: {e}", a.dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| matches!(x.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
        })
        .collect();
    files.sort();
    let (mut labels, mut embs, mut no_face) = (Vec::new(), Vec::new(), Vec::new());
    for p in &files {
        let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        let f = extract_file(&mut ex, p)?;
        if f.embedding.is_empty() {
            no_face.push(stem.to_string());
            continue;
        }
        labels.push(stem.split('_').next().unwrap_or(stem).to_string());
        embs.push(f.embedding);
    }
    let c = edgeid::vision::calibrate::calibrate(&labels, &embs, &a.fmr);
    if c.genuine.is_empty() || c.impostor.is_empty() {
        return Err(Fail::new(
            "calibration needs at least two photos of one identity and two identities",
        ));
    }
    if let Some(p) = &a.plot {
        std::fs::write(p, edgeid::vision::calibrate::plot_svg(&c))
            .map_err(|e| Fail::new(format!("{}: {e}", p.display())))?;
    }
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    let mut ids = labels.clone();
    ids.sort();
    ids.dedup();
    Ok(Calibrated {
        photos: files.len(),
        identities: ids.len(),
        no_face,
        genuine_pairs: c.genuine.len(),
        impostor_pairs: c.impostor.len(),
        genuine_min: c.genuine.iter().copied().fold(f32::INFINITY, f32::min),
        genuine_mean: mean(&c.genuine),
        impostor_max: c.impostor.iter().copied().fold(f32::NEG_INFINITY, f32::max),
        impostor_mean: mean(&c.impostor),
        thresholds: c.thresholds,
        refused: c
            .refused
            .into_iter()
            .map(|(fmr, reason)| Refused { fmr, reason })
            .collect(),
        plot: a.plot.clone(),
    })
}
