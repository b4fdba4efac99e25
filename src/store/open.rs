//! Creating and opening a store (for writing, or read-only): the manifest, mapping segments,
//! replaying the log, then — for a writer only, once all of it was found sound — scrubbing
//! leftovers and cutting a torn log tail.

use super::apply::{apply_ops, Tails};
use super::keys::{CodeKeys, FileCodeKeys, WithLegacy};
use super::maintenance::Unerased;
use super::manifest::{self, write_manifest, Manifest};
use super::segment::{FaceSegment, FingerSegment, Mapped, SegState, SegmentKind, Shape};
use super::wal::{self, WalOp};
use super::{
    path_of, FileKind, LogLevel, OpenOptions, Published, Snapshot, Store, Workers, Writer,
};
use crate::catalog::{code_key_id, Catalog, CatalogOp, Hash};
use crate::error::{Error, Result};
use crate::face::DIM_RANGE;
use crate::finger::prefilter::Frequencies;
use crate::finger::template::VERSION as TEMPLATE_VERSION;
use crate::fs::{Fs, FsFile};
use crate::ids::check_model;
use crate::kernels::Kernels;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
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
        if opts.read_only {
            return Err(Error::Invalid("a store cannot be created read-only".into()));
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
    /// checked; the vectors are not read), and replays the log. Nothing is written until all of it
    /// has been read and found sound: a damaged store is refused with every byte kept. With
    /// [`OpenOptions::read_only`], nothing is written at all.
    pub fn open(dir: &Path, opts: OpenOptions) -> Result<Store> {
        let fs = opts.fs.clone();
        let mpath = path_of(dir, FileKind::Manifest);
        if fs.file_len(&mpath).is_err() {
            return Err(no_store(dir));
        }
        if opts.read_only {
            return open_read_only(dir, opts);
        }
        let lock = fs.lock(dir)?;
        let mut l = load(&*fs, dir, &read_manifest(&*fs, dir)?, false)?;

        // Everything read is sound: only now are files changed. Leftovers of an interrupted
        // checkpoint (files the manifest does not name) are scrubbed; one a read-only open still
        // maps is left to the graveyard, scrubbed once it is released.
        let m = &l.manifest;
        let mut named: HashSet<String> = [
            FileKind::Manifest,
            FileKind::Lock,
            FileKind::CodeKeys,
            FileKind::Wal(m.wal_gen),
        ]
        .iter()
        .chain(&m.segment_files())
        .map(FileKind::name)
        .collect();
        if m.catalog != 0 {
            named.insert(FileKind::Catalog(m.catalog).name());
        }
        let mut scrubbed = false;
        let mut graveyard = Vec::new();
        for name in fs.list(dir).map_err(|e| Error::io("list", dir, e))? {
            if FileKind::parse(&name).is_some() && !named.contains(&name) {
                let p = dir.join(&name);
                match fs.scrub_remove(&p) {
                    Ok(()) => scrubbed = true,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        graveyard.push((None, p))
                    }
                    Err(e) => return Err(Error::io("remove", &p, e)),
                }
            }
        }
        if scrubbed {
            fs.sync_dir(dir).map_err(|e| Error::io("fsync", dir, e))?;
        }
        // Cut a torn tail (see `wal`: only an unreadable last record with nothing intact after it).
        let wpath = path_of(dir, FileKind::Wal(m.wal_gen));
        let mut wal = fs
            .open_append(&wpath)
            .map_err(|e| Error::io("open", &wpath, e))?;
        if l.valid_len < l.file_len {
            wal.truncate(l.valid_len)
                .and_then(|_| wal.sync_data())
                .map_err(|e| Error::io("truncate torn tail of", &wpath, e))?;
        }
        let from_catalog = m.version < manifest::FINGERS_VERSION;
        let upgrade = from_catalog
            || l.snap
                .fingers
                .iter()
                .any(|s| s.seg.prepared_version() != TEMPLATE_VERSION);
        let legacy_keys = std::mem::take(&mut l.legacy_keys);
        let torn = l.file_len - l.valid_len;
        let store = finish(dir, opts, l, wal, graveyard, lock)?;
        store.report(LogLevel::Info, || {
            let snap = store.snapshot();
            format!(
                "opened store {}: sequence {}, {} face and {} fingerprint templates",
                dir.display(),
                snap.seq(),
                snap.faces.iter().map(|s| s.live_count).sum::<usize>(),
                snap.fingers.iter().map(|s| s.live_count).sum::<usize>()
            )
        });
        if torn > 0 {
            store.report(LogLevel::Warn, || {
                format!("recovery: cut a torn log tail of {torn} bytes (a commit interrupted before it was durable)")
            });
        }
        if scrubbed {
            store.report(LogLevel::Warn, || {
                "recovery: scrubbed leftovers of an interrupted checkpoint".to_string()
            });
        }
        // Code keys of an older build (in its catalog file or log) move to the key provider, and
        // a checkpoint rewrites the catalog and log without them (scrubbing the old files); keys
        // no location uses any more (or left by a commit a crash lost) are dropped.
        store.settle_keys(&legacy_keys)?;
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

/// How many times a read-only open starts again when a writer's checkpoint switched the manifest
/// while it was reading.
const READ_ATTEMPTS: usize = 20;

/// A read-only open (see [`OpenOptions::read_only`]). It takes no writer lock, so a writer may
/// checkpoint meanwhile: the manifest is read before and after everything it names, and the whole
/// load starts again when it changed (a checkpoint renames the new manifest into place before it
/// scrubs any file the old one named, and the segments are held by shared locks from the moment
/// they are mapped, so an unchanged manifest means every byte read was the live state's).
fn open_read_only(dir: &Path, opts: OpenOptions) -> Result<Store> {
    let fs = opts.fs.clone();
    let mut last_err = None;
    for _ in 0..READ_ATTEMPTS {
        let before = read_manifest_bytes(&*fs, dir)?;
        let m = Manifest::decode(&before, &path_of(dir, FileKind::Manifest))?;
        let loaded = load(&*fs, dir, &m, true);
        if read_manifest_bytes(&*fs, dir)? != before {
            last_err = loaded.err();
            continue;
        }
        let l = loaded?;
        return finish(
            dir,
            opts,
            l,
            Box::new(crate::fs::ReadOnlyFile),
            Vec::new(),
            Box::new(()),
        );
    }
    Err(last_err.unwrap_or_else(|| Error::Io {
        op: "read",
        path: dir.to_path_buf(),
        source: std::io::Error::other(format!(
            "the store changed {READ_ATTEMPTS} times while being opened read-only; try again"
        )),
    }))
}

fn no_store(dir: &Path) -> Error {
    Error::NoStore(format!(
        "{} holds no store (no MANIFEST); create one with `edgeid init`",
        dir.display()
    ))
}

fn read_manifest_bytes(fs: &dyn Fs, dir: &Path) -> Result<Vec<u8>> {
    let mpath = path_of(dir, FileKind::Manifest);
    fs.read(&mpath).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            no_store(dir)
        } else {
            Error::io("read", &mpath, e)
        }
    })
}

fn read_manifest(fs: &dyn Fs, dir: &Path) -> Result<Manifest> {
    Manifest::decode(
        &read_manifest_bytes(fs, dir)?,
        &path_of(dir, FileKind::Manifest),
    )
}

/// A store's state as read from its files, before anything is written.
struct Loaded {
    manifest: Manifest,
    snap: Snapshot,
    tails: Tails,
    dirty: HashSet<u64>,
    catalog_dirty: bool,
    /// Whether a segment has deletion files (rows dead since the manifest's `unerased_since`).
    segments_dead: bool,
    /// Whether the log holds deletions (dead since the log was started).
    log_dead: bool,
    /// Bytes of the log holding its header and intact records.
    valid_len: u64,
    /// Bytes of the log file (more than `valid_len` when it has a torn tail).
    file_len: u64,
    /// Shared locks on the mapped segments (read-only opens only).
    held: Vec<Box<dyn Send + Sync>>,
    /// Code keys found in a catalog file or log of an older build (see `keys`).
    legacy_keys: Vec<Hash>,
}

/// Reads everything `m` names and replays the log into memory. Writes nothing. `shared`: map the
/// segments under shared locks (read-only opens).
fn load(fs: &dyn Fs, dir: &Path, m: &Manifest, shared: bool) -> Result<Loaded> {
    let dim = m.dim as usize;
    let shape = Shape {
        model: &m.model,
        dim,
    };
    let mut held = Vec::new();
    let (faces, faces_dead) =
        load_segments::<FaceSegment>(fs, dir, &m.faces, shape, shared.then_some(&mut held))?;
    let (fingers, fingers_dead) =
        load_segments::<FingerSegment>(fs, dir, &m.fingers, shape, shared.then_some(&mut held))?;
    // Prefilter weights: per-segment counts (stored in the files) minus the dead rows.
    let mut finger_freq = Frequencies::default();
    for s in &fingers {
        finger_freq.merge(&s.seg.frequencies());
        for r in (0..s.seg.rows()).filter(|&r| !s.live.get(r)) {
            finger_freq.update(s.seg.summary(r), false);
        }
    }
    let mut legacy_keys = Vec::new();
    let catalog = if m.catalog != 0 {
        let p = path_of(dir, FileKind::Catalog(m.catalog));
        let b = fs.read(&p).map_err(|e| Error::io("read", &p, e))?;
        Catalog::decode(&b, &p, &mut legacy_keys)?
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
    // Replay the log into the in-memory tail.
    let wpath = path_of(dir, FileKind::Wal(m.wal_gen));
    let wbytes = fs.read(&wpath).map_err(|e| Error::io("read", &wpath, e))?;
    let replay = wal::replay(&wbytes, dim, m.wal_gen, m.last_seq, &wpath)?;
    if replay.version == 1 {
        legacy_keys.extend(logged_keys(&replay.records, &wpath)?);
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
    Ok(Loaded {
        manifest: m.clone(),
        snap,
        tails,
        dirty,
        catalog_dirty,
        segments_dead: faces_dead || fingers_dead,
        log_dead,
        valid_len: replay.valid_len,
        file_len: wbytes.len() as u64,
        held,
        legacy_keys,
    })
}

/// The code keys the records of a version-1 log carry (`CatalogOp::LegacyApplied`).
fn logged_keys(records: &[(u64, Vec<WalOp>)], path: &Path) -> Result<Vec<Hash>> {
    let mut keys = Vec::new();
    for op in records.iter().flat_map(|(_, ops)| ops) {
        if let WalOp::Catalog(b) = op {
            let op: CatalogOp = postcard::from_bytes(b)
                .map_err(|e| Error::corrupt(path, format!("catalog op: {e}")))?;
            if let CatalogOp::LegacyApplied {
                code_key: Some(k), ..
            } = op
            {
                keys.push(k);
            }
        }
    }
    Ok(keys)
}

/// Builds the store from what was loaded: search threads, the snapshot, the writer's state.
fn finish(
    dir: &Path,
    opts: OpenOptions,
    l: Loaded,
    wal: Box<dyn FsFile>,
    graveyard: Vec<(Option<Mapped>, PathBuf)>,
    lock: Box<dyn Send + Sync>,
) -> Result<Store> {
    let unerased = date_deletions(&l.manifest, l.segments_dead, l.log_dead, &opts);
    let mut code_keys: Arc<dyn CodeKeys> = match &opts.code_keys {
        Some(k) => k.clone(),
        None => Arc::new(FileCodeKeys::open(opts.fs.clone(), dir)?),
    };
    if opts.read_only && !l.legacy_keys.is_empty() {
        // An older build's keys, which a read-only open may not move: used from memory.
        code_keys = Arc::new(WithLegacy {
            inner: code_keys,
            legacy: l.legacy_keys.iter().map(|k| (code_key_id(k), *k)).collect(),
        });
    }
    let kernels = opts.kernels.unwrap_or_else(Kernels::detect);
    // The journal, under the writer lock (created on the first open; an older store gets an
    // empty one).
    let journal = crate::journal::Journal::open(&dir.join(crate::journal::DIR), opts.journal())?;
    let workers = Arc::new(Workers::new(opts.threads)?);
    Ok(Store {
        layered: std::sync::OnceLock::new(),
        dir: dir.to_path_buf(),
        fs: opts.fs.clone(),
        code_keys,
        kernels,
        workers,
        current: RwLock::new(Arc::new(l.snap)),
        retired: Mutex::new(Vec::new()),
        published: Mutex::new(Published {
            manifest: l.manifest.clone(),
            wal_len: l.valid_len,
            maintenance: None,
        }),
        writer: Mutex::new(Writer {
            wal,
            wal_len: l.valid_len,
            manifest: l.manifest,
            tail_next: l.tails.faces,
            finger_tail_next: l.tails.fingers,
            keys: None,
            finger_keys: None,
            dirty: l.dirty,
            catalog_dirty: l.catalog_dirty,
            unerased,
            maintenance: None,
            graveyard,
            poisoned: None,
            poison_logged: false,
        }),
        opts,
        journal,
        _lock: Box::new((lock, l.held)),
    })
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
/// `held`: map under shared locks, kept there (read-only opens).
fn load_segments<S: SegmentKind>(
    fs: &dyn Fs,
    dir: &Path,
    list: &[(u64, u64)],
    shape: Shape<'_>,
    mut held: Option<&mut Vec<Box<dyn Send + Sync>>>,
) -> Result<(Vec<SegState<S>>, bool)> {
    let mut segs = Vec::with_capacity(list.len());
    let mut any_dead = false;
    for &(id, del) in list {
        let p = path_of(dir, S::file(id));
        let bytes = match held.as_deref_mut() {
            Some(held) => {
                let (bytes, lock) = fs.map_shared(&p).map_err(|e| Error::io("map", &p, e))?;
                held.push(lock);
                bytes
            }
            None => fs.map(&p).map_err(|e| Error::io("map", &p, e))?,
        };
        let seg = S::open(bytes, &p, shape)?;
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
