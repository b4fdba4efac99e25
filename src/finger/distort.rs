//! Distorted and partial variants of real templates, as extra test conditions for the evaluation:
//! elastic distortion, cropping to a smaller sensor, minutiae dropped and spurious ones added, and
//! rotation over ±60°. Deterministic for a seed (each template's variant is drawn from a stream
//! seeded by the seed, the condition and the template's name), so a report can be reproduced.
//!
//! The strengths are fixed constants (below), chosen to be clearly harder than the FVC2002 B
//! pairs, not measured from another collection.

use super::eval::Named;
use super::synth::{rigid, synthesize, Rng, SynthParams};
use super::template::{FingerTemplate, Point};

/// Amplitude of the smooth elastic displacement (internal px, 500 dpi): three plane waves of
/// 250..500 px wavelength, as [`synthesize`] makes them.
pub const ELASTIC_PX: f32 = 12.0;
/// Side of the smaller sensor's square window (internal px: 236 px = 12 mm).
pub const SENSOR_PX: f32 = 236.0;
/// Share of minutiae dropped by [`Condition::DropAdd`].
pub const DROP: f32 = 0.2;
/// Spurious minutiae added by [`Condition::DropAdd`], as a share of the template's count.
pub const SPURIOUS: f32 = 0.2;
/// Largest rotation of [`Condition::Rotate`] (degrees, uniform in ±).
pub const ROTATION_DEG: f32 = 60.0;

/// A test condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Smooth non-linear distortion of [`ELASTIC_PX`] (pressed or dragged fingers).
    Elastic,
    /// Only the minutiae inside a [`SENSOR_PX`] square around a point near the centre.
    Crop,
    /// [`DROP`] of the minutiae dropped, [`SPURIOUS`] spurious ones added (wet and dry prints).
    DropAdd,
    /// Rigid rotation about the centroid, uniform in ±[`ROTATION_DEG`].
    Rotate,
}

impl Condition {
    /// Every condition, in report order.
    pub const ALL: [Condition; 4] = [
        Condition::Elastic,
        Condition::Crop,
        Condition::DropAdd,
        Condition::Rotate,
    ];

    /// The condition's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Condition::Elastic => "elastic",
            Condition::Crop => "crop",
            Condition::DropAdd => "drop-add",
            Condition::Rotate => "rotate",
        }
    }

    /// The condition named `s`.
    pub fn from_name(s: &str) -> Option<Condition> {
        Condition::ALL.into_iter().find(|c| c.name() == s)
    }
}

fn centroid(src: &[Point]) -> (f32, f32) {
    let n = src.len().max(1) as f32;
    (
        src.iter().map(|q| q.x).sum::<f32>() / n,
        src.iter().map(|q| q.y).sum::<f32>() / n,
    )
}

/// The variant of `src` under `c`, drawn from `rng`.
pub fn apply(src: &[Point], c: Condition, rng: &mut Rng) -> Vec<Point> {
    if src.is_empty() {
        return Vec::new();
    }
    let (cx, cy) = centroid(src);
    match c {
        Condition::Elastic => {
            let p = SynthParams {
                rotation_deg: 0.0,
                translation_px: 0.0,
                distortion_px: ELASTIC_PX,
                dropout: 0.0,
                spurious: 0,
                jitter_px: 1.0,
                jitter_deg: 3.0,
            };
            synthesize(src, rng, &p)
        }
        Condition::Crop => {
            let off = 0.15 * SENSOR_PX;
            let (wx, wy) = (cx + rng.range(-off, off), cy + rng.range(-off, off));
            let h = SENSOR_PX / 2.0;
            src.iter()
                .filter(|q| (q.x - wx).abs() <= h && (q.y - wy).abs() <= h)
                .copied()
                .collect()
        }
        Condition::DropAdd => {
            let mut out: Vec<Point> = src.iter().filter(|_| rng.unit() >= DROP).copied().collect();
            let (x0, x1, y0, y1) = src.iter().fold(
                (
                    f32::INFINITY,
                    f32::NEG_INFINITY,
                    f32::INFINITY,
                    f32::NEG_INFINITY,
                ),
                |b, q| (b.0.min(q.x), b.1.max(q.x), b.2.min(q.y), b.3.max(q.y)),
            );
            let extra = (SPURIOUS * src.len() as f32).round() as usize;
            for _ in 0..extra {
                out.push(Point {
                    x: rng.range(x0, x1),
                    y: rng.range(y0, y1),
                    angle: (rng.next_u64() & 0xffff) as u16,
                    kind: 1 + rng.below(2) as u8,
                    quality: 0,
                });
            }
            out
        }
        Condition::Rotate => {
            let a = rng.range(-ROTATION_DEG, ROTATION_DEG).to_radians();
            let moved: Vec<Point> = src
                .iter()
                .map(|q| Point {
                    x: q.x - cx,
                    y: q.y - cy,
                    ..*q
                })
                .collect();
            rigid(&moved, a, cx, cy)
        }
    }
}

/// The seed of one template's variant: FNV-1a of the name, mixed with the seed and condition.
pub fn seed_for(seed: u64, name: &str, c: Condition) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes().chain(c.name().bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The variant of every template of a set under `c` (same names), prepared again.
pub fn distort_set(set: &[Named], c: Condition, seed: u64) -> Vec<Named> {
    use rayon::prelude::*;
    set.par_iter()
        .map(|t| {
            let mut rng = Rng::new(seed_for(seed, &t.name, c));
            let pts = apply(t.template.as_ref().points(), c, &mut rng);
            Named {
                name: t.name.clone(),
                template: FingerTemplate::from_points(&pts),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(n: usize) -> Vec<Point> {
        (0..n)
            .map(|i| Point {
                x: (i % 8) as f32 * 40.0,
                y: (i / 8) as f32 * 40.0,
                angle: (i * 1000) as u16,
                kind: 1,
                quality: 50,
            })
            .collect()
    }

    #[test]
    fn variants_are_seeded_and_change_what_they_say() {
        let src = square(64);
        let run = |c, s| apply(&src, c, &mut Rng::new(s));
        for c in Condition::ALL {
            assert_eq!(run(c, 7), run(c, 7), "{c:?} not deterministic");
            assert_ne!(run(c, 7), run(c, 8), "{c:?} ignores the seed");
        }
        // Crop keeps only points inside a sensor-sized window.
        let crop = run(Condition::Crop, 1);
        assert!(crop.len() < src.len() && !crop.is_empty());
        let span = |f: fn(&Point) -> f32| {
            let v: Vec<f32> = crop.iter().map(f).collect();
            v.iter().cloned().fold(f32::MIN, f32::max) - v.iter().cloned().fold(f32::MAX, f32::min)
        };
        assert!(span(|p| p.x) <= SENSOR_PX && span(|p| p.y) <= SENSOR_PX);
        // Drop-add: about DROP dropped, SPURIOUS · n added.
        let da = run(Condition::DropAdd, 1);
        let kept = da.iter().filter(|p| p.quality == 50).count();
        assert_eq!(da.len() - kept, 13);
        assert!((40..=62).contains(&kept), "{kept}");
        // Rotation keeps distances and the count.
        let r = run(Condition::Rotate, 3);
        let d = |a: &Point, b: &Point| ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt();
        assert_eq!(r.len(), src.len());
        assert!((d(&r[0], &r[63]) - d(&src[0], &src[63])).abs() < 1e-2);
        assert_eq!(Condition::from_name("drop-add"), Some(Condition::DropAdd));
    }
}
