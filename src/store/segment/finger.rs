//! Finger segment files: immutable, memory-mapped prepared fingerprint templates.
//!
//! # Format (version 1)
//! All integers little-endian; every part starts on an 8-byte boundary.
//!
//! | part    | size | content |
//! |---------|------|---------|
//! | header  | 72   | magic `EDGEIDFG`, version u32, rows u32, segment id u64, ids length u64, records length u64, sources length u64, file length u64, tables CRC u32, payload CRC u32, prepared-template version u16, reserved u16 = 0, header CRC u32 (over the first 68 bytes) |
//! | rows    | 40 × rows | per row: record offset u64 (from the start of the records), source offset u64 (from the start of the sources), record length u32, ids offset u32 (into the ids), source length u32, location / user / template id lengths u8 × 3, finger position u8, source format u8 (1 ISO 2005, 2 ANSI 378, 3 ISO 2011, 4 card normal, 5 card compact), 7 reserved zero bytes |
//! | ids     | ids length | the rows' location, user and template ids (UTF-8, back to back), zero-padded to 8 |
//! | freq    | 4 × 64 × `PF_WORDS` | per prefilter bit, how many rows of the segment set it (`prefilter::Frequencies`), so opening a store never reads the records to weigh the prefilter |
//! | summaries | 8 × `PF_WORDS` × rows | every row's prefilter summary again, back to back: the 1:N scan reads all of them, and reading them from a dense array instead of strided through the records took 1:N at 100,000 rows from p50 28.4 to 17.9 ms (`edgeid bench finger --gallery 100000`) |
//! | records | records length | prepared templates (`finger::template`, layout `EFP1`), each 8-byte aligned |
//! | sources | sources length | the minutiae records as enrolled (ISO/ANSI bytes), back to back, zero-padded to 8 |
//!
//! The tables CRC covers rows, ids and freq and is checked on open; the payload CRC covers
//! summaries, records and sources and is checked by `verify` and compaction (opening never reads
//! them). Every record's
//! own header is checked when a search first views it ([`FingerSegment::template`]).
//!
//! **Why the sources are kept.** A prepared template is only comparable with templates prepared by
//! the same matcher version (`finger::template::VERSION`, written in the header). After a firmware
//! update that changes preparation, the store re-prepares every template from its source on open
//! instead of silently comparing old cylinders with new ones; the sources cost about 2 % of a row (300 bytes for an FVC2002 record, of 15–19 KB; sizes in `docs/fingerprint-matcher.md`).
//!
//! Versions: 1 is the first and only one. A change of layout bumps [`FINGER_SEGMENT_VERSION`].

use crate::error::{alloc, Error, Result};
use crate::finger::prefilter::{Frequencies, PF_WORDS};
use crate::finger::{Format, TemplateRef};
use crate::mmap::{AlignedBuf, Bytes};
use bytemuck::{Pod, Zeroable};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Magic bytes at the start of every finger segment.
pub const FINGER_SEGMENT_MAGIC: [u8; 8] = *b"EDGEIDFG";
/// Current finger segment format version.
pub const FINGER_SEGMENT_VERSION: u32 = 1;
const HEADER_LEN: usize = 72;
const FREQ_LEN: usize = 4 * 64 * PF_WORDS;
const SUMMARY_LEN: usize = 8 * PF_WORDS;
/// Offset of the prefilter summary inside a prepared record (after its 16-byte header).
const SUMMARY_AT: usize = 16;
const MIN_RECORD: usize = SUMMARY_AT + 8 * PF_WORDS;

#[derive(Debug, Clone, Copy, Pod, Zeroable)]
#[repr(C)]
struct Header {
    magic: [u8; 8],
    version: u32,
    rows: u32,
    segment_id: u64,
    ids_len: u64,
    records_len: u64,
    sources_len: u64,
    file_len: u64,
    tables_crc: u32,
    payload_crc: u32,
    prepared_version: u16,
    reserved: u16,
    header_crc: u32,
}
const _: () = assert!(std::mem::size_of::<Header>() == HEADER_LEN);

#[derive(Debug, Clone, Copy, Pod, Zeroable)]
#[repr(C)]
struct RowEntry {
    rec_off: u64,
    src_off: u64,
    rec_len: u32,
    ids_off: u32,
    src_len: u32,
    lens: [u8; 3],
    position: u8,
    format: u8,
    reserved: [u8; 7],
}
const ROW_LEN: usize = std::mem::size_of::<RowEntry>();
const _: () = assert!(ROW_LEN == 40);

/// The format code of a source record (see the module docs).
pub fn format_code(f: Format) -> u8 {
    Format::ALL
        .iter()
        .position(|&x| x == f)
        .map_or(0, |i| i as u8 + 1)
}

/// The format of a source record's code.
pub fn format_of(code: u8) -> Option<Format> {
    Format::ALL.get(usize::from(code).checked_sub(1)?).copied()
}

/// One row to write.
#[derive(Debug, Clone, Copy)]
pub struct FingerRowIn<'a> {
    /// Location id.
    pub location: &'a str,
    /// User id.
    pub user: &'a str,
    /// Template id.
    pub template: &'a str,
    /// Finger position (ISO/IEC 19794-2 code, 0 unknown).
    pub position: u8,
    /// The prepared template's bytes (a multiple of 8 long).
    pub record: &'a [u8],
    /// The minutiae record it was prepared from.
    pub source: &'a [u8],
    /// Format of `source`.
    pub format: Format,
}

impl<'a> FingerRowIn<'a> {
    /// Row `r` of an existing segment, for rewriting.
    pub fn of(seg: &'a FingerSegment, r: usize) -> FingerRowIn<'a> {
        let (location, user, template) = seg.row_ids(r);
        FingerRowIn {
            location,
            user,
            template,
            position: seg.position(r),
            record: seg.record(r),
            source: seg.source(r),
            format: seg.source_format(r),
        }
    }
}

/// Bytes of a finger segment file besides its rows (header, prefilter counts, padding): with
/// [`row_bytes`], an upper bound of a file's size, used to cap segment files.
pub const FIXED_BYTES: usize = HEADER_LEN + FREQ_LEN + 2 * 8;

/// Upper bound of the bytes one row adds to a finger segment file.
pub fn row_bytes(
    location: &str,
    user: &str,
    template: &str,
    record: usize,
    source: usize,
) -> usize {
    ROW_LEN + SUMMARY_LEN + location.len() + user.len() + template.len() + record + source
}

/// Serialises a finger segment. Records must be whole prepared templates (checked by the caller:
/// the writer prepares them, replay and rewrites copy checked ones).
pub fn encode(segment_id: u64, rows: &[FingerRowIn<'_>]) -> Result<AlignedBuf> {
    let mut entries = alloc::with_capacity(rows.len(), "finger segment rows")?;
    let mut ids = Vec::new();
    let mut freq = Frequencies::default();
    let mut rec_off = 0u64;
    let mut src_off = 0u64;
    for r in rows {
        debug_assert!(r.record.len().is_multiple_of(8) && r.record.len() >= MIN_RECORD);
        let mut e = RowEntry::zeroed();
        e.rec_off = rec_off;
        e.rec_len = r.record.len() as u32;
        e.ids_off = ids.len() as u32;
        e.lens = [
            r.location.len() as u8,
            r.user.len() as u8,
            r.template.len() as u8,
        ];
        e.position = r.position;
        e.src_off = src_off;
        e.src_len = r.source.len() as u32;
        e.format = format_code(r.format);
        src_off += r.source.len() as u64;
        ids.extend_from_slice(r.location.as_bytes());
        ids.extend_from_slice(r.user.as_bytes());
        ids.extend_from_slice(r.template.as_bytes());
        freq.update(bytemuck::cast_slice(summary_of(r.record)), true);
        rec_off += r.record.len() as u64;
        entries.push(e);
    }
    ids.resize(ids.len().next_multiple_of(8), 0);
    let sources_len = src_off.next_multiple_of(8);
    // The whole image is sized first and written in place: a segment of a large commit (hundreds
    // of megabytes of prepared templates) exists once in memory.
    let n = rows.len();
    let summaries_at = HEADER_LEN + ROW_LEN * n + ids.len() + FREQ_LEN;
    let records_at = summaries_at + SUMMARY_LEN * n;
    let total = records_at + rec_off as usize + sources_len as usize;
    let mut buf = AlignedBuf::try_zeroed(total, "finger segment")?;
    let out = buf.as_mut_bytes();
    let mut at = HEADER_LEN;
    for part in [
        bytemuck::cast_slice::<RowEntry, u8>(&entries),
        &ids,
        bytemuck::cast_slice::<u32, u8>(freq.counts()),
    ] {
        out[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    debug_assert_eq!(at, summaries_at);
    for r in rows {
        out[at..at + SUMMARY_LEN].copy_from_slice(summary_of(r.record));
        at += SUMMARY_LEN;
    }
    for r in rows
        .iter()
        .map(|r| r.record)
        .chain(rows.iter().map(|r| r.source))
    {
        out[at..at + r.len()].copy_from_slice(r);
        at += r.len();
    }
    let tables_crc = crc32c::crc32c(&out[HEADER_LEN..summaries_at]);
    let payload_crc = crc32c::crc32c(&out[summaries_at..]);
    let mut h = Header {
        magic: FINGER_SEGMENT_MAGIC,
        version: FINGER_SEGMENT_VERSION,
        rows: n as u32,
        segment_id,
        ids_len: ids.len() as u64,
        records_len: rec_off,
        sources_len,
        file_len: total as u64,
        tables_crc,
        payload_crc,
        prepared_version: crate::finger::template::VERSION,
        reserved: 0,
        header_crc: 0,
    };
    h.header_crc = crc32c::crc32c(&bytemuck::bytes_of(&h)[..HEADER_LEN - 4]);
    out[..HEADER_LEN].copy_from_slice(bytemuck::bytes_of(&h));
    Ok(buf)
}

/// The prefilter summary inside a prepared record.
fn summary_of(record: &[u8]) -> &[u8] {
    &record[SUMMARY_AT..SUMMARY_AT + SUMMARY_LEN]
}

/// An open, validated finger segment.
#[derive(Debug, Clone)]
pub struct FingerSegment {
    bytes: Bytes,
    hdr: Header,
    path: PathBuf,
    /// Rows per (location, user), built on the first 1:1 lookup (opening does not need it).
    by_user: OnceLock<HashMap<(String, String), Vec<u32>>>,
}

impl FingerSegment {
    /// Validates the header and tables (not the records; see [`FingerSegment::verify_payload`]).
    pub fn open(bytes: Bytes, path: &Path) -> Result<FingerSegment> {
        let bad = |what: String| Error::corrupt(path, what);
        if bytes.len() < HEADER_LEN {
            return Err(bad(format!(
                "{} bytes is shorter than the {HEADER_LEN}-byte header",
                bytes.len()
            )));
        }
        let hdr: Header = bytemuck::pod_read_unaligned(&bytes[..HEADER_LEN]);
        if hdr.magic != FINGER_SEGMENT_MAGIC {
            return Err(bad(format!(
                "magic {:?} is not a finger segment's",
                hdr.magic
            )));
        }
        if hdr.version != FINGER_SEGMENT_VERSION {
            return Err(Error::Version {
                path: path.into(),
                found: hdr.version,
                min: FINGER_SEGMENT_VERSION,
                max: FINGER_SEGMENT_VERSION,
            });
        }
        let crc = crc32c::crc32c(&bytes[..HEADER_LEN - 4]);
        if crc != hdr.header_crc {
            return Err(bad(format!(
                "header checksum {crc:08x}, expected {:08x}",
                hdr.header_crc
            )));
        }
        let rows = hdr.rows as u64;
        let want = (HEADER_LEN + FREQ_LEN) as u64 + (ROW_LEN + SUMMARY_LEN) as u64 * rows;
        let want = want
            .checked_add(hdr.ids_len)
            .and_then(|w| w.checked_add(hdr.records_len))
            .and_then(|w| w.checked_add(hdr.sources_len));
        if want != Some(hdr.file_len)
            || hdr.file_len != bytes.len() as u64
            || !hdr.ids_len.is_multiple_of(8)
            || !hdr.records_len.is_multiple_of(8)
        {
            return Err(bad(format!(
                "file is {} bytes; header says {} ({rows} rows, {} bytes of ids, {} of records)",
                bytes.len(),
                hdr.file_len,
                hdr.ids_len,
                hdr.records_len
            )));
        }
        let seg = FingerSegment {
            bytes,
            hdr,
            path: path.to_path_buf(),
            by_user: OnceLock::new(),
        };
        let crc = crc32c::crc32c(&seg.bytes[HEADER_LEN..seg.summaries_start()]);
        if crc != hdr.tables_crc {
            return Err(bad(format!(
                "table checksum {crc:08x}, expected {:08x}",
                hdr.tables_crc
            )));
        }
        let ids = seg.ids();
        for (i, e) in seg.entries().iter().enumerate() {
            let ids_end = e.ids_off as u64 + e.lens.iter().map(|&l| l as u64).sum::<u64>();
            let rec_end = e.rec_off.checked_add(e.rec_len as u64);
            if ids_end > ids.len() as u64
                || std::str::from_utf8(&ids[e.ids_off as usize..ids_end as usize]).is_err()
                || e.lens.contains(&0)
            {
                return Err(bad(format!("row {i}: ids out of place or not UTF-8")));
            }
            if !e.rec_off.is_multiple_of(8)
                || (e.rec_len as usize) < MIN_RECORD
                || !e.rec_len.is_multiple_of(8)
                || rec_end.is_none_or(|end| end > hdr.records_len)
            {
                return Err(bad(format!(
                    "row {i}: record at {}+{} is out of place",
                    e.rec_off, e.rec_len
                )));
            }
            let src_end = e.src_off.checked_add(e.src_len as u64);
            if format_of(e.format).is_none() || src_end.is_none_or(|end| end > hdr.sources_len) {
                return Err(bad(format!(
                    "row {i}: source record at {}+{} (format code {}) is out of place",
                    e.src_off, e.src_len, e.format
                )));
            }
        }
        Ok(seg)
    }

    fn summaries_start(&self) -> usize {
        HEADER_LEN + ROW_LEN * self.rows() + self.hdr.ids_len as usize + FREQ_LEN
    }
    fn records_start(&self) -> usize {
        self.summaries_start() + SUMMARY_LEN * self.rows()
    }
    fn entries(&self) -> &[RowEntry] {
        bytemuck::cast_slice(&self.bytes[HEADER_LEN..HEADER_LEN + ROW_LEN * self.rows()])
    }
    fn ids(&self) -> &[u8] {
        let at = HEADER_LEN + ROW_LEN * self.rows();
        &self.bytes[at..at + self.hdr.ids_len as usize]
    }

    /// Checks the records' checksum (reads every byte).
    pub fn verify_payload(&self) -> Result<()> {
        let crc = crc32c::crc32c(&self.bytes[self.summaries_start()..]);
        if crc != self.hdr.payload_crc {
            return Err(Error::corrupt(
                &self.path,
                format!(
                    "payload checksum {crc:08x}, expected {:08x}",
                    self.hdr.payload_crc
                ),
            ));
        }
        Ok(())
    }

    /// Segment id (unique within the store, shared with face segments' ids).
    pub fn id(&self) -> u64 {
        self.hdr.segment_id
    }
    /// Rows, live or dead.
    pub fn rows(&self) -> usize {
        self.hdr.rows as usize
    }
    /// File size.
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }
    /// (location, user, template) of row `r`.
    pub fn row_ids(&self, r: usize) -> (&str, &str, &str) {
        let e = &self.entries()[r];
        let ids = self.ids();
        let s = |a: usize, n: u8| std::str::from_utf8(&ids[a..a + n as usize]).unwrap_or("");
        let a = e.ids_off as usize;
        let b = a + e.lens[0] as usize;
        let c = b + e.lens[1] as usize;
        (s(a, e.lens[0]), s(b, e.lens[1]), s(c, e.lens[2]))
    }
    /// Rows of a user at a location (live or dead).
    pub fn rows_of(&self, location: &str, user: &str) -> &[u32] {
        let map = self.by_user.get_or_init(|| {
            let mut m: HashMap<(String, String), Vec<u32>> = HashMap::new();
            for r in 0..self.rows() {
                let (l, u, _) = self.row_ids(r);
                m.entry((l.to_string(), u.to_string()))
                    .or_default()
                    .push(r as u32);
            }
            m
        });
        map.get(&(location.to_string(), user.to_string()))
            .map_or(&[], |v| v.as_slice())
    }
    /// The minutiae record row `r` was prepared from.
    pub fn source(&self, r: usize) -> &[u8] {
        let e = &self.entries()[r];
        let at = self.records_start() + self.hdr.records_len as usize + e.src_off as usize;
        &self.bytes[at..at + e.src_len as usize]
    }
    /// Format of row `r`'s source record.
    pub fn source_format(&self, r: usize) -> Format {
        format_of(self.entries()[r].format).unwrap_or(Format::Iso2005)
    }
    /// Version of the matcher's preparation that made this segment's templates
    /// (`finger::template::VERSION` when written).
    pub fn prepared_version(&self) -> u16 {
        self.hdr.prepared_version
    }
    /// Finger position of row `r`.
    pub fn position(&self, r: usize) -> u8 {
        self.entries()[r].position
    }
    /// The prepared record of row `r` (bytes, 8-byte aligned).
    pub fn record(&self, r: usize) -> &[u8] {
        let e = &self.entries()[r];
        let at = self.records_start() + e.rec_off as usize;
        &self.bytes[at..at + e.rec_len as usize]
    }
    /// The prefilter summary of row `r` (from the dense summaries section).
    pub fn summary(&self, r: usize) -> &[u64] {
        let at = self.summaries_start() + SUMMARY_LEN * r;
        bytemuck::cast_slice(&self.bytes[at..at + SUMMARY_LEN])
    }
    /// Row `r` as a template; a damaged record is reported as corruption of this file.
    pub fn template(&self, r: usize) -> Result<TemplateRef<'_>> {
        TemplateRef::from_bytes(self.record(r))
            .map_err(|e| Error::corrupt(&self.path, format!("row {r}: {e}")))
    }
    /// How many rows set each prefilter bit.
    pub fn frequencies(&self) -> Frequencies {
        let at = HEADER_LEN + ROW_LEN * self.rows() + self.hdr.ids_len as usize;
        let counts: &[u32] = bytemuck::cast_slice(&self.bytes[at..at + FREQ_LEN]);
        Frequencies::from_counts(counts.to_vec(), self.hdr.rows)
    }
    /// True when the bytes come from a memory map.
    pub fn is_mapped(&self) -> bool {
        self.bytes.is_mapped()
    }
    /// The file (or in-memory name) this segment was opened from: what errors about it name.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finger::FingerTemplate;

    fn tpl(seed: u64) -> FingerTemplate {
        let mut rng = crate::finger::synth::Rng::new(seed);
        let pts: Vec<crate::finger::template::Point> = (0..30)
            .map(|_| crate::finger::template::Point {
                x: rng.range(-120.0, 120.0),
                y: rng.range(-150.0, 150.0),
                angle: rng.below(65536) as u16,
                kind: 1,
                quality: 60,
            })
            .collect();
        FingerTemplate::from_points(&pts)
    }

    #[test]
    fn round_trip_and_refusals() {
        let (a, b) = (tpl(1), tpl(2));
        let rows = [
            FingerRowIn {
                location: "hq",
                user: "ada",
                template: "r-index",
                position: 2,
                record: a.as_bytes(),
                source: b"FMR\0 20\0 (a)",
                format: Format::Iso2005,
            },
            FingerRowIn {
                location: "hq",
                user: "bob",
                template: "l-thumb",
                position: 6,
                record: b.as_bytes(),
                source: b"card",
                format: Format::IsoCardCompact,
            },
        ];
        let bytes = encode(7, &rows).unwrap().to_vec();
        let p = Path::new("test.fsg");
        let s = FingerSegment::open(Bytes::copy_from(&bytes), p).unwrap();
        s.verify_payload().unwrap();
        assert_eq!((s.id(), s.rows()), (7, 2));
        assert_eq!(s.row_ids(1), ("hq", "bob", "l-thumb"));
        assert_eq!((s.position(0), s.position(1)), (2, 6));
        assert_eq!(s.record(0), a.as_bytes());
        assert_eq!(s.summary(1), b.as_ref().summary());
        assert!(s.template(1).is_ok());
        assert_eq!(s.source(0), b"FMR\0 20\0 (a)");
        assert_eq!(
            (s.source(1), s.source_format(1)),
            (&b"card"[..], Format::IsoCardCompact)
        );
        assert_eq!(s.prepared_version(), crate::finger::template::VERSION);
        for f in Format::ALL {
            assert_eq!(format_of(format_code(f)), Some(f));
        }
        assert_eq!(format_of(0), None);
        let mut f = Frequencies::default();
        f.update(a.as_ref().summary(), true);
        f.update(b.as_ref().summary(), true);
        assert_eq!(s.frequencies().counts(), f.counts());

        // Truncation, a flipped table byte, a flipped record byte: refused or caught by verify.
        for cut in [0, 10, HEADER_LEN, bytes.len() - 8] {
            assert!(FingerSegment::open(Bytes::copy_from(&bytes[..cut]), p).is_err());
        }
        let mut t = bytes.clone();
        t[HEADER_LEN + 3] ^= 1;
        let e = FingerSegment::open(Bytes::copy_from(&t), p).unwrap_err();
        assert!(e.to_string().contains("table checksum"), "{e}");
        let mut r = bytes.clone();
        let last = r.len() - 1;
        r[last] ^= 0x40;
        let s = FingerSegment::open(Bytes::copy_from(&r), p).unwrap();
        assert!(s.verify_payload().is_err());
        let e = encode(1, &[]).unwrap().freeze();
        assert_eq!(
            FingerSegment::open(Bytes::copy_from(&e), p).unwrap().rows(),
            0
        );
    }
}
