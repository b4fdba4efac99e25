//! Out of memory is a status, not an abort: a global allocator that refuses every allocation above
//! a limit (as a terminal with little free memory refuses the large ones first) while the store
//! takes a 20,000-face batch, a large delta and searches. Each must return
//! `Error::OutOfMemory` and leave the store as it was; with the limit lifted the same calls work.
//!
//! A plain binary (`harness = false`): the allocator is process-wide, and libtest's threads would
//! allocate under it too.

mod common;

use common::{put, Rng, MODEL};
use edgeid::store::Change;
use edgeid::{Error, FaceIdentify, OpenOptions, Store};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Allocations larger than this fail (`usize::MAX`: none fail).
static LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);
/// How many allocations were refused.
static REFUSED: AtomicUsize = AtomicUsize::new(0);

struct Limited;

// SAFETY: forwards to the system allocator unchanged, or returns null (an allowed answer of
// `alloc` and `realloc`, which leaves the old block untouched).
unsafe impl GlobalAlloc for Limited {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if l.size() > LIMIT.load(Ordering::Relaxed) {
            REFUSED.fetch_add(1, Ordering::Relaxed);
            return std::ptr::null_mut();
        }
        // SAFETY: same layout contract as ours.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        if l.size() > LIMIT.load(Ordering::Relaxed) {
            REFUSED.fetch_add(1, Ordering::Relaxed);
            return std::ptr::null_mut();
        }
        // SAFETY: same layout contract as ours.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: `p` came from `System` with layout `l`.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if new > LIMIT.load(Ordering::Relaxed) {
            REFUSED.fetch_add(1, Ordering::Relaxed);
            return std::ptr::null_mut();
        }
        // SAFETY: `p` came from `System` with layout `l`.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Limited = Limited;

/// Runs `f` with allocations above `limit` bytes refused.
fn limited<R>(limit: usize, f: impl FnOnce() -> R) -> R {
    REFUSED.store(0, Ordering::Relaxed);
    LIMIT.store(limit, Ordering::Relaxed);
    let r = f();
    LIMIT.store(usize::MAX, Ordering::Relaxed);
    r
}

const DIM: usize = 512;
const BATCH: usize = 20_000;
/// 8 MB: the batch's 512-d vectors (41 MB) and codes (10 MB) are far above it; every small
/// allocation (one embedding, an id) is far below.
const LIMIT_BYTES: usize = 8 << 20;

fn expect_oom<T: std::fmt::Debug>(what: &str, r: edgeid::Result<T>, failures: &mut Vec<String>) {
    match r {
        Err(Error::OutOfMemory { what: w, bytes }) => {
            println!("  {what}: OutOfMemory ({w}, {bytes} bytes)");
        }
        other => failures.push(format!("{what}: expected OutOfMemory, got {other:?}")),
    }
}

fn main() {
    let mut failures = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    // The logged path (log, in-memory tail, checkpoint): the batch must not take the bulk path,
    // which writes segments directly and would leave the checkpoint nothing to build.
    let opts = || {
        OpenOptions::new()
            .threads(1)
            .checkpoint_rows(100_000)
            .bulk_rows(usize::MAX)
    };
    let store = Store::create(&path, MODEL, DIM, opts()).unwrap();
    let mut rng = Rng(3);
    let batch: Vec<Change> = (0..BATCH)
        .map(|i| put("local", &format!("u{i}"), "f", rng.vector(DIM)))
        .collect();
    let probe = rng.vector(DIM);

    // 1. A batch that needs more memory than there is: refused, nothing written.
    let seq = store.snapshot().seq();
    let log_before = store.stats().wal_bytes;
    expect_oom(
        "20,000-face batch",
        limited(LIMIT_BYTES, || store.commit(&batch)),
        &mut failures,
    );
    let stats = store.stats();
    if store.snapshot().seq() != seq || stats.faces.live != 0 || stats.wal_bytes != log_before {
        failures.push(format!(
            "the refused batch changed the store: seq {} -> {}, rows {}, log {} -> {} bytes",
            seq,
            store.snapshot().seq(),
            stats.faces.live,
            log_before,
            stats.wal_bytes
        ));
    }
    if REFUSED.load(Ordering::Relaxed) == 0 {
        failures.push("the allocator refused nothing: the test tested nothing".into());
    }

    // 2. The same batch with the memory: committed, and the store still works.
    store.commit(&batch).unwrap();
    let n = store.stats().faces.live;
    if n != BATCH {
        failures.push(format!("after the batch: {n} rows, expected {BATCH}"));
    }

    // 3. A checkpoint (a segment of 20,000 rows) that cannot get its memory: refused, kept for
    //    retry; the store answers as before.
    expect_oom(
        "checkpoint",
        limited(LIMIT_BYTES, || store.checkpoint()),
        &mut failures,
    );
    let hits = store
        .identify_face(&FaceIdentify::new(&probe).k(1))
        .unwrap();
    if hits.len() != 1 {
        failures.push(format!("search after the refused checkpoint: {hits:?}"));
    }
    store.checkpoint().unwrap();

    // 4. A delta larger than the memory to copy it: refused before anything is parsed.
    let big = vec![b' '; 2 * LIMIT_BYTES];
    expect_oom(
        "delta copy",
        limited(LIMIT_BYTES, || store.apply_delta(&big, &mut |_| {})),
        &mut failures,
    );
    drop(store);

    // 5. Reopen: everything committed is there.
    let store = Store::open(&path, opts()).unwrap();
    let n = store.stats().faces.live;
    if n != BATCH {
        failures.push(format!("after reopening: {n} rows, expected {BATCH}"));
    }
    for f in &failures {
        eprintln!("FAIL {f}");
    }
    println!("{} failed", failures.len());
    if !failures.is_empty() {
        std::process::exit(1);
    }
}
