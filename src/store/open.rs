//! Creating and opening a store: the manifest, scrubbing leftovers, mapping segments, replaying
//! the log.

use super::apply::{apply_ops, Tails};
use super::fs::Fs;
use super::maintenance::Unerased;
use super::manifest::{self, write_manifest, Manifest};
use super::segment::{FaceSegment, FingerSegment, SegState, SegmentKind, Shape};
use super::wal::{self, WalOp};
use super::{path_of, FileKind, OpenOptions, Published, Snapshot, Store, Writer};
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::face::DIM_RANGE;
use crate::finger::prefilter::Frequencies;
use crate::finger::template::VERSION as TEMPLATE_VERSION;
use crate::ids::check_model;
use crate::kernels::Kernels;
use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

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
            faces: Vec::new(),
            fingers: Vec::new(),
            log_started: opts.unix_now(),
            unerased_since: 0,
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
                .chain(&m.segment_files())
                .map(FileKind::name)
                .collect();
        if m.catalog != 0 {
            named.insert(FileKind::Catalog(m.catalog).name());
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

        let shape = Shape {
            model: &m.model,
            dim,
        };
        let (faces, faces_dead) = load_segments::<FaceSegment>(&*fs, dir, &m.faces, shape)?;
        let (fingers, fingers_dead) = load_segments::<FingerSegment>(&*fs, dir, &m.fingers, shape)?;
        let segments_dead = faces_dead || fingers_dead;
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
            faces,
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
        let mut log_dead = false;
        for (seq, ops) in &replay.records {
            log_dead |= ops.iter().any(WalOp::is_kill);
            catalog_dirty |= ops.iter().any(|o| matches!(o, WalOp::Catalog(_)));
            apply_ops(&mut snap, ops, &mut tails, &mut dirty, None)?;
            snap.seq = *seq;
        }
        let from_catalog = m.version < manifest::FINGERS_VERSION;
        let upgrade = from_catalog
            || snap
                .fingers
                .iter()
                .any(|s| s.seg.prepared_version() != TEMPLATE_VERSION);
        let unerased = date_deletions(&m, segments_dead, log_dead, &opts);
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
            published: Mutex::new(Published {
                manifest: m.clone(),
                wal_len: replay.valid_len,
                maintenance: None,
            }),
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
                unerased,
                maintenance: None,
                graveyard: Vec::new(),
                poisoned: None,
            }),
            opts,
            _lock: lock,
        };
        if upgrade {
            store.upgrade(from_catalog)?;
        }
        // A deadline that passed while the store was closed: erase now. Like the housekeeping
        // after a commit, a failure (a full disk) does not fail the open; it is kept for `stats`
        // and retried by the next commit or `maintain`.
        {
            let mut w = store.writer()?;
            if store.erase_due(&w) {
                let _ = store.housekeep(&mut w);
            }
        }
        Ok(store)
    }
}

/// Dates the pending deletions of a store being opened (see `maintenance`): deletion files from
/// the manifest's `unerased_since`, deletions in the log from when the log was started; what a
/// manifest from before version 3 does not say counts from now.
fn date_deletions(
    m: &Manifest,
    segments_dead: bool,
    log_dead: bool,
    opts: &OpenOptions,
) -> Option<Unerased> {
    let now = opts.unix_now();
    let known = |t: u64| if t == 0 { now } else { t };
    let segments = segments_dead.then(|| known(m.unerased_since));
    let log = log_dead.then(|| known(m.log_started));
    let since = segments.into_iter().chain(log).min()?;
    Some(Unerased::dated(since, now, opts.erase_within))
}

/// Maps the segments a manifest lists, with their deletion files; also says whether any row is dead.
fn load_segments<S: SegmentKind>(
    fs: &dyn Fs,
    dir: &Path,
    list: &[(u64, u64)],
    shape: Shape<'_>,
) -> Result<(Vec<SegState<S>>, bool)> {
    let mut segs = Vec::with_capacity(list.len());
    let mut any_dead = false;
    for &(id, del) in list {
        let p = path_of(dir, S::file(id));
        let seg = S::open(fs.map(&p).map_err(|e| Error::io("map", &p, e))?, &p, shape)?;
        if seg.id() != id {
            return Err(Error::corrupt(
                &p,
                format!("file says segment id {}, manifest says {id}", seg.id()),
            ));
        }
        let mut dead = Vec::new();
        if del != 0 {
            let dp = path_of(
                dir,
                FileKind::Deletes {
                    segment: id,
                    generation: del,
                },
            );
            let b = fs.read(&dp).map_err(|e| Error::io("read", &dp, e))?;
            dead = manifest::decode_deletes(&b, id, seg.rows(), &dp)?
                .into_iter()
                .map(|r| r as usize)
                .collect();
            any_dead = true;
        }
        segs.push(SegState::new(seg, &dead, None));
    }
    Ok((segs, any_dead))
}
