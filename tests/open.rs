//! Opening a store without losing or inventing a commit: a damaged log record is corruption (never
//! a torn tail to cut), the writer lock cannot be side-stepped by deleting `LOCK`.

mod common;
use common::*;
use edgeid::{Error, OpenOptions, Store};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const DIM: usize = 8;

/// Every file of a directory with its bytes (a subdirectory's, the event journal's, as
/// `sub/file`).
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        if e.path().is_dir() {
            for (sub, bytes) in files(&e.path()) {
                out.insert(format!("{name}/{sub}"), bytes);
            }
        } else {
            out.insert(name, std::fs::read(e.path()).unwrap());
        }
    }
    out
}

/// The store's one log file.
fn wal_path(dir: &Path) -> PathBuf {
    let name = files(dir)
        .into_keys()
        .find(|n| n.starts_with("wal-"))
        .expect("a log");
    dir.join(name)
}

/// Offsets of the records of a log (32-byte header, then `len u32 | crc u32 | seq u64 | payload`).
fn record_offsets(wal: &[u8]) -> Vec<usize> {
    let mut pos = 32;
    let mut out = Vec::new();
    while pos + 16 <= wal.len() {
        out.push(pos);
        let len = u32::from_le_bytes(wal[pos..pos + 4].try_into().unwrap()) as usize;
        pos += 16 + len;
    }
    assert_eq!(pos, wal.len(), "records fill the log");
    out
}

/// A closed store on disk whose log holds `n` commits (one face each).
fn store_with_commits(n: usize) -> tempfile::TempDir {
    let (dir, s) = temp_store(DIM, OpenOptions::new().threads(1));
    let mut rng = Rng(3);
    for i in 0..n {
        s.commit(&[put("a", &format!("u{i}"), "t", rng.vector(DIM))])
            .unwrap();
    }
    drop(s);
    dir
}

fn flip(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    b[at] ^= 0x10;
    std::fs::write(path, b).unwrap();
}

#[test]
fn a_damaged_record_before_the_last_is_corruption_and_nothing_is_cut() {
    // The damage may hit the payload, the checksum, the sequence or the length of the middle
    // record: each time the later commit proves the damaged one was durable.
    for field in [20usize, 4, 9, 0, 2] {
        let dir = store_with_commits(3);
        let wal = wal_path(dir.path());
        let offsets = record_offsets(&std::fs::read(&wal).unwrap());
        assert_eq!(offsets.len(), 3);
        flip(&wal, offsets[1] + field);
        let before = files(dir.path());
        let e = Store::open(dir.path(), OpenOptions::new()).unwrap_err();
        match &e {
            Error::Corrupt { path, what } => {
                assert_eq!(path, &wal, "{e}");
                assert!(what.contains(&format!("byte {}", offsets[1])), "{e}");
                assert!(what.contains("re-sync") || what.contains("restore"), "{e}");
            }
            _ => panic!("field {field}: expected corruption, got {e}"),
        }
        assert_eq!(
            files(dir.path()),
            before,
            "field {field}: open changed files"
        );
    }
}

#[test]
fn a_torn_last_record_is_still_cut_and_the_store_opens() {
    // Cut inside the last record, or its bytes lost (zeros) with the length already durable.
    for tear in 0..3 {
        let dir = store_with_commits(3);
        let wal = wal_path(dir.path());
        let mut b = std::fs::read(&wal).unwrap();
        let last = *record_offsets(&b).last().unwrap();
        match tear {
            0 => b.truncate(last + 7),
            1 => b.truncate(b.len() - 3),
            _ => b[last + 16..].fill(0),
        }
        std::fs::write(&wal, &b).unwrap();
        let s = Store::open(dir.path(), OpenOptions::new()).unwrap();
        assert_eq!(s.snapshot().live_faces(), 2, "tear {tear}");
        assert_eq!(s.snapshot().seq(), 2);
        drop(s);
        assert_eq!(std::fs::read(&wal).unwrap().len(), last, "tear {tear}");
    }
}

#[test]
fn deleting_lock_does_not_let_a_second_writer_in() {
    let (dir, s) = temp_store(DIM, OpenOptions::new().threads(1));
    std::fs::remove_file(dir.path().join("LOCK")).unwrap();
    let e = Store::open(dir.path(), OpenOptions::new()).unwrap_err();
    assert!(matches!(e, Error::Locked(_)), "{e}");
    drop(s);
    Store::open(dir.path(), OpenOptions::new()).unwrap();
}

fn read_only() -> OpenOptions {
    OpenOptions::new().threads(1).read_only(true)
}

#[test]
fn a_read_only_open_writes_nothing_and_refuses_writes() {
    let dir = store_with_commits(3);
    // No lock file, a leftover of an interrupted checkpoint, a torn tail: a writer would create,
    // scrub and cut; a reader must leave every byte as it is.
    std::fs::remove_file(dir.path().join("LOCK")).unwrap();
    std::fs::write(dir.path().join("seg-0000000000000099.seg"), b"leftover").unwrap();
    let wal = wal_path(dir.path());
    let mut b = std::fs::read(&wal).unwrap();
    b.extend_from_slice(&[7, 0, 0, 0, 1]);
    std::fs::write(&wal, b).unwrap();
    let before = files(dir.path());
    let s = Store::open(dir.path(), read_only()).unwrap();
    assert!(s.is_read_only());
    assert_eq!(s.snapshot().live_faces(), 3);
    assert_eq!(s.snapshot().seq(), 3);
    assert_eq!(s.stats().faces.live, 3);
    s.verify_checksums().unwrap();
    let ro = |e: Error| assert!(matches!(e, Error::ReadOnly(_)), "{e}");
    ro(s.commit(&[put("a", "x", "t", vec![1.0; DIM])]).unwrap_err());
    ro(s.checkpoint().unwrap_err());
    ro(s.compact().unwrap_err());
    ro(s.erase_deleted().unwrap_err());
    ro(s.maintain().unwrap_err());
    ro(s.apply_delta(b"{}", &mut |_| {}).unwrap_err());
    drop(s);
    assert_eq!(files(dir.path()), before, "a read-only open changed files");
    // A writer does what the reader did not: lock file, scrub, cut.
    drop(Store::open(dir.path(), OpenOptions::new()).unwrap());
    let after = files(dir.path());
    assert!(after.contains_key("LOCK"));
    assert!(!after.contains_key("seg-0000000000000099.seg"));
    let name = wal.file_name().unwrap().to_str().unwrap();
    assert_eq!(
        after[name].len() + 5,
        before[name].len(),
        "the torn tail is cut"
    );
    let e = Store::create(&dir.path().join("new"), MODEL, DIM, read_only()).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
}

#[test]
fn a_read_only_open_refuses_a_damaged_log_too() {
    let dir = store_with_commits(3);
    let wal = wal_path(dir.path());
    let offsets = record_offsets(&std::fs::read(&wal).unwrap());
    flip(&wal, offsets[1] + 20);
    let before = files(dir.path());
    let e = Store::open(dir.path(), read_only()).unwrap_err();
    assert!(matches!(e, Error::Corrupt { .. }), "{e}");
    assert_eq!(files(dir.path()), before);
}

#[test]
fn readers_and_a_writer_coexist_and_erasure_waits_for_readers() {
    let (dir, w) = temp_store(DIM, OpenOptions::new().threads(1));
    let mut rng = Rng(5);
    for u in ["u0", "u1", "u2"] {
        w.commit(&[put("a", u, "t", rng.vector(DIM))]).unwrap();
    }
    w.compact().unwrap();
    let seg = files(dir.path())
        .into_keys()
        .find(|n| n.ends_with(".seg"))
        .expect("a segment");
    let seg_bytes = std::fs::read(dir.path().join(&seg)).unwrap();
    let r1 = Store::open(dir.path(), read_only()).unwrap();
    let r2 = Store::open(dir.path(), read_only()).unwrap();
    // The writer goes on: a deletion, erased at once (compaction + scrubbing of the old segment).
    w.commit(&[edgeid::Change::RemoveFace {
        location: "a".into(),
        user: "u0".into(),
        template: "t".into(),
    }])
    .unwrap();
    let still_mapped = w.erase_deleted().unwrap();
    assert!(still_mapped >= 1, "the readers' segment must wait");
    // The readers keep the state they opened, read from intact bytes.
    assert_eq!(r1.snapshot().live_faces(), 3);
    r1.verify_checksums().unwrap();
    r2.verify_checksums().unwrap();
    assert_eq!(std::fs::read(dir.path().join(&seg)).unwrap(), seg_bytes);
    let r3 = Store::open(dir.path(), read_only()).unwrap();
    assert_eq!(r3.snapshot().live_faces(), 2);
    drop((r1, r2, r3));
    // Once they are closed, the writer's next housekeeping scrubs the old segment.
    w.maintain().unwrap();
    assert!(!dir.path().join(&seg).exists(), "scrubbed once released");
}
