//! A store directory damaged the way a failing flash chip damages it — one file flipped, truncated,
//! extended or zeroed at some offset — then opened and asked every question a terminal asks.
//! Opening may refuse (naming the file); whatever it answers, it never panics, and every score it
//! answers is finite and in range ([-1, 1] faces, [0, 1] fingers).
#![no_main]

use edgeid::finger::FingerTemplate;
use edgeid::{Change, FaceIdentify, FingerIdentify, OpenOptions, Store};
use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const DIM: usize = 512;
const FULL: &[u8] = include_bytes!("../../testdata/sync/01-full.json");
const CHANGES: &[u8] = include_bytes!("../../testdata/sync/02-changes.json");
const FINGER: &[u8] = include_bytes!("../../testdata/fingerprint/fvc2002/DB1_B/mindtct/101_1.iso");
const PROBE: &[u8] = include_bytes!("../../testdata/fingerprint/fvc2002/DB1_B/mindtct/101_2.iso");

fn opts() -> OpenOptions {
    OpenOptions::new().threads(1).checkpoint_rows(4)
}

fn vector(seed: usize) -> Vec<f32> {
    (0..DIM)
        .map(|i| ((i * 31 + seed * 17) % 97) as f32 - 48.0)
        .collect()
}

/// A store with every file kind: face and finger segments, a deletion file, a catalog, a log with
/// records after the last checkpoint. Built once per process.
fn golden() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, p) = DIR.get_or_init(|| {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("store");
        let store = Store::create(&dir, "w600k_mbf", DIM, opts()).expect("create");
        store.apply_delta(FULL, &mut |_| {}).expect("full delta");
        let put = |u: usize| Change::PutFace {
            location: "local".into(),
            user: format!("u{u}"),
            template: "t".into(),
            embedding: vector(u),
        };
        store
            .commit(&(0..6).map(put).collect::<Vec<_>>())
            .expect("faces");
        store
            .commit(&[Change::PutFinger {
                location: "local".into(),
                user: "u0".into(),
                template: "f".into(),
                record: FINGER.to_vec(),
                format: None,
                position: None,
            }])
            .expect("finger");
        store.checkpoint().expect("checkpoint");
        store
            .commit(&[Change::RemoveFace {
                location: "local".into(),
                user: "u1".into(),
                template: "t".into(),
            }])
            .expect("remove");
        store.checkpoint().expect("checkpoint");
        store
            .apply_delta(CHANGES, &mut |_| {})
            .expect("changes delta");
        store.commit(&[put(7)]).expect("tail face");
        (tmp, dir)
    });
    p
}

fn copy_dir(from: &Path, to: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(to).expect("mkdir");
    let mut files = Vec::new();
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let dst = to.join(e.file_name());
        if e.path().is_dir() {
            // The event journal (`journal/`): its files are damaged too.
            files.extend(copy_dir(&e.path(), &dst));
            continue;
        }
        std::fs::copy(e.path(), &dst).expect("copy");
        if e.file_name() != "LOCK" {
            files.push(dst);
        }
    }
    files.sort();
    files
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 11 {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("store");
    let files = copy_dir(golden(), &dir);
    let file = &files[usize::from(data[0]) % files.len()];
    let mut bytes = std::fs::read(file).expect("read");
    let at =
        u64::from_le_bytes(data[1..9].try_into().expect("8 bytes")) as usize % (bytes.len() + 1);
    match data[9] % 4 {
        0 if at < bytes.len() => bytes[at] ^= 1 << (data[10] % 8),
        1 => bytes.truncate(at),
        2 => bytes
            .splice(at..at, data[11..].iter().copied())
            .for_each(drop),
        _ => {
            let end = (at + usize::from(data[10])).min(bytes.len());
            bytes[at..end].fill(0);
        }
    }
    std::fs::write(file, &bytes).expect("write");

    let Ok(store) = Store::open(&dir, opts()) else {
        return;
    };
    let _ = store.stats();
    let _ = store.verify_checksums();
    // A damaged row is an error, never a score: every score answered is finite and in range.
    let face = |s: f64| assert!(s.is_finite() && (-1.0..=1.0).contains(&s), "face score {s}");
    let finger = |s: f64| {
        assert!(
            s.is_finite() && (0.0..=1.0).contains(&s),
            "finger score {s}"
        )
    };
    if let Ok(hits) = store.identify_face(&FaceIdentify::new(&vector(3)).k(3)) {
        hits.iter().for_each(|h| face(f64::from(h.score)));
    }
    if let Ok(Some(h)) = store.verify_face("local", "u3", &vector(3)) {
        face(f64::from(h.score));
    }
    let probe = FingerTemplate::from_record_bytes(PROBE).expect("probe");
    if let Ok(hits) = store.identify_finger(&FingerIdentify::new(probe.as_ref()).k(3)) {
        hits.iter().for_each(|h| finger(f64::from(h.score)));
    }
    if let Ok(Some(h)) = store.verify_finger("local", "u0", &probe.as_ref()) {
        finger(f64::from(h.score));
    }
    for s in store.sync_status() {
        let _ = store.digest(&s.location);
    }
    let _ = store.lookup_plate(None, "AB-123-C");
});
