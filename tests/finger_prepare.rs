//! Template preparation is frozen: prepared templates are stored and compared with templates
//! prepared earlier (`finger::template::VERSION` says which preparation made them), so any change to
//! preparation must give byte-identical `FingerTemplate::as_bytes()`. These hashes were recorded
//! from the preparation of template version 2 before its speed work; a change that moves one bit
//! fails here and needs a new template version instead.

mod common;

use std::path::{Path, PathBuf};

use edgeid::finger::codec::{parse_with, Mode};
use edgeid::finger::synth::{rigid, synthesize, Rng, SynthParams};
use edgeid::finger::template::Point;
use edgeid::finger::FingerTemplate;
use sha2::{Digest, Sha256};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn hex(h: &[u8]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every view of every parseable record under `testdata/fingerprint/` (lenient, so the standards'
/// examples are included), in path order.
fn real_records() -> Vec<FingerTemplate> {
    let mut paths = Vec::new();
    files(&common::finger::data(), &mut paths);
    paths.sort();
    let mut out = Vec::new();
    for p in &paths {
        let bytes = std::fs::read(p).unwrap();
        let Ok(rec) = parse_with(&bytes, None, Mode::Lenient) else {
            continue;
        };
        for v in 0..rec.views.len() {
            out.push(FingerTemplate::from_record(&rec, v).unwrap());
        }
    }
    out
}

fn random_points(rng: &mut Rng, n: usize, spread: f32) -> Vec<Point> {
    (0..n)
        .map(|_| Point {
            x: rng.range(-spread, spread),
            y: rng.range(-spread, spread),
            angle: rng.below(65536) as u16,
            kind: rng.below(3) as u8,
            quality: rng.below(101) as u8,
        })
        .collect()
}

/// Seeded synthetic point sets: uniform clouds of every size (0 to past `MAX_MINUTIAE`), dense
/// clusters (many neighbours per cell), sparse sets (few valid cylinders), degenerate hulls
/// (duplicates, collinear points), and distorted or rigidly moved impressions of real templates.
fn synthetic(real: &[FingerTemplate]) -> Vec<FingerTemplate> {
    let mut rng = Rng::new(0x5EED_F1A6);
    let mut out = Vec::new();
    for n in 0..=80 {
        let pts = random_points(&mut rng, n, 180.0);
        out.push(FingerTemplate::from_points(&pts));
    }
    for n in [3usize, 8, 20, 40, 64] {
        for spread in [5.0f32, 20.0, 40.0, 400.0] {
            let pts = random_points(&mut rng, n, spread);
            out.push(FingerTemplate::from_points(&pts));
        }
    }
    // Duplicates and collinear points (hulls of fewer than three distinct points).
    for n in 2..12 {
        let p = random_points(&mut rng, 1, 100.0)[0];
        let same: Vec<Point> = (0..n)
            .map(|k| Point {
                angle: p.angle.wrapping_add(k as u16 * 997),
                ..p
            })
            .collect();
        out.push(FingerTemplate::from_points(&same));
        let line: Vec<Point> = (0..n)
            .map(|k| Point {
                x: p.x + 9.0 * k as f32,
                y: p.y - 4.5 * k as f32,
                angle: (k as u16).wrapping_mul(6007),
                ..p
            })
            .collect();
        out.push(FingerTemplate::from_points(&line));
    }
    let params = SynthParams::default();
    for (i, t) in real.iter().enumerate().step_by(5) {
        let pts = t.as_ref().points();
        out.push(FingerTemplate::from_points(&synthesize(
            pts, &mut rng, &params,
        )));
        let ang = rng.range(-7.0, 7.0);
        let (dx, dy) = (rng.range(-300.0, 300.0), rng.range(-300.0, 300.0));
        out.push(FingerTemplate::from_points(&rigid(pts, ang, dx, dy)));
        if i % 25 == 0 {
            // Half-pixel and exact-cell-boundary offsets.
            out.push(FingerTemplate::from_points(&rigid(pts, 0.0, 0.5, -4.375)));
        }
    }
    out
}

fn digest(t: &[FingerTemplate]) -> String {
    let mut h = Sha256::new();
    for t in t {
        h.update((t.as_bytes().len() as u64).to_le_bytes());
        h.update(t.as_bytes());
    }
    hex(&h.finalize())
}

/// Recorded from the preparation before its speed work (template version 2).
const REAL_COUNT: usize = 644;
const REAL_SHA256: &str = "4bd1345ccd5ab9744f94dd396bb03f744db3c545c46027c85664be199a765058";
const SYNTH_COUNT: usize = 405;
const SYNTH_SHA256: &str = "2e38af068d3aef9e1226626206ea2e2153f5bbf4a0ee20bae9b98b8e6cef6320";

#[test]
fn preparation_is_bit_identical_to_version_2() {
    let real = real_records();
    let syn = synthetic(&real);
    let (dr, ds) = (digest(&real), digest(&syn));
    eprintln!("real {} {dr}\nsynthetic {} {ds}", real.len(), syn.len());
    assert_eq!(real.len(), REAL_COUNT);
    assert_eq!(syn.len(), SYNTH_COUNT);
    assert_eq!(dr, REAL_SHA256, "real records: prepared bytes changed");
    assert_eq!(
        ds, SYNTH_SHA256,
        "synthetic point sets: prepared bytes changed"
    );
}
