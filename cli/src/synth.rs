//! Seeded synthetic embeddings for `bench` and `demo`, so both run anywhere without a face model
//! and give the same data for the same seed.
//!
//! Every vector comes from its own stream `(seed, stream)`, so any gallery row can be regenerated on
//! demand (queries are built from their source row without keeping the gallery in memory).

/// Stream namespaces: gallery rows, probes and extra templates never share random numbers.
pub const GALLERY: u64 = 0;
pub const PROBE: u64 = 1 << 60;
pub const EXTRA: u64 = 2 << 60;
pub const STRANGER: u64 = 3 << 60;
pub const CHOICE: u64 = 4 << 60;
pub const FINGER: u64 = 5 << 60;

/// Id of synthetic user `i` (benches and demo): "u-0000042".
pub fn user_id(i: usize) -> String {
    format!("u-{i:07}")
}

/// The index of a [`user_id`], or None for any other id.
pub fn user_index(id: &str) -> Option<usize> {
    id.strip_prefix("u-")?.parse().ok()
}

/// splitmix64 with a Box–Muller gaussian: tiny, fast, and plenty for test data.
pub struct Rng {
    state: u64,
    spare: Option<f64>,
}

/// The splitmix64 finaliser: a strong 64-bit mixer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    /// Stream `stream` of `seed`; mixing both keeps neighbouring streams uncorrelated.
    pub fn new(seed: u64, stream: u64) -> Rng {
        Rng {
            state: mix(seed ^ mix(stream.wrapping_add(0x632b_e59b_d9b4_e019))),
            spare: None,
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.state)
    }

    /// Uniform in [0, 1), 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in 0..n (multiply-shift: no modulo bias worth mentioning).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Standard normal (Box–Muller; the second value of each pair is kept for the next call).
    pub fn gaussian(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let u1 = 1.0 - self.uniform(); // (0, 1]: ln stays finite
        let u2 = self.uniform();
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
        self.spare = Some(r * s);
        r * c
    }
}

/// A random direction: `dim` standard normal components (not normalised; the store does that).
pub fn gaussian_vec(seed: u64, stream: u64, dim: usize) -> Vec<f32> {
    let mut r = Rng::new(seed, stream);
    (0..dim).map(|_| r.gaussian() as f32).collect()
}

/// `src` normalised, plus gaussian noise of standard deviation `sigma` per component. With
/// `sigma = s / sqrt(dim)` the noise has norm ≈ s, so the cosine to `src` is ≈ 1 / sqrt(1 + s²).
pub fn noisy(src: &[f32], seed: u64, stream: u64, sigma: f64) -> Vec<f32> {
    let norm = src
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt()
        .max(1e-30);
    let mut r = Rng::new(seed, stream);
    src.iter()
        .map(|&x| (f64::from(x) / norm + sigma * r.gaussian()) as f32)
        .collect()
}

/// Minutiae of a synthetic finger.
const MINUTIAE: usize = 40;

/// The minutiae pattern of synthetic finger `i` (stream `FINGER + i` of `seed`): points at least
/// 16 px apart in a 300 × 400 px area, random directions and types. Not a real ridge pattern, but
/// as distinctive for the matcher, and it needs no data files.
pub fn finger(seed: u64, i: u64) -> Vec<edgeid::finger::template::Point> {
    use edgeid::finger::template::Point;
    let mut rng = Rng::new(seed, FINGER + i);
    let mut pts: Vec<Point> = Vec::with_capacity(MINUTIAE);
    while pts.len() < MINUTIAE {
        let (x, y) = (
            rng.uniform() as f32 * 300.0 - 150.0,
            rng.uniform() as f32 * 400.0 - 200.0,
        );
        if pts.iter().all(|p| (p.x - x).hypot(p.y - y) >= 16.0) {
            pts.push(Point {
                x,
                y,
                angle: rng.below(65536) as u16,
                kind: 1 + rng.below(2) as u8,
                quality: 60,
            });
        }
    }
    pts
}

/// Impression number `k` of synthetic finger `i`: placed, rotated, distorted and incomplete
/// differently each time, as on a sensor.
pub fn impression(seed: u64, i: u64, k: u64) -> Vec<edgeid::finger::template::Point> {
    use edgeid::finger::synth::{synthesize, Rng as FingerRng, SynthParams};
    let params = SynthParams {
        rotation_deg: 25.0,
        translation_px: 40.0,
        distortion_px: 4.0,
        dropout: 0.1,
        spurious: 3,
        ..SynthParams::default()
    };
    let mut rng = FingerRng::new(seed ^ (k << 32) ^ i.wrapping_mul(0x9E37));
    synthesize(&finger(seed, i), &mut rng, &params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        assert_eq!(gaussian_vec(1, 5, 16), gaussian_vec(1, 5, 16));
        assert_ne!(gaussian_vec(1, 5, 16), gaussian_vec(1, 6, 16));
        assert_ne!(gaussian_vec(1, 5, 16), gaussian_vec(2, 5, 16));
    }

    #[test]
    fn gaussian_has_unit_variance() {
        let mut r = Rng::new(3, 0);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| r.gaussian()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "var {var}");
    }

    #[test]
    fn noisy_copy_has_the_intended_cosine() {
        let dim = 512;
        let src = gaussian_vec(9, 0, dim);
        let q = noisy(&src, 9, PROBE, 0.5 / (dim as f64).sqrt());
        let dot = |a: &[f32], b: &[f32]| -> f64 {
            a.iter()
                .zip(b)
                .map(|(&x, &y)| f64::from(x) * f64::from(y))
                .sum()
        };
        let cos = dot(&src, &q) / (dot(&src, &src) * dot(&q, &q)).sqrt();
        assert!((cos - 0.894).abs() < 0.03, "cosine {cos}");
    }
}
