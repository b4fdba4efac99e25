//! The memory a full synchronisation costs is bounded by the store's budget, whatever the
//! delta's size: a counting global allocator (this test binary only) measures the heap's peak
//! while a streamed full delta of many users with 512-d faces is applied with a small budget.
//! The delta is generated on the fly by a reader, so only what the store holds is counted.

mod common;
use common::{b64, le_bytes, Rng, MODEL};
use edgeid::{OpenOptions, Store};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

struct Counting;
static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let n = NOW.fetch_add(l.size(), Relaxed) + l.size();
            PEAK.fetch_max(n, Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        NOW.fetch_sub(l.size(), Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            NOW.fetch_sub(l.size(), Relaxed);
            let n = NOW.fetch_add(new, Relaxed) + new;
            PEAK.fetch_max(n, Relaxed);
        }
        q
    }
}

#[global_allocator]
static A: Counting = Counting;

const DIM: usize = 512;

/// A full delta of `users` users with one face each, produced as it is read.
struct FullDelta {
    users: usize,
    next: usize,
    pending: Vec<u8>,
    at: usize,
    done: bool,
}

impl FullDelta {
    fn new(users: usize) -> FullDelta {
        let head =
            r#"{"format":"edgeid.delta/1","location":"hq","sequence":1,"kind":"full","changes":["#;
        FullDelta {
            users,
            next: 0,
            pending: head.as_bytes().to_vec(),
            at: 0,
            done: false,
        }
    }
}

impl Read for FullDelta {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.pending.len() {
            if self.done {
                return Ok(0);
            }
            self.pending.clear();
            self.at = 0;
            if self.next == self.users {
                self.pending.extend_from_slice(b"]}");
                self.done = true;
            } else {
                let i = self.next;
                self.next += 1;
                let v = Rng(i as u64 + 1).vector(DIM);
                let sep = if i > 0 { "," } else { "" };
                self.pending.extend_from_slice(
                    format!(
                        r#"{sep}{{"op":"upsert_user","user":{{"id":"user-{i:06}","name":"User {i}","faces":[{{"id":"f1","model":"{MODEL}","embedding":"{}"}}]}}}}"#,
                        b64(&le_bytes(&v))
                    )
                    .as_bytes(),
                );
            }
        }
        let n = out.len().min(self.pending.len() - self.at);
        out[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Peak heap (bytes above what was allocated before) while a streamed full delta of `users`
/// users is applied to a new store with `budget`; checks the outcome and a search.
fn peak_of(users: usize, budget: usize) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let opts = OpenOptions::new().threads(2).memory_budget(budget);
    let store = Store::create(dir.path(), MODEL, DIM, opts).unwrap();
    let base = NOW.load(Relaxed);
    PEAK.store(base, Relaxed);
    let outcome = store
        .apply_delta_reader(&mut FullDelta::new(users), &mut |_| {})
        .unwrap();
    let peak = PEAK.load(Relaxed) - base;
    let kept = NOW.load(Relaxed).saturating_sub(base);
    assert!(matches!(outcome, edgeid::sync::Outcome::Applied { .. }));
    assert_eq!(store.snapshot().live_faces(), users);
    let probe = Rng(5).vector(DIM);
    let hits = store
        .identify_face(&edgeid::FaceIdentify::new(&probe).k(1))
        .unwrap();
    assert_eq!(hits[0].user, "user-000004");
    eprintln!(
        "{users} users: peak heap {:.1} MB above the store's, {:.1} MB kept after",
        peak as f64 / 1e6,
        kept as f64 / 1e6
    );
    peak
}

#[test]
fn a_large_full_synchronisation_stays_within_the_memory_budget() {
    let budget = 8 << 20;
    let (small, large) = (5_000, 20_000);
    let p_small = peak_of(small, budget);
    let p_large = peak_of(large, budget);
    // Each user brings 2 KB of embedding (2.7 KB of JSON, 2.9 KB of segment). What may grow
    // with the delta is only the per-user bookkeeping (catalog record, id → row maps, the
    // plan's overlay): under 1.5 KB per user. Held templates would show as more.
    let per_user = (p_large.saturating_sub(p_small)) / (large - small);
    assert!(per_user < 1536, "{per_user} bytes of peak per user");
    // And the whole peak: the budget plus that bookkeeping.
    let bound = budget + large * 1536;
    assert!(
        p_large <= bound,
        "peak {p_large} bytes above the bound {bound}"
    );
}
