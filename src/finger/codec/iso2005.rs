//! ISO/IEC 19794-2:2005 and ANSI/INCITS 378-2004 records: one layout, which differs in the record
//! length field (u32, or u16 / 0 + u32 for ANSI), the CBEFF product id ANSI adds to the header, and
//! the angle unit (360/256° or 2°). Layout table: [`super`].

use super::bits::{check_res, length_mismatch, push_minutia, read_extended, read_minutia, Rd};
use super::{err, Format, FormatError, Mode, Record, View};

pub(super) fn parse_2005(b: &[u8], format: Format, mode: Mode) -> Result<Record, FormatError> {
    let mut r = Rd { b, pos: 0 };
    let magic = r.take(4, "format identifier")?;
    if magic != b"FMR\0" {
        return err(format!(
            "format identifier is {magic:02x?}, expected \"FMR\\0\""
        ));
    }
    let v = r.take(4, "version")?;
    if v != b" 20\0" {
        return err(format!(
            "version is {v:02x?}, expected \" 20\\0\" for {format}"
        ));
    }
    let declared = if format == Format::Ansi2004 {
        let l = r.u16("record length")?;
        if l == 0 {
            r.u32("extended record length")? as usize
        } else {
            usize::from(l)
        }
    } else {
        r.u32("record length")? as usize
    };
    let min_header = if format == Format::Ansi2004 { 26 } else { 24 };
    if declared < min_header {
        return err(format!(
            "header declares {declared} bytes, less than the {min_header}-byte header"
        ));
    }
    if declared > b.len() {
        return err(format!(
            "truncated: header declares {declared} bytes but only {} are present",
            b.len()
        ));
    }
    let cbeff_product = if format == Format::Ansi2004 {
        r.u32("CBEFF product identifier")?
    } else {
        0
    };
    let capture_equipment = r.u16("capture equipment")?;
    let width = r.u16("image width")?;
    let height = r.u16("image height")?;
    let res_at = r.pos;
    let x_res = r.u16("x resolution")?;
    let y_res = r.u16("y resolution")?;
    check_res(x_res, y_res, res_at)?;
    let nviews = r.u8("number of views")?;
    let _reserved = r.u8("reserved byte")?;
    let mut warnings = Vec::new();
    let mut views = Vec::with_capacity(usize::from(nviews));
    for vi in 0..nviews {
        let position = r.u8("finger position")?;
        if position > 10 {
            return err(format!(
                "view {vi}: finger position {position} out of range 0..=10"
            ));
        }
        let vn = r.u8("view number and impression type")?;
        let quality = r.u8("finger quality")?;
        if quality > 100 {
            return err(format!(
                "view {vi}: finger quality {quality} out of range 0..=100"
            ));
        }
        let count = usize::from(r.u8("number of minutiae")?);
        let need = count * 6 + 2;
        if r.b.len() - r.pos < need {
            return err(format!(
                "truncated: view {vi} declares {count} minutiae ({} bytes + 2 for the extended data length) at offset {}, only {} bytes left",
                count * 6,
                r.pos,
                r.b.len() - r.pos
            ));
        }
        let mut minutiae = Vec::with_capacity(count);
        for _ in 0..count {
            minutiae.push(read_minutia(&mut r, format, true, mode, &mut warnings)?);
        }
        let extended = read_extended(&mut r)?;
        views.push(View {
            position,
            view_number: vn >> 4,
            impression: vn & 0x0f,
            quality,
            width,
            height,
            x_res,
            y_res,
            minutiae,
            extended,
            iso2011: None,
        });
    }
    length_mismatch(declared, r.pos, b.len(), mode, &mut warnings)?;
    Ok(Record {
        format,
        cbeff_product,
        capture_equipment,
        certification_flag: false,
        views,
        warnings,
    })
}

impl Record {
    pub(super) fn encode_2005(&self) -> Result<Vec<u8>, FormatError> {
        let ansi = self.format == Format::Ansi2004;
        if self.views.len() > 255 {
            return err(format!("{} views; at most 255", self.views.len()));
        }
        let first = self.views.first();
        let (w, h, xr, yr) =
            first.map_or((0, 0, 197, 197), |v| (v.width, v.height, v.x_res, v.y_res));
        check_res(xr, yr, 0)?;
        let mut body = Vec::new();
        for (vi, v) in self.views.iter().enumerate() {
            self.check_view_common(vi, v)?;
            if (v.width, v.height, v.x_res, v.y_res) != (w, h, xr, yr) {
                return err(format!(
                    "view {vi} has another image size or resolution than view 0; {} keeps one per record",
                    self.format
                ));
            }
            if v.position > 10 || v.view_number > 15 || v.impression > 15 || v.quality > 100 {
                return err(format!(
                    "view {vi}: position {}, view number {}, impression {} or quality {} out of range",
                    v.position, v.view_number, v.impression, v.quality
                ));
            }
            body.extend_from_slice(&[
                v.position,
                (v.view_number << 4) | v.impression,
                v.quality,
                v.minutiae.len() as u8,
            ]);
            for m in &v.minutiae {
                if m.quality > 100 {
                    return err(format!(
                        "view {vi}: minutia quality {} out of range 0..=100",
                        m.quality
                    ));
                }
                push_minutia(&mut body, m, true);
            }
            body.extend_from_slice(&(v.extended.len() as u16).to_be_bytes());
            body.extend_from_slice(&v.extended);
        }
        let header_len = if ansi { 26 } else { 24 };
        let mut total = header_len + body.len();
        let mut out = Vec::with_capacity(total + 4);
        out.extend_from_slice(b"FMR\0 20\0");
        if ansi {
            if total <= 0xffff {
                out.extend_from_slice(&(total as u16).to_be_bytes());
            } else {
                total += 4;
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&(total as u32).to_be_bytes());
            }
            out.extend_from_slice(&self.cbeff_product.to_be_bytes());
        } else {
            out.extend_from_slice(&(total as u32).to_be_bytes());
        }
        out.extend_from_slice(&self.capture_equipment.to_be_bytes());
        for f in [w, h, xr, yr] {
            out.extend_from_slice(&f.to_be_bytes());
        }
        out.push(self.views.len() as u8);
        out.push(0);
        out.extend_from_slice(&body);
        debug_assert_eq!(out.len(), total);
        Ok(out)
    }
}
