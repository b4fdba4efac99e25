//! Streamed deltas (`Store::apply_delta_reader`) and the bulk path: the same states, hashes and
//! refusals as whole deltas, with templates staged in (many, tiny) segment files.

mod common;
use common::deltas::{reads, realistic, DIM};
use common::*;
use edgeid::sync::{Outcome, Refusal};
use edgeid::{Error, FaceIdentify, OpenOptions, Store};
use serde_json::Value;

/// A delta re-serialised with `changes` as its last member (what a streamed delta must be).
fn changes_last(d: &[u8]) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(d).unwrap();
    let changes = v.as_object_mut().unwrap().remove("changes").unwrap();
    let mut head = serde_json::to_vec(&v).unwrap();
    head.pop();
    head.extend_from_slice(b",\"changes\":");
    head.extend_from_slice(&serde_json::to_vec(&changes).unwrap());
    head.push(b'}');
    head
}

fn view(store: &Store) -> Vec<(String, String)> {
    reads(store)
        .into_iter()
        .map(|(name, a)| (name, a.unwrap_or_else(|e| format!("error: {e}"))))
        .collect()
}

/// Bulk path everywhere, tiny pieces and tiny segment files: many staged segments.
fn tiny(opts: OpenOptions) -> OpenOptions {
    opts.bulk_rows(1)
        .memory_budget(1 << 20)
        .max_segment_bytes(4 << 10)
}

#[test]
fn streamed_deltas_reach_the_states_and_hashes_of_whole_ones() {
    let (_a, whole) = temp_store(DIM, OpenOptions::new());
    let (_b, streamed) = temp_store(DIM, tiny(OpenOptions::new()));
    for (i, d) in realistic().iter().enumerate() {
        let w = whole.apply_delta(d, &mut |_| {}).unwrap();
        let s = streamed
            .apply_delta_reader(&mut &changes_last(d)[..], &mut |_| {})
            .unwrap();
        assert_eq!(w, s, "delta {i}");
        assert!(view(&whole) == view(&streamed), "delta {i}: same reads");
        // The same hash was remembered: each is the other's re-send.
        let again = whole
            .apply_delta_reader(&mut &changes_last(d)[..], &mut |_| {})
            .unwrap();
        assert!(matches!(again, Outcome::AlreadyApplied { .. }), "{again:?}");
        let again = streamed.apply_delta(d, &mut |_| {}).unwrap();
        assert!(matches!(again, Outcome::AlreadyApplied { .. }), "{again:?}");
    }
    // Tiny segment files: the bulk path wrote many.
    let segs = std::fs::read_dir(streamed.dir())
        .unwrap()
        .filter(|e| {
            let n = e.as_ref().unwrap().file_name();
            let n = n.to_string_lossy();
            n.ends_with(".seg") || n.ends_with(".fsg")
        })
        .count();
    assert!(segs >= 4, "{segs} segment files");
    // Reopened, the same.
    let before = view(&streamed);
    let dir = streamed.dir().to_path_buf();
    drop(streamed);
    let reopened = Store::open(&dir, tiny(OpenOptions::new())).unwrap();
    assert!(view(&reopened) == before);
}

#[test]
fn a_refused_streamed_delta_changes_nothing_and_leaves_no_file() {
    let (dir, store) = temp_store(DIM, tiny(OpenOptions::new()));
    let deltas = realistic();
    store.apply_delta(&deltas[0], &mut |_| {}).unwrap();
    let files = |d: &std::path::Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let (state, listing) = (view(&store), files(dir.path()));
    let second = changes_last(&deltas[1]);
    let text = String::from_utf8(second.clone()).unwrap();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        // `changes` first: the members that say how to read it come later.
        (deltas[1].clone(), "last member"),
        // A bad embedding in the second change, after the first was staged.
        (
            text.replacen("\"embedding\":\"", "\"embedding\":\"!!", 1)
                .into_bytes(),
            "changes[0].user.faces[0].embedding",
        ),
        // Cut in the middle.
        (second[..second.len() - 40].to_vec(), "ends in the middle"),
        // Trailing bytes.
        ([&second[..], b" {}"].concat(), "after the delta"),
    ];
    for (bytes, want) in cases {
        let e = store
            .apply_delta_reader(&mut &bytes[..], &mut |_| {})
            .unwrap_err();
        assert!(matches!(e, Error::Refused(_)), "{e}");
        assert!(e.to_string().contains(want), "{e} (wanted {want:?})");
        assert!(view(&store) == state, "{want}: nothing applied");
        assert_eq!(files(dir.path()), listing, "{want}: no file left");
    }
    // Then it applies.
    store
        .apply_delta_reader(&mut &second[..], &mut |_| {})
        .unwrap();
}

#[test]
fn a_gap_is_refused_before_reading_the_changes() {
    let (_d, store) = temp_store(DIM, OpenOptions::new());
    let deltas = realistic();
    let e = store
        .apply_delta_reader(&mut &changes_last(&deltas[1])[..], &mut |_| {})
        .unwrap_err();
    assert!(matches!(e, Error::Refused(Refusal::Gap { .. })), "{e}");
}

/// Many users in tiny segments: every search answers as one segment does, after reopening and
/// after compaction too.
#[test]
fn tiny_segment_files_answer_as_one_segment() {
    let n = 300;
    let mut rng = Rng(7);
    let vectors: Vec<Vec<f32>> = (0..n).map(|_| rng.vector(DIM)).collect();
    let changes: Vec<edgeid::Change> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| put("local", &format!("u{i}"), "f", v.clone()))
        .collect();
    let (_a, one) = temp_store(DIM, OpenOptions::new().threads(1));
    one.commit(&changes).unwrap();
    one.compact().unwrap();
    let capped = |o: OpenOptions| o.threads(1).max_segment_bytes(2 << 10).bulk_rows(64);
    let (dir, many) = temp_store(DIM, capped(OpenOptions::new()));
    many.commit(&changes[..100]).unwrap(); // bulk path
    many.commit(&changes[100..110]).unwrap(); // logged path
    many.commit(&changes[110..]).unwrap(); // bulk path, with a tail to checkpoint
    let answers = |s: &Store| -> Vec<String> {
        (0..40)
            .map(|q| {
                let p = rng_probe(q, &vectors);
                format!(
                    "{:?}",
                    s.identify_face(&FaceIdentify::new(&p).k(5)).unwrap()
                )
            })
            .collect()
    };
    let want = answers(&one);
    assert_eq!(answers(&many), want);
    let seg_files = |d: &std::path::Path| {
        std::fs::read_dir(d)
            .unwrap()
            .filter_map(|e| {
                let e = e.unwrap();
                e.file_name()
                    .to_string_lossy()
                    .ends_with(".seg")
                    .then(|| e.metadata().unwrap().len())
            })
            .collect::<Vec<u64>>()
    };
    let sizes = seg_files(dir.path());
    assert!(sizes.len() >= 100, "{} segment files", sizes.len());
    assert!(sizes.iter().all(|&b| b <= 2 << 10), "{sizes:?}");
    // Deletions, compaction, reopen.
    let removes: Vec<edgeid::Change> = (0..n)
        .step_by(3)
        .map(|i| edgeid::Change::RemoveFace {
            location: "local".into(),
            user: format!("u{i}"),
            template: "f".into(),
        })
        .collect();
    one.commit(&removes).unwrap();
    many.commit(&removes).unwrap();
    many.compact().unwrap();
    let sizes = seg_files(dir.path());
    assert!(sizes.len() >= 50 && sizes.iter().all(|&b| b <= 2 << 10));
    drop(many);
    let many = Store::open(dir.path(), capped(OpenOptions::new())).unwrap();
    assert_eq!(answers(&many), answers(&one));
    many.verify_checksums().unwrap();
}

/// A probe near one of the vectors.
fn rng_probe(q: u64, vectors: &[Vec<f32>]) -> Vec<f32> {
    let mut rng = Rng(1000 + q);
    let i = rng.below(vectors.len() as u64) as usize;
    rng.near(&vectors[i], 0.3)
}

/// A user with duress codes only: the masked hash masks them (as a whole delta's does), so the
/// same delta whole and streamed is each other's re-send.
#[test]
fn duress_codes_alone_are_masked_in_the_streamed_hash() {
    use common::deltas::{delta, face, upsert};
    let mut d: Value = serde_json::from_slice(&delta(
        "hq",
        1,
        "full",
        Some(9),
        vec![
            upsert(serde_json::json!({"id": "ana", "faces": [face("f1", 1)]})),
            upsert(serde_json::json!({"id": "bo", "duress_codes": ["90210"]})),
        ],
    ))
    .unwrap();
    d["format"] = "edgeid.delta/2".into();
    let d = serde_json::to_vec(&d).unwrap();
    let (_a, whole) = temp_store(DIM, OpenOptions::new());
    let (_b, streamed) = temp_store(DIM, tiny(OpenOptions::new()));
    whole.apply_delta(&d, &mut |_| {}).unwrap();
    streamed
        .apply_delta_reader(&mut &changes_last(&d)[..], &mut |_| {})
        .unwrap();
    let again = whole
        .apply_delta_reader(&mut &changes_last(&d)[..], &mut |_| {})
        .unwrap();
    assert!(matches!(again, Outcome::AlreadyApplied { .. }), "{again:?}");
    let again = streamed.apply_delta(&d, &mut |_| {}).unwrap();
    assert!(matches!(again, Outcome::AlreadyApplied { .. }), "{again:?}");
    assert!(view(&whole) == view(&streamed));
}
