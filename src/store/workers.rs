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

use crate::error::{Error, Result};
use rayon::prelude::*;
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
