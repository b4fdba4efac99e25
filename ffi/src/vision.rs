//! Face images to templates from C: a camera frame (or a JPEG/PNG file's bytes) in; embedding,
//! box, landmarks and quality out; and identification / enrolment straight from a frame.
//!
//! An `edgeid_vision *` owns the ONNX Runtime sessions of the detector and the recogniser and every
//! buffer of the pipeline (`Box<edgeid_vision>`, released by `edgeid_vision_free`). Calls on one
//! handle are serialised by its lock; use one handle per thread for parallel extraction.

use crate::args::{self, write_out};
use crate::face::{edgeid_hit, ids};
use crate::handle::{self, edgeid_store};
use crate::status::edgeid_status::{self, *};
use crate::status::{boundary, guard, Failure, FfiResult};
use engine::vision::{
    check_store_model, Extractor, ExtractorConfig, FaceTemplate, FrameRef, PixelFormat, VisionError,
};
use engine::{Change, FaceIdentify};
use std::ffi::c_char;
use std::path::PathBuf;
use std::sync::Mutex;

/// Pixel format of a frame: 3 bytes per pixel, red, green, blue.
pub const EDGEID_PIXEL_RGB8: u32 = 0;
/// 3 bytes per pixel, blue, green, red.
pub const EDGEID_PIXEL_BGR8: u32 = 1;
/// 1 byte per pixel, luma.
pub const EDGEID_PIXEL_GRAY8: u32 = 2;
/// NV12: the Y plane (`stride` bytes per row, `height` rows) followed by the interleaved UV plane
/// (`height / 2` rows, same stride); even width and height.
pub const EDGEID_PIXEL_NV12: u32 = 3;

/// Quality reasons (bits of `edgeid_face.quality_reasons`): no face in the frame.
pub const EDGEID_QUALITY_NO_FACE: u32 = 1;
/// The face is too small (step closer).
pub const EDGEID_QUALITY_TOO_SMALL: u32 = 2;
/// The detector is unsure it is a face.
pub const EDGEID_QUALITY_UNCLEAR: u32 = 4;
/// The landmarks do not form a plausible face.
pub const EDGEID_QUALITY_IMPLAUSIBLE: u32 = 8;
/// The head is turned away (look at the camera).
pub const EDGEID_QUALITY_TURNED_AWAY: u32 = 16;
/// The head is tilted sideways.
pub const EDGEID_QUALITY_TILTED: u32 = 32;
/// The face is blurred (hold still).
pub const EDGEID_QUALITY_BLURRED: u32 = 64;
/// The face is too dark.
pub const EDGEID_QUALITY_TOO_DARK: u32 = 128;
/// The face is overexposed.
pub const EDGEID_QUALITY_TOO_BRIGHT: u32 = 256;

/// The vision pipeline: detector and recogniser sessions, buffers. Opaque: created by
/// `edgeid_vision_open`, released by `edgeid_vision_free`.
#[allow(non_camel_case_types)]
pub struct edgeid_vision {
    inner: Mutex<Extractor>,
}

/// What was found in a frame. Written by `edgeid_face_extract` and the `_frame` functions.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
#[allow(non_camel_case_types)]
pub struct edgeid_face {
    /// 1 if a face was found (the largest is used), else 0 (then only `quality_reasons` is set).
    pub found: u32,
    /// Faces the detector found.
    pub faces: u32,
    /// Box in source pixels: x, y, width, height.
    pub box_xywh: [f32; 4],
    /// Five landmarks (x, y): eyes, nose tip, mouth corners, in image order left to right.
    pub landmarks: [f32; 10],
    /// Detector score, 0..1.
    pub score: f32,
    /// 1 if the face passes the quality gate (enrolment requires it).
    pub quality_passed: u32,
    /// Why not: `EDGEID_QUALITY_*` bits.
    pub quality_reasons: u32,
    /// Distance between the eyes in pixels.
    pub eye_distance_px: f32,
    /// Head turn estimate, degrees.
    pub yaw_deg: f32,
    /// Head tilt up/down estimate, degrees.
    pub pitch_deg: f32,
    /// In-plane rotation, degrees.
    pub roll_deg: f32,
    /// Variance of the Laplacian of the aligned crop.
    pub sharpness: f32,
    /// Mean luma of the crop's centre, 0..255.
    pub brightness: f32,
    /// Milliseconds the extraction took (decode/convert, detect, align, embed, quality).
    pub total_ms: f32,
}

fn reasons_bits(r: &[&str]) -> u32 {
    r.iter()
        .map(|s| match *s {
            "no_face" => EDGEID_QUALITY_NO_FACE,
            "too_small" => EDGEID_QUALITY_TOO_SMALL,
            "unclear" => EDGEID_QUALITY_UNCLEAR,
            "implausible" => EDGEID_QUALITY_IMPLAUSIBLE,
            "turned_away" => EDGEID_QUALITY_TURNED_AWAY,
            "tilted" => EDGEID_QUALITY_TILTED,
            "blurred" => EDGEID_QUALITY_BLURRED,
            "too_dark" => EDGEID_QUALITY_TOO_DARK,
            "too_bright" => EDGEID_QUALITY_TOO_BRIGHT,
            _ => 0,
        })
        .fold(0, |a, b| a | b)
}

impl From<&FaceTemplate> for edgeid_face {
    fn from(t: &FaceTemplate) -> edgeid_face {
        let q = &t.quality;
        let mut f = edgeid_face {
            found: t.detection.is_some() as u32,
            faces: q.faces as u32,
            quality_passed: q.passed as u32,
            quality_reasons: reasons_bits(&q.reasons),
            eye_distance_px: q.eye_distance_px,
            yaw_deg: q.yaw_deg,
            pitch_deg: q.pitch_deg,
            roll_deg: q.roll_deg,
            sharpness: q.sharpness,
            brightness: q.brightness,
            total_ms: t.timings.total as f32,
            ..edgeid_face::default()
        };
        if let Some(d) = &t.detection {
            f.box_xywh = d.bbox;
            for (i, l) in d.landmarks.iter().enumerate() {
                f.landmarks[2 * i] = l[0];
                f.landmarks[2 * i + 1] = l[1];
            }
            f.score = d.score;
        }
        f
    }
}

fn vision_failure(e: VisionError) -> Failure {
    let status = match &e {
        VisionError::Io { .. } => EDGEID_ERR_IO,
        VisionError::Decode(_)
        | VisionError::TooSmall { .. }
        | VisionError::TooLarge { .. }
        | VisionError::BadFrame(_)
        | VisionError::Config(_)
        | VisionError::UnsupportedFmr { .. } => EDGEID_ERR_INVALID,
        VisionError::ModelMismatch { .. } => EDGEID_ERR_MODEL,
        VisionError::ModelMissing { .. } => EDGEID_ERR_NOT_FOUND,
        VisionError::RuntimeMissing { .. } => EDGEID_ERR_UNSUPPORTED,
        VisionError::ModelChecksum { .. } | VisionError::WrongModel(_) => EDGEID_ERR_CORRUPT,
        _ => EDGEID_ERR_OTHER,
    };
    Failure::new(status, e.to_string())
}

/// Reads an optional path argument (NULL or length 0: none).
///
/// # Safety
/// A non-NULL `p` must point to `len` readable bytes.
unsafe fn opt_path(what: &str, p: *const c_char, len: usize) -> FfiResult<Option<PathBuf>> {
    if p.is_null() || len == 0 {
        return Ok(None);
    }
    // SAFETY: forwarded contract.
    Ok(Some(PathBuf::from(unsafe { args::str_arg(what, p, len) }?)))
}

/// Loads the face pipeline: the model descriptors of `models_dir` (`yunet.json`, `w600k_mbf.json`;
/// each model file's sha256 is checked), ONNX Runtime from `ort_library` (NULL: `EDGEID_ORT_DYLIB`,
/// else the setup step's cache), the detector at `detector_size` px (0: the descriptor's, 320),
/// `threads` ONNX Runtime threads per model (0: one per core). One process loads one runtime
/// library. Errors: `EDGEID_ERR_UNSUPPORTED` (runtime missing), `EDGEID_ERR_NOT_FOUND` (model file
/// missing), `EDGEID_ERR_CORRUPT` (wrong model file), `EDGEID_ERR_INVALID`.
/// Thread safety: any thread, also while other pipelines run.
///
/// # Safety
/// `models_dir` must point to `models_dir_len` bytes, `ort_library` (if not NULL) to
/// `ort_library_len` bytes, `out` to a writable pointer.
#[no_mangle]
pub unsafe extern "C" fn edgeid_vision_open(
    models_dir: *const c_char,
    models_dir_len: usize,
    ort_library: *const c_char,
    ort_library_len: usize,
    detector_size: u32,
    threads: u32,
    out: *mut *mut edgeid_vision,
) -> edgeid_status {
    guard("edgeid_vision_open", || {
        // SAFETY: header contract of `out`.
        unsafe { write_out("out", out, std::ptr::null_mut()) }?;
        // SAFETY: header contract of the path arguments.
        let (dir, lib) = unsafe {
            (
                args::str_arg("models_dir", models_dir, models_dir_len)?,
                opt_path("ort_library", ort_library, ort_library_len)?,
            )
        };
        let mut cfg = ExtractorConfig::reference(std::path::Path::new(dir));
        cfg.detector_size = detector_size;
        cfg.runtime.library = lib;
        cfg.runtime.threads = threads as usize;
        let ex = Extractor::new(&cfg).map_err(vision_failure)?;
        let b = Box::into_raw(Box::new(edgeid_vision {
            inner: Mutex::new(ex),
        }));
        // SAFETY: as above.
        unsafe { write_out("out", out, b) }
    })
}

/// Releases a pipeline (NULL: no-op).
/// Thread safety: no other call may be using `v`.
///
/// # Safety
/// `v` must be NULL or a pointer from `edgeid_vision_open` not yet freed.
#[no_mangle]
pub unsafe extern "C" fn edgeid_vision_free(v: *mut edgeid_vision) {
    let _ = boundary("edgeid_vision_free", || {
        if !v.is_null() {
            // SAFETY: header contract: `v` came from Box::into_raw in edgeid_vision_open.
            drop(unsafe { Box::from_raw(v) });
        }
        Ok(())
    });
}

/// Runs `f` on the pipeline of `v`.
///
/// # Safety
/// `v` must be NULL or a live pointer from `edgeid_vision_open`.
unsafe fn with_vision<R>(
    v: *mut edgeid_vision,
    f: impl FnOnce(&mut Extractor) -> FfiResult<R>,
) -> FfiResult<R> {
    // SAFETY: forwarded contract.
    let v = unsafe { args::object("vision", v) }?;
    let mut ex = v.inner.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut ex)
}

/// Reads a frame's arguments.
///
/// # Safety
/// `data` must point to `data_len` readable bytes.
unsafe fn frame<'a>(
    data: *const u8,
    data_len: usize,
    width: u32,
    height: u32,
    stride: usize,
    format: u32,
) -> FfiResult<FrameRef<'a>> {
    // SAFETY: forwarded contract.
    let data = unsafe { args::slice("data", data, data_len) }?;
    let format = match format {
        EDGEID_PIXEL_RGB8 => PixelFormat::Rgb8,
        EDGEID_PIXEL_BGR8 => PixelFormat::Bgr8,
        EDGEID_PIXEL_GRAY8 => PixelFormat::Gray8,
        EDGEID_PIXEL_NV12 => PixelFormat::Nv12,
        other => {
            return Err(Failure::new(
                EDGEID_ERR_INVALID,
                format!("unknown pixel format {other}"),
            ))
        }
    };
    Ok(FrameRef {
        data,
        width,
        height,
        stride,
        format,
    })
}

/// Writes the embedding (when a face was found) and the face description.
///
/// # Safety
/// `embedding` must point to `dim` writable floats, `face_out` to a writable `edgeid_face`.
unsafe fn put_result(
    t: &FaceTemplate,
    embedding: *mut f32,
    dim: usize,
    face_out: *mut edgeid_face,
) -> FfiResult {
    if !t.embedding.is_empty() {
        // SAFETY: forwarded contract.
        let out = unsafe { args::out_array("embedding", embedding, dim) }?;
        if dim != t.embedding.len() {
            return Err(Failure::new(
                EDGEID_ERR_DIMENSION,
                format!(
                    "embedding has room for {dim} floats, the recogniser makes {}",
                    t.embedding.len()
                ),
            ));
        }
        for (o, v) in out.iter_mut().zip(&t.embedding) {
            o.write(*v);
        }
    }
    // SAFETY: forwarded contract.
    unsafe { write_out("face_out", face_out, t.into()) }
}

/// A camera frame to a template: detects the faces, aligns the largest, embeds it. `format`:
/// `EDGEID_PIXEL_*`; `stride`: bytes from one row to the next. When a face is found,
/// `embedding` receives `dim` L2-normalised floats (`dim` must be the recogniser's, 512 for the
/// reference model); `*face_out` always receives the box, landmarks and quality (`found` = 0 and
/// `EDGEID_QUALITY_NO_FACE` when there is none, which is not an error).
/// Thread safety: any thread; calls on one `edgeid_vision` are serialised (one pipeline per
/// thread extracts in parallel).
///
/// # Safety
/// `data` must point to `data_len` readable bytes, `embedding` to `dim` writable floats, `face_out`
/// to a writable `edgeid_face`; `v` must come from `edgeid_vision_open`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_face_extract(
    v: *mut edgeid_vision,
    data: *const u8,
    data_len: usize,
    width: u32,
    height: u32,
    stride: usize,
    format: u32,
    embedding: *mut f32,
    dim: usize,
    face_out: *mut edgeid_face,
) -> edgeid_status {
    guard("edgeid_face_extract", || {
        // SAFETY: header contract of every pointer.
        unsafe {
            let f = frame(data, data_len, width, height, stride, format)?;
            with_vision(v, |ex| {
                let t = ex.extract_frame(&f).map_err(vision_failure)?;
                put_result(&t, embedding, dim, face_out)
            })
        }
    })
}

/// As `edgeid_face_extract`, from the bytes of a JPEG or PNG file (an image whose header declares
/// more than 64 Mpx is refused before decoding).
/// Thread safety: as `edgeid_face_extract`.
///
/// # Safety
/// As `edgeid_face_extract`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_face_extract_encoded(
    v: *mut edgeid_vision,
    data: *const u8,
    data_len: usize,
    embedding: *mut f32,
    dim: usize,
    face_out: *mut edgeid_face,
) -> edgeid_status {
    guard("edgeid_face_extract_encoded", || {
        // SAFETY: header contract of every pointer.
        unsafe {
            let bytes = args::slice("data", data, data_len)?;
            with_vision(v, |ex| {
                let t = ex.extract_encoded(bytes).map_err(vision_failure)?;
                put_result(&t, embedding, dim, face_out)
            })
        }
    })
}

/// Extracts a frame's face for a store: the store's model must be the recogniser's.
///
/// # Safety
/// As `frame`.
unsafe fn probe_for(
    store: &engine::Store,
    ex: &mut Extractor,
    f: &FrameRef<'_>,
    face_out: *mut edgeid_face,
) -> FfiResult<Option<FaceTemplate>> {
    let snap = store.snapshot();
    check_store_model(ex.recogniser(), snap.model(), snap.dim()).map_err(vision_failure)?;
    let t = ex.extract_frame(f).map_err(vision_failure)?;
    // SAFETY: forwarded contract of `face_out`.
    unsafe { write_out("face_out", face_out, (&t).into()) }?;
    Ok(if t.embedding.is_empty() {
        None
    } else {
        Some(t)
    })
}

/// 1:N identification straight from a camera frame: as `edgeid_face_extract`, then as
/// `edgeid_face_identify` (`k` hits at most, `threshold`, `location_id` NULL for all). No face:
/// `*n_hits` = 0, `face_out->found` = 0, `EDGEID_OK`. The store's model id must be the
/// recogniser's (`EDGEID_ERR_MODEL`).
/// Thread safety: as `edgeid_face_extract` for `v`, as `edgeid_face_identify` for the store.
///
/// # Safety
/// As `edgeid_face_extract` and `edgeid_face_identify`.
#[no_mangle]
pub unsafe extern "C" fn edgeid_face_identify_frame(
    store: *mut edgeid_store,
    v: *mut edgeid_vision,
    data: *const u8,
    data_len: usize,
    width: u32,
    height: u32,
    stride: usize,
    format: u32,
    location_id: *const c_char,
    location_id_len: usize,
    threshold: f64,
    hits: *mut edgeid_hit,
    k: usize,
    n_hits: *mut usize,
    face_out: *mut edgeid_face,
) -> edgeid_status {
    handle::with_store("edgeid_face_identify_frame", store, |s| {
        // SAFETY: header contract of every pointer.
        unsafe {
            write_out("n_hits", n_hits, 0)?;
            let f = frame(data, data_len, width, height, stride, format)?;
            let location = args::location_filter(location_id, location_id_len)?;
            let out = args::out_array("hits", hits, k)?;
            if k == 0 || !threshold.is_finite() {
                return Err(Failure::new(
                    EDGEID_ERR_INVALID,
                    "k must be >= 1 and threshold finite",
                ));
            }
            let Some(t) = with_vision(v, |ex| probe_for(s, ex, &f, face_out))? else {
                return Ok(());
            };
            let mut req = FaceIdentify::new(&t.embedding).k(k).threshold(threshold);
            if let Some(l) = location {
                req = req.location(l);
            }
            let found = s.identify_face(&req)?;
            for (o, h) in out.iter_mut().zip(&found) {
                o.write(h.into());
            }
            write_out("n_hits", n_hits, found.len().min(k))
        }
    })
}

/// Enrols (or replaces) a face template straight from a camera frame: refused with
/// `EDGEID_ERR_REFUSED` when no face is found or the face fails the quality gate
/// (`face_out->quality_reasons` says why: tell the person). Durable when it returns `EDGEID_OK`.
/// Thread safety: as `edgeid_face_extract` for `v`, as `edgeid_face_put` for the store.
///
/// # Safety
/// As `edgeid_face_extract`; each id pointer must point to its length in bytes.
#[no_mangle]
pub unsafe extern "C" fn edgeid_face_put_frame(
    store: *mut edgeid_store,
    v: *mut edgeid_vision,
    location_id: *const c_char,
    location_id_len: usize,
    user_id: *const c_char,
    user_id_len: usize,
    template_id: *const c_char,
    template_id_len: usize,
    data: *const u8,
    data_len: usize,
    width: u32,
    height: u32,
    stride: usize,
    format: u32,
    face_out: *mut edgeid_face,
) -> edgeid_status {
    handle::with_store("edgeid_face_put_frame", store, |s| {
        // SAFETY: header contract of every pointer.
        unsafe {
            let ids = ids(
                (location_id, location_id_len),
                (user_id, user_id_len),
                Some((template_id, template_id_len)),
            )?;
            let f = frame(data, data_len, width, height, stride, format)?;
            let t = with_vision(v, |ex| probe_for(s, ex, &f, face_out))?;
            let Some(t) = t.filter(|t| t.quality.passed) else {
                return Err(Failure::new(
                    EDGEID_ERR_REFUSED,
                    "no enrolable face: see face_out->quality_reasons",
                ));
            };
            s.commit(&[Change::PutFace {
                location: ids.location,
                user: ids.user,
                template: ids.template.unwrap_or_default(),
                embedding: t.embedding,
            }])?;
            Ok(())
        }
    })
}
