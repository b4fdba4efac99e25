//! In-memory 1:N fingerprint search: [`FingerGallery`].
//!
//! A search scores the probe's prefilter summary against every template's (one popcount pass over a
//! dense array of fixed-length summaries, see `prefilter`), keeps the best `candidates(n)` templates,
//! runs the full matcher on those only, fuses per user (a user's score is their best template's) and
//! returns the top k users at or above the threshold. Ties are broken by (user id, template id), so
//! the result does not depend on insertion order or thread count.
//!
//! The candidate budget is `max(min_candidates, ceil(candidate_fraction · n))`: galleries up to
//! `min_candidates` templates are matched exhaustively. `tests/finger_gallery.rs` guards how often
//! a small budget changes rank-1 on the test data. The store's index (`index::finger`) adds
//! widening and is what terminals search; `tests/finger_store.rs` compares it with exhaustive
//! matching with real mates hidden among synthetic distractors.

use std::collections::HashMap;

use rayon::prelude::*;

use super::compare;
use super::prefilter::{self, PF_WORDS};
use super::search::SearchParams;
use super::template::{FingerTemplate, TemplateRef};
use crate::error::Result;
use crate::ids::check_id;

/// Galleries at least this large are scanned and matched on all cores.
const PARALLEL_MIN: usize = 4096;

/// One identified user.
#[derive(Debug, Clone, PartialEq)]
pub struct GalleryHit {
    /// User id.
    pub user: String,
    /// The user's best-scoring template.
    pub template: String,
    /// Matcher score of the probe against that template.
    pub score: f32,
}

struct Entry {
    user: String,
    template: String,
    t: FingerTemplate,
}

/// An in-memory gallery of prepared templates keyed by (user id, template id).
pub struct FingerGallery {
    entries: Vec<Entry>,
    /// Dense summaries, `PF_WORDS` per entry, same order as `entries`.
    summaries: Vec<u64>,
    by_id: HashMap<(String, String), usize>,
    freq: prefilter::Frequencies,
    params: SearchParams,
}

impl Default for FingerGallery {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for FingerGallery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FingerGallery")
            .field("templates", &self.entries.len())
            .field("params", &self.params)
            .finish()
    }
}

impl FingerGallery {
    /// An empty gallery with default search parameters.
    pub fn new() -> Self {
        Self::with_params(SearchParams::default())
    }

    /// An empty gallery.
    pub fn with_params(params: SearchParams) -> Self {
        FingerGallery {
            entries: Vec::new(),
            summaries: Vec::new(),
            by_id: HashMap::new(),
            freq: prefilter::Frequencies::default(),
            params,
        }
    }

    /// The search parameters.
    pub fn params(&self) -> SearchParams {
        self.params
    }

    /// Changes the search parameters.
    pub fn set_params(&mut self, params: SearchParams) {
        self.params = params;
    }

    /// Number of templates.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds a template, replacing any template of the same (user, template) id. Ids follow the
    /// store's rules (1..=64 bytes of UTF-8, no control characters).
    pub fn insert(&mut self, user: &str, template: &str, t: FingerTemplate) -> Result<()> {
        check_id("user", user)?;
        check_id("template", template)?;
        let key = (user.to_string(), template.to_string());
        self.freq.update(t.as_ref().summary(), true);
        if let Some(&i) = self.by_id.get(&key) {
            self.freq
                .update(self.entries[i].t.as_ref().summary(), false);
            self.summaries[i * PF_WORDS..(i + 1) * PF_WORDS].copy_from_slice(t.as_ref().summary());
            self.entries[i].t = t;
            return Ok(());
        }
        self.summaries.extend_from_slice(t.as_ref().summary());
        self.by_id.insert(key, self.entries.len());
        self.entries.push(Entry {
            user: user.to_string(),
            template: template.to_string(),
            t,
        });
        Ok(())
    }

    /// Removes a template; false if there was none.
    pub fn remove(&mut self, user: &str, template: &str) -> bool {
        let Some(i) = self.by_id.remove(&(user.to_string(), template.to_string())) else {
            return false;
        };
        let last = self.entries.len() - 1;
        self.freq
            .update(self.entries[i].t.as_ref().summary(), false);
        self.entries.swap_remove(i);
        if i != last {
            let (head, tail) = self.summaries.split_at_mut(last * PF_WORDS);
            head[i * PF_WORDS..(i + 1) * PF_WORDS].copy_from_slice(&tail[..PF_WORDS]);
            let e = &self.entries[i];
            self.by_id.insert((e.user.clone(), e.template.clone()), i);
        }
        self.summaries.truncate(last * PF_WORDS);
        true
    }

    /// Removes every template of a user; returns how many.
    pub fn remove_user(&mut self, user: &str) -> usize {
        let ids: Vec<String> = self
            .entries
            .iter()
            .filter(|e| e.user == user)
            .map(|e| e.template.clone())
            .collect();
        ids.iter().filter(|t| self.remove(user, t)).count()
    }

    /// The user id of entry `i` (entry order is internal and changes on removal).
    pub fn user_of(&self, i: usize) -> &str {
        &self.entries[i].user
    }

    /// The template stored under (user, template), if any.
    pub fn get(&self, user: &str, template: &str) -> Option<&FingerTemplate> {
        self.by_id
            .get(&(user.to_string(), template.to_string()))
            .map(|&i| &self.entries[i].t)
    }

    /// The best `k` users whose best template scores at least `threshold`, best first.
    pub fn identify(&self, probe: &TemplateRef<'_>, k: usize, threshold: f32) -> Vec<GalleryHit> {
        let n = self.entries.len();
        let c = self.params.candidates(n);
        if c >= n {
            return self.identify_exhaustive(probe, k, threshold);
        }
        let cand = self.prefilter(probe, c);
        let scored = self.score(probe, &cand);
        finish(&self.entries, scored, k, threshold)
    }

    /// [`identify`](Self::identify) without the prefilter: every template is fully matched.
    pub fn identify_exhaustive(
        &self,
        probe: &TemplateRef<'_>,
        k: usize,
        threshold: f32,
    ) -> Vec<GalleryHit> {
        let all: Vec<u32> = (0..self.entries.len() as u32).collect();
        let scored = self.score(probe, &all);
        finish(&self.entries, scored, k, threshold)
    }

    /// 1:1: the best score of the probe against the user's templates (`None` if the user has none).
    /// The caller compares it with its threshold (see `calibration`).
    pub fn verify(&self, user: &str, probe: &TemplateRef<'_>) -> Option<GalleryHit> {
        let mut best: Option<GalleryHit> = None;
        for e in self.entries.iter().filter(|e| e.user == user) {
            let s = compare(probe, &e.t.as_ref());
            let better = match &best {
                None => true,
                Some(b) => s > b.score || (s == b.score && e.template < b.template),
            };
            if better {
                best = Some(GalleryHit {
                    user: e.user.clone(),
                    template: e.template.clone(),
                    score: s,
                });
            }
        }
        best
    }

    /// Indices of the `c` best templates by prefilter score, best first (ties by index).
    pub fn prefilter(&self, probe: &TemplateRef<'_>, c: usize) -> Vec<u32> {
        let wts = prefilter::Weights::new(probe.summary(), &self.freq);
        let wts = &wts;
        let score = crate::kernels::FingerKernels::detect().weighted();
        let n = self.entries.len();
        let mut keyed: Vec<u64> = if n >= PARALLEL_MIN {
            self.summaries
                .par_chunks(PF_WORDS * 1024)
                .enumerate()
                .flat_map_iter(|(ci, chunk)| {
                    chunk
                        .chunks_exact(PF_WORDS)
                        .enumerate()
                        .map(move |(i, s)| key(score(s, wts), ci * 1024 + i))
                })
                .collect()
        } else {
            self.summaries
                .chunks_exact(PF_WORDS)
                .enumerate()
                .map(|(i, s)| key(score(s, wts), i))
                .collect()
        };
        let c = c.min(n);
        if c == 0 {
            return Vec::new();
        }
        if c < n {
            keyed.select_nth_unstable(c - 1);
            keyed.truncate(c);
        }
        keyed.sort_unstable();
        keyed.iter().map(|&k| (k & 0xffff_ffff) as u32).collect()
    }

    fn score(&self, probe: &TemplateRef<'_>, idx: &[u32]) -> Vec<(u32, f32)> {
        let f = |&i: &u32| (i, compare(probe, &self.entries[i as usize].t.as_ref()));
        if idx.len() >= 64 && self.entries.len() >= PARALLEL_MIN {
            idx.par_iter().with_min_len(16).map(f).collect()
        } else {
            idx.iter().map(f).collect()
        }
    }
}

/// Sort key: higher prefilter score first, then lower index.
#[inline]
fn key(score: u32, i: usize) -> u64 {
    (u64::from(u32::MAX - score) << 32) | i as u64
}

fn finish(entries: &[Entry], scored: Vec<(u32, f32)>, k: usize, threshold: f32) -> Vec<GalleryHit> {
    let mut best: HashMap<&str, (f32, &str)> = HashMap::new();
    for (i, s) in scored {
        if s < threshold {
            continue;
        }
        let e = &entries[i as usize];
        let b = best.entry(&e.user).or_insert((s, &e.template));
        if s > b.0 || (s == b.0 && e.template.as_str() < b.1) {
            *b = (s, &e.template);
        }
    }
    let mut hits: Vec<GalleryHit> = best
        .into_iter()
        .map(|(u, (s, t))| GalleryHit {
            user: u.to_string(),
            template: t.to_string(),
            score: s,
        })
        .collect();
    hits.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.user.cmp(&b.user))
            .then_with(|| a.template.cmp(&b.template))
    });
    hits.truncate(k);
    hits
}
