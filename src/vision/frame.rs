//! Frames: what a camera or a file delivers, turned into one packed 8-bit RGB image that the
//! detector and the aligner both sample from.
//!
//! Encoded files (JPEG, PNG) are decoded with `image`; their header is read first and an image
//! larger than [`MAX_PIXELS`] is refused before any pixel buffer is allocated. Raw frames (RGB, BGR,
//! grey, NV12) come with a stride, as camera drivers hand them out, and are converted into a buffer
//! the caller reuses.

use std::io::Cursor;

use super::VisionError;

/// Largest image accepted, in pixels (8192 x 8192 = 64 Mpx, 192 MiB as RGB).
pub const MAX_PIXELS: u64 = 8192 * 8192;
/// Largest side accepted, in pixels.
pub const MAX_SIDE: u32 = 16384;

/// Pixel format of a raw frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// 3 bytes per pixel: red, green, blue.
    Rgb8,
    /// 3 bytes per pixel: blue, green, red.
    Bgr8,
    /// 1 byte per pixel: luma.
    Gray8,
    /// 4:2:0 YUV, a full-resolution Y plane (`stride` bytes per row) followed by an interleaved
    /// U/V plane of `height / 2` rows (same stride); BT.601 limited range.
    Nv12,
}

impl PixelFormat {
    /// Bytes per pixel of the first plane.
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            PixelFormat::Rgb8 | PixelFormat::Bgr8 => 3,
            PixelFormat::Gray8 | PixelFormat::Nv12 => 1,
        }
    }
}

/// A raw frame borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub struct FrameRef<'a> {
    /// Pixel bytes (for NV12: both planes, the UV plane right after `height` rows of Y).
    pub data: &'a [u8],
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes from the start of one row to the start of the next.
    pub stride: usize,
    /// Pixel format.
    pub format: PixelFormat,
}

/// A packed 8-bit RGB image (`width * height * 3` bytes, no padding).
#[derive(Debug, Clone, Default)]
pub struct Rgb {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Pixels, row by row, R G B.
    pub data: Vec<u8>,
}

impl Rgb {
    /// Converts a raw frame into this buffer (reusing its allocation).
    pub fn set_from_frame(&mut self, f: &FrameRef<'_>) -> Result<(), VisionError> {
        check_size(f.width, f.height)?;
        let (w, h) = (f.width as usize, f.height as usize);
        let row = w * f.format.bytes_per_pixel();
        if f.stride < row {
            return Err(VisionError::BadFrame(format!(
                "stride {} is less than width x bytes per pixel = {row}",
                f.stride
            )));
        }
        if f.format == PixelFormat::Nv12 && (w % 2 != 0 || h % 2 != 0) {
            return Err(VisionError::BadFrame(
                "NV12 needs an even width and height".into(),
            ));
        }
        let rows = if f.format == PixelFormat::Nv12 {
            h + h / 2
        } else {
            h
        };
        let need = f.stride * (rows - 1) + row;
        if f.data.len() < need {
            return Err(VisionError::BadFrame(format!(
                "{} bytes given, a {w}x{h} {:?} frame with stride {} needs {need}",
                f.data.len(),
                f.format,
                f.stride
            )));
        }
        self.width = f.width;
        self.height = f.height;
        self.data.clear();
        self.data.resize(w * h * 3, 0);
        for y in 0..h {
            let src = &f.data[y * f.stride..y * f.stride + row];
            let dst = &mut self.data[y * w * 3..(y + 1) * w * 3];
            match f.format {
                PixelFormat::Rgb8 => dst.copy_from_slice(src),
                PixelFormat::Bgr8 => {
                    for (d, s) in dst.chunks_exact_mut(3).zip(src.chunks_exact(3)) {
                        d.copy_from_slice(&[s[2], s[1], s[0]]);
                    }
                }
                PixelFormat::Gray8 => {
                    for (d, &s) in dst.chunks_exact_mut(3).zip(src) {
                        d.copy_from_slice(&[s, s, s]);
                    }
                }
                PixelFormat::Nv12 => {
                    let uv0 = (h + y / 2) * f.stride;
                    let uv = &f.data[uv0..uv0 + w];
                    for (x, d) in dst.chunks_exact_mut(3).enumerate() {
                        let c = (src[x] as f32 - 16.0) * 1.164;
                        let u = uv[x & !1] as f32 - 128.0;
                        let v = uv[(x & !1) + 1] as f32 - 128.0;
                        d[0] = clamp_u8(c + 1.596 * v);
                        d[1] = clamp_u8(c - 0.392 * u - 0.813 * v);
                        d[2] = clamp_u8(c + 2.017 * u);
                    }
                }
            }
        }
        Ok(())
    }

    /// Decodes a JPEG or PNG file's bytes into this buffer. The header is read first: an image
    /// above [`MAX_PIXELS`] or [`MAX_SIDE`] is refused before its pixels are allocated.
    pub fn set_from_encoded(&mut self, bytes: &[u8]) -> Result<(), VisionError> {
        if bytes.is_empty() {
            return Err(VisionError::Decode("the file is empty".into()));
        }
        let reader = image::ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| VisionError::Decode(e.to_string()))?;
        match reader.format() {
            None => {
                return Err(VisionError::Decode(
                    "not a JPEG or PNG file (unknown signature)".into(),
                ))
            }
            // The JPEG decoder fills a cut-off scan with grey instead of failing: a file that does
            // not end with the end-of-image marker (trailing zero padding allowed) is refused.
            Some(image::ImageFormat::Jpeg) => {
                let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                if end < 4 || bytes[end - 2..end] != [0xFF, 0xD9] {
                    return Err(VisionError::Decode(
                        "truncated JPEG (no end-of-image marker)".into(),
                    ));
                }
            }
            Some(_) => {}
        }
        let (w, h) = reader
            .into_dimensions()
            .map_err(|e| VisionError::Decode(format!("unreadable header: {e}")))?;
        check_size(w, h)?;
        let mut reader = image::ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| VisionError::Decode(e.to_string()))?;
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(MAX_SIDE);
        limits.max_image_height = Some(MAX_SIDE);
        limits.max_alloc = Some(MAX_PIXELS * 4 + (1 << 20));
        reader.limits(limits);
        let img = reader
            .decode()
            .map_err(|e| VisionError::Decode(e.to_string()))?;
        let rgb = img.into_rgb8();
        self.width = rgb.width();
        self.height = rgb.height();
        self.data = rgb.into_raw();
        Ok(())
    }

    /// Samples channel `c` at a real position with bilinear interpolation; 0 outside the image
    /// (pixel centres at integer coordinates).
    #[inline]
    pub(crate) fn bilinear(&self, x: f32, y: f32, out: &mut [f32; 3]) {
        let (w, h) = (self.width as i64, self.height as i64);
        let x0f = x.floor();
        let y0f = y.floor();
        let (fx, fy) = (x - x0f, y - y0f);
        let (x0, y0) = (x0f as i64, y0f as i64);
        *out = [0.0; 3];
        let taps = [
            (x0, y0, (1.0 - fx) * (1.0 - fy)),
            (x0 + 1, y0, fx * (1.0 - fy)),
            (x0, y0 + 1, (1.0 - fx) * fy),
            (x0 + 1, y0 + 1, fx * fy),
        ];
        for (tx, ty, wgt) in taps {
            if tx >= 0 && ty >= 0 && tx < w && ty < h {
                let i = ((ty * w + tx) * 3) as usize;
                out[0] += wgt * self.data[i] as f32;
                out[1] += wgt * self.data[i + 1] as f32;
                out[2] += wgt * self.data[i + 2] as f32;
            }
        }
    }
}

fn clamp_u8(v: f32) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

fn check_size(w: u32, h: u32) -> Result<(), VisionError> {
    if w < 2 || h < 2 {
        return Err(VisionError::TooSmall {
            width: w,
            height: h,
        });
    }
    if w > MAX_SIDE || h > MAX_SIDE || w as u64 * h as u64 > MAX_PIXELS {
        return Err(VisionError::TooLarge {
            width: w,
            height: h,
            max_pixels: MAX_PIXELS,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_formats_agree() {
        let (w, h) = (4u32, 2u32);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 7) as u8).collect();
        let mut bgr_padded = vec![0u8; 16 * h as usize];
        for y in 0..h as usize {
            for x in 0..w as usize {
                let s = &rgb[(y * w as usize + x) * 3..][..3];
                bgr_padded[y * 16 + x * 3..][..3].copy_from_slice(&[s[2], s[1], s[0]]);
            }
        }
        let mut a = Rgb::default();
        a.set_from_frame(&FrameRef {
            data: &rgb,
            width: w,
            height: h,
            stride: 12,
            format: PixelFormat::Rgb8,
        })
        .unwrap();
        let mut b = Rgb::default();
        b.set_from_frame(&FrameRef {
            data: &bgr_padded,
            width: w,
            height: h,
            stride: 16,
            format: PixelFormat::Bgr8,
        })
        .unwrap();
        assert_eq!(a.data, rgb);
        assert_eq!(b.data, rgb);
        // NV12 of mid-grey is grey.
        let nv12 = [[126u8; 8].as_slice(), &[128u8; 4]].concat();
        let mut c = Rgb::default();
        c.set_from_frame(&FrameRef {
            data: &nv12,
            width: 4,
            height: 2,
            stride: 4,
            format: PixelFormat::Nv12,
        })
        .unwrap();
        assert!(c.data.iter().all(|&v| v == c.data[0]));
        // Short buffers and small strides are refused.
        let short = FrameRef {
            data: &rgb[..20],
            width: w,
            height: h,
            stride: 12,
            format: PixelFormat::Rgb8,
        };
        assert!(matches!(
            a.set_from_frame(&short),
            Err(VisionError::BadFrame(_))
        ));
        let thin = FrameRef {
            data: &rgb,
            width: w,
            height: h,
            stride: 11,
            format: PixelFormat::Rgb8,
        };
        assert!(matches!(
            a.set_from_frame(&thin),
            Err(VisionError::BadFrame(_))
        ));
    }
}
