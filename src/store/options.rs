//! How a store is opened: file system, threads, checkpoint bounds, erasure deadline, kernels.

use super::fs::{Fs, StdFs};
use crate::kernels::Kernels;
use std::sync::Arc;
use std::time::Duration;

/// Default of [`OpenOptions::max_delta_bytes`]: 64 MiB. A full synchronisation of 10,000 users
/// with one 512-d face each is about 29 MB (`edgeid bench sync`), 37 MB with two fingerprints
/// each, so this fits a large site with room to grow, while bounding what one delta may cost in
/// memory (docs/sync-protocol.md, "Limits").
pub const DEFAULT_MAX_DELTA_BYTES: usize = 64 << 20;

/// How to open a store.
#[derive(Clone)]
pub struct OpenOptions {
    pub(super) fs: Arc<dyn Fs>,
    pub(super) threads: usize,
    pub(super) checkpoint_rows: usize,
    pub(super) checkpoint_fingers: usize,
    pub(super) erase_within: Duration,
    pub(super) kernels: Option<Kernels>,
    pub(super) max_delta_bytes: usize,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            fs: Arc::new(StdFs),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            checkpoint_rows: 16_384,
            checkpoint_fingers: 2_048,
            erase_within: Duration::from_secs(600),
            kernels: None,
            max_delta_bytes: DEFAULT_MAX_DELTA_BYTES,
        }
    }
}

impl OpenOptions {
    /// Default options: the real file system, all cores, best SIMD kernel.
    pub fn new() -> Self {
        Self::default()
    }
    /// Uses another file system (tests use [`SimFs`](crate::store::fs::SimFs)).
    pub fn fs(mut self, fs: Arc<dyn Fs>) -> Self {
        self.fs = fs;
        self
    }
    /// Threads used by one search over a large gallery (1 = search on the calling thread only).
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self
    }
    /// Tail rows that trigger a checkpoint (default 16,384). The log is replayed into memory on open
    /// and the tail is held in RAM, so this bounds open time and memory (about 43 MB at 512-d).
    pub fn checkpoint_rows(mut self, n: usize) -> Self {
        self.checkpoint_rows = n.max(1);
        self
    }
    /// Finger tail rows that trigger a checkpoint (default 2,048: prepared templates are 13–17 KB,
    /// so the tail stays near 25–35 MB of RAM and of log).
    pub fn checkpoint_fingers(mut self, n: usize) -> Self {
        self.checkpoint_fingers = n.max(1);
        self
    }
    /// Longest time a deleted template's bytes may stay on the flash while the store is in use.
    pub fn erase_within(mut self, d: Duration) -> Self {
        self.erase_within = d;
        self
    }
    /// Largest synchronisation delta accepted, in bytes (default [`DEFAULT_MAX_DELTA_BYTES`]). A
    /// larger one is refused before it is parsed or copied (`Refusal::TooLarge`), because parsing
    /// needs a few times its size in memory; raise it only with the memory to match
    /// (docs/sync-protocol.md, "Limits").
    pub fn max_delta_bytes(mut self, n: usize) -> Self {
        self.max_delta_bytes = n;
        self
    }
    /// Forces a SIMD kernel (for tests and benchmarks); default: detected.
    pub fn kernels(mut self, k: Kernels) -> Self {
        self.kernels = Some(k);
        self
    }
}
