//! Face detection with YuNet: letterbox into a square input, run the model, decode its per-stride
//! outputs into boxes with five landmarks, and suppress overlaps.
//!
//! YuNet's outputs, per stride `s` in {8, 16, 32} and grid cell `(row, col)` of the `S/s x S/s`
//! grid (row-major): `cls_s`, `obj_s` (one value per cell), `bbox_s` (4: `b0..b3`), `kps_s`
//! (10: five `(kx, ky)`). Decoding: `cx = (col + b0) s`, `cy = (row + b1) s`, `w = exp(b2) s`,
//! `h = exp(b3) s`, landmark `k = ((kx + col) s, (ky + row) s)`, score `sqrt(cls * obj)`.
//!
//! The graph is fully convolutional, so the same file runs at any input size that is a multiple of
//! 32 (the committed copy declares symbolic input dims, see `models/README.md`). A door terminal sees
//! faces at arm's length: 320 px finds faces down to about 20 px high in a 640 px frame at a quarter
//! of the cost of 640 px.

use ort::session::Session;
use ort::value::TensorRef;

use super::frame::Rgb;
use super::VisionError;

/// One detected face, in the coordinates of the source image.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Detection {
    /// Box `[x, y, width, height]`.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// Five landmarks: right eye, left eye (of the person: image left first), nose tip, right and
    /// left mouth corners, each `[x, y]`.
    pub landmarks: [[f32; 2]; 5],
    /// Detector score in 0..=1.
    pub score: f32,
}

impl Detection {
    fn area(&self) -> f32 {
        self.bbox[2].max(0.0) * self.bbox[3].max(0.0)
    }

    fn iou(&self, o: &Detection) -> f32 {
        let (ax1, ay1) = (self.bbox[0], self.bbox[1]);
        let (ax2, ay2) = (ax1 + self.bbox[2], ay1 + self.bbox[3]);
        let (bx1, by1) = (o.bbox[0], o.bbox[1]);
        let (bx2, by2) = (bx1 + o.bbox[2], by1 + o.bbox[3]);
        let iw = (ax2.min(bx2) - ax1.max(bx1)).max(0.0);
        let ih = (ay2.min(by2) - ay1.max(by1)).max(0.0);
        let inter = iw * ih;
        let union = self.area() + o.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }
}

/// The detector: one session, created once, and its preallocated input tensor.
pub struct Detector {
    session: Session,
    input_name: String,
    size: u32,
    input: Vec<f32>,
    score_threshold: f32,
    nms_iou: f32,
    bgr: bool,
    outputs: [[String; 4]; 3],
    /// Milliseconds the last `run` spent decoding outputs and suppressing overlaps.
    pub(crate) post_ms: f64,
    /// Per output column of the letterbox: source columns and weight (reused).
    columns: Vec<(usize, usize, f32)>,
}

/// The three strides of YuNet's heads.
const STRIDES: [u32; 3] = [8, 16, 32];

impl Detector {
    pub(crate) fn new(
        session: Session,
        input_name: String,
        size: u32,
        score_threshold: f32,
        nms_iou: f32,
        bgr: bool,
    ) -> Result<Detector, VisionError> {
        if size == 0 || !size.is_multiple_of(32) || size > 2048 {
            return Err(VisionError::Config(format!(
                "detector input size {size} must be a multiple of 32 up to 2048"
            )));
        }
        let outputs = STRIDES.map(|s| ["cls", "obj", "bbox", "kps"].map(|k| format!("{k}_{s}")));
        for name in outputs.iter().flatten() {
            if !session.outputs().iter().any(|o| o.name() == name) {
                return Err(VisionError::WrongModel(format!(
                    "the detector has no output {name:?} (not a YuNet graph)"
                )));
            }
        }
        if !session.inputs().iter().any(|i| i.name() == input_name) {
            return Err(VisionError::WrongModel(format!(
                "the detector has no input {input_name:?}"
            )));
        }
        Ok(Detector {
            session,
            input_name,
            size,
            input: vec![0.0; 3 * (size * size) as usize],
            score_threshold,
            nms_iou,
            bgr,
            outputs,
            post_ms: 0.0,
            columns: Vec::with_capacity(size as usize),
        })
    }

    /// The square input size the detector runs at.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Letterboxes `img` into the input tensor (top-left, zero padding, bilinear with edge-clamped
    /// coordinates); returns the scale from source to input pixels. Column taps are computed once
    /// per frame into a reused buffer, row taps once per row.
    pub(crate) fn prepare(&mut self, img: &Rgb) -> f32 {
        let s = self.size as usize;
        let scale = (self.size as f32 / img.width as f32).min(self.size as f32 / img.height as f32);
        let rw = ((img.width as f32 * scale).round() as usize).min(s);
        let rh = ((img.height as f32 * scale).round() as usize).min(s);
        self.input.fill(0.0);
        let plane = s * s;
        let inv = 1.0 / scale;
        let (w, h) = (img.width as usize, img.height as usize);
        let tap = |d: usize, n: usize| {
            let v = ((d as f32 + 0.5) * inv - 0.5).clamp(0.0, (n - 1) as f32);
            let i0 = v as usize;
            (i0, (i0 + 1).min(n - 1), v - i0 as f32)
        };
        self.columns.clear();
        self.columns.extend((0..rw).map(|x| tap(x, w)));
        let order = if self.bgr { [2usize, 1, 0] } else { [0, 1, 2] };
        let data = &img.data;
        for y in 0..rh {
            let (y0, y1, fy) = tap(y, h);
            let (r0, r1) = (y0 * w * 3, y1 * w * 3);
            for (x, &(x0, x1, fx)) in self.columns.iter().enumerate() {
                let i = y * s + x;
                for (c, &src) in order.iter().enumerate() {
                    let at = |r: usize, xx: usize| data[r + xx * 3 + src] as f32;
                    let top = at(r0, x0) * (1.0 - fx) + at(r0, x1) * fx;
                    let bot = at(r1, x0) * (1.0 - fx) + at(r1, x1) * fx;
                    self.input[c * plane + i] = top * (1.0 - fy) + bot * fy;
                }
            }
        }
        scale
    }

    /// Runs the model on the prepared input and decodes every face above the score threshold,
    /// overlaps suppressed, largest first, in source coordinates.
    pub(crate) fn run(&mut self, scale: f32) -> Result<Vec<Detection>, VisionError> {
        let s = self.size as usize;
        let tensor = TensorRef::from_array_view(([1usize, 3, s, s], self.input.as_slice()))
            .map_err(VisionError::runtime)?;
        let out = self
            .session
            .run(ort::inputs![self.input_name.as_str() => tensor])
            .map_err(VisionError::runtime)?;
        let t = std::time::Instant::now();
        let mut found = Vec::new();
        for (si, &stride) in STRIDES.iter().enumerate() {
            let cells = (s / stride as usize) * (s / stride as usize);
            let grid = s / stride as usize;
            let get = |k: usize| -> Result<&[f32], VisionError> {
                let (_, data) = out[self.outputs[si][k].as_str()]
                    .try_extract_tensor::<f32>()
                    .map_err(VisionError::runtime)?;
                let per = [1, 1, 4, 10][k];
                if data.len() != cells * per {
                    return Err(VisionError::WrongModel(format!(
                        "output {} has {} values, {} expected at input {s}",
                        self.outputs[si][k],
                        data.len(),
                        cells * per
                    )));
                }
                Ok(data)
            };
            let (cls, obj, bbox, kps) = (get(0)?, get(1)?, get(2)?, get(3)?);
            let st = stride as f32;
            for i in 0..cells {
                let score = (cls[i].clamp(0.0, 1.0) * obj[i].clamp(0.0, 1.0)).sqrt();
                if score < self.score_threshold {
                    continue;
                }
                let (row, col) = ((i / grid) as f32, (i % grid) as f32);
                let b = &bbox[i * 4..i * 4 + 4];
                let cx = (col + b[0]) * st;
                let cy = (row + b[1]) * st;
                let w = b[2].exp() * st;
                let h = b[3].exp() * st;
                let k = &kps[i * 10..i * 10 + 10];
                let mut landmarks = [[0.0f32; 2]; 5];
                for (j, l) in landmarks.iter_mut().enumerate() {
                    *l = [
                        (k[2 * j] + col) * st / scale,
                        (k[2 * j + 1] + row) * st / scale,
                    ];
                }
                found.push(Detection {
                    bbox: [
                        (cx - w / 2.0) / scale,
                        (cy - h / 2.0) / scale,
                        w / scale,
                        h / scale,
                    ],
                    landmarks,
                    score,
                });
            }
        }
        let kept = nms(found, self.nms_iou);
        self.post_ms = t.elapsed().as_secs_f64() * 1e3;
        Ok(kept)
    }
}

/// Greedy non-maximum suppression by score; the survivors are returned largest box first.
pub fn nms(mut dets: Vec<Detection>, iou: f32) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut keep: Vec<Detection> = Vec::with_capacity(dets.len().min(16));
    for d in dets {
        if keep.iter().all(|k| k.iou(&d) <= iou) {
            keep.push(d);
        }
    }
    keep.sort_by(|a, b| b.area().total_cmp(&a.area()));
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, score: f32, side: f32) -> Detection {
        Detection {
            bbox: [x, 0.0, side, side],
            landmarks: [[0.0; 2]; 5],
            score,
        }
    }

    #[test]
    fn nms_keeps_the_best_of_overlaps_and_orders_by_size() {
        let out = nms(
            vec![
                det(0.0, 0.8, 10.0),
                det(1.0, 0.9, 10.0),
                det(50.0, 0.7, 20.0),
            ],
            0.3,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].bbox[0], 50.0);
        assert_eq!(out[1].score, 0.9);
    }
}
