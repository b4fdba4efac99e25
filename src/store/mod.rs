//! The template store: the terminal's single source of truth, in one directory on its flash.
//!
//! # Layout and commit protocol
//! - `LOCK` — held (flock) by the one writer process.
//! - `MANIFEST` — names the live segments, their deletion files and the live log (see `manifest`).
//! - `wal-<gen>.log` — the write-ahead log (see `wal`). **A commit** validates the whole batch, resolves
//!   deletes to physical rows, appends one checksummed record and fdatasyncs it. Only then is the change
//!   applied in memory and published as a new [`Snapshot`]. A crash before the fdatasync completes loses
//!   the commit (the torn record is discarded on replay); after it, replay restores it.
//! - `seg-<id>.seg` — immutable face segments (see `segment`), `fng-<id>.fsg` — immutable finger
//!   segments (see `fsegment`), `seg-<id>-<gen>.del` — the deleted rows of either.
//!
//! Faces and fingers are two indexes kept the same way (segments, deletion files, an in-memory tail
//! replayed from the log), committed by the same log records and checkpointed by the same manifest
//! switch, so one commit can change both atomically (a synchronised user with face and fingers).
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
mod fsegment;
mod manifest;
pub(crate) mod segment;
mod wal;

pub use files::FileKind;
pub use fsegment::{FingerRowIn, FingerSegment};
pub use segment::{RowIn, Segment};
pub use wal::RowRef;

use crate::catalog::{Catalog, CatalogOp};
use crate::error::{Error, Result};
use crate::finger::enroll::prepare_record;
use crate::finger::prefilter::Frequencies;
use crate::finger::template::VERSION as TEMPLATE_VERSION;
use crate::finger::{Format, TemplateRef};
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
    checkpoint_fingers: usize,
    erase_within: Duration,
    kernels: Option<Kernels>,
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
    /// Finger tail rows that trigger a checkpoint (default 2,048: prepared templates are about 12 KB,
    /// so the tail stays near 25 MB of RAM and of log).
    pub fn checkpoint_fingers(mut self, n: usize) -> Self {
        self.checkpoint_fingers = n.max(1);
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
    /// Enrols a fingerprint from a minutiae record, replacing a template with the same (location,
    /// user, template) ids. The store parses the record strictly, prepares it for the matcher and
    /// keeps both (see `fsegment` for why); a record it cannot read refuses the commit.
    PutFinger {
        /// Location id.
        location: String,
        /// User id.
        user: String,
        /// Template id.
        template: String,
        /// The minutiae record (ISO/IEC 19794-2:2005 or 2011, ANSI/INCITS 378-2004, ISO card).
        record: Vec<u8>,
        /// Its format; `None` detects it from the header (card formats must be named).
        format: Option<Format>,
        /// Finger position (ISO/IEC 19794-2 code: 0 unknown, 1 right thumb … 10 left little): picks
        /// the view of a record with several and is recorded for card formats; `None` takes the
        /// record's.
        position: Option<u8>,
    },
    /// Removes one fingerprint template; refused if it does not exist.
    RemoveFinger {
        /// Location id.
        location: String,
        /// User id.
        user: String,
        /// Template id.
        template: String,
    },
    /// Removes every face and fingerprint template of a user; refused if the user has none.
    RemoveUser {
        /// Location id.
        location: String,
        /// User id.
        user: String,
    },
    /// Removes every face template of a user (fingerprints stay); refused if the user has none.
    RemoveUserFaces {
        /// Location id.
        location: String,
        /// User id.
        user: String,
    },
    /// Removes every fingerprint template of a user (faces stay); refused if the user has none.
    RemoveUserFingers {
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

/// What the store's bookkeeping needs of a segment, face or finger.
pub(crate) trait Rows {
    /// Segment id (for the tail: the tail row number of row 0).
    fn id(&self) -> u64;
    /// Rows, live or dead.
    fn rows(&self) -> usize;
    /// (location, user, template) of a row.
    fn row_ids(&self, r: usize) -> (&str, &str, &str);
    /// Reads every byte and checks the bulk checksum.
    fn verify_payload(&self) -> Result<()>;
}

impl Rows for Segment {
    fn id(&self) -> u64 {
        Segment::id(self)
    }
    fn rows(&self) -> usize {
        Segment::rows(self)
    }
    fn row_ids(&self, r: usize) -> (&str, &str, &str) {
        Segment::row_ids(self, r)
    }
    fn verify_payload(&self) -> Result<()> {
        Segment::verify_payload(self)
    }
}

impl Rows for FingerSegment {
    fn id(&self) -> u64 {
        FingerSegment::id(self)
    }
    fn rows(&self) -> usize {
        FingerSegment::rows(self)
    }
    fn row_ids(&self, r: usize) -> (&str, &str, &str) {
        FingerSegment::row_ids(self, r)
    }
    fn verify_payload(&self) -> Result<()> {
        FingerSegment::verify_payload(self)
    }
}

/// A segment in a snapshot with its live rows.
#[derive(Debug)]
pub(crate) struct SegState<S = Segment> {
    pub(crate) seg: Arc<S>,
    pub(crate) live: Arc<Bitmap>,
    pub(crate) live_count: usize,
    /// For in-memory tail blocks: the tail row number of row 0.
    pub(crate) tail_base: Option<u64>,
}

impl<S> Clone for SegState<S> {
    fn clone(&self) -> Self {
        SegState {
            seg: self.seg.clone(),
            live: self.live.clone(),
            live_count: self.live_count,
            tail_base: self.tail_base,
        }
    }
}

/// An immutable view of the store: what a search sees. Commits publish new snapshots; a search keeps
/// the one it started with, so readers never wait on writers and never see half a commit.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub(crate) dim: usize,
    pub(crate) model: String,
    pub(crate) segs: Vec<SegState>,
    /// Finger segments and tail blocks.
    pub(crate) fingers: Vec<SegState<FingerSegment>>,
    /// Prefilter key frequencies over the live finger templates.
    pub(crate) finger_freq: Arc<Frequencies>,
    /// Sequence number of the last commit visible here.
    pub(crate) seq: u64,
    /// Users, credentials, rights and sync state, consistent with the templates.
    pub(crate) catalog: Catalog,
}

impl Snapshot {
    /// Live face templates.
    pub fn live(&self) -> usize {
        self.segs.iter().map(|s| s.live_count).sum()
    }
    /// Live fingerprint templates.
    pub fn live_fingers(&self) -> usize {
        self.fingers.iter().map(|s| s.live_count).sum()
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
    /// Prefilter key frequencies over the live fingerprint templates (kept current by every commit).
    pub fn finger_frequencies(&self) -> &Frequencies {
        &self.finger_freq
    }
    /// Every live fingerprint template as (location, user, template, position, prepared bytes).
    pub fn finger_templates(&self) -> impl Iterator<Item = (&str, &str, &str, u8, &[u8])> {
        self.fingers.iter().flat_map(|s| {
            (0..s.seg.rows()).filter(|&r| s.live.get(r)).map(move |r| {
                let (l, u, t) = s.seg.row_ids(r);
                (l, u, t, s.seg.position(r), s.seg.record(r))
            })
        })
    }
    /// Every live face template as (location, user, template, normalised embedding), for reference
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
    /// Next finger-tail row number.
    finger_tail_next: u64,
    /// (location, user, template) → row, built on the first write (opening does not need it).
    keys: Option<BTreeMap<Key, RowRef>>,
    /// The same for fingerprint templates.
    finger_keys: Option<BTreeMap<Key, RowRef>>,
    /// Segments (face or finger) whose deletions changed since the manifest was written.
    dirty: HashSet<u64>,
    /// The catalog changed since the manifest was written.
    catalog_dirty: bool,
    /// When the oldest deletion whose bytes are still on the flash happened.
    unerased_since: Option<Instant>,
    /// Files no longer named by the manifest, waiting until no snapshot maps them.
    graveyard: Vec<(Option<Mapped>, PathBuf)>,
    poisoned: Option<String>,
}

/// Counts and sizes, for `edgeid stats`.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Face model.
    pub model: String,
    /// Embedding dimension.
    pub dim: usize,
    /// Live face templates.
    pub live: usize,
    /// Deleted face rows not yet compacted away.
    pub dead: usize,
    /// Live fingerprint templates.
    pub fingers: usize,
    /// Deleted finger rows not yet compacted away.
    pub fingers_dead: usize,
    /// Finger segment files.
    pub finger_segments: usize,
    /// Finger rows in the in-memory tail.
    pub finger_tail_rows: usize,
    /// Segment files.
    pub segments: usize,
    /// Rows in the in-memory tail (logged, not yet checkpointed).
    pub tail_rows: usize,
    /// Bytes of segment files (face and finger).
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
    /// What `stats` reports of the writer's state (the manifest and the log length), published by
    /// the writer after each commit and checkpoint so `stats` never waits behind a running commit.
    published: Mutex<(Manifest, u64)>,
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
            fingers: Vec::new(),
            version: manifest::VERSION,
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
        let all = m
            .segments
            .iter()
            .map(|&(id, del)| (FileKind::Segment(id), id, del));
        let fingers = m
            .fingers
            .iter()
            .map(|&(id, del)| (FileKind::FingerSegment(id), id, del));
        for (kind, id, del) in all.chain(fingers) {
            named.insert(kind.name());
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

        let (segs, mut any_dead) =
            load_segments(&*fs, dir, &m.segments, FileKind::Segment, |b, p| {
                let seg = Segment::open(b, p)?;
                if seg.dim() != dim || seg.model() != m.model {
                    return Err(Error::corrupt(
                        p,
                        format!(
                            "segment says model {} dim {}, manifest says model {} dim {dim}",
                            seg.model(),
                            seg.dim(),
                            m.model
                        ),
                    ));
                }
                Ok(seg)
            })?;
        let (fingers, fingers_dead) = load_segments(
            &*fs,
            dir,
            &m.fingers,
            FileKind::FingerSegment,
            FingerSegment::open,
        )?;
        any_dead |= fingers_dead;
        // Prefilter weights: per-segment counts (stored in the files) minus the dead rows.
        let mut finger_freq = Frequencies::default();
        for s in &fingers {
            finger_freq.merge(&s.seg.frequencies());
            for r in (0..s.seg.rows()).filter(|&r| !s.live.get(r)) {
                finger_freq.update(s.seg.summary(r), false);
            }
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
            fingers,
            finger_freq: Arc::new(finger_freq),
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
        let mut tails = Tails::default();
        let mut dirty = HashSet::new();
        let mut catalog_dirty = false;
        for (seq, ops) in &replay.records {
            any_dead |= ops.iter().any(WalOp::is_kill);
            catalog_dirty |= ops.iter().any(|o| matches!(o, WalOp::Catalog(_)));
            apply_ops(&mut snap, ops, &mut tails, &mut dirty, None)?;
            snap.seq = *seq;
        }
        let from_catalog = m.version < manifest::VERSION;
        let upgrade = from_catalog
            || snap
                .fingers
                .iter()
                .any(|s| s.seg.prepared_version() != TEMPLATE_VERSION);
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
        let store = Store {
            dir: dir.to_path_buf(),
            fs,
            kernels,
            pool,
            pool_exited: exited,
            current: RwLock::new(Arc::new(snap)),
            retired: Mutex::new(Vec::new()),
            published: Mutex::new((m.clone(), replay.valid_len)),
            writer: Mutex::new(Writer {
                wal,
                wal_len: replay.valid_len,
                manifest: m,
                tail_next: tails.faces,
                finger_tail_next: tails.fingers,
                keys: None,
                finger_keys: None,
                dirty,
                catalog_dirty,
                unerased_since: any_dead.then(Instant::now),
                graveyard: Vec::new(),
                poisoned: None,
            }),
            opts,
            _lock: lock,
        };
        if upgrade {
            store.upgrade(from_catalog)?;
        }
        Ok(store)
    }

    /// Brings a store written by an older build up to this one, on open:
    /// - a store from before the finger index (manifest version 1): the fingerprint records its
    ///   catalog holds are indexed;
    /// - finger segments prepared by another matcher version: every live template is prepared again
    ///   from its source record (a source this build cannot read any more is removed rather than
    ///   compared as stale cylinders).
    ///
    /// The work is committed in batches and checkpointed; a crash in between repeats the rest on
    /// the next open (putting an identical template is a no-op).
    fn upgrade(&self, from_catalog: bool) -> Result<()> {
        use rayon::prelude::*;
        struct Todo {
            key: Key,
            source: Vec<u8>,
            format: Format,
            position: u8,
            stale: bool,
        }
        let snap = self.snapshot();
        let mut todo = Vec::new();
        if from_catalog {
            for (loc, state) in snap.catalog().locations.iter() {
                for u in state.users.values() {
                    for f in &u.fingers {
                        if let Some(format) = Format::from_standard_name(&f.format) {
                            todo.push(Todo {
                                key: key(loc, &u.id, &f.id),
                                source: f.data.clone(),
                                format,
                                position: f.position,
                                stale: false,
                            });
                        }
                    }
                }
            }
        }
        for s in snap
            .fingers
            .iter()
            .filter(|s| s.seg.prepared_version() != TEMPLATE_VERSION)
        {
            for r in (0..s.seg.rows()).filter(|&r| s.live.get(r)) {
                let (l, u, t) = s.seg.row_ids(r);
                todo.push(Todo {
                    key: key(l, u, t),
                    source: s.seg.source(r).to_vec(),
                    format: s.seg.source_format(r),
                    position: s.seg.position(r),
                    stale: true,
                });
            }
        }
        drop(snap);
        for batch in todo.chunks(4096) {
            let prepared: Vec<Option<Prepared>> = batch
                .par_iter()
                .map(|t| prepare(&t.source, Some(t.format), Some(t.position)).ok())
                .collect();
            self.commit_plan(|p| {
                for (t, f) in batch.iter().zip(prepared) {
                    let (l, u, id) = &t.key;
                    match f {
                        Some(f) => p.put_finger(l, u, id, f, t.source.clone()),
                        None if t.stale => {
                            p.remove_finger(l, u, id);
                        }
                        None => {}
                    }
                }
                Ok(())
            })?;
        }
        self.checkpoint()
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

    /// Publishes the writer's manifest and log length for [`Store::stats`].
    fn publish_files(&self, w: &Writer) {
        *self.published.lock().unwrap_or_else(|e| e.into_inner()) = (w.manifest.clone(), w.wal_len);
    }

    /// True when either tail has grown past its checkpoint bound.
    fn tail_full(&self, snap: &Snapshot) -> bool {
        tail_rows(&snap.segs) >= self.opts.checkpoint_rows
            || tail_rows(&snap.fingers) >= self.opts.checkpoint_fingers
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
                }
                | Change::PutFinger {
                    location,
                    user,
                    template,
                    ..
                }
                | Change::RemoveFinger {
                    location,
                    user,
                    template,
                } => (location, user, Some(template)),
                Change::RemoveUser { location, user }
                | Change::RemoveUserFaces { location, user }
                | Change::RemoveUserFingers { location, user } => (location, user, None),
            };
            check_id("location", location).map_err(at)?;
            check_id("user", user).map_err(at)?;
            if let Some(t) = template {
                check_id("template", t).map_err(at)?;
            }
            if let Change::PutFinger {
                position: Some(position),
                ..
            } = c
            {
                if *position > 10 {
                    return Err(at(Error::Invalid(format!(
                        "finger position must be 0..=10, got {position}"
                    ))));
                }
            }
            normalized.push(match c {
                Change::PutFace { embedding, .. } => Some(normalize(embedding, dim).map_err(at)?),
                _ => None,
            });
        }
        // Fingerprint records are parsed and prepared (about half a millisecond each) on all cores,
        // before the writer lock is taken.
        let fingers: Vec<Option<Prepared>> = {
            use rayon::prelude::*;
            changes
                .par_iter()
                .enumerate()
                .map(|(i, c)| match c {
                    Change::PutFinger {
                        record,
                        format,
                        position,
                        ..
                    } => prepare(record, *format, *position)
                        .map(Some)
                        .map_err(|e| Error::Invalid(format!("change {i}: {e}"))),
                    _ => Ok(None),
                })
                .collect::<Result<_>>()?
        };
        self.commit_plan(|p| {
            for (i, ((c, v), f)) in changes.iter().zip(normalized).zip(fingers).enumerate() {
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
                    Change::PutFinger {
                        location,
                        user,
                        template,
                        record,
                        ..
                    } => {
                        let f = f.expect("prepared above");
                        p.put_finger(location, user, template, f, record.clone())
                    }
                    Change::RemoveFinger {
                        location,
                        user,
                        template,
                    } => {
                        if !p.remove_finger(location, user, template) {
                            return Err(Error::NotFound(format!(
                                "change {i}: fingerprint template {template:?} of user {user:?} at {location:?}"
                            )));
                        }
                    }
                    Change::RemoveUser { location, user } => {
                        let n = p.remove_user_faces(location, user)
                            + p.remove_user_fingers(location, user);
                        if n == 0 {
                            return Err(Error::NotFound(format!(
                                "change {i}: user {user:?} at {location:?} has no templates"
                            )));
                        }
                    }
                    Change::RemoveUserFaces { location, user } => {
                        if p.remove_user_faces(location, user) == 0 {
                            return Err(Error::NotFound(format!(
                                "change {i}: user {user:?} at {location:?} has no face templates"
                            )));
                        }
                    }
                    Change::RemoveUserFingers { location, user } => {
                        if p.remove_user_fingers(location, user) == 0 {
                            return Err(Error::NotFound(format!(
                                "change {i}: user {user:?} at {location:?} has no fingerprint templates"
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
            w.keys = Some(build_keys(&snap.segs));
        }
        if w.finger_keys.is_none() {
            w.finger_keys = Some(build_keys(&snap.fingers));
        }
        let mut p = Planner {
            snap: &snap,
            faces: Keyed::new(w.keys.as_ref().expect("built above"), w.tail_next),
            fingers: Keyed::new(
                w.finger_keys.as_ref().expect("built above"),
                w.finger_tail_next,
            ),
            ops: Vec::new(),
            catalog: snap.catalog.clone(),
        };
        plan(&mut p)?;
        let Planner {
            faces,
            fingers,
            ops,
            catalog,
            ..
        } = p;
        let (overlay, finger_overlay) = (faces.overlay, fingers.overlay);
        if ops.is_empty() {
            return Ok(snap.seq);
        }
        let seq = snap.seq + 1;
        self.log(&mut w, seq, &ops)?;

        // Durable: apply in memory and publish.
        let mut new = (*snap).clone();
        let mut tails = Tails {
            faces: w.tail_next,
            fingers: w.finger_tail_next,
        };
        let mut dirty = std::mem::take(&mut w.dirty);
        apply_ops(&mut new, &ops, &mut tails, &mut dirty, Some(catalog))
            .expect("ops resolved against this snapshot");
        new.seq = seq;
        w.dirty = dirty;
        w.tail_next = tails.faces;
        w.finger_tail_next = tails.fingers;
        w.catalog_dirty |= ops.iter().any(|o| matches!(o, WalOp::Catalog(_)));
        let wr = &mut *w;
        for (keys, overlay) in [
            (wr.keys.as_mut().expect("built above"), overlay),
            (
                wr.finger_keys.as_mut().expect("built above"),
                finger_overlay,
            ),
        ] {
            for (k, v) in overlay {
                match v {
                    Some(r) => keys.insert(k, r),
                    None => keys.remove(&k),
                };
            }
        }
        if ops.iter().any(WalOp::is_kill) && w.unerased_since.is_none() {
            w.unerased_since = Some(Instant::now());
        }
        let full = self.tail_full(&new);
        self.publish(new);
        drop(snap); // release the old snapshot so housekeeping can scrub what only it mapped
        drop(ops); // and the logged bytes (prepared fingerprints: ~15 KB each) before a checkpoint

        // Housekeeping after the commit is durable; its failures do not undo the commit.
        if full {
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
        let wpath = path_of(&self.dir, FileKind::Wal(w.manifest.wal_gen));
        let file = &mut w.wal;
        let written = wal::write_record(seq, ops, &mut |b| file.append(b));
        let len = match written {
            Ok(n) => n,
            Err(e) => {
                // A refused append (e.g. disk full) is undone so the log stays a sequence of
                // whole records.
                if let Err(t) = w.wal.truncate(w.wal_len) {
                    w.poisoned = Some(format!("cannot cut back {}: {t}", wpath.display()));
                }
                return Err(Error::io("append", &wpath, e));
            }
        };
        if let Err(e) = w.wal.sync_data() {
            // After a failed fsync the file's state is unknown: latch.
            w.poisoned = Some(format!("fdatasync {}: {e}", wpath.display()));
            return Err(Error::io("fdatasync", &wpath, e));
        }
        w.wal_len += len;
        self.publish_files(w);
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
            if !leaves_state_intact(e) {
                w.poisoned = Some(format!("checkpoint failed: {e}"));
            }
        }
        r
    }

    /// Rewrites the store's files: the tails become segments; with `compact`, every segment with dead
    /// rows is merged with its index's tail into one new segment.
    fn rewrite(&self, w: &mut Writer, compact: bool) -> Result<()> {
        let snap = self.snapshot();
        let has_tail = snap.segs.iter().any(|s| s.tail_base.is_some())
            || snap.fingers.iter().any(|s| s.tail_base.is_some());
        let has_dead = snap.segs.iter().any(|s| s.live_count < s.seg.rows())
            || snap.fingers.iter().any(|s| s.live_count < s.seg.rows());
        let log_used = w.wal_len > wal::HEADER_LEN;
        let old_manifest = w.manifest.version < manifest::VERSION;
        let work = has_tail
            || log_used
            || (compact && has_dead)
            || !w.dirty.is_empty()
            || w.catalog_dirty
            || old_manifest;
        if !work {
            return Ok(());
        }
        let fs = &*self.fs;
        let dir = &self.dir;
        let mut m = w.manifest.clone();
        m.version = manifest::VERSION;
        let mut obsolete: Vec<(Option<Mapped>, PathBuf)> = Vec::new();

        // 1–2. Each index: the merged segment (live rows of the tail and of segments being
        //      compacted), and new deletion files for kept segments whose deletions changed.
        let (model, dim) = (snap.model.as_str(), snap.dim);
        let faces = rewrite_index(
            fs,
            dir,
            &snap.segs,
            &w.manifest.segments,
            &w.dirty,
            compact,
            &mut m.next_id,
            FileKind::Segment,
            |id, rows| {
                let rows: Vec<RowIn<'_>> = rows.iter().map(|&(s, r)| RowIn::of(s, r)).collect();
                segment::encode(id, model, dim, &rows)
            },
            Segment::open,
            &mut obsolete,
        )?;
        let fingers = rewrite_index(
            fs,
            dir,
            &snap.fingers,
            &w.manifest.fingers,
            &w.dirty,
            compact,
            &mut m.next_id,
            FileKind::FingerSegment,
            |id, rows| {
                let rows: Vec<FingerRowIn<'_>> =
                    rows.iter().map(|&(s, r)| FingerRowIn::of(s, r)).collect();
                fsegment::encode(id, &rows)
            },
            FingerSegment::open,
            &mut obsolete,
        )?;
        m.segments = faces.list;
        m.fingers = fingers.list;

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
        for (keys, moved) in [
            (w.keys.as_mut(), &faces.moved),
            (w.finger_keys.as_mut(), &fingers.moved),
        ] {
            for v in keys.into_iter().flat_map(|k| k.values_mut()) {
                if let Some(n) = moved.get(v) {
                    *v = *n;
                }
            }
        }
        w.wal = wal;
        w.wal_len = wal::HEADER_LEN;
        w.manifest = m;
        self.publish_files(w);
        w.tail_next = 0;
        w.finger_tail_next = 0;
        w.dirty.clear();
        w.catalog_dirty = false;
        if compact {
            w.unerased_since = None;
        }
        w.graveyard.extend(obsolete);
        let mut new = (*snap).clone();
        new.segs = faces.segs;
        new.fingers = fingers.segs;
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
            if !leaves_state_intact(e) {
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
        } else if self.tail_full(&self.snapshot()) {
            self.checkpoint_locked(&mut w)?;
        }
        self.reap(&mut w);
        Ok(())
    }

    /// Reads every byte of every segment and checks all checksums.
    pub fn verify_checksums(&self) -> Result<usize> {
        let snap = self.snapshot();
        for s in &snap.segs {
            s.seg.verify_payload()?;
        }
        for s in &snap.fingers {
            s.seg.verify_payload()?;
        }
        Ok(snap.segs.len() + snap.fingers.len())
    }

    /// Counts, sizes and the kernel in use.
    pub fn stats(&self) -> Stats {
        let snap = self.snapshot();
        let (manifest, wal_len) = self
            .published
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut files = vec![
            FileKind::Manifest.name(),
            FileKind::Wal(manifest.wal_gen).name(),
        ];
        let faces = manifest
            .segments
            .iter()
            .map(|&(id, d)| (FileKind::Segment(id), id, d));
        let fingers = manifest
            .fingers
            .iter()
            .map(|&(id, d)| (FileKind::FingerSegment(id), id, d));
        for (kind, id, del) in faces.chain(fingers) {
            files.push(kind.name());
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
        if manifest.catalog != 0 {
            files.push(FileKind::Catalog(manifest.catalog).name());
        }
        let on_disk = |segs: &[SegState<_>]| segs.iter().filter(|s| s.tail_base.is_none()).count();
        let finger_rows: usize = snap.fingers.iter().map(|s| s.seg.rows()).sum();
        Stats {
            model: snap.model.clone(),
            dim: snap.dim,
            live: snap.live(),
            dead: snap.rows() - snap.live(),
            fingers: snap.live_fingers(),
            fingers_dead: finger_rows - snap.live_fingers(),
            finger_segments: snap
                .fingers
                .iter()
                .filter(|s| s.tail_base.is_none())
                .count(),
            finger_tail_rows: tail_rows(&snap.fingers),
            segments: on_disk(&snap.segs),
            tail_rows: tail_rows(&snap.segs),
            segment_bytes: snap
                .segs
                .iter()
                .filter(|s| s.tail_base.is_none())
                .map(|s| s.seg.byte_len() as u64)
                .chain(
                    snap.fingers
                        .iter()
                        .filter(|s| s.tail_base.is_none())
                        .map(|s| s.seg.byte_len() as u64),
                )
                .sum(),
            wal_bytes: wal_len,
            seq: snap.seq,
            kernel: self.kernels.name,
            files,
        }
    }
}

/// What a commit is going to do, decided under the writer lock against the current state: face and
/// finger changes resolved to physical rows, and catalog changes applied to a working copy (so a plan
/// can validate against the state it produces, e.g. duplicate cards across users).
pub(crate) struct Planner<'a> {
    snap: &'a Snapshot,
    faces: Keyed<'a>,
    fingers: Keyed<'a>,
    ops: Vec<WalOp>,
    catalog: Catalog,
}

/// One index's (location, user, template) → row map as a plan changes it: the writer's map plus an
/// overlay of this plan's puts (`Some`) and removals (`None`).
struct Keyed<'a> {
    keys: &'a BTreeMap<Key, RowRef>,
    overlay: BTreeMap<Key, Option<RowRef>>,
    /// Tail row number of the next insert.
    next: u64,
}

impl<'a> Keyed<'a> {
    fn new(keys: &'a BTreeMap<Key, RowRef>, next: u64) -> Self {
        Keyed {
            keys,
            overlay: BTreeMap::new(),
            next,
        }
    }
    fn lookup(&self, k: &Key) -> Option<RowRef> {
        match self.overlay.get(k) {
            Some(v) => *v,
            None => self.keys.get(k).copied(),
        }
    }
    /// Records an insert; returns the row it replaces.
    fn put(&mut self, k: Key) -> Option<RowRef> {
        let old = self.lookup(&k);
        self.overlay.insert(k, Some(RowRef::Tail(self.next)));
        self.next += 1;
        old
    }
    /// Records a removal; returns the row removed.
    fn remove(&mut self, k: Key) -> Option<RowRef> {
        let old = self.lookup(&k)?;
        self.overlay.insert(k, None);
        Some(old)
    }
    /// Live keys from `lo` while `within` holds, as the plan has changed them so far.
    fn range(&self, lo: Key, within: impl Fn(&Key) -> bool) -> Vec<Key> {
        let mut ids: Vec<Key> = self
            .keys
            .range(lo.clone()..)
            .map(|(k, _)| k)
            .take_while(|k| within(k))
            .chain(
                self.overlay
                    .range(lo..)
                    .map(|(k, _)| k)
                    .take_while(|k| within(k)),
            )
            .cloned()
            .collect();
        ids.sort();
        ids.dedup();
        ids.retain(|k| self.lookup(k).is_some());
        ids
    }
    fn of_user(&self, location: &str, user: &str) -> Vec<String> {
        let lo = (location.to_string(), user.to_string(), String::new());
        self.range(lo, |k| k.0 == location && k.1 == user)
            .into_iter()
            .map(|k| k.2)
            .collect()
    }
    fn at(&self, location: &str) -> Vec<(String, String)> {
        let lo = (location.to_string(), String::new(), String::new());
        self.range(lo, |k| k.0 == location)
            .into_iter()
            .map(|k| (k.1, k.2))
            .collect()
    }
}

fn key(location: &str, user: &str, template: &str) -> Key {
    (location.to_string(), user.to_string(), template.to_string())
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
    /// Inserts or replaces a template (`v` normalised). Re-putting an identical embedding is a no-op.
    pub(crate) fn put_face(&mut self, location: &str, user: &str, template: &str, v: Vec<f32>) {
        let k = key(location, user, template);
        if let Some(old) = self.faces.lookup(&k) {
            if let Some((i, row)) = locate(&self.snap.segs, old) {
                let s = &self.snap.segs[i];
                if s.live.get(row) && s.seg.vector(row) == v {
                    return;
                }
            }
        }
        if let Some(old) = self.faces.put(k.clone()) {
            self.ops.push(WalOp::Kill(old));
        }
        self.ops.push(WalOp::Insert {
            location: k.0,
            user: k.1,
            template: k.2,
            vector: v,
        });
    }
    /// Removes a template; false if it does not exist.
    pub(crate) fn remove_face(&mut self, location: &str, user: &str, template: &str) -> bool {
        let old = self.faces.remove(key(location, user, template));
        self.ops.extend(old.map(WalOp::Kill));
        old.is_some()
    }
    /// Template ids of a user, as the plan has changed them so far.
    pub(crate) fn face_templates(&self, location: &str, user: &str) -> Vec<String> {
        self.faces.of_user(location, user)
    }
    /// (user, template) of every template at a location, as the plan has changed them so far.
    pub(crate) fn faces_at(&self, location: &str) -> Vec<(String, String)> {
        self.faces.at(location)
    }
    /// Removes every template of a user; returns how many.
    pub(crate) fn remove_user_faces(&mut self, location: &str, user: &str) -> usize {
        let ids = self.face_templates(location, user);
        for t in &ids {
            self.remove_face(location, user, t);
        }
        ids.len()
    }
    /// Inserts or replaces a prepared fingerprint template. Re-putting identical bytes and position
    /// is a no-op.
    pub(crate) fn put_finger(
        &mut self,
        location: &str,
        user: &str,
        template: &str,
        f: Prepared,
        source: Vec<u8>,
    ) {
        let k = key(location, user, template);
        if let Some(old) = self.fingers.lookup(&k) {
            if let Some((i, row)) = locate(&self.snap.fingers, old) {
                let s = &self.snap.fingers[i];
                // Preparation is a function of (source, format, position) for one matcher version,
                // so the prepared record (~15 KB, maybe not in memory) need not be compared.
                if s.live.get(row)
                    && s.seg.prepared_version() == TEMPLATE_VERSION
                    && s.seg.position(row) == f.position
                    && s.seg.source_format(row) == f.format
                    && s.seg.source(row) == source
                {
                    return;
                }
            }
        }
        if let Some(old) = self.fingers.put(k.clone()) {
            self.ops.push(WalOp::FingerKill(old));
        }
        self.ops.push(WalOp::FingerInsert {
            location: k.0,
            user: k.1,
            template: k.2,
            position: f.position,
            record: f.record,
            format: fsegment::format_code(f.format),
            source,
        });
    }
    /// Removes a fingerprint template; false if it does not exist.
    pub(crate) fn remove_finger(&mut self, location: &str, user: &str, template: &str) -> bool {
        let old = self.fingers.remove(key(location, user, template));
        self.ops.extend(old.map(WalOp::FingerKill));
        old.is_some()
    }
    /// Fingerprint template ids of a user, as the plan has changed them so far.
    pub(crate) fn finger_templates(&self, location: &str, user: &str) -> Vec<String> {
        self.fingers.of_user(location, user)
    }
    /// (user, template) of every fingerprint template at a location.
    pub(crate) fn fingers_at(&self, location: &str) -> Vec<(String, String)> {
        self.fingers.at(location)
    }
    /// Removes every fingerprint template of a user; returns how many.
    pub(crate) fn remove_user_fingers(&mut self, location: &str, user: &str) -> usize {
        let ids = self.finger_templates(location, user);
        for t in &ids {
            self.remove_finger(location, user, t);
        }
        ids.len()
    }
}

/// A fingerprint record made ready for the finger index.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The prepared template's bytes (`finger::template`).
    pub record: Vec<u8>,
    /// Finger position recorded with it.
    pub position: u8,
    /// Format of the source record.
    pub format: Format,
}

/// Parses a minutiae record strictly (format detected when `None`) and prepares the view to enrol
/// (see `finger::enroll`); what [`Change::PutFinger`] does before committing.
pub fn prepare(
    source: &[u8],
    format: Option<Format>,
    position: Option<u8>,
) -> std::result::Result<Prepared, crate::finger::FormatError> {
    let format = match format {
        Some(f) => f,
        None => crate::finger::detect(source)?,
    };
    let (t, view_position) = prepare_record(source, Some(format), position)?;
    Ok(Prepared {
        record: t.as_bytes().to_vec(),
        position: position.unwrap_or(view_position),
        format,
    })
}

/// Rewrite errors raised before any file is switched (disk full, a damaged segment found while
/// compacting): the store stays usable, so they do not latch the writer.
fn leaves_state_intact(e: &Error) -> bool {
    matches!(e, Error::StorageFull { .. } | Error::Corrupt { .. })
}

fn strip_invalid(e: &Error) -> String {
    match e {
        Error::Invalid(s) => s.clone(),
        other => other.to_string(),
    }
}

fn tail_rows<S: Rows>(segs: &[SegState<S>]) -> usize {
    segs.iter()
        .filter(|s| s.tail_base.is_some())
        .map(|s| s.seg.rows())
        .sum()
}

fn row_ref<S: Rows>(s: &SegState<S>, r: usize) -> RowRef {
    match s.tail_base {
        Some(b) => RowRef::Tail(b + r as u64),
        None => RowRef::Seg {
            id: s.seg.id(),
            row: r as u32,
        },
    }
}

fn build_keys<S: Rows>(segs: &[SegState<S>]) -> BTreeMap<Key, RowRef> {
    let mut keys = BTreeMap::new();
    for s in segs {
        for r in (0..s.seg.rows()).filter(|&r| s.live.get(r)) {
            let (l, u, t) = s.seg.row_ids(r);
            keys.insert(key(l, u, t), row_ref(s, r));
        }
    }
    keys
}

/// Next tail row numbers of the two indexes.
#[derive(Debug, Default, Clone, Copy)]
struct Tails {
    faces: u64,
    fingers: u64,
}

/// Clears the live bit of a logged row; returns (segment index, row) if it was live. A row inserted
/// earlier in the same batch (`Tail(n)` with `n >= next`) is returned as `Err(n - next)`.
fn kill<S: Rows>(
    segs: &mut [SegState<S>],
    r: RowRef,
    next: u64,
    dirty: &mut HashSet<u64>,
) -> Result<std::result::Result<Option<(usize, usize)>, usize>> {
    if let RowRef::Tail(n) = r {
        if n >= next {
            return Ok(Err((n - next) as usize));
        }
    }
    let (i, row) = locate(segs, r)
        .ok_or_else(|| Error::corrupt("write-ahead log", format!("deletes unknown row {r:?}")))?;
    let s = &mut segs[i];
    if s.tail_base.is_none() {
        dirty.insert(s.seg.id());
    }
    if Arc::make_mut(&mut s.live).clear(row) {
        s.live_count -= 1;
        return Ok(Ok(Some((i, row))));
    }
    Ok(Ok(None))
}

/// Applies logged ops to a snapshot: kills clear live bits (copy-on-write per segment), inserts form
/// a new in-memory tail block per index; tail blocks are merged like a binary counter so there are
/// O(log n).
fn apply_ops(
    snap: &mut Snapshot,
    ops: &[WalOp],
    tails: &mut Tails,
    dirty: &mut HashSet<u64>,
    catalog: Option<Catalog>,
) -> Result<()> {
    let applied = catalog.is_some();
    if let Some(c) = catalog {
        snap.catalog = c;
    }
    let mut inserts = Vec::new();
    let mut finger_inserts = Vec::new();
    let mut killed_new = Vec::new();
    let mut fingers_killed_new = Vec::new();
    for op in ops {
        match op {
            WalOp::Kill(r) => {
                if let Err(n) = kill(&mut snap.segs, *r, tails.faces, dirty)? {
                    killed_new.push(n);
                }
            }
            WalOp::FingerKill(r) => match kill(&mut snap.fingers, *r, tails.fingers, dirty)? {
                Ok(Some((i, row))) => {
                    Arc::make_mut(&mut snap.finger_freq)
                        .update(snap.fingers[i].seg.summary(row), false);
                }
                Ok(None) => {}
                Err(n) => fingers_killed_new.push(n),
            },
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
            WalOp::FingerInsert {
                location,
                user,
                template,
                position,
                record,
                format,
                source,
            } => {
                let bad =
                    |m: String| Error::corrupt("write-ahead log", format!("finger insert: {m}"));
                let fmt = fsegment::format_of(*format)
                    .ok_or_else(|| bad(format!("source format code {format}")))?;
                let record: std::borrow::Cow<'_, [u8]> = if TemplateRef::from_bytes(record).is_ok()
                {
                    record.into()
                } else {
                    // Logged by a build that prepared differently: prepare again from the source.
                    prepare(source, Some(fmt), Some(*position))
                        .map_err(|e| bad(e.to_string()))?
                        .record
                        .into()
                };
                finger_inserts.push((location, user, template, *position, record, source, fmt));
            }
        }
    }
    let (model, dim) = (snap.model.clone(), snap.dim);
    if !inserts.is_empty() {
        let base = tails.faces;
        tails.faces += inserts.len() as u64;
        let block = tail_block(base, &killed_new, |id| {
            Segment::open(
                crate::mmap::Bytes::copy_from(&segment::encode(id, &model, dim, &inserts)),
                Path::new("(tail)"),
            )
        });
        push_tail(&mut snap.segs, block, |a, b| {
            merge_tail(a, b, |id, rows| {
                let rows: Vec<RowIn<'_>> = rows.iter().map(|&(s, r)| RowIn::of(s, r)).collect();
                Segment::open(
                    crate::mmap::Bytes::copy_from(&segment::encode(id, &model, dim, &rows)),
                    Path::new("(tail)"),
                )
            })
        });
    }
    if !finger_inserts.is_empty() {
        let finger_inserts: Vec<FingerRowIn<'_>> = finger_inserts
            .iter()
            .map(|(l, u, t, position, record, source, format)| FingerRowIn {
                location: l,
                user: u,
                template: t,
                position: *position,
                record,
                source,
                format: *format,
            })
            .collect();
        let base = tails.fingers;
        tails.fingers += finger_inserts.len() as u64;
        let freq = Arc::make_mut(&mut snap.finger_freq);
        for (i, f) in finger_inserts.iter().enumerate() {
            if !fingers_killed_new.contains(&i) {
                let t = TemplateRef::from_bytes(f.record).expect("checked above");
                freq.update(t.summary(), true);
            }
        }
        let block = tail_block(base, &fingers_killed_new, |id| {
            FingerSegment::open(
                fsegment::encode(id, &finger_inserts).freeze(),
                Path::new("(finger tail)"),
            )
        });
        push_tail(&mut snap.fingers, block, |a, b| {
            merge_tail(a, b, |id, rows| {
                let rows: Vec<FingerRowIn<'_>> =
                    rows.iter().map(|&(s, r)| FingerRowIn::of(s, r)).collect();
                FingerSegment::open(
                    fsegment::encode(id, &rows).freeze(),
                    Path::new("(finger tail)"),
                )
            })
        });
    }
    Ok(())
}

/// A new in-memory tail block whose row 0 is tail row `base`, with rows `dead` already killed.
fn tail_block<S: Rows>(
    base: u64,
    dead: &[usize],
    build: impl FnOnce(u64) -> Result<S>,
) -> SegState<S> {
    let seg = build(base).expect("freshly encoded segment is valid");
    let mut live = Bitmap::full(seg.rows());
    for &r in dead {
        if r < seg.rows() {
            live.clear(r);
        }
    }
    SegState {
        live_count: live.count(),
        live: Arc::new(live),
        seg: Arc::new(seg),
        tail_base: Some(base),
    }
}

/// Appends a tail block and merges the newest blocks while the older is not more than twice the
/// newer.
fn push_tail<S: Rows>(
    segs: &mut Vec<SegState<S>>,
    block: SegState<S>,
    merge: impl Fn(&SegState<S>, &SegState<S>) -> SegState<S>,
) {
    segs.push(block);
    loop {
        let n = segs.len();
        if n < 2 {
            break;
        }
        let (a, b) = (&segs[n - 2], &segs[n - 1]);
        if a.tail_base.is_none() || a.seg.rows() > 2 * b.seg.rows() {
            break;
        }
        let merged = merge(a, b);
        segs.truncate(n - 2);
        segs.push(merged);
    }
}

/// Merges two adjacent tail blocks, keeping row numbering (dead rows are kept, marked dead).
fn merge_tail<S: Rows>(
    a: &SegState<S>,
    b: &SegState<S>,
    build: impl FnOnce(u64, &[(&S, usize)]) -> Result<S>,
) -> SegState<S> {
    let mut rows = Vec::with_capacity(a.seg.rows() + b.seg.rows());
    let mut dead = Vec::new();
    for s in [a, b] {
        for r in 0..s.seg.rows() {
            if !s.live.get(r) {
                dead.push(rows.len());
            }
            rows.push((&*s.seg, r));
        }
    }
    tail_block(a.tail_base.expect("tail"), &dead, |id| build(id, &rows))
}

fn locate<S: Rows>(segs: &[SegState<S>], r: RowRef) -> Option<(usize, usize)> {
    match r {
        RowRef::Seg { id, row } => segs
            .iter()
            .position(|s| s.tail_base.is_none() && s.seg.id() == id)
            .filter(|&i| (row as usize) < segs[i].seg.rows())
            .map(|i| (i, row as usize)),
        RowRef::Tail(n) => segs
            .iter()
            .position(|s| {
                s.tail_base
                    .is_some_and(|b| n >= b && n < b + s.seg.rows() as u64)
            })
            .map(|i| (i, (n - segs[i].tail_base.unwrap_or(0)) as usize)),
    }
}

/// A file the graveyard keeps until no snapshot maps it (a face or finger segment).
type Mapped = Arc<dyn std::any::Any + Send + Sync>;

/// Maps the segments a manifest lists, with their deletion files; also says whether any row is dead.
fn load_segments<S: Rows>(
    fs: &dyn Fs,
    dir: &Path,
    list: &[(u64, u64)],
    kind: fn(u64) -> FileKind,
    open: impl Fn(crate::mmap::Bytes, &Path) -> Result<S>,
) -> Result<(Vec<SegState<S>>, bool)> {
    let mut segs = Vec::with_capacity(list.len());
    let mut any_dead = false;
    for &(id, del) in list {
        let p = path_of(dir, kind(id));
        let seg = open(fs.map(&p).map_err(|e| Error::io("map", &p, e))?, &p)?;
        if seg.id() != id {
            return Err(Error::corrupt(
                &p,
                format!("file says segment id {}, manifest says {id}", seg.id()),
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
    Ok((segs, any_dead))
}

/// One index after a rewrite: its segments, its manifest list, and where moved rows went.
struct Rewritten<S> {
    segs: Vec<SegState<S>>,
    list: Vec<(u64, u64)>,
    moved: HashMap<RowRef, RowRef>,
}

/// Rewrites one index (see [`Store::rewrite`]): the tail and, with `compact`, segments with dead rows
/// become one new segment; kept segments whose deletions changed get new deletion files. Files that
/// become obsolete are added to `obsolete`. Segments being compacted are checksummed first, so
/// damage is reported instead of being copied under a fresh checksum.
#[allow(clippy::too_many_arguments)]
fn rewrite_index<S: Rows + Send + Sync + 'static, E: AsRef<[u8]>>(
    fs: &dyn Fs,
    dir: &Path,
    segs: &[SegState<S>],
    old_list: &[(u64, u64)],
    dirty: &HashSet<u64>,
    compact: bool,
    next_id: &mut u64,
    kind: fn(u64) -> FileKind,
    encode: impl FnOnce(u64, &[(&S, usize)]) -> E,
    open: impl Fn(crate::mmap::Bytes, &Path) -> Result<S>,
    obsolete: &mut Vec<(Option<Mapped>, PathBuf)>,
) -> Result<Rewritten<S>> {
    let merge: Vec<usize> = (0..segs.len())
        .filter(|&i| {
            let s = &segs[i];
            s.tail_base.is_some() || (compact && s.live_count < s.seg.rows())
        })
        .collect();
    let mut rows = Vec::new();
    let mut sources = Vec::new();
    for &i in &merge {
        let s = &segs[i];
        if s.tail_base.is_none() && s.live_count > 0 {
            s.seg.verify_payload()?;
        }
        for r in (0..s.seg.rows()).filter(|&r| s.live.get(r)) {
            rows.push((&*s.seg, r));
            sources.push(row_ref(s, r));
        }
    }
    let mut out = Rewritten {
        segs: Vec::new(),
        list: Vec::new(),
        moved: HashMap::new(),
    };
    let mut merged = None;
    if !rows.is_empty() {
        let id = *next_id;
        *next_id += 1;
        let bytes = encode(id, &rows);
        let p = path_of(dir, kind(id));
        write_file(fs, &p, bytes.as_ref())?;
        drop(bytes);
        let seg = open(fs.map(&p).map_err(|e| Error::io("map", &p, e))?, &p)?;
        for (row, src) in sources.iter().enumerate() {
            out.moved.insert(
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
    for (i, s) in segs.iter().enumerate() {
        if s.tail_base.is_some() {
            continue;
        }
        let id = s.seg.id();
        let old_del = old_list.iter().find(|e| e.0 == id).map_or(0, |e| e.1);
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
            obsolete.push((Some(s.seg.clone() as Mapped), path_of(dir, kind(id))));
            obsolete.extend(old_del_path.map(|p| (None, p)));
            continue;
        }
        let mut del = old_del;
        if dirty.contains(&id) {
            let dead: Vec<u32> = (0..s.seg.rows())
                .filter(|&r| !s.live.get(r))
                .map(|r| r as u32)
                .collect();
            del = *next_id;
            *next_id += 1;
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
        out.list.push((id, del));
        out.segs.push(s.clone());
    }
    if let Some(ms) = merged {
        out.list.push((ms.seg.id(), 0));
        out.segs.push(ms);
    }
    Ok(out)
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
