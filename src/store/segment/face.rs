//! Face segment files: immutable, memory-mapped columns of templates.
//!
//! # Format (version 1)
//! All integers little-endian. A 320-byte header ([`SegHeader`]), then sections, each starting on a
//! 64-byte boundary, located by the header's section table (offset, length in bytes):
//!
//! | section    | content                                                                  |
//! |------------|--------------------------------------------------------------------------|
//! | RowUser    | `u32` per row: index of the row's user in the user table                 |
//! | UserLoc    | `u32` per user: index of the user's location in the location table        |
//! | UserOff    | `u32` × (users + 1): offsets of user ids in UserBytes                     |
//! | UserBytes  | UTF-8 user ids, concatenated                                              |
//! | LocOff     | `u32` × (locations + 1)                                                   |
//! | LocBytes   | UTF-8 location ids                                                        |
//! | TplOff     | `u32` × (rows + 1)                                                        |
//! | TplBytes   | UTF-8 template ids                                                        |
//! | Params     | `f32` × rows three times: scale, code_norm, residual (see `template`)     |
//! | Codes      | `u8` × rows × code_stride: int8 codes + 128, padded with 128              |
//! | Vectors    | `f32` × rows × dim: the L2-normalised embeddings                          |
//! | Params4    | like Params, for the 4-bit codes                                          |
//! | Codes4     | `u8` × rows × dims4/2: packed 4-bit codes (`template::quantize4`)         |
//!
//! Sections RowUser..TplBytes are the "tables": small, checked on open against `tables_crc`. Params,
//! Codes, Vectors, Params4 and Codes4 are the bulk: covered by `payload_crc` (CRC-32C of every byte
//! after the header), which `edgeid verify` and compaction check, so opening never reads the vectors.
//! Between those full checks, a search checks every row it is about to score exactly: the vector
//! must lie in the quantisation cells of its int8 code and its score inside its quantised bounds
//! (`index::face`, "Damaged data"); a row that fails is reported as corruption of this file.
//! The header itself carries `header_crc` over its first 316 bytes.
//!
//! Versions: 1 is the first and only one (oldest supported = newest = 1). A change of layout bumps
//! [`SEGMENT_VERSION`] and adds a fixture under `testdata/formats/`.

use crate::error::{alloc, Error, Result};
use crate::face::{dims4, quantize_both};
use crate::ids::MAX_MODEL_LEN;
use crate::mmap::Bytes;
use bytemuck::{Pod, Zeroable};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Magic bytes at the start of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"EDGEIDSG";
/// Current segment format version.
pub const SEGMENT_VERSION: u32 = 1;
const HEADER_LEN: usize = 320;

/// The sections of a segment, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
enum Section {
    RowUser,
    UserLoc,
    UserOff,
    UserBytes,
    LocOff,
    LocBytes,
    TplOff,
    TplBytes,
    Params,
    Codes,
    Vectors,
    Params4,
    Codes4,
}
const SECTIONS: usize = 13;
/// Sections covered by `tables_crc`.
const TABLES: std::ops::Range<usize> = 0..8;

/// The fixed header of a segment file.
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
#[repr(C)]
pub struct SegHeader {
    magic: [u8; 8],
    version: u32,
    dim: u32,
    rows: u32,
    users: u32,
    locations: u32,
    code_stride: u32,
    segment_id: u64,
    model: [u8; MAX_MODEL_LEN],
    sections: [[u64; 2]; SECTIONS],
    file_len: u64,
    tables_crc: u32,
    payload_crc: u32,
    reserved: [u8; 20],
    header_crc: u32,
}
const _: () = assert!(std::mem::size_of::<SegHeader>() == HEADER_LEN);

/// Code stride for a dimension: a multiple of 64 bytes so every row starts cache-line aligned.
pub fn code_stride(dim: usize) -> usize {
    dim.div_ceil(64) * 64
}

/// One template to write into a segment (embedding already normalised).
#[derive(Debug, Clone, Copy)]
pub struct FaceRowIn<'a> {
    /// Location id.
    pub location: &'a str,
    /// User id.
    pub user: &'a str,
    /// Template id.
    pub template: &'a str,
    /// L2-normalised embedding.
    pub vector: &'a [f32],
    /// The row's codes when it comes from another segment (compaction, tail merges): copied instead
    /// of quantised again, so rewriting costs a copy.
    pub from: Option<(&'a FaceSegment, usize)>,
}

impl<'a> FaceRowIn<'a> {
    /// Row `r` of `seg`, carrying its codes along.
    pub fn of(seg: &'a FaceSegment, r: usize) -> FaceRowIn<'a> {
        let (location, user, template) = seg.row_ids(r);
        FaceRowIn {
            location,
            user,
            template,
            vector: seg.vector(r),
            from: Some((seg, r)),
        }
    }
}

/// Bytes of a segment file besides its rows (header, and the 64-byte alignment of 13 sections):
/// with [`row_bytes`], an upper bound of a file's size, used to cap segment files.
pub const FIXED_BYTES: usize = HEADER_LEN + SECTIONS * 64 + 3 * 4;

/// Upper bound of the bytes one row adds to a segment file of dimension `dim` (its codes, vector,
/// error terms, and its ids as if its user and location were new to the segment).
pub fn row_bytes(dim: usize, location: &str, user: &str, template: &str) -> usize {
    // RowUser + TplOff + UserLoc + UserOff + LocOff, Params and Params4, int8 codes, vector, 4-bit.
    5 * 4
        + 2 * 12
        + code_stride(dim)
        + 4 * dim
        + dims4(dim).div_ceil(2)
        + location.len()
        + user.len()
        + template.len()
}

/// Rows quantised between two pauses of [`encode_giving_way`].
pub const PAUSE_ROWS: usize = 64;

fn align64(n: usize) -> usize {
    n.div_ceil(64) * 64
}

/// Encodes rows into the bytes of a segment file. Deterministic: the same rows give the same bytes.
pub fn encode(segment_id: u64, model: &str, dim: usize, rows: &[FaceRowIn<'_>]) -> Result<Vec<u8>> {
    encode_giving_way(segment_id, model, dim, rows, &|| {})
}

/// [`encode`] calling `pause` every [`PAUSE_ROWS`] rows quantised: background encoding gives way
/// to searches there (`Workers::give_way`).
pub fn encode_giving_way(
    segment_id: u64,
    model: &str,
    dim: usize,
    rows: &[FaceRowIn<'_>],
    pause: &dyn Fn(),
) -> Result<Vec<u8>> {
    let stride = code_stride(dim);
    let mut users: Vec<(u32, &str)> = Vec::new();
    let mut user_ix: HashMap<(&str, &str), u32> = HashMap::new();
    let mut locs: Vec<&str> = Vec::new();
    let mut loc_ix: HashMap<&str, u32> = HashMap::new();
    let mut row_user = alloc::with_capacity(rows.len(), "face segment rows")?;
    for r in rows {
        let l = *loc_ix.entry(r.location).or_insert_with(|| {
            locs.push(r.location);
            (locs.len() - 1) as u32
        });
        let u = *user_ix.entry((r.location, r.user)).or_insert_with(|| {
            users.push((l, r.user));
            (users.len() - 1) as u32
        });
        row_user.push(u);
    }
    let strings = |it: &mut dyn Iterator<Item = &str>| {
        let mut off = vec![0u32];
        let mut bytes = Vec::new();
        for s in it {
            bytes.extend_from_slice(s.as_bytes());
            off.push(bytes.len() as u32);
        }
        (off, bytes)
    };
    let (user_off, user_bytes) = strings(&mut users.iter().map(|u| u.1));
    let (loc_off, loc_bytes) = strings(&mut locs.iter().copied());
    let (tpl_off, tpl_bytes) = strings(&mut rows.iter().map(|r| r.template));
    let user_loc: Vec<u32> = users.iter().map(|u| u.0).collect();

    let n = rows.len();
    let half = dims4(dim) / 2;
    let what = "face segment";
    let mut params = alloc::filled(3 * n, 0f32, what)?;
    let mut codes = alloc::filled(n * stride, 0u8, what)?;
    let mut params4 = alloc::filled(3 * n, 0f32, what)?;
    let mut codes4 = alloc::filled(n * half, 0u8, what)?;
    let mut vectors = alloc::with_capacity(n * dim, what)?;
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.vector.len(), dim, "segment row of wrong dimension");
        if i % PAUSE_ROWS == PAUSE_ROWS - 1 {
            pause();
        }
        if let Some((src, sr)) = r.from.filter(|(src, _)| src.dim() == dim) {
            let (s8, c8, r8) = src.params();
            let (s4, c4, r4) = src.params4();
            (params[i], params[n + i], params[2 * n + i]) = (s8[sr], c8[sr], r8[sr]);
            (params4[i], params4[n + i], params4[2 * n + i]) = (s4[sr], c4[sr], r4[sr]);
            codes[i * stride..(i + 1) * stride]
                .copy_from_slice(&src.codes()[sr * stride..(sr + 1) * stride]);
            codes4[i * half..(i + 1) * half]
                .copy_from_slice(&src.codes4()[sr * half..(sr + 1) * half]);
        } else {
            let (q, q4) = quantize_both(r.vector, stride, 2 * half);
            params[i] = q.scale;
            params[n + i] = q.code_norm;
            params[2 * n + i] = q.residual;
            codes[i * stride..(i + 1) * stride].copy_from_slice(&q.codes);
            params4[i] = q4.scale;
            params4[n + i] = q4.code_norm;
            params4[2 * n + i] = q4.residual;
            codes4[i * half..(i + 1) * half].copy_from_slice(&q4.codes);
        }
        vectors.extend_from_slice(r.vector);
    }

    let parts: [&[u8]; SECTIONS] = [
        bytemuck::cast_slice(&row_user),
        bytemuck::cast_slice(&user_loc),
        bytemuck::cast_slice(&user_off),
        &user_bytes,
        bytemuck::cast_slice(&loc_off),
        &loc_bytes,
        bytemuck::cast_slice(&tpl_off),
        &tpl_bytes,
        bytemuck::cast_slice(&params),
        &codes,
        bytemuck::cast_slice(&vectors),
        bytemuck::cast_slice(&params4),
        &codes4,
    ];
    let total = parts.iter().fold(HEADER_LEN, |at, p| align64(at) + p.len());
    let mut out = alloc::with_capacity(align64(total), what)?;
    out.resize(HEADER_LEN, 0);
    let mut hdr = SegHeader::zeroed();
    for (i, p) in parts.iter().enumerate() {
        out.resize(align64(out.len()), 0);
        hdr.sections[i] = [out.len() as u64, p.len() as u64];
        out.extend_from_slice(p);
    }
    out.resize(align64(out.len()), 0);
    hdr.magic = SEGMENT_MAGIC;
    hdr.version = SEGMENT_VERSION;
    hdr.dim = dim as u32;
    hdr.rows = n as u32;
    hdr.users = users.len() as u32;
    hdr.locations = locs.len() as u32;
    hdr.code_stride = stride as u32;
    hdr.segment_id = segment_id;
    hdr.model[..model.len()].copy_from_slice(model.as_bytes());
    hdr.file_len = out.len() as u64;
    hdr.tables_crc = tables_crc(&out, &hdr);
    hdr.payload_crc = crc32c::crc32c(&out[HEADER_LEN..]);
    hdr.header_crc = crc32c::crc32c(&bytemuck::bytes_of(&hdr)[..HEADER_LEN - 4]);
    out[..HEADER_LEN].copy_from_slice(bytemuck::bytes_of(&hdr));
    Ok(out)
}

fn tables_crc(bytes: &[u8], hdr: &SegHeader) -> u32 {
    let mut crc = 0;
    for s in &hdr.sections[TABLES] {
        crc = crc32c::crc32c_append(crc, &bytes[s[0] as usize..(s[0] + s[1]) as usize]);
    }
    crc
}

/// An open, validated segment. Accessors are cheap slices into the mapped bytes.
#[derive(Debug, Clone)]
pub struct FaceSegment {
    bytes: Bytes,
    hdr: SegHeader,
    path: PathBuf,
    /// Rows per user, built on the first 1:1 lookup (opening does not need it).
    by_user: std::sync::OnceLock<UserRows>,
}

/// Rows grouped by user: users sorted by (location, user id), with their rows (CSR layout).
#[derive(Debug, Clone, Default)]
struct UserRows {
    sorted: Vec<u32>,
    off: Vec<u32>,
    rows: Vec<u32>,
}

impl FaceSegment {
    /// Validates a segment's header and tables (not the bulk; see [`FaceSegment::verify_payload`]).
    /// `path` names the file in errors (in-memory segments pass a descriptive name).
    pub fn open(bytes: Bytes, path: &Path) -> Result<FaceSegment> {
        let bad = |what: String| Error::corrupt(path, what);
        if bytes.len() < HEADER_LEN {
            return Err(bad(format!(
                "{} bytes is shorter than the {HEADER_LEN}-byte header",
                bytes.len()
            )));
        }
        let hdr: SegHeader = bytemuck::pod_read_unaligned(&bytes[..HEADER_LEN]);
        if hdr.magic != SEGMENT_MAGIC {
            return Err(bad(format!("magic {:?} is not a segment's", hdr.magic)));
        }
        if hdr.version != SEGMENT_VERSION {
            return Err(Error::Version {
                path: path.into(),
                found: hdr.version,
                min: SEGMENT_VERSION,
                max: SEGMENT_VERSION,
            });
        }
        let crc = crc32c::crc32c(&bytes[..HEADER_LEN - 4]);
        if crc != hdr.header_crc {
            return Err(bad(format!(
                "header checksum {:08x}, expected {:08x}",
                crc, hdr.header_crc
            )));
        }
        if hdr.file_len != bytes.len() as u64 {
            return Err(bad(format!(
                "file is {} bytes, header says {}",
                bytes.len(),
                hdr.file_len
            )));
        }
        let (rows, users, locs, dim) = (
            hdr.rows as u64,
            hdr.users as u64,
            hdr.locations as u64,
            hdr.dim as u64,
        );
        if hdr.code_stride as usize != code_stride(dim as usize) {
            return Err(bad(format!(
                "code stride {} does not fit dimension {dim}",
                hdr.code_stride
            )));
        }
        let expect = [
            4 * rows,
            4 * users,
            4 * (users + 1),
            u64::MAX,
            4 * (locs + 1),
            u64::MAX,
            4 * (rows + 1),
            u64::MAX,
            12 * rows,
            rows * hdr.code_stride as u64,
            4 * rows * dim,
            12 * rows,
            rows * dims4(dim as usize) as u64 / 2,
        ];
        let mut end = HEADER_LEN as u64;
        for (i, (s, want)) in hdr.sections.iter().zip(expect).enumerate() {
            if s[0] % 64 != 0
                || s[0] < end
                || s[0].checked_add(s[1]).is_none_or(|e| e > hdr.file_len)
            {
                return Err(bad(format!(
                    "section {i} at {}+{} is out of place",
                    s[0], s[1]
                )));
            }
            if want != u64::MAX && s[1] != want {
                return Err(bad(format!(
                    "section {i} is {} bytes, expected {want}",
                    s[1]
                )));
            }
            end = s[0] + s[1];
        }
        let crc = tables_crc(&bytes, &hdr);
        if crc != hdr.tables_crc {
            return Err(bad(format!(
                "table checksum {crc:08x}, expected {:08x}",
                hdr.tables_crc
            )));
        }
        let seg = FaceSegment {
            bytes,
            hdr,
            path: path.to_path_buf(),
            by_user: std::sync::OnceLock::new(),
        };
        seg.check_strings(Section::UserOff, Section::UserBytes, users)?;
        seg.check_strings(Section::LocOff, Section::LocBytes, locs)?;
        seg.check_strings(Section::TplOff, Section::TplBytes, rows)?;
        if seg.row_user().iter().any(|&u| u as u64 >= users) {
            return Err(bad("a row names a user beyond the user table".into()));
        }
        if seg.user_loc().iter().any(|&l| l as u64 >= locs) {
            return Err(bad("a user names a location beyond the table".into()));
        }
        Ok(seg)
    }

    fn check_strings(&self, off: Section, bytes: Section, n: u64) -> Result<()> {
        let offs: &[u32] = self.u32s(off);
        let data = self.section(bytes);
        if offs.first() != Some(&0) || *offs.last().unwrap_or(&0) as usize != data.len() {
            return Err(Error::corrupt(
                &self.path,
                format!("string table {off:?} does not span its bytes"),
            ));
        }
        if offs.windows(2).any(|w| w[0] > w[1]) {
            return Err(Error::corrupt(
                &self.path,
                format!("string table {off:?} is not ordered"),
            ));
        }
        for w in offs.windows(2).take(n as usize) {
            if std::str::from_utf8(&data[w[0] as usize..w[1] as usize]).is_err() {
                return Err(Error::corrupt(
                    &self.path,
                    format!("string table {off:?} holds invalid UTF-8"),
                ));
            }
        }
        Ok(())
    }

    /// Checks the bulk checksum (reads every byte).
    pub fn verify_payload(&self) -> Result<()> {
        let crc = crc32c::crc32c(&self.bytes[HEADER_LEN..]);
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

    fn section(&self, s: Section) -> &[u8] {
        let [off, len] = self.hdr.sections[s as usize];
        &self.bytes[off as usize..(off + len) as usize]
    }
    fn u32s(&self, s: Section) -> &[u32] {
        bytemuck::cast_slice(self.section(s))
    }
    fn string(&self, off: Section, bytes: Section, i: usize) -> &str {
        let o = self.u32s(off);
        std::str::from_utf8(&self.section(bytes)[o[i] as usize..o[i + 1] as usize]).unwrap_or("")
    }

    /// FaceSegment id (unique within the store).
    pub fn id(&self) -> u64 {
        self.hdr.segment_id
    }
    /// Number of rows (live and dead).
    pub fn rows(&self) -> usize {
        self.hdr.rows as usize
    }
    /// Embedding dimension.
    pub fn dim(&self) -> usize {
        self.hdr.dim as usize
    }
    /// Bytes per code row.
    pub fn stride(&self) -> usize {
        self.hdr.code_stride as usize
    }
    /// The model this segment's templates belong to.
    pub fn model(&self) -> &str {
        let m = &self.hdr.model;
        let end = m.iter().position(|&b| b == 0).unwrap_or(m.len());
        std::str::from_utf8(&m[..end]).unwrap_or("")
    }
    /// The file (or in-memory name) this segment was opened from: what errors about it name.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// File size in bytes.
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }
    /// True when memory-mapped from a file.
    pub fn is_mapped(&self) -> bool {
        self.bytes.is_mapped()
    }
    /// User index per row.
    pub fn row_user(&self) -> &[u32] {
        self.u32s(Section::RowUser)
    }
    /// Location index per user.
    pub fn user_loc(&self) -> &[u32] {
        self.u32s(Section::UserLoc)
    }
    /// Number of distinct (location, user) pairs.
    pub fn users(&self) -> usize {
        self.hdr.users as usize
    }
    /// User id of user index `u`.
    pub fn user_id(&self, u: u32) -> &str {
        self.string(Section::UserOff, Section::UserBytes, u as usize)
    }
    /// Number of locations.
    pub fn locations(&self) -> usize {
        self.hdr.locations as usize
    }
    /// Location id of location index `l`.
    pub fn location_id(&self, l: u32) -> &str {
        self.string(Section::LocOff, Section::LocBytes, l as usize)
    }
    /// (location, user, template) ids of a row.
    pub fn row_ids(&self, r: usize) -> (&str, &str, &str) {
        let u = self.row_user()[r];
        (
            self.location_id(self.user_loc()[u as usize]),
            self.user_id(u),
            self.string(Section::TplOff, Section::TplBytes, r),
        )
    }
    /// Rows of one user (live or dead), found through an index built on first use.
    pub fn rows_of(&self, location: &str, user: &str) -> impl Iterator<Item = usize> + '_ {
        let ix = self.by_user.get_or_init(|| {
            let key = |u: u32| {
                (
                    self.location_id(self.user_loc()[u as usize]),
                    self.user_id(u),
                )
            };
            let mut sorted: Vec<u32> = (0..self.users() as u32).collect();
            sorted.sort_by(|&a, &b| key(a).cmp(&key(b)));
            let mut count = vec![0u32; self.users() + 1];
            for &u in self.row_user() {
                count[u as usize + 1] += 1;
            }
            for i in 1..count.len() {
                count[i] += count[i - 1];
            }
            let mut fill = count.clone();
            let mut rows = vec![0u32; self.rows()];
            for (r, &u) in self.row_user().iter().enumerate() {
                rows[fill[u as usize] as usize] = r as u32;
                fill[u as usize] += 1;
            }
            UserRows {
                sorted,
                off: count,
                rows,
            }
        });
        let found = ix
            .sorted
            .binary_search_by(|&u| {
                (
                    self.location_id(self.user_loc()[u as usize]),
                    self.user_id(u),
                )
                    .cmp(&(location, user))
            })
            .ok()
            .map(|i| ix.sorted[i] as usize);
        let range = found.map_or(0..0, |u| ix.off[u] as usize..ix.off[u + 1] as usize);
        ix.rows[range].iter().map(|&r| r as usize)
    }

    /// Per-row (scale, code_norm, residual) columns.
    pub fn params(&self) -> (&[f32], &[f32], &[f32]) {
        let p: &[f32] = bytemuck::cast_slice(self.section(Section::Params));
        let n = self.rows();
        (&p[..n], &p[n..2 * n], &p[2 * n..])
    }
    /// All code rows (rows × stride).
    pub fn codes(&self) -> &[u8] {
        self.section(Section::Codes)
    }
    /// Per-row (scale, code_norm, residual) columns of the 4-bit codes.
    pub fn params4(&self) -> (&[f32], &[f32], &[f32]) {
        let p: &[f32] = bytemuck::cast_slice(self.section(Section::Params4));
        let n = self.rows();
        (&p[..n], &p[n..2 * n], &p[2 * n..])
    }
    /// All packed 4-bit code rows (rows × dims4/2).
    pub fn codes4(&self) -> &[u8] {
        self.section(Section::Codes4)
    }
    /// The normalised embedding of row `r`.
    pub fn vector(&self, r: usize) -> &[f32] {
        let d = self.dim();
        &bytemuck::cast_slice::<u8, f32>(self.section(Section::Vectors))[r * d..(r + 1) * d]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<(String, String, String, Vec<f32>)> {
        (0..5)
            .map(|i| {
                let v: Vec<f32> = (0..16).map(|j| ((i * 16 + j) as f32).sin()).collect();
                let v = crate::face::normalize(&v, 16).unwrap();
                ("local".into(), format!("u{}", i / 2), format!("t{i}"), v)
            })
            .collect()
    }

    fn encode_rows(r: &[(String, String, String, Vec<f32>)]) -> Vec<u8> {
        let rin: Vec<FaceRowIn> = r
            .iter()
            .map(|(l, u, t, v)| FaceRowIn {
                location: l,
                user: u,
                template: t,
                vector: v,
                from: None,
            })
            .collect();
        encode(7, "test-model", 16, &rin).unwrap()
    }

    #[test]
    fn round_trip() {
        let r = rows();
        let bytes = encode_rows(&r);
        let seg = FaceSegment::open(Bytes::copy_from(&bytes), Path::new("mem")).unwrap();
        seg.verify_payload().unwrap();
        assert_eq!(
            (seg.id(), seg.rows(), seg.dim(), seg.users(), seg.model()),
            (7, 5, 16, 3, "test-model")
        );
        for (i, (l, u, t, v)) in r.iter().enumerate() {
            assert_eq!(seg.row_ids(i), (l.as_str(), u.as_str(), t.as_str()));
            assert_eq!(seg.vector(i), &v[..]);
        }
    }

    #[test]
    fn damage_is_refused_with_a_reason() {
        let bytes = encode_rows(&rows());
        let open = |b: &[u8]| {
            FaceSegment::open(Bytes::copy_from(b), Path::new("seg"))
                .unwrap_err()
                .to_string()
        };
        assert!(open(&bytes[..100]).contains("shorter than"));
        assert!(open(&bytes[..bytes.len() - 64]).contains("header says"));
        let mut b = bytes.clone();
        b[0] = b'X';
        assert!(open(&b).contains("magic"));
        let mut b = bytes.clone();
        b[12] ^= 1;
        assert!(open(&b).contains("header checksum"));
        let mut b = bytes.clone();
        b[HEADER_LEN] ^= 1; // first table byte
        assert!(open(&b).contains("table checksum"));
        let mut b = bytes.clone();
        let last = b.len() - 100;
        b[last] ^= 1; // in the vectors: open succeeds, verify fails
        let seg = FaceSegment::open(Bytes::copy_from(&b), Path::new("seg")).unwrap();
        assert!(seg
            .verify_payload()
            .unwrap_err()
            .to_string()
            .contains("payload checksum"));
        let mut b = bytes;
        b[8] = 9;
        let crc = crc32c::crc32c(&b[..HEADER_LEN - 4]);
        b[HEADER_LEN - 4..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
        assert!(open(&b).contains("format version 9"));
    }
}
