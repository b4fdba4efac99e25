//! Kernel throughput per ISA on this machine.
//!
//! Why: the rows kernel is the 1:N scan hot loop, so its GB/s over a realistic
//! gallery (10,000 templates × 512-byte codes) decides search latency; the f32
//! kernel is the exact re-rank step. Every available ISA is measured so the
//! choice made by `Kernels::detect` can be checked against numbers.

use std::hint::black_box;

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use edgeid::kernels::Kernels;

/// Deterministic filler (splitmix64), so runs compare like with like.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Scores `rows` random 512-byte codes against one query with every kernel.
fn rows_group(c: &mut Criterion, group: &str, rows: usize) {
    const DIM: usize = 512;
    let mut s = 42;
    let codes: Vec<u8> = (0..rows * DIM).map(|_| splitmix(&mut s) as u8).collect();
    let query: Vec<i8> = (0..DIM)
        .map(|_| ((splitmix(&mut s) % 255) as i32 - 127) as i8)
        .collect();
    let mut out = vec![0i32; rows];
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Bytes((rows * DIM) as u64));
    for k in Kernels::all_available() {
        g.bench_function(BenchmarkId::from_parameter(k.name), |b| {
            b.iter(|| k.dot_u8i8_rows(black_box(&codes), black_box(&query), &mut out))
        });
    }
    g.finish();
}

/// The scan over a 10,000-template gallery (5 MB: streams from L3 or DRAM).
fn rows(c: &mut Criterion) {
    rows_group(c, "dot_u8i8_rows_10000x512", 10_000);
}

/// A 1 MB gallery that stays in L2, which shows the kernels' compute speed
/// rather than the memory system's.
fn rows_cached(c: &mut Criterion) {
    rows_group(c, "dot_u8i8_rows_2000x512", 2_000);
}

/// Scores `rows` random packed-u4 codes (512 dims, 256 bytes a row) against
/// one query with every kernel; throughput counts the code bytes streamed.
fn u4_rows_group(c: &mut Criterion, group: &str, rows: usize) {
    const DIM: usize = 512;
    let mut s = 11;
    let codes: Vec<u8> = (0..rows * DIM / 2)
        .map(|_| splitmix(&mut s) as u8)
        .collect();
    let query: Vec<i8> = (0..DIM)
        .map(|_| ((splitmix(&mut s) % 255) as i32 - 127) as i8)
        .collect();
    let mut out = vec![0i32; rows];
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Bytes((rows * DIM / 2) as u64));
    for k in Kernels::all_available() {
        g.bench_function(BenchmarkId::from_parameter(k.name), |b| {
            b.iter(|| k.dot_u4i8_rows(black_box(&codes), black_box(&query), &mut out))
        });
    }
    g.finish();
}

/// The 4-bit first pass over 10,000 templates (2.5 MB: beyond one core's L2
/// on most CPUs, so it streams from L3).
fn u4_rows(c: &mut Criterion) {
    u4_rows_group(c, "dot_u4i8_rows_10000x512", 10_000);
}

/// 2,000 templates (512 KB) stay in L2: the kernels' compute speed.
fn u4_rows_cached(c: &mut Criterion) {
    u4_rows_group(c, "dot_u4i8_rows_2000x512", 2_000);
}

fn dot_u8i8(c: &mut Criterion) {
    const DIM: usize = 512;
    let mut s = 7;
    let a: Vec<u8> = (0..DIM).map(|_| splitmix(&mut s) as u8).collect();
    let b: Vec<i8> = (0..DIM)
        .map(|_| ((splitmix(&mut s) % 255) as i32 - 127) as i8)
        .collect();
    let mut g = c.benchmark_group("dot_u8i8_512");
    g.throughput(Throughput::Bytes(DIM as u64));
    for k in Kernels::all_available() {
        g.bench_function(BenchmarkId::from_parameter(k.name), |bn| {
            bn.iter(|| k.dot_u8i8(black_box(&a), black_box(&b)))
        });
    }
    g.finish();
}

fn f32_f64(c: &mut Criterion) {
    const DIM: usize = 512;
    let mut s = 9;
    let mut unit = || (splitmix(&mut s) >> 40) as f32 / (1u64 << 23) as f32 - 1.0;
    let a: Vec<f32> = (0..DIM).map(|_| unit()).collect();
    let b: Vec<f32> = (0..DIM).map(|_| unit()).collect();
    let mut g = c.benchmark_group("dot_f32_f64_512");
    g.throughput(Throughput::Bytes((2 * DIM * 4) as u64));
    for k in Kernels::all_available() {
        g.bench_function(BenchmarkId::from_parameter(k.name), |bn| {
            bn.iter(|| k.dot_f32_f64(black_box(&a), black_box(&b)))
        });
    }
    g.finish();
}

/// `criterion_group!` generates an undocumented `pub fn`; keep it in a module
/// so the crate's `missing_docs` lint does not fire on macro output.
#[allow(missing_docs)]
mod group {
    use super::{dot_u8i8, f32_f64, rows, rows_cached, u4_rows, u4_rows_cached};
    criterion::criterion_group!(
        benches,
        rows,
        rows_cached,
        u4_rows,
        u4_rows_cached,
        dot_u8i8,
        f32_f64
    );
}

criterion_main!(group::benches);
