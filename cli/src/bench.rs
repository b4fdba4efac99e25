//! `edgeid bench face`: the numbers that matter on a terminal — insert rate, open time, one-probe
//! latency, batch throughput, delete time, memory — plus a check that every answer was exact.

use crate::out::{ms, round3, CmdResult, Fail, Out, Report, Text};
use crate::rss;
use crate::synth::{self, user_id, Rng};
use clap::Args;
use edgeid::index::face::identify_brute_force;
use edgeid::kernels::Kernels;
use edgeid::{Change, FaceHit, FaceIdentify, OpenOptions, Store};
use serde::Serialize;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Templates per commit while building the gallery: large enough that the one fdatasync per commit
/// does not dominate, as when a terminal syncs a whole site.
const BATCH: usize = 10_000;
/// Queries run before timing, so page faults of the first scan are not counted as latency.
const WARMUP: usize = 5;
/// Templates removed by the timed delete (or half the gallery if smaller).
const DELETE: usize = 10_000;
/// k of the second exactness comparison.
const K_WIDE: usize = 10;
const LOCATION: &str = "local";
const TEMPLATE: &str = "t0";

#[derive(Args)]
pub struct BenchFaceArgs {
    /// Synthetic gallery size (one template per user).
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    gallery: u64,
    /// Embedding dimension.
    #[arg(long, default_value_t = 512)]
    dim: usize,
    /// Number of synthetic queries.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..))]
    queries: u64,
    /// Search threads (default: all cores).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    threads: Option<u64>,
    /// Seed of the synthetic data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Pin a SIMD kernel (e.g. scalar, avx2); default: the best this CPU has.
    #[arg(long, value_name = "NAME")]
    kernel: Option<String>,
    /// Gallery from a file instead: raw little-endian f32, row-major, N x DIM.
    #[arg(long, value_name = "FILE", requires = "queries_file")]
    gallery_file: Option<PathBuf>,
    /// Queries from a file instead: raw little-endian f32, row-major, Q x DIM.
    #[arg(long, value_name = "FILE", requires = "gallery_file")]
    queries_file: Option<PathBuf>,
    /// Put the temporary store under this directory (default: the system temp dir), e.g. to
    /// measure a particular disk.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Where gallery rows come from. Synthetic rows are regenerated from their index, so neither
/// source keeps the whole gallery in memory (peak RSS then measures the store, not the bench).
enum Gallery {
    Synthetic {
        seed: u64,
    },
    File {
        path: PathBuf,
        reader: BufReader<File>,
    },
}

impl Gallery {
    fn rows(&mut self, start: usize, count: usize, dim: usize) -> Result<Vec<Vec<f32>>, Fail> {
        match self {
            Gallery::Synthetic { seed } => Ok((start..start + count)
                .map(|i| synth::gaussian_vec(*seed, synth::GALLERY + i as u64, dim))
                .collect()),
            Gallery::File { path, reader } => {
                let mut buf = vec![0u8; count * dim * 4];
                reader
                    .read_exact(&mut buf)
                    .map_err(|e| Fail::new(format!("read {}: {e}", path.display())))?;
                Ok(buf.chunks_exact(dim * 4).map(le_f32s).collect())
            }
        }
    }
}

fn le_f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Rows in a raw f32 matrix file, refusing a size that is not whole rows.
fn rows_in(path: &Path, dim: usize) -> Result<usize, Fail> {
    let len = std::fs::metadata(path)
        .map_err(|e| Fail::new(format!("read {}: {e}", path.display())))?
        .len();
    let row = 4 * dim as u64;
    if len == 0 || len % row != 0 {
        return Err(Fail::new(format!(
            "{}: {len} bytes is not a whole number of rows of {dim} little-endian f32 ({row} bytes each)",
            path.display()
        )));
    }
    Ok((len / row) as usize)
}

/// Refuses an embedding dimension the store would refuse, before any data is made.
pub fn check_dim(dim: usize) -> Result<(), Fail> {
    if !edgeid::face::DIM_RANGE.contains(&dim) {
        return Err(Fail::new(format!(
            "dimension must be in {:?}, got {dim}",
            edgeid::face::DIM_RANGE
        )));
    }
    Ok(())
}

/// A temporary directory for a bench's stores, under `dir` (`--dir`) or the system's; removed
/// when dropped.
pub fn temp_dir(dir: Option<&Path>) -> Result<tempfile::TempDir, Fail> {
    let mut b = tempfile::Builder::new();
    b.prefix("edgeid-bench-");
    match dir {
        Some(d) => b.tempdir_in(d),
        None => b.tempdir(),
    }
    .map_err(|e| Fail::new(format!("create temporary store directory: {e}")))
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Runs `f(i)` for i in 0..n over `threads` threads (work handed out one index at a time, so
/// uneven items balance) and returns the results in index order.
fn parallel_map<T: Send>(
    n: usize,
    threads: usize,
    f: impl Fn(usize) -> Result<T, Fail> + Sync,
) -> Result<Vec<T>, Fail> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..n).map(|_| None).collect());
    let first_err: Mutex<Option<Fail>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads.min(n).max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                match f(i) {
                    Ok(v) => results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(v),
                    Err(e) => {
                        first_err
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_or_insert(e);
                        next.store(n, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    if let Some(e) = first_err.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    Ok(results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every index ran"))
        .collect())
}

pub fn face(a: &BenchFaceArgs, out: Out) -> CmdResult<BenchFace> {
    let dim = a.dim;
    check_dim(dim)?;
    let threads = a.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |t| t as usize,
    );
    let kernels = match &a.kernel {
        None => Kernels::detect(),
        Some(name) => Kernels::by_name(name).ok_or_else(|| {
            let avail: Vec<_> = Kernels::all_available().iter().map(|k| k.name).collect();
            Fail::new(format!(
                "kernel {name:?} is not available on this CPU; available: {}",
                avail.join(", ")
            ))
        })?,
    };

    // Data: gallery source, queries and (synthetic only) each query's source row.
    let (mut gallery, n, queries, sources) = match (&a.gallery_file, &a.queries_file) {
        (Some(gf), Some(qf)) => {
            let n = rows_in(gf, dim)?;
            let q = rows_in(qf, dim)?;
            let qbytes =
                std::fs::read(qf).map_err(|e| Fail::new(format!("read {}: {e}", qf.display())))?;
            let queries: Vec<Vec<f32>> = qbytes.chunks_exact(dim * 4).map(le_f32s).collect();
            debug_assert_eq!(queries.len(), q);
            let reader = BufReader::new(
                File::open(gf).map_err(|e| Fail::new(format!("read {}: {e}", gf.display())))?,
            );
            let g = Gallery::File {
                path: gf.clone(),
                reader,
            };
            (g, n, queries, None)
        }
        _ => {
            let n = a.gallery as usize;
            let sigma = 0.5 / (dim as f64).sqrt();
            let mut pick = Rng::new(a.seed, synth::PROBE);
            let mut queries = Vec::new();
            let mut sources = Vec::new();
            for j in 0..a.queries as usize {
                let src = pick.below(n as u64) as usize;
                let v = synth::gaussian_vec(a.seed, synth::GALLERY + src as u64, dim);
                queries.push(synth::noisy(&v, a.seed, synth::PROBE + 1 + j as u64, sigma));
                sources.push(src);
            }
            (
                Gallery::Synthetic { seed: a.seed },
                n,
                queries,
                Some(sources),
            )
        }
    };
    let q = queries.len();

    let tmp = temp_dir(a.dir.as_deref())?;
    let dir = tmp.path().join("store");
    let opts = OpenOptions::new().threads(threads).kernels(kernels);

    // 1. Insert: one commit per batch; only the commits are timed, not generating the data.
    let store = Store::create(&dir, "bench", dim, opts.clone())?;
    let pb = out.progress(n as u64, "gallery");
    let mut insert_time = Duration::ZERO;
    let mut start = 0;
    while start < n {
        let count = BATCH.min(n - start);
        let changes: Vec<Change> = gallery
            .rows(start, count, dim)?
            .into_iter()
            .enumerate()
            .map(|(k, embedding)| Change::PutFace {
                location: LOCATION.into(),
                user: user_id(start + k),
                template: TEMPLATE.into(),
                embedding,
            })
            .collect();
        let t = Instant::now();
        store.commit(&changes)?;
        insert_time += t.elapsed();
        start += count;
        pb.inc(count as u64);
    }
    pb.finish_and_clear();
    let insert_per_s = n as f64 / insert_time.as_secs_f64();

    // 2. Open: checkpointed store, as a terminal finds it after a restart.
    store.checkpoint()?;
    drop(store);
    let t = Instant::now();
    let store = Store::open(&dir, opts.clone())?;
    let open_ms = ms(t.elapsed());

    // 3. Latency: one probe at a time, as at a door.
    for p in queries.iter().cycle().take(WARMUP) {
        store.identify_face(&FaceIdentify::new(p))?;
    }
    let mut lat = Vec::with_capacity(q);
    let mut top1: Vec<Vec<FaceHit>> = Vec::with_capacity(q);
    for p in &queries {
        let t = Instant::now();
        let hits = store.identify_face(&FaceIdentify::new(p))?;
        lat.push(ms(t.elapsed()));
        top1.push(hits);
    }
    let mut wide = Vec::with_capacity(q);
    for p in &queries {
        wide.push(store.identify_face(&FaceIdentify::new(p).k(K_WIDE))?);
    }
    // Peak RSS includes the bulk insert; the anonymous (heap) part of the resident set here is
    // what an open, searching store costs besides its mapped segment files (which the kernel can
    // drop and reload), before the bench's own reference checks allocate.
    let anon = rss::status_mib("RssAnon").map(rss::round1);
    let mean_ms = lat.iter().sum::<f64>() / q as f64;
    lat.sort_by(f64::total_cmp);
    let (p50_ms, p99_ms) = (percentile(&lat, 0.50), percentile(&lat, 0.99));

    // 4. Batch throughput: each query on one thread, `threads` queries at a time. Only one store
    //    may be open per directory, so reopen it without its search pool.
    let store = if threads > 1 {
        drop(store);
        Store::open(&dir, opts.clone().threads(1))?
    } else {
        store
    };
    for p in queries.iter().cycle().take(WARMUP) {
        store.identify_face(&FaceIdentify::new(p))?;
    }
    let t = Instant::now();
    let batch = parallel_map(q, threads, |i| {
        Ok(store.identify_face(&FaceIdentify::new(&queries[i]))?)
    })?;
    let batch_qps = q as f64 / t.elapsed().as_secs_f64();

    // 5. Exactness: every answer (pooled k=1 and k=10, single-threaded k=1) against the scalar
    //    brute-force reference. The reference runs once with k=10; its first hit is the k=1
    //    reference, since both sort the same fused scores and truncate.
    let snap = store.snapshot();
    let pb = out.progress(q as u64, "exactness");
    let checks = parallel_map(q, threads, |i| {
        // The detected kernel's dot_f32_f64 is bit-identical to scalar (tested per ISA), so the
        // reference stays a plain brute-force scan while running at SIMD speed.
        let reference =
            identify_brute_force(&snap, kernels, &FaceIdentify::new(&queries[i]).k(K_WIDE))?;
        let first = &reference[..reference.len().min(1)];
        let exact = top1[i] == first && batch[i] == first && wide[i] == reference;
        let agrees = sources
            .as_ref()
            .map(|s| top1[i].first().is_some_and(|h| h.user == user_id(s[i])));
        pb.inc(1);
        Ok((exact, agrees))
    })?;
    pb.finish_and_clear();
    drop(snap);
    let mismatches = checks.iter().filter(|c| !c.0).count();
    let exact = mismatches == 0;
    let top1_source_agreement = sources
        .as_ref()
        .map(|_| checks.iter().filter(|c| c.1 == Some(true)).count() as f64 / q as f64);

    // 6. Delete. The first write after opening builds the key index; time it apart (a re-put of
    //    one stored template) so the delete is timed as on a running terminal.
    let (l, u, t0, v) = {
        let snap = store.snapshot();
        let (l, u, t, v) = snap.face_templates().next().expect("gallery is not empty");
        (l.to_string(), u.to_string(), t.to_string(), v.to_vec())
    };
    let t = Instant::now();
    store.commit(&[Change::PutFace {
        location: l,
        user: u,
        template: t0,
        embedding: v,
    }])?;
    let first_write_ms = ms(t.elapsed());
    let deleted = DELETE.min(n / 2);
    let delete_10k_ms = if deleted > 0 {
        let changes: Vec<Change> = (0..deleted)
            .map(|i| Change::RemoveFace {
                location: LOCATION.into(),
                user: user_id(i),
                template: TEMPLATE.into(),
            })
            .collect();
        let t = Instant::now();
        store.commit(&changes)?;
        Some(ms(t.elapsed()))
    } else {
        None
    };
    let st = store.stats();
    drop(store);
    let peak = rss::peak_mib().map(rss::round1);

    let source = if a.gallery_file.is_some() {
        "files"
    } else {
        "synthetic"
    };
    let report = BenchFace {
        source,
        gallery: n,
        dim,
        queries: q,
        seed: (source == "synthetic").then_some(a.seed),
        kernel: kernels.name,
        threads,
        insert_per_s: insert_per_s.round(),
        open_ms: round3(open_ms),
        p50_ms: round3(p50_ms),
        p99_ms: round3(p99_ms),
        mean_ms: round3(mean_ms),
        batch_qps: batch_qps.round(),
        first_write_ms: round3(first_write_ms),
        deleted,
        delete_10k_ms: delete_10k_ms.map(round3),
        peak_rss_mb: peak,
        rss_anon_mb: anon,
        segment_bytes: st.faces.segment_bytes,
        exact,
        exact_mismatches: mismatches,
        top1_source_agreement,
        top1: top1
            .iter()
            .map(|h| h.first().and_then(|h| synth::user_index(&h.user)))
            .collect(),
    };
    if !exact {
        return Err(Fail::with(
            format!("{mismatches} of {q} queries differ from the brute-force reference"),
            report,
        ));
    }
    Ok(report)
}

/// `bench face`.
#[derive(Serialize)]
pub struct BenchFace {
    /// "synthetic" or "files".
    source: &'static str,
    gallery: usize,
    dim: usize,
    queries: usize,
    /// Seed of synthetic data (none for files).
    seed: Option<u64>,
    kernel: &'static str,
    threads: usize,
    insert_per_s: f64,
    open_ms: f64,
    p50_ms: f64,
    p99_ms: f64,
    mean_ms: f64,
    batch_qps: f64,
    first_write_ms: f64,
    deleted: usize,
    delete_10k_ms: Option<f64>,
    peak_rss_mb: Option<f64>,
    rss_anon_mb: Option<f64>,
    segment_bytes: u64,
    exact: bool,
    exact_mismatches: usize,
    top1_source_agreement: Option<f64>,
    /// Gallery row of each query's top-1 (ids are "u-<row>"), for peer scripts to check.
    top1: Vec<Option<usize>>,
}

impl Report for BenchFace {
    fn text(&self, t: &mut Text) {
        let (n, dim, q, threads) = (self.gallery, self.dim, self.queries, self.threads);
        let plural = if threads == 1 { "" } else { "s" };
        t.line(format_args!(
            "edgeid bench face: {n} templates x {dim} dims, {q} queries ({}), kernel {}, {threads} thread{plural}",
            self.source, self.kernel
        ));
        t.line(format_args!(
            "  insert        {:>12.0} templates/s  (batches of {BATCH}, one fdatasync each)",
            self.insert_per_s
        ));
        t.line(format_args!("  open          {:>12.2} ms", self.open_ms));
        t.line(format_args!(
            "  identify      {:>12.3} ms p50   {:.3} ms p99   {:.3} ms mean  (k=1)",
            self.p50_ms, self.p99_ms, self.mean_ms
        ));
        t.line(format_args!(
            "  batch         {:>12.0} queries/s over {threads} thread{plural}",
            self.batch_qps
        ));
        t.line(format_args!(
            "  first write   {:>12.2} ms  (builds the key index after open)",
            self.first_write_ms
        ));
        if let Some(d) = self.delete_10k_ms {
            t.line(format_args!(
                "  delete        {d:>12.2} ms for {} templates in one commit",
                self.deleted
            ));
        }
        if let Some(p) = self.peak_rss_mb {
            t.line(format_args!(
                "  peak RSS      {p:>12.1} MiB  (heap while searching: {} MiB, besides mapped files)",
                self.rss_anon_mb.map_or("?".to_string(), |a| format!("{a:.1}"))
            ));
        }
        t.line(format_args!(
            "  exact         {:>12}  ({} of {q} queries equal the brute-force scan at k=1 and k={K_WIDE})",
            self.exact,
            q - self.exact_mismatches
        ));
        if let Some(agree) = self.top1_source_agreement {
            t.line(format_args!(
                "  top-1 source  {:>11.1}%  (query's source template ranked first)",
                agree * 100.0
            ));
        }
    }
}
