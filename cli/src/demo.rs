//! `edgeid demo`: the engine's main job end to end on synthetic faces — enrol, restart, identify
//! known users and strangers, remove a user — with no model or setup. It checks its own answers
//! and exits 1 if any is wrong, so it doubles as a smoke test on a new device.

use crate::out::{ms, round3, CmdResult, Fail, Out};
use crate::synth::{self, Rng};
use clap::Args;
use edgeid::{Change, Hit, Identify, OpenOptions, Store};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Instant;

/// Users per commit while enrolling.
const BATCH: usize = 1_000;
/// Cosine similarity at which the demo accepts a match.
const THRESHOLD: f64 = 0.5;
/// Known users probed.
const PROBES: usize = 10;
/// Probes of people who were never enrolled.
const STRANGERS: usize = 2;
const LOCATION: &str = "local";

#[derive(Args)]
pub struct DemoArgs {
    /// Synthetic users to enrol (1 or 2 templates each).
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    users: u64,
    /// Embedding dimension.
    #[arg(long, default_value_t = 512)]
    dim: usize,
    /// Keep the store in this new directory (default: a temporary one, removed at exit).
    #[arg(long, value_name = "DIR")]
    store: Option<PathBuf>,
    /// Seed of the synthetic faces.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

fn user_id(i: usize) -> String {
    format!("u-{i:05}")
}

/// One identification and whether the demo got the answer it expected.
struct Probe {
    expected: Option<String>,
    label: String,
    hit: Option<Hit>,
    ms: f64,
}

impl Probe {
    fn ok(&self) -> bool {
        self.hit.as_ref().map(|h| &h.user) == self.expected.as_ref()
    }
    fn line(&self) -> String {
        let found = match &self.hit {
            Some(h) => format!("{:<10} score {:.3}", h.user, h.score),
            None => format!("{:<10} (no score >= {THRESHOLD})", "nobody"),
        };
        format!(
            "  {:<20} -> {found:<28} {:>7.2} ms  {}",
            self.label,
            self.ms,
            if self.ok() { "ok" } else { "WRONG" }
        )
    }
    fn json(&self) -> Value {
        json!({
            "probe": self.label, "expected": self.expected,
            "found": self.hit.as_ref().map(|h| &h.user),
            "score": self.hit.as_ref().map(|h| h.score),
            "ms": round3(self.ms), "ok": self.ok(),
        })
    }
}

fn probe(store: &Store, label: String, expected: Option<String>, v: &[f32]) -> Result<Probe, Fail> {
    let t = Instant::now();
    let hits = store.identify(&Identify::new(v).threshold(THRESHOLD))?;
    let ms = ms(t.elapsed());
    Ok(Probe {
        expected,
        label,
        hit: hits.into_iter().next(),
        ms,
    })
}

pub fn run(a: &DemoArgs, out: Out) -> CmdResult {
    let (n, dim, seed) = (a.users as usize, a.dim, a.seed);
    let model = format!("synthetic-{dim}");
    let tmp;
    let dir = match &a.store {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::Builder::new()
                .prefix("edgeid-demo-")
                .tempdir()
                .map_err(|e| Fail::new(format!("create temporary directory: {e}")))?;
            tmp.path().join("store")
        }
    };
    out.line(format_args!(
        "edgeid demo: {n} synthetic users, {dim}-dim embeddings (model {model})"
    ));
    out.line(format_args!(
        "store: {}{}",
        dir.display(),
        if a.store.is_none() {
            " (temporary, removed at exit)"
        } else {
            ""
        }
    ));

    // Enrol: each user is a random direction; their templates are noisy captures of it.
    let base = |i: usize| synth::gaussian_vec(seed, synth::GALLERY + i as u64, dim);
    let capture_noise = 0.3 / (dim as f64).sqrt();
    let probe_noise = 0.5 / (dim as f64).sqrt();
    let store = Store::create(&dir, &model, dim, OpenOptions::new())?;
    let pb = out.progress(n as u64, "enrolling");
    let t = Instant::now();
    let (mut templates, mut commits) = (0usize, 0usize);
    for start in (0..n).step_by(BATCH) {
        let end = (start + BATCH).min(n);
        let mut changes = Vec::new();
        for i in start..end {
            let b = base(i);
            let count = 1 + Rng::new(seed, synth::CHOICE + 1 + i as u64).below(2);
            for j in 0..count {
                changes.push(Change::PutFace {
                    location: LOCATION.into(),
                    user: user_id(i),
                    template: format!("t{j}"),
                    embedding: synth::noisy(
                        &b,
                        seed,
                        synth::EXTRA + 2 * i as u64 + j,
                        capture_noise,
                    ),
                });
            }
        }
        templates += changes.len();
        store.commit(&changes)?;
        commits += 1;
        pb.inc((end - start) as u64);
    }
    pb.finish_and_clear();
    let enrol_s = t.elapsed().as_secs_f64();
    out.line(format_args!(
        "enrolled {n} users, {templates} templates in {enrol_s:.2} s ({:.0} templates/s, {commits} commits)",
        templates as f64 / enrol_s
    ));

    // Restart, as a terminal does after a power cut: checkpointed segments are mapped, not read.
    store.checkpoint()?;
    drop(store);
    let t = Instant::now();
    let store = Store::open(&dir, OpenOptions::new())?;
    let open_ms = ms(t.elapsed());
    out.line(format_args!(
        "reopened the store in {open_ms:.2} ms ({} live templates, kernel {})",
        store.snapshot().live(),
        store.kernels().name
    ));

    // Identify known users (fresh noisy captures) and strangers.
    let mut pick = Rng::new(seed, synth::CHOICE);
    let mut chosen: Vec<usize> = Vec::new();
    while chosen.len() < PROBES.min(n) {
        let u = pick.below(n as u64) as usize;
        if !chosen.contains(&u) {
            chosen.push(u);
        }
    }
    let probe_of = |i: usize| synth::noisy(&base(i), seed, synth::PROBE + i as u64, probe_noise);
    out.line(format_args!("identify (k=1, threshold {THRESHOLD}):"));
    let mut probes = Vec::new();
    for &i in &chosen {
        let p = probe(
            &store,
            format!("probe of {}", user_id(i)),
            Some(user_id(i)),
            &probe_of(i),
        )?;
        out.line(p.line());
        probes.push(p);
    }
    for s in 0..STRANGERS {
        let v = synth::gaussian_vec(seed, synth::STRANGER + s as u64, dim);
        let p = probe(&store, format!("stranger {}", s + 1), None, &v)?;
        out.line(p.line());
        probes.push(p);
    }

    // Remove one user: erased from disk at once, and no longer identified.
    let gone = chosen[0];
    let before = store.snapshot().live();
    store.commit(&[Change::RemoveUser {
        location: LOCATION.into(),
        user: user_id(gone),
    }])?;
    store.erase_deleted()?;
    let removed = before - store.snapshot().live();
    out.line(format_args!(
        "removed {} ({removed} template{}, erased from disk at once); probing again:",
        user_id(gone),
        if removed == 1 { "" } else { "s" }
    ));
    let after = probe(
        &store,
        format!("probe of {}", user_id(gone)),
        None,
        &probe_of(gone),
    )?;
    out.line(after.line());

    let st = store.stats();
    out.line(format_args!(
        "stats: {} live templates, {} dead, {} segment(s), kernel {}",
        st.live, st.dead, st.segments, st.kernel
    ));

    let known_ok = probes
        .iter()
        .filter(|p| p.expected.is_some() && p.ok())
        .count();
    let strangers_ok = probes
        .iter()
        .filter(|p| p.expected.is_none() && p.ok())
        .count();
    let mut lat: Vec<f64> = probes.iter().chain([&after]).map(|p| p.ms).collect();
    lat.sort_by(f64::total_cmp);
    let median = lat[lat.len() / 2];
    let ok = known_ok == chosen.len() && strangers_ok == STRANGERS && after.ok();
    out.line(format_args!(
        "{known_ok}/{} enrolled users identified, {strangers_ok}/{STRANGERS} strangers rejected, removed user {}, median {median:.2} ms",
        chosen.len(),
        if after.ok() { "no longer identified" } else { "STILL IDENTIFIED" }
    ));

    let report = json!({
        "ok": ok,
        "users": n,
        "templates": templates,
        "dim": dim,
        "model": model,
        "enrol_s": round3(enrol_s),
        "open_ms": round3(open_ms),
        "threshold": THRESHOLD,
        "probes": probes.iter().map(Probe::json).collect::<Vec<_>>(),
        "removed": user_id(gone),
        "after_removal": after.json(),
        "identified": known_ok,
        "strangers_rejected": strangers_ok,
        "median_ms": round3(median),
        "live": st.live,
        "kernel": st.kernel,
    });
    if !ok {
        return Err(Fail {
            message: "demo: some identifications were wrong".into(),
            json: Some(report),
        });
    }
    Ok(report)
}
