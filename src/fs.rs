//! The file-system layer under the store.
//!
//! The store does all its I/O through [`Fs`] so the same commit code runs on the real disk ([`StdFs`])
//! and on [`SimFs`], a simulated disk that keeps only what was made durable. `SimFs` is how the test
//! suite proves crash safety: it can fail at the n-th sync point and then "lose power", keeping exactly
//! the bytes and directory entries that were fsynced (plus, like a real disk, some of the data
//! appended since the last sync: a random prefix of it — a torn tail — or, see [`Tear`], a random
//! subset of its pages — writes reordered by the disk, holes reading as zeros). The power can go
//! at a sync point ([`SimFs::fail_at_sync`]) or at any writing operation ([`SimFs::fail_at_op`]).

use crate::error::{Error, Result};
use crate::mmap::Bytes;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A file open for appending.
pub trait FsFile: Send {
    /// Appends `buf`.
    fn append(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Makes the file's data durable (fdatasync).
    fn sync_data(&mut self) -> io::Result<()>;
    /// Cuts the file to `len` bytes (used to drop a torn or refused record).
    fn truncate(&mut self, len: u64) -> io::Result<()>;
}

/// The operations the store needs from a file system. Paths are absolute or relative to the process.
pub trait Fs: Send + Sync + std::fmt::Debug {
    /// Creates a new file (fails if it exists) for appending.
    fn create(&self, path: &Path) -> io::Result<Box<dyn FsFile>>;
    /// Opens an existing file for appending at its end.
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn FsFile>>;
    /// Reads a whole file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Maps (or loads) an immutable file.
    fn map(&self, path: &Path) -> io::Result<Bytes>;
    /// Renames atomically, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Overwrites the file with zeros, syncs it, then unlinks it: biometric bytes do not linger in
    /// the file system's free space through this file. Fails with `WouldBlock`, changing nothing,
    /// while a read-only open maps the file (see [`Fs::map_shared`]); the caller retries later.
    fn scrub_remove(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creates, renames, removes) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Lists the file names in a directory.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Creates a directory and its parents (on a real disk with mode [`DIR_MODE`]; files are
    /// created with [`FILE_MODE`]).
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Takes the exclusive writer lock of a store directory; released when the guard drops.
    fn lock(&self, dir: &Path) -> Result<Box<dyn Send + Sync>>;
    /// Maps an immutable file for a read-only open, holding a shared lock on it until the guard
    /// drops, so a writer does not scrub it meanwhile (see [`Fs::scrub_remove`]). Fails with
    /// `WouldBlock` while a writer is scrubbing it.
    fn map_shared(&self, path: &Path) -> io::Result<(Bytes, Box<dyn Send + Sync>)>;
    /// Free bytes on the device, when known.
    fn file_len(&self, path: &Path) -> io::Result<u64>;
}

/// The real file system. Directories it creates get mode 0700 and files 0600 (before the umask,
/// which can only take bits away): the store holds biometric templates, keyed code hashes and,
/// by default, the code keys, which no other local user may read.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFs;

/// Mode of every file a store creates.
pub const FILE_MODE: u32 = 0o600;
/// Mode of a store directory (and of parents it creates).
pub const DIR_MODE: u32 = 0o700;

struct StdFile(File);

impl FsFile for StdFile {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
}

impl Fs for StdFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        let f = OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(path)?;
        Ok(Box::new(StdFile(f)))
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        let f = OpenOptions::new().append(true).open(path)?;
        Ok(Box::new(StdFile(f)))
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }
    fn map(&self, path: &Path) -> io::Result<Bytes> {
        Bytes::map(&File::open(path)?)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn scrub_remove(&self, path: &Path) -> io::Result<()> {
        let mut f = OpenOptions::new().write(true).open(path)?;
        // Readers hold a shared lock on the segments they map; the exclusive lock is held until
        // the unlink (the descriptor closes after it).
        match f.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!("{} is mapped by a read-only open", path.display()),
                ))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
        let len = f.metadata()?.len();
        let zeros = vec![0u8; 1 << 20];
        let mut left = len;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            f.write_all(&zeros[..n])?;
            left -= n as u64;
        }
        f.sync_data()?;
        std::fs::remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for e in std::fs::read_dir(dir)? {
            if let Some(n) = e?.file_name().to_str() {
                names.push(n.to_string());
            }
        }
        Ok(names)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)
    }
    /// The lock is a `flock` on the directory itself: unlike a lock file, it cannot be deleted and
    /// re-created under a running writer (deleting `LOCK` used to let a second writer in). `LOCK`
    /// is still created and locked too, after the directory, so a build from before this one,
    /// which locks only `LOCK`, sees the store as taken.
    fn lock(&self, dir: &Path) -> Result<Box<dyn Send + Sync>> {
        let d = File::open(dir).map_err(|e| Error::io("open", dir, e))?;
        try_lock(&d, dir, dir)?;
        let path = dir.join("LOCK");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(FILE_MODE)
            .open(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        try_lock(&f, &path, dir)?;
        Ok(Box::new((d, f)))
    }
    fn map_shared(&self, path: &Path) -> io::Result<(Bytes, Box<dyn Send + Sync>)> {
        let f = File::open(path)?;
        match f.try_lock_shared() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "being scrubbed by the writer",
                ))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
        Ok((Bytes::map(&f)?, Box::new(f)))
    }
    fn file_len(&self, path: &Path) -> io::Result<u64> {
        Ok(std::fs::metadata(path)?.len())
    }
}

/// An exclusive, non-blocking `flock` on `f` (the file or directory at `path`) for the store `dir`.
fn try_lock(f: &File, path: &Path, dir: &Path) -> Result<()> {
    match f.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked(dir.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io("lock", path, e)),
    }
}

/// The log handle of a read-only store: every write fails (the store refuses writes before
/// reaching it; this is a second wall).
pub(crate) struct ReadOnlyFile;

impl FsFile for ReadOnlyFile {
    fn append(&mut self, _: &[u8]) -> io::Result<()> {
        Err(read_only())
    }
    fn sync_data(&mut self) -> io::Result<()> {
        Err(read_only())
    }
    fn truncate(&mut self, _: u64) -> io::Result<()> {
        Err(read_only())
    }
}

fn read_only() -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, "store opened read-only")
}

/// A simulated disk for crash tests: tracks what is durable, fails on demand, and "loses power".
#[derive(Debug, Clone, Default)]
pub struct SimFs {
    state: Arc<Mutex<SimState>>,
}

#[derive(Debug, Default)]
struct SimState {
    /// inode → (current data, durable data)
    inodes: HashMap<u64, (Vec<u8>, Vec<u8>)>,
    names: HashMap<PathBuf, u64>,
    durable_names: HashMap<PathBuf, u64>,
    next_inode: u64,
    /// Sync points seen so far.
    syncs: u64,
    /// Fail at this sync point and every operation after it.
    fail_at_sync: Option<u64>,
    /// Writing operations (creates, appends, truncations, renames, syncs, removals) seen so far.
    ops: u64,
    /// Fail at this writing operation and every operation after it.
    fail_at_op: Option<u64>,
    dead: bool,
    /// Bytes the disk may hold (None = unlimited).
    capacity: Option<u64>,
    locked: Vec<PathBuf>,
    /// Seed for how much of an unsynced tail survives a power loss.
    seed: u64,
}

/// What a power loss keeps of the data appended to a file since its last sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tear {
    /// A random prefix (the writes reached the disk in order and the last was cut).
    Prefix,
    /// A random subset of its pages of this many bytes (aligned to file offsets), the pages not
    /// kept reading as zeros up to the last page kept: the disk reordered the writes.
    Pages(usize),
}

fn dead_err() -> io::Error {
    io::Error::other("simulated power loss")
}

impl SimState {
    fn check(&self) -> io::Result<()> {
        if self.dead {
            Err(dead_err())
        } else {
            Ok(())
        }
    }
    /// A writing operation: where the power may go.
    fn op_point(&mut self) -> io::Result<()> {
        self.check()?;
        self.ops += 1;
        if Some(self.ops) == self.fail_at_op {
            self.dead = true;
            return Err(dead_err());
        }
        Ok(())
    }
    fn sync_point(&mut self) -> io::Result<()> {
        self.op_point()?;
        self.syncs += 1;
        if Some(self.syncs) == self.fail_at_sync {
            self.dead = true;
            return Err(dead_err());
        }
        Ok(())
    }
    fn used(&self) -> u64 {
        self.inodes.values().map(|(d, _)| d.len() as u64).sum()
    }
}

struct SimFile {
    state: Arc<Mutex<SimState>>,
    inode: u64,
    path: PathBuf,
}

impl FsFile for SimFile {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut s = self.state.lock().unwrap();
        let was_alive = !s.dead;
        if let Err(e) = s.op_point() {
            // The power went during this write: its bytes may have reached the page cache (a
            // power loss then keeps some of them, like any unsynced data), never the caller.
            if was_alive {
                if let Some(f) = s.inodes.get_mut(&self.inode) {
                    f.0.extend_from_slice(buf);
                }
            }
            return Err(e);
        }
        if let Some(cap) = s.capacity {
            if s.used() + buf.len() as u64 > cap {
                return Err(io::Error::from(io::ErrorKind::StorageFull));
            }
        }
        let f = s.inodes.get_mut(&self.inode).ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, self.path.display().to_string())
        })?;
        f.0.extend_from_slice(buf);
        Ok(())
    }
    fn sync_data(&mut self) -> io::Result<()> {
        let mut s = self.state.lock().unwrap();
        s.sync_point()?;
        if let Some(f) = s.inodes.get_mut(&self.inode) {
            f.1 = f.0.clone();
        }
        Ok(())
    }
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        let mut s = self.state.lock().unwrap();
        s.op_point()?;
        if let Some(f) = s.inodes.get_mut(&self.inode) {
            f.0.truncate(len as usize);
        }
        Ok(())
    }
}

impl SimFs {
    /// An empty simulated disk.
    pub fn new() -> SimFs {
        SimFs::default()
    }

    /// Makes the `n`-th sync point from now (1-based) fail, and every operation after it, as if the
    /// power went out there.
    pub fn fail_at_sync(&self, n: u64) {
        let mut s = self.state.lock().unwrap();
        s.fail_at_sync = Some(s.syncs + n);
    }

    /// Makes the `n`-th writing operation from now (1-based: creates, appends, truncations,
    /// renames, syncs, removals) fail, and every operation after it, as if the power went out
    /// there. A failing append's bytes are left unsynced in the file (the write was under way).
    pub fn fail_at_op(&self, n: u64) {
        let mut s = self.state.lock().unwrap();
        s.fail_at_op = Some(s.ops + n);
    }

    /// Writing operations (see [`SimFs::fail_at_op`]) performed so far.
    pub fn ops(&self) -> u64 {
        self.state.lock().unwrap().ops
    }

    /// Sync points (file or directory syncs) performed so far.
    pub fn syncs(&self) -> u64 {
        self.state.lock().unwrap().syncs
    }

    /// Limits the disk to `bytes` in total (None: unlimited). An append that would pass the limit
    /// fails with ENOSPC (`StorageFull`) and writes nothing; renames, truncations and scrubbing
    /// never need space. Space is counted over every file's current data, including files unlinked
    /// since the last directory sync (as a real file system keeps an open or unsynced inode).
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.state.lock().unwrap().capacity = bytes;
    }

    /// Makes the disk full after `bytes` more bytes are appended (from what it holds now): how the
    /// tests put the end of the space at every byte of a commit and the housekeeping after it.
    pub fn full_after(&self, bytes: u64) {
        let mut s = self.state.lock().unwrap();
        s.capacity = Some(s.used() + bytes);
    }

    /// Returns the disk as it would be after a power loss now: only durable directory entries survive,
    /// each file keeps its durable data plus, when it was appended to since, a pseudo-random prefix of
    /// the unsynced tail (`seed` picks which). Locks are released and faults cleared.
    pub fn power_loss(&self, seed: u64) -> SimFs {
        self.power_loss_with(seed, Tear::Prefix)
    }

    /// [`power_loss`](Self::power_loss), choosing what survives of each file's unsynced appends.
    pub fn power_loss_with(&self, seed: u64, tear: Tear) -> SimFs {
        let s = self.state.lock().unwrap();
        let mut rng = seed ^ s.seed ^ 0x9e37_79b9_7f4a_7c15;
        let mut inodes = HashMap::new();
        // Files in a fixed order, so a seed always tears the same way.
        let mut all: Vec<_> = s.inodes.iter().collect();
        all.sort_by_key(|(&ino, _)| ino);
        for (&ino, (cur, dur)) in all {
            let mut keep = dur.clone();
            if cur.len() > dur.len() && cur.starts_with(dur) {
                let tail = &cur[dur.len()..];
                match tear {
                    Tear::Prefix => {
                        rng = splitmix(rng);
                        let extra = (rng % (tail.len() + 1) as u64) as usize;
                        keep.extend_from_slice(&tail[..extra]);
                    }
                    Tear::Pages(page) => {
                        // Pages are aligned to file offsets; each unsynced one independently made
                        // it or not. The file ends with the last page that made it.
                        let page = page.max(1);
                        let mut at = dur.len();
                        let mut end = dur.len();
                        let mut pages = Vec::new();
                        while at < cur.len() {
                            let next = ((at / page + 1) * page).min(cur.len());
                            rng = splitmix(rng);
                            let kept = rng & 1 == 1;
                            if kept {
                                end = next;
                            }
                            pages.push((at, next, kept));
                            at = next;
                        }
                        for (from, to, kept) in pages {
                            if from >= end {
                                break;
                            }
                            if kept {
                                keep.extend_from_slice(&cur[from..to]);
                            } else {
                                keep.resize(to, 0);
                            }
                        }
                    }
                }
            }
            inodes.insert(ino, (keep.clone(), keep));
        }
        let names = s.durable_names.clone();
        SimFs {
            state: Arc::new(Mutex::new(SimState {
                inodes,
                durable_names: names.clone(),
                names,
                next_inode: s.next_inode,
                seed: splitmix(rng),
                ..SimState::default()
            })),
        }
    }

    /// Returns the disk as it would be after a clean shutdown (everything written is kept).
    pub fn clean_restart(&self) -> SimFs {
        let s = self.state.lock().unwrap();
        let inodes = s
            .inodes
            .iter()
            .map(|(&i, (cur, _))| (i, (cur.clone(), cur.clone())))
            .collect();
        SimFs {
            state: Arc::new(Mutex::new(SimState {
                inodes,
                durable_names: s.names.clone(),
                names: s.names.clone(),
                next_inode: s.next_inode,
                ..SimState::default()
            })),
        }
    }

    /// Every byte currently stored in any file, for tests that check erasure and secrecy.
    pub fn all_bytes(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let s = self.state.lock().unwrap();
        s.names
            .iter()
            .map(|(p, i)| (p.clone(), s.inodes[i].0.clone()))
            .collect()
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, path.display().to_string())
}

impl Fs for SimFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        let mut s = self.state.lock().unwrap();
        s.op_point()?;
        if s.names.contains_key(path) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                path.display().to_string(),
            ));
        }
        let ino = s.next_inode;
        s.next_inode += 1;
        s.inodes.insert(ino, (Vec::new(), Vec::new()));
        s.names.insert(path.to_path_buf(), ino);
        Ok(Box::new(SimFile {
            state: self.state.clone(),
            inode: ino,
            path: path.to_path_buf(),
        }))
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        let s = self.state.lock().unwrap();
        s.check()?;
        let ino = *s.names.get(path).ok_or_else(|| not_found(path))?;
        Ok(Box::new(SimFile {
            state: self.state.clone(),
            inode: ino,
            path: path.to_path_buf(),
        }))
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let s = self.state.lock().unwrap();
        s.check()?;
        let ino = s.names.get(path).ok_or_else(|| not_found(path))?;
        Ok(s.inodes[ino].0.clone())
    }
    fn map(&self, path: &Path) -> io::Result<Bytes> {
        Ok(Bytes::copy_from(&self.read(path)?))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.state.lock().unwrap();
        s.op_point()?;
        let ino = s.names.remove(from).ok_or_else(|| not_found(from))?;
        s.names.insert(to.to_path_buf(), ino);
        Ok(())
    }
    fn scrub_remove(&self, path: &Path) -> io::Result<()> {
        let mut s = self.state.lock().unwrap();
        s.sync_point()?;
        let ino = s.names.remove(path).ok_or_else(|| not_found(path))?;
        if let Some(f) = s.inodes.get_mut(&ino) {
            f.0.iter_mut().for_each(|b| *b = 0);
            f.1 = f.0.clone();
        }
        Ok(())
    }
    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        let mut s = self.state.lock().unwrap();
        s.sync_point()?;
        s.durable_names = s.names.clone();
        let live: std::collections::HashSet<u64> = s
            .names
            .values()
            .chain(s.durable_names.values())
            .copied()
            .collect();
        s.inodes.retain(|i, _| live.contains(i));
        Ok(())
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let s = self.state.lock().unwrap();
        s.check()?;
        Ok(s.names
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .collect())
    }
    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        self.state.lock().unwrap().check()
    }
    fn lock(&self, dir: &Path) -> Result<Box<dyn Send + Sync>> {
        let mut s = self.state.lock().unwrap();
        if s.locked.iter().any(|d| d == dir) {
            return Err(Error::Locked(dir.to_path_buf()));
        }
        s.locked.push(dir.to_path_buf());
        Ok(Box::new(SimLock {
            state: self.state.clone(),
            dir: dir.to_path_buf(),
        }))
    }
    /// The simulated disk has no readers in other processes: a plain map, no lock.
    fn map_shared(&self, path: &Path) -> io::Result<(Bytes, Box<dyn Send + Sync>)> {
        Ok((self.map(path)?, Box::new(())))
    }
    fn file_len(&self, path: &Path) -> io::Result<u64> {
        let s = self.state.lock().unwrap();
        let ino = s.names.get(path).ok_or_else(|| not_found(path))?;
        Ok(s.inodes[ino].0.len() as u64)
    }
}

struct SimLock {
    state: Arc<Mutex<SimState>>,
    dir: PathBuf,
}

impl Drop for SimLock {
    fn drop(&mut self) {
        if let Ok(mut s) = self.state.lock() {
            s.locked.retain(|d| d != &self.dir);
        }
    }
}
/// Writes a new file completely and fsyncs it.
pub fn write_file(fs: &dyn Fs, p: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = fs.create(p).map_err(|e| Error::io("create", p, e))?;
    let r = f.append(bytes).map_err(|e| Error::io("write", p, e));
    let r = r.and_then(|_| f.sync_data().map_err(|e| Error::io("fsync", p, e)));
    if r.is_err() {
        drop(f);
        let _ = fs.scrub_remove(p);
    }
    r
}
