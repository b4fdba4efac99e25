//! `edgeid bench decide`: the door decision's numbers — a decision by card and by access code
//! (p50/p99, alone and with concurrent deciders), and with a face over a large gallery (the face
//! search alone vs. the whole decision, so the decision's own cost shows).
//!
//! The store: `--faces` users synchronised by deltas, each with one face; the first `--users` also
//! hold a card, a code and a right for the door under a schedule in Europe/Amsterdam that is open
//! all week, so every check runs. The door offers `card`,
//! `code` and `face`; it has no anti-passback or punch, so what each decision writes is its event
//! in the journal (durable before `decide` returns; concurrent decisions share a group commit).

use crate::bench::{check_dim, percentile, temp_dir};
use crate::out::{round3, CmdResult, Fail, Out, Report, Text};
use crate::synth;
use clap::Args;
use edgeid::access::{DecideOptions, Presented};
use edgeid::{FaceIdentify, OpenOptions, Store};
use serde::Serialize;
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

const LOCATION: &str = "bench";
const DOOR: &str = "front";
/// Users per delta while building the gallery.
const BATCH: usize = 5_000;

#[derive(Args)]
pub struct BenchDecideArgs {
    /// Users with a card, a code and a face.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    users: u64,
    /// Face templates in the gallery (at least --users).
    #[arg(long, default_value_t = 100_000)]
    faces: u64,
    /// Embedding dimension.
    #[arg(long, default_value_t = 512)]
    dim: usize,
    /// Decisions timed per credential kind (alone, then again spread over --threads).
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(100..))]
    decisions: u64,
    /// Deciding threads of the concurrent run.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    threads: u64,
    /// Face decisions timed (each also timed as a bare face search).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(10..))]
    face_decisions: u64,
    /// Seed of the synthetic data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Put the temporary store under this directory (default: the system temp dir).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Latencies of one kind of decision.
#[derive(Serialize)]
pub struct Latency {
    /// Alone, one after another.
    p50_us: f64,
    p99_us: f64,
    /// With `threads` deciders at once.
    concurrent_p50_us: f64,
    concurrent_p99_us: f64,
    /// Decisions per second of the concurrent run.
    concurrent_per_s: f64,
    /// Decisions that were granted (all should be).
    granted: u64,
}

/// A face decision vs. a bare face search.
#[derive(Serialize)]
pub struct FaceLatency {
    templates: u64,
    search_p50_us: f64,
    search_p99_us: f64,
    decide_p50_us: f64,
    decide_p99_us: f64,
    /// decide p50 − search p50: what the decision adds to the search.
    added_p50_us: f64,
    granted: u64,
}

#[derive(Serialize)]
pub struct BenchDecide {
    users: u64,
    dim: usize,
    threads: u64,
    journal: bool,
    card: Latency,
    code: Latency,
    face: FaceLatency,
}

impl Report for BenchDecide {
    fn text(&self, t: &mut Text) {
        t.line(format_args!(
            "decide at one door, {} users, {}-d faces, {} concurrent deciders",
            self.users, self.dim, self.threads
        ));
        for (name, l) in [("card", &self.card), ("code", &self.code)] {
            t.line(format_args!(
                "  {name:<5} alone {:>8.1} µs p50 {:>8.1} µs p99   concurrent {:>8.1} µs p50 {:>8.1} µs p99 {:>10.0}/s",
                l.p50_us, l.p99_us, l.concurrent_p50_us, l.concurrent_p99_us, l.concurrent_per_s
            ));
        }
        let f = &self.face;
        t.line(format_args!(
            "  face over {} templates: search {:.1} µs p50 ({:.1} p99), decision {:.1} µs p50 ({:.1} p99): +{:.1} µs",
            f.templates, f.search_p50_us, f.search_p99_us, f.decide_p50_us, f.decide_p99_us, f.added_p50_us
        ));
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn stats(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (round3(percentile(&v, 0.50)), round3(percentile(&v, 0.99)))
}

fn card(i: usize) -> String {
    format!("{:08X}", i + 1)
}

fn code(i: usize) -> String {
    format!("{:08}", i + 1)
}

/// Times `n` decisions made by `present(i)` alone, then spread over `threads` threads.
fn time_kind(
    store: &Store,
    at: SystemTime,
    n: usize,
    threads: usize,
    users: usize,
    present: impl Fn(usize) -> Presented + Sync,
) -> Result<Latency, Fail> {
    let mut lat = Vec::with_capacity(n);
    let mut granted = 0;
    for i in 0..n {
        let p = present((i * 7919) % users);
        let t = Instant::now();
        let d = store.decide(LOCATION, DOOR, Some(at), &p)?;
        lat.push(us(t.elapsed()));
        granted += u64::from(d.granted);
    }
    let (p50, p99) = stats(lat);
    let per = n / threads;
    let start = Instant::now();
    let results: Vec<Result<Vec<f64>, Fail>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                let present = &present;
                s.spawn(move || -> Result<Vec<f64>, Fail> {
                    let mut lat = Vec::with_capacity(per);
                    for i in 0..per {
                        let p = present((k * per + i) * 104_729 % users);
                        let t = Instant::now();
                        store.decide(LOCATION, DOOR, Some(at), &p)?;
                        lat.push(us(t.elapsed()));
                    }
                    Ok(lat)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Fail::new("a deciding thread panicked")))
            })
            .collect()
    });
    let wall = start.elapsed();
    let mut all = Vec::with_capacity(per * threads);
    for r in results {
        all.extend(r?);
    }
    let (cp50, cp99) = stats(all);
    Ok(Latency {
        p50_us: p50,
        p99_us: p99,
        concurrent_p50_us: cp50,
        concurrent_p99_us: cp99,
        concurrent_per_s: ((per * threads) as f64 / wall.as_secs_f64()).round(),
        granted,
    })
}

pub fn run(a: &BenchDecideArgs, out: Out) -> CmdResult<BenchDecide> {
    check_dim(a.dim)?;
    if a.faces < a.users {
        return Err(Fail::new(
            "--faces must be at least --users (each user has a face)",
        ));
    }
    let (users, faces, dim) = (a.users as usize, a.faces as usize, a.dim);
    let tmp = temp_dir(a.dir.as_deref())?;
    let store = Store::create(&tmp.path().join("store"), "bench", dim, OpenOptions::new())?;
    let mut changes = vec![
        json!({"op": "upsert_schedule", "schedule": {"id": "always", "timezone": "Europe/Amsterdam",
            "weekly": {"mon": [["00:00", "24:00"]], "tue": [["00:00", "24:00"]], "wed": [["00:00", "24:00"]],
              "thu": [["00:00", "24:00"]], "fri": [["00:00", "24:00"]], "sat": [["00:00", "24:00"]],
              "sun": [["00:00", "24:00"]]}, "holidays": ["2026-12-25"]}}),
        json!({"op": "upsert_door", "door": {"id": DOOR, "modes": ["card", "code", "face"]}}),
    ];
    // Every face is a synchronised user's (a platform-managed location takes templates only
    // from deltas); the first `users` also hold a card, a code and a right.
    let user = |i: usize| {
        let emb = synth::gaussian_vec(a.seed, synth::GALLERY + i as u64, dim);
        let bytes: Vec<u8> = emb.iter().flat_map(|f| f.to_le_bytes()).collect();
        let mut u = json!({"id": synth::user_id(i),
            "faces": [{"id": "f", "model": "bench", "embedding": crate::deltas::b64(&bytes)}]});
        if i < users {
            u["cards"] = json!([{"format": "csn", "number": card(i)}]);
            u["codes"] = json!([code(i)]);
            u["rights"] = json!([{"doors": [DOOR], "schedule": "always"}]);
        }
        json!({"op": "upsert_user", "user": u})
    };
    let pb = out.progress(faces as u64, "gallery");
    let mut start = 0;
    let mut seq = 1;
    while start < faces || seq == 1 {
        let count = BATCH.min(faces - start);
        changes.extend((start..start + count).map(user));
        let mut delta = json!({"format": "edgeid.delta/1", "location": LOCATION, "sequence": seq,
            "kind": if seq == 1 { "full" } else { "changes" }, "changes": changes});
        if seq == 1 {
            delta["code_key"] = json!("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
        }
        store.apply_delta(&serde_json::to_vec(&delta).expect("json"), &mut |_| {})?;
        changes = Vec::new();
        start += count;
        seq += 1;
        pb.inc(count as u64);
    }
    pb.finish_and_clear();
    store.checkpoint()?;
    // A Tuesday in office hours; every decision passes every check.
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_108_400);
    let threads = a.threads as usize;
    let n = a.decisions as usize;
    // Warm-up (caches, the time-zone database).
    for i in 0..1000.min(n) {
        store.decide(
            LOCATION,
            DOOR,
            Some(at),
            &Presented::new().card(&format!("csn:{}", card(i % users))),
        )?;
    }
    let card_l = time_kind(&store, at, n, threads, users, |i| {
        Presented::new().card(&format!("csn:{}", card(i)))
    })?;
    let code_l = time_kind(&store, at, n, threads, users, |i| {
        Presented::new().code(&code(i))
    })?;
    // Faces: a probe near user j's face, searched alone and decided.
    let sigma = 0.5 / (dim as f64).sqrt();
    let probes: Vec<Vec<f32>> = (0..a.face_decisions as usize)
        .map(|j| {
            let u = (j * 7919) % users;
            let base = synth::gaussian_vec(a.seed, synth::GALLERY + u as u64, dim);
            synth::noisy(&base, a.seed, synth::PROBE + j as u64, sigma)
        })
        .collect();
    let opts = DecideOptions {
        face_threshold: 0.5,
        ..Default::default()
    };
    let (mut search, mut decide, mut granted) = (Vec::new(), Vec::new(), 0);
    for p in &probes {
        let req = FaceIdentify::new(p).k(1).location(LOCATION);
        let t = Instant::now();
        store.identify_face(&req)?;
        search.push(us(t.elapsed()));
        let presented = Presented::new().options(opts).face(p.clone());
        let t = Instant::now();
        let d = store.decide(LOCATION, DOOR, Some(at), &presented)?;
        decide.push(us(t.elapsed()));
        granted += u64::from(d.granted);
    }
    let (s50, s99) = stats(search);
    let (d50, d99) = stats(decide);
    Ok(BenchDecide {
        users: a.users,
        dim,
        threads: a.threads,
        journal: true,
        card: card_l,
        code: code_l,
        face: FaceLatency {
            templates: a.faces,
            search_p50_us: s50,
            search_p99_us: s99,
            decide_p50_us: d50,
            decide_p99_us: d99,
            added_p50_us: round3(d50 - s50),
            granted,
        },
    })
}
