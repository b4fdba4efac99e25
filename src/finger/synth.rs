//! Synthetic templates from real ones, for 1:N benchmarks and tests: seeded random rigid transforms,
//! smooth elastic distortion, minutiae dropout, spurious minutiae and position/direction jitter.
//!
//! Everything is deterministic for a seed (a splitmix64 stream; no global state), so a benchmark
//! gallery is the same on every run and machine.

use std::f32::consts::{PI, TAU};

use rayon::prelude::*;

use super::codec::{AngleUnit, Format, Minutia, MinutiaKind, Record, View};
use super::template::{FingerTemplate, Point};

/// A small deterministic random generator (splitmix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x6A09_E667_F3BC_C909)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f32 {
        let u = self.unit().max(1e-7);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (TAU * v).cos()
    }

    /// Uniform in 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// How far a synthetic impression departs from its source.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SynthParams {
    /// Largest rotation in degrees (180: any).
    pub rotation_deg: f32,
    /// Largest translation in internal pixels (each axis).
    pub translation_px: f32,
    /// Amplitude of the smooth elastic displacement in internal pixels.
    pub distortion_px: f32,
    /// Probability that a minutia is dropped.
    pub dropout: f32,
    /// Largest number of spurious minutiae added.
    pub spurious: usize,
    /// Standard deviation of position jitter (internal pixels).
    pub jitter_px: f32,
    /// Standard deviation of direction jitter (degrees).
    pub jitter_deg: f32,
}

impl Default for SynthParams {
    fn default() -> Self {
        SynthParams {
            rotation_deg: 180.0,
            translation_px: 100.0,
            distortion_px: 6.0,
            dropout: 0.15,
            spurious: 4,
            jitter_px: 1.5,
            jitter_deg: 4.0,
        }
    }
}

/// A purely rigid transform: rotation by `angle` (radians, counter-clockwise) about the origin, then
/// translation.
pub fn rigid(src: &[Point], angle: f32, dx: f32, dy: f32) -> Vec<Point> {
    let (s, c) = angle.sin_cos();
    let da = (angle.rem_euclid(TAU) / TAU * 65536.0) as u32 as u16;
    src.iter()
        .map(|p| Point {
            x: c * p.x - s * p.y + dx,
            y: s * p.x + c * p.y + dy,
            angle: p.angle.wrapping_add(da),
            ..*p
        })
        .collect()
}

/// One synthetic impression of `src`.
pub fn synthesize(src: &[Point], rng: &mut Rng, p: &SynthParams) -> Vec<Point> {
    if src.is_empty() {
        return Vec::new();
    }
    let n = src.len() as f32;
    let cx = src.iter().map(|q| q.x).sum::<f32>() / n;
    let cy = src.iter().map(|q| q.y).sum::<f32>() / n;
    // Smooth displacement: three plane waves of 250..500 px wavelength.
    let waves: Vec<(f32, f32, f32, f32, f32)> = (0..3)
        .map(|_| {
            let dir = rng.range(0.0, TAU);
            let k = TAU / rng.range(250.0, 500.0);
            (
                k * dir.cos(),
                k * dir.sin(),
                rng.range(0.0, TAU),
                p.distortion_px * rng.normal() / 3f32.sqrt(),
                p.distortion_px * rng.normal() / 3f32.sqrt(),
            )
        })
        .collect();
    let disp = |x: f32, y: f32| {
        let mut d = (0.0, 0.0);
        for &(kx, ky, ph, ax, ay) in &waves {
            let s = (kx * x + ky * y + ph).sin();
            d.0 += ax * s;
            d.1 += ay * s;
        }
        d
    };
    let rot = rng.range(-p.rotation_deg, p.rotation_deg).to_radians();
    let (rs, rc) = rot.sin_cos();
    let tx = rng.range(-p.translation_px, p.translation_px);
    let ty = rng.range(-p.translation_px, p.translation_px);
    let mut out = Vec::with_capacity(src.len() + p.spurious);
    for q in src {
        if rng.unit() < p.dropout {
            continue;
        }
        let (x0, y0) = (q.x - cx, q.y - cy);
        let (dx, dy) = disp(x0, y0);
        // Direction follows the displacement field's local Jacobian.
        let th = q.theta();
        let (ux, uy) = (th.cos(), th.sin());
        let h = 2.0;
        let (ex, ey) = disp(x0 + h * ux, y0 + h * uy);
        let (vx, vy) = (ux * h + ex - dx, uy * h + ey - dy);
        let th2 = vy.atan2(vx) + rot + (p.jitter_deg * rng.normal()).to_radians();
        let (x1, y1) = (x0 + dx, y0 + dy);
        out.push(Point {
            x: rc * x1 - rs * y1 + cx + tx + p.jitter_px * rng.normal(),
            y: rs * x1 + rc * y1 + cy + ty + p.jitter_px * rng.normal(),
            angle: (th2.rem_euclid(TAU) / TAU * 65536.0) as u32 as u16,
            ..*q
        });
    }
    // Spurious minutiae inside the source's bounding box (transformed like the rest).
    let (x0, x1, y0, y1) = src.iter().fold(
        (
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ),
        |b, q| (b.0.min(q.x), b.1.max(q.x), b.2.min(q.y), b.3.max(q.y)),
    );
    let extra = if p.spurious > 0 {
        rng.below(p.spurious + 1)
    } else {
        0
    };
    for _ in 0..extra {
        let (x, y) = (rng.range(x0, x1) - cx, rng.range(y0, y1) - cy);
        let th = rng.range(-PI, PI) + rot;
        out.push(Point {
            x: rc * x - rs * y + cx + tx,
            y: rs * x + rc * y + cy + ty,
            angle: (th.rem_euclid(TAU) / TAU * 65536.0) as u32 as u16,
            kind: 1 + (rng.below(2) as u8),
            quality: 0,
        });
    }
    out
}

/// Impression `i` of a synthetic gallery: source `i % sources.len()` with the `i`-th seeded
/// variation.
fn impression(sources: &[FingerTemplate], i: usize, seed: u64, params: &SynthParams) -> Vec<Point> {
    let mut rng = Rng::new(seed.wrapping_mul(0x1000_0000_01B3) ^ i as u64);
    synthesize(
        sources[i % sources.len()].as_ref().points(),
        &mut rng,
        params,
    )
}

/// `n` synthetic templates made from `sources` (template `i` from source `i % sources.len()`, with
/// the `i`-th seeded variation), prepared on all cores.
pub fn synthetic_gallery(
    sources: &[FingerTemplate],
    n: usize,
    seed: u64,
    params: &SynthParams,
) -> Vec<FingerTemplate> {
    if sources.is_empty() {
        return Vec::new();
    }
    (0..n)
        .into_par_iter()
        .with_min_len(64)
        .map(|i| FingerTemplate::from_points(&impression(sources, i, seed, params)))
        .collect()
}

/// Writes points as an ISO/IEC 19794-2:2005 record at 500 dpi (197 px/cm, the matcher's own unit),
/// shifted so every coordinate is inside the image: what a store is given to enrol a synthetic
/// template. Preparing the record gives the points back up to the format's rounding (whole pixels,
/// 1.4° angles).
pub fn to_record(points: &[Point]) -> Vec<u8> {
    const MARGIN: f32 = 16.0;
    let min_x = points.iter().map(|p| p.x).fold(f32::INFINITY, f32::min);
    let max_y = points.iter().map(|p| p.y).fold(f32::NEG_INFINITY, f32::max);
    let (ox, oy) = if points.is_empty() {
        (0.0, 0.0)
    } else {
        (MARGIN - min_x, MARGIN + max_y)
    };
    let mut view = View::new(0, 0, 197);
    view.minutiae = points
        .iter()
        .map(|p| Minutia {
            x: (p.x + ox).round().clamp(0.0, 16383.0) as u16,
            // Points have y up; records have y down.
            y: (oy - p.y).round().clamp(0.0, 16383.0) as u16,
            angle: AngleUnit::Iso256.from_radians(f64::from(p.theta())),
            kind: match p.kind {
                1 => MinutiaKind::RidgeEnding,
                2 => MinutiaKind::Bifurcation,
                _ => MinutiaKind::Other,
            },
            quality: p.quality,
        })
        .collect();
    let w = view.minutiae.iter().map(|m| m.x).max().unwrap_or(0);
    let h = view.minutiae.iter().map(|m| m.y).max().unwrap_or(0);
    view.width = w.saturating_add(MARGIN as u16);
    view.height = h.saturating_add(MARGIN as u16);
    Record::single(Format::Iso2005, view)
        .encode()
        .expect("points within 14-bit coordinates fit an ISO record")
}

/// `n` synthetic minutiae records (see [`to_record`]) made like [`synthetic_gallery`], on all cores.
pub fn synthetic_records(
    sources: &[FingerTemplate],
    n: usize,
    seed: u64,
    params: &SynthParams,
) -> Vec<Vec<u8>> {
    if sources.is_empty() {
        return Vec::new();
    }
    (0..n)
        .into_par_iter()
        .with_min_len(64)
        .map(|i| to_record(&impression(sources, i, seed, params)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_give_the_points_back() {
        let mut rng = Rng::new(5);
        let pts: Vec<Point> = (0..40)
            .map(|i| Point {
                x: rng.range(-150.0, 150.0),
                y: rng.range(-200.0, 200.0),
                angle: rng.below(65536) as u16,
                kind: 1 + (i % 2) as u8,
                quality: 50,
            })
            .collect();
        let rec = super::super::codec::parse(&to_record(&pts)).unwrap();
        let back = FingerTemplate::from_record(&rec, 0).unwrap();
        let back = back.as_ref().points();
        assert_eq!(back.len(), pts.len());
        // The same points up to the translation into the image (centroids), a pixel's rounding
        // and half an angle step.
        let c = |v: &[Point]| {
            let n = v.len() as f32;
            (
                v.iter().map(|p| p.x).sum::<f32>() / n,
                v.iter().map(|p| p.y).sum::<f32>() / n,
            )
        };
        let ((ax, ay), (bx, by)) = (c(&pts), c(back));
        for p in &pts {
            let found = back.iter().any(|q| {
                let da = (i32::from(q.angle) - i32::from(p.angle)).rem_euclid(65536);
                let da = da.min(65536 - da);
                let (x, y) = (p.x - ax + bx, p.y - ay + by);
                q.kind == p.kind && da <= 140 && (q.x - x).abs() <= 1.0 && (q.y - y).abs() <= 1.0
            });
            assert!(found, "{p:?}");
        }
    }
}
