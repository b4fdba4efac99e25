//! Five-point alignment: the least-squares similarity transform (rotation, uniform scale,
//! translation) that carries the detected landmarks onto the ArcFace 112x112 template, and one
//! bilinear warp straight into the recogniser's input tensor.
//!
//! With centred points `p` (detected) and `q` (template), the transform `q = [a -b; b a] p + t`
//! minimising the squared error has `a = Σ(p·q) / Σ|p|²`, `b = Σ(p × q) / Σ|p|²` (Umeyama's
//! solution without reflection), `t = q̄ - [a -b; b a] p̄`. The warp walks the output pixels and
//! samples the source at the inverse transform (pixel centres at integer coordinates, zero
//! outside the image), writing normalised samples into a tensor allocated once.

use super::frame::Rgb;

/// ArcFace's five landmark positions in a 112x112 crop (InsightFace `arcface_dst`).
pub const ARCFACE_112: [[f32; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// A similarity transform `(x, y) -> (a x - b y + tx, b x + a y + ty)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    /// `scale * cos(angle)`.
    pub a: f32,
    /// `scale * sin(angle)`.
    pub b: f32,
    /// Translation x.
    pub tx: f32,
    /// Translation y.
    pub ty: f32,
}

impl Similarity {
    /// The least-squares similarity carrying `from` onto `to`.
    pub fn fit(from: &[[f32; 2]; 5], to: &[[f32; 2]; 5]) -> Similarity {
        let n = from.len() as f64;
        let mean = |pts: &[[f32; 2]; 5]| {
            let (mut x, mut y) = (0.0f64, 0.0f64);
            for p in pts {
                x += p[0] as f64;
                y += p[1] as f64;
            }
            (x / n, y / n)
        };
        let (px, py) = mean(from);
        let (qx, qy) = mean(to);
        let (mut dot, mut cross, mut norm) = (0.0f64, 0.0f64, 0.0f64);
        for (p, q) in from.iter().zip(to) {
            let (ux, uy) = (p[0] as f64 - px, p[1] as f64 - py);
            let (vx, vy) = (q[0] as f64 - qx, q[1] as f64 - qy);
            dot += ux * vx + uy * vy;
            cross += ux * vy - uy * vx;
            norm += ux * ux + uy * uy;
        }
        if norm <= 1e-12 {
            return Similarity {
                a: 0.0,
                b: 0.0,
                tx: qx as f32,
                ty: qy as f32,
            };
        }
        let (a, b) = (dot / norm, cross / norm);
        Similarity {
            a: a as f32,
            b: b as f32,
            tx: (qx - (a * px - b * py)) as f32,
            ty: (qy - (b * px + a * py)) as f32,
        }
    }

    /// The transform applied to a point.
    pub fn apply(&self, p: [f32; 2]) -> [f32; 2] {
        [
            self.a * p[0] - self.b * p[1] + self.tx,
            self.b * p[0] + self.a * p[1] + self.ty,
        ]
    }

    /// The inverse transform (`None` when degenerate).
    pub fn inverse(&self) -> Option<Similarity> {
        let d = self.a * self.a + self.b * self.b;
        if d <= 1e-12 || !d.is_finite() {
            return None;
        }
        let (a, b) = (self.a / d, -self.b / d);
        Some(Similarity {
            a,
            b,
            tx: -(a * self.tx - b * self.ty),
            ty: -(b * self.tx + a * self.ty),
        })
    }

    /// Scale factor.
    pub fn scale(&self) -> f32 {
        (self.a * self.a + self.b * self.b).sqrt()
    }
}

/// How samples become tensor values.
#[derive(Debug, Clone, Copy)]
pub struct Normalisation {
    /// Channel order: `[0, 1, 2]` for RGB, `[2, 1, 0]` for BGR.
    pub order: [usize; 3],
    /// Subtracted from each 0..255 sample.
    pub mean: f32,
    /// Then multiplied.
    pub scale: f32,
}

/// Warps `img` by the inverse of `to_crop` into `tensor` (NCHW, `side x side`) and the crop's luma
/// into `luma` (`side * side`, 0..255), both preallocated by the caller.
pub fn warp(
    img: &Rgb,
    to_crop: &Similarity,
    side: usize,
    norm: &Normalisation,
    tensor: &mut [f32],
    luma: &mut [f32],
) -> bool {
    let Some(inv) = to_crop.inverse() else {
        return false;
    };
    let plane = side * side;
    debug_assert!(tensor.len() >= 3 * plane && luma.len() >= plane);
    let mut px = [0.0f32; 3];
    for v in 0..side {
        for u in 0..side {
            let s = inv.apply([u as f32, v as f32]);
            img.bilinear(s[0], s[1], &mut px);
            let i = v * side + u;
            for (c, &src) in norm.order.iter().enumerate() {
                tensor[c * plane + i] = (px[src] - norm.mean) * norm.scale;
            }
            luma[i] = 0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2];
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_recovers_a_known_similarity() {
        let t = Similarity {
            a: 0.8,
            b: 0.3,
            tx: 5.0,
            ty: -7.0,
        };
        let from = [
            [10.0, 20.0],
            [50.0, 22.0],
            [30.0, 40.0],
            [15.0, 60.0],
            [45.0, 61.0],
        ];
        let to = from.map(|p| t.apply(p));
        let f = Similarity::fit(&from, &to);
        for (x, y) in [(f.a, t.a), (f.b, t.b), (f.tx, t.tx), (f.ty, t.ty)] {
            assert!((x - y).abs() < 1e-4, "{f:?}");
        }
        let back = f.inverse().unwrap().apply(to[2]);
        assert!((back[0] - from[2][0]).abs() < 1e-3 && (back[1] - from[2][1]).abs() < 1e-3);
    }
}
