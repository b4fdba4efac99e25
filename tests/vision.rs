//! Face images to templates on the 15 test photos (`testdata/face/`): every face found, genuine
//! pairs above and impostor pairs below the descriptor's threshold, rank-1 right, embeddings equal
//! to the Python onnxruntime reference (`testdata/face/reference.json`, made by
//! `scripts/vision-reference.py`); and bad input refused with a clear error, never a panic.
#![cfg(feature = "vision")]

mod vision_common;

use edgeid::vision::{cosine, ExtractorConfig, FrameRef, PixelFormat, VisionError};
use vision_common::{extractor, photos, root};

#[test]
fn every_face_found_genuine_above_impostor_below_rank1_right() {
    let Some(mut ex) = extractor() else { return };
    let threshold = ex.recogniser().default_threshold;
    let ph = photos();
    assert_eq!(ph.len(), 15);
    let mut embs = Vec::new();
    for (name, _, bytes) in &ph {
        let t = ex.extract_encoded(bytes).unwrap();
        assert!(t.detection.is_some(), "{name}: no face found");
        assert_eq!(t.quality.faces, 1, "{name}: {:?}", t.quality);
        assert!(t.quality.passed, "{name}: {:?}", t.quality);
        assert_eq!(t.embedding.len(), 512);
        let n: f32 = t.embedding.iter().map(|v| v * v).sum();
        assert!((n - 1.0).abs() < 1e-4);
        embs.push(t.embedding);
    }
    let (mut gmin, mut imax) = (f32::INFINITY, f32::NEG_INFINITY);
    for i in 0..ph.len() {
        let mut best = (f32::NEG_INFINITY, 0);
        for j in 0..ph.len() {
            if i == j {
                continue;
            }
            let s = cosine(&embs[i], &embs[j]);
            if ph[i].1 == ph[j].1 {
                gmin = gmin.min(s);
                assert!(
                    s >= threshold,
                    "{} ~ {}: genuine {s} below {threshold}",
                    ph[i].0,
                    ph[j].0
                );
            } else {
                imax = imax.max(s);
                assert!(
                    s < threshold,
                    "{} ~ {}: impostor {s} above {threshold}",
                    ph[i].0,
                    ph[j].0
                );
            }
            if s > best.0 {
                best = (s, j);
            }
        }
        // lin has one photo: its best match is an impostor, below the threshold (checked above).
        if ph.iter().filter(|p| p.1 == ph[i].1).count() > 1 {
            assert_eq!(
                ph[best.1].1, ph[i].1,
                "rank-1 of {} is {}",
                ph[i].0, ph[best.1].0
            );
        }
    }
    eprintln!("genuine min {gmin:.3}, impostor max {imax:.3}, threshold {threshold}");
}

#[test]
fn embeddings_equal_the_python_reference() {
    let Some(mut ex) = extractor() else { return };
    let text = std::fs::read(root().join("testdata/face/reference.json")).unwrap();
    let reference: serde_json::Value = serde_json::from_slice(&text).unwrap();
    assert_eq!(
        reference["detector_size"].as_u64(),
        Some(ex.detector_size() as u64)
    );
    // Regenerating the reference: the pixels this decoder made, for scripts/vision-reference.py.
    if let Some(dir) = std::env::var_os("EDGEID_DUMP_DECODED") {
        for (name, _, bytes) in photos() {
            let (w, h, rgb) = image_rgb(&bytes);
            let mut ppm = format!("P6\n{w} {h}\n255\n").into_bytes();
            ppm.extend_from_slice(&rgb);
            std::fs::write(std::path::Path::new(&dir).join(format!("{name}.ppm")), ppm).unwrap();
        }
        return;
    }
    let (mut worst, mut worst_pillow) = (1.0f32, 1.0f32);
    for (name, _, bytes) in photos() {
        let t = ex.extract_encoded(&bytes).unwrap();
        let r: Vec<f32> = reference["faces"][&name]["embedding"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} missing from reference.json"))
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let c = cosine(&t.embedding, &r);
        worst = worst.min(c);
        let p: Vec<f32> = reference["faces"][&name]["embedding_pillow"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let cp = cosine(&t.embedding, &p);
        worst_pillow = worst_pillow.min(cp);
        eprintln!("{name}: cosine {c:.6} (same pixels), {cp:.6} (Pillow's JPEG decoding)");
    }
    eprintln!("lowest cosine with the Python reference: {worst:.6}; from Pillow's pixels {worst_pillow:.6}");
    assert!(worst >= 0.999, "cosine {worst} with the Python reference");
    // Two JPEG decoders differ by a level or two per sample; that alone moves an embedding by ~1e-3.
    assert!(
        worst_pillow >= 0.998,
        "cosine {worst_pillow} with the Python reference on Pillow's pixels"
    );
}

#[test]
fn bad_input_is_refused_with_a_clear_error() {
    let Some(mut ex) = extractor() else { return };
    let ph = photos();
    let jpeg = &ph[0].2;
    let err = |r: Result<_, VisionError>| r.map(|_| ()).unwrap_err().to_string();
    assert!(err(ex.extract_encoded(b"")).contains("empty"));
    assert!(err(ex.extract_encoded(b"hello, not an image")).contains("not a JPEG or PNG"));
    let cut = ex
        .extract_encoded(&jpeg[..jpeg.len() / 3])
        .map(|t| t.detection.is_some());
    assert!(
        cut.is_err(),
        "a truncated JPEG must be refused, got {cut:?}"
    );
    assert!(err(ex.extract_encoded(&png(1, 1, &[0, 0, 0]))).contains("too small"));
    // A 20000x20000 PNG header (no pixel data): refused from the header, before any allocation.
    let mut huge = png_header(20000, 20000);
    chunk(
        &mut huge,
        b"IDAT",
        &[0x78, 0x01, 0x01, 0x00, 0x00, 0xff, 0xff, 0, 0, 0, 1],
    );
    chunk(&mut huge, b"IEND", &[]);
    let e = err(ex.extract_encoded(&huge));
    assert!(e.contains("20000x20000"), "{e}");
    // A grey image has no face: an answer, not an error.
    let grey = png(64, 64, &vec![128u8; 64 * 64 * 3]);
    let t = ex.extract_encoded(&grey).unwrap();
    assert!(t.detection.is_none() && t.embedding.is_empty());
    assert_eq!(t.quality.reasons, vec!["no_face"]);
    // Raw frames: a short buffer, a stride below the row.
    let e = ex.extract_frame(&FrameRef {
        data: &[0; 10],
        width: 4,
        height: 4,
        stride: 12,
        format: PixelFormat::Rgb8,
    });
    assert!(err(e).contains("bad frame"));
}

#[test]
fn a_photo_as_a_raw_grey_frame_still_finds_the_face() {
    let Some(mut ex) = extractor() else { return };
    let ph = photos();
    let img = image_rgb(&ph[9].2);
    let (w, h) = (img.0, img.1);
    let stride = w as usize + 7;
    let mut grey = vec![0u8; stride * h as usize];
    for y in 0..h as usize {
        for x in 0..w as usize {
            let p = &img.2[(y * w as usize + x) * 3..][..3];
            grey[y * stride + x] =
                ((p[0] as u32 * 299 + p[1] as u32 * 587 + p[2] as u32 * 114) / 1000) as u8;
        }
    }
    let t = ex
        .extract_frame(&FrameRef {
            data: &grey,
            width: w,
            height: h,
            stride,
            format: PixelFormat::Gray8,
        })
        .unwrap();
    assert!(
        t.detection.is_some(),
        "{}: no face in the grey frame",
        ph[9].0
    );
    let colour = ex.extract_encoded(&ph[9].2).unwrap();
    assert!(cosine(&t.embedding, &colour.embedding) > 0.8);
}

#[test]
fn wrong_model_file_and_missing_runtime_are_clear_errors() {
    if vision_common::setup().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A descriptor whose file is not an ONNX model, with the right checksum for it.
    let bogus = b"this is not an onnx model";
    std::fs::write(dir.path().join("bogus.onnx"), bogus).unwrap();
    let mut d: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root().join("models/w600k_mbf.json")).unwrap())
            .unwrap();
    d["file"] = "bogus.onnx".into();
    d["sha256"] = sha256_hex(bogus).into();
    std::fs::write(dir.path().join("rec.json"), serde_json::to_vec(&d).unwrap()).unwrap();
    let mut cfg = ExtractorConfig::reference(&root().join("models"));
    cfg.recogniser = dir.path().join("rec.json");
    let e = edgeid::vision::Extractor::new(&cfg).err().unwrap();
    assert!(matches!(e, VisionError::WrongModel(_)), "{e}");
    // The same descriptor with the real model's checksum: the file is refused by its sha256.
    d["sha256"] = "9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f".into();
    std::fs::write(dir.path().join("rec.json"), serde_json::to_vec(&d).unwrap()).unwrap();
    let e = edgeid::vision::Extractor::new(&cfg).err().unwrap();
    assert!(e.to_string().contains("wrong or damaged model file"), "{e}");
    // The detector where the recogniser belongs: refused by kind.
    cfg.recogniser = root().join("models/yunet.json");
    assert!(edgeid::vision::Extractor::new(&cfg).is_err());
    // A runtime path that does not exist: refused before anything is loaded (in a child process,
    // as a process loads one runtime).
    let mut cfg = ExtractorConfig::reference(&root().join("models"));
    cfg.runtime.library = Some(dir.path().join("libonnxruntime.so.missing"));
    if edgeid::vision::runtime::environment(None).is_ok() {
        let e = edgeid::vision::Extractor::new(&cfg).err().unwrap();
        assert!(
            e.to_string().contains("already loaded") || e.to_string().contains("not found"),
            "{e}"
        );
    }
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn image_rgb(jpeg: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut r = edgeid::vision::Rgb::default();
    r.set_from_encoded(jpeg).unwrap();
    (r.width, r.height, r.data)
}

/// A PNG of RGB pixels (stored, uncompressed zlib blocks).
fn png(w: u32, h: u32, rgb: &[u8]) -> Vec<u8> {
    let mut raw = Vec::new();
    for y in 0..h as usize {
        raw.push(0u8);
        raw.extend_from_slice(&rgb[y * w as usize * 3..(y + 1) * w as usize * 3]);
    }
    let mut z = vec![0x78, 0x01];
    for (i, block) in raw.chunks(65535).enumerate() {
        let last = (i + 1) * 65535 >= raw.len();
        z.push(last as u8);
        z.extend_from_slice(&(block.len() as u16).to_le_bytes());
        z.extend_from_slice(&(!(block.len() as u16)).to_le_bytes());
        z.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &x in &raw {
        a = (a + x as u32) % 65521;
        b = (b + a) % 65521;
    }
    z.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut out = png_header(w, h);
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = 0xffff_ffffu32;
    for &byte in kind.iter().chain(data) {
        crc ^= byte as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    out.extend_from_slice(&(!crc).to_be_bytes());
}
