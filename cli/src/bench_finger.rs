//! `edgeid bench finger`: 1:N fingerprint search latency and throughput of the store's finger index
//! on a gallery made from the real test templates, and the one-to-one comparison rate of one core.
//!
//! The gallery is enrolled into a fresh store in a temporary directory (one commit per 4,096
//! templates, checkpointed into memory-mapped finger segments), the store is closed and reopened
//! (the open time is reported), and the probes are searched there — the path a terminal uses.
//!
//! The real templates (by default `testdata/fingerprint/fvc2002`: 4 DBs × 2 extractors × 80) are
//! split per finger: one impression of every finger (chosen with the seed; the same impression in
//! every extractor's set) is held out as a probe, the others are the sources of the gallery. The
//! gallery is `--gallery` synthetic templates, each a seeded random rigid transform, elastic
//! distortion, minutiae dropout and spurious minutiae of a source (the library's
//! `finger::synth`), one template per user. A probe's mates are the gallery templates made from
//! the same finger (same top-level directory, e.g. `DB1_B`, and the same `FINGER_` stem prefix);
//! `rank1` is the fraction of probes whose top hit is a mate. Probes beyond the held-out
//! impressions are synthetic variants of them.

use crate::bench::{percentile, temp_dir};
use crate::out::{human_bytes, ms, round3, CmdResult, Fail, Out, Report, Text};
use crate::synth::{user_id, user_index};
use clap::Args;
use edgeid::finger::eval::{finger_of, load_dir};
use edgeid::finger::synth::{synthesize, synthetic_records, Rng, SynthParams};
use edgeid::finger::{compare, FingerTemplate, SearchParams};
use edgeid::{Change, FingerIdentify, OpenOptions, Store};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The test data, relative to the current directory or to the repository of the executable.
const DATA: &str = "testdata/fingerprint/fvc2002";
/// Gallery templates made per call of the library's generator (the progress bar's step).
const CHUNK: usize = 4096;
/// Searches run before timing.
const WARMUP: usize = 3;
/// How long the one-to-one rate is measured.
const ONE_TO_ONE_TIME: Duration = Duration::from_secs(1);
/// Deepest directory level searched for template files under `--data`.
const MAX_DEPTH: usize = 3;
/// Random streams of the seed: held-out choice, gallery chunks, synthetic probes.
const HOLDOUT: u64 = 0x484f_4c44;
const PROBES: u64 = 0x5052_4f42;

#[derive(Args)]
pub struct BenchFingerArgs {
    /// Synthetic gallery size (templates, one per user).
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    gallery: u64,
    /// Probes searched: the held-out real impressions, then synthetic variants of them.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..))]
    queries: u64,
    /// Seed of the held-out choice, the synthetic gallery and the synthetic probes.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Real templates: a directory of minutiae records, or of directories of them (up to 3
    /// levels; default: the repository's testdata/fingerprint/fvc2002).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
}

/// Finds the default test data: under the current directory, the source tree this binary was
/// built from, or a directory above the executable.
fn default_data() -> Result<PathBuf, Fail> {
    let mut tried = vec![PathBuf::from(DATA)];
    tried.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(DATA));
    if let Ok(exe) = std::env::current_exe() {
        tried.extend(exe.ancestors().skip(1).map(|d| d.join(DATA)));
    }
    tried.iter().find(|p| p.is_dir()).cloned().ok_or_else(|| {
        Fail::new(format!(
            "no fingerprint test data found (looked for {DATA} in the current directory, the source tree and above the executable); pass --data DIR"
        ))
    })
}

/// Directories under `dir` (itself included) holding at least one regular file other than a
/// score table or note (`.tsv`, `.md`, `.txt`), sorted.
fn template_dirs(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), Fail> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| Fail::new(format!("read directory {}: {e}", dir.display())))?;
    let mut has_files = false;
    let mut subdirs = Vec::new();
    for e in rd {
        let p = e
            .map_err(|e| Fail::new(format!("read directory {}: {e}", dir.display())))?
            .path();
        // Score tables and notes beside the records (bozorth3_scores.tsv, README.md) are not records.
        let note = matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("tsv" | "md" | "txt")
        );
        if p.is_file() && !note {
            has_files = true;
        } else if p.is_dir() && depth < MAX_DEPTH {
            subdirs.push(p);
        }
    }
    if has_files {
        out.push(dir.to_path_buf());
    }
    subdirs.sort();
    for d in subdirs {
        template_dirs(&d, depth + 1, out)?;
    }
    Ok(())
}

/// A real template and the finger it is of.
struct Real {
    finger: usize,
    /// (top-level directory, file stem): one impression, whatever the extractor.
    impression: (String, String),
    template: FingerTemplate,
}

/// Loads every template under `root`; fingers are (top-level directory, `FINGER_` stem prefix).
fn load_real(root: &Path) -> Result<(Vec<Real>, Vec<String>), Fail> {
    if !root.is_dir() {
        return Err(Fail::new(format!("{} is not a directory", root.display())));
    }
    let mut dirs = Vec::new();
    template_dirs(root, 0, &mut dirs)?;
    let mut fingers: BTreeMap<String, usize> = BTreeMap::new();
    let mut names = Vec::new();
    let mut real = Vec::new();
    for d in dirs {
        let top = d
            .strip_prefix(root)
            .ok()
            .and_then(|r| r.components().next())
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        for n in load_dir(&d)? {
            let key = if top.is_empty() {
                finger_of(&n.name).to_string()
            } else {
                format!("{top}/{}", finger_of(&n.name))
            };
            let next = fingers.len();
            let finger = *fingers.entry(key.clone()).or_insert_with(|| {
                names.push(key);
                next
            });
            real.push(Real {
                finger,
                impression: (top.clone(), n.name),
                template: n.template,
            });
        }
    }
    if real.is_empty() {
        return Err(Fail::new(format!(
            "no template files under {}",
            root.display()
        )));
    }
    Ok((real, names))
}

pub fn run(a: &BenchFingerArgs, out: Out) -> CmdResult<BenchFinger> {
    let data = match &a.data {
        Some(d) => d.clone(),
        None => default_data()?,
    };
    let n = a.gallery as usize;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (real, finger_names) = load_real(&data)?;

    // Hold out one impression of every finger that has at least two.
    let mut impressions: BTreeMap<usize, BTreeSet<&(String, String)>> = BTreeMap::new();
    for r in &real {
        impressions
            .entry(r.finger)
            .or_default()
            .insert(&r.impression);
    }
    let mut rng = Rng::new(a.seed ^ HOLDOUT);
    let held: HashSet<&(String, String)> = impressions
        .values()
        .filter(|s| s.len() >= 2)
        .map(|s| *s.iter().nth(rng.below(s.len())).expect("index below len"))
        .collect();
    let (probes_real, sources): (Vec<&Real>, Vec<&Real>) =
        real.iter().partition(|r| held.contains(&r.impression));
    if sources.is_empty() || probes_real.is_empty() {
        return Err(Fail::new(format!(
            "{}: no finger has two impressions (names FINGER_IMPRESSION), so no probe can have a mate",
            data.display()
        )));
    }
    let source_templates: Vec<FingerTemplate> =
        sources.iter().map(|r| r.template.clone()).collect();
    let s = sources.len();

    // The gallery, built in chunks so the progress bar moves; template i is made from source
    // i % s, with a variation of the chunk's seed.
    let params = SynthParams::default();
    let pb = out.progress(n as u64, "gallery");
    let tmp = temp_dir(None)?;
    let dir = tmp.path().join("store");
    let store = Store::create(&dir, "none", 8, OpenOptions::new())?;
    let t = Instant::now();
    let mut commit_s = 0.0;
    let mut start = 0;
    while start < n {
        let m = CHUNK.min(n - start);
        let off = start % s;
        let rotated: Vec<FingerTemplate> = source_templates[off..]
            .iter()
            .chain(&source_templates[..off])
            .cloned()
            .collect();
        let chunk_seed = Rng::new(a.seed ^ (start as u64)).next_u64();
        let changes: Vec<Change> = synthetic_records(&rotated, m, chunk_seed, &params)
            .into_iter()
            .enumerate()
            .map(|(k, record)| Change::PutFinger {
                location: "bench".into(),
                user: user_id(start + k),
                template: "t0".into(),
                record,
                format: None,
                position: None,
            })
            .collect();
        let tc = Instant::now();
        store.commit(&changes)?;
        commit_s += tc.elapsed().as_secs_f64();
        start += m;
        pb.inc(m as u64);
    }
    let tc = Instant::now();
    store.checkpoint()?;
    commit_s += tc.elapsed().as_secs_f64();
    pb.finish_and_clear();
    let build_s = t.elapsed().as_secs_f64();
    let stats = store.stats();
    drop(store);
    let t = Instant::now();
    let store = Store::open(&dir, OpenOptions::new())?;
    let open_ms = ms(t.elapsed());
    let gallery_finger = |i: usize| sources[i % s].finger;
    let mated: HashSet<usize> = (0..n.min(s)).map(gallery_finger).collect();

    // Probes: real held-out impressions (spread evenly when fewer are asked for), then seeded
    // synthetic variants of them.
    let q = a.queries as usize;
    let pr = probes_real.len();
    let mut probes: Vec<(usize, FingerTemplate)> = if q <= pr {
        (0..q)
            .map(|i| {
                let r = probes_real[i * pr / q];
                (r.finger, r.template.clone())
            })
            .collect()
    } else {
        probes_real
            .iter()
            .map(|r| (r.finger, r.template.clone()))
            .collect()
    };
    let real_probes = probes.len();
    for j in 0..q - real_probes {
        let base = probes_real[j % pr];
        let mut rng = Rng::new(Rng::new(a.seed ^ PROBES).next_u64() ^ j as u64);
        let pts = synthesize(base.template.as_ref().points(), &mut rng, &params);
        probes.push((base.finger, FingerTemplate::from_points(&pts)));
    }

    // 1:N latency, one probe at a time (the search uses every core), k = 1.
    for (_, p) in probes.iter().cycle().take(WARMUP) {
        black_box(store.identify_finger(&FingerIdentify::new(p.as_ref()))?);
    }
    let mut lat = Vec::with_capacity(q);
    let mut with_mate = 0;
    let mut top1_mate = 0;
    for (finger, p) in &probes {
        let t = Instant::now();
        let hits = store.identify_finger(&FingerIdentify::new(p.as_ref()))?;
        lat.push(ms(t.elapsed()));
        if mated.contains(finger) {
            with_mate += 1;
            let top = hits.first().and_then(|h| user_index(&h.user));
            if top.is_some_and(|i| gallery_finger(i) == *finger) {
                top1_mate += 1;
            }
        }
    }
    let mean_ms = lat.iter().sum::<f64>() / q as f64;
    lat.sort_by(f64::total_cmp);
    let (p50_ms, p99_ms) = (percentile(&lat, 0.50), percentile(&lat, 0.99));
    let comparisons_per_s = n as f64 / (p50_ms / 1e3);
    let rank1 = (with_mate > 0).then(|| top1_mate as f64 / with_mate as f64);

    // 1:1 on this thread: real templates, mated and non-mated pairs alike.
    let all: Vec<&FingerTemplate> = real.iter().map(|r| &r.template).collect();
    let m = all.len();
    let mut done = 0u64;
    let mut k = 0usize;
    let t = Instant::now();
    while done < 1000 || t.elapsed() < ONE_TO_ONE_TIME {
        for _ in 0..100 {
            let i = k % m;
            let j = (k.wrapping_mul(7919) + 1 + k / m) % m;
            k += 1;
            black_box(compare(&all[i].as_ref(), &all[j].as_ref()));
            done += 1;
        }
    }
    let one_to_one_per_s = done as f64 / t.elapsed().as_secs_f64();
    let candidates = SearchParams::default().candidates(n);
    let insert_per_s = n as f64 / commit_s;

    Ok(BenchFinger {
        data,
        gallery: n,
        sources: s,
        fingers: finger_names.len(),
        queries: q,
        real_probes,
        synthetic_probes: q - real_probes,
        seed: a.seed,
        threads,
        candidates,
        build_s: round3(build_s),
        insert_per_s: insert_per_s.round(),
        segment_bytes: stats.fingers.segment_bytes,
        finger_segments: stats.fingers.segments,
        open_ms: round3(open_ms),
        p50_ms: round3(p50_ms),
        p99_ms: round3(p99_ms),
        mean_ms: round3(mean_ms),
        comparisons_per_s: comparisons_per_s.round(),
        one_to_one_per_s: one_to_one_per_s.round(),
        rank1,
        rank1_probes: with_mate,
        rank1_hits: top1_mate,
    })
}

/// `bench finger`.
#[derive(Serialize)]
pub struct BenchFinger {
    /// The real templates.
    data: PathBuf,
    gallery: usize,
    /// Real templates the gallery is made from.
    sources: usize,
    /// Distinct fingers among them.
    fingers: usize,
    queries: usize,
    real_probes: usize,
    synthetic_probes: usize,
    seed: u64,
    threads: usize,
    /// Candidates fully matched per search.
    candidates: usize,
    build_s: f64,
    insert_per_s: f64,
    segment_bytes: u64,
    finger_segments: usize,
    open_ms: f64,
    p50_ms: f64,
    p99_ms: f64,
    mean_ms: f64,
    comparisons_per_s: f64,
    one_to_one_per_s: f64,
    /// Fraction of the probes with a mate in the gallery whose top hit is one (none without any).
    rank1: Option<f64>,
    rank1_probes: usize,
    /// Probes whose top hit is a mate.
    rank1_hits: usize,
}

impl Report for BenchFinger {
    fn text(&self, t: &mut Text) {
        let q = self.queries;
        t.line(format_args!(
            "edgeid bench finger: {} synthetic templates from {} real ones ({} fingers) in {}, {q} probes ({} held-out real, {} synthetic), {} thread{}",
            self.gallery,
            self.sources,
            self.fingers,
            self.data.display(),
            self.real_probes,
            self.synthetic_probes,
            self.threads,
            if self.threads == 1 { "" } else { "s" }
        ));
        t.line(format_args!(
            "  build         {:>12.1} s  (synthesis and preparation on all cores, enrolment)",
            self.build_s
        ));
        t.line(format_args!(
            "  enrol         {:>12.0} templates/s  (logged commits of 4,096 + checkpoints; {} in {} finger segments)",
            self.insert_per_s,
            human_bytes(self.segment_bytes),
            self.finger_segments
        ));
        t.line(format_args!("  open          {:>12.1} ms", self.open_ms));
        t.line(format_args!(
            "  identify      {:>12.3} ms p50   {:.3} ms p99   {:.3} ms mean  (k=1, {} candidates fully matched, 4× when none is confident)",
            self.p50_ms, self.p99_ms, self.mean_ms, self.candidates
        ));
        t.line(format_args!(
            "  1:N           {:>12.0} effective comparisons/s  (gallery / p50)",
            self.comparisons_per_s
        ));
        t.line(format_args!(
            "  1:1           {:>12.0} comparisons/s on one core",
            self.one_to_one_per_s
        ));
        match self.rank1 {
            Some(r) => t.line(format_args!(
                "  rank-1        {:>11.1}%  ({} of {} probes found a mate first)",
                r * 100.0,
                self.rank1_hits,
                self.rank1_probes
            )),
            None => {
                t.line("  rank-1                 n/a  (no probe has a mate in so small a gallery)")
            }
        }
    }
}
