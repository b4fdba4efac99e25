//! The bit reading and writing shared by every format: a bounds-checked big-endian reader whose
//! errors name the field and offset, the extended-data block check, the 6-byte minutia, and the
//! record-length check of strict and lenient parsing.

use super::{err, Format, FormatError, Minutia, MinutiaKind, Mode};

/// Bounds-checked big-endian reader whose errors name the field and offset.
pub(super) struct Rd<'a> {
    pub(super) b: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Rd<'a> {
    pub(super) fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], FormatError> {
        let left = self.b.len() - self.pos;
        if n > left {
            return err(format!(
                "truncated: {what} needs {n} bytes at offset {}, only {left} left (data is {} bytes)",
                self.pos,
                self.b.len()
            ));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub(super) fn u8(&mut self, what: &str) -> Result<u8, FormatError> {
        Ok(self.take(1, what)?[0])
    }
    pub(super) fn u16(&mut self, what: &str) -> Result<u16, FormatError> {
        let s = self.take(2, what)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    pub(super) fn u32(&mut self, what: &str) -> Result<u32, FormatError> {
        let s = self.take(4, what)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
}

pub(super) fn split_blocks(area: &[u8], base: usize) -> Result<Vec<(u16, &[u8])>, FormatError> {
    let mut out = Vec::new();
    let mut p = 0;
    while p < area.len() {
        if area.len() - p < 4 {
            return err(format!(
                "extended data block at offset {}: {} bytes left, a block header needs 4",
                base + p,
                area.len() - p
            ));
        }
        let ty = u16::from_be_bytes([area[p], area[p + 1]]);
        let len = usize::from(u16::from_be_bytes([area[p + 2], area[p + 3]]));
        if len < 4 || len > area.len() - p {
            return err(format!(
                "extended data block at offset {} (type 0x{ty:04x}) declares {len} bytes, but 4..={} are possible",
                base + p,
                area.len() - p
            ));
        }
        out.push((ty, &area[p + 4..p + len]));
        p += len;
    }
    Ok(out)
}

pub(super) fn check_res(x: u16, y: u16, at: usize) -> Result<(), FormatError> {
    if x == 0 || y == 0 {
        return err(format!(
            "zero resolution at offset {at}: {x}x{y} px/cm (a record's coordinates need a non-zero resolution)"
        ));
    }
    Ok(())
}

pub(super) fn read_minutia(
    r: &mut Rd<'_>,
    format: Format,
    with_quality: bool,
    mode: Mode,
    warnings: &mut Vec<String>,
) -> Result<Minutia, FormatError> {
    let at = r.pos;
    let a = r.u16("minutia type and x")?;
    let b = r.u16("minutia y")?;
    let angle = r.u8("minutia angle")?;
    let quality = if with_quality {
        r.u8("minutia quality")?
    } else {
        0
    };
    let kind = MinutiaKind::from_code((a >> 14) as u8, at)?;
    if b >> 14 != 0 {
        let msg = format!(
            "minutia at offset {at}: reserved bits above y are {:02b}, expected 00",
            b >> 14
        );
        if mode == Mode::Strict {
            return err(msg);
        }
        warnings.push(msg);
    }
    if format == Format::Ansi2004 && angle > 179 {
        return err(format!(
            "minutia at offset {at}: ANSI angle code {angle} out of range 0..=179 (2-degree units)"
        ));
    }
    let q_ok = quality <= 100 || (format == Format::Iso2011 && quality >= 254);
    if !q_ok {
        return err(format!(
            "minutia at offset {at}: quality {quality} out of range 0..=100"
        ));
    }
    Ok(Minutia {
        x: a & 0x3fff,
        y: b & 0x3fff,
        angle,
        kind,
        quality,
    })
}

pub(super) fn read_extended(r: &mut Rd<'_>) -> Result<Vec<u8>, FormatError> {
    let len = usize::from(r.u16("extended data length")?);
    let base = r.pos;
    let area = r.take(len, "extended data")?;
    split_blocks(area, base)?;
    Ok(area.to_vec())
}

pub(super) fn length_mismatch(
    declared: usize,
    content_end: usize,
    total: usize,
    mode: Mode,
    warnings: &mut Vec<String>,
) -> Result<(), FormatError> {
    if declared == content_end && total == content_end {
        return Ok(());
    }
    let msg = if declared != content_end {
        format!(
            "header declares {declared} bytes but the record's content ends at byte {content_end} (data is {total} bytes)"
        )
    } else {
        format!(
            "{} trailing bytes after the {declared}-byte record",
            total - content_end
        )
    };
    match mode {
        Mode::Strict => err(msg),
        Mode::Lenient => {
            warnings.push(msg);
            Ok(())
        }
    }
}

pub(super) fn push_minutia(out: &mut Vec<u8>, m: &Minutia, quality: bool) {
    out.extend_from_slice(&((u16::from(m.kind.code()) << 14) | m.x).to_be_bytes());
    out.extend_from_slice(&m.y.to_be_bytes());
    out.push(m.angle);
    if quality {
        out.push(m.quality);
    }
}
