//! `edgeid bench vision`: image to template, stage by stage, on the test photos; the same stages of
//! the Python onnxruntime pipeline (`scripts/vision-reference.py bench`) measured in the same run;
//! memory with both models loaded and over 1,000 extractions; and what the detector's input size
//! costs in missed small faces.

use crate::out::{round3, CmdResult, Fail, Report, Text};
use crate::rss;
use crate::vision_cmds::{extractor, VisionOpts};
use clap::Args;
use edgeid::vision::{FrameRef, PixelFormat, Rgb, Timings};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct BenchVisionArgs {
    #[command(flatten)]
    vision: VisionOpts,
    /// Timed passes over the photos (after one warm-up pass).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    rounds: u64,
    /// Folder of JPEG/PNG photos (default: the checkout's testdata/face).
    #[arg(long, value_name = "DIR")]
    images: Option<PathBuf>,
    /// Extractions for the memory-growth check.
    #[arg(long, default_value_t = 1000)]
    soak: u64,
    /// Skip the Python pipeline.
    #[arg(long)]
    no_python: bool,
}

/// Median milliseconds per stage.
#[derive(Serialize, Default, Clone)]
pub struct Stages {
    decode: f64,
    detect_prep: f64,
    detect_model: f64,
    detect_post: f64,
    align: f64,
    embed: f64,
    quality: f64,
}

/// Faces found when the photos are shrunk onto a 640x480 canvas, at two detector sizes.
#[derive(Serialize)]
pub struct SmallFaces {
    /// Shrink factor of the photos.
    shrink: f64,
    /// Median eye distance of the faces at this factor (from the full-size detections).
    eye_distance_px: f64,
    /// Photos whose face was found, detector at the configured size.
    found: usize,
    /// Photos whose face was found, detector at 640.
    found_640: usize,
    photos: usize,
}

#[derive(Serialize)]
pub struct BenchVision {
    images: usize,
    rounds: u64,
    mean_pixels: f64,
    detector_size: u32,
    ort_threads: usize,
    /// Median per image of the whole pipeline (decode + detect + align + embed + quality).
    total_ms: f64,
    /// One median per stage.
    stages_ms: Stages,
    /// Median per image of the work done in Rust (decode, letterbox, boxes, align, quality).
    rust_side_ms: f64,
    /// The Python onnxruntime pipeline, same models and stages, same run (None with --no-python).
    python: Option<serde_json::Value>,
    /// Resident memory: before loading, with the runtime and both models loaded, after the first
    /// 100 and after all soak extractions.
    rss_mib: Rss,
    small_faces: Vec<SmallFaces>,
}

#[derive(Serialize, Default)]
pub struct Rss {
    before: f64,
    loaded: f64,
    after_100: f64,
    after_soak: f64,
    soak: u64,
}

impl Report for BenchVision {
    fn text(&self, t: &mut Text) {
        let s = &self.stages_ms;
        t.line(format_args!(
            "{} photos x {} rounds (mean {:.2} Mpx), detector {} px, {} ORT thread(s), medians per image:",
            self.images,
            self.rounds,
            self.mean_pixels / 1e6,
            self.detector_size,
            self.ort_threads
        ));
        t.line(format_args!(
            "  edgeid  total {:.2} ms: decode {:.2}, letterbox {:.2}, detect {:.2}, boxes {:.3}, align {:.3}, embed {:.2}, quality {:.3}; Rust-side {:.2} ms",
            self.total_ms, s.decode, s.detect_prep, s.detect_model, s.detect_post, s.align, s.embed, s.quality, self.rust_side_ms
        ));
        if let Some(p) = &self.python {
            let m = &p["median_ms"];
            let g = |k: &str| m[k].as_f64().unwrap_or(f64::NAN);
            t.line(format_args!(
                "  python  total {:.2} ms: decode {:.2}, letterbox {:.2}, detect {:.2}, boxes {:.3}, align {:.3}, embed {:.2}  (onnxruntime {}, peak RSS {} MiB)",
                g("total"), g("decode"), g("detect_prep"), g("detect_model"), g("detect_post"), g("align"), g("embed"),
                p["onnxruntime"].as_str().unwrap_or("?"), p["peak_rss_mib"]
            ));
        }
        let r = &self.rss_mib;
        t.line(format_args!(
            "memory: {:.1} MiB before loading, {:.1} MiB with runtime and models, {:.1} after 100 and {:.1} after {} extractions",
            r.before, r.loaded, r.after_100, r.after_soak, r.soak
        ));
        for f in &self.small_faces {
            t.line(format_args!(
                "  faces shrunk x{:.2} (eyes ~{:.0} px apart): found {}/{} at {} px, {}/{} at 640 px",
                f.shrink, f.eye_distance_px, f.found, f.photos, self.detector_size, f.found_640, f.photos
            ));
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn photos(dir: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>, Fail> {
    let rd = std::fs::read_dir(dir).map_err(|e| Fail::new(format!("{}: {e}", dir.display())))?;
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| matches!(x.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
        })
        .collect();
    v.sort();
    if v.is_empty() {
        return Err(Fail::new(format!(
            "{}: no JPEG or PNG photos",
            dir.display()
        )));
    }
    v.into_iter()
        .map(|p| {
            let b = std::fs::read(&p).map_err(|e| Fail::new(format!("{}: {e}", p.display())))?;
            Ok((p, b))
        })
        .collect()
}

pub fn run(a: &BenchVisionArgs) -> CmdResult<BenchVision> {
    let dir = a
        .images
        .clone()
        .unwrap_or_else(|| crate::vision_cmds::checkout().join("testdata").join("face"));
    let imgs = photos(&dir)?;
    let before = rss::status_mib("VmRSS").unwrap_or(0.0);
    let mut ex = extractor(&a.vision)?;
    let loaded = rss::status_mib("VmRSS").unwrap_or(0.0);
    let fail =
        |p: &Path, e: edgeid::vision::VisionError| Fail::new(format!("{}: {e}", p.display()));
    let mut pixels = 0.0;
    let mut eyes = Vec::new();
    for (p, b) in &imgs {
        let f = ex.extract_encoded(b).map_err(|e| fail(p, e))?;
        eyes.push(f.quality.eye_distance_px as f64);
        let mut r = Rgb::default();
        r.set_from_encoded(b).map_err(|e| fail(p, e))?;
        pixels += r.width as f64 * r.height as f64;
    }
    let mut ts: Vec<Timings> = Vec::new();
    for _ in 0..a.rounds {
        for (p, b) in &imgs {
            ts.push(ex.extract_encoded(b).map_err(|e| fail(p, e))?.timings);
        }
    }
    let col = |f: fn(&Timings) -> f64| round3(median(ts.iter().map(f).collect()));
    let stages = Stages {
        decode: col(|t| t.decode),
        detect_prep: col(|t| t.detect_prep),
        detect_model: col(|t| t.detect_model),
        detect_post: col(|t| t.detect_post),
        align: col(|t| t.align),
        embed: col(|t| t.embed),
        quality: col(|t| t.quality),
    };
    let total_ms = col(|t| t.total);
    let rust_side_ms = col(|t| t.decode + t.detect_prep + t.detect_post + t.align + t.quality);

    // Memory over many extractions.
    let mut rss = Rss {
        before: rss::round1(before),
        loaded: rss::round1(loaded),
        soak: a.soak,
        ..Rss::default()
    };
    for i in 0..a.soak as usize {
        let (p, b) = &imgs[i % imgs.len()];
        ex.extract_encoded(b).map_err(|e| fail(p, e))?;
        if i + 1 == 100 {
            rss.after_100 = rss::round1(rss::status_mib("VmRSS").unwrap_or(0.0));
        }
    }
    rss.after_soak = rss::round1(rss::status_mib("VmRSS").unwrap_or(0.0));

    let small_faces = small_faces(a, &imgs, &mut ex, &eyes)?;
    let python = if a.no_python {
        None
    } else {
        Some(python(a, &imgs, ex.detector_size())?)
    };
    Ok(BenchVision {
        images: imgs.len(),
        rounds: a.rounds,
        mean_pixels: (pixels / imgs.len() as f64).round(),
        detector_size: ex.detector_size(),
        ort_threads: a.vision.ort_threads,
        total_ms,
        stages_ms: stages,
        rust_side_ms,
        python,
        rss_mib: rss,
        small_faces,
    })
}

/// Each photo shrunk by a factor onto a 640x480 grey canvas (box filter), detected at the configured
/// size and at 640.
fn small_faces(
    a: &BenchVisionArgs,
    imgs: &[(PathBuf, Vec<u8>)],
    ex: &mut edgeid::vision::Extractor,
    eyes: &[f64],
) -> Result<Vec<SmallFaces>, Fail> {
    let mut big_opts = a.vision.clone();
    big_opts.detector_size = Some(640);
    let mut big = extractor(&big_opts)?;
    let mut out = Vec::new();
    for k in [2usize, 3, 4, 5, 6] {
        let (mut found, mut found_640) = (0, 0);
        for (p, b) in imgs {
            let mut r = Rgb::default();
            r.set_from_encoded(b)
                .map_err(|e| Fail::new(format!("{}: {e}", p.display())))?;
            let canvas = shrink_onto_canvas(&r, k, 640, 480);
            let frame = FrameRef {
                data: &canvas,
                width: 640,
                height: 480,
                stride: 640 * 3,
                format: PixelFormat::Rgb8,
            };
            let got = |e: &mut edgeid::vision::Extractor| {
                e.extract_frame(&frame)
                    .map(|t| t.detection.is_some())
                    .unwrap_or(false)
            };
            found += got(ex) as usize;
            found_640 += got(&mut big) as usize;
        }
        out.push(SmallFaces {
            shrink: 1.0 / k as f64,
            eye_distance_px: (median(eyes.to_vec()) / k as f64).round(),
            found,
            found_640,
            photos: imgs.len(),
        });
    }
    Ok(out)
}

/// `img` shrunk by `k` (mean of each k x k block), centred on a mid-grey `w x h` RGB canvas.
fn shrink_onto_canvas(img: &Rgb, k: usize, w: usize, h: usize) -> Vec<u8> {
    let mut c = vec![128u8; w * h * 3];
    let (sw, sh) = (
        (img.width as usize / k).min(w),
        (img.height as usize / k).min(h),
    );
    let (ox, oy) = ((w - sw) / 2, (h - sh) / 2);
    for y in 0..sh {
        for x in 0..sw {
            let mut acc = [0u32; 3];
            for dy in 0..k {
                for dx in 0..k {
                    let i = ((y * k + dy) * img.width as usize + x * k + dx) * 3;
                    for (ch, a) in acc.iter_mut().enumerate() {
                        *a += img.data[i + ch] as u32;
                    }
                }
            }
            let o = ((oy + y) * w + ox + x) * 3;
            for ch in 0..3 {
                c[o + ch] = (acc[ch] / (k * k) as u32) as u8;
            }
        }
    }
    c
}

/// The Python pipeline's medians, measured now (its venv is made by scripts/python-env.sh).
fn python(
    a: &BenchVisionArgs,
    imgs: &[(PathBuf, Vec<u8>)],
    size: u32,
) -> Result<serde_json::Value, Fail> {
    let root = crate::vision_cmds::checkout();
    let env = std::process::Command::new("bash")
        .arg(root.join("scripts").join("python-env.sh"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| Fail::new(format!("scripts/python-env.sh: {e} (or pass --no-python)")))?;
    if !env.status.success() {
        return Err(Fail::new(
            "scripts/python-env.sh failed (or pass --no-python)",
        ));
    }
    let py = String::from_utf8_lossy(&env.stdout).trim().to_string();
    let models = a
        .vision
        .models
        .clone()
        .unwrap_or_else(|| root.join("models"));
    let cache = edgeid::vision::runtime::cache_dir()
        .unwrap_or_default()
        .join("models");
    let out = std::process::Command::new(py)
        .arg(root.join("scripts").join("vision-reference.py"))
        .arg("bench")
        .arg(models)
        .arg(cache)
        .arg(a.rounds.to_string())
        .args(imgs.iter().map(|(p, _)| p))
        .env("EDGEID_DETECTOR_SIZE", size.to_string())
        .env("OMP_NUM_THREADS", "1")
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| Fail::new(format!("python: {e}")))?;
    if !out.status.success() {
        return Err(Fail::new(
            "the Python pipeline failed (or pass --no-python)",
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| Fail::new(format!("python output: {e}")))
}
