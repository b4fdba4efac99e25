//! ISO/IEC 19794-2:2011 records: representations with their own headers (capture time, device,
//! quality and certification blocks) and 5- or 6-byte minutiae. Layout table: [`super`].

use super::bits::{check_res, length_mismatch, push_minutia, read_extended, read_minutia, Rd};
use super::{err, Format, FormatError, Mode, Record, Repr2011, View};

pub(super) fn parse_2011(b: &[u8], mode: Mode) -> Result<Record, FormatError> {
    let mut r = Rd { b, pos: 0 };
    let magic = r.take(4, "format identifier")?;
    if magic != b"FMR\0" {
        return err(format!(
            "format identifier is {magic:02x?}, expected \"FMR\\0\""
        ));
    }
    let v = r.take(4, "version")?;
    if v != b"030\0" {
        return err(format!(
            "version is {v:02x?}, expected \"030\\0\" for ISO 19794-2:2011"
        ));
    }
    let declared = r.u32("record length")? as usize;
    if declared < 15 {
        return err(format!(
            "header declares {declared} bytes, less than the 15-byte header"
        ));
    }
    if declared > b.len() {
        return err(format!(
            "truncated: header declares {declared} bytes but only {} are present",
            b.len()
        ));
    }
    let nrep = r.u16("number of finger representations")?;
    let cert = r.u8("certification flag")?;
    if cert > 1 {
        return err(format!("certification flag is {cert}, expected 0 or 1"));
    }
    let mut warnings = Vec::new();
    let mut views = Vec::new();
    for ri in 0..nrep {
        let start = r.pos;
        let rep_len = r.u32("representation length")? as usize;
        if rep_len > b.len() - start {
            return err(format!(
                "truncated: representation {ri} at offset {start} declares {rep_len} bytes, only {} left",
                b.len() - start
            ));
        }
        let mut x = Repr2011::default();
        x.capture_time
            .copy_from_slice(r.take(9, "capture date and time")?);
        x.device_technology = r.u8("capture device technology")?;
        x.device_vendor = r.u16("capture device vendor")?;
        x.device_type = r.u16("capture device type")?;
        let nq = r.u8("number of quality blocks")?;
        for _ in 0..nq {
            let q = r.u8("quality score")?;
            if q > 100 && q != 255 {
                return err(format!(
                    "representation {ri}: quality score {q} out of range 0..=100 (or 255)"
                ));
            }
            let vendor = r.u16("quality algorithm vendor")?;
            let alg = r.u16("quality algorithm")?;
            x.quality_blocks.push((q, vendor, alg));
        }
        if cert == 1 {
            let nc = r.u8("number of certification blocks")?;
            for _ in 0..nc {
                let auth = r.u16("certification authority")?;
                let scheme = r.u8("certification scheme")?;
                x.certification_blocks.push((auth, scheme));
            }
        }
        let position = r.u8("finger position")?;
        if position > 10 && !(13..=15).contains(&position) && !(40..=50).contains(&position) {
            return err(format!(
                "representation {ri}: finger position {position} is not a defined code"
            ));
        }
        let view_number = r.u8("representation number")?;
        let res_at = r.pos;
        let x_res = r.u16("x sampling rate")?;
        let y_res = r.u16("y sampling rate")?;
        check_res(x_res, y_res, res_at)?;
        let impression = r.u8("impression type")?;
        let width = r.u16("image width")?;
        let height = r.u16("image height")?;
        let fl = r.u8("minutia field length and ridge ending type")?;
        x.minutia_field_length = fl >> 4;
        x.ridge_ending_type = fl & 0x0f;
        if x.minutia_field_length != 5 && x.minutia_field_length != 6 {
            return err(format!(
                "representation {ri}: minutia field length {} (expected 5 or 6)",
                x.minutia_field_length
            ));
        }
        if x.ridge_ending_type > 1 {
            return err(format!(
                "representation {ri}: ridge ending type {} (expected 0 or 1)",
                x.ridge_ending_type
            ));
        }
        let count = usize::from(r.u8("number of minutiae")?);
        let fl = usize::from(x.minutia_field_length);
        if r.b.len() - r.pos < count * fl + 2 {
            return err(format!(
                "truncated: representation {ri} declares {count} minutiae of {fl} bytes at offset {}, only {} bytes left",
                r.pos,
                r.b.len() - r.pos
            ));
        }
        let mut minutiae = Vec::with_capacity(count);
        for _ in 0..count {
            minutiae.push(read_minutia(
                &mut r,
                Format::Iso2011,
                fl == 6,
                mode,
                &mut warnings,
            )?);
        }
        let extended = read_extended(&mut r)?;
        if r.pos - start != rep_len {
            return err(format!(
                "representation {ri} at offset {start} declares {rep_len} bytes but its content is {} bytes",
                r.pos - start
            ));
        }
        views.push(View {
            position,
            view_number,
            impression,
            quality: x.quality_blocks.first().map_or(0, |q| q.0.min(100)),
            width,
            height,
            x_res,
            y_res,
            minutiae,
            extended,
            iso2011: Some(x),
        });
    }
    length_mismatch(declared, r.pos, b.len(), mode, &mut warnings)?;
    Ok(Record {
        format: Format::Iso2011,
        cbeff_product: 0,
        capture_equipment: 0,
        certification_flag: cert == 1,
        views,
        warnings,
    })
}

impl Record {
    pub(super) fn encode_2011(&self) -> Result<Vec<u8>, FormatError> {
        if self.views.len() > 0xffff {
            return err(format!(
                "{} representations; at most 65535",
                self.views.len()
            ));
        }
        let mut out = Vec::new();
        out.extend_from_slice(b"FMR\0");
        out.extend_from_slice(b"030\0");
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(self.views.len() as u16).to_be_bytes());
        out.push(u8::from(self.certification_flag));
        for (vi, v) in self.views.iter().enumerate() {
            self.check_view_common(vi, v)?;
            check_res(v.x_res, v.y_res, 0)?;
            let x = v.iso2011.clone().unwrap_or(Repr2011 {
                ridge_ending_type: 1,
                minutia_field_length: 6,
                ..Repr2011::default()
            });
            if x.minutia_field_length != 5 && x.minutia_field_length != 6 {
                return err(format!(
                    "view {vi}: minutia field length {} (expected 5 or 6)",
                    x.minutia_field_length
                ));
            }
            if x.quality_blocks.len() > 255 || x.certification_blocks.len() > 255 {
                return err(format!(
                    "view {vi}: more than 255 quality or certification blocks"
                ));
            }
            if !self.certification_flag && !x.certification_blocks.is_empty() {
                return err(format!(
                    "view {vi} has certification blocks but the record's certification flag is 0"
                ));
            }
            let start = out.len();
            out.extend_from_slice(&[0; 4]);
            out.extend_from_slice(&x.capture_time);
            out.push(x.device_technology);
            out.extend_from_slice(&x.device_vendor.to_be_bytes());
            out.extend_from_slice(&x.device_type.to_be_bytes());
            out.push(x.quality_blocks.len() as u8);
            for (q, vendor, alg) in &x.quality_blocks {
                out.push(*q);
                out.extend_from_slice(&vendor.to_be_bytes());
                out.extend_from_slice(&alg.to_be_bytes());
            }
            if self.certification_flag {
                out.push(x.certification_blocks.len() as u8);
                for (auth, scheme) in &x.certification_blocks {
                    out.extend_from_slice(&auth.to_be_bytes());
                    out.push(*scheme);
                }
            }
            out.push(v.position);
            out.push(v.view_number);
            out.extend_from_slice(&v.x_res.to_be_bytes());
            out.extend_from_slice(&v.y_res.to_be_bytes());
            out.push(v.impression);
            out.extend_from_slice(&v.width.to_be_bytes());
            out.extend_from_slice(&v.height.to_be_bytes());
            out.push((x.minutia_field_length << 4) | (x.ridge_ending_type & 0x0f));
            out.push(v.minutiae.len() as u8);
            for m in &v.minutiae {
                if m.quality > 100 && m.quality < 254 {
                    return err(format!(
                        "view {vi}: minutia quality {} out of range 0..=100, 254, 255",
                        m.quality
                    ));
                }
                push_minutia(&mut out, m, x.minutia_field_length == 6);
            }
            out.extend_from_slice(&(v.extended.len() as u16).to_be_bytes());
            out.extend_from_slice(&v.extended);
            let len = (out.len() - start) as u32;
            out[start..start + 4].copy_from_slice(&len.to_be_bytes());
        }
        let total = out.len() as u32;
        out[8..12].copy_from_slice(&total.to_be_bytes());
        Ok(out)
    }
}
