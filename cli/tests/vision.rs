//! The face-image commands end to end: `face embed --json` keys, enrolment through the quality gate,
//! identify/verify with `--image` and `--fmr`, a store of another model refused, `face calibrate`,
//! and the `bench vision --json` shape. The runtime and the reference recogniser come from
//! `scripts/fetch-models.sh`, which the binary runs itself when they are missing.
#![cfg(feature = "vision")]

mod common;
use common::*;
use std::path::PathBuf;

fn photo(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/face")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn face_commands_from_images() {
    let v = json(&["face", "embed", &photo("obama_1.jpg")]);
    for k in ["embedding", "box", "landmarks", "quality", "timings_ms"] {
        assert!(v.get(k).is_some(), "face embed --json lacks {k}: {v}");
    }
    assert_eq!(v["embedding"].as_array().unwrap().len(), 512);
    assert_eq!(v["quality"]["passed"], true);

    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    let st = store.to_str().unwrap();
    json(&[
        "init",
        "--store",
        st,
        "--model",
        "w600k_mbf",
        "--dim",
        "512",
    ]);
    for (user, img) in [("obama", "obama_1.jpg"), ("kit", "kit_1.jpg")] {
        json(&[
            "face",
            "add",
            "--store",
            st,
            "--user",
            user,
            "--template",
            "t1",
            "--image",
            &photo(img),
        ]);
    }
    let hit = json(&[
        "face",
        "identify",
        "--store",
        st,
        "--fmr",
        "0.05",
        "--image",
        &photo("obama_4.jpg"),
    ]);
    assert_eq!(hit["hits"][0]["user"], "obama", "{hit}");
    assert!(hit["face"]["quality"].is_object());
    let ver = json(&[
        "face",
        "verify",
        "--store",
        st,
        "--user",
        "kit",
        "--threshold",
        "0.3",
        "--image",
        &photo("obama_4.jpg"),
    ]);
    assert_eq!(ver["accepted"], false, "{ver}");
    // An FMR the calibration cannot support is refused, not extrapolated.
    let o = edgeid(&[
        "face",
        "identify",
        "--store",
        st,
        "--fmr",
        "0.0001",
        "--image",
        &photo("obama_4.jpg"),
    ]);
    assert!(
        !o.status.success() && stderr(&o).contains("FMR"),
        "{}",
        stderr(&o)
    );

    let other = dir.path().join("o");
    json(&[
        "init",
        "--store",
        other.to_str().unwrap(),
        "--model",
        "other",
        "--dim",
        "512",
    ]);
    let o = edgeid(&[
        "face",
        "identify",
        "--store",
        other.to_str().unwrap(),
        "--image",
        &photo("obama_4.jpg"),
    ]);
    assert!(
        !o.status.success() && stderr(&o).contains("cannot be compared"),
        "{}",
        stderr(&o)
    );

    // A runtime library that is not there: a clear error saying how to get one (a new process, as
    // a process loads one runtime).
    let o = edgeid(&[
        "face",
        "embed",
        "--ort",
        "/nonexistent/libonnxruntime.so",
        &photo("obama_1.jpg"),
    ]);
    assert!(
        !o.status.success() && stderr(&o).contains("ONNX Runtime not found"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("fetch-models.sh"), "{}", stderr(&o));

    let c = json(&["face", "calibrate", &photo("")]);
    assert_eq!(c["impostor_pairs"], 91);
    assert_eq!(c["genuine_pairs"], 14);

    let b = json(&[
        "bench",
        "vision",
        "--rounds",
        "1",
        "--soak",
        "0",
        "--no-python",
    ]);
    assert!(b["total_ms"].as_f64().unwrap() > 0.0);
    for k in [
        "decode",
        "detect_prep",
        "detect_model",
        "detect_post",
        "align",
        "embed",
        "quality",
    ] {
        assert!(
            b["stages_ms"][k].as_f64().is_some(),
            "bench vision lacks stages_ms.{k}: {b}"
        );
    }
}
