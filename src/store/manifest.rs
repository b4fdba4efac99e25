//! The manifest: the one small file that names the live state of a store.
//!
//! It is replaced, never edited: written to `MANIFEST.tmp`, fsynced, renamed over `MANIFEST`, and the
//! directory fsynced. A crash leaves either the old or the new manifest, each naming complete files.
//!
//! # Format (version 3)
//! ```text
//! magic "EDGEIDMF" | version u32 | dim u32 | model (u16 len + bytes) | last_seq u64 | wal_gen u64 |
//! next_id u64 | catalog file id u64 (0 = none) | segment count u32 | per segment: id u64, deletes generation u64 (0 = none) |
//! finger segment count u32 | per finger segment: id u64, deletes generation u64 |
//! log_started u64 | unerased_since u64 | crc32c u32
//! ```
//! | field | meaning |
//! |---|---|
//! | `log_started` | wall-clock time (Unix seconds) when the checkpoint that wrote this manifest started the log `wal_gen`; 0 = unknown |
//! | `unerased_since` | wall-clock time (Unix seconds) of the oldest deletion whose template bytes are still in a file this manifest names (a segment row listed in a deletion file); 0 = none |
//!
//! The two times carry the erasure deadline across restarts (see `Store::maintain`): a deletion
//! still only in the log happened after the log was started, so on open it counts from
//! `log_started` (earlier than it really happened: erasure may come early, never late); one already
//! checkpointed counts from `unerased_since`.
//!
//! Version 2 is the same without the two times (stores from before the persisted erasure deadline):
//! read, its pending deletions counted from the open. Version 1 is version 2 without the finger
//! segments (stores from before the finger index); it is read, and the store is upgraded on open
//! (see `Store::open`). Every checkpoint writes the current version. The CRC covers every byte
//! before it. `next_id` feeds segment ids and deletion generations, so a file
//! name is never reused. Deletion files (`seg-<id>-<gen>.del`) hold: magic "EDGEIDDL", version u32,
//! segment id u64, count u32, count × row u32 (ascending), crc32c u32.

use super::codec::{ByteReader, ByteWriter, Short};
use super::files::FileKind;
use crate::error::{Error, Result};
use crate::fs::{write_file, Fs};
use std::path::Path;

const MAGIC: [u8; 8] = *b"EDGEIDMF";
const DEL_MAGIC: [u8; 8] = *b"EDGEIDDL";
/// Current manifest version.
pub const VERSION: u32 = 3;
/// First version with finger segments (older stores index their catalog's fingerprints on open).
pub const FINGERS_VERSION: u32 = 2;
/// Oldest manifest version read.
const MIN_VERSION: u32 = 1;
/// Version of deletion files.
const DEL_VERSION: u32 = 1;

/// The decoded manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Embedding dimension of the store.
    pub dim: u32,
    /// Face model of the store.
    pub model: String,
    /// Sequence number of the last commit included in the segments.
    pub last_seq: u64,
    /// Generation of the live write-ahead log.
    pub wal_gen: u64,
    /// Next unused id for segments, deletion and catalog files.
    pub next_id: u64,
    /// Id of the catalog file (`catalog-<id>.cat`), 0 when the catalog is empty.
    pub catalog: u64,
    /// Live face segments: (segment id, deletion-file generation or 0).
    pub faces: Vec<(u64, u64)>,
    /// Live finger segments: (segment id, deletion-file generation or 0).
    pub fingers: Vec<(u64, u64)>,
    /// When the live log was started (Unix seconds; 0 = unknown: manifests before version 3).
    pub log_started: u64,
    /// When the oldest deletion still in the named files happened (Unix seconds; 0 = none or, before
    /// version 3, unknown).
    pub unerased_since: u64,
    /// Version the manifest was read as (encoding always writes the current one).
    pub version: u32,
}

impl Manifest {
    /// The segment files and deletion files this manifest names, faces first.
    pub fn segment_files(&self) -> Vec<FileKind> {
        let faces = self
            .faces
            .iter()
            .map(|&(id, d)| (FileKind::FaceSegment(id), id, d));
        let fingers = self
            .fingers
            .iter()
            .map(|&(id, d)| (FileKind::FingerSegment(id), id, d));
        let mut out = Vec::new();
        for (kind, id, del) in faces.chain(fingers) {
            out.push(kind);
            if del != 0 {
                out.push(FileKind::Deletes {
                    segment: id,
                    generation: del,
                });
            }
        }
        out
    }

    /// Serialises with a trailing checksum.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = ByteWriter::default();
        w.bytes(&MAGIC);
        w.u32(VERSION);
        w.u32(self.dim);
        w.str(&self.model);
        w.u64(self.last_seq);
        w.u64(self.wal_gen);
        w.u64(self.next_id);
        w.u64(self.catalog);
        for list in [&self.faces, &self.fingers] {
            w.u32(list.len() as u32);
            for &(id, del) in list {
                w.u64(id);
                w.u64(del);
            }
        }
        w.u64(self.log_started);
        w.u64(self.unerased_since);
        let crc = crc32c::crc32c(&w.0);
        w.u32(crc);
        w.0
    }

    /// Parses and checks a manifest.
    pub fn decode(bytes: &[u8], path: &Path) -> Result<Manifest> {
        if bytes.len() < 12 || bytes[..8] != MAGIC {
            return Err(Error::corrupt(path, "not a manifest (bad magic)"));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32c::crc32c(body) != u32::from_le_bytes(crc.try_into().unwrap()) {
            return Err(Error::corrupt(path, "manifest checksum mismatch"));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
        if !(MIN_VERSION..=VERSION).contains(&version) {
            return Err(Error::Version {
                path: path.into(),
                found: version,
                min: MIN_VERSION,
                max: VERSION,
            });
        }
        let parse = || -> Result<Manifest, Short> {
            let mut r = ByteReader::new(&body[12..]);
            let dim = r.u32("dim")?;
            let model = r.str("model")?.to_string();
            let last_seq = r.u64("last_seq")?;
            let wal_gen = r.u64("wal_gen")?;
            let next_id = r.u64("next_id")?;
            let catalog = r.u64("catalog")?;
            let mut list = |what: &'static str| -> Result<Vec<(u64, u64)>, Short> {
                let n = r.u32(what)?;
                let mut v = Vec::new();
                for _ in 0..n {
                    v.push((r.u64("segment id")?, r.u64("deletes generation")?));
                }
                Ok(v)
            };
            let faces = list("segment count")?;
            let fingers = if version >= FINGERS_VERSION {
                list("finger segment count")?
            } else {
                Vec::new()
            };
            let (log_started, unerased_since) = if version >= 3 {
                (r.u64("log_started")?, r.u64("unerased_since")?)
            } else {
                (0, 0)
            };
            if r.remaining() != 0 {
                return Err(Short("length"));
            }
            Ok(Manifest {
                dim,
                model,
                last_seq,
                wal_gen,
                next_id,
                catalog,
                faces,
                fingers,
                log_started,
                unerased_since,
                version,
            })
        };
        parse().map_err(|Short(w)| Error::corrupt(path, format!("manifest field {w} is damaged")))
    }
}

/// Encodes a deletion file for `segment` listing dead `rows` (ascending).
pub fn encode_deletes(segment: u64, rows: &[u32]) -> Vec<u8> {
    let mut w = ByteWriter::default();
    w.bytes(&DEL_MAGIC);
    w.u32(DEL_VERSION);
    w.u64(segment);
    w.u32(rows.len() as u32);
    for &r in rows {
        w.u32(r);
    }
    let crc = crc32c::crc32c(&w.0);
    w.u32(crc);
    w.0
}

/// Decodes a deletion file, checking it belongs to `segment` with `rows` rows.
pub fn decode_deletes(bytes: &[u8], segment: u64, rows: usize, path: &Path) -> Result<Vec<u32>> {
    let bad = |w: &str| Error::corrupt(path, w.to_string());
    if bytes.len() < 28 || bytes[..8] != DEL_MAGIC {
        return Err(bad("not a deletion file"));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32c::crc32c(body) != u32::from_le_bytes(crc.try_into().unwrap()) {
        return Err(bad("deletion file checksum mismatch"));
    }
    let mut r = ByteReader::new(&body[8..]);
    let parsed = (|| -> Result<(u32, u64, Vec<u32>), Short> {
        let v = r.u32("version")?;
        let s = r.u64("segment")?;
        let n = r.u32("count")?;
        let mut out = Vec::with_capacity((n as usize).min(rows));
        for _ in 0..n {
            out.push(r.u32("row")?);
        }
        Ok((v, s, out))
    })()
    .map_err(|Short(w)| bad(w))?;
    let (v, s, out) = parsed;
    if v != DEL_VERSION {
        return Err(Error::Version {
            path: path.into(),
            found: v,
            min: DEL_VERSION,
            max: DEL_VERSION,
        });
    }
    if s != segment {
        return Err(bad("deletion file names another segment"));
    }
    if out.iter().any(|&x| x as usize >= rows) || out.windows(2).any(|w| w[0] >= w[1]) {
        return Err(bad("deletion file rows out of range or not ascending"));
    }
    Ok(out)
}

/// Manifest switch: write-temp, fsync, fsync dir (the new files it names), rename, fsync dir.
pub fn write_manifest(fs: &dyn Fs, dir: &Path, m: &Manifest) -> Result<()> {
    fs.sync_dir(dir).map_err(|e| Error::io("fsync", dir, e))?;
    let tmp = dir.join(FileKind::ManifestTmp.name());
    if fs.file_len(&tmp).is_ok() {
        fs.scrub_remove(&tmp)
            .map_err(|e| Error::io("remove", &tmp, e))?;
    }
    write_file(fs, &tmp, &m.encode())?;
    let dst = dir.join(FileKind::Manifest.name());
    fs.rename(&tmp, &dst)
        .map_err(|e| Error::io("rename", &dst, e))?;
    fs.sync_dir(dir).map_err(|e| Error::io("fsync", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn manifest_round_trip_and_damage() {
        let m = Manifest {
            dim: 512,
            model: "w600k_mbf".into(),
            last_seq: 9,
            wal_gen: 2,
            next_id: 5,
            catalog: 4,
            faces: vec![(1, 0), (3, 4)],
            fingers: vec![(6, 0), (7, 8)],
            log_started: 1_790_000_000,
            unerased_since: 1_789_999_000,
            version: VERSION,
        };
        let b = m.encode();
        assert_eq!(Manifest::decode(&b, Path::new("M")).unwrap(), m);
        for i in 0..b.len() {
            let mut c = b.clone();
            c[i] ^= 1;
            assert!(Manifest::decode(&c, Path::new("M")).is_err(), "flip at {i}");
        }
        // Version 2: no times (read as unknown).
        let mut v2 = b[..b.len() - 20].to_vec();
        v2[8..12].copy_from_slice(&2u32.to_le_bytes());
        let crc = crc32c::crc32c(&v2);
        v2.extend_from_slice(&crc.to_le_bytes());
        let old = Manifest::decode(&v2, Path::new("M")).unwrap();
        assert_eq!(
            (old.version, old.log_started, old.unerased_since),
            (2, 0, 0)
        );
        assert_eq!(old.fingers, m.fingers);
        let d = encode_deletes(3, &[1, 5]);
        assert_eq!(
            decode_deletes(&d, 3, 6, Path::new("D")).unwrap(),
            vec![1, 5]
        );
        assert!(decode_deletes(&d, 3, 5, Path::new("D")).is_err());
        assert!(decode_deletes(&d, 4, 6, Path::new("D")).is_err());
    }
}
