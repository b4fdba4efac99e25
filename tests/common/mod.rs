//! Helpers shared by the integration tests: the seeded generator, stores on a simulated disk or in
//! a temporary directory, an in-memory model of the store, the crash harness ([`crash`]) and the
//! fingerprint test data ([`finger`]).
#![allow(dead_code)]

pub mod access;
pub mod crash;
pub mod deltas;
pub mod finger;

use base64::Engine;
use edgeid::fs::SimFs;
use edgeid::store::Change;
use edgeid::{OpenOptions, Store};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The tests' one seeded generator (splitmix64): no extra crates, the same data on every machine.
/// Golden data depends on its exact output (`testdata/formats/v1` was written from `Rng(11)`), so
/// never change the algorithm.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn gauss(&mut self) -> f32 {
        let u1 = self.unit().max(1e-300);
        let u2 = self.unit();
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    }
    pub fn vector(&mut self, dim: usize) -> Vec<f32> {
        (0..dim).map(|_| self.gauss()).collect()
    }
    /// A noisy copy of `v` (same direction plus gaussian noise of relative size `noise`).
    pub fn near(&mut self, v: &[f32], noise: f32) -> Vec<f32> {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let s = noise * norm / (v.len() as f32).sqrt();
        v.iter().map(|x| x + s * self.gauss()).collect()
    }
}

/// The model name of the tests' stores.
pub const MODEL: &str = "m";

/// Where stores live on a simulated disk.
pub const SIM_DIR: &str = "/s";

/// Options of a store on the simulated disk `fs`, with one thread.
pub fn on_sim(fs: &SimFs) -> OpenOptions {
    OpenOptions::new().fs(Arc::new(fs.clone())).threads(1)
}

/// Creates a store at [`SIM_DIR`]; `opts` names the disk (see [`on_sim`]).
pub fn create_sim(dim: usize, opts: OpenOptions) -> Store {
    Store::create(Path::new(SIM_DIR), MODEL, dim, opts).unwrap()
}

/// Opens the store at [`SIM_DIR`]; `opts` names the disk (see [`on_sim`]).
pub fn open_sim(opts: OpenOptions) -> edgeid::Result<Store> {
    Store::open(Path::new(SIM_DIR), opts)
}

/// A new simulated disk holding a new store, with one thread.
pub fn sim_store(dim: usize) -> (SimFs, Store) {
    let fs = SimFs::new();
    let store = create_sim(dim, on_sim(&fs));
    (fs, store)
}

/// A new store in a new temporary directory (removed when the guard drops).
pub fn temp_store(dim: usize, opts: OpenOptions) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path(), MODEL, dim, opts).unwrap();
    (dir, store)
}

/// Little-endian bytes of an embedding, as the store and the sync format hold them.
pub fn le_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|f| f.to_le_bytes()).collect()
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Standard base64, as the sync format writes binary data.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A face template put.
pub fn put(loc: &str, user: &str, tpl: &str, v: Vec<f32>) -> Change {
    Change::PutFace {
        location: loc.into(),
        user: user.into(),
        template: tpl.into(),
        embedding: v,
    }
}

/// The store as a map (location, user, template) → normalised embedding.
pub type Model = BTreeMap<(String, String, String), Vec<f32>>;

pub fn model_of(snap: &edgeid::Snapshot) -> Model {
    snap.face_templates()
        .map(|(l, u, t, v)| ((l.into(), u.into(), t.into()), v.to_vec()))
        .collect()
}

/// Applies changes to a model the way the store must (all-or-nothing).
pub fn apply_model(m: &mut Model, changes: &[Change], dim: usize) -> bool {
    let mut next = m.clone();
    for c in changes {
        match c {
            Change::PutFace {
                location,
                user,
                template,
                embedding,
            } => {
                let Ok(v) = edgeid::face::normalize(embedding, dim) else {
                    return false;
                };
                next.insert((location.clone(), user.clone(), template.clone()), v);
            }
            Change::RemoveFace {
                location,
                user,
                template,
            } => {
                if next
                    .remove(&(location.clone(), user.clone(), template.clone()))
                    .is_none()
                {
                    return false;
                }
            }
            Change::PutFinger { .. }
            | Change::RemoveFinger { .. }
            | Change::RemoveUserFingers { .. } => {
                unreachable!("this model tracks faces; tests/finger_store.rs has the finger model")
            }
            Change::RemoveUser { location, user } | Change::RemoveUserFaces { location, user } => {
                let keys: Vec<_> = next
                    .keys()
                    .filter(|k| &k.0 == location && &k.1 == user)
                    .cloned()
                    .collect();
                if keys.is_empty() {
                    return false;
                }
                for k in keys {
                    next.remove(&k);
                }
            }
        }
    }
    *m = next;
    true
}

/// The store's files except the event journal (`journal/`), which records refused deltas too:
/// what "a refused delta wrote nothing" compares.
pub fn store_bytes(fs: &SimFs) -> Vec<(PathBuf, Vec<u8>)> {
    fs.all_bytes()
        .into_iter()
        .filter(|(p, _)| !p.components().any(|c| c.as_os_str() == "journal"))
        .collect()
}

/// The refusal kinds the journal recorded after event `after`, in order.
pub fn refusals_after(s: &Store, after: u64) -> Vec<String> {
    let page = s.journal().read(after, 100_000).unwrap();
    page.events
        .into_iter()
        .filter_map(|e| match e.kind {
            edgeid::journal::EventKind::DeltaRefused { refusal, .. } => Some(refusal),
            _ => None,
        })
        .collect()
}

/// Every file under a store directory on the real disk (the journal's too), by its path relative
/// to the directory (`journal/evt-….log`), with its bytes.
pub fn dir_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}
