//! Thresholds you can trust: genuine and impostor score distributions of a labelled set of
//! embeddings, and the threshold for each named false-match rate with the number of impostor
//! pairs that support it.
//!
//! For a target FMR `f` over `n` impostor pairs, at most `m = floor(f · n)` impostor pairs may
//! score at or above the threshold; the threshold is the smallest score above the `(m+1)`-th
//! highest impostor score. When `f · n < 1` the data cannot tell an FMR of `f` from 0: the target
//! is refused (it would need at least `1 / f` impostor pairs), never extrapolated.

use serde::Serialize;

use super::cosine;
use super::descriptor::Threshold;

/// The result of a calibration.
#[derive(Debug, Clone, Serialize)]
pub struct Calibration {
    /// Every same-identity pair's score.
    pub genuine: Vec<f32>,
    /// Every different-identity pair's score.
    pub impostor: Vec<f32>,
    /// One threshold per supported target, with its support and FNMR there.
    pub thresholds: Vec<CalibratedThreshold>,
    /// Targets refused: (fmr, why).
    pub refused: Vec<(f64, String)>,
}

/// A threshold and what it costs.
#[derive(Debug, Clone, Serialize)]
pub struct CalibratedThreshold {
    /// As written into a descriptor.
    #[serde(flatten)]
    pub threshold: Threshold,
    /// Share of genuine pairs below the threshold (false non-matches).
    pub fnmr: f64,
    /// Impostor pairs at or above the threshold.
    pub false_matches: u64,
}

/// Scores every pair of `embeddings` (labels name identities) and finds the threshold for each
/// target in `fmrs`.
pub fn calibrate(labels: &[String], embeddings: &[Vec<f32>], fmrs: &[f64]) -> Calibration {
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for i in 0..embeddings.len() {
        for j in i + 1..embeddings.len() {
            let s = cosine(&embeddings[i], &embeddings[j]);
            if labels[i] == labels[j] {
                genuine.push(s);
            } else {
                impostor.push(s);
            }
        }
    }
    let mut desc = impostor.clone();
    desc.sort_by(|a, b| b.total_cmp(a));
    let n = desc.len() as u64;
    let (mut thresholds, mut refused) = (Vec::new(), Vec::new());
    for &f in fmrs {
        if !(f > 0.0 && f < 1.0) {
            refused.push((f, "an FMR must lie between 0 and 1".into()));
            continue;
        }
        if (f * n as f64) < 1.0 {
            refused.push((
                f,
                format!(
                    "{n} impostor pairs cannot support an FMR of {f}: it needs at least {} pairs",
                    (1.0 / f).ceil()
                ),
            ));
            continue;
        }
        let m = (f * n as f64).floor() as usize;
        let score = if m < desc.len() {
            next_up(desc[m])
        } else {
            f32::NEG_INFINITY
        };
        let false_matches = desc.iter().filter(|&&s| s >= score).count() as u64;
        let fnmr =
            genuine.iter().filter(|&&s| s < score).count() as f64 / genuine.len().max(1) as f64;
        thresholds.push(CalibratedThreshold {
            threshold: Threshold {
                fmr: f,
                score,
                impostor_pairs: n,
                genuine_pairs: genuine.len() as u64,
            },
            fnmr,
            false_matches,
        });
    }
    Calibration {
        genuine,
        impostor,
        thresholds,
        refused,
    }
}

/// The smallest f32 above `x` (rounded up to 4 decimals, so descriptors stay readable).
fn next_up(x: f32) -> f32 {
    let r = ((x as f64) * 1e4).floor() / 1e4 + 1e-4;
    r as f32
}

/// An SVG of the two score histograms and the thresholds.
pub fn plot_svg(c: &Calibration) -> String {
    let (w, h, bins) = (640.0f64, 320.0f64, 50usize);
    let hist = |v: &[f32]| {
        let mut b = vec![0usize; bins];
        for &s in v {
            let i = (((s as f64 + 0.5) / 1.5 * bins as f64).floor() as isize)
                .clamp(0, bins as isize - 1);
            b[i as usize] += 1;
        }
        let total = v.len().max(1) as f64;
        b.into_iter()
            .map(|x| x as f64 / total)
            .collect::<Vec<f64>>()
    };
    let (g, i) = (hist(&c.genuine), hist(&c.impostor));
    let top = g.iter().chain(&i).fold(0.0f64, |a, &b| a.max(b)).max(1e-9);
    let x = |s: f64| 40.0 + (s + 0.5) / 1.5 * (w - 60.0);
    let y = |p: f64| h - 30.0 - p / top * (h - 60.0);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let bw = (w - 60.0) / bins as f64;
    for (k, (pg, pi)) in g.iter().zip(&i).enumerate() {
        let s = -0.5 + 1.5 * k as f64 / bins as f64;
        svg += &format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#d62728\" fill-opacity=\"0.5\"/>\n",
            x(s), y(*pi), bw, h - 30.0 - y(*pi)
        );
        svg += &format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#2ca02c\" fill-opacity=\"0.5\"/>\n",
            x(s), y(*pg), bw, h - 30.0 - y(*pg)
        );
    }
    for t in &c.thresholds {
        let tx = x(t.threshold.score as f64);
        svg += &format!(
            "<line x1=\"{tx:.1}\" y1=\"20\" x2=\"{tx:.1}\" y2=\"{:.1}\" stroke=\"black\" stroke-dasharray=\"4 3\"/>\n<text x=\"{:.1}\" y=\"16\">FMR {} : {:.3}</text>\n",
            h - 30.0, tx + 3.0, t.threshold.fmr, t.threshold.score
        );
    }
    for s in [-0.5, 0.0, 0.5, 1.0] {
        svg += &format!(
            "<text x=\"{:.1}\" y=\"{:.1}\">{s}</text>\n",
            x(s) - 8.0,
            h - 12.0
        );
    }
    svg += &format!(
        "<text x=\"{:.1}\" y=\"36\" fill=\"#2ca02c\">genuine ({} pairs)</text>\n<text x=\"{:.1}\" y=\"52\" fill=\"#d62728\">impostor ({} pairs)</text>\n</svg>\n",
        w - 180.0, c.genuine.len(), w - 180.0, c.impostor.len()
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_and_refusals() {
        // 2 identities x 3 unit vectors: genuine pairs score 1, impostors 0.
        let e = |k: usize| {
            let mut v = vec![0.0f32; 4];
            v[k] = 1.0;
            v
        };
        let labels: Vec<String> = ["a", "a", "a", "b", "b", "b"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let embs = vec![e(0), e(0), e(0), e(1), e(1), e(1)];
        let c = calibrate(&labels, &embs, &[0.5, 0.01]);
        assert_eq!((c.genuine.len(), c.impostor.len()), (6, 9));
        assert_eq!(c.thresholds.len(), 1);
        let t = &c.thresholds[0];
        assert!(t.threshold.score > 0.0 && t.threshold.score < 0.001 && t.fnmr == 0.0);
        assert_eq!(c.refused.len(), 1, "9 pairs cannot support 1%");
    }
}
