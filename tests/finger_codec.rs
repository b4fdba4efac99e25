//! Finger minutiae codecs: every format read and written, the standards' annex examples, round trips,
//! unit conversions, and every refusal (never a panic).

mod common;
use common::finger::{fvc_dir, read};
use common::Rng;

use std::path::PathBuf;

use edgeid::finger::codec::{
    detect, parse, parse_with, AngleUnit, Format, Minutia, MinutiaKind, Mode, Record, View,
};
use edgeid::finger::{FingerTemplate, TemplateRef};

fn all_record_files() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for db in 1..=4 {
        for set in ["mindtct", "secugen"] {
            for e in std::fs::read_dir(fvc_dir(set, db)).unwrap() {
                v.push(e.unwrap().path());
            }
        }
    }
    v.sort();
    v
}

const ISO_ANNEX: &str = "standard-examples/ISO-19794-2_2005_Appendix-C2_Example.raw";
const ANSI_ANNEX: &str = "standard-examples/ANSI-INCITS-378_2004_Appendix-B2_Example.raw";

fn err_of(b: &[u8], f: Option<Format>, mode: Mode) -> String {
    parse_with(b, f, mode).unwrap_err().to_string()
}

#[test]
fn detects_formats() {
    assert_eq!(detect(&read(ISO_ANNEX)).unwrap(), Format::Iso2005);
    assert_eq!(detect(&read(ANSI_ANNEX)).unwrap(), Format::Ansi2004);
    assert_eq!(
        detect(&read("fvc2002/DB1_B/mindtct/101_1.iso")).unwrap(),
        Format::Iso2005
    );
    let v2011 = Record::single(Format::Iso2011, View::new(300, 400, 197))
        .encode()
        .unwrap();
    assert_eq!(detect(&v2011).unwrap(), Format::Iso2011);
    assert!(detect(b"FMR\0")
        .unwrap_err()
        .to_string()
        .contains("too short"));
    assert!(detect(b"XYZ\0 20\0\0\0\0\0\0\0")
        .unwrap_err()
        .to_string()
        .contains("not a finger minutiae record"));
    assert!(detect(b"FMR\0 99\0\0\0\0\0\0\0")
        .unwrap_err()
        .to_string()
        .contains("not supported"));
    for f in Format::ALL {
        assert_eq!(Format::from_name(f.name()), Some(f));
    }
}

#[test]
fn iso_annex_example_is_refused_strictly_and_read_leniently() {
    let b = read(ISO_ANNEX);
    assert_eq!(b.len(), 341);
    let e = parse(&b).unwrap_err().to_string();
    assert!(e.contains("declares 340 bytes") && e.contains("341"), "{e}");
    let r = parse_with(&b, None, Mode::Lenient).unwrap();
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert!(r.warnings[0].contains("340"));
    assert_eq!(r.format, Format::Iso2005);
    assert_eq!(r.views.len(), 2);
    let (v0, v1) = (&r.views[0], &r.views[1]);
    assert_eq!(
        (v0.width, v0.height, v0.x_res, v0.y_res),
        (512, 512, 197, 197)
    );
    assert_eq!((v0.position, v0.quality, v0.minutiae.len()), (7, 90, 27));
    assert_eq!((v1.position, v1.quality, v1.minutiae.len()), (2, 70, 22));
    assert_eq!(
        v0.minutiae[0],
        Minutia {
            x: 100,
            y: 14,
            angle: 80,
            kind: MinutiaKind::RidgeEnding,
            quality: 90
        }
    );
    assert!(v0.extended.is_empty());
    let blocks = v1.extended_blocks().unwrap();
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].0, 0x0001, "ridge count data");
    assert_eq!(blocks[0].1, &[1, 1, 0x14, 0x0c, 5, 7, 5]);
    // Re-encoding writes a consistent 341-byte record that strict parsing accepts.
    let fixed = r.encode().unwrap();
    assert_eq!(fixed.len(), 341);
    assert_eq!(&fixed[8..12], &341u32.to_be_bytes());
    assert_eq!(&fixed[12..], &b[12..]);
    let again = parse(&fixed).unwrap();
    assert_eq!(again.views, r.views);
}

#[test]
fn ansi_annex_example_matches_iso() {
    let a = parse(&read(ANSI_ANNEX)).unwrap();
    assert!(a.warnings.is_empty());
    assert_eq!(a.format, Format::Ansi2004);
    assert_eq!(a.cbeff_product, 0x0042_0011);
    let i = parse_with(&read(ISO_ANNEX), None, Mode::Lenient).unwrap();
    assert_eq!(a.views.len(), i.views.len());
    for (va, vi) in a.views.iter().zip(&i.views) {
        let na = va.normalized(Format::Ansi2004).unwrap();
        let ni = vi.normalized(Format::Iso2005).unwrap();
        assert_eq!(na.len(), ni.len());
        for (x, y) in na.iter().zip(&ni) {
            assert_eq!(
                (x.x_mm, x.y_mm, x.kind, x.quality),
                (y.x_mm, y.y_mm, y.kind, y.quality)
            );
            let d = (x.angle - y.angle).abs().to_degrees();
            // Both quantisations: 1 degree (ANSI) + 0.7 degree (ISO).
            assert!(d.min(360.0 - d) <= 1.71, "{} vs {}", x.angle, y.angle);
        }
        assert_eq!(va.extended, vi.extended);
    }
    // ANSI angle 56 (2-degree units) is ISO 80 (1.40625-degree units): 112 and 112.5 degrees.
    assert_eq!(a.views[0].minutiae[0].angle, 56);
    assert_eq!(a.encode().unwrap(), read(ANSI_ANNEX));
}

#[test]
fn real_records_round_trip_byte_for_byte() {
    let files = all_record_files();
    assert_eq!(files.len(), 640);
    for f in files {
        let b = std::fs::read(&f).unwrap();
        let r = parse(&b).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert_eq!(r.encode().unwrap(), b, "{}", f.display());
    }
}

#[test]
fn conversions_between_formats() {
    let b = read("fvc2002/DB1_B/mindtct/101_1.iso");
    let iso = parse(&b).unwrap();
    let base = iso.views[0].normalized(Format::Iso2005).unwrap();
    // ISO 2011 keeps everything (6-byte minutiae with quality) and round-trips.
    let r11 = iso.convert(Format::Iso2011).unwrap();
    let e11 = r11.encode().unwrap();
    let p11 = parse(&e11).unwrap();
    assert_eq!(p11.format, Format::Iso2011);
    assert_eq!(p11.encode().unwrap(), e11);
    assert_eq!(p11.views[0].minutiae, iso.views[0].minutiae);
    assert_eq!(p11.convert(Format::Iso2005).unwrap().encode().unwrap(), b);
    // ANSI: angles to 2 degrees.
    let ansi = iso.convert(Format::Ansi2004).unwrap();
    let ea = ansi.encode().unwrap();
    assert_eq!(detect(&ea).unwrap(), Format::Ansi2004);
    let na = parse(&ea).unwrap().views[0]
        .normalized(Format::Ansi2004)
        .unwrap();
    // Card formats: metric units.
    let normal = iso
        .convert(Format::IsoCardNormal)
        .unwrap()
        .encode()
        .unwrap();
    assert_eq!(normal.len(), 5 * base.len());
    let nn = parse_with(&normal, Some(Format::IsoCardNormal), Mode::Strict)
        .unwrap()
        .views[0]
        .normalized(Format::IsoCardNormal)
        .unwrap();
    let compact = iso
        .convert(Format::IsoCardCompact)
        .unwrap()
        .encode()
        .unwrap();
    assert_eq!(compact.len(), 3 * base.len());
    let nc = parse_with(&compact, Some(Format::IsoCardCompact), Mode::Strict)
        .unwrap()
        .views[0]
        .normalized(Format::IsoCardCompact)
        .unwrap();
    let ang = |a: f32, b: f32| {
        let d = (a - b).abs().to_degrees() % 360.0;
        d.min(360.0 - d)
    };
    for (i, m) in base.iter().enumerate() {
        assert!((na[i].x_mm - m.x_mm).abs() < 1e-6 && ang(na[i].angle, m.angle) <= 1.0 + 1e-3);
        assert!((nn[i].x_mm - m.x_mm).abs() <= 0.005 + 1e-6);
        assert!((nn[i].y_mm - m.y_mm).abs() <= 0.005 + 1e-6);
        assert!(ang(nn[i].angle, m.angle) < 1e-3);
        assert!((nc[i].x_mm - m.x_mm).abs() <= 0.05 + 1e-6);
        assert!((nc[i].y_mm - m.y_mm).abs() <= 0.05 + 1e-6);
        assert!(ang(nc[i].angle, m.angle) <= 5.625 / 2.0 + 1e-3);
        assert_eq!(nc[i].kind, m.kind);
    }
    // A card converted back to a record gets 500 dpi.
    let back = parse_with(&normal, Some(Format::IsoCardNormal), Mode::Strict)
        .unwrap()
        .convert(Format::Iso2005)
        .unwrap();
    assert_eq!(back.views[0].x_res, 197);
    // Unit conversions.
    assert_eq!(AngleUnit::Iso256.from_radians(std::f64::consts::PI), 128);
    assert_eq!(AngleUnit::Ansi2Deg.from_radians(std::f64::consts::PI), 90);
    assert_eq!(AngleUnit::Card64.from_radians(std::f64::consts::PI), 32);
    assert_eq!(AngleUnit::Card64.from_radians(-1e-9), 0);
    assert!((AngleUnit::Card64.to_radians(1).to_degrees() - 5.625).abs() < 1e-4);
}

#[test]
fn resolution_is_converted_to_millimetres() {
    let mut v = View::new(1000, 1000, 394);
    v.minutiae.push(Minutia {
        x: 394,
        y: 788,
        angle: 64,
        kind: MinutiaKind::Bifurcation,
        quality: 50,
    });
    v.y_res = 197;
    let n = v.normalized(Format::Iso2005).unwrap();
    assert!((n[0].x_mm - 10.0).abs() < 1e-5 && (n[0].y_mm - 40.0).abs() < 1e-5);
    assert!((n[0].angle.to_degrees() - 90.0).abs() < 1e-4);
}

#[test]
fn truncated_fixtures_are_refused() {
    for n in [1, 2, 3] {
        let name = format!(
            "invalid/101_1_truncate_{n}_byte{}.iso",
            if n == 1 { "" } else { "s" }
        );
        let b = read(&name);
        for mode in [Mode::Strict, Mode::Lenient] {
            let e = err_of(&b, None, mode);
            assert!(e.contains("truncated"), "{name}: {e}");
        }
    }
}

/// A small valid ISO 2005 record with one view of two minutiae and an extended data block.
fn small_iso() -> Vec<u8> {
    let mut v = View::new(300, 400, 197);
    v.position = 1;
    v.quality = 60;
    for (x, y) in [(10, 20), (30, 40)] {
        v.minutiae.push(Minutia {
            x,
            y,
            angle: 200,
            kind: MinutiaKind::RidgeEnding,
            quality: 40,
        });
    }
    v.extended = vec![0x01, 0x00, 0x00, 0x06, 0xAB, 0xCD];
    let b = Record::single(Format::Iso2005, v).encode().unwrap();
    assert_eq!(parse(&b).unwrap().encode().unwrap(), b);
    b
}

#[test]
fn every_malformation_is_refused_with_a_clear_error() {
    let good = small_iso();
    let refuse = |b: &[u8], f: Option<Format>, want: &str| {
        for mode in [Mode::Strict, Mode::Lenient] {
            let e = err_of(b, f, mode);
            assert!(e.contains(want), "expected {want:?} in {e:?}");
        }
    };
    // Every truncation.
    for n in 0..good.len() {
        assert!(parse_with(&good[..n], None, Mode::Lenient).is_err(), "{n}");
    }
    // Zero resolution.
    let mut b = good.clone();
    b[18..20].copy_from_slice(&[0, 0]);
    refuse(&b, None, "zero resolution");
    // Count beyond the data.
    let mut b = good.clone();
    b[27] = 40;
    refuse(&b, None, "declares 40 minutiae");
    // Declared length beyond the data.
    let mut b = good.clone();
    b[8..12].copy_from_slice(&1000u32.to_be_bytes());
    refuse(&b, None, "declares 1000 bytes");
    // Declared length shorter than the content: strict refuses, lenient warns.
    let mut b = good.clone();
    let l = b.len() as u32 - 1;
    b[8..12].copy_from_slice(&l.to_be_bytes());
    b.pop();
    assert!(parse(&b).is_err());
    // Trailing bytes: strict refuses, lenient warns.
    let mut b = good.clone();
    b.push(0);
    assert!(err_of(&b, None, Mode::Strict).contains("trailing"));
    assert_eq!(
        parse_with(&b, None, Mode::Lenient).unwrap().warnings.len(),
        1
    );
    // Reserved minutia type 3.
    let mut b = good.clone();
    b[28] |= 0xC0;
    refuse(&b, None, "type code 3");
    // Reserved bits above y: strict refuses, lenient warns.
    let mut b = good.clone();
    b[30] |= 0x40;
    assert!(err_of(&b, None, Mode::Strict).contains("reserved bits"));
    assert_eq!(
        parse_with(&b, None, Mode::Lenient).unwrap().warnings.len(),
        1
    );
    // Minutia quality above 100.
    let mut b = good.clone();
    b[33] = 101;
    refuse(&b, None, "quality 101");
    // Finger position out of range.
    let mut b = good.clone();
    b[24] = 11;
    refuse(&b, None, "finger position 11");
    // Extended data block shorter than its header / longer than the area.
    let mut b = good.clone();
    let n = b.len();
    b[n - 3] = 3;
    refuse(&b, None, "extended data block");
    let mut b = good.clone();
    b[n - 3] = 9;
    refuse(&b, None, "extended data block");
    // Extended data length beyond the record.
    let mut b = good.clone();
    b[n - 8] = 0x10;
    assert!(parse_with(&b, None, Mode::Lenient).is_err());
    // ANSI angle beyond 179.
    let mut a = read(ANSI_ANNEX);
    a[34] = 180;
    refuse(&a, None, "0..=179");
    // Card formats: sizes, type code 3, reserved bits.
    refuse(&[1, 2, 3, 4], Some(Format::IsoCardNormal), "not a multiple");
    refuse(
        &[1, 2, 3, 4],
        Some(Format::IsoCardCompact),
        "not a multiple",
    );
    refuse(&[1, 2, 0xC5], Some(Format::IsoCardCompact), "type code 3");
    refuse(
        &[0, 1, 0x40, 2, 3],
        Some(Format::IsoCardNormal),
        "reserved bits",
    );
    refuse(
        &vec![0u8; 3 * 256],
        Some(Format::IsoCardCompact),
        "more than 255",
    );
    // Prepared templates refuse a record without the view asked for.
    let r = parse(&good).unwrap();
    assert!(FingerTemplate::from_record(&r, 1)
        .unwrap_err()
        .to_string()
        .contains("view 1 requested"));
}

#[test]
fn iso2011_refusals() {
    let r = parse(&read("fvc2002/DB1_B/mindtct/101_1.iso")).unwrap();
    let good = r.convert(Format::Iso2011).unwrap().encode().unwrap();
    assert!(parse(&good).is_ok());
    for n in 0..good.len() {
        assert!(parse_with(&good[..n], None, Mode::Lenient).is_err(), "{n}");
    }
    // Certification flag 2.
    let mut b = good.clone();
    b[14] = 2;
    assert!(err_of(&b, None, Mode::Lenient).contains("certification flag"));
    // Representation length disagreeing with its content.
    let mut b = good.clone();
    let l = u32::from_be_bytes([b[15], b[16], b[17], b[18]]) - 1;
    b[15..19].copy_from_slice(&l.to_be_bytes());
    assert!(err_of(&b, None, Mode::Lenient).contains("representation 0"));
    // Minutia field length 7 (offset: 15 + 4 + 9 + 1 + 2 + 2 + 1 (no quality blocks) + 1 + 1 + 2 + 2 + 1 + 2 + 2).
    let mut b = good.clone();
    let fl = 15 + 4 + 9 + 1 + 2 + 2 + 1 + 1 + 1 + 2 + 2 + 1 + 2 + 2;
    assert_eq!(b[fl] >> 4, 6);
    b[fl] = 0x71;
    assert!(err_of(&b, None, Mode::Lenient).contains("minutia field length 7"));
    // Zero sampling rate.
    let mut b = good.clone();
    b[fl - 9..fl - 7].copy_from_slice(&[0, 0]);
    assert!(err_of(&b, None, Mode::Lenient).contains("zero resolution"));
    // 5-byte minutiae (no quality) round trip.
    let mut r5 = r.convert(Format::Iso2011).unwrap();
    r5.views[0].iso2011.as_mut().unwrap().minutia_field_length = 5;
    let e5 = r5.encode().unwrap();
    let p5 = parse(&e5).unwrap();
    assert!(p5.views[0].minutiae.iter().all(|m| m.quality == 0));
    assert_eq!(p5.encode().unwrap(), e5);
    // With quality and certification blocks.
    let mut rc = r.convert(Format::Iso2011).unwrap();
    rc.certification_flag = true;
    let x = rc.views[0].iso2011.as_mut().unwrap();
    x.quality_blocks.push((77, 0x0101, 2));
    x.certification_blocks.push((0x0203, 4));
    // A 2011 view's finger quality is its first quality block's score.
    rc.views[0].quality = 77;
    let ec = rc.encode().unwrap();
    let pc = parse(&ec).unwrap();
    assert_eq!(pc, rc);
}

#[test]
fn multiple_views_and_unencodable_records() {
    let mut r = parse_with(&read(ISO_ANNEX), None, Mode::Lenient).unwrap();
    r.warnings.clear();
    // Two views survive ANSI and 2011 and back.
    for f in [Format::Ansi2004, Format::Iso2011] {
        let c = r.convert(f).unwrap();
        let p = parse(&c.encode().unwrap()).unwrap();
        assert_eq!(p.views.len(), 2);
        assert_eq!(p.views[1].extended, r.views[1].extended);
    }
    // Card formats hold one view.
    assert!(r.convert(Format::IsoCardCompact).is_err());
    // A compact card cannot hold coordinates beyond 25.5 mm.
    let mut v = View::new(0, 0, 0);
    v.minutiae.push(Minutia {
        x: 300,
        y: 1,
        angle: 1,
        kind: MinutiaKind::Other,
        quality: 0,
    });
    assert!(Record::single(Format::IsoCardCompact, v).encode().is_err());
    // Views of different geometry cannot share a 2005 header.
    r.views[1].x_res = 100;
    assert!(r.encode().is_err());
}

/// Random mutations and truncations of real records: parsing, writing and preparing never panic.
#[test]
fn mutations_never_panic() {
    let mut seeds = vec![
        read(ISO_ANNEX),
        read(ANSI_ANNEX),
        read("fvc2002/DB2_B/mindtct/105_3.iso"),
        read("fvc2002/DB4_B/secugen/110_8.iso"),
    ];
    let r = parse(&seeds[2]).unwrap();
    seeds.push(r.convert(Format::Iso2011).unwrap().encode().unwrap());
    let mut rng = Rng(0x1234_5678_9abc_def0);
    let mut next = move || rng.next_u64();
    for seed in &seeds {
        for _ in 0..3000 {
            let mut b = seed.clone();
            let k = 1 + next() % 4;
            for _ in 0..k {
                let i = (next() % b.len() as u64) as usize;
                b[i] = next() as u8;
            }
            if next() % 4 == 0 {
                let n = (next() % b.len() as u64) as usize;
                b.truncate(n);
            }
            for f in [
                None,
                Some(Format::IsoCardNormal),
                Some(Format::IsoCardCompact),
            ] {
                for mode in [Mode::Strict, Mode::Lenient] {
                    if let Ok(r) = parse_with(&b, f, mode) {
                        let _ = r.encode();
                        for t in Format::ALL {
                            let _ = r.convert(t);
                        }
                        for vi in 0..r.views.len() {
                            if let Ok(t) = FingerTemplate::from_record(&r, vi) {
                                let _ = edgeid::finger::compare(&t.as_ref(), &t.as_ref());
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn prepared_templates_serialise_and_refuse_damage() {
    let t = FingerTemplate::from_record_bytes(&read("fvc2002/DB1_B/mindtct/101_1.iso")).unwrap();
    let bytes = t.as_bytes().to_vec();
    assert_eq!(bytes.len() % 8, 0);
    let back = FingerTemplate::from_bytes(&bytes).unwrap();
    assert_eq!(back, t);
    // Zero-copy view of aligned bytes; a misaligned slice is refused with a message.
    let words: Vec<u64> = bytes
        .chunks_exact(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
        .collect();
    let aligned: &[u8] = unsafe_free_bytes(&words);
    let r = TemplateRef::from_bytes(aligned).unwrap();
    assert_eq!(
        edgeid::finger::compare(&r, &t.as_ref()),
        edgeid::finger::compare(&t.as_ref(), &t.as_ref())
    );
    let mut shifted = vec![0u8; bytes.len() + 8];
    let off = if (shifted.as_ptr() as usize).is_multiple_of(8) {
        1
    } else {
        0
    };
    shifted[off..off + bytes.len()].copy_from_slice(&bytes);
    assert!(TemplateRef::from_bytes(&shifted[off..off + bytes.len()])
        .unwrap_err()
        .to_string()
        .contains("alignment"));
    // The copying reader accepts any alignment.
    assert!(FingerTemplate::from_bytes(&shifted[off..off + bytes.len()]).is_ok());
    // Damage.
    assert!(FingerTemplate::from_bytes(&bytes[..bytes.len() - 8]).is_err());
    assert!(FingerTemplate::from_bytes(&bytes[..12]).is_err());
    let mut b = bytes.clone();
    b[0] = b'X';
    assert!(FingerTemplate::from_bytes(&b)
        .unwrap_err()
        .to_string()
        .contains("magic"));
    let mut b = bytes.clone();
    b[4] = 9;
    assert!(FingerTemplate::from_bytes(&b)
        .unwrap_err()
        .to_string()
        .contains("version"));
    // Random byte damage: refused or comparable, never a panic.
    let mut rng = Rng(99);
    for _ in 0..2000 {
        let mut b = bytes.clone();
        let s = rng.next_u64();
        let i = (s >> 33) as usize % b.len();
        b[i] = (s >> 17) as u8;
        if let Ok(x) = FingerTemplate::from_bytes(&b) {
            let _ = edgeid::finger::compare(&x.as_ref(), &t.as_ref());
        }
    }
}

/// Bytes of a word slice without `unsafe` (via bytemuck).
fn unsafe_free_bytes(w: &[u64]) -> &[u8] {
    bytemuck::cast_slice(w)
}
