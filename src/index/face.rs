//! Exact face identification: a quantised SIMD scan that bounds every template's score, then an exact
//! re-rank of the few templates that could matter.
//!
//! # Why the result is exact
//! A stored template `x` (L2-normalised f32) has an int8 code `c_x` with scale `s_x` and residual
//! `e_x = x - s_x c_x`; the probe `q` likewise (`s_q`, `c_q`, `e_q`). Then
//!
//! ```text
//! <q, x> = s_x s_q <c_q, c_x>  +  s_x <c_x, e_q>  +  <e_x, q>
//! |s_x <c_x, e_q>| <= s_x ||c_x|| ||e_q||        |<e_x, q>| <= ||e_x|| ||q||      (Cauchy–Schwarz)
//! ```
//! so the integer dot product from the kernel gives an approximate score `a` and a bound `b` with
//! `a - b <= score <= a + b` (plus a small slack for f32 rounding). The scan keeps `tau`, the k-th best
//! lower bound among distinct users: k users are certain to score at least `tau`, so a template whose
//! upper bound is below `tau` (or below the threshold) cannot appear in the answer. Every other template
//! is a candidate and is re-scored exactly. The final score of every template is computed one canonical
//! way — `Kernels::dot_f32_f64`, bit-identical on every ISA — so results equal a brute-force scan over
//! the live templates on every machine, ties broken by (user id, template id).
//!
//! Per-user fusion: a user with several templates is one candidate scored by its best template.
//!
//! # Damaged data
//! The argument above assumes the bytes read are the bytes written. Segment files are mapped, and
//! their bulk (codes, params, vectors) is covered by a checksum that only `edgeid verify` and
//! compaction read, because checking it on open would read every vector of the gallery. A flipped
//! bit in a stored vector once scored 4.8e35 and was accepted. So no exact score is believed before
//! the row it comes from passes two checks, on every search (identify and verify):
//! - **the vector lies in its int8 code's cells** (`face::in_code_cells`): every component within
//!   half a quantisation step of `scale · c`. The vector, the code and the scale were written
//!   together; a change to any of them of more than half a step (about 1/254 of the largest
//!   component) is caught whatever the probe;
//! - **the exact score lies inside the row's int8 bounds `[a − b, a + b]`** (with `damage::CHECK_SLACK`),
//!   and within `[−1, 1]`: this catches damage to the error terms that the first check cannot see.
//!
//! A row that fails either is reported as `Error::Corrupt` naming the segment file and the row;
//! the search returns that error, never a score (refusing to answer is safe at a door; answering
//! from a damaged gallery is not). Only rows that would be scored exactly are checked, so the cost is
//! one more pass over k-and-a-few vectors per search: about 0.1 µs per 512-d row, 5 µs of a 0.65 ms
//! search at 100,000 faces, within the noise of `edgeid bench face` (ARCHITECTURE.md). What this cannot catch: damage inside the quantisation cell
//! (a score moves by less than one int8 step of one component, far below any decision margin), and
//! damage to the 4-bit codes or the error terms that makes a row's bounds too low, which can hide
//! that row (a false reject, never a false accept); the payload checksum (`edgeid verify`) finds
//! both. Returned scores are clamped to `[−1, 1]` (rounding can put a perfect match at
//! 1 + 1e-7).

use crate::error::{Error, Result};
use crate::face::{normalize, quantize_probe, QuantizedProbe};
use crate::kernels::Kernels;
use crate::store::{FaceSegment, SegState, Snapshot, Store};
use damage::{bounds8, exact};
use rayon::prelude::*;

mod damage;

/// Rounding slack added to every bound (f32 arithmetic on scores of magnitude <= 1).
const SLACK: f32 = 2e-5;
/// Rows scanned per kernel call.
const BLOCK: usize = 256;
/// Largest range of rows per work item; galleries of at least `PARALLEL_MIN` rows are split over the
/// search threads (below that, waking a second thread costs more than it saves: measured at 10k).
const CHUNK: usize = 32_768;
const PARALLEL_MIN: usize = 65_536;
/// Ranges a parallel scan is cut into per thread (see `identify`).
const RANGES_PER_THREAD: usize = 8;

/// One identified user.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceHit {
    /// Location the user belongs to.
    pub location: String,
    /// User id.
    pub user: String,
    /// The user's best-scoring template.
    pub template: String,
    /// Cosine similarity of the probe to that template.
    pub score: f64,
}

/// A 1:N identification request.
#[derive(Debug, Clone)]
pub struct FaceIdentify<'a> {
    probe: &'a [f32],
    k: usize,
    threshold: f64,
    location: Option<&'a str>,
}

impl<'a> FaceIdentify<'a> {
    /// Best user only, any score.
    pub fn new(probe: &'a [f32]) -> Self {
        FaceIdentify {
            probe,
            k: 1,
            threshold: -1.0,
            location: None,
        }
    }
    /// Up to `k` users.
    pub fn k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }
    /// Only users scoring at least `t` (cosine, -1..=1).
    pub fn threshold(mut self, t: f64) -> Self {
        self.threshold = t;
        self
    }
    /// Only users of this location.
    pub fn location(mut self, l: &'a str) -> Self {
        self.location = Some(l);
        self
    }
}

/// Identity of a user inside a snapshot: segment index and user index in that segment.
#[derive(Clone, Copy)]
struct UserAt {
    seg: u32,
    user: u32,
}

fn user_key(snap: &Snapshot, u: UserAt) -> (&str, &str) {
    let seg = &snap.faces[u.seg as usize].seg;
    (
        seg.location_id(seg.user_loc()[u.user as usize]),
        seg.user_id(u.user),
    )
}

/// The k best lower bounds among distinct users.
struct TopLower {
    k: usize,
    v: Vec<(f32, UserAt)>,
}

impl TopLower {
    fn tau(&self) -> f32 {
        if self.v.len() == self.k {
            self.v[self.k - 1].0
        } else {
            f32::NEG_INFINITY
        }
    }
    fn offer(&mut self, snap: &Snapshot, lower: f32, u: UserAt) {
        if lower <= self.tau() {
            return;
        }
        let key = user_key(snap, u);
        if let Some(e) = self.v.iter_mut().find(|e| user_key(snap, e.1) == key) {
            if lower <= e.0 {
                return;
            }
            e.0 = lower;
        } else {
            self.v.push((lower, u));
        }
        self.v.sort_by(|a, b| b.0.total_cmp(&a.0));
        self.v.truncate(self.k);
    }
}

/// What one scanned range leaves for the merge.
struct Partial {
    top: TopLower,
    /// (segment index, row, int8 lower bound, int8 upper bound)
    cands: Vec<(u32, u32, f32, f32)>,
}

struct Ctx<'a> {
    snap: &'a Snapshot,
    kernels: Kernels,
    pq: &'a QuantizedProbe,
    k: usize,
    threshold: f32,
}

/// One range of rows of one segment, with what the scan needs of it.
struct Range<'a> {
    si: usize,
    rows: std::ops::Range<usize>,
    s: &'a SegState<FaceSegment>,
    /// Location index in this segment when the search is scoped (None: all).
    loc_ix: Option<u32>,
}

impl Range<'_> {
    fn admit(&self, r: usize) -> bool {
        let seg = &self.s.seg;
        self.s.live.get(r)
            && self
                .loc_ix
                .is_none_or(|l| seg.user_loc()[seg.row_user()[r] as usize] == l)
    }
    fn user_at(&self, r: usize) -> UserAt {
        UserAt {
            seg: self.si as u32,
            user: self.s.seg.row_user()[r],
        }
    }
}

/// 4-bit scores of the block of rows starting at `r0` (`n` rows): fills `dots`.
fn dots4(ctx: &Ctx<'_>, g: &Range<'_>, r0: usize, n: usize, dots: &mut [i32; BLOCK]) {
    let seg = &g.s.seg;
    let half = crate::face::dims4(seg.dim()) / 2;
    ctx.kernels.dot_u4i8_rows(
        &seg.codes4()[r0 * half..(r0 + n) * half],
        &ctx.pq.codes[..2 * half],
        &mut dots[..n],
    );
}

/// Per-range constants of the 4-bit bounds, fetched once (not per row).
struct Bounds4<'a> {
    scale: &'a [f32],
    cnorm: &'a [f32],
    resid: &'a [f32],
    bias: i32,
    sq: f32,
    eq: f32,
    nq: f32,
}

impl<'a> Bounds4<'a> {
    fn new(ctx: &Ctx<'_>, g: &Range<'a>) -> Self {
        let (scale, cnorm, resid) = g.s.seg.params4();
        let pq = ctx.pq;
        Bounds4 {
            scale,
            cnorm,
            resid,
            bias: 8 * pq.code_sum,
            sq: pq.scale,
            eq: pq.residual as f32,
            nq: pq.norm as f32,
        }
    }
    /// (approximate score a, half-width b) of row `r` from its 4-bit dot product `d`.
    #[inline(always)]
    fn at(&self, r: usize, d: i32) -> (f32, f32) {
        let a = (d - self.bias) as f32 * self.scale[r] * self.sq;
        (a, self.cnorm[r] * self.eq + self.resid[r] * self.nq + SLACK)
    }
}

/// Phase 1: the 4-bit pass over a range. Returns the range's best lower bounds (distinct users) and
/// the largest upper bound of each block, so phase 2 revisits only blocks that can matter.
fn phase1(ctx: &Ctx<'_>, g: &Range<'_>) -> (TopLower, Vec<f32>) {
    let mut top = TopLower {
        k: ctx.k,
        v: Vec::with_capacity(ctx.k + 1),
    };
    let mut block_max = Vec::with_capacity(g.rows.len().div_ceil(BLOCK));
    let bounds = Bounds4::new(ctx, g);
    let mut dots = [0i32; BLOCK];
    let mut lower = [0f32; BLOCK];
    let mut r0 = g.rows.start;
    while r0 < g.rows.end {
        let n = BLOCK.min(g.rows.end - r0);
        dots4(ctx, g, r0, n, &mut dots);
        // Branch-free bounds for the whole block (this loop vectorises).
        let (mut best_lower, mut best_upper) = (f32::NEG_INFINITY, f32::NEG_INFINITY);
        for j in 0..n {
            let (a, b) = bounds.at(r0 + j, dots[j]);
            lower[j] = a - b;
            best_lower = best_lower.max(a - b);
            best_upper = best_upper.max(a + b);
        }
        block_max.push(best_upper);
        if best_lower > top.tau() {
            for (j, &l) in lower[..n].iter().enumerate() {
                if l > top.tau() && g.admit(r0 + j) {
                    top.offer(ctx.snap, l, g.user_at(r0 + j));
                }
            }
        }
        r0 += n;
    }
    (top, block_max)
}

/// Phase 2: rows whose 4-bit upper bound reaches `cut` get int8 bounds (streamed per block when
/// dense, gathered row by row when sparse); those are the candidates for the exact re-rank.
fn phase2(ctx: &Ctx<'_>, g: &Range<'_>, block_max: &[f32], cut: f32) -> Partial {
    let mut out = Partial {
        top: TopLower {
            k: ctx.k,
            v: Vec::new(),
        },
        cands: Vec::new(),
    };
    let seg = &g.s.seg;
    let stride = seg.stride();
    let codes = seg.codes();
    let (scale, cnorm, resid) = seg.params();
    let pq = ctx.pq;
    let q8 = &pq.codes[..stride];
    let (bias, sq, eq, nq) = (
        128 * pq.code_sum,
        pq.scale,
        pq.residual as f32,
        pq.norm as f32,
    );
    let mut dots = [0i32; BLOCK];
    let mut dots8 = [0i32; BLOCK];
    let mut hits = Vec::with_capacity(BLOCK);
    let bounds = Bounds4::new(ctx, g);
    for (bi, &m) in block_max.iter().enumerate() {
        if m < cut {
            continue;
        }
        let r0 = g.rows.start + bi * BLOCK;
        let n = BLOCK.min(g.rows.end - r0);
        dots4(ctx, g, r0, n, &mut dots);
        hits.clear();
        for (j, &d) in dots[..n].iter().enumerate() {
            let (a, b) = bounds.at(r0 + j, d);
            if a + b >= cut && g.admit(r0 + j) {
                hits.push(j);
            }
        }
        let dense = hits.len() * 8 > n;
        if dense {
            ctx.kernels
                .dot_u8i8_rows(&codes[r0 * stride..(r0 + n) * stride], q8, &mut dots8[..n]);
        }
        for &j in &hits {
            let r = r0 + j;
            let d = if dense {
                dots8[j]
            } else {
                ctx.kernels
                    .dot_u8i8(&codes[r * stride..(r + 1) * stride], q8)
            };
            let a = (d - bias) as f32 * scale[r] * sq;
            let b = cnorm[r] * eq + resid[r] * nq + SLACK;
            if a + b >= cut {
                out.top.offer(ctx.snap, a - b, g.user_at(r));
                out.cands.push((g.si as u32, r as u32, a - b, a + b));
            }
        }
    }
    out
}

/// Runs `f` over the ranges, on the pool when the gallery is large enough to repay it.
fn each<T: Send>(
    pool: Option<&rayon::ThreadPool>,
    parallel: bool,
    ranges: &[Range<'_>],
    f: impl Fn(&Range<'_>) -> T + Sync + Send,
) -> Vec<T> {
    match pool {
        Some(p) if parallel && ranges.len() > 1 => {
            p.install(|| ranges.par_iter().map(&f).collect())
        }
        _ => ranges.iter().map(f).collect(),
    }
}

/// Checks and normalises a probe for a snapshot.
fn normalize_probe(snap: &Snapshot, probe: &[f32]) -> Result<Vec<f32>> {
    normalize(probe, snap.dim).map_err(|e| match e {
        Error::Invalid(m) => Error::Invalid(format!("probe: {m}")),
        other => other,
    })
}

/// Identifies a probe against a snapshot. `pool` spreads large galleries over threads.
pub fn identify(
    snap: &Snapshot,
    kernels: Kernels,
    pool: Option<&rayon::ThreadPool>,
    req: &FaceIdentify<'_>,
) -> Result<Vec<FaceHit>> {
    super::check_request(req.k, req.threshold, req.location)?;
    let q = normalize_probe(snap, req.probe)?;
    let pq = quantize_probe(&q, crate::face::dims4(snap.dim));
    // Nothing is allocated by k: no answer holds more users than the snapshot has rows.
    let k = req.k.min(snap.face_rows()).max(1);
    let ctx = Ctx {
        snap,
        kernels,
        pq: &pq,
        k,
        // Round the threshold down so f32 never prunes a template scoring exactly at it.
        threshold: (req.threshold as f32) - SLACK,
    };
    let threads = pool.map_or(1, |p| p.current_num_threads());
    // Several ranges per thread, of equal size: a thread that finishes first (its core was free)
    // steals the ranges of one whose core is busy with other work, instead of waiting for it.
    let chunk = (snap.face_rows() / (threads * RANGES_PER_THREAD))
        .div_ceil(BLOCK)
        .max(1)
        * BLOCK;
    let chunk = chunk.clamp(4 * BLOCK, CHUNK);
    let mut ranges = Vec::new();
    for (si, s) in snap.faces.iter().enumerate() {
        if s.live_count == 0 {
            continue;
        }
        let loc_ix = match req.location {
            Some(l) => match (0..s.seg.locations() as u32).find(|&i| s.seg.location_id(i) == l) {
                Some(i) => Some(i),
                None => continue,
            },
            None => None,
        };
        let n = s.seg.rows();
        let mut r = 0;
        while r < n {
            ranges.push(Range {
                si,
                rows: r..(r + chunk).min(n),
                s,
                loc_ix,
            });
            r += chunk;
        }
    }
    let parallel = snap.face_rows() >= PARALLEL_MIN;

    // Phase 1 everywhere, then one tau for all ranges: a range without a good match prunes with
    // the tau another range found.
    let first = each(pool, parallel, &ranges, |g| phase1(&ctx, g));
    let mut top = TopLower { k, v: Vec::new() };
    for (t, _) in &first {
        for &(l, u) in &t.v {
            top.offer(snap, l, u);
        }
    }
    let cut4 = top.tau().max(ctx.threshold);
    let ctx_ref = &ctx;
    let parts: Vec<Partial> = {
        let work: Vec<(usize, &Range<'_>)> = ranges.iter().enumerate().collect();
        let run = |&(i, g): &(usize, &Range<'_>)| phase2(ctx_ref, g, &first[i].1, cut4);
        match pool {
            Some(p) if parallel && work.len() > 1 => {
                p.install(|| work.par_iter().map(run).collect())
            }
            _ => work.iter().map(run).collect(),
        }
    };

    // Merge: the final tau over all int8 lower bounds, then the exact re-rank of the survivors.
    for p in &parts {
        for &(l, u) in &p.top.v {
            top.offer(snap, l, u);
        }
    }
    let cut = top.tau().max(ctx.threshold);
    let mut best: std::collections::HashMap<(&str, &str), (f64, &str)> =
        std::collections::HashMap::new();
    for p in &parts {
        for &(si, r, lower, upper) in &p.cands {
            if upper < cut {
                continue;
            }
            let seg = &snap.faces[si as usize].seg;
            let score = exact(kernels, &q, seg, r as usize, (lower, upper))?;
            let (l, u, t) = seg.row_ids(r as usize);
            let e = best.entry((l, u)).or_insert((score, t));
            if score > e.0 || (score == e.0 && t < e.1) {
                *e = (score, t);
            }
        }
    }
    Ok(finish(best, k, req.threshold))
}

/// Orders fused per-user scores: score descending, then user id, location, template ascending.
fn finish(
    best: std::collections::HashMap<(&str, &str), (f64, &str)>,
    k: usize,
    threshold: f64,
) -> Vec<FaceHit> {
    let mut hits: Vec<FaceHit> = best
        .into_iter()
        .filter(|(_, (s, _))| *s >= threshold)
        .map(|((l, u), (s, t))| FaceHit {
            location: l.to_string(),
            user: u.to_string(),
            template: t.to_string(),
            score: s,
        })
        .collect();
    hits.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.user.cmp(&b.user))
            .then_with(|| a.location.cmp(&b.location))
            .then_with(|| a.template.cmp(&b.template))
    });
    hits.truncate(k);
    hits
}

/// The brute-force reference: every live template scored exactly, fused per user, ordered like
/// [`identify`]. Tests and `edgeid bench` compare against it.
pub fn identify_brute_force(
    snap: &Snapshot,
    kernels: Kernels,
    req: &FaceIdentify<'_>,
) -> Result<Vec<FaceHit>> {
    let q = normalize_probe(snap, req.probe)?;
    let mut best = std::collections::HashMap::new();
    for (l, u, t, v) in snap.face_templates() {
        if req.location.is_some_and(|x| x != l) {
            continue;
        }
        // Clamped like `identify` (which also refuses damaged rows; this reference does not).
        let score = kernels.dot_f32_f64(&q, v).clamp(-1.0, 1.0);
        let e = best.entry((l, u)).or_insert((score, t));
        if score > e.0 || (score == e.0 && t < e.1) {
            *e = (score, t);
        }
    }
    Ok(finish(best, req.k, req.threshold))
}

/// 1:1 verification: the best exact score of the probe against the user's templates, or None when the
/// user has no templates at that location.
pub fn verify(
    snap: &Snapshot,
    kernels: Kernels,
    location: &str,
    user: &str,
    probe: &[f32],
) -> Result<Option<FaceHit>> {
    let q = normalize_probe(snap, probe)?;
    let pq = quantize_probe(&q, crate::face::dims4(snap.dim));
    let mut best: Option<FaceHit> = None;
    for s in &snap.faces {
        for r in s.seg.rows_of(location, user) {
            if !s.live.get(r) {
                continue;
            }
            let bounds = bounds8(kernels, &s.seg, r, &pq);
            let score = exact(kernels, &q, &s.seg, r, bounds)?;
            let t = s.seg.row_ids(r).2;
            if best
                .as_ref()
                .is_none_or(|b| score > b.score || (score == b.score && t < b.template.as_str()))
            {
                best = Some(FaceHit {
                    location: location.to_string(),
                    user: user.to_string(),
                    template: t.to_string(),
                    score,
                });
            }
        }
    }
    Ok(best)
}

impl Store {
    /// 1:N identification over the current snapshot (see [`identify`]).
    pub fn identify_face(&self, req: &FaceIdentify<'_>) -> Result<Vec<FaceHit>> {
        let _search = self.workers().searching();
        identify(&self.snapshot(), self.kernels(), self.pool(), req)
    }

    /// 1:1 verification against one user (see [`verify`]).
    pub fn verify_face(
        &self,
        location: &str,
        user: &str,
        probe: &[f32],
    ) -> Result<Option<FaceHit>> {
        verify(&self.snapshot(), self.kernels(), location, user, probe)
    }
}
