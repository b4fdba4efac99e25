//! A commit: validation, the plan under the writer lock, one log record, publication.

use super::apply::{apply_ops, Tails};
use super::bulk::Stager;
use super::planner::{Keyed, Planner};
use super::segment::build_keys;
use super::wal::{self, WalOp};
use super::{path_of, Change, Committed, FileKind, Store, Writer};
use crate::error::{alloc, Error, Result};
use crate::face::normalize;
use crate::finger::enroll::{prepare, Prepared};
use crate::ids::check_id;

impl Store {
    /// Applies a batch of changes as one atomic, durable commit: all or nothing, durable when this
    /// returns (one log append + one fdatasync), visible to the next search. Returns the commit's
    /// sequence number and what it did to each template. Invalid input is refused before anything
    /// is written.
    pub fn commit(&self, changes: &[Change]) -> Result<Committed> {
        self.check_writable()?;
        let dim = self.snapshot().dim;
        // Validate everything first: nothing is written for a refused batch.
        let mut normalized: Vec<Option<Vec<f32>>> =
            alloc::with_capacity(changes.len(), "commit batch")?;
        for (i, c) in changes.iter().enumerate() {
            let at = |e: Error| Error::Invalid(format!("change {i}: {}", strip_invalid(&e)));
            let (location, user, template) = c.ids();
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
        // Fingerprint records are parsed and prepared (about 0.12 ms each) on the store's threads,
        // before the writer lock is taken.
        let fingers: Vec<Option<Prepared>> = {
            let numbered: Vec<(usize, &Change)> = changes.iter().enumerate().collect();
            self.workers()
                .map(&numbered, 2, |&(i, c)| match c {
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
                .into_iter()
                .collect::<Result<_>>()?
        };
        let puts = changes
            .iter()
            .filter(|c| matches!(c, Change::PutFace { .. } | Change::PutFinger { .. }))
            .count();
        self.commit_plan_as(puts >= self.opts.bulk_rows, |p| {
            // Checked under the writer lock, against the catalog a delta may just have changed.
            for (i, c) in changes.iter().enumerate() {
                let location = c.ids().0;
                if p.catalog().locations.contains_key(location) {
                    return Err(Error::Invalid(format!(
                        "change {i}: location {location:?} is managed by the platform: its templates \
                         change only through synchronisation deltas (local enrolment would be \
                         invisible to the digest); use a local location such as \"local\""
                    )));
                }
            }
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
    ) -> Result<Committed> {
        self.commit_plan_as(false, plan)
    }

    /// [`Store::commit_plan`]; with `bulk`, on the bulk path (see `bulk`): the plan's templates
    /// are staged in new segment files and the commit is a manifest switch.
    pub(crate) fn commit_plan_as(
        &self,
        bulk: bool,
        plan: impl FnOnce(&mut Planner<'_>) -> Result<()>,
    ) -> Result<Committed> {
        let mut w = self.writer()?;
        let snap = self.snapshot();
        if w.keys.is_none() {
            w.keys = Some(build_keys(&snap.faces));
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
            done: Committed::default(),
            stage: bulk.then(|| Stager::new(self, w.manifest.next_id)),
            catalog_ops: 0,
        };
        let planned = plan(&mut p);
        let Planner {
            faces,
            fingers,
            ops,
            catalog,
            done,
            stage,
            catalog_ops,
            ..
        } = p;
        let (overlay, finger_overlay) = (faces.overlay, fingers.overlay);
        if let Some(s) = &stage {
            // Ids a stager took stay taken, whatever happens next (a file of a failed attempt
            // that could not be removed never meets a new one of its name).
            w.manifest.next_id = s.next_id;
        }
        planned?;
        let staged_rows = stage.as_ref().map_or(0, |s| s.rows);
        if ops.is_empty() && staged_rows == 0 && catalog_ops == 0 {
            return Ok(Committed {
                seq: snap.seq,
                ..done
            });
        }
        let seq = snap.seq + 1;
        let kills = ops.iter().any(WalOp::is_kill);
        match stage {
            Some(stage) => {
                // Durable and published by the manifest switch.
                self.commit_bulk(&mut w, &snap, &ops, catalog, stage, seq)?;
            }
            None => {
                // The next snapshot is built before the log append, so a failure to build it
                // (out of memory for a large batch's tail block) leaves nothing written: the
                // commit is refused and the store is as it was. Only a durable record is
                // published.
                let mut new = (*snap).clone();
                let mut tails = Tails {
                    faces: w.tail_next,
                    fingers: w.finger_tail_next,
                };
                let mut dirty = w.dirty.clone();
                apply_ops(&mut new, &ops, &mut tails, &mut dirty, Some(catalog))?;
                new.seq = seq;
                self.log(&mut w, seq, &ops)?;

                // Durable: publish.
                w.dirty = dirty;
                w.tail_next = tails.faces;
                w.finger_tail_next = tails.fingers;
                w.catalog_dirty |= ops.iter().any(|o| matches!(o, WalOp::Catalog(_)));
                if kills {
                    self.note_deletion(&mut w);
                }
                self.publish(new);
            }
        }
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
        drop(snap); // release the old snapshot so housekeeping can scrub what only it mapped
        drop(ops); // and the logged bytes (prepared fingerprints: 13–17 KB each) before a checkpoint

        // The commit is durable: the housekeeping after it (checkpoint, erasure) cannot undo it, so
        // its failure is kept for `maintain` and `stats` and retried, never reported as the
        // commit's (see `maintenance`).
        let maintenance_pending = self.housekeep(&mut w).is_err();
        Ok(Committed {
            seq,
            maintenance_pending,
            ..done
        })
    }

    /// Appends and syncs one record; on failure the log is cut back (or the store poisoned).
    pub(super) fn log(&self, w: &mut Writer, seq: u64, ops: &[WalOp]) -> Result<()> {
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
}

fn strip_invalid(e: &Error) -> String {
    match e {
        Error::Invalid(s) => s.clone(),
        other => other.to_string(),
    }
}
