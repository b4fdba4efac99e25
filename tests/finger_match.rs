//! The matcher: invariance to rigid transforms and resolution, robustness to synthetic distortion,
//! kernels that agree with the scalar reference.

mod common;
use common::finger::{load, read};

use edgeid::finger::calibration::threshold_for_fmr;
use edgeid::finger::codec::{parse, Format};
use edgeid::finger::synth::{self, rigid, synthesize, SynthParams};
use edgeid::finger::{compare, FingerTemplate};
use edgeid::kernels::popcnt;

fn templates(db: u32) -> Vec<FingerTemplate> {
    load("mindtct", db).into_iter().map(|r| r.t).collect()
}

#[test]
fn a_template_matches_its_rigid_transforms() {
    let t4 = threshold_for_fmr(1e-4);
    for db in 1..=4 {
        for t in templates(db).iter().step_by(9) {
            let a = t.as_ref();
            let own = compare(&a, &a);
            assert!(
                own > t4,
                "self score {own} below the FMR-1e-4 threshold {t4}"
            );
            for (k, ang) in [0.1f32, 0.7, 1.9, 3.0, -2.2, 4.4].into_iter().enumerate() {
                let b = FingerTemplate::from_points(&rigid(
                    a.points(),
                    ang,
                    60.0 * k as f32 - 150.0,
                    31.0,
                ));
                let s = compare(&a, &b.as_ref());
                assert!(s >= 0.9 * own, "DB{db} rotation {ang}: {s} vs own {own}");
                assert!(s > t4);
            }
        }
    }
}

#[test]
fn distorted_impressions_still_match() {
    let t4 = threshold_for_fmr(1e-4);
    let p = SynthParams::default();
    let mut above = 0;
    let mut n = 0;
    for db in 1..=4 {
        for (i, t) in templates(db).iter().enumerate().step_by(4) {
            // The synthesiser takes its own generator (finger::synth::Rng).
            let mut rng = synth::Rng::new(i as u64 + 1000 * u64::from(db));
            let b = FingerTemplate::from_points(&synthesize(t.as_ref().points(), &mut rng, &p));
            n += 1;
            if compare(&t.as_ref(), &b.as_ref()) > t4 {
                above += 1;
            }
        }
    }
    assert!(
        above * 100 >= n * 95,
        "{above} of {n} distorted impressions above the threshold"
    );
}

#[test]
fn resolution_and_format_do_not_change_the_match() {
    let b = read("fvc2002/DB1_B/mindtct/101_1.iso");
    let r = parse(&b).unwrap();
    let t = FingerTemplate::from_record(&r, 0).unwrap();
    let own = compare(&t.as_ref(), &t.as_ref());
    // The same minutiae at twice the resolution.
    let mut r2 = r.clone();
    let v = &mut r2.views[0];
    v.x_res *= 2;
    v.y_res *= 2;
    v.width *= 2;
    v.height *= 2;
    for m in &mut v.minutiae {
        m.x *= 2;
        m.y *= 2;
    }
    let t2 = FingerTemplate::from_record(&r2, 0).unwrap();
    assert!((compare(&t.as_ref(), &t2.as_ref()) - own).abs() <= 0.05 * own);
    // ANSI (2-degree angles), ISO 2011 and the card formats.
    for f in [
        Format::Ansi2004,
        Format::Iso2011,
        Format::IsoCardNormal,
        Format::IsoCardCompact,
    ] {
        let c = r.convert(f).unwrap();
        let tc = FingerTemplate::from_record(&c, 0).unwrap();
        let s = compare(&t.as_ref(), &tc.as_ref());
        assert!(s >= 0.6 * own, "{f}: {s} vs own {own}");
        assert!(s > threshold_for_fmr(1e-4), "{f}: {s}");
    }
}

#[test]
fn scores_are_deterministic_and_bounded() {
    let t = templates(3);
    for a in t.iter().step_by(7) {
        for b in t.iter().step_by(5) {
            let s = compare(&a.as_ref(), &b.as_ref());
            assert!((0.0..=1.0).contains(&s));
            assert_eq!(s.to_bits(), compare(&a.as_ref(), &b.as_ref()).to_bits());
        }
    }
    // An empty template matches nothing.
    let empty = FingerTemplate::from_points(&[]);
    assert_eq!(compare(&empty.as_ref(), &t[0].as_ref()), 0.0);
    assert_eq!(compare(&t[0].as_ref(), &empty.as_ref()), 0.0);
}

#[test]
fn every_kernel_agrees_with_scalar() {
    let t = templates(2);
    let (a, b) = (t[0].as_ref(), t[13].as_ref());
    let idx: Vec<u8> = (0..b.n_cyl() as u8).collect();
    let kernels = popcnt::available();
    let mut reference = vec![popcnt::Counts::default(); idx.len()];
    let scalar = kernels.last().unwrap();
    assert_eq!(scalar.0, "scalar");
    for i in 0..a.n_cyl() {
        let w = edgeid::finger::mcc::CYL_WORDS;
        let ca = &a.cylinders()[i * w..(i + 1) * w];
        (scalar.1)(ca, b.cylinders(), &idx, &mut reference);
        for (name, k) in &kernels {
            let mut out = vec![popcnt::Counts::default(); idx.len()];
            k(ca, b.cylinders(), &idx, &mut out);
            assert_eq!(out, reference, "kernel {name}");
        }
    }
    // Extreme and random words: full cylinders (the largest counts), empty ones, random bits.
    let w = edgeid::finger::mcc::CYL_WORDS;
    let mut rng = common::Rng(0x9e37_79b9_7f4a_7c15);
    let mut next = || rng.next_u64();
    let mut words = vec![u64::MAX; w];
    words.extend(vec![0u64; w]);
    words.extend((0..6 * w).map(|_| next()));
    // A cylinder with an all-ones mask and random values, one with random values and a full mask.
    words.extend((0..w).map(|k| if k < w - 8 { next() } else { u64::MAX }));
    let n = words.len() / w;
    // A cylinder stores its section mask repeated to 8 words.
    let (vw, wps) = (edgeid::finger::mcc::VAL_WORDS, edgeid::finger::mcc::WPS);
    for c in words.chunks_mut(w) {
        for k in wps..8 {
            c[vw + k] = c[vw + k % wps];
        }
    }
    let idx: Vec<u8> = (0..n as u8).collect();
    let mut reference = vec![popcnt::Counts::default(); n];
    for i in 0..n {
        let ca = &words[i * w..(i + 1) * w];
        (scalar.1)(ca, &words, &idx, &mut reference);
        for (name, k) in &kernels {
            let mut out = vec![popcnt::Counts::default(); n];
            k(ca, &words, &idx, &mut out);
            assert_eq!(out, reference, "kernel {name} on synthetic words, row {i}");
        }
    }
    // The weighted prefilter kernels too.
    let mut freq = edgeid::finger::prefilter::Frequencies::default();
    for x in &t {
        freq.update(x.as_ref().summary(), true);
    }
    let w = edgeid::finger::prefilter::Weights::new(a.summary(), &freq);
    let all = popcnt::weighted_available();
    for x in &t {
        let r = (all.last().unwrap().1)(x.as_ref().summary(), &w);
        for (name, k) in &all {
            assert_eq!(k(x.as_ref().summary(), &w), r, "{name}");
        }
    }
}
