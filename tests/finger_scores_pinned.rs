//! The comparison's scores pinned bit for bit on real pairs: speed work on the matcher (kernels,
//! scratch layout, loop order) must not move a single score. The pinned values were computed by the
//! matcher before that work (commit 17183a3); a change that moves them changes the matcher, and
//! must say so (and re-derive the calibration) rather than update these numbers quietly.

mod common;
use common::finger::load;

use edgeid::finger::crossval::candidates;
use edgeid::finger::{compare, compare_params, FingerTemplate};

/// FNV-1a over the scores' bit patterns, in order.
fn digest(scores: impl IntoIterator<Item = f32>) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for s in scores {
        for b in s.to_bits().to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

fn set(extractor: &str, db: u32, n: usize) -> Vec<FingerTemplate> {
    load(extractor, db)
        .into_iter()
        .map(|r| r.t)
        .take(n)
        .collect()
}

/// Every ordered pair (self pairs included) of `ts`.
fn all_pairs(
    ts: &[FingerTemplate],
    score: impl Fn(&FingerTemplate, &FingerTemplate) -> f32,
) -> Vec<f32> {
    ts.iter()
        .flat_map(|a| ts.iter().map(|b| (a, b)).collect::<Vec<_>>())
        .map(|(a, b)| score(a, b))
        .collect()
}

#[test]
fn scores_of_real_pairs_are_pinned() {
    // A few single pairs, readable: DB1 mindtct 101_1 against its own finger and others.
    let ts = set("mindtct", 1, 16);
    let got: Vec<u32> = [(0, 1), (0, 2), (0, 8), (5, 3), (9, 9), (15, 0)]
        .iter()
        .map(|&(i, j)| compare(&ts[i].as_ref(), &ts[j].as_ref()).to_bits())
        .collect();
    assert_eq!(
        got,
        [0x3e056be2, 0x3da23649, 0x3c45fc58, 0x3d68cd47, 0x3f7f4a3b, 0x3c53bd0c],
        "scores of single pairs (f32 bits)"
    );
    // Every ordered pair of the first 24 templates of each of the eight sets.
    let mut digests = Vec::new();
    for extractor in ["mindtct", "secugen"] {
        for db in 1..=4 {
            let ts = set(extractor, db, 24);
            digests.push(digest(all_pairs(&ts, |a, b| {
                compare(&a.as_ref(), &b.as_ref())
            })));
        }
    }
    assert_eq!(
        digests,
        [
            0xa32c80e38d431417,
            0xa359feeff0db0e81,
            0x13a51953e009390b,
            0xbc96d0c77b950375,
            0x7f04ae0ca67b34a2,
            0x8d1a3c79cab291ba,
            0xcfe779c20f194576,
            0xba21de4591be634e,
        ],
        "digests of the sets' scores: mindtct DB1-4, secugen DB1-4"
    );
}

#[test]
fn scores_of_every_cross_validation_candidate_are_pinned() {
    // The options of `mcc::Params` take other branches of the consolidation.
    let ts = set("secugen", 2, 12);
    let digests: Vec<u64> = candidates()
        .iter()
        .map(|p| {
            digest(all_pairs(&ts, |a, b| {
                compare_params(&a.as_ref(), &b.as_ref(), p)
            }))
        })
        .collect();
    let want: [u64; 30] = [
        0xafa3a187be9934bc,
        0xef57934fe57d7efa,
        0xccff718c8a846514,
        0xf4e69c1feb95f4c5,
        0x9d528d88884dafd3,
        0x081c02dbd1e38448,
        0xca56123a6ac0984c,
        0x85f4dcaf18c535e4,
        0x1388b707686df354,
        0xfd5fe646b11a3a80,
        0x2c80dfc6adb0ca28,
        0x43615a60199e309b,
        0x3a52e952ce3bd300,
        0x00f93a951b07a288,
        0x73bf66598fbfb816,
        0xf2b996f75085e481,
        0x0900e884fbf36b05,
        0x56f5ef9e15d48bdd,
        0x05164da52ecb5421,
        0xd41eaa0e1ba8528d,
        0x72bdf90b9267adcd,
        0x843d6e0f8af5e748,
        0x2f31fa34ba10b74c,
        0x051a73b0f3d88e50,
        0xafa3a187be9934bc,
        0xafa3a187be9934bc,
        0xafa3a187be9934bc,
        0xfd5fe646b11a3a80,
        0x77ddddc3edbe7e04,
        0xa93b654de9cc246c,
    ];
    assert_eq!(digests.len(), want.len(), "the candidate list changed");
    for (k, (g, w)) in digests.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "candidate {k}: {:?}", candidates()[k]);
    }
}
