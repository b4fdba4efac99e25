//! ISO/IEC 19794-2 card formats: headerless minutiae, normal (5 bytes, 0.01 mm) and compact
//! (3 bytes, 0.1 mm, 5.625° angles). Layout table: [`super`].

use super::bits::push_minutia;
use super::{err, Format, FormatError, Minutia, MinutiaKind, Record, View};

pub(super) fn parse_card(b: &[u8], format: Format) -> Result<Record, FormatError> {
    let size = if format == Format::IsoCardNormal {
        5
    } else {
        3
    };
    if !b.len().is_multiple_of(size) {
        return err(format!(
            "{format} data is {} bytes, not a multiple of the {size}-byte minutia",
            b.len()
        ));
    }
    if b.len() / size > 255 {
        return err(format!(
            "{format} data holds {} minutiae, more than 255",
            b.len() / size
        ));
    }
    let mut minutiae = Vec::with_capacity(b.len() / size);
    for (i, c) in b.chunks_exact(size).enumerate() {
        let at = i * size;
        let m = if size == 5 {
            let a = u16::from_be_bytes([c[0], c[1]]);
            let yb = u16::from_be_bytes([c[2], c[3]]);
            if yb >> 14 != 0 {
                return err(format!(
                    "minutia at offset {at}: reserved bits above y are {:02b}, expected 00",
                    yb >> 14
                ));
            }
            Minutia {
                x: a & 0x3fff,
                y: yb,
                angle: c[4],
                kind: MinutiaKind::from_code((a >> 14) as u8, at)?,
                quality: 0,
            }
        } else {
            Minutia {
                x: u16::from(c[0]),
                y: u16::from(c[1]),
                angle: c[2] & 0x3f,
                kind: MinutiaKind::from_code(c[2] >> 6, at)?,
                quality: 0,
            }
        };
        minutiae.push(m);
    }
    let mut view = View::new(0, 0, 0);
    view.minutiae = minutiae;
    Ok(Record {
        format,
        cbeff_product: 0,
        capture_equipment: 0,
        certification_flag: false,
        views: vec![view],
        warnings: Vec::new(),
    })
}

impl Record {
    pub(super) fn encode_card(&self) -> Result<Vec<u8>, FormatError> {
        if self.views.len() != 1 {
            return err(format!(
                "{} holds exactly one view, the record has {}",
                self.format,
                self.views.len()
            ));
        }
        let v = &self.views[0];
        self.check_view_common(0, v)?;
        let mut out = Vec::new();
        for (i, m) in v.minutiae.iter().enumerate() {
            if self.format == Format::IsoCardNormal {
                let mut tmp = Vec::with_capacity(6);
                push_minutia(&mut tmp, m, false);
                out.extend_from_slice(&tmp);
            } else {
                if m.x > 255 || m.y > 255 {
                    return err(format!(
                        "minutia {i}: ({}, {}) beyond the compact card range 0..=255 (25.5 mm)",
                        m.x, m.y
                    ));
                }
                out.extend_from_slice(&[m.x as u8, m.y as u8, (m.kind.code() << 6) | m.angle]);
            }
        }
        Ok(out)
    }
}
