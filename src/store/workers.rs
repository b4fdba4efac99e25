//! The store's own threads: every parallel loop of the library runs here, nowhere else.
//!
//! A firmware process decides how many threads a library may start (`OpenOptions::threads`) and
//! may unload the library after closing it, so:
//! - `threads = 1`: no thread is started, ever — not even a one-thread pool. Every loop runs on the
//!   caller's thread ([`Workers::pool`] is `None`, [`Workers::install`] passes `false`).
//! - `threads = n > 1`: one rayon pool of `n` threads, started at open, owned by the store.
//! - Closing joins them. Dropping a rayon `ThreadPool` only *asks* its threads to stop and returns
//!   at once, so the pool's threads are spawned here (`spawn_handler`) with their `JoinHandle`s
//!   kept, and `Drop` joins every one: when a store is dropped, no thread it started is alive.
//!
//! Rayon's parallel iterators (`par_iter`, `rayon::join`, scopes) called *outside* a pool's
//! `install` run on rayon's global pool, which starts one thread per core the first time and never
//! stops them. Library code therefore calls them only inside [`Workers::install`] when it is passed
//! `true` (or through [`Workers::map`]); `tests/threads.rs` counts the process's threads from
//! `/proc/self/task` around open, commit, delta, search, maintenance and close to hold that.
//!
//! Searches come first. A door waits on a search; nobody waits on a synchronisation's next
//! millisecond. Searches and background work (a bulk delta's checks, fingerprint preparation,
//! segment encoding) share these threads, and a rayon pool runs what it was given to the end: a
//! search queued behind a batch of background work would wait for all of it (34x its idle p99
//! during a full synchronisation, README). So searches announce themselves ([`Workers::searching`]) and
//! background work runs through [`Workers::background_map`] / [`Workers::background_each`]: one
//! task per thread, each taking items from a shared counter (nothing of it waits in a queue where
//! it could be picked before a search), and between two items [`Workers::give_way`] runs the
//! pending search work on that thread. A search therefore waits for at most one item on each
//! thread, not for a batch.

use crate::error::{Error, Result};
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

thread_local! {
    /// On a store's worker thread: the id of its `Workers` (the address of its handle list).
    static WORKER_OF: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The threads a store owns (see the module docs).
pub struct Workers {
    pool: Option<rayon::ThreadPool>,
    handles: Arc<Mutex<Vec<JoinHandle<()>>>>,
    /// Searches running now (see the module docs).
    searches: AtomicUsize,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Workers({})", self.threads())
    }
}

impl Workers {
    /// Starts `threads` threads (none for `threads <= 1`).
    pub fn new(threads: usize) -> Result<Workers> {
        let handles: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::new(Mutex::new(Vec::new()));
        if threads <= 1 {
            return Ok(Workers {
                pool: None,
                handles,
                searches: AtomicUsize::new(0),
            });
        }
        let keep = handles.clone();
        let id = Arc::as_ptr(&handles) as usize;
        let built = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .spawn_handler(move |t| {
                let name = format!("edgeid-worker-{}", t.index());
                let h = std::thread::Builder::new().name(name).spawn(move || {
                    WORKER_OF.with(|w| w.set(id));
                    t.run()
                })?;
                keep.lock().unwrap_or_else(|e| e.into_inner()).push(h);
                Ok(())
            })
            .build();
        let mut w = Workers {
            pool: None,
            handles,
            searches: AtomicUsize::new(0),
        };
        match built {
            Ok(p) => w.pool = Some(p),
            // The threads already started are joined by `w`'s drop.
            Err(e) => {
                return Err(Error::Invalid(format!(
                    "cannot start the store's threads: {e}"
                )))
            }
        }
        Ok(w)
    }

    /// How many threads parallel loops use (1: the caller's thread only).
    pub fn threads(&self) -> usize {
        self.pool.as_ref().map_or(1, |p| p.current_num_threads())
    }

    /// The pool (`None` when `threads = 1`): rayon code must run inside its `install`.
    pub fn pool(&self) -> Option<&rayon::ThreadPool> {
        self.pool.as_ref()
    }

    /// Runs `op` on the store's threads: `op(true)` inside the pool, where it may use rayon's
    /// parallel iterators, `join` and scopes; `op(false)` on the caller's thread when the store
    /// has no pool, where it must run sequentially (rayon there would start its global pool).
    /// This is the one way into the store's threads for new parallel code.
    pub fn install<R: Send>(&self, op: impl FnOnce(bool) -> R + Send) -> R {
        match &self.pool {
            Some(p) => p.install(|| op(true)),
            None => op(false),
        }
    }

    /// `f` over `items`, in order: spread over the store's threads when it has them and
    /// `items.len() >= min_parallel`, otherwise on the caller's thread.
    pub fn map<T: Sync, R: Send>(
        &self,
        items: &[T],
        min_parallel: usize,
        f: impl Fn(&T) -> R + Sync + Send,
    ) -> Vec<R> {
        match &self.pool {
            Some(p) if items.len() >= min_parallel.max(2) => {
                p.install(|| items.par_iter().map(f).collect())
            }
            _ => items.iter().map(f).collect(),
        }
    }
}

/// A search in progress; background work gives way to it until it is dropped.
pub struct Searching<'w>(&'w AtomicUsize);

impl Drop for Searching<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Release);
    }
}

impl Workers {
    /// Announces a search until the guard is dropped: background work gives way to it.
    pub fn searching(&self) -> Searching<'_> {
        self.searches.fetch_add(1, Ordering::AcqRel);
        Searching(&self.searches)
    }

    /// Called by background work between two items: while a search runs, this thread runs the
    /// search work pending in the pool before going on. Returns at once when no search runs or
    /// when called outside the store's threads.
    pub fn give_way(&self) {
        while self.searches.load(Ordering::Acquire) > 0 {
            match rayon::yield_now() {
                Some(rayon::Yield::Executed) => {}
                // Nothing pending (or not a pool thread): the search's remaining work is being
                // run by other threads.
                _ => break,
            }
        }
    }

    /// Background work: `f` over `items`, results in order, on every thread of the store (one
    /// task per thread taking items from a shared counter, giving way to searches between
    /// items; see the module docs), or on the caller's thread when the store has no pool.
    pub fn background_map<T: Sync, R: Send>(
        &self,
        items: &[T],
        f: impl Fn(&T) -> R + Sync + Send,
    ) -> Vec<R> {
        let mut out: Vec<(usize, R)> =
            self.background(items.iter().enumerate(), |(i, t)| (i, f(t)));
        out.sort_unstable_by_key(|(i, _)| *i);
        out.into_iter().map(|(_, r)| r).collect()
    }

    /// Background work on each item in place: `f(index, item)`, spread like
    /// [`Workers::background_map`].
    pub fn background_each<T: Send>(
        &self,
        items: &mut [T],
        f: impl Fn(usize, &mut T) + Sync + Send,
    ) {
        self.background(items.iter_mut().enumerate(), |(i, t)| f(i, t));
    }

    /// Runs `f` on every item of `items` with one task per thread (see the module docs); the
    /// results in no particular order.
    fn background<I, R>(&self, items: I, f: impl Fn(I::Item) -> R + Sync + Send) -> Vec<R>
    where
        I: ExactSizeIterator + Send,
        I::Item: Send,
        R: Send,
    {
        let tasks = self.threads().min(items.len());
        let pool = match &self.pool {
            Some(p) if tasks > 1 => p,
            _ => return items.map(f).collect(),
        };
        let next = Mutex::new(items);
        let take = || next.lock().unwrap_or_else(|e| e.into_inner()).next();
        let parts: Vec<Vec<R>> = pool.install(|| {
            (0..tasks)
                .into_par_iter()
                .with_max_len(1)
                .map(|_| {
                    let mut out = Vec::new();
                    while let Some(item) = take() {
                        out.push(f(item));
                        self.give_way();
                    }
                    out
                })
                .collect()
        });
        parts.into_iter().flatten().collect()
    }
}

impl Drop for Workers {
    /// Stops the pool and joins every thread it started (see the module docs).
    fn drop(&mut self) {
        drop(self.pool.take());
        let id = Arc::as_ptr(&self.handles) as usize;
        let handles = std::mem::take(&mut *self.handles.lock().unwrap_or_else(|e| e.into_inner()));
        // A store dropped by one of its own threads cannot join them (that thread would wait for
        // itself); they end right after this drop returns. Asked through a plain thread-local
        // rather than `thread::current()`, which would allocate a handle for a C caller's thread.
        if WORKER_OF.with(|w| w.get()) == id {
            return;
        }
        for h in handles {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    #[test]
    fn background_map_keeps_order_with_and_without_threads() {
        let items: Vec<u32> = (0..1000).collect();
        for threads in [1, 2, 3] {
            let w = Workers::new(threads).unwrap();
            let out = w.background_map(&items, |x| x * 2);
            assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
            let mut v = items.clone();
            w.background_each(&mut v, |i, x| *x += i as u32);
            assert_eq!(v, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        }
    }

    /// A search that arrives while every thread is busy with background work runs within a few
    /// items, not after the whole batch: the background items count how many of them started
    /// after the search was announced and before it ran.
    #[test]
    fn a_search_runs_between_two_background_items() {
        let w = Workers::new(2).unwrap();
        let announced = AtomicBool::new(false);
        let ran = AtomicBool::new(false);
        let late = AtomicUsize::new(0);
        let items: Vec<usize> = (0..400).collect();
        std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let (w, announced, ran) = (&w, &announced, &ran);
            let searcher = s.spawn(move || {
                rx.recv().unwrap();
                let _search = w.searching();
                announced.store(true, Ordering::SeqCst);
                w.install(|_| ran.store(true, Ordering::SeqCst));
            });
            w.background_map(&items, |&i| {
                if i == 10 {
                    tx.send(()).unwrap();
                }
                if announced.load(Ordering::SeqCst) && !ran.load(Ordering::SeqCst) {
                    late.fetch_add(1, Ordering::SeqCst);
                }
                // Each item is a little work, so without giving way the batch outlasts the
                // search's arrival by far.
                std::thread::sleep(Duration::from_micros(500));
            });
            searcher.join().unwrap();
        });
        assert!(ran.load(Ordering::SeqCst));
        let late = late.load(Ordering::SeqCst);
        assert!(
            late <= 20,
            "{late} background items started while the search waited"
        );
    }
}
