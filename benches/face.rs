//! Face 1:N identification at 10k and 100k templates × 512 dims (criterion).
//!
//! Gallery: seeded gaussian vectors, one template per user; probes: noisy copies of gallery
//! templates (cosine ≈ 0.89), as at a door. `k=1` is the door's question ("who is this?");
//! `k=10, no threshold` is the adversarial case for the pruning bound (nine impostors near the top).

#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use edgeid::{Change, FaceIdentify, OpenOptions, Store};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn gauss(&mut self) -> f32 {
        let u1 = ((self.next() >> 11) as f64 / (1u64 << 53) as f64).max(1e-300);
        let u2 = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    }
}

fn build(n: usize, dim: usize, dir: &std::path::Path) -> (Store, Vec<Vec<f32>>) {
    let store = Store::create(dir, "bench", dim, OpenOptions::new()).unwrap();
    let mut rng = Rng(42);
    let mut probes = Vec::new();
    let mut batch = Vec::new();
    for i in 0..n {
        let v: Vec<f32> = (0..dim).map(|_| rng.gauss()).collect();
        if i % (n / 64).max(1) == 0 {
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            let s = 0.5 * norm / (dim as f32).sqrt();
            probes.push(v.iter().map(|x| x + s * rng.gauss()).collect());
        }
        batch.push(Change::PutFace {
            location: "local".into(),
            user: format!("u-{i:07}"),
            template: "f1".into(),
            embedding: v,
        });
        if batch.len() == 10_000 {
            store.commit(&batch).unwrap();
            batch.clear();
        }
    }
    store.commit(&batch).unwrap();
    store.checkpoint().unwrap();
    (store, probes)
}

fn identify(c: &mut Criterion) {
    let mut g = c.benchmark_group("identify_512d");
    g.sample_size(30);
    for n in [10_000usize, 100_000] {
        let dir = tempfile::tempdir().unwrap();
        let (store, probes) = build(n, 512, dir.path());
        let mut i = 0;
        g.bench_with_input(BenchmarkId::new("k1", n), &n, |b, _| {
            b.iter(|| {
                i = (i + 1) % probes.len();
                store.identify_face(&FaceIdentify::new(&probes[i])).unwrap()
            })
        });
        g.bench_with_input(BenchmarkId::new("k10", n), &n, |b, _| {
            b.iter(|| {
                i = (i + 1) % probes.len();
                store
                    .identify_face(&FaceIdentify::new(&probes[i]).k(10))
                    .unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, identify);
criterion_main!(benches);
