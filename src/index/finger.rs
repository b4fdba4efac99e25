//! Fingerprint 1:N identification and 1:1 verification over the store's finger index.
//!
//! A search weighs the probe's prefilter keys by their rarity in the live gallery (the snapshot keeps
//! the key frequencies up to date on every insert and delete), scores every live template's
//! fixed-length summary with one popcount pass (`finger::prefilter`), fully matches the best
//! `SearchParams::candidates(n)` templates with the MCC matcher, fuses per user (a user's score is
//! their best template's) and returns the top k users at or above the threshold. Ties are broken by
//! (location, user, template), so answers do not depend on segment layout or thread count.
//! Galleries up to `min_candidates` templates (256 by default) are matched exhaustively.
//!
//! **Widening.** When no candidate reaches a confident score (the FMR 1e-6 threshold of
//! `finger::calibration`), the search goes on with the next `(widen − 1) × candidates` templates in
//! prefilter order (`widen` = 4 by default). Weak genuine matches — small partial prints whose few
//! minutiae share few prefilter keys with their mates — are the ones the prefilter ranks low; on the
//! test data (real mates among 1,200 distractors, `tests/finger_store.rs`) widening brings the
//! probes whose rank-1 changes from 5 of 320 to 1 — and for that one the exhaustive rank-1 is a
//! false match (a distractor at FMR about 1e-3) while the prefiltered search ranks the true mate
//! first. A probe with no mate in the gallery always widens,
//! so it costs up to `widen` × the matching work of a mated probe.
//!
//! Records are read straight from the mapped segments; a record whose header does not check out is
//! reported as corruption of its file, never read past. The matcher's score lies in [0, 1] by
//! construction; one that does not (or is not finite) can only come from damaged data and is
//! reported the same way (`checked`), never returned.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::finger::mcc::compare_with;
use crate::finger::prefilter::{self, PF_WORDS};
use crate::finger::search::{check_probe, SearchParams};
use crate::finger::{calibration, TemplateRef};
use crate::kernels::Kernels;
use crate::store::{FingerSegment, Snapshot, Store};

/// Galleries at least this large are scanned and matched on the search threads.
const PARALLEL_MIN: usize = 4096;

/// One identified (or verified) user.
#[derive(Debug, Clone, PartialEq)]
pub struct FingerHit {
    /// Location the user belongs to.
    pub location: String,
    /// User id.
    pub user: String,
    /// The user's best-scoring template.
    pub template: String,
    /// Finger position of that template.
    pub position: u8,
    /// Matcher score in [0, 1]; compare with `finger::calibration::threshold_for_fmr`.
    pub score: f32,
}

/// A fingerprint 1:N request.
#[derive(Debug, Clone, Copy)]
pub struct FingerIdentify<'a> {
    probe: TemplateRef<'a>,
    k: usize,
    threshold: f32,
    location: Option<&'a str>,
    params: SearchParams,
    widen: usize,
    exhaustive: bool,
}

impl<'a> FingerIdentify<'a> {
    /// Best user only, any score.
    pub fn new(probe: TemplateRef<'a>) -> Self {
        FingerIdentify {
            probe,
            k: 1,
            threshold: 0.0,
            location: None,
            params: SearchParams::default(),
            widen: 4,
            exhaustive: false,
        }
    }
    /// Up to `k` users.
    pub fn k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }
    /// Only users scoring at least `t`.
    pub fn threshold(mut self, t: f32) -> Self {
        self.threshold = t;
        self
    }
    /// Only users of this location.
    pub fn location(mut self, l: &'a str) -> Self {
        self.location = Some(l);
        self
    }
    /// Prefilter budget (default [`SearchParams::default`]).
    pub fn params(mut self, p: SearchParams) -> Self {
        self.params = p;
        self
    }
    /// Candidate budget multiplier used when no candidate scores confidently (default 4; 1: never
    /// widen).
    pub fn widen(mut self, w: usize) -> Self {
        self.widen = w.max(1);
        self
    }
    /// Matches every template (no prefilter): the reference the prefiltered search is tested against.
    pub fn exhaustive(mut self) -> Self {
        self.exhaustive = true;
        self
    }
}

/// A live row: finger segment index and row.
type At = (u32, u32);

fn check(req: &FingerIdentify<'_>) -> Result<()> {
    super::check_request(req.k, f64::from(req.threshold), req.location)?;
    check_probe(&req.probe)
}

/// 1:N identification over a snapshot (see the module docs).
pub fn identify(
    snap: &Snapshot,
    kernels: Kernels,
    pool: Option<&rayon::ThreadPool>,
    req: &FingerIdentify<'_>,
) -> Result<Vec<FingerHit>> {
    check(req)?;
    let live: Vec<At> = snap
        .fingers
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            (0..s.seg.rows())
                .filter(|&r| s.live.get(r))
                .filter(|&r| req.location.is_none_or(|l| s.seg.row_ids(r).0 == l))
                .map(move |r| (i as u32, r as u32))
        })
        .collect();
    let n = live.len();
    let c = req.params.candidates(n);
    // Parallel loops only inside the store's pool (none when `threads = 1`: see `store::workers`).
    let parallel = n >= PARALLEL_MIN && pool.is_some();
    let run = |f: &(dyn Fn() -> Result<Vec<(At, f32)>> + Sync)| match pool {
        Some(p) if parallel => p.install(f),
        _ => f(),
    };
    let scored = run(&|| {
        if req.exhaustive || c >= n {
            return score(snap, kernels, &req.probe, &live, parallel);
        }
        let top = (c * req.widen).min(n);
        let ranked = prefilter_top(snap, kernels, &req.probe, &live, top, parallel);
        let mut scored = score(snap, kernels, &req.probe, &ranked[..c], parallel)?;
        let confident = calibration::threshold_for_fmr(1e-6);
        if ranked.len() > c && scored.iter().all(|&(_, s)| s < confident) {
            scored.extend(score(snap, kernels, &req.probe, &ranked[c..], parallel)?);
        }
        Ok(scored)
    })?;
    Ok(finish(snap, scored, req.k, req.threshold))
}

/// The `c` live rows with the best weighted prefilter scores, best first (ties by position in
/// `live`).
fn prefilter_top(
    snap: &Snapshot,
    kernels: Kernels,
    probe: &TemplateRef<'_>,
    live: &[At],
    c: usize,
    parallel: bool,
) -> Vec<At> {
    let wts = prefilter::Weights::new(probe.summary(), &snap.finger_freq);
    let kernel = kernels.finger.weighted();
    let key = |(i, &(s, r)): (usize, &At)| {
        let summary = snap.fingers[s as usize].seg.summary(r as usize);
        debug_assert_eq!(summary.len(), PF_WORDS);
        (u64::from(u32::MAX - kernel(summary, &wts)) << 32) | i as u64
    };
    let mut keyed: Vec<u64> = if parallel {
        live.par_iter()
            .enumerate()
            .with_min_len(1024)
            .map(key)
            .collect()
    } else {
        live.iter().enumerate().map(key).collect()
    };
    if c < keyed.len() {
        keyed.select_nth_unstable(c - 1);
        keyed.truncate(c);
    }
    keyed.sort_unstable();
    keyed
        .iter()
        .map(|&k| live[(k & 0xffff_ffff) as usize])
        .collect()
}

fn score(
    snap: &Snapshot,
    kernels: Kernels,
    probe: &TemplateRef<'_>,
    rows: &[At],
    parallel: bool,
) -> Result<Vec<(At, f32)>> {
    let pairs = kernels.finger.pairs();
    let f = |&(s, r): &At| -> Result<(At, f32)> {
        let seg = &snap.fingers[s as usize].seg;
        let t = seg.template(r as usize)?;
        Ok((
            (s, r),
            checked(seg, r as usize, compare_with(probe, &t, pairs))?,
        ))
    };
    if parallel && rows.len() >= 64 {
        rows.par_iter().with_min_len(16).map(f).collect()
    } else {
        rows.iter().map(f).collect()
    }
}

/// A matcher score believed only inside [0, 1]: outside (or NaN) it is corruption of row `r`.
fn checked(seg: &FingerSegment, r: usize, score: f32) -> Result<f32> {
    if (0.0..=1.0).contains(&score) {
        return Ok(score);
    }
    let (l, u, t) = seg.row_ids(r);
    Err(Error::corrupt(
        seg.path(),
        format!(
            "row {r} (location {l:?}, user {u:?}, template {t:?}) scored {score}, outside [0, 1]: \
             the segment is damaged (`edgeid verify` checks every file)"
        ),
    ))
}

fn finish(snap: &Snapshot, scored: Vec<(At, f32)>, k: usize, threshold: f32) -> Vec<FingerHit> {
    let mut best: HashMap<(&str, &str), (f32, &str, At)> = HashMap::new();
    for ((s, r), score) in scored {
        if score < threshold {
            continue;
        }
        let (l, u, t) = snap.fingers[s as usize].seg.row_ids(r as usize);
        let b = best.entry((l, u)).or_insert((score, t, (s, r)));
        if score > b.0 || (score == b.0 && t < b.1) {
            *b = (score, t, (s, r));
        }
    }
    let mut hits: Vec<FingerHit> = best
        .into_iter()
        .map(|((l, u), (score, t, (s, r)))| FingerHit {
            location: l.to_string(),
            user: u.to_string(),
            template: t.to_string(),
            position: snap.fingers[s as usize].seg.position(r as usize),
            score,
        })
        .collect();
    hits.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.location.cmp(&b.location))
            .then_with(|| a.user.cmp(&b.user))
            .then_with(|| a.template.cmp(&b.template))
    });
    hits.truncate(k);
    hits
}

/// 1:1 verification: the best score of the probe against the user's templates at `location`
/// (`None` when the user has none there). The caller compares it with its threshold.
pub fn verify(
    snap: &Snapshot,
    kernels: Kernels,
    location: &str,
    user: &str,
    probe: &TemplateRef<'_>,
) -> Result<Option<FingerHit>> {
    check_probe(probe)?;
    let mut best: Option<FingerHit> = None;
    for s in &snap.fingers {
        for &r in s.seg.rows_of(location, user) {
            let r = r as usize;
            if !s.live.get(r) {
                continue;
            }
            let score = compare_with(probe, &s.seg.template(r)?, kernels.finger.pairs());
            let score = checked(&s.seg, r, score)?;
            let t = s.seg.row_ids(r).2;
            if best
                .as_ref()
                .is_none_or(|b| score > b.score || (score == b.score && t < b.template.as_str()))
            {
                best = Some(FingerHit {
                    location: location.to_string(),
                    user: user.to_string(),
                    template: t.to_string(),
                    position: s.seg.position(r),
                    score,
                });
            }
        }
    }
    Ok(best)
}

impl Store {
    /// Fingerprint 1:N identification over the current snapshot (see [`identify`]).
    pub fn identify_finger(&self, req: &FingerIdentify<'_>) -> Result<Vec<FingerHit>> {
        let _search = self.workers().searching();
        identify(&self.snapshot(), self.kernels(), self.pool(), req)
    }

    /// Fingerprint 1:1 verification against one user (see [`verify`]).
    pub fn verify_finger(
        &self,
        location: &str,
        user: &str,
        probe: &TemplateRef<'_>,
    ) -> Result<Option<FingerHit>> {
        verify(&self.snapshot(), self.kernels(), location, user, probe)
    }
}
