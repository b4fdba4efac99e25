//! The consolidation options the cross-validation measures (`mcc::Params`): each is off in the
//! shipped parameters, and each does what it says when on.

mod common;
use common::finger::load;

use edgeid::finger::crossval::candidates;
use edgeid::finger::mcc::Params;
use edgeid::finger::template::Point;
use edgeid::finger::{compare, compare_params, FingerTemplate};

fn templates() -> Vec<FingerTemplate> {
    load("mindtct", 1)
        .into_iter()
        .map(|r| r.t)
        .take(16)
        .collect()
}

fn points(t: &FingerTemplate) -> Vec<Point> {
    t.as_ref().points().to_vec()
}

#[test]
fn the_shipped_parameters_are_the_first_candidate_and_the_plain_score() {
    let ts = templates();
    assert_eq!(candidates()[0], Params::DEFAULT);
    for a in &ts[..4] {
        for b in &ts {
            assert_eq!(
                compare_params(&a.as_ref(), &b.as_ref(), &Params::DEFAULT),
                compare(&a.as_ref(), &b.as_ref())
            );
        }
    }
    // Every candidate scores in [0, 1], deterministically.
    for p in candidates() {
        for b in &ts[..6] {
            let s = compare_params(&ts[0].as_ref(), &b.as_ref(), &p);
            assert!((0.0..=1.0).contains(&s), "{p:?}: {s}");
            assert_eq!(s, compare_params(&ts[0].as_ref(), &b.as_ref(), &p));
        }
    }
}

#[test]
fn low_quality_minutiae_take_no_part_in_the_consolidation() {
    let t = &templates()[0];
    let p = Params {
        min_quality: 30,
        ..Params::DEFAULT
    };
    let with_quality = |q: u8| {
        let pts: Vec<Point> = points(t)
            .into_iter()
            .map(|m| Point { quality: q, ..m })
            .collect();
        FingerTemplate::from_points(&pts)
    };
    // All below the floor: nothing to consolidate.
    let low = with_quality(20);
    assert_eq!(compare_params(&low.as_ref(), &low.as_ref(), &p), 0.0);
    assert!(compare(&low.as_ref(), &low.as_ref()) > 0.5);
    // At or above the floor, or unknown (0): the plain score.
    for q in [0, 30, 90] {
        let u = with_quality(q);
        assert_eq!(
            compare_params(&u.as_ref(), &u.as_ref(), &p),
            compare(&u.as_ref(), &u.as_ref()),
            "quality {q}"
        );
    }
}

#[test]
fn n_p_over_the_overlap_changes_only_small_overlaps() {
    let ts = templates();
    let p = Params {
        np_overlap_mu: 16.0,
        ..Params::DEFAULT
    };
    // A full overlap of many minutiae: the same n_P, the same score.
    let big = ts.iter().find(|t| t.as_ref().n_cyl() >= 40).unwrap();
    assert_eq!(
        compare_params(&big.as_ref(), &big.as_ref(), &p),
        compare(&big.as_ref(), &big.as_ref())
    );
    // Two partial impressions of it, the left 70 % and the right 70 % of its minutiae: each has
    // many minutiae but the overlap only the middle 40 %, so n_P is taken over fewer minutiae and
    // the score moves; with μ so low that the logistic is 1 over any overlap, n_P is the
    // templates' again and so is the score.
    let mut pts = points(big);
    pts.sort_by(|a, b| a.x.total_cmp(&b.x));
    let n = pts.len();
    let left = FingerTemplate::from_points(&pts[..n * 7 / 10]);
    let right = FingerTemplate::from_points(&pts[n * 3 / 10..]);
    let plain = compare(&left.as_ref(), &right.as_ref());
    assert!(plain > 0.1, "{plain}");
    let over = compare_params(&left.as_ref(), &right.as_ref(), &p);
    assert!(over > 0.1 && over != plain, "{over} vs {plain}");
    let flat = Params {
        np_overlap_mu: 1.0,
        ..Params::DEFAULT
    };
    assert_eq!(
        compare_params(&left.as_ref(), &right.as_ref(), &flat),
        plain
    );
}
