//! The bulk synchronisation rate alone (`cargo bench --bench bulk`): a faces-only full
//! synchronisation streamed from a file into an empty store, durable — the number issue 12 asks
//! ≥ 200,000 faces/s of, which `edgeid bench sync` measures among many others. A plain binary
//! (no criterion): it writes the delta once (`EDGEID_BENCH_USERS` users, default 100,000, one
//! 512-d face each), then applies it `EDGEID_BENCH_RUNS` times (default 3) into fresh stores and
//! prints each rate and the best, beside the disk's sequential fdatasync rate (its ceiling).
//! `EDGEID_BENCH_DIR` chooses the disk (default the system's temp dir). For a profile:
//! `perf record -g target/release/deps/bulk-* --bench`.

use base64::Engine;
use edgeid::sync::Outcome;
use edgeid::{OpenOptions, Store};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

const DIM: usize = 512;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A deterministic pseudo-random embedding (xorshift, not normalised: the store normalises).
fn embedding(i: u64) -> Vec<f32> {
    let mut s = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..DIM)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect()
}

/// Writes a full delta of `users` users with one face each, `changes` last; returns its size.
fn write_delta(path: &Path, users: usize) -> u64 {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    write!(
        f,
        r#"{{"format":"edgeid.delta/1","location":"bench","sequence":1,"kind":"full","changes":["#
    )
    .unwrap();
    for i in 0..users {
        if i > 0 {
            f.write_all(b",").unwrap();
        }
        let bytes: Vec<u8> = embedding(i as u64)
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        write!(
            f,
            r#"{{"op":"upsert_user","user":{{"id":"u{i:07}","name":"Bench user {i}","faces":[{{"id":"f1","model":"bench","embedding":"{}"}}],"fingers":[]}}}}"#,
            b64.encode(&bytes)
        )
        .unwrap();
    }
    f.write_all(b"]}").unwrap();
    f.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

/// Sequential durable write rate of the disk under `dir` (MB/s): 256 MiB in 4 MiB writes, then
/// one fdatasync; the best of two runs.
fn fdatasync_mb_s(dir: &Path) -> f64 {
    let path = dir.join("fdatasync-probe");
    let piece = vec![0x5au8; 4 << 20];
    let mut best = 0f64;
    for _ in 0..2 {
        let mut f = std::fs::File::create(&path).unwrap();
        let t = Instant::now();
        for _ in 0..64 {
            f.write_all(&piece).unwrap();
        }
        f.sync_data().unwrap();
        best = best.max((64 * piece.len()) as f64 / 1e6 / t.elapsed().as_secs_f64());
        drop(f);
        std::fs::remove_file(&path).unwrap();
    }
    best
}

/// CPU seconds the process has used, all threads, user and system (`/proc/self/stat`, Linux's
/// 100 ticks per second): a per-face cost that holds on a loaded machine, where the rate does not.
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|t| t.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of the line (utime, stime); `after` starts at field 3.
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let users = env("EDGEID_BENCH_USERS", 100_000);
    let runs = env("EDGEID_BENCH_RUNS", 3);
    let dir = match std::env::var_os("EDGEID_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let delta = dir.path().join("full.json");
    let bytes = write_delta(&delta, users);
    println!(
        "delta: {users} users, one {DIM}-d face each, {:.1} MB",
        bytes as f64 / 1e6
    );
    let mut best = 0f64;
    for run in 0..runs {
        let store_dir = dir.path().join(format!("store-{run}"));
        let store = Store::create(&store_dir, "bench", DIM, OpenOptions::new()).unwrap();
        let mut reader =
            std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(&delta).unwrap());
        let (t, cpu) = (Instant::now(), cpu_s());
        let outcome = store.apply_delta_reader(&mut reader, &mut |_| {}).unwrap();
        let s = t.elapsed().as_secs_f64();
        let cpu = cpu_s() - cpu;
        assert!(matches!(outcome, Outcome::Applied { changes, .. } if changes == users));
        assert_eq!(store.stats().faces.live, users);
        drop(store);
        std::fs::remove_dir_all(&store_dir).unwrap();
        let rate = users as f64 / s;
        best = best.max(rate);
        println!(
            "run {run}: {:.0} faces/s ({:.0} MB/s of delta, {s:.2} s); CPU {:.1} us per face",
            rate,
            bytes as f64 / 1e6 / s,
            cpu * 1e6 / users as f64
        );
    }
    let mb_s = fdatasync_mb_s(dir.path());
    // Each face is about 2.9 KB of segment at 512-d (codes, vector, error terms, ids).
    let face_bytes = 4 * DIM + DIM + DIM / 2 + 64;
    println!(
        "bulk_faces_per_s (best of {runs}): {best:.0}; fdatasync ceiling: {mb_s:.0} MB/s = {:.0} faces/s",
        mb_s * 1e6 / face_bytes as f64
    );
}
