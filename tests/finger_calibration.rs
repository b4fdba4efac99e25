//! The built-in FMR → threshold table against the impostor scores of the committed test data.

mod common;
use common::finger::fvc_dir;

use edgeid::finger::calibration::{threshold_for_fmr, Calibration, BUILTIN};
use edgeid::finger::eval::{finger_of, load_dir, score_matrix};

/// Ordered-pair impostor scores of one set.
fn impostors(set: &str) -> Vec<f32> {
    let mut out = Vec::new();
    for db in 1..=4 {
        let t = load_dir(&fvc_dir(set, db)).unwrap();
        let m = score_matrix(&t);
        for i in 0..t.len() {
            for j in 0..t.len() {
                if finger_of(&t[i].name) != finger_of(&t[j].name) {
                    out.push(m[i][j]);
                }
            }
        }
    }
    out
}

#[test]
fn builtin_table_matches_the_data() {
    let mind = impostors("mindtct");
    let sec = impostors("secugen");
    let all: Vec<f32> = mind.iter().chain(&sec).copied().collect();
    assert_eq!(all.len(), 8 * 80 * 72);
    let cal = Calibration::fit(&all).unwrap();
    if std::env::var("PRINT_CALIBRATION").is_ok() {
        for (f, _) in BUILTIN {
            println!("    ({f:e}, {:?}),", cal.threshold(f));
        }
    }
    for (f, t) in BUILTIN {
        let fresh = cal.threshold(f);
        assert!(
            (fresh - t).abs() <= 1e-6 + 1e-3 * t.abs(),
            "built-in threshold for FMR {f:e} is {t}, the data gives {fresh}: regenerate the table \
             (PRINT_CALIBRATION=1 cargo test --test finger_calibration -- --nocapture)"
        );
        // Where the data supports it, the observed FMR is at most the target.
        let above = all.iter().filter(|&&s| s >= t).count();
        if f * all.len() as f64 >= 10.0 {
            assert!(
                above as f64 <= f * all.len() as f64,
                "FMR {f:e}: {above} impostors above"
            );
        }
    }
    // Impostors of the test data stay below the FMR-1e-4 threshold (at most 1e-4 of them reach it).
    let t4 = threshold_for_fmr(1e-4);
    let above = all.iter().filter(|&&s| s >= t4).count();
    assert!(
        above as f64 <= 1e-4 * all.len() as f64 + 1.0,
        "{above} of {} impostors reach the FMR-1e-4 threshold {t4}",
        all.len()
    );
    // Held out across extractors: thresholds fitted on secugen impostors, applied to mindtct ones.
    let held = Calibration::fit(&sec).unwrap();
    for f in [1e-2, 1e-3] {
        let t = held.threshold(f);
        let fmr = mind.iter().filter(|&&s| s >= t).count() as f64 / mind.len() as f64;
        println!("FMR target {f:e}: secugen-fitted threshold {t} gives mindtct FMR {fmr:e}");
        assert!(
            fmr <= 5.0 * f,
            "cross-extractor FMR {fmr:e} for target {f:e}"
        );
    }
}
