//! Fingerprint matching speed.
//!
//! - `finger_1to1`: one comparison of two real prepared templates (one core), cycling over mated and
//!   non-mated pairs of FVC2002 DB1 mindtct.
//! - `finger_prepare/from_record`: preparation of one parsed record (cylinders and prefilter
//!   summary, one core), cycling over the 640 real FVC2002 records of both extractors: what enrolment
//!   costs per template. `FINGER_GALLERY=1000 cargo bench --bench finger -- prepare` skips most of
//!   the 1:N gallery build.
//! - `finger_1toN/100000`: identify (k = 1) over 100,000 synthetic templates made from the 640 real
//!   ones (seeded rigid transforms, elastic distortion, dropout), on all cores, with the default
//!   search parameters; the probes are real templates.
//!
//! After criterion, a plain summary prints p50/p99 latency and effective comparisons/s (gallery size /
//! latency), the figures the issue asks for. `FINGER_GALLERY=N` changes the gallery size.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use criterion::{criterion_main, Criterion, Throughput};
use edgeid::finger::codec::{parse, Record};
use edgeid::finger::eval::load_dir;
use edgeid::finger::synth::{synthetic_gallery, SynthParams};
use edgeid::finger::{compare, FingerGallery, FingerTemplate};

fn real(set: &str) -> Vec<FingerTemplate> {
    let mut v = Vec::new();
    for db in 1..=4 {
        let dir = format!("testdata/fingerprint/fvc2002/DB{db}_B/{set}");
        v.extend(
            load_dir(Path::new(&dir))
                .unwrap()
                .into_iter()
                .map(|n| n.template),
        );
    }
    v
}

fn one_to_one(c: &mut Criterion) {
    let t: Vec<FingerTemplate> = load_dir(Path::new("testdata/fingerprint/fvc2002/DB1_B/mindtct"))
        .unwrap()
        .into_iter()
        .map(|n| n.template)
        .collect();
    let pairs: Vec<(usize, usize)> = (0..t.len())
        .flat_map(|i| (0..t.len()).map(move |j| (i, j)))
        .filter(|(i, j)| i != j)
        .collect();
    let mut g = c.benchmark_group("finger_1to1");
    g.throughput(Throughput::Elements(1));
    let mut k = 0;
    g.bench_function("compare", |b| {
        b.iter(|| {
            let (i, j) = pairs[k % pairs.len()];
            k += 1;
            black_box(compare(&t[i].as_ref(), &t[j].as_ref()))
        })
    });
    g.finish();
}

fn prepare(c: &mut Criterion) {
    let mut records: Vec<Record> = Vec::new();
    for db in 1..=4 {
        for set in ["mindtct", "secugen"] {
            let dir = format!("testdata/fingerprint/fvc2002/DB{db}_B/{set}");
            let mut paths: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            paths.sort();
            records.extend(
                paths
                    .iter()
                    .map(|p| parse(&std::fs::read(p).unwrap()).unwrap()),
            );
        }
    }
    let mut g = c.benchmark_group("finger_prepare");
    g.throughput(Throughput::Elements(1));
    let mut k = 0;
    g.bench_function("from_record", |b| {
        b.iter(|| {
            k += 1;
            black_box(FingerTemplate::from_record(&records[k % records.len()], 0).unwrap())
        })
    });
    g.finish();
}

fn one_to_n(c: &mut Criterion) {
    let n: usize = std::env::var("FINGER_GALLERY")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let mut sources = real("mindtct");
    sources.extend(real("secugen"));
    let t0 = Instant::now();
    let syn = synthetic_gallery(&sources, n, 42, &SynthParams::default());
    eprintln!(
        "built {n} synthetic templates in {:.1}s",
        t0.elapsed().as_secs_f64()
    );
    let mut g = FingerGallery::new();
    for (i, t) in syn.into_iter().enumerate() {
        g.insert(&format!("u{}", i / 2), &format!("t{}", i % 2), t)
            .unwrap();
    }
    let probes = real("mindtct");
    let mut grp = c.benchmark_group("finger_1toN");
    grp.sample_size(20);
    grp.throughput(Throughput::Elements(n as u64));
    let mut k = 0;
    grp.bench_function(format!("{n}"), |b| {
        b.iter(|| {
            k += 1;
            black_box(g.identify(&probes[k % probes.len()].as_ref(), 1, 0.0))
        })
    });
    grp.finish();
    // Plain summary.
    let mut lat: Vec<f64> = probes
        .iter()
        .map(|p| {
            let t = Instant::now();
            black_box(g.identify(&p.as_ref(), 1, 0.0));
            t.elapsed().as_secs_f64()
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    let p50 = lat[lat.len() / 2];
    let p99 = lat[(lat.len() * 99 / 100).min(lat.len() - 1)];
    let t1 = Instant::now();
    let mut m = 0;
    while t1.elapsed().as_secs_f64() < 2.0 {
        for p in probes.iter().step_by(7) {
            black_box(compare(&p.as_ref(), &sources[m % sources.len()].as_ref()));
            m += 1;
        }
    }
    let one = m as f64 / t1.elapsed().as_secs_f64();
    println!(
        "{{\"gallery\": {n}, \"p50_ms\": {:.2}, \"p99_ms\": {:.2}, \"comparisons_per_s\": {:.0}, \"one_to_one_per_s\": {one:.0}, \"candidates\": {}}}",
        p50 * 1e3,
        p99 * 1e3,
        n as f64 / p50,
        g.params().candidates(n)
    );
}

#[allow(missing_docs)]
mod group {
    use super::{one_to_n, one_to_one, prepare};
    criterion::criterion_group!(benches, one_to_one, prepare, one_to_n);
}

criterion_main!(group::benches);
