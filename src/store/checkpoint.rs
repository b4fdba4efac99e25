//! Checkpoints, compaction, erasure and the scrubbing of released files.

use super::manifest::{self, write_manifest};
use super::segment::{
    split_rows, FaceSegment, FingerSegment, Mapped, SegState, SegmentKind, Shape,
};
use super::wal::{self, RowRef};
use super::{path_of, FileKind, Snapshot, Store, Writer};
use crate::error::{Error, Result};
use crate::fs::{write_file, Fs};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

impl Store {
    /// Writes the tail and changed deletion lists to new files and switches the manifest (see the
    /// module docs). Afterwards the log is empty.
    pub fn checkpoint(&self) -> Result<()> {
        let mut w = self.writer()?;
        let r = self.checkpoint_locked(&mut w);
        self.reap(&mut w);
        self.note_maintenance(&mut w, &r);
        r
    }

    pub(super) fn checkpoint_locked(&self, w: &mut Writer) -> Result<()> {
        let r = self.rewrite(w, false);
        if let Err(e) = &r {
            if !leaves_state_intact(e) {
                w.poisoned = Some(format!("checkpoint failed: {e}"));
            }
        }
        r
    }

    /// Rewrites the store's files: the tails become segments; with `compact`, every segment with dead
    /// rows is merged with its index's tail into one new segment. A rewrite that fails before the
    /// manifest switch (a full disk, a damaged segment) removes the files it wrote, so it leaves the
    /// store as it was and can be retried; ids it used are not reused.
    pub(super) fn rewrite(&self, w: &mut Writer, compact: bool) -> Result<()> {
        self.rewrite_snapshot(w, self.snapshot(), compact)
    }

    /// [`Store::rewrite`] of `snap`, which becomes the published snapshot once the manifest
    /// switched: the current one, or the unpublished result of a bulk commit (see `bulk`).
    pub(super) fn rewrite_snapshot(
        &self,
        w: &mut Writer,
        snap: Arc<Snapshot>,
        compact: bool,
    ) -> Result<()> {
        let mut created = Vec::new();
        let r = self.rewrite_files(w, snap, compact, &mut created);
        if r.is_ok() {
            self.report(super::LogLevel::Info, || {
                format!(
                    "{}: {} new files, log generation {}",
                    if compact { "compaction" } else { "checkpoint" },
                    created.len(),
                    w.manifest.wal_gen
                )
            });
        }
        if let Err(e) = &r {
            if leaves_state_intact(e) {
                for p in &created {
                    let _ = self.fs.scrub_remove(p);
                }
            }
        }
        r
    }

    /// [`Store::rewrite`], recording in `created` each file it creates (and in `w.manifest.next_id`
    /// each id it takes) as it goes.
    fn rewrite_files(
        &self,
        w: &mut Writer,
        snap: Arc<Snapshot>,
        compact: bool,
        created: &mut Vec<PathBuf>,
    ) -> Result<()> {
        let has_tail =
            snap.faces.iter().any(|s| s.is_tail()) || snap.fingers.iter().any(|s| s.is_tail());
        let has_dead = snap.faces.iter().any(|s| s.live_count < s.seg.rows())
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
            if compact {
                w.unerased = None; // nothing dead anywhere: nothing left to erase
            }
            return Ok(());
        }
        let fs = &*self.fs;
        let dir = &self.dir;
        let catalog_changed = w.catalog_dirty;
        let mut m = w.manifest.clone();
        m.version = manifest::VERSION;

        // 1–2. Each index: the merged segment (live rows of the tail and of segments being
        //      compacted), and new deletion files for kept segments whose deletions changed.
        let mut rw = Rewrite {
            fs,
            dir,
            dirty: &w.dirty,
            compact,
            shape: Shape {
                model: &snap.model,
                dim: snap.dim,
            },
            max_bytes: self.opts.max_segment_bytes,
            next_id: m.next_id,
            obsolete: Vec::new(),
            created: &mut *created,
        };
        let faces = rw.index::<FaceSegment>(&snap.faces, &w.manifest.faces);
        let fingers = faces
            .is_ok()
            .then(|| rw.index::<FingerSegment>(&snap.fingers, &w.manifest.fingers));
        // A failed attempt's ids stay taken: a retry never meets a file of its own name.
        w.manifest.next_id = rw.next_id;
        let (faces, fingers) = (faces?, fingers.expect("faces succeeded")?);
        let Rewrite {
            next_id,
            mut obsolete,
            ..
        } = rw;
        m.next_id = next_id;
        m.faces = faces.list;
        m.fingers = fingers.list;

        // 3. The catalog, when it changed (it holds code hashes and fingerprints: the old file is
        //    scrubbed like any other).
        if w.catalog_dirty {
            if m.catalog != 0 {
                obsolete.push((None, path_of(dir, FileKind::Catalog(m.catalog))));
            }
            m.catalog = 0;
            if !snap.catalog.is_empty() {
                let id = m.next_id;
                m.next_id += 1;
                w.manifest.next_id = m.next_id;
                let p = path_of(dir, FileKind::Catalog(id));
                write_file(fs, &p, &snap.catalog.encode())?;
                created.push(p);
                m.catalog = id;
            }
        }

        // 4. The next log, then the manifest switch.
        let old_wal = path_of(dir, FileKind::Wal(m.wal_gen));
        m.wal_gen += 1;
        m.last_seq = snap.seq;
        // The erasure deadline, dated (see `maintenance`): compaction leaves nothing to erase.
        m.log_started = self.opts.unix_now();
        m.unerased_since = match (&w.unerased, compact) {
            (Some(u), false) => u.since,
            _ => 0,
        };
        let wpath = path_of(dir, FileKind::Wal(m.wal_gen));
        if fs.file_len(&wpath).is_ok() {
            // Not named by the manifest: left by an attempt that could not clean up.
            fs.scrub_remove(&wpath)
                .map_err(|e| Error::io("remove", &wpath, e))?;
        }
        let mut wal = fs
            .create(&wpath)
            .map_err(|e| Error::io("create", &wpath, e))?;
        created.push(wpath.clone());
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
            w.unerased = None;
        }
        w.graveyard.extend(obsolete);
        let mut new = (*snap).clone();
        new.faces = faces.segs;
        new.fingers = fingers.segs;
        self.publish(new);
        if catalog_changed {
            // No file names a key the catalog no longer uses now (the log is empty).
            self.retain_keys(&snap.catalog);
        }
        Ok(())
    }

    /// Compaction (every segment with deleted rows rewritten): erases deleted templates' bytes.
    pub(super) fn erase_locked(&self, w: &mut Writer) -> Result<()> {
        let r = self.rewrite(w, true);
        if let Err(e) = &r {
            if !leaves_state_intact(e) {
                w.poisoned = Some(format!("compaction failed: {e}"));
            }
        }
        r
    }

    /// Scrubs and removes obsolete files that no snapshot maps any more.
    pub(super) fn reap(&self, w: &mut Writer) {
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
}

/// Rewrite errors raised before any file is switched (disk full, a damaged segment found while
/// compacting, no memory to build a segment): the store stays usable, so they do not latch the
/// writer.
pub(super) fn leaves_state_intact(e: &Error) -> bool {
    matches!(
        e,
        Error::StorageFull { .. } | Error::Corrupt { .. } | Error::OutOfMemory { .. }
    )
}

/// One index after a rewrite: its segments, its manifest list, and where moved rows went.
struct Rewritten<S> {
    segs: Vec<SegState<S>>,
    list: Vec<(u64, u64)>,
    moved: HashMap<RowRef, RowRef>,
}

/// One rewrite of the store's files (see [`Store::rewrite`]), shared by both indexes: new file ids
/// are taken from `next_id`, and files that become obsolete are collected in `obsolete`.
struct Rewrite<'a> {
    fs: &'a dyn Fs,
    dir: &'a Path,
    /// Segments whose deletions changed since the manifest was written.
    dirty: &'a HashSet<u64>,
    /// Merge segments with dead rows too, not only the tail.
    compact: bool,
    shape: Shape<'a>,
    /// Largest segment file written (`OpenOptions::max_segment_bytes`).
    max_bytes: usize,
    next_id: u64,
    obsolete: Vec<(Option<Mapped>, PathBuf)>,
    /// Files written so far (removed again if the rewrite fails before the switch).
    created: &'a mut Vec<PathBuf>,
}

impl Rewrite<'_> {
    fn take_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id - 1
    }

    /// Rewrites one index: the tail and, with `compact`, segments with dead rows become one new
    /// segment; kept segments whose deletions changed get new deletion files. Segments being
    /// compacted are checksummed first, so damage is reported instead of being copied under a
    /// fresh checksum.
    fn index<S: SegmentKind>(
        &mut self,
        segs: &[SegState<S>],
        old_list: &[(u64, u64)],
    ) -> Result<Rewritten<S>> {
        let (fs, dir) = (self.fs, self.dir);
        let merge: Vec<usize> = (0..segs.len())
            .filter(|&i| {
                let s = &segs[i];
                s.is_tail() || (self.compact && s.live_count < s.seg.rows())
            })
            .collect();
        let mut rows = Vec::new();
        let mut sources = Vec::new();
        for &i in &merge {
            let s = &segs[i];
            if !s.is_tail() && s.live_count > 0 {
                s.seg.verify_payload()?;
            }
            for r in s.live_rows() {
                rows.push((&*s.seg, r));
                sources.push(s.row_ref(r));
            }
        }
        let mut out = Rewritten {
            segs: Vec::new(),
            list: Vec::new(),
            moved: HashMap::new(),
        };
        // The merged rows, in files of at most `max_bytes` each (see `OpenOptions::max_segment_bytes`).
        let ends = split_rows(
            rows.iter().map(|&(seg, r)| seg.row_bytes(r, self.shape)),
            S::FIXED_BYTES,
            self.max_bytes,
        );
        let mut merged = Vec::with_capacity(ends.len());
        let mut start = 0;
        for end in ends {
            let id = self.take_id();
            let bytes = S::encode_rows(id, &rows[start..end], self.shape)?;
            let p = path_of(dir, S::file(id));
            write_file(fs, &p, bytes.as_ref())?;
            self.created.push(p.clone());
            drop(bytes);
            let seg = S::open(
                fs.map(&p).map_err(|e| Error::io("map", &p, e))?,
                &p,
                self.shape,
            )?;
            for (row, src) in sources[start..end].iter().enumerate() {
                out.moved.insert(
                    *src,
                    RowRef::Seg {
                        id,
                        row: row as u32,
                    },
                );
            }
            merged.push(SegState::new(seg, &[], None));
            start = end;
        }
        for (i, s) in segs.iter().enumerate() {
            if s.is_tail() {
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
                self.obsolete
                    .push((Some(s.seg.clone() as Mapped), path_of(dir, S::file(id))));
                self.obsolete.extend(old_del_path.map(|p| (None, p)));
                continue;
            }
            let mut del = old_del;
            if self.dirty.contains(&id) {
                let dead: Vec<u32> = (0..s.seg.rows())
                    .filter(|&r| !s.live.get(r))
                    .map(|r| r as u32)
                    .collect();
                del = self.take_id();
                let p = path_of(
                    dir,
                    FileKind::Deletes {
                        segment: id,
                        generation: del,
                    },
                );
                write_file(fs, &p, &manifest::encode_deletes(id, &dead))?;
                self.created.push(p);
                self.obsolete.extend(old_del_path.map(|p| (None, p)));
            }
            out.list.push((id, del));
            out.segs.push(s.clone());
        }
        for ms in merged {
            out.list.push((ms.seg.id(), 0));
            out.segs.push(ms);
        }
        Ok(out)
    }
}
