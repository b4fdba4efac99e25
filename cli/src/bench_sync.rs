//! `edgeid bench sync`: the synchronisation numbers of the issue — "synchronize all changes" with
//! 10,000 users (parse speed and the whole apply with its durable commit), "synchronize user" (one
//! user), and a full synchronisation of 100,000 users while another thread keeps identifying
//! (search latency idle vs. during the apply), streamed from a file on the bulk path, with the
//! peak memory of that apply, the bulk load rate and the disk's durable write rate (its ceiling).

use crate::bench::{check_dim, percentile, temp_dir};
use crate::deltas;
use crate::out::{ms, round3, CmdResult, Fail, Out, Report, Text};
use crate::rss;
use crate::synth::{self, user_id};
use clap::Args;
use edgeid::sync::delta::Kind;
use edgeid::sync::Outcome;
use edgeid::{FaceIdentify, OpenOptions, Store};
use serde::Serialize;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const MODEL: &str = "bench";
const LOCATION: &str = "bench";
/// Parse timings taken (the median is reported).
const PARSE_RUNS: usize = 3;
/// One-user deltas timed (the median is reported).
const ONE_USER_RUNS: usize = 20;
/// Distinct probes cycled by the search thread.
const PROBES: usize = 64;
/// Idle searches: at least this many and for at least [`IDLE_TIME`], but no more than
/// [`IDLE_MAX`] (small galleries answer in microseconds).
const IDLE_SEARCHES: usize = 200;
const IDLE_TIME: Duration = Duration::from_secs(1);
const IDLE_MAX: usize = 20_000;

#[derive(Args)]
pub struct BenchSyncArgs {
    /// Users in the "synchronize all changes" delta, one face each.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    users: u64,
    /// Embedding dimension.
    #[arg(long, default_value_t = 512)]
    dim: usize,
    /// Fingerprint records per user in the "synchronize all changes" and one-user deltas
    /// (synthetic minutiae, ISO 19794-2:2005; each prepared by the store on the way in).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=10))]
    fingers: u64,
    /// Users of the full synchronisation timed while searches run (0: skip that part).
    #[arg(long, default_value_t = 100_000)]
    full_users: u64,
    /// Seed of the synthetic data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Put the temporary stores under this directory (default: the system temp dir), e.g. to
    /// measure a particular disk.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Synthetic faces: user `i` is a random direction, each enrolment a noisy capture of it.
struct Faces {
    seed: u64,
    dim: usize,
    /// Fingerprint records per user.
    fingers: u64,
}

impl Faces {
    fn base(&self, i: usize) -> Vec<f32> {
        synth::gaussian_vec(self.seed, synth::GALLERY + i as u64, self.dim)
    }
    fn capture(&self, i: usize, enrolment: u64) -> Vec<f32> {
        let sigma = 0.3 / (self.dim as f64).sqrt();
        let stream = synth::EXTRA + (enrolment << 40) + i as u64;
        synth::noisy(&self.base(i), self.seed, stream, sigma)
    }
    fn probe(&self, i: usize, j: usize) -> Vec<f32> {
        let sigma = 0.5 / (self.dim as f64).sqrt();
        synth::noisy(&self.base(i), self.seed, synth::PROBE + j as u64, sigma)
    }
    fn user(&self, i: usize, enrolment: u64) -> Value {
        self.user_with(i, enrolment, self.fingers)
    }
    fn user_with(&self, i: usize, enrolment: u64, fingers: u64) -> Value {
        let fingers: Vec<Value> = (0..fingers)
            .map(|j| {
                let pts = synth::impression(self.seed, i as u64 * 10 + j, enrolment);
                let rec = edgeid::finger::synth::to_record(&pts);
                json!({"id": format!("finger-{j}"), "position": 1 + j,
                       "format": "iso19794-2:2005", "data": deltas::b64(&rec)})
            })
            .collect();
        json!({"id": user_id(i), "name": format!("Bench user {i}"),
               "faces": [deltas::face("f1", MODEL, &self.capture(i, enrolment))],
               "fingers": fingers})
    }
    /// A delta upserting users `users` at enrolment `enrolment`, with a progress bar.
    fn delta(
        &self,
        users: std::ops::Range<usize>,
        sequence: u64,
        kind: Kind,
        enrolment: u64,
        out: Out,
    ) -> Vec<u8> {
        let pb = out.progress(users.len() as u64, "building");
        let changes = users
            .map(|i| {
                pb.inc(1);
                deltas::upsert_user(self.user(i, enrolment))
            })
            .collect();
        pb.finish_and_clear();
        let key = (kind == Kind::Full).then(|| deltas::code_key(self.seed));
        deltas::delta(LOCATION, sequence, kind, key.as_ref(), changes)
    }
}

impl Faces {
    /// Writes a full delta of `users` users (the first `fingered` of them with two fingerprints)
    /// to `path`, user by user, `changes` last (what a streamed delta must be); returns its size.
    fn write_full(
        &self,
        path: &std::path::Path,
        users: usize,
        fingered: usize,
        sequence: u64,
        enrolment: u64,
    ) -> Result<u64, Fail> {
        use std::io::Write;
        let io = |e: std::io::Error| Fail::new(format!("{}: {e}", path.display()));
        let mut f = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
        let key = deltas::b64(&deltas::code_key(self.seed));
        write!(
            f,
            r#"{{"format":"edgeid.delta/1","location":"{LOCATION}","sequence":{sequence},"kind":"full","code_key":"{key}","changes":["#
        )
        .map_err(io)?;
        for i in 0..users {
            if i > 0 {
                f.write_all(b",").map_err(io)?;
            }
            let fingers = if i < fingered { 2 } else { 0 };
            let u = deltas::upsert_user(self.user_with(i, enrolment, fingers));
            serde_json::to_writer(&mut f, &u).map_err(|e| Fail::new(e.to_string()))?;
        }
        f.write_all(b"]}").map_err(io)?;
        f.flush().map_err(io)?;
        Ok(std::fs::metadata(path).map_err(io)?.len())
    }
}

/// Applies a streamed delta from a file; returns the milliseconds it took.
fn apply_file(store: &Store, path: &std::path::Path, what: &str) -> Result<f64, Fail> {
    let file = std::fs::File::open(path).map_err(|e| Fail::new(format!("{what}: {e}")))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
    let t = Instant::now();
    let outcome = store.apply_delta_reader(&mut reader, &mut |_| {})?;
    let took = ms(t.elapsed());
    match outcome {
        Outcome::Applied { .. } => Ok(took),
        other => Err(Fail::new(format!(
            "{what}: expected applied, got {other:?}"
        ))),
    }
}

/// Sequential write throughput of the disk under `dir`, durable (MB/s): 256 MiB written in 4 MiB
/// pieces then one fdatasync, the best of two runs. What a bulk load cannot beat.
fn fdatasync_mb_s(dir: &std::path::Path) -> Option<f64> {
    use std::io::Write;
    let path = dir.join("fdatasync-probe");
    let piece = vec![0x5au8; 4 << 20];
    let mut best: Option<f64> = None;
    for _ in 0..2 {
        let mut f = std::fs::File::create(&path).ok()?;
        let t = Instant::now();
        for _ in 0..64 {
            f.write_all(&piece).ok()?;
        }
        f.sync_data().ok()?;
        let mb_s = (64 * piece.len()) as f64 / 1e6 / t.elapsed().as_secs_f64();
        best = Some(best.map_or(mb_s, |b: f64| b.max(mb_s)));
        drop(f);
        let _ = std::fs::remove_file(&path);
    }
    best.map(f64::round)
}

fn apply(store: &Store, delta: &[u8], what: &str) -> Result<f64, Fail> {
    let t = Instant::now();
    let outcome = store.apply_delta(delta, &mut |_| {})?;
    let took = ms(t.elapsed());
    match outcome {
        Outcome::Applied { .. } => Ok(took),
        other => Err(Fail::new(format!(
            "{what}: expected applied, got {other:?}"
        ))),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Search latencies (ms), sorted, and how many top-1 answers were not the probe's source user.
struct Searches {
    lat: Vec<f64>,
    wrong: usize,
}

impl Searches {
    fn p(&self, q: f64) -> Option<f64> {
        (!self.lat.is_empty()).then(|| round3(percentile(&self.lat, q)))
    }
}

pub fn run(a: &BenchSyncArgs, out: Out) -> CmdResult<BenchSync> {
    let (n, m, dim) = (a.users as usize, a.full_users as usize, a.dim);
    check_dim(dim)?;
    let faces = Faces {
        seed: a.seed,
        dim,
        fingers: a.fingers,
    };
    let tmp = temp_dir(a.dir.as_deref())?;
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse::<f64>().ok());

    // (a) "Synchronize all changes": N users re-enrolled in one delta, on a store that already had
    //     a full synchronisation of them.
    // The bench measures throughput at any size, also above the default delta limit.
    let opts = || OpenOptions::new().max_delta_bytes(usize::MAX);
    let store = Store::create(&tmp.path().join("changes"), MODEL, dim, opts())?;
    let first = faces.delta(0..n, 1, Kind::Full, 0, out);
    apply(&store, &first, "the first full synchronisation")?;
    drop(first);
    let changes = faces.delta(0..n, 2, Kind::Changes, 1, out);
    let bytes = changes.len();
    let mut parse = Vec::new();
    for _ in 0..PARSE_RUNS {
        let mut copy = changes.clone();
        let t = Instant::now();
        let d = edgeid::sync::delta::parse(&mut copy, MODEL, dim, |_| None, &mut |_, _| {})
            .map_err(|e| Fail::new(format!("parse: {e}")))?;
        parse.push(ms(t.elapsed()));
        drop(d);
    }
    let parse_ms = median(parse);
    let parse_mb_s = bytes as f64 / 1e6 / (parse_ms / 1e3);
    let rss_before = rss::reset_peak();
    let apply_ms = apply(&store, &changes, "the changes delta")?;
    let apply_peak_mb = rss::peak_mib().map(|p| p - rss_before.unwrap_or(0.0));
    drop(changes);

    // (b) "Synchronize user": one user per delta, each its own durable commit.
    let mut one = Vec::new();
    for r in 0..ONE_USER_RUNS {
        let d = faces.delta(
            r % n..r % n + 1,
            3 + r as u64,
            Kind::Changes,
            2 + r as u64,
            out,
        );
        one.push(apply(&store, &d, "a one-user delta")?);
    }
    let one_user_ms = median(one);
    drop(store);

    // (c) Full synchronisation of M users while another thread identifies continuously. The store
    //     already holds the M users (a previous full sync), so searches before, during and after
    //     scan galleries of the same size; the new sync re-enrols everyone.
    let mut full = Full::default();
    if m > 0 {
        // The bulk rate: a faces-only full of M users into an empty store, streamed, durable.
        let bulk = tmp.path().join("bulk.json");
        faces.write_full(&bulk, m, 0, 1, 0)?;
        let store = Store::create(&tmp.path().join("bulk"), MODEL, dim, opts())?;
        let bulk_ms = apply_file(&store, &bulk, "the bulk load")?;
        drop(store);
        let _ = std::fs::remove_file(&bulk);
        full.bulk_faces_per_s = Some((m as f64 / (bulk_ms / 1e3)).round());
        full.fdatasync_mb_s = fdatasync_mb_s(tmp.path());
        // Each face is about 2.9 KB of segment at 512-d (codes, vector, error terms, ids).
        let face_bytes = 4 * dim + dim + dim / 2 + 64;
        full.fdatasync_faces_per_s = full
            .fdatasync_mb_s
            .map(|mb| (mb * 1e6 / face_bytes as f64).round());

        // The full synchronisation of M users, one face each, the first tenth with two
        // fingerprints too, streamed from a file.
        let fingered = m / 10;
        let store = Store::create(&tmp.path().join("full"), MODEL, dim, opts())?;
        let first_path = tmp.path().join("full-1.json");
        faces.write_full(&first_path, m, fingered, 1, 0)?;
        let first_ms = apply_file(&store, &first_path, "the first full synchronisation")?;
        let _ = std::fs::remove_file(&first_path);
        let second = tmp.path().join("full-2.json");
        let second_bytes = faces.write_full(&second, m, fingered, 2, 1)?;
        let sources: Vec<usize> = (0..PROBES).map(|j| j * m / PROBES).collect();
        let probes: Vec<Vec<f32>> = sources
            .iter()
            .enumerate()
            .map(|(j, &i)| faces.probe(i, j))
            .collect();
        let search = |j: usize| -> Result<(Duration, bool), Fail> {
            let k = j % PROBES;
            let t = Instant::now();
            let hits = store.identify_face(&FaceIdentify::new(&probes[k]))?;
            let took = t.elapsed();
            let right = hits.first().is_some_and(|h| h.user == user_id(sources[k]));
            Ok((took, right))
        };
        for j in 0..PROBES.min(8) {
            search(j)?; // warm-up: page faults of the first scans are not latency
        }
        let mut idle = Searches {
            lat: Vec::new(),
            wrong: 0,
        };
        let t = Instant::now();
        while idle.lat.len() < IDLE_SEARCHES
            || (t.elapsed() < IDLE_TIME && idle.lat.len() < IDLE_MAX)
        {
            let (took, right) = search(idle.lat.len())?;
            idle.lat.push(ms(took));
            idle.wrong += usize::from(!right);
        }
        idle.lat.sort_by(f64::total_cmp);

        let done = AtomicBool::new(false);
        let applying = AtomicBool::new(true);
        let (full_ms, during, peak, peak_anon) = std::thread::scope(|s| -> Result<_, Fail> {
            let searcher = s.spawn(|| -> Result<Vec<(Instant, Duration, bool)>, Fail> {
                let mut all = Vec::new();
                let mut j = 0;
                while !done.load(Ordering::Relaxed) {
                    let start = Instant::now();
                    let (took, right) = search(j)?;
                    all.push((start, took, right));
                    j += 1;
                }
                Ok(all)
            });
            // Let the searcher get going so the apply's first moments are covered too.
            std::thread::sleep(Duration::from_millis(50));
            // Anonymous memory (what is not mapped files: the budget's side) has no kernel peak
            // figure: sampled every 2 ms while the apply runs.
            let anon_before = rss::status_mib("RssAnon");
            let sampler = s.spawn(|| {
                let mut max = 0f64;
                while applying.load(Ordering::Relaxed) {
                    max = max.max(rss::status_mib("RssAnon").unwrap_or(0.0));
                    std::thread::sleep(Duration::from_millis(2));
                }
                max
            });
            let rss_before = rss::reset_peak();
            let start = Instant::now();
            let r = apply_file(&store, &second, "the full synchronisation");
            let peak = rss::peak_mib().map(|p| p - rss_before.unwrap_or(0.0));
            applying.store(false, Ordering::Relaxed);
            let anon = sampler.join().expect("sampler");
            let peak_anon = anon_before.map(|b| (anon - b).max(0.0));
            let end = Instant::now();
            done.store(true, Ordering::Relaxed);
            let all = searcher.join().expect("search thread")?;
            let full_ms = r?;
            // Searches that ran entirely within the apply.
            let mut during = Searches {
                lat: Vec::new(),
                wrong: 0,
            };
            for (t0, took, right) in all {
                if t0 >= start && t0 + took <= end {
                    during.lat.push(ms(took));
                    during.wrong += usize::from(!right);
                }
            }
            during.lat.sort_by(f64::total_cmp);
            Ok((full_ms, during, peak, peak_anon))
        })?;
        let _ = std::fs::remove_file(&second);
        let users = store.sync_status().first().map_or(0, |l| l.users);
        if users != m {
            return Err(Fail::new(format!(
                "after the full synchronisation the location has {users} users, expected {m}"
            )));
        }
        let ratio = match (during.p(0.99), idle.p(0.99)) {
            (Some(d), Some(i)) if i > 0.0 => Some((d / i * 100.0).round() / 100.0),
            _ => None,
        };
        full = Full {
            full_sync_peak_rss_mb: peak.map(|p| p.round()),
            full_sync_peak_anon_mb: peak_anon.map(|p| p.round()),
            full_sync_fingerprints: Some(2 * fingered),
            full_sync_bytes: Some(second_bytes as usize),
            full_sync_ms: Some(round3(full_ms)),
            first_full_sync_ms: Some(round3(first_ms)),
            search_p50_idle_ms: idle.p(0.5),
            search_p99_idle_ms: idle.p(0.99),
            search_p50_during_ms: during.p(0.5),
            search_p99_during_ms: during.p(0.99),
            search_p99_ratio: ratio,
            search_max_idle_ms: idle.lat.last().copied().map(round3),
            search_max_during_ms: during.lat.last().copied().map(round3),
            searches_idle: Some(idle.lat.len()),
            searches_during: Some(during.lat.len()),
            search_wrong: Some(idle.wrong + during.wrong),
            ..full
        };
    }

    Ok(BenchSync {
        users: n,
        dim,
        threads,
        load_average: load,
        bytes,
        parse_ms: round3(parse_ms),
        parse_mb_s: parse_mb_s.round(),
        apply_ms: round3(apply_ms),
        fingers_per_user: a.fingers,
        apply_peak_rss_mb: apply_peak_mb.map(|m| m.round()),
        one_user_ms: round3(one_user_ms),
        full_users: m,
        full,
    })
}

/// `bench sync`.
#[derive(Serialize)]
pub struct BenchSync {
    /// Users of the "synchronize all changes" delta.
    users: usize,
    dim: usize,
    threads: usize,
    /// Load average when the bench started (Linux).
    load_average: Option<f64>,
    /// Bytes of the "synchronize all changes" delta.
    bytes: usize,
    parse_ms: f64,
    parse_mb_s: f64,
    apply_ms: f64,
    fingers_per_user: u64,
    apply_peak_rss_mb: Option<f64>,
    one_user_ms: f64,
    /// Users of the full synchronisation run while searching (0: skipped, the rest null).
    full_users: usize,
    #[serde(flatten)]
    full: Full,
}

/// The full synchronisation while another thread identifies (all null when skipped).
#[derive(Serialize, Default)]
pub struct Full {
    /// Faces per second of a faces-only full synchronisation of `full_users` users into an empty
    /// store, streamed (bulk path), durable when it returns.
    bulk_faces_per_s: Option<f64>,
    /// Sequential write throughput of the disk, durable (256 MiB then one fdatasync): the
    /// ceiling of a bulk load.
    fdatasync_mb_s: Option<f64>,
    /// `fdatasync_mb_s` in 512-d faces per second (segment bytes per face).
    fdatasync_faces_per_s: Option<f64>,
    /// Peak RSS growth (MiB) while applying the full synchronisation (streamed).
    full_sync_peak_rss_mb: Option<f64>,
    /// Peak growth of anonymous memory (MiB, sampled every 2 ms) while applying it: the memory
    /// above the mapped data, which `OpenOptions::memory_budget` bounds (the RSS figure also
    /// counts the pages of the new segments that searches read).
    full_sync_peak_anon_mb: Option<f64>,
    /// Fingerprints in that full synchronisation (two for each of the first tenth of the users).
    full_sync_fingerprints: Option<usize>,
    full_sync_bytes: Option<usize>,
    full_sync_ms: Option<f64>,
    first_full_sync_ms: Option<f64>,
    search_p50_idle_ms: Option<f64>,
    search_p99_idle_ms: Option<f64>,
    search_p50_during_ms: Option<f64>,
    search_p99_during_ms: Option<f64>,
    search_p99_ratio: Option<f64>,
    search_max_idle_ms: Option<f64>,
    search_max_during_ms: Option<f64>,
    searches_idle: Option<usize>,
    searches_during: Option<usize>,
    search_wrong: Option<usize>,
}

impl Report for BenchSync {
    fn text(&self, t: &mut Text) {
        let (n, m, f) = (self.users, self.full_users, &self.full);
        t.line(format_args!(
            "edgeid bench sync: {}-dim faces, {} core{}{}",
            self.dim,
            self.threads,
            if self.threads == 1 { "" } else { "s" },
            self.load_average
                .map_or(String::new(), |l| format!(", load average {l:.2} at start"))
        ));
        t.line(format_args!(
            "  all changes   {n} users{}, {:.1} MB of JSON: parse {:.1} ms ({:.0} MB/s), apply {:.1} ms (parse, validation, durable commit){}",
            if self.fingers_per_user > 0 {
                format!(" with {} fingerprints each", self.fingers_per_user)
            } else {
                String::new()
            },
            self.bytes as f64 / 1e6,
            self.parse_ms,
            self.parse_mb_s,
            self.apply_ms,
            self.apply_peak_rss_mb
                .map_or(String::new(), |m| format!("; peak memory +{m:.0} MB"))
        ));
        t.line(format_args!(
            "  one user      {:.2} ms (median of {ONE_USER_RUNS}, one fdatasync each)",
            self.one_user_ms
        ));
        let (Some(bytes), Some(full_ms), Some(first_ms)) =
            (f.full_sync_bytes, f.full_sync_ms, f.first_full_sync_ms)
        else {
            return;
        };
        let show0 = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.0}"));
        t.line(format_args!(
            "  bulk load     {} faces/s durable (streamed full of {m} users into an empty store); disk: {} MB/s with fdatasync = {} faces/s",
            show0(f.bulk_faces_per_s),
            show0(f.fdatasync_mb_s),
            show0(f.fdatasync_faces_per_s)
        ));
        t.line(format_args!(
            "  full sync     {m} users ({} fingerprints), {:.1} MB of JSON, streamed: {:.2} s (the first one, into an empty store: {:.2} s); peak RSS +{} MB, anonymous +{} MB",
            f.full_sync_fingerprints.unwrap_or(0),
            bytes as f64 / 1e6,
            full_ms / 1e3,
            first_ms / 1e3,
            show0(f.full_sync_peak_rss_mb),
            show0(f.full_sync_peak_anon_mb)
        ));
        let show = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.3}"));
        t.line(format_args!(
            "  search idle   {} ms p50   {} ms p99   {} ms max   ({} searches of {m} templates)",
            show(f.search_p50_idle_ms),
            show(f.search_p99_idle_ms),
            show(f.search_max_idle_ms),
            f.searches_idle.unwrap_or(0)
        ));
        t.line(format_args!(
            "  search during {} ms p50   {} ms p99   {} ms max   ({} searches; p99 ratio {})",
            show(f.search_p50_during_ms),
            show(f.search_p99_during_ms),
            show(f.search_max_during_ms),
            f.searches_during.unwrap_or(0),
            f.search_p99_ratio
                .map_or("-".to_string(), |r| format!("{r:.2}x"))
        ));
        if let Some(wrong) = f.search_wrong.filter(|&w| w > 0) {
            t.line(format_args!(
                "  WARNING: {wrong} searches did not find the probe's source user first"
            ));
        }
    }
}
