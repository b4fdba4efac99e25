//! Every kind of file in a store directory, named in one place so recovery and garbage collection never
//! guess: anything in the directory that is not `LOCK`, the manifest, `CODE-KEYS` or a file the
//! manifest names is a leftover of an interrupted checkpoint (or key file write) and is scrubbed on
//! open.

use crate::journal::files as journal;

/// A file of the store, parsed from or formatted to its name (relative to the store directory).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// `MANIFEST`: names the live files (see `manifest`).
    Manifest,
    /// `MANIFEST.tmp`: a manifest being written.
    ManifestTmp,
    /// `LOCK`: held by the one writer process.
    Lock,
    /// `CODE-KEYS`: the locations' code keys, when the store keeps them (see `keys`).
    CodeKeys,
    /// `CODE-KEYS.tmp`: a key file being written.
    CodeKeysTmp,
    /// `wal-<gen>.log`: the write-ahead log of generation `gen` (see `wal`).
    Wal(u64),
    /// `seg-<id>.seg`: an immutable face segment (see `segment::face`).
    FaceSegment(u64),
    /// `fng-<id>.fsg`: an immutable finger segment (see `segment::finger`).
    FingerSegment(u64),
    /// `catalog-<id>.cat`: the catalog at a checkpoint (see `catalog`).
    Catalog(u64),
    /// `seg-<id>-<gen>.del`: the deleted rows of (face or finger) segment `id`, generation `gen`
    /// (see `manifest`; segment ids are unique across both kinds).
    Deletes {
        /// Segment id.
        segment: u64,
        /// Generation.
        generation: u64,
    },
    /// `journal/evt-<first id>.log`: a file of the event journal (see `crate::journal`). The
    /// journal's files live in the `journal/` directory and are the journal's to keep or drop.
    JournalEvents(u64),
    /// `journal/ACK`: the journal's acknowledged cursor and id high-water mark.
    JournalAck,
    /// `journal/ACK.tmp`: the journal's state file being written.
    JournalAckTmp,
}

impl FileKind {
    /// The file name.
    pub fn name(&self) -> String {
        match self {
            FileKind::Manifest => "MANIFEST".into(),
            FileKind::ManifestTmp => "MANIFEST.tmp".into(),
            FileKind::Lock => "LOCK".into(),
            FileKind::CodeKeys => super::keys::FILE.into(),
            FileKind::CodeKeysTmp => super::keys::TMP.into(),
            FileKind::Wal(g) => format!("wal-{g:016x}.log"),
            FileKind::FaceSegment(id) => format!("seg-{id:016x}.seg"),
            FileKind::FingerSegment(id) => format!("fng-{id:016x}.fsg"),
            FileKind::Catalog(id) => format!("catalog-{id:016x}.cat"),
            FileKind::Deletes {
                segment,
                generation,
            } => format!("seg-{segment:016x}-{generation:016x}.del"),
            FileKind::JournalEvents(first) => {
                format!("{}/{}", crate::journal::DIR, journal::file_name(*first))
            }
            FileKind::JournalAck => format!("{}/{}", crate::journal::DIR, journal::ACK),
            FileKind::JournalAckTmp => format!("{}/{}", crate::journal::DIR, journal::ACK_TMP),
        }
    }

    /// Parses a file name; None for names that are not the store's.
    pub fn parse(name: &str) -> Option<FileKind> {
        let hex = |s: &str| {
            (s.len() == 16)
                .then(|| u64::from_str_radix(s, 16).ok())
                .flatten()
        };
        match name {
            "MANIFEST" => return Some(FileKind::Manifest),
            "MANIFEST.tmp" => return Some(FileKind::ManifestTmp),
            "LOCK" => return Some(FileKind::Lock),
            super::keys::FILE => return Some(FileKind::CodeKeys),
            super::keys::TMP => return Some(FileKind::CodeKeysTmp),
            _ => {}
        }
        if let Some(j) = name
            .strip_prefix(crate::journal::DIR)
            .and_then(|s| s.strip_prefix('/'))
        {
            return match j {
                journal::ACK => Some(FileKind::JournalAck),
                journal::ACK_TMP => Some(FileKind::JournalAckTmp),
                _ => journal::parse_name(j).map(FileKind::JournalEvents),
            };
        }
        if let Some(g) = name
            .strip_prefix("wal-")
            .and_then(|s| s.strip_suffix(".log"))
        {
            return hex(g).map(FileKind::Wal);
        }
        if let Some(id) = name
            .strip_prefix("catalog-")
            .and_then(|s| s.strip_suffix(".cat"))
        {
            return hex(id).map(FileKind::Catalog);
        }
        if let Some(id) = name
            .strip_prefix("fng-")
            .and_then(|s| s.strip_suffix(".fsg"))
        {
            return hex(id).map(FileKind::FingerSegment);
        }
        if let Some(id) = name
            .strip_prefix("seg-")
            .and_then(|s| s.strip_suffix(".seg"))
        {
            return hex(id).map(FileKind::FaceSegment);
        }
        if let Some(rest) = name
            .strip_prefix("seg-")
            .and_then(|s| s.strip_suffix(".del"))
        {
            let (a, b) = rest.split_once('-')?;
            return Some(FileKind::Deletes {
                segment: hex(a)?,
                generation: hex(b)?,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn names_round_trip() {
        for k in [
            FileKind::Manifest,
            FileKind::ManifestTmp,
            FileKind::Lock,
            FileKind::CodeKeys,
            FileKind::CodeKeysTmp,
            FileKind::Wal(3),
            FileKind::FaceSegment(u64::MAX),
            FileKind::Catalog(9),
            FileKind::FingerSegment(4),
            FileKind::Deletes {
                segment: 1,
                generation: 2,
            },
            FileKind::JournalEvents(7),
            FileKind::JournalAck,
            FileKind::JournalAckTmp,
        ] {
            assert_eq!(FileKind::parse(&k.name()), Some(k));
        }
        assert_eq!(FileKind::parse("seg-12.seg"), None);
        assert_eq!(FileKind::parse("notes.txt"), None);
        assert_eq!(FileKind::parse("journal/notes.txt"), None);
    }
}
