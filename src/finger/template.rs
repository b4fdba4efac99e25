//! Prepared templates: the matcher's form of a finger view, as one compact byte record that can be
//! stored as is (for example in a memory-mapped segment file) and compared without decoding.
//!
//! # Layout (version 2, little-endian, 8-byte aligned, every part a multiple of 8 bytes)
//! | offset | size | content |
//! |---|---|---|
//! | 0 | 16 | header: magic `EFP1`, version u16 = 2, minutiae u16, valid cylinders u16, NS u8, ND u8, prefilter words u16, reserved u16 = 0 |
//! | 16 | 8 × `PF_WORDS` | prefilter summary bits (see `prefilter`) |
//! | … | 12 × minutiae, padded to 8 | points: x f32, y f32 (internal pixels at 19.7 px/mm, y up), angle u16 (65536 = 2π, counter-clockwise), kind u8, quality u8; minutiae with a valid cylinder first |
//! | … | 8 × `CYL_WORDS` × cylinders | cylinder bits: `ND` sections of `NS`×`NS` cells (padded to a multiple of 8 words), then the validity mask repeated to 8 words |
//!
//! The total length is fully determined by the header, so [`TemplateRef::from_bytes`] checks it
//! exactly. A 50-minutia template is about 18 KiB (16,000 bytes of cylinders at 320 bytes each).
//!
//! Versions: 1 had `ND` = 6 direction sections (256-byte cylinders); 2 has `ND` = 8 and the narrower
//! σS and σD of [`crate::finger::mcc`]. Templates of another version are refused: prepare them again
//! from their minutiae records.

use bytemuck::{Pod, Zeroable};

use super::codec::{Format, FormatError, MinutiaKind, NormMinutia, Record, View};
use super::mcc::{self, CYL_WORDS, MAX_MINUTIAE, ND, NS, PX_PER_MM};
use super::prefilter::{self, PF_WORDS};

/// Magic of a prepared template.
pub const MAGIC: [u8; 4] = *b"EFP1";
/// Layout version.
pub const VERSION: u16 = 2;

/// One minutia in the matcher's units.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct Point {
    /// x in internal pixels (19.7 per mm).
    pub x: f32,
    /// y in internal pixels, pointing up.
    pub y: f32,
    /// Direction, 65536 = one turn, counter-clockwise.
    pub angle: u16,
    /// 0 other, 1 ridge ending, 2 bifurcation.
    pub kind: u8,
    /// 0..=100, 0 unknown.
    pub quality: u8,
}

impl Point {
    /// Direction in radians.
    #[inline]
    pub fn theta(&self) -> f32 {
        f32::from(self.angle) * (std::f32::consts::TAU / 65536.0)
    }

    /// (sin, cos) of the direction.
    #[inline]
    pub fn sincos(&self) -> (f32, f32) {
        self.theta().sin_cos()
    }

    /// From millimetres (y down) and radians.
    pub fn from_norm(m: &NormMinutia) -> Point {
        let a = (f64::from(m.angle).rem_euclid(std::f64::consts::TAU) / std::f64::consts::TAU
            * 65536.0)
            .round() as u32;
        Point {
            x: m.x_mm * PX_PER_MM,
            y: -m.y_mm * PX_PER_MM,
            angle: (a & 0xffff) as u16,
            kind: match m.kind {
                MinutiaKind::Other => 0,
                MinutiaKind::RidgeEnding => 1,
                MinutiaKind::Bifurcation => 2,
            },
            quality: m.quality,
        }
    }
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct Header {
    magic: [u8; 4],
    version: u16,
    n_min: u16,
    n_cyl: u16,
    ns: u8,
    nd: u8,
    pf_words: u16,
    reserved: u16,
}
const _: () = assert!(std::mem::size_of::<Header>() == 16);

fn points_words(n: usize) -> usize {
    (n * 12).div_ceil(8)
}

/// A prepared template that owns its bytes (8-byte aligned).
#[derive(Clone, PartialEq, Eq)]
pub struct FingerTemplate {
    words: Vec<u64>,
}

impl std::fmt::Debug for FingerTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = self.as_ref();
        f.debug_struct("FingerTemplate")
            .field("minutiae", &r.n_min())
            .field("cylinders", &r.n_cyl())
            .field("bytes", &self.as_bytes().len())
            .finish()
    }
}

impl FingerTemplate {
    /// Prepares minutiae in common units (what [`View::normalized`] returns). Keeps the
    /// [`MAX_MINUTIAE`] best by quality; duplicates (same position and direction) are dropped.
    pub fn from_minutiae(minutiae: &[NormMinutia]) -> FingerTemplate {
        let mut pts: Vec<Point> = minutiae
            .iter()
            .filter(|m| m.x_mm.is_finite() && m.y_mm.is_finite() && m.angle.is_finite())
            .map(Point::from_norm)
            .collect();
        // Best quality first (stable: the record's order among equals), then cap.
        pts.sort_by_key(|p| std::cmp::Reverse(p.quality));
        let mut seen = Vec::with_capacity(pts.len());
        pts.retain(|p| {
            let key = (p.x.to_bits(), p.y.to_bits(), p.angle);
            if seen.contains(&key) {
                false
            } else {
                seen.push(key);
                true
            }
        });
        pts.truncate(MAX_MINUTIAE);
        Self::from_points(&pts)
    }

    /// Prepares points already in internal units (at most [`MAX_MINUTIAE`] are used).
    pub fn from_points(pts: &[Point]) -> FingerTemplate {
        let pts = &pts[..pts.len().min(MAX_MINUTIAE)];
        let (order, cyl) = mcc::build_cylinders(pts);
        let n_cyl = cyl.len() / CYL_WORDS;
        let ordered: Vec<Point> = order.iter().map(|&i| pts[i]).collect();
        let pf = prefilter::summary(&ordered, &cyl);
        let header = Header {
            magic: MAGIC,
            version: VERSION,
            n_min: ordered.len() as u16,
            n_cyl: n_cyl as u16,
            ns: NS as u8,
            nd: ND as u8,
            pf_words: PF_WORDS as u16,
            reserved: 0,
        };
        let pw = points_words(ordered.len());
        let mut words = vec![0u64; 2 + PF_WORDS + pw + cyl.len()];
        bytemuck::cast_slice_mut::<u64, u8>(&mut words[..2])
            .copy_from_slice(bytemuck::bytes_of(&header));
        words[2..2 + PF_WORDS].copy_from_slice(&pf);
        let pbytes: &[u8] = bytemuck::cast_slice(&ordered);
        bytemuck::cast_slice_mut::<u64, u8>(&mut words[2 + PF_WORDS..2 + PF_WORDS + pw])
            [..pbytes.len()]
            .copy_from_slice(pbytes);
        words[2 + PF_WORDS + pw..].copy_from_slice(&cyl);
        FingerTemplate { words }
    }

    /// Prepares one view of a parsed record.
    pub fn from_view(view: &View, format: Format) -> Result<FingerTemplate, FormatError> {
        Ok(Self::from_minutiae(&view.normalized(format)?))
    }

    /// Prepares view `index` of a record.
    pub fn from_record(record: &Record, index: usize) -> Result<FingerTemplate, FormatError> {
        let view = record.views.get(index).ok_or_else(|| {
            FormatError(format!(
                "view {index} requested but the record has {} view(s)",
                record.views.len()
            ))
        })?;
        Self::from_view(view, record.format)
    }

    /// Parses a record (format detected, strict) and prepares its first view.
    pub fn from_record_bytes(bytes: &[u8]) -> Result<FingerTemplate, FormatError> {
        let rec = super::codec::parse(bytes)?;
        Self::from_record(&rec, 0)
    }

    /// The serialised form (see the module docs).
    pub fn as_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.words)
    }

    /// Checks and copies a serialised template (any alignment).
    pub fn from_bytes(bytes: &[u8]) -> Result<FingerTemplate, FormatError> {
        if !bytes.len().is_multiple_of(8) {
            return Err(FormatError(format!(
                "prepared template is {} bytes, not a multiple of 8",
                bytes.len()
            )));
        }
        let mut words = vec![0u64; bytes.len() / 8];
        bytemuck::cast_slice_mut::<u64, u8>(&mut words).copy_from_slice(bytes);
        TemplateRef::from_words(&words)?;
        Ok(FingerTemplate { words })
    }

    /// A borrowed view for comparison.
    pub fn as_ref(&self) -> TemplateRef<'_> {
        TemplateRef::from_words(&self.words).expect("a built template is valid")
    }
}

/// A borrowed prepared template (for example straight from a memory-mapped file).
#[derive(Clone, Copy, Debug)]
pub struct TemplateRef<'a> {
    pf: &'a [u64],
    pts: &'a [Point],
    cyl: &'a [u64],
}

impl<'a> TemplateRef<'a> {
    /// Views serialised bytes without copying. The slice must be 8-byte aligned (segment records
    /// are) and exactly one template long.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<TemplateRef<'a>, FormatError> {
        let words: &[u64] = bytemuck::try_cast_slice(bytes).map_err(|e| {
            FormatError(format!(
                "prepared template of {} bytes at {:p}: {e} (needs 8-byte alignment and length)",
                bytes.len(),
                bytes.as_ptr()
            ))
        })?;
        Self::from_words(words)
    }

    /// Views serialised words.
    pub fn from_words(words: &'a [u64]) -> Result<TemplateRef<'a>, FormatError> {
        let bad = |m: String| Err(FormatError(format!("prepared template: {m}")));
        if words.len() < 2 {
            return bad(format!(
                "{} bytes, shorter than the 16-byte header",
                words.len() * 8
            ));
        }
        let h: Header =
            bytemuck::pod_read_unaligned(&bytemuck::cast_slice::<u64, u8>(&words[..2])[..16]);
        if h.magic != MAGIC {
            return bad(format!("magic {:02x?}, expected \"EFP1\"", h.magic));
        }
        if h.version != VERSION {
            return bad(format!(
                "version {} not supported (this build reads {VERSION})",
                h.version
            ));
        }
        if usize::from(h.ns) != NS || usize::from(h.nd) != ND || usize::from(h.pf_words) != PF_WORDS
        {
            return bad(format!(
                "made with NS={} ND={} prefilter={} words, this build uses NS={NS} ND={ND} prefilter={PF_WORDS}",
                h.ns, h.nd, h.pf_words
            ));
        }
        let n_min = usize::from(h.n_min);
        let n_cyl = usize::from(h.n_cyl);
        if n_min > MAX_MINUTIAE || n_cyl > n_min {
            return bad(format!(
                "{n_min} minutiae and {n_cyl} cylinders (at most {MAX_MINUTIAE}, cylinders <= minutiae)"
            ));
        }
        let pw = points_words(n_min);
        let expect = 2 + PF_WORDS + pw + n_cyl * CYL_WORDS;
        if words.len() != expect {
            return bad(format!(
                "{} bytes, the header implies {}",
                words.len() * 8,
                expect * 8
            ));
        }
        let pbytes =
            &bytemuck::cast_slice::<u64, u8>(&words[2 + PF_WORDS..2 + PF_WORDS + pw])[..n_min * 12];
        let pts: &[Point] = bytemuck::cast_slice(pbytes);
        if let Some(i) = pts
            .iter()
            .position(|p| !p.x.is_finite() || !p.y.is_finite() || p.kind > 2 || p.quality > 100)
        {
            return bad(format!(
                "minutia {i} has a non-finite coordinate or an invalid kind or quality"
            ));
        }
        Ok(TemplateRef {
            pf: &words[2..2 + PF_WORDS],
            pts,
            cyl: &words[2 + PF_WORDS + pw..],
        })
    }

    /// Number of minutiae.
    pub fn n_min(&self) -> usize {
        self.pts.len()
    }

    /// Number of valid cylinders (the first `n_cyl` points own them).
    pub fn n_cyl(&self) -> usize {
        self.cyl.len() / CYL_WORDS
    }

    /// The points (valid-cylinder minutiae first).
    pub fn points(&self) -> &'a [Point] {
        self.pts
    }

    #[inline]
    pub(crate) fn point(&self, i: usize) -> Point {
        self.pts[i]
    }

    #[inline]
    pub(crate) fn cylinder(&self, i: usize) -> &'a [u64] {
        &self.cyl[i * CYL_WORDS..(i + 1) * CYL_WORDS]
    }

    /// The cylinder words (`n_cyl` cylinders).
    #[inline]
    pub fn cylinders(&self) -> &'a [u64] {
        self.cyl
    }

    /// The prefilter summary.
    pub fn summary(&self) -> &'a [u64] {
        self.pf
    }
}
