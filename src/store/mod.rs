//! The template store: the terminal's single source of truth, in one directory on its flash.
//!
//! # Layout and commit protocol
//! - `LOCK` — held (flock) by the one writer process.
//! - `MANIFEST` — names the live segments, their deletion files and the live log (see `manifest`).
//! - `wal-<gen>.log` — the write-ahead log (see `wal`). **A commit** validates the whole batch, resolves
//!   deletes to physical rows, appends one checksummed record and fdatasyncs it. Only then is the change
//!   applied in memory and published as a new [`Snapshot`]. A crash before the fdatasync completes loses
//!   the commit (the torn record is discarded on replay); after it, replay restores it.
//! - `seg-<id>.seg` — immutable segments (see `segment`), `seg-<id>-<gen>.del` — their deleted rows.
//!
//! **A checkpoint** (when the tail grows past a bound, on `compact`, and on `erase_deleted`) writes
//! the live tail as a new segment and changed deletion lists as new files, fsyncs each, creates the next
//! log, fsyncs the directory, then writes `MANIFEST.tmp`, fsyncs it, renames it over `MANIFEST` and
//! fsyncs the directory. Until that rename is durable, the old manifest and old log are complete and
//! name the same state; after it, the new ones do. Files the manifest no longer names are then
//! scrubbed (overwritten with zeros, fsynced) and unlinked — segment files only once no snapshot maps
//! them. Opening scrubs any file the manifest does not name: leftovers of an interrupted checkpoint.
//!
//! **Compaction** rewrites segments with deleted rows into one new segment, the same way; searches go
//! on over the old snapshot meanwhile.
//!
//! # Erasure of deleted templates
//! A deleted template's embedding lives on in the log (until the next checkpoint) and in its segment
//! (until compaction). [`Store::erase_deleted`] does both and scrubs the old files; every commit runs
//! it when the oldest un-erased deletion is older than [`OpenOptions::erase_within`] (default 10 min),
//! and so does [`Store::maintain`], which a terminal calls periodically. The CLI's remove erases at once.
//! Scrubbing overwrites the file's blocks through the file system; on flash behind a translation layer
//! the old physical pages are released to the device, which reclaims them on its own schedule.

mod codec;
mod files;
pub mod fs;
mod manifest;
pub(crate) mod segment;
mod wal;

pub use files::FileKind;
pub use segment::{RowIn, Segment};
pub use wal::RowRef;

use crate::catalog::{Catalog, CatalogOp};
use crate::error::{Error, Result};
use crate::kernels::Kernels;
use crate::template::{check_id, check_model, normalize, DIM_RANGE};
use fs::{Fs, FsFile, StdFs};
use manifest::Manifest;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use wal::WalOp;

/// How to open a store.
#[derive(Clone)]
pub struct OpenOptions {
    fs: Arc<dyn Fs>,
    threads: usize,
    checkpoint_rows: usize,
    erase_within: Duration,
    kernels: Option<Kernels>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            fs: Arc::new(StdFs),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            checkpoint_rows: 16_384,
            erase_within: Duration::from_secs(600),
            kernels: None,
        }
    }
}

impl OpenOptions {
    /// Default options: the real file system, all cores, best SIMD kernel.
    pub fn new() -> Self {
        Self::default()
    }
    /// Uses another file system (tests use [`fs::SimFs`]).
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
    /// Longest time a deleted template's bytes may stay on the flash while the store is in use.
    pub fn erase_within(mut self, d: Duration) -> Self {
        self.erase_within = d;
        self
    }
    /// Forces a SIMD kernel (for tests and benchmarks); default: detected.
    pub fn kernels(mut self, k: Kernels) -> Self {
        self.kernels = Some(k);
        self
    }
}

/// One change in a commit.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Inserts a face template, replacing one with the same (location, user, template) ids.
    PutFace {
        /// Location id.
        location: String,
        /// User id.
        user: String,
        /// Template id.
        template: String,
        /// The embedding as the model produced it (normalised by the store).
        embedding: Vec<f32>,
    },
    /// Removes one template; refused if it does not exist.
    RemoveFace {
        /// Location id.
        location: String,
        /// User id.
        user: String,
        /// Template id.
        template: String,
    },
    /// Removes every template of a user; refused if the user has none.
    RemoveUser {
        /// Location id.
        location: String,
        /// User id.
        user: String,
    },
}

/// Fixed-size bitmap of live rows.
#[derive(Debug, Clone)]
pub(crate) struct Bitmap(Vec<u64>);

impl Bitmap {
    fn full(n: usize) -> Bitmap {
        let mut v = vec![u64::MAX; n.div_ceil(64)];
        if !n.is_multiple_of(64) {
            if let Some(l) = v.last_mut() {
                *l = (1u64 << (n % 64)) - 1;
            }
        }
        Bitmap(v)
    }
    /// True if row `i` is live.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> bool {
        self.0[i / 64] >> (i % 64) & 1 == 1
    }
    fn clear(&mut self, i: usize) -> bool {
        let was = self.get(i);
        self.0[i / 64] &= !(1u64 << (i % 64));
        was
    }
    fn count(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }
}

/// A segment in a snapshot with its live rows.
#[derive(Debug, Clone)]
pub(crate) struct SegState {
    pub(crate) seg: Arc<Segment>,
    pub(crate) live: Arc<Bitmap>,
    pub(crate) live_count: usize,
    /// For in-memory tail blocks: the tail row number of row 0.
    pub(crate) tail_base: Option<u64>,
}

/// An immutable view of the store: what a search sees. Commits publish new snapshots; a search keeps
/// the one it started with, so readers never wait on writers and never see half a commit.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub(crate) dim: usize,
    pub(crate) model: String,
    pub(crate) segs: Vec<SegState>,
    /// Sequence number of the last commit visible here.
    pub(crate) seq: u64,
    /// Users, credentials, rights and sync state, consistent with the templates.
    pub(crate) catalog: Catalog,
}

impl Snapshot {
    /// Live templates.
    pub fn live(&self) -> usize {
        self.segs.iter().map(|s| s.live_count).sum()
    }
    /// Rows held, live or dead.
    pub fn rows(&self) -> usize {
        self.segs.iter().map(|s| s.seg.rows()).sum()
    }
    /// Embedding dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// Face model name.
    pub fn model(&self) -> &str {
        &self.model
    }
    /// Sequence number of the last commit this snapshot includes.
    pub fn seq(&self) -> u64 {
        self.seq
    }
    /// The catalog (users, credentials, rights, schedules, doors, sync state) of this snapshot.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }
    /// Every live template as (location, user, template, normalised embedding), for reference
    /// checks and export.
    pub fn templates(&self) -> impl Iterator<Item = (&str, &str, &str, &[f32])> {
        self.segs.iter().flat_map(|s| {
            (0..s.seg.rows()).filter(|&r| s.live.get(r)).map(move |r| {
                let (l, u, t) = s.seg.row_ids(r);
                (l, u, t, s.seg.vector(r))
            })
        })
    }
}

type Key = (String, String, String);

struct Writer {
    wal: Box<dyn FsFile>,
    wal_len: u64,
    manifest: Manifest,
    /// Next tail row number.
    tail_next: u64,
    /// (location, user, template) → row, built on the first write (opening does not need it).
    keys: Option<BTreeMap<Key, RowRef>>,
    /// Segments whose deletions changed since the manifest was written.
    dirty: HashSet<u64>,
    /// The catalog changed since the manifest was written.
    catalog_dirty: bool,
    /// When the oldest deletion whose bytes are still on the flash happened.
    unerased_since: Option<Instant>,
    /// Files no longer named by the manifest, waiting until no snapshot maps them.
    graveyard: Vec<(Option<Arc<Segment>>, PathBuf)>,
    poisoned: Option<String>,
}

/// Counts and sizes, for `edgeid stats`.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Face model.
    pub model: String,
    /// Embedding dimension.
    pub dim: usize,
    /// Live templates.
    pub live: usize,
    /// Deleted rows not yet compacted away.
    pub dead: usize,
    /// Segment files.
    pub segments: usize,
    /// Rows in the in-memory tail (logged, not yet checkpointed).
    pub tail_rows: usize,
    /// Bytes of segment files.
    pub segment_bytes: u64,
    /// Bytes of the live log.
    pub wal_bytes: u64,
    /// Sequence number of the last commit.
    pub seq: u64,
    /// SIMD kernel in use.
    pub kernel: &'static str,
    /// Files named by the manifest (plus the log).
    pub files: Vec<String>,
}

/// A store directory, open for reading and writing.
pub struct Store {
    dir: PathBuf,
    fs: Arc<dyn Fs>,
    opts: OpenOptions,
    kernels: Kernels,
    pool: Option<rayon::ThreadPool>,
    /// Search threads that have exited (a closed store waits for all of them).
    pool_exited: Arc<(Mutex<usize>, std::sync::Condvar)>,
    current: RwLock<Arc<Snapshot>>,
    /// Replaced snapshots that searches may still hold; freed by the writer (see `publish`).
    retired: Mutex<Vec<Arc<Snapshot>>>,
    writer: Mutex<Writer>,
    _lock: Box<dyn Send + Sync>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.dir.display())
    }
}

impl Drop for Store {
    /// Closing a store stops its search threads and waits (up to 5 s) until they are gone, so an
    /// embedding process (or valgrind) sees no thread of edgeid outlive the store.
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            let n = pool.current_num_threads();
            drop(pool);
            let (count, cv) = &*self.pool_exited;
            let guard = count.lock().unwrap_or_else(|e| e.into_inner());
            let _ = cv.wait_timeout_while(guard, Duration::from_secs(5), |c| *c < n);
        }
    }
}

fn path_of(dir: &Path, k: FileKind) -> PathBuf {
    dir.join(k.name())
}

impl Store {
    /// Creates a new, empty store in `dir` for embeddings of `model` with `dim` dimensions.
    pub fn create(dir: &Path, model: &str, dim: usize, opts: OpenOptions) -> Result<Store> {
        check_model(model)?;
        if !DIM_RANGE.contains(&dim) {
            return Err(Error::Invalid(format!(
                "dimension must be in {DIM_RANGE:?}, got {dim}"
            )));
        }
        let fs = opts.fs.clone();
        fs.create_dir_all(dir)
            .map_err(|e| Error::io("create directory", dir, e))?;
        let lock = fs.lock(dir)?;
        let mpath = path_of(dir, FileKind::Manifest);
        if fs.file_len(&mpath).is_ok() {
            return Err(Error::NoStore(format!(
                "{} already holds a store",
                dir.display()
            )));
        }
        let m = Manifest {
            dim: dim as u32,
            model: model.to_string(),
            last_seq: 0,
            wal_gen: 1,
            next_id: 1,
            catalog: 0,
            segments: Vec::new(),
        };
        let wpath = path_of(dir, FileKind::Wal(1));
        let mut w = fs
            .create(&wpath)
            .map_err(|e| Error::io("create", &wpath, e))?;
        w.append(&wal::header(dim as u32, 1))
            .and_then(|_| w.sync_data())
            .map_err(|e| Error::io("write", &wpath, e))?;
        drop(w);
        write_manifest(&*fs, dir, &m)?;
        drop(lock);
        Store::open(dir, opts)
    }

    /// Opens an existing store: reads the manifest, maps the segments (headers and small tables are
    /// checked; the vectors are not read), and replays the log.
    pub fn open(dir: &Path, opts: OpenOptions) -> Result<Store> {
        let fs = opts.fs.clone();
        let mpath = path_of(dir, FileKind::Manifest);
        if fs.file_len(&mpath).is_err() {
            return Err(Error::NoStore(format!(
                "{} holds no store (no MANIFEST); create one with `edgeid init`",
                dir.display()
            )));
        }
        let lock = fs.lock(dir)?;
        let mbytes = fs.read(&mpath).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::NoStore(format!(
                    "{} holds no store (no MANIFEST); create one with `edgeid init`",
                    dir.display()
                ))
            } else {
                Error::io("read", &mpath, e)
            }
        })?;
        let m = Manifest::decode(&mbytes, &mpath)?;
        let dim = m.dim as usize;

        // Scrub leftovers of interrupted checkpoints: anything the manifest does not name.
        let mut named: HashSet<String> =
            [FileKind::Manifest, FileKind::Lock, FileKind::Wal(m.wal_gen)]
                .iter()
                .map(FileKind::name)
                .collect();
        if m.catalog != 0 {
            named.insert(FileKind::Catalog(m.catalog).name());
        }
        for &(id, del) in &m.segments {
            named.insert(FileKind::Segment(id).name());
            if del != 0 {
                named.insert(
                    FileKind::Deletes {
                        segment: id,
                        generation: del,
                    }
                    .name(),
                );
            }
        }
        let mut scrubbed = false;
        for name in fs.list(dir).map_err(|e| Error::io("list", dir, e))? {
            if FileKind::parse(&name).is_some() && !named.contains(&name) {
                let p = dir.join(&name);
                fs.scrub_remove(&p)
                    .map_err(|e| Error::io("remove", &p, e))?;
                scrubbed = true;
            }
        }
        if scrubbed {
            fs.sync_dir(dir).map_err(|e| Error::io("fsync", dir, e))?;
        }

        let mut segs = Vec::with_capacity(m.segments.len());
        let mut any_dead = false;
        for &(id, del) in &m.segments {
            let p = path_of(dir, FileKind::Segment(id));
            let bytes = fs.map(&p).map_err(|e| Error::io("map", &p, e))?;
            let seg = Segment::open(bytes, &p)?;
            if seg.id() != id || seg.dim() != dim || seg.model() != m.model {
                return Err(Error::corrupt(
                    &p,
                    format!(
                        "segment says id {} model {} dim {}, manifest says id {id} model {} dim {dim}",
                        seg.id(),
                        seg.model(),
                        seg.dim(),
                        m.model
                    ),
                ));
            }
            let mut live = Bitmap::full(seg.rows());
            if del != 0 {
                let dp = path_of(
                    dir,
                    FileKind::Deletes {
                        segment: id,
                        generation: del,
                    },
                );
                let b = fs.read(&dp).map_err(|e| Error::io("read", &dp, e))?;
                for r in manifest::decode_deletes(&b, id, seg.rows(), &dp)? {
                    live.clear(r as usize);
                }
                any_dead = true;
            }
            segs.push(SegState {
                live_count: live.count(),
                live: Arc::new(live),
                seg: Arc::new(seg),
                tail_base: None,
            });
        }
        let catalog = if m.catalog != 0 {
            let p = path_of(dir, FileKind::Catalog(m.catalog));
            let b = fs.read(&p).map_err(|e| Error::io("read", &p, e))?;
            Catalog::decode(&b, &p)?
        } else {
            Catalog::default()
        };
        let mut snap = Snapshot {
            dim,
            model: m.model.clone(),
            segs,
            seq: m.last_seq,
            catalog,
        };

        // Replay the log into the in-memory tail; cut a torn tail.
        let wpath = path_of(dir, FileKind::Wal(m.wal_gen));
        let wbytes = fs.read(&wpath).map_err(|e| Error::io("read", &wpath, e))?;
        let replay = wal::replay(&wbytes, dim, m.wal_gen, &wpath)?;
        let mut wal = fs
            .open_append(&wpath)
            .map_err(|e| Error::io("open", &wpath, e))?;
        if replay.valid_len < wbytes.len() as u64 {
            wal.truncate(replay.valid_len)
                .and_then(|_| wal.sync_data())
                .map_err(|e| Error::io("truncate torn tail of", &wpath, e))?;
        }
        let mut tail_next = 0u64;
        let mut dirty = HashSet::new();
        let mut catalog_dirty = false;
        for (seq, ops) in &replay.records {
            any_dead |= ops.iter().any(|o| matches!(o, WalOp::Kill(_)));
            catalog_dirty |= ops.iter().any(|o| matches!(o, WalOp::Catalog(_)));
            apply_ops(&mut snap, &m.model, ops, &mut tail_next, &mut dirty, None)?;
            snap.seq = *seq;
        }
        let kernels = opts.kernels.unwrap_or_else(Kernels::detect);
        let exited = Arc::new((Mutex::new(0usize), std::sync::Condvar::new()));
        let pool = if opts.threads > 1 {
            let ex = exited.clone();
            Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(opts.threads)
                    .thread_name(|i| format!("edgeid-search-{i}"))
                    .exit_handler(move |_| {
                        let (n, cv) = &*ex;
                        *n.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                        cv.notify_all();
                    })
                    .build()
                    .map_err(|e| Error::Invalid(format!("cannot start search threads: {e}")))?,
            )
        } else {
            None
        };
        Ok(Store {
            dir: dir.to_path_buf(),
            fs,
            kernels,
            pool,
            pool_exited: exited,
            current: RwLock::new(Arc::new(snap)),
            retired: Mutex::new(Vec::new()),
            writer: Mutex::new(Writer {
                wal,
                wal_len: replay.valid_len,
                manifest: m,
                tail_next,
                keys: None,
                dirty,
                catalog_dirty,
                unerased_since: any_dead.then(Instant::now),
                graveyard: Vec::new(),
                poisoned: None,
            }),
            opts,
            _lock: lock,
        })
    }

    /// The current snapshot (cheap: an `Arc` clone).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The SIMD kernels in use.
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    /// The search thread pool (None: searches run on the calling thread).
    pub(crate) fn pool(&self) -> Option<&rayon::ThreadPool> {
        self.pool.as_ref()
    }

    /// Store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn writer(&self) -> Result<std::sync::MutexGuard<'_, Writer>> {
        let w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = &w.poisoned {
            return Err(Error::Poisoned(p.clone()));
        }
        Ok(w)
    }

    fn publish(&self, snap: Snapshot) {
        let old = std::mem::replace(
            &mut *self.current.write().unwrap_or_else(|e| e.into_inner()),
            Arc::new(snap),
        );
        // A search still running on the old snapshot must not be the one that frees it (hundreds
        // of MB after a full synchronisation): retired snapshots are freed here, by the writer, once
        // no search holds them.
        let mut retired = self.retired.lock().unwrap_or_else(|e| e.into_inner());
        retired.push(old);
        retired.retain(|s| Arc::strong_count(s) > 1);
    }

    /// Applies a batch of changes as one atomic, durable commit: all or nothing, durable when this
    /// returns (one log append + one fdatasync), visible to the next search. Returns the commit's
    /// sequence number. Invalid input is refused before anything is written.
    pub fn commit(&self, changes: &[Change]) -> Result<u64> {
        let dim = self.snapshot().dim;
        // Validate everything first: nothing is written for a refused batch.
        let mut normalized: Vec<Option<Vec<f32>>> = Vec::with_capacity(changes.len());
        for (i, c) in changes.iter().enumerate() {
            let at = |e: Error| Error::Invalid(format!("change {i}: {}", strip_invalid(&e)));
            let (location, user, template) = match c {
                Change::PutFace {
                    location,
                    user,
                    template,
                    ..
                }
                | Change::RemoveFace {
                    location,
                    user,
                    template,
                } => (location, user, Some(template)),
                Change::RemoveUser { location, user } => (location, user, None),
            };
            check_id("location", location).map_err(at)?;
            check_id("user", user).map_err(at)?;
            if let Some(t) = template {
                check_id("template", t).map_err(at)?;
            }
            normalized.push(match c {
                Change::PutFace { embedding, .. } => Some(normalize(embedding, dim).map_err(at)?),
                _ => None,
            });
        }
        self.commit_plan(|p| {
            for (i, (c, v)) in changes.iter().zip(normalized).enumerate() {
                match c {
                    Change::PutFace {
                        location,
                        user,
                        template,
                        ..
                    } => p.put_face(location, user, template, v.expect("validated")),
                    Change::RemoveFace {
                        location,
                        user,
                        template,
                    } => {
                        if !p.remove_face(location, user, template) {
                            return Err(Error::NotFound(format!(
                                "change {i}: template {template:?} of user {user:?} at {location:?}"
                            )));
                        }
                    }
                    Change::RemoveUser { location, user } => {
                        if p.remove_user_faces(location, user) == 0 {
                            return Err(Error::NotFound(format!(
                                "change {i}: user {user:?} at {location:?} has no templates"
                            )));
                        }
                    }
                }
            }
            Ok(())
        })
    }

    /// Runs `plan` against the current state under the writer lock, then commits what it decided
    /// as one log record. A plan that fails, or decides nothing, writes nothing.
    pub(crate) fn commit_plan(
        &self,
        plan: impl FnOnce(&mut Planner<'_>) -> Result<()>,
    ) -> Result<u64> {
        let mut w = self.writer()?;
        let snap = self.snapshot();
        if w.keys.is_none() {
            w.keys = Some(build_keys(&snap));
        }
        let mut p = Planner {
            snap: &snap,
            keys: w.keys.as_ref().expect("built above"),
            overlay: BTreeMap::new(),
            ops: Vec::new(),
            next: w.tail_next,
            catalog: snap.catalog.clone(),
        };
        plan(&mut p)?;
        let Planner {
            overlay,
            ops,
            catalog,
            ..
        } = p;
        if ops.is_empty() {
            return Ok(snap.seq);
        }
        let seq = snap.seq + 1;
        self.log(&mut w, seq, &ops)?;

        // Durable: apply in memory and publish.
        let mut new = (*snap).clone();
        let mut tail_next = w.tail_next;
        let mut dirty = std::mem::take(&mut w.dirty);
        apply_ops(
            &mut new,
            &snap.model,
            &ops,
            &mut tail_next,
            &mut dirty,
            Some(catalog),
        )
        .expect("ops resolved against this snapshot");
        new.seq = seq;
        w.dirty = dirty;
        w.tail_next = tail_next;
        w.catalog_dirty |= ops.iter().any(|o| matches!(o, WalOp::Catalog(_)));
        let keys = w.keys.as_mut().expect("built above");
        for (k, v) in overlay {
            match v {
                Some(r) => keys.insert(k, r),
                None => keys.remove(&k),
            };
        }
        if ops.iter().any(|o| matches!(o, WalOp::Kill(_))) && w.unerased_since.is_none() {
            w.unerased_since = Some(Instant::now());
        }
        let tail_rows = tail_rows(&new);
        self.publish(new);
        drop(snap); // release the old snapshot so housekeeping can scrub what only it mapped

        // Housekeeping after the commit is durable; its failures do not undo the commit.
        if tail_rows >= self.opts.checkpoint_rows {
            self.checkpoint_locked(&mut w)?;
        }
        if w.unerased_since
            .is_some_and(|t| t.elapsed() >= self.opts.erase_within)
        {
            self.erase_locked(&mut w)?;
        }
        self.reap(&mut w);
        Ok(seq)
    }

    /// Appends and syncs one record; on failure the log is cut back (or the store poisoned).
    fn log(&self, w: &mut Writer, seq: u64, ops: &[WalOp]) -> Result<()> {
        let rec = wal::encode_record(seq, ops);
        let wpath = path_of(&self.dir, FileKind::Wal(w.manifest.wal_gen));
        if let Err(e) = w.wal.append(&rec) {
            // A refused append (e.g. disk full) is undone so the log stays a sequence of whole records.
            if let Err(t) = w.wal.truncate(w.wal_len) {
                w.poisoned = Some(format!("cannot cut back {}: {t}", wpath.display()));
            }
            return Err(Error::io("append", &wpath, e));
        }
        if let Err(e) = w.wal.sync_data() {
            // After a failed fsync the file's state is unknown: latch.
            w.poisoned = Some(format!("fdatasync {}: {e}", wpath.display()));
            return Err(Error::io("fdatasync", &wpath, e));
        }
        w.wal_len += rec.len() as u64;
        Ok(())
    }

    /// Writes the tail and changed deletion lists to new files and switches the manifest (see the
    /// module docs). Afterwards the log is empty.
    pub fn checkpoint(&self) -> Result<()> {
        let mut w = self.writer()?;
        self.checkpoint_locked(&mut w)?;
        self.reap(&mut w);
        Ok(())
    }

    fn checkpoint_locked(&self, w: &mut Writer) -> Result<()> {
        let r = self.rewrite(w, false);
        if let Err(e) = &r {
            if !matches!(e, Error::StorageFull { .. }) {
                w.poisoned = Some(format!("checkpoint failed: {e}"));
            }
        }
        r
    }

    /// Rewrites the store's files: the tail becomes a segment; with `compact`, every segment with dead
    /// rows is merged with it into one new segment.
    fn rewrite(&self, w: &mut Writer, compact: bool) -> Result<()> {
        let snap = self.snapshot();
        let has_tail = snap.segs.iter().any(|s| s.tail_base.is_some());
        let log_used = w.wal_len > wal::HEADER_LEN;
        let to_merge: Vec<usize> = snap
            .segs
            .iter()
            .enumerate()
            .filter(|(_, s)| s.tail_base.is_some() || (compact && s.live_count < s.seg.rows()))
            .map(|(i, _)| i)
            .collect();
        if !has_tail && !log_used && to_merge.is_empty() && w.dirty.is_empty() && !w.catalog_dirty {
            return Ok(());
        }
        let fs = &*self.fs;
        let dir = &self.dir;
        let mut m = w.manifest.clone();
        let mut obsolete: Vec<(Option<Arc<Segment>>, PathBuf)> = Vec::new();
        let mut new_segs: Vec<SegState> = Vec::new();
        let mut moved: HashMap<RowRef, RowRef> = HashMap::new();
        let merge: HashSet<usize> = to_merge.iter().copied().collect();

        // 1. The merged segment (live rows of the tail and of segments being compacted).
        let mut rows_in = Vec::new();
        let mut sources = Vec::new();
        for &i in &to_merge {
            let s = &snap.segs[i];
            for r in 0..s.seg.rows() {
                if s.live.get(r) {
                    rows_in.push(RowIn::of(&s.seg, r));
                    sources.push(match s.tail_base {
                        Some(b) => RowRef::Tail(b + r as u64),
                        None => RowRef::Seg {
                            id: s.seg.id(),
                            row: r as u32,
                        },
                    });
                }
            }
        }
        let mut merged: Option<SegState> = None;
        if !rows_in.is_empty() {
            let id = m.next_id;
            m.next_id += 1;
            let bytes = segment::encode(id, &snap.model, snap.dim, &rows_in);
            let p = path_of(dir, FileKind::Segment(id));
            write_file(fs, &p, &bytes)?;
            let seg = Segment::open(fs.map(&p).map_err(|e| Error::io("map", &p, e))?, &p)?;
            for (row, src) in sources.iter().enumerate() {
                moved.insert(
                    *src,
                    RowRef::Seg {
                        id,
                        row: row as u32,
                    },
                );
            }
            merged = Some(SegState {
                live: Arc::new(Bitmap::full(seg.rows())),
                live_count: seg.rows(),
                seg: Arc::new(seg),
                tail_base: None,
            });
        }

        // 2. Kept segments: write new deletion files where deletions changed.
        m.segments.clear();
        for (i, s) in snap.segs.iter().enumerate() {
            if s.tail_base.is_some() {
                continue;
            }
            let id = s.seg.id();
            let old_del = w
                .manifest
                .segments
                .iter()
                .find(|e| e.0 == id)
                .map_or(0, |e| e.1);
            let old_del_path = (old_del != 0).then(|| {
                path_of(
                    dir,
                    FileKind::Deletes {
                        segment: id,
                        generation: old_del,
                    },
                )
            });
            if merge.contains(&i) || s.live_count == 0 {
                obsolete.push((Some(s.seg.clone()), path_of(dir, FileKind::Segment(id))));
                obsolete.extend(old_del_path.map(|p| (None, p)));
                continue;
            }
            let mut del = old_del;
            if w.dirty.contains(&id) {
                let dead: Vec<u32> = (0..s.seg.rows())
                    .filter(|&r| !s.live.get(r))
                    .map(|r| r as u32)
                    .collect();
                del = m.next_id;
                m.next_id += 1;
                let p = path_of(
                    dir,
                    FileKind::Deletes {
                        segment: id,
                        generation: del,
                    },
                );
                write_file(fs, &p, &manifest::encode_deletes(id, &dead))?;
                obsolete.extend(old_del_path.map(|p| (None, p)));
            }
            m.segments.push((id, del));
            new_segs.push(s.clone());
        }
        if let Some(ms) = merged {
            m.segments.push((ms.seg.id(), 0));
            new_segs.push(ms);
        }

        // 3. The catalog, when it changed (it holds code hashes and fingerprints: the old file is
        //    scrubbed like any other).
        if w.catalog_dirty {
            if m.catalog != 0 {
                obsolete.push((None, path_of(dir, FileKind::Catalog(m.catalog))));
            }
            m.catalog = 0;
            if !snap.catalog.locations.is_empty() {
                let id = m.next_id;
                m.next_id += 1;
                let p = path_of(dir, FileKind::Catalog(id));
                write_file(fs, &p, &snap.catalog.encode())?;
                m.catalog = id;
            }
        }

        // 4. The next log, then the manifest switch.
        let old_wal = path_of(dir, FileKind::Wal(m.wal_gen));
        m.wal_gen += 1;
        m.last_seq = snap.seq;
        let wpath = path_of(dir, FileKind::Wal(m.wal_gen));
        let mut wal = fs
            .create(&wpath)
            .map_err(|e| Error::io("create", &wpath, e))?;
        wal.append(&wal::header(snap.dim as u32, m.wal_gen))
            .and_then(|_| wal.sync_data())
            .map_err(|e| Error::io("write", &wpath, e))?;
        write_manifest(fs, dir, &m)?;
        obsolete.push((None, old_wal));

        // 5. Switch in memory.
        if let Some(keys) = w.keys.as_mut() {
            for v in keys.values_mut() {
                if let Some(n) = moved.get(v) {
                    *v = *n;
                }
            }
        }
        w.wal = wal;
        w.wal_len = wal::HEADER_LEN;
        w.manifest = m;
        w.tail_next = 0;
        w.dirty.clear();
        w.catalog_dirty = false;
        if compact {
            w.unerased_since = None;
        }
        w.graveyard.extend(obsolete);
        let mut new = (*snap).clone();
        new.segs = new_segs;
        self.publish(new);
        Ok(())
    }

    /// Scrubs and removes obsolete files that no snapshot maps any more.
    fn reap(&self, w: &mut Writer) {
        self.retired
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|s| Arc::strong_count(s) > 1);
        let mut keep = Vec::new();
        let mut removed = false;
        for (seg, p) in std::mem::take(&mut w.graveyard) {
            if seg.as_ref().is_some_and(|s| Arc::strong_count(s) > 1) {
                keep.push((seg, p));
                continue;
            }
            drop(seg);
            match self.fs.scrub_remove(&p) {
                Ok(()) => removed = true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(_) => keep.push((None, p)),
            }
        }
        if removed {
            let _ = self.fs.sync_dir(&self.dir);
        }
        w.graveyard = keep;
    }

    /// Compacts: checkpoints the tail and rewrites every segment with deleted rows, so dead rows stop
    /// costing scan time and their bytes leave the flash. Searches continue meanwhile.
    pub fn compact(&self) -> Result<()> {
        let mut w = self.writer()?;
        self.erase_locked(&mut w)?;
        self.reap(&mut w);
        Ok(())
    }

    fn erase_locked(&self, w: &mut Writer) -> Result<()> {
        let r = self.rewrite(w, true);
        if let Err(e) = &r {
            if !matches!(e, Error::StorageFull { .. }) {
                w.poisoned = Some(format!("compaction failed: {e}"));
            }
        }
        r
    }

    /// Erases deleted templates' bytes now (checkpoint + compaction + scrubbing). Returns how many
    /// obsolete files are still mapped by running searches (scrubbed at a later commit or maintain).
    pub fn erase_deleted(&self) -> Result<usize> {
        let mut w = self.writer()?;
        self.erase_locked(&mut w)?;
        self.reap(&mut w);
        Ok(w.graveyard.len())
    }

    /// Periodic housekeeping for a long-running terminal process: erases deleted templates when the
    /// oldest deletion is due, checkpoints a large tail and scrubs released files.
    pub fn maintain(&self) -> Result<()> {
        let mut w = self.writer()?;
        if w.unerased_since
            .is_some_and(|t| t.elapsed() >= self.opts.erase_within)
        {
            self.erase_locked(&mut w)?;
        } else if tail_rows(&self.snapshot()) >= self.opts.checkpoint_rows {
            self.checkpoint_locked(&mut w)?;
        }
        self.reap(&mut w);
        Ok(())
    }

    /// Reads every byte of every segment and checks all checksums.
    pub fn verify_checksums(&self) -> Result<usize> {
        let snap = self.snapshot();
        let mut n = 0;
        for s in &snap.segs {
            s.seg.verify_payload()?;
            n += 1;
        }
        Ok(n)
    }

    /// Counts, sizes and the kernel in use.
    pub fn stats(&self) -> Stats {
        let snap = self.snapshot();
        let w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut files = vec![
            FileKind::Manifest.name(),
            FileKind::Wal(w.manifest.wal_gen).name(),
        ];
        for &(id, del) in &w.manifest.segments {
            files.push(FileKind::Segment(id).name());
            if del != 0 {
                files.push(
                    FileKind::Deletes {
                        segment: id,
                        generation: del,
                    }
                    .name(),
                );
            }
        }
        Stats {
            model: snap.model.clone(),
            dim: snap.dim,
            live: snap.live(),
            dead: snap.rows() - snap.live(),
            segments: snap.segs.iter().filter(|s| s.tail_base.is_none()).count(),
            tail_rows: tail_rows(&snap),
            segment_bytes: snap
                .segs
                .iter()
                .filter(|s| s.tail_base.is_none())
                .map(|s| s.seg.byte_len() as u64)
                .sum(),
            wal_bytes: w.wal_len,
            seq: snap.seq,
            kernel: self.kernels.name,
            files,
        }
    }
}

/// What a commit is going to do, decided under the writer lock against the current state: face
/// changes resolved to physical rows, and catalog changes applied to a working copy (so a plan can
/// validate against the state it produces, e.g. duplicate cards across users).
pub(crate) struct Planner<'a> {
    snap: &'a Snapshot,
    keys: &'a BTreeMap<Key, RowRef>,
    overlay: BTreeMap<Key, Option<RowRef>>,
    ops: Vec<WalOp>,
    next: u64,
    catalog: Catalog,
}

impl Planner<'_> {
    /// The catalog as the plan has changed it so far.
    pub(crate) fn catalog(&self) -> &Catalog {
        &self.catalog
    }
    /// Logs a catalog change and applies it to the working copy.
    pub(crate) fn apply_catalog(&mut self, op: CatalogOp) {
        self.catalog.apply(&op);
        self.ops.push(WalOp::Catalog(
            postcard::to_allocvec(&op).expect("catalog op serialises"),
        ));
    }
    fn lookup(&self, k: &Key) -> Option<RowRef> {
        match self.overlay.get(k) {
            Some(v) => *v,
            None => self.keys.get(k).copied(),
        }
    }
    /// Inserts or replaces a template (`v` normalised). Re-putting an identical embedding is a no-op.
    pub(crate) fn put_face(&mut self, location: &str, user: &str, template: &str, v: Vec<f32>) {
        let k = (location.to_string(), user.to_string(), template.to_string());
        if let Some(old) = self.lookup(&k) {
            if let Some((i, row)) = locate(self.snap, old) {
                if self.snap.segs[i].live.get(row) && self.snap.segs[i].seg.vector(row) == v {
                    return;
                }
            }
            self.ops.push(WalOp::Kill(old));
        }
        self.ops.push(WalOp::Insert {
            location: k.0.clone(),
            user: k.1.clone(),
            template: k.2.clone(),
            vector: v,
        });
        self.overlay.insert(k, Some(RowRef::Tail(self.next)));
        self.next += 1;
    }
    /// Removes a template; false if it does not exist.
    pub(crate) fn remove_face(&mut self, location: &str, user: &str, template: &str) -> bool {
        let k = (location.to_string(), user.to_string(), template.to_string());
        match self.lookup(&k) {
            Some(old) => {
                self.ops.push(WalOp::Kill(old));
                self.overlay.insert(k, None);
                true
            }
            None => false,
        }
    }
    /// Template ids of a user, as the plan has changed them so far.
    pub(crate) fn face_templates(&self, location: &str, user: &str) -> Vec<String> {
        let lo = (location.to_string(), user.to_string(), String::new());
        let mut ids: Vec<String> = self
            .keys
            .range(lo.clone()..)
            .take_while(|(k, _)| k.0 == location && k.1 == user)
            .map(|(k, _)| k.2.clone())
            .chain(
                self.overlay
                    .range(lo..)
                    .take_while(|(k, _)| k.0 == location && k.1 == user)
                    .map(|(k, _)| k.2.clone()),
            )
            .collect();
        ids.sort();
        ids.dedup();
        ids.retain(|t| {
            self.lookup(&(location.to_string(), user.to_string(), t.clone()))
                .is_some()
        });
        ids
    }
    /// (user, template) of every template at a location, as the plan has changed them so far.
    pub(crate) fn faces_at(&self, location: &str) -> Vec<(String, String)> {
        let lo = (location.to_string(), String::new(), String::new());
        let mut ids: Vec<(String, String)> = self
            .keys
            .range(lo.clone()..)
            .take_while(|(k, _)| k.0 == location)
            .map(|(k, _)| (k.1.clone(), k.2.clone()))
            .chain(
                self.overlay
                    .range(lo..)
                    .take_while(|(k, _)| k.0 == location)
                    .map(|(k, _)| (k.1.clone(), k.2.clone())),
            )
            .collect();
        ids.sort();
        ids.dedup();
        ids.retain(|(u, t)| {
            self.lookup(&(location.to_string(), u.clone(), t.clone()))
                .is_some()
        });
        ids
    }
    /// Removes every template of a user; returns how many.
    pub(crate) fn remove_user_faces(&mut self, location: &str, user: &str) -> usize {
        let ids = self.face_templates(location, user);
        for t in &ids {
            self.remove_face(location, user, t);
        }
        ids.len()
    }
}

fn strip_invalid(e: &Error) -> String {
    match e {
        Error::Invalid(s) => s.clone(),
        other => other.to_string(),
    }
}

fn tail_rows(s: &Snapshot) -> usize {
    s.segs
        .iter()
        .filter(|s| s.tail_base.is_some())
        .map(|s| s.seg.rows())
        .sum()
}

fn build_keys(snap: &Snapshot) -> BTreeMap<Key, RowRef> {
    let mut keys = BTreeMap::new();
    for s in &snap.segs {
        for r in 0..s.seg.rows() {
            if s.live.get(r) {
                let (l, u, t) = s.seg.row_ids(r);
                let rr = match s.tail_base {
                    Some(b) => RowRef::Tail(b + r as u64),
                    None => RowRef::Seg {
                        id: s.seg.id(),
                        row: r as u32,
                    },
                };
                keys.insert((l.to_string(), u.to_string(), t.to_string()), rr);
            }
        }
    }
    keys
}

/// Applies logged ops to a snapshot: kills clear live bits (copy-on-write per segment), inserts form
/// a new in-memory tail block; tail blocks are merged like a binary counter so there are O(log n).
fn apply_ops(
    snap: &mut Snapshot,
    model: &str,
    ops: &[WalOp],
    tail_next: &mut u64,
    dirty: &mut HashSet<u64>,
    catalog: Option<Catalog>,
) -> Result<()> {
    let applied = catalog.is_some();
    if let Some(c) = catalog {
        snap.catalog = c;
    }
    let mut inserts = Vec::new();
    let mut killed_new = Vec::new();
    for op in ops {
        match op {
            WalOp::Kill(RowRef::Tail(n)) if *n >= *tail_next => {
                // A row inserted earlier in this same batch (e.g. a template put twice).
                killed_new.push((*n - *tail_next) as usize);
            }
            WalOp::Kill(r) => {
                let (i, row) = locate(snap, *r).ok_or_else(|| {
                    Error::corrupt("write-ahead log", format!("deletes unknown row {r:?}"))
                })?;
                let s = &mut snap.segs[i];
                if Arc::make_mut(&mut s.live).clear(row) {
                    s.live_count -= 1;
                }
                if s.tail_base.is_none() {
                    dirty.insert(s.seg.id());
                }
            }
            WalOp::Catalog(bytes) => {
                if !applied {
                    let op: CatalogOp = postcard::from_bytes(bytes).map_err(|e| {
                        Error::corrupt("write-ahead log", format!("catalog op: {e}"))
                    })?;
                    snap.catalog.apply(&op);
                }
            }
            WalOp::Insert {
                location,
                user,
                template,
                vector,
            } => {
                if vector.len() != snap.dim {
                    return Err(Error::corrupt(
                        "write-ahead log",
                        "insert of wrong dimension",
                    ));
                }
                inserts.push(RowIn {
                    location,
                    user,
                    template,
                    vector,
                    from: None,
                });
            }
        }
    }
    if !inserts.is_empty() {
        let base = *tail_next;
        *tail_next += inserts.len() as u64;
        let mut block = tail_block(model, snap.dim, base, &inserts);
        let live = Arc::make_mut(&mut block.live);
        for r in killed_new {
            if r < inserts.len() && live.clear(r) {
                block.live_count -= 1;
            }
        }
        snap.segs.push(block);
        // Merge the newest tail blocks while the older is not more than twice the newer.
        loop {
            let n = snap.segs.len();
            if n < 2 {
                break;
            }
            let (a, b) = (&snap.segs[n - 2], &snap.segs[n - 1]);
            if a.tail_base.is_none() || a.seg.rows() > 2 * b.seg.rows() {
                break;
            }
            let merged = merge_tail(model, snap.dim, a, b);
            snap.segs.truncate(n - 2);
            snap.segs.push(merged);
        }
    }
    Ok(())
}

fn tail_block(model: &str, dim: usize, base: u64, rows: &[RowIn<'_>]) -> SegState {
    let bytes = segment::encode(base, model, dim, rows);
    let seg = Segment::open(crate::mmap::Bytes::copy_from(&bytes), Path::new("(tail)"))
        .expect("freshly encoded segment is valid");
    SegState {
        live: Arc::new(Bitmap::full(seg.rows())),
        live_count: seg.rows(),
        seg: Arc::new(seg),
        tail_base: Some(base),
    }
}

/// Merges two adjacent tail blocks, keeping row numbering (dead rows are kept, marked dead).
fn merge_tail(model: &str, dim: usize, a: &SegState, b: &SegState) -> SegState {
    let mut rows = Vec::with_capacity(a.seg.rows() + b.seg.rows());
    let mut live = Vec::with_capacity(rows.capacity());
    for s in [a, b] {
        for r in 0..s.seg.rows() {
            rows.push(RowIn::of(&s.seg, r));
            live.push(s.live.get(r));
        }
    }
    let mut st = tail_block(model, dim, a.tail_base.expect("tail"), &rows);
    let bm = Arc::make_mut(&mut st.live);
    for (i, l) in live.iter().enumerate() {
        if !l {
            bm.clear(i);
        }
    }
    st.live_count = bm.count();
    st
}

fn locate(snap: &Snapshot, r: RowRef) -> Option<(usize, usize)> {
    match r {
        RowRef::Seg { id, row } => snap
            .segs
            .iter()
            .position(|s| s.tail_base.is_none() && s.seg.id() == id)
            .filter(|&i| (row as usize) < snap.segs[i].seg.rows())
            .map(|i| (i, row as usize)),
        RowRef::Tail(n) => snap
            .segs
            .iter()
            .position(|s| {
                s.tail_base
                    .is_some_and(|b| n >= b && n < b + s.seg.rows() as u64)
            })
            .map(|i| (i, (n - snap.segs[i].tail_base.unwrap_or(0)) as usize)),
    }
}

/// Writes a new file completely and fsyncs it.
fn write_file(fs: &dyn Fs, p: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = fs.create(p).map_err(|e| Error::io("create", p, e))?;
    let r = f.append(bytes).map_err(|e| Error::io("write", p, e));
    let r = r.and_then(|_| f.sync_data().map_err(|e| Error::io("fsync", p, e)));
    if r.is_err() {
        drop(f);
        let _ = fs.scrub_remove(p);
    }
    r
}

/// Manifest switch: write-temp, fsync, fsync dir (the new files it names), rename, fsync dir.
fn write_manifest(fs: &dyn Fs, dir: &Path, m: &Manifest) -> Result<()> {
    fs.sync_dir(dir).map_err(|e| Error::io("fsync", dir, e))?;
    let tmp = path_of(dir, FileKind::ManifestTmp);
    if fs.file_len(&tmp).is_ok() {
        fs.scrub_remove(&tmp)
            .map_err(|e| Error::io("remove", &tmp, e))?;
    }
    write_file(fs, &tmp, &m.encode())?;
    let dst = path_of(dir, FileKind::Manifest);
    fs.rename(&tmp, &dst)
        .map_err(|e| Error::io("rename", &dst, e))?;
    fs.sync_dir(dir).map_err(|e| Error::io("fsync", dir, e))
}
