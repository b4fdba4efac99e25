//! DET curves (FNMR against FMR on log axes) drawn as a small hand-written SVG, one curve per
//! matcher, so two matchers' error trade-offs on the same pairs can be compared at a glance.
//!
//! The plot spans FMR 1e-4..1 and FNMR 1e-3..1; rates of 0 are drawn on the axis minimum (the
//! curve leaves the plot there). Each curve is the step function of every distinct threshold.

use std::fmt::Write;

/// One curve: a label and the genuine and impostor scores (higher: more similar).
#[derive(Debug, Clone)]
pub struct Curve {
    /// Legend text.
    pub label: String,
    /// Genuine scores.
    pub genuine: Vec<f32>,
    /// Impostor scores.
    pub impostor: Vec<f32>,
}

/// (FMR, FNMR) at every distinct threshold, from the lowest threshold (FMR 1) up.
pub fn points(genuine: &[f32], impostor: &[f32]) -> Vec<(f64, f64)> {
    if genuine.is_empty() || impostor.is_empty() {
        return Vec::new();
    }
    let mut g = genuine.to_vec();
    let mut i = impostor.to_vec();
    g.sort_by(f32::total_cmp);
    i.sort_by(f32::total_cmp);
    let mut th: Vec<f32> = g.iter().chain(&i).copied().collect();
    th.push(f32::INFINITY);
    th.sort_by(f32::total_cmp);
    th.dedup();
    let (ng, ni) = (g.len() as f64, i.len() as f64);
    th.iter()
        .map(|&t| {
            let fmr = (i.len() - i.partition_point(|&s| s < t)) as f64 / ni;
            let fnmr = g.partition_point(|&s| s < t) as f64 / ng;
            (fmr, fnmr)
        })
        .collect()
}

const W: f64 = 640.0;
const H: f64 = 480.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 55.0;
const X_DECADES: (i32, i32) = (-4, 0);
const Y_DECADES: (i32, i32) = (-3, 0);
const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

fn x_of(fmr: f64) -> f64 {
    let lo = f64::from(X_DECADES.0);
    let v = fmr.max(10f64.powi(X_DECADES.0)).log10();
    LEFT + (v - lo) / f64::from(X_DECADES.1 - X_DECADES.0) * (W - LEFT - RIGHT)
}

fn y_of(fnmr: f64) -> f64 {
    let lo = f64::from(Y_DECADES.0);
    let v = fnmr.max(10f64.powi(Y_DECADES.0)).log10();
    H - BOTTOM - (v - lo) / f64::from(Y_DECADES.1 - Y_DECADES.0) * (H - TOP - BOTTOM)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The SVG document of a DET plot of `curves` under `title`.
pub fn svg(title: &str, curves: &[Curve]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(o, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        o,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>"#,
        W / 2.0,
        escape(title)
    );
    // Grid and tick labels: decades and the 2 and 5 minor lines.
    for d in X_DECADES.0..=X_DECADES.1 {
        for (k, m) in [1.0, 2.0, 5.0].iter().enumerate() {
            let v = m * 10f64.powi(d);
            if v > 1.0 {
                continue;
            }
            let x = x_of(v);
            let (stroke, w) = if k == 0 {
                ("#bbb", 1.0)
            } else {
                ("#e5e5e5", 0.7)
            };
            let _ = writeln!(
                o,
                r#"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="{stroke}" stroke-width="{w}"/>"#,
                H - BOTTOM
            );
            if k == 0 {
                let _ = writeln!(
                    o,
                    r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                    H - BOTTOM + 16.0,
                    label(d)
                );
            }
        }
    }
    for d in Y_DECADES.0..=Y_DECADES.1 {
        for (k, m) in [1.0, 2.0, 5.0].iter().enumerate() {
            let v = m * 10f64.powi(d);
            if v > 1.0 {
                continue;
            }
            let y = y_of(v);
            let (stroke, w) = if k == 0 {
                ("#bbb", 1.0)
            } else {
                ("#e5e5e5", 0.7)
            };
            let _ = writeln!(
                o,
                r#"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{stroke}" stroke-width="{w}"/>"#,
                W - RIGHT
            );
            if k == 0 {
                let _ = writeln!(
                    o,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                    LEFT - 6.0,
                    y + 4.0,
                    label(d)
                );
            }
        }
    }
    let _ = writeln!(
        o,
        r#"<rect x="{LEFT}" y="{TOP}" width="{:.1}" height="{:.1}" fill="none" stroke="black"/>"#,
        W - LEFT - RIGHT,
        H - TOP - BOTTOM
    );
    let _ = writeln!(
        o,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">FMR (false match rate)</text>"#,
        (LEFT + W - RIGHT) / 2.0,
        H - 14.0
    );
    let _ = writeln!(
        o,
        r#"<text x="16" y="{:.1}" text-anchor="middle" transform="rotate(-90 16 {:.1})">FNMR (false non-match rate)</text>"#,
        (TOP + H - BOTTOM) / 2.0,
        (TOP + H - BOTTOM) / 2.0
    );
    for (c, curve) in curves.iter().enumerate() {
        let colour = COLOURS[c % COLOURS.len()];
        let pts = points(&curve.genuine, &curve.impostor);
        // A DET step: from each threshold's point, FMR falls before FNMR rises.
        let mut d = String::new();
        let mut prev: Option<(f64, f64)> = None;
        for &(fmr, fnmr) in &pts {
            let (x, y) = (x_of(fmr), y_of(fnmr));
            match prev {
                None => {
                    let _ = write!(d, "M{x:.1},{y:.1}");
                }
                Some((_, py)) => {
                    let _ = write!(d, " L{x:.1},{py:.1} L{x:.1},{y:.1}");
                }
            }
            prev = Some((x, y));
        }
        let _ = writeln!(
            o,
            r#"<path d="{d}" fill="none" stroke="{colour}" stroke-width="2"/>"#
        );
        let ly = TOP + 18.0 + 18.0 * c as f64;
        let lx = W - RIGHT - 230.0;
        let _ = writeln!(
            o,
            r#"<line x1="{lx:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="2"/><text x="{:.1}" y="{ly:.1}">{}</text>"#,
            ly - 4.0,
            lx + 24.0,
            ly - 4.0,
            lx + 30.0,
            escape(&curve.label)
        );
    }
    o.push_str("</svg>\n");
    o
}

fn label(decade: i32) -> String {
    match decade {
        0 => "1".into(),
        -1 => "0.1".into(),
        -2 => "0.01".into(),
        d => format!("1e{d}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_run_from_all_accepted_to_none() {
        let p = points(&[0.5, 0.9], &[0.1, 0.6]);
        assert_eq!(p.first(), Some(&(1.0, 0.0)));
        assert_eq!(p.last(), Some(&(0.0, 1.0)));
        // FMR never rises and FNMR never falls as the threshold rises.
        for w in p.windows(2) {
            assert!(w[1].0 <= w[0].0 && w[1].1 >= w[0].1);
        }
    }

    #[test]
    fn svg_has_one_path_per_curve_and_escapes_labels() {
        let c = |l: &str| Curve {
            label: l.into(),
            genuine: vec![0.5, 0.9],
            impostor: vec![0.1, 0.6],
        };
        let s = svg("t", &[c("a<b"), c("c")]);
        assert_eq!(s.matches("<path").count(), 2);
        assert!(s.contains("a&lt;b") && s.ends_with("</svg>\n"));
    }
}
