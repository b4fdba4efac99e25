//! Finger minutiae record codecs: ISO/IEC 19794-2:2005, ANSI/INCITS 378-2004, ISO/IEC 19794-2:2011 and
//! the ISO/IEC 19794-2 card formats (normal 5-byte and compact 3-byte minutiae).
//!
//! A [`Record`] keeps every field in the units of the format it was read from (pixels at the record's
//! resolution, angles as the format's integer code), so reading and writing the same format is
//! lossless, byte for byte. [`Record::convert`] changes the format (and the units);
//! [`View::normalized`] gives millimetres and radians for the matcher.
//!
//! # Layouts (all integers big-endian)
//! | format | header | per view | minutia |
//! |---|---|---|---|
//! | ISO 2005 | `FMR\0`, ` 20\0`, length u32, equipment u16, width, height, x/y resolution (px/cm) u16, views u8, reserved u8 (24 bytes) | position, view/impression, quality, count (4 bytes) + minutiae + extended data | 6 bytes: type:2 x:14, reserved:2 y:14, angle (360/256°), quality |
//! | ANSI 378-2004 | as ISO 2005 but length u16 (or 0 + u32), CBEFF product id u32 before the equipment (26 or 30 bytes) | as ISO 2005 | as ISO 2005 but angle in 2° units (0..=179) |
//! | ISO 2011 | `FMR\0`, `030\0`, length u32, representations u16, certification flag u8 (15 bytes) | representation header with its own length, capture time, device, quality and certification blocks, position, resolution, image size, minutia field length (5/6) | 5 or 6 bytes as ISO 2005 (quality only in 6) |
//! | card normal | none | none | 5 bytes: type:2 x:14, reserved:2 y:14, angle (360/256°); x, y in 0.01 mm |
//! | card compact | none | none | 3 bytes: x, y (0.1 mm), type:2 angle:6 (360/64 = 5.625°) |
//!
//! Extended data (ISO 2005, ANSI, ISO 2011) is an area after each view's minutiae: a u16 total length
//! followed by blocks `type u16, length u16 (including these 4 bytes), data`. It is kept verbatim and its
//! block structure is checked, so a record is re-written unchanged; the matcher ignores it.
//!
//! # Strict and lenient parsing
//! Strict parsing refuses any disagreement between the declared record length and the data (the
//! ISO 19794-2:2005 Annex C2 example declares 340 bytes and holds 341). Lenient parsing accepts a
//! declared length that disagrees with a record whose content is otherwise complete, and trailing bytes,
//! and records a warning in [`Record::warnings`]. Both refuse truncated data, counts beyond the data,
//! zero resolutions and out-of-range codes, with a message naming the field and the byte offset.

use std::fmt;

mod bits;
mod card;
mod iso2005;
mod iso2011;

use bits::split_blocks;
use card::parse_card;
use iso2005::parse_2005;
use iso2011::parse_2011;

/// A template was refused: the message names the field, the offset and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FormatError(pub String);

impl From<FormatError> for crate::error::Error {
    fn from(e: FormatError) -> Self {
        crate::error::Error::Invalid(e.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, FormatError> {
    Err(FormatError(msg.into()))
}

/// The template formats edgeid reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// ISO/IEC 19794-2:2005 finger minutiae record (`FMR\0`, ` 20\0`).
    Iso2005,
    /// ANSI/INCITS 378-2004 finger minutiae record (`FMR\0`, ` 20\0`, CBEFF product id).
    Ansi2004,
    /// ISO/IEC 19794-2:2011 finger minutiae record (`FMR\0`, `030\0`).
    Iso2011,
    /// ISO/IEC 19794-2 card format, normal size: 5-byte minutiae in 0.01 mm, no header.
    IsoCardNormal,
    /// ISO/IEC 19794-2 card format, compact size: 3-byte minutiae in 0.1 mm, 5.625° angles, no header.
    IsoCardCompact,
}

impl Format {
    /// Every format, record formats first.
    pub const ALL: [Format; 5] = [
        Format::Iso2005,
        Format::Ansi2004,
        Format::Iso2011,
        Format::IsoCardNormal,
        Format::IsoCardCompact,
    ];

    /// A short stable name ("iso2005", "ansi378", "iso2011", "card-normal", "card-compact").
    pub fn name(self) -> &'static str {
        match self {
            Format::Iso2005 => "iso2005",
            Format::Ansi2004 => "ansi378",
            Format::Iso2011 => "iso2011",
            Format::IsoCardNormal => "card-normal",
            Format::IsoCardCompact => "card-compact",
        }
    }

    /// Parses [`Format::name`].
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The name used in synchronisation deltas and the catalog (`iso19794-2:2005`, `ansi378:2004`,
    /// `iso19794-2:2011`, `iso19794-2:card-normal`, `iso19794-2:card-compact`).
    pub fn standard_name(self) -> &'static str {
        match self {
            Format::Iso2005 => "iso19794-2:2005",
            Format::Ansi2004 => "ansi378:2004",
            Format::Iso2011 => "iso19794-2:2011",
            Format::IsoCardNormal => "iso19794-2:card-normal",
            Format::IsoCardCompact => "iso19794-2:card-compact",
        }
    }

    /// Parses [`Format::standard_name`].
    pub fn from_standard_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.standard_name() == name)
    }

    /// True for the card formats, which have no header and cannot be detected.
    pub fn is_card(self) -> bool {
        matches!(self, Format::IsoCardNormal | Format::IsoCardCompact)
    }

    /// The angle unit of this format.
    pub fn angle_unit(self) -> AngleUnit {
        match self {
            Format::Iso2005 | Format::Iso2011 | Format::IsoCardNormal => AngleUnit::Iso256,
            Format::Ansi2004 => AngleUnit::Ansi2Deg,
            Format::IsoCardCompact => AngleUnit::Card64,
        }
    }

    /// Micrometres per coordinate unit for the card formats (`None`: pixels at the view's resolution).
    pub fn card_micrometres(self) -> Option<u32> {
        match self {
            Format::IsoCardNormal => Some(10),
            Format::IsoCardCompact => Some(100),
            _ => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a format codes minutia directions (all counter-clockwise from the x axis, image y pointing down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AngleUnit {
    /// 360/256 degrees per unit, 0..=255 (ISO records, card normal).
    Iso256,
    /// 2 degrees per unit, 0..=179 (ANSI 378).
    Ansi2Deg,
    /// 360/64 = 5.625 degrees per unit, 0..=63 (card compact).
    Card64,
}

impl AngleUnit {
    /// Number of codes in a full turn.
    pub fn steps(self) -> u32 {
        match self {
            AngleUnit::Iso256 => 256,
            AngleUnit::Ansi2Deg => 180,
            AngleUnit::Card64 => 64,
        }
    }

    /// The code in radians.
    pub fn to_radians(self, code: u8) -> f32 {
        (f64::from(code) * std::f64::consts::TAU / f64::from(self.steps())) as f32
    }

    /// The nearest code of a direction in radians (any value; wrapped to one turn).
    pub fn from_radians(self, rad: f64) -> u8 {
        let steps = f64::from(self.steps());
        let c = (rad.rem_euclid(std::f64::consts::TAU) / std::f64::consts::TAU * steps).round();
        (c as u32 % self.steps()) as u8
    }
}

/// Minutia type, coded in 2 bits by every format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MinutiaKind {
    /// 00: other / unknown.
    Other,
    /// 01: ridge ending.
    RidgeEnding,
    /// 10: ridge bifurcation.
    Bifurcation,
}

impl MinutiaKind {
    fn code(self) -> u8 {
        match self {
            MinutiaKind::Other => 0,
            MinutiaKind::RidgeEnding => 1,
            MinutiaKind::Bifurcation => 2,
        }
    }

    fn from_code(c: u8, at: usize) -> Result<Self, FormatError> {
        match c {
            0 => Ok(MinutiaKind::Other),
            1 => Ok(MinutiaKind::RidgeEnding),
            2 => Ok(MinutiaKind::Bifurcation),
            _ => err(format!(
                "minutia at offset {at}: type code 3 is reserved (expected 0 other, 1 ridge ending, 2 bifurcation)"
            )),
        }
    }
}

/// One minutia in its format's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Minutia {
    /// x coordinate from the left (pixels, or the card format's metric unit).
    pub x: u16,
    /// y coordinate from the top (pixels, or the card format's metric unit).
    pub y: u16,
    /// Direction code in the format's [`AngleUnit`].
    pub angle: u8,
    /// Ridge ending, bifurcation or other.
    pub kind: MinutiaKind,
    /// Quality 0..=100 (0: not reported); ISO 2011 also 254 (not computed) and 255 (failed).
    pub quality: u8,
}

/// Fields of an ISO 19794-2:2011 finger representation that the 2005 formats do not have.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Repr2011 {
    /// Capture date and time as stored: year u16, month, day, hour, minute, second, millisecond u16.
    pub capture_time: [u8; 9],
    /// Capture device technology identifier.
    pub device_technology: u8,
    /// Capture device vendor identifier.
    pub device_vendor: u16,
    /// Capture device type identifier.
    pub device_type: u16,
    /// Quality blocks: (score, algorithm vendor id, algorithm id).
    pub quality_blocks: Vec<(u8, u16, u16)>,
    /// Certification blocks: (authority id, scheme id); present only with the record's certification flag.
    pub certification_blocks: Vec<(u16, u8)>,
    /// Ridge ending type (0: valley skeleton bifurcation point, 1: ridge skeleton end point).
    pub ridge_ending_type: u8,
    /// Minutia field length, 5 (no quality) or 6.
    pub minutia_field_length: u8,
}

/// One finger view (ISO 2005 / ANSI "finger view", ISO 2011 "finger representation").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// Finger position code (0 unknown, 1 right thumb, ... 10 left little).
    pub position: u8,
    /// View number (ISO 2005/ANSI: 0..=15) or representation number (ISO 2011).
    pub view_number: u8,
    /// Impression type code (0 live-scan plain, ...).
    pub impression: u8,
    /// Finger quality 0..=100 (ISO 2011: the first quality block's score, informative only).
    pub quality: u8,
    /// Image width in pixels (0 for card formats).
    pub width: u16,
    /// Image height in pixels (0 for card formats).
    pub height: u16,
    /// Horizontal resolution in pixels per centimetre (0 for card formats).
    pub x_res: u16,
    /// Vertical resolution in pixels per centimetre (0 for card formats).
    pub y_res: u16,
    /// The minutiae, in the record's order.
    pub minutiae: Vec<Minutia>,
    /// The extended data area verbatim (without its u16 length), empty if none.
    pub extended: Vec<u8>,
    /// ISO 2011 representation fields (`None` for the other formats).
    pub iso2011: Option<Repr2011>,
}

/// A minutia in common units: millimetres from the top-left corner (y down) and radians
/// counter-clockwise, whatever the format.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NormMinutia {
    /// x in millimetres.
    pub x_mm: f32,
    /// y in millimetres (downwards).
    pub y_mm: f32,
    /// Direction in radians, 0..2π, counter-clockwise as seen on the image.
    pub angle: f32,
    /// Type.
    pub kind: MinutiaKind,
    /// Quality 0..=100, 0 when unknown (ISO 2011's 254/255 become 0).
    pub quality: u8,
}

impl View {
    /// An empty view with the given geometry (a convenience for writers and tests).
    pub fn new(width: u16, height: u16, res_px_per_cm: u16) -> View {
        View {
            position: 0,
            view_number: 0,
            impression: 0,
            quality: 0,
            width,
            height,
            x_res: res_px_per_cm,
            y_res: res_px_per_cm,
            minutiae: Vec::new(),
            extended: Vec::new(),
            iso2011: None,
        }
    }

    /// The minutiae in millimetres and radians, given the format the view was read with.
    pub fn normalized(&self, format: Format) -> Result<Vec<NormMinutia>, FormatError> {
        let unit = format.angle_unit();
        let (sx, sy) = match format.card_micrometres() {
            Some(um) => (um as f32 / 1000.0, um as f32 / 1000.0),
            None => {
                if self.x_res == 0 || self.y_res == 0 {
                    return err(format!(
                        "view has zero resolution ({}x{} px/cm): cannot convert to millimetres",
                        self.x_res, self.y_res
                    ));
                }
                (10.0 / f32::from(self.x_res), 10.0 / f32::from(self.y_res))
            }
        };
        Ok(self
            .minutiae
            .iter()
            .map(|m| NormMinutia {
                x_mm: f32::from(m.x) * sx,
                y_mm: f32::from(m.y) * sy,
                angle: unit.to_radians(m.angle),
                kind: m.kind,
                quality: if m.quality <= 100 { m.quality } else { 0 },
            })
            .collect())
    }

    /// Iterates the extended data blocks as (type id, data) after checking their structure.
    pub fn extended_blocks(&self) -> Result<Vec<(u16, &[u8])>, FormatError> {
        split_blocks(&self.extended, 0)
    }
}

/// A parsed finger minutiae record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The format it was read as (and will be written as).
    pub format: Format,
    /// ANSI only: CBEFF product identifier (owner << 16 | type).
    pub cbeff_product: u32,
    /// ISO 2005 / ANSI: capture equipment (compliance:4, equipment id:12).
    pub capture_equipment: u16,
    /// ISO 2011: the device certification block flag.
    pub certification_flag: bool,
    /// The finger views.
    pub views: Vec<View>,
    /// What lenient parsing accepted that strict parsing refuses (empty after a strict parse).
    pub warnings: Vec<String>,
}

/// Parsing strictness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Refuse any disagreement between declared lengths and the data.
    #[default]
    Strict,
    /// Accept a record-length field that disagrees with otherwise complete content, and trailing bytes,
    /// recording a warning.
    Lenient,
}

/// Detects the format of a record from its header. Card formats have no header and are never detected.
pub fn detect(b: &[u8]) -> Result<Format, FormatError> {
    if b.len() < 8 {
        return err(format!(
            "{} bytes is too short for a finger minutiae record (the header alone is at least 15)",
            b.len()
        ));
    }
    if &b[0..4] != b"FMR\0" {
        return err(format!(
            "not a finger minutiae record: format identifier is {:02x?}, expected \"FMR\\0\" (card formats must be named explicitly)",
            &b[0..4]
        ));
    }
    match &b[4..8] {
        b" 20\0" => {
            if b.len() < 14 {
                return err(format!(
                    "{} bytes is too short for an ISO 19794-2:2005 or ANSI 378 header",
                    b.len()
                ));
            }
            if b[8] != 0 || b[9] != 0 {
                // ANSI's 2-byte length is never 0 below 64 KiB; an ISO record of 64 KiB or more would
                // need an ANSI-shaped length to match exactly.
                let ansi_len = usize::from(u16::from_be_bytes([b[8], b[9]]));
                let iso_len = u32::from_be_bytes([b[8], b[9], b[10], b[11]]) as usize;
                if iso_len == b.len() && ansi_len != b.len() {
                    return Ok(Format::Iso2005);
                }
                return Ok(Format::Ansi2004);
            }
            let iso_len = u32::from_be_bytes([b[8], b[9], b[10], b[11]]) as usize;
            let ansi_len = u32::from_be_bytes([b[10], b[11], b[12], b[13]]) as usize;
            if ansi_len == b.len() && iso_len != b.len() && ansi_len > 0xffff {
                Ok(Format::Ansi2004)
            } else {
                Ok(Format::Iso2005)
            }
        }
        b"030\0" => Ok(Format::Iso2011),
        v => err(format!(
            "finger minutiae record version {v:02x?} not supported (expected \" 20\\0\" for ISO 19794-2:2005 / ANSI 378-2004 or \"030\\0\" for ISO 19794-2:2011)"
        )),
    }
}

/// Detects the format and parses strictly.
pub fn parse(b: &[u8]) -> Result<Record, FormatError> {
    parse_with(b, None, Mode::Strict)
}

/// Parses `b` as `format` (detected when `None`; card formats must be named) in the given mode.
pub fn parse_with(b: &[u8], format: Option<Format>, mode: Mode) -> Result<Record, FormatError> {
    let format = match format {
        Some(f) => f,
        None => detect(b)?,
    };
    match format {
        Format::Iso2005 | Format::Ansi2004 => parse_2005(b, format, mode),
        Format::Iso2011 => parse_2011(b, mode),
        Format::IsoCardNormal | Format::IsoCardCompact => parse_card(b, format),
    }
}

impl Record {
    /// A record of one view (a convenience for writers and tests).
    pub fn single(format: Format, view: View) -> Record {
        Record {
            format,
            cbeff_product: 0,
            capture_equipment: 0,
            certification_flag: false,
            views: vec![view],
            warnings: Vec::new(),
        }
    }

    /// Writes the record in its format. Refuses what the format cannot hold (more than 255 minutiae,
    /// coordinates beyond 14 bits or the card range, views of different geometry in a 2005 record, ...).
    pub fn encode(&self) -> Result<Vec<u8>, FormatError> {
        match self.format {
            Format::Iso2005 | Format::Ansi2004 => self.encode_2005(),
            Format::Iso2011 => self.encode_2011(),
            Format::IsoCardNormal | Format::IsoCardCompact => self.encode_card(),
        }
    }

    fn check_view_common(&self, vi: usize, v: &View) -> Result<(), FormatError> {
        if v.minutiae.len() > 255 {
            return err(format!(
                "view {vi} has {} minutiae; the format holds at most 255",
                v.minutiae.len()
            ));
        }
        if v.extended.len() > 0xffff {
            return err(format!(
                "view {vi} has {} bytes of extended data; at most 65535",
                v.extended.len()
            ));
        }
        split_blocks(&v.extended, 0)?;
        let unit = self.format.angle_unit();
        for (i, m) in v.minutiae.iter().enumerate() {
            if m.x > 0x3fff || m.y > 0x3fff {
                return err(format!(
                    "view {vi} minutia {i}: ({}, {}) does not fit 14 bits",
                    m.x, m.y
                ));
            }
            if u32::from(m.angle) >= unit.steps() {
                return err(format!(
                    "view {vi} minutia {i}: angle code {} out of range for {}",
                    m.angle, self.format
                ));
            }
        }
        Ok(())
    }

    /// The same minutiae in another format, converting angle units and coordinates (pixels ↔ card
    /// millimetre units; a card converted to a record gets 197 px/cm, 500 dpi). Card formats hold one
    /// view and no quality or extended data; converting to one drops them.
    pub fn convert(&self, to: Format) -> Result<Record, FormatError> {
        if to == self.format {
            return Ok(self.clone());
        }
        if to.is_card() && self.views.len() != 1 {
            return err(format!(
                "{to} holds exactly one view, the record has {}",
                self.views.len()
            ));
        }
        let mut views = Vec::with_capacity(self.views.len());
        for v in &self.views {
            let norm = v.normalized(self.format)?;
            let (sx, sy, res) = match to.card_micrometres() {
                Some(um) => (1000.0 / um as f32, 1000.0 / um as f32, 0),
                None => {
                    let (xr, yr) = if self.format.is_card() {
                        (197, 197)
                    } else {
                        (v.x_res, v.y_res)
                    };
                    (f32::from(xr) / 10.0, f32::from(yr) / 10.0, xr)
                }
            };
            let unit = to.angle_unit();
            let mut nv = v.clone();
            if self.format.is_card() && !to.is_card() {
                nv.x_res = res;
                nv.y_res = res;
            }
            if to.is_card() {
                nv = View::new(0, 0, 0);
            }
            if to != Format::Iso2011 {
                nv.iso2011 = None;
            } else if nv.iso2011.is_none() {
                nv.iso2011 = Some(Repr2011 {
                    ridge_ending_type: 1,
                    minutia_field_length: 6,
                    ..Repr2011::default()
                });
            }
            nv.minutiae.clear();
            for (i, (m, n)) in v.minutiae.iter().zip(&norm).enumerate() {
                let x = (n.x_mm * sx).round();
                let y = (n.y_mm * sy).round();
                if !(0.0..=16383.0).contains(&x) || !(0.0..=16383.0).contains(&y) {
                    return err(format!("minutia {i}: ({x}, {y}) out of range for {to}"));
                }
                nv.minutiae.push(Minutia {
                    x: x as u16,
                    y: y as u16,
                    angle: unit.from_radians(f64::from(n.angle)),
                    kind: m.kind,
                    quality: if to.is_card() { 0 } else { n.quality },
                });
            }
            views.push(nv);
        }
        Ok(Record {
            format: to,
            cbeff_product: self.cbeff_product,
            capture_equipment: self.capture_equipment,
            certification_flag: self.certification_flag && to == Format::Iso2011,
            views,
            warnings: Vec::new(),
        })
    }
}
