//! Accuracy regression on the committed FVC2002 B-set templates, by the protocol of
//! `testdata/fingerprint/README.md` (EER, FNMR at FMR 1 % and 0, rank-1).
//!
//! The table (also printed by `cargo test --release --test finger_accuracy -- --nocapture`):
//!
//! | set | DB1 | DB2 | DB3 | DB4 |
//! |---|---|---|---|---|
//! | mindtct EER measured | 1.90 % | 0.70 % | 4.28 % | 2.50 % |
//! | mindtct EER bound (fails above) | 2.40 % | 1.20 % | 4.80 % | 3.00 % |
//! | mindtct EER goal (60 % of bozorth3) | 2.50 % | 1.57 % | 5.39 % | 3.23 % |
//! | secugen EER measured | 2.13 % | 1.20 % | 4.67 % | 1.06 % |
//! | secugen EER bound | 2.70 % | 1.70 % | 5.20 % | 1.70 % |
//!
//! The bounds sit about 0.5 points above the measured figures (and below the goal on mindtct): on 280
//! genuine pairs one pair moves the EER by 0.36 points, and tiny numerical changes in cylinder
//! construction move DB3 by ±0.7.

mod common;
use common::finger::fvc_dir;

use edgeid::finger::eval::eval;

/// (set, DB, EER bound in %, rank-1 at least).
const BOUNDS: [(&str, u32, f64, usize); 8] = [
    ("mindtct", 1, 2.40, 80),
    ("mindtct", 2, 1.20, 80),
    ("mindtct", 3, 4.80, 80),
    ("mindtct", 4, 3.00, 80),
    ("secugen", 1, 2.70, 80),
    ("secugen", 2, 1.70, 80),
    ("secugen", 3, 5.20, 78),
    ("secugen", 4, 1.70, 80),
];

#[test]
fn eer_and_rank1_do_not_regress() {
    let mut failures = Vec::new();
    for (set, db, bound, rank1) in BOUNDS {
        let r = eval(&fvc_dir(set, db)).unwrap();
        assert_eq!((r.templates, r.genuine, r.impostor), (80, 280, 2880));
        println!(
            "DB{db}_B/{set:8} EER {:5.2}%  FNMR@FMR1% {:5.2}%  FNMR@FMR0 {:5.2}%  rank-1 {}/80",
            r.eer * 100.0,
            r.fnmr_at_fmr_1pct * 100.0,
            r.fnmr_at_fmr_0 * 100.0,
            r.rank1
        );
        if r.eer * 100.0 > bound {
            failures.push(format!(
                "DB{db}/{set}: EER {:.2}% > {bound}%",
                r.eer * 100.0
            ));
        }
        if r.rank1 < rank1 {
            failures.push(format!("DB{db}/{set}: rank-1 {} < {rank1}", r.rank1));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn rates_follow_the_definitions() {
    use edgeid::finger::eval::rates;
    // Perfect separation.
    let (eer, f1, f0) = rates(&[0.9, 0.8], &[0.1, 0.2, 0.3]);
    assert_eq!((eer, f1, f0), (0.0, 0.0, 0.0));
    // One genuine below one impostor.
    let g = [0.9, 0.8, 0.7, 0.2];
    let i = [0.1, 0.3, 0.15, 0.05];
    let (eer, _, f0) = rates(&g, &i);
    assert!(eer > 0.0 && eer <= 0.25, "{eer}");
    assert_eq!(f0, 0.25);
}
