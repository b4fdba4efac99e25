//! Power loss while synchronising: a realistic sequence of deltas (tests/common/deltas.rs) applied
//! through `Store::apply_delta` on a simulated disk that loses power at every writing operation of
//! the deltas, their checkpoints, compactions and erasures (log, segments, deletion files, catalog
//! files, manifest), keeping torn prefixes or reordered pages of whatever was not synced. After
//! each loss the store must open and hold exactly the state after the acknowledged deltas, or after
//! one more (the one in flight): every read answers as it did then (digests, lookups, identify,
//! verify), never a mix and never a state no delta sequence reached.

mod common;
use common::crash::{EveryOp, Scenario};
use common::deltas::{reads, realistic, DIM};
use common::*;
use edgeid::fs::{SimFs, Tear};
use edgeid::Store;
use std::time::Duration;

/// The state: every read's answer, printed.
type View = Vec<(String, String)>;

fn view(store: &Store) -> View {
    reads(store)
        .into_iter()
        .map(|(name, a)| (name, a.unwrap_or_else(|e| format!("error: {e}"))))
        .collect()
}

/// The deltas, and the view after each number of them (from a disk that never fails).
struct Deltas {
    deltas: Vec<Vec<u8>>,
    views: Vec<View>,
}

impl Deltas {
    fn new(opts: &dyn Fn(&SimFs) -> edgeid::OpenOptions) -> Deltas {
        let deltas = realistic();
        let fs = SimFs::new();
        let store = create_sim(DIM, opts(&fs));
        let mut views = vec![view(&store)];
        for d in &deltas {
            store.apply_delta(d, &mut |_| {}).unwrap();
            views.push(view(&store));
        }
        Deltas { deltas, views }
    }
}

impl Scenario for Deltas {
    type State = View;
    fn start(&self) -> View {
        self.views[0].clone()
    }
    fn expect(&self, j: u64, _: &View) -> View {
        self.views[j as usize + 1].clone()
    }
    fn perform(&self, store: &Store, j: u64, _: &View) -> edgeid::Result<()> {
        store
            .apply_delta(&self.deltas[j as usize], &mut |_| {})
            .map(drop)
    }
    fn observe(&self, store: &Store) -> View {
        view(store)
    }
    fn check_recovered(&self, store: &Store, _: &View, at: &str) {
        store
            .verify_checksums()
            .unwrap_or_else(|e| panic!("{at}: checksums: {e}"));
    }
}

/// Small checkpoints (every few faces or fingers) and erasure due at once, so the deltas also
/// write segments, deletion files, catalog files and manifests, and scrub what they replace.
fn opts(fs: &SimFs) -> edgeid::OpenOptions {
    on_sim(fs)
        .checkpoint_rows(3)
        .checkpoint_fingers(2)
        .erase_within(Duration::ZERO)
}

#[test]
fn power_loss_at_every_operation_of_a_delta_sequence() {
    let s = Deltas::new(&opts);
    // Every delta changed the state: a view names the number of deltas applied.
    for w in s.views.windows(2) {
        assert_ne!(w[0], w[1]);
    }
    let harness = EveryOp {
        opts: &opts,
        dim: DIM,
        steps: s.deltas.len() as u64,
        tears: &[Tear::Prefix, Tear::Pages(512), Tear::Pages(4096)],
        seeds: 3,
    };
    let mut continued = 0;
    let (ops, trials) = harness.run_then(&s, |store, got, at| {
        // The recovered store takes the next delta.
        let n = s.views.iter().position(|v| v == got).unwrap();
        if n < s.deltas.len() {
            store
                .apply_delta(&s.deltas[n], &mut |_| {})
                .unwrap_or_else(|e| panic!("{at}: delta {} after recovery: {e}", n + 1));
            assert!(
                view(&store) == s.views[n + 1],
                "{at}: state after the next delta"
            );
            continued += 1;
        }
    });
    eprintln!("power loss during deltas: {ops} operations, {trials} recovered stores, {continued} continued");
    assert!(trials >= 1000, "{trials} cases");
}

/// The bulk path (every delta with a template stages its templates in segment files and commits
/// by a manifest switch), in tiny pieces and tiny segment files, under the same power losses.
fn bulk_opts(fs: &SimFs) -> edgeid::OpenOptions {
    opts(fs)
        .bulk_rows(1)
        .memory_budget(1 << 20)
        .max_segment_bytes(8 << 10)
}

#[test]
fn power_loss_at_every_operation_of_a_bulk_delta_sequence() {
    let s = Deltas::new(&bulk_opts);
    // The same states as the logged path reaches.
    assert!(
        s.views == Deltas::new(&opts).views,
        "bulk and logged paths agree"
    );
    let harness = EveryOp {
        opts: &bulk_opts,
        dim: DIM,
        steps: s.deltas.len() as u64,
        tears: &[Tear::Prefix, Tear::Pages(4096)],
        seeds: 2,
    };
    let (ops, trials) = harness.run_then(&s, |store, got, at| {
        let n = s.views.iter().position(|v| v == got).unwrap();
        if n < s.deltas.len() {
            store
                .apply_delta(&s.deltas[n], &mut |_| {})
                .unwrap_or_else(|e| panic!("{at}: delta {} after recovery: {e}", n + 1));
            assert!(
                view(&store) == s.views[n + 1],
                "{at}: state after the next delta"
            );
        }
    });
    eprintln!("power loss during bulk deltas: {ops} operations, {trials} recovered stores");
    assert!(trials >= 500, "{trials} cases");
}

/// The simulated disk's two ways of keeping unsynced data, and its cut at any operation.
#[test]
fn the_simulated_disk_tears_by_prefix_or_by_pages_and_cuts_at_any_operation() {
    use edgeid::fs::Fs;
    use std::path::Path;
    let p = Path::new("/d/f");
    let fs = SimFs::new();
    let mut f = fs.create(p).unwrap();
    f.append(&[1; 100]).unwrap();
    f.sync_data().unwrap();
    fs.sync_dir(Path::new("/d")).unwrap();
    f.append(&[2; 1000]).unwrap();
    let (mut prefixes, mut holes) = (0, 0);
    for seed in 0..64 {
        let b = fs.power_loss_with(seed, Tear::Prefix).read(p).unwrap();
        assert!(b[..100] == [1; 100] && b[100..].iter().all(|&x| x == 2));
        prefixes += usize::from(b.len() > 100 && b.len() < 1100);
        let b = fs.power_loss_with(seed, Tear::Pages(64)).read(p).unwrap();
        assert!(b[..100] == [1; 100], "synced bytes are kept");
        assert!(
            b.len() <= 1100 && (b.len() == 100 || b.len().is_multiple_of(64) || b.len() == 1100)
        );
        // Pages are whole: each is the data or zeros.
        for page in b[128.min(b.len())..].chunks(64) {
            assert!(page.iter().all(|&x| x == 2) || page.iter().all(|&x| x == 0));
        }
        holes += usize::from(b.contains(&0));
        // The same seed tears the same way.
        assert_eq!(
            fs.power_loss_with(seed, Tear::Pages(64)).read(p).unwrap(),
            b
        );
    }
    assert!(
        prefixes > 0 && holes > 0,
        "{prefixes} torn prefixes, {holes} with holes"
    );

    // A cut at an append: the call fails and its bytes are unsynced (kept or not by the loss),
    // every later operation fails too.
    let ops = fs.ops();
    fs.fail_at_op(1);
    assert!(f.append(&[3; 10]).is_err());
    assert!(fs.create(Path::new("/d/g")).is_err());
    assert!(f.sync_data().is_err());
    assert_eq!(fs.ops(), ops + 1);
    let kept = (0..32)
        .map(|seed| fs.power_loss_with(seed, Tear::Prefix).read(p).unwrap())
        .filter(|b| b.len() > 1100)
        .count();
    assert!(kept > 0, "the interrupted write may reach the disk");
}
