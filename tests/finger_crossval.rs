//! Leave-one-set-out cross-validation (`finger::crossval`), a cheap run on the committed FVC2002
//! sets (the first 16 templates of each: two fingers), and the evaluation figures it rests on.
//! The full run is `edgeid finger crossval testdata/fingerprint/fvc2002` (release build).

mod common;
use common::finger::data;

use edgeid::finger::crossval::{candidates, crossval, load_sets};
use edgeid::finger::distort::{distort_set, Condition};
use edgeid::finger::eval::{fnmr_at_fmr, reference_scores};

#[test]
fn every_fold_is_chosen_and_calibrated_without_its_own_set() {
    let root = data().join("fvc2002");
    let sets = load_sets(&root, None, Some(16)).unwrap();
    assert_eq!(sets.len(), 8);
    assert_eq!(sets[0].name, "DB1_B/mindtct");
    let cands = candidates();
    let cv = crossval(&sets, &cands, &[Condition::Rotate, Condition::Crop], 7);
    assert_eq!(cv.folds.len(), 8);
    // 16 templates: 2 fingers × C(8, 2) = 56 genuine, 64 impostor pairs per set.
    for f in &cv.folds {
        assert_eq!((f.scored.genuine.len(), f.scored.impostor.len()), (56, 64));
        // Thresholds rest on the seven other sets' impostors only.
        assert_eq!(f.train_impostors, 7 * 64, "{}", f.set);
        assert!(f.at[0].threshold <= f.at[1].threshold, "{}", f.set);
        assert!(f.at.iter().all(|a| a.threshold.is_finite()));
        assert_eq!(f.conditions.len(), 2);
    }
    // The candidate of a fold is the best mean EER over the other sets: recompute it.
    let fold_eers: Vec<Vec<f64>> = (0..cands.len())
        .map(|c| {
            let one = crossval(&sets, &cands[c..=c], &[], 7);
            one.folds.iter().map(|f| f.scored.eer).collect()
        })
        .collect();
    for (h, f) in cv.folds.iter().enumerate() {
        let train_mean = |c: usize| {
            (0..8)
                .filter(|&s| s != h)
                .map(|s| fold_eers[c][s])
                .sum::<f64>()
                / 7.0
        };
        let best = (0..cands.len())
            .map(train_mean)
            .fold(f64::INFINITY, f64::min);
        assert_eq!(train_mean(f.chosen), best, "{}", f.set);
        assert_eq!(f.scored.eer, fold_eers[f.chosen][h]);
    }
    // Mean and worst, never the best.
    let eers: Vec<f64> = cv.folds.iter().map(|f| f.scored.eer).collect();
    assert_eq!(cv.worst_eer, eers.iter().cloned().fold(f64::MIN, f64::max));
    assert!((cv.mean_eer - eers.iter().sum::<f64>() / 8.0).abs() < 1e-12);
    // Seeded: the same seed gives the same figures and variants, another seed other variants.
    let again = crossval(&sets, &cands, &[Condition::Rotate, Condition::Crop], 7);
    let figs = |c: &edgeid::finger::crossval::CrossVal| -> Vec<f64> {
        c.folds
            .iter()
            .flat_map(|f| f.conditions.iter().map(|d| d.eer))
            .collect()
    };
    assert_eq!(figs(&cv), figs(&again));
    let bytes = |seed| -> Vec<Vec<u8>> {
        distort_set(&sets[0].templates, Condition::Rotate, seed)
            .iter()
            .map(|t| t.template.as_bytes().to_vec())
            .collect()
    };
    assert_eq!(bytes(7), bytes(7));
    assert_ne!(bytes(7), bytes(8));
}

#[test]
fn reference_scores_follow_the_protocol_and_refuse_bad_lines() {
    let tsv = "db\tprobe\tgallery\tscore\n\
               d\t1_1\t1_1\t99\n\
               d\t1_1\t1_2\t50\n\
               d\t1_2\t1_1\t49\n\
               d\t1_1\t2_1\t5\n\
               e\t1_1\t1_2\t7\n";
    // Self pairs and the reverse order are skipped; only db `d`.
    assert_eq!(reference_scores(tsv, "d").unwrap(), (vec![50.0], vec![5.0]));
    let e = reference_scores("h\nd\t1_1\t1_2\tx\n", "d").unwrap_err();
    assert!(e.to_string().contains("line 2"), "{e}");
    let e = reference_scores("h\nd\t1_1\n", "d").unwrap_err();
    assert!(e.to_string().contains("2 fields"), "{e}");
}

#[test]
fn fnmr_at_fmr_allows_at_most_the_target_share_of_impostors() {
    let imp: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
    let gen = [0.9985, 0.9995, 0.5];
    // FMR 1e-3: one impostor (0.999) may match: threshold just above 0.998.
    assert!((fnmr_at_fmr(&gen, &imp, 1e-3) - 1.0 / 3.0).abs() < 1e-12);
    // FMR 1e-4: none may: threshold just above 0.999.
    assert!((fnmr_at_fmr(&gen, &imp, 1e-4) - 2.0 / 3.0).abs() < 1e-12);
}

#[test]
fn reference_rows_name_a_database_for_one_extractor_or_a_set_for_any() {
    // Two sets of two templates of one finger and one of another, in a root named `r`.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("r");
    let src = data().join("fvc2002/DB1_B/mindtct");
    for ex in ["mindtct", "secugen"] {
        let d = root.join("DB1_B").join(ex);
        std::fs::create_dir_all(&d).unwrap();
        for t in ["101_1", "101_2", "102_1"] {
            std::fs::copy(src.join(format!("{t}.iso")), d.join(format!("{t}.iso"))).unwrap();
        }
    }
    let tsv = "db\tprobe\tgallery\tscore\n\
               r/DB1_B\t101_1\t101_2\t40\n\
               r/DB1_B\t101_1\t102_1\t4\n\
               r/DB1_B/mindtct\t101_1\t101_2\t99\n\
               r/DB1_B/secugen\t101_1\t101_2\t30\n\
               r/DB1_B/secugen\t101_2\t102_1\t3\n";
    let sets = load_sets(&root, Some((tsv, "mindtct")), None).unwrap();
    let by = |n: &str| sets.iter().find(|s| s.name == n).unwrap().reference.clone();
    // The database's rows win for the named extractor; the set's rows serve the other.
    assert_eq!(by("DB1_B/mindtct"), Some((vec![40.0], vec![4.0])));
    assert_eq!(by("DB1_B/secugen"), Some((vec![30.0], vec![3.0])));
    // Named for another extractor, the database's rows belong to no set here.
    let sets = load_sets(&root, Some((tsv, "other")), None).unwrap();
    assert_eq!(sets[0].reference, Some((vec![99.0], Vec::new())));
}
