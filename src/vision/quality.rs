//! The quality gate: measured on every face, reported with every embedding, enforced at enrolment.
//!
//! Each failing check has a reason a person at the terminal can act on (`too_small`: step closer;
//! `turned_away`: look at the camera; `blurred`: hold still; `too_dark`, `too_bright`: light).
//! Pose comes from the landmarks in the aligned crop (rotation and scale removed): yaw from how far
//! the nose sits off the eyes' midline (`atan(offset / (0.6 · eye distance))`, a head whose nose tip
//! stands 0.6 eye distances before the eyes), pitch from where the nose sits between the eye line
//! and the mouth line (0.56 for YuNet's landmarks on a frontal face). They are estimates, good to about 10°.
//! Sharpness is the variance of the Laplacian of the crop's luma, exposure its mean luma and the
//! share of clipped pixels, both over the central 64x64 (the face, not the background).

use serde::Serialize;

use super::align::Similarity;
use super::detect::Detection;

/// Where the nose tip of a frontal face sits between the eye line (0) and the mouth line (1).
const FRONTAL_NOSE: f32 = 0.56;

/// Limits of the gate. The defaults suit a door terminal and the reference recogniser.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct QualityLimits {
    /// Minimum distance between the eyes, in source pixels.
    pub min_eye_distance_px: f32,
    /// Minimum detector score.
    pub min_score: f32,
    /// Largest |yaw| in degrees.
    pub max_yaw_deg: f32,
    /// Largest |pitch| in degrees.
    pub max_pitch_deg: f32,
    /// Largest |roll| in degrees.
    pub max_roll_deg: f32,
    /// Minimum variance of the Laplacian of the aligned crop's luma.
    pub min_sharpness: f32,
    /// Minimum mean luma (0..255) of the crop's centre.
    pub min_brightness: f32,
    /// Maximum mean luma of the crop's centre.
    pub max_brightness: f32,
}

impl Default for QualityLimits {
    fn default() -> Self {
        QualityLimits {
            min_eye_distance_px: 24.0,
            min_score: 0.8,
            max_yaw_deg: 35.0,
            max_pitch_deg: 30.0,
            max_roll_deg: 30.0,
            min_sharpness: 20.0,
            min_brightness: 45.0,
            max_brightness: 220.0,
        }
    }
}

/// What the gate measured on one face, and its verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quality {
    /// Faces the detector found (the largest is used).
    pub faces: usize,
    /// Height of the face box, source pixels.
    pub face_size_px: f32,
    /// Distance between the eyes, source pixels.
    pub eye_distance_px: f32,
    /// Detector score.
    pub score: f32,
    /// Whether the landmarks form a plausible face (eyes above nose above mouth, sane proportions).
    pub landmarks_plausible: bool,
    /// In-plane rotation of the eye line, degrees.
    pub roll_deg: f32,
    /// Left-right head turn estimate, degrees.
    pub yaw_deg: f32,
    /// Up-down head tilt estimate, degrees.
    pub pitch_deg: f32,
    /// Variance of the Laplacian of the aligned crop (higher is sharper).
    pub sharpness: f32,
    /// Mean luma of the crop's centre, 0..255.
    pub brightness: f32,
    /// Whether every check passed.
    pub passed: bool,
    /// Why not: `too_small`, `unclear`, `implausible`, `turned_away`, `tilted`, `blurred`,
    /// `too_dark`, `too_bright`. Empty when passed.
    pub reasons: Vec<&'static str>,
    /// Notices that do not fail the gate (`several_faces`).
    pub notes: Vec<&'static str>,
}

/// Measures one face: its detection, the transform onto the crop, the crop's luma (`side`²).
pub fn assess(
    det: &Detection,
    faces: usize,
    to_crop: &Similarity,
    luma: &[f32],
    side: usize,
    limits: &QualityLimits,
) -> Quality {
    let l = &det.landmarks;
    let (ex, ey) = (l[1][0] - l[0][0], l[1][1] - l[0][1]);
    let eye_distance_px = (ex * ex + ey * ey).sqrt();
    let roll_deg = ey.atan2(ex).to_degrees();
    // Pose in the crop frame, where the template's eyes are level.
    let c = l.map(|p| to_crop.apply(p));
    let crop_eye = (c[1][0] - c[0][0]).abs().max(1e-3);
    let eye_mid = [(c[0][0] + c[1][0]) / 2.0, (c[0][1] + c[1][1]) / 2.0];
    let mouth_mid = [(c[3][0] + c[4][0]) / 2.0, (c[3][1] + c[4][1]) / 2.0];
    let yaw_deg = ((c[2][0] - eye_mid[0]) / (0.6 * crop_eye))
        .atan()
        .to_degrees();
    // YuNet puts the nose tip of a frontal face at about 0.56 of the way from the eye line to the
    // mouth line (the 15 test photos, all near-frontal: 0.53..0.60), lower than the template's 0.49.
    let r0 = FRONTAL_NOSE;
    let span = mouth_mid[1] - eye_mid[1];
    let r = if span.abs() > 1e-3 {
        (c[2][1] - eye_mid[1]) / span
    } else {
        0.0
    };
    let pitch_deg = ((r - r0) * 2.5).atan().to_degrees();
    let landmarks_plausible = c[0][0] < c[1][0]
        && c[3][0] < c[4][0]
        && eye_mid[1] < c[2][1]
        && c[2][1] < mouth_mid[1]
        && eye_distance_px > 0.15 * det.bbox[2]
        && eye_distance_px < 0.9 * det.bbox[2];
    let (sharpness, brightness, clipped) = crop_stats(luma, side);

    let mut reasons = Vec::new();
    if eye_distance_px < limits.min_eye_distance_px {
        reasons.push("too_small");
    }
    if det.score < limits.min_score {
        reasons.push("unclear");
    }
    if !landmarks_plausible {
        reasons.push("implausible");
    }
    if yaw_deg.abs() > limits.max_yaw_deg || pitch_deg.abs() > limits.max_pitch_deg {
        reasons.push("turned_away");
    }
    if roll_deg.abs() > limits.max_roll_deg {
        reasons.push("tilted");
    }
    if sharpness < limits.min_sharpness {
        reasons.push("blurred");
    }
    if brightness < limits.min_brightness {
        reasons.push("too_dark");
    }
    if brightness > limits.max_brightness || clipped > 0.3 {
        reasons.push("too_bright");
    }
    let mut notes = Vec::new();
    if faces > 1 {
        notes.push("several_faces");
    }
    Quality {
        faces,
        face_size_px: det.bbox[3],
        eye_distance_px,
        score: det.score,
        landmarks_plausible,
        roll_deg,
        yaw_deg,
        pitch_deg,
        sharpness,
        brightness,
        passed: reasons.is_empty(),
        reasons,
        notes,
    }
}

/// The gate's verdict when no face was found.
pub fn no_face() -> Quality {
    Quality {
        faces: 0,
        face_size_px: 0.0,
        eye_distance_px: 0.0,
        score: 0.0,
        landmarks_plausible: false,
        roll_deg: 0.0,
        yaw_deg: 0.0,
        pitch_deg: 0.0,
        sharpness: 0.0,
        brightness: 0.0,
        passed: false,
        reasons: vec!["no_face"],
        notes: Vec::new(),
    }
}

/// Laplacian variance, mean luma and clipped share over the central 64x64 of the crop.
fn crop_stats(luma: &[f32], side: usize) -> (f32, f32, f32) {
    let (lo, hi) = (side / 2 - 32, side / 2 + 32);
    let (mut sum, mut clipped, mut n) = (0.0f64, 0usize, 0usize);
    let (mut ls, mut ls2, mut ln) = (0.0f64, 0.0f64, 0usize);
    for y in lo..hi {
        for x in lo..hi {
            let v = luma[y * side + x];
            sum += v as f64;
            n += 1;
            if !(3.0..=252.0).contains(&v) {
                clipped += 1;
            }
            let lap = luma[(y - 1) * side + x]
                + luma[(y + 1) * side + x]
                + luma[y * side + x - 1]
                + luma[y * side + x + 1]
                - 4.0 * v;
            ls += lap as f64;
            ls2 += (lap as f64) * (lap as f64);
            ln += 1;
        }
    }
    let mean_lap = ls / ln as f64;
    let var = ls2 / ln as f64 - mean_lap * mean_lap;
    (
        var as f32,
        (sum / n as f64) as f32,
        clipped as f32 / n as f32,
    )
}
