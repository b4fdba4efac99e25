//! The commit planner: changes resolved to physical rows against the current state.

use super::bulk::Stager;
use super::segment::{finger, locate};
use super::wal::{RowRef, WalOp};
use super::{key, Committed, Key, Snapshot};
use crate::catalog::{Catalog, CatalogOp};
use crate::finger::enroll::Prepared;
use crate::finger::template::VERSION as TEMPLATE_VERSION;
use std::collections::BTreeMap;

/// What a commit is going to do, decided under the writer lock against the current state: face and
/// finger changes resolved to physical rows, and catalog changes applied to a working copy (so a plan
/// can validate against the state it produces, e.g. duplicate cards across users).
pub(crate) struct Planner<'a> {
    pub(super) snap: &'a Snapshot,
    pub(super) faces: Keyed<'a>,
    pub(super) fingers: Keyed<'a>,
    pub(super) ops: Vec<WalOp>,
    pub(super) catalog: Catalog,
    /// What the plan did so far (`seq` is set by the commit).
    pub(super) done: Committed,
    /// On the bulk path, where inserts go instead of the log (see `bulk`).
    pub(super) stage: Option<Stager>,
    /// Catalog changes planned (on the bulk path they are not logged: the catalog file written
    /// by the manifest switch carries them).
    pub(super) catalog_ops: usize,
}

/// One index's (location, user, template) → row map as a plan changes it: the writer's map plus an
/// overlay of this plan's puts (`Some`) and removals (`None`).
pub(super) struct Keyed<'a> {
    keys: &'a BTreeMap<Key, RowRef>,
    pub(super) overlay: BTreeMap<Key, Option<RowRef>>,
    /// Tail row number of the next insert.
    next: u64,
}

impl<'a> Keyed<'a> {
    pub(super) fn new(keys: &'a BTreeMap<Key, RowRef>, next: u64) -> Self {
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
    /// Records an insert into the next tail row; returns the row it replaces.
    fn put(&mut self, k: Key) -> Option<RowRef> {
        let r = RowRef::Tail(self.next);
        self.next += 1;
        self.put_at(k, r)
    }
    /// Records an insert into row `r` (a staged segment's); returns the row it replaces.
    fn put_at(&mut self, k: Key, r: RowRef) -> Option<RowRef> {
        let old = self.lookup(&k);
        self.overlay.insert(k, Some(r));
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

impl Planner<'_> {
    /// The catalog as the plan has changed it so far.
    pub(crate) fn catalog(&self) -> &Catalog {
        &self.catalog
    }
    /// Logs a catalog change and applies it to the working copy.
    pub(crate) fn apply_catalog(&mut self, op: CatalogOp) {
        self.catalog.apply(&op);
        self.catalog_ops += 1;
        if self.stage.is_none() {
            self.ops.push(WalOp::Catalog(
                postcard::to_allocvec(&op).expect("catalog op serialises"),
            ));
        }
    }
    /// Inserts or replaces a template (`v` normalised). Re-putting an identical embedding is a no-op.
    pub(crate) fn put_face(&mut self, location: &str, user: &str, template: &str, v: Vec<f32>) {
        let k = key(location, user, template);
        if let Some(old) = self.faces.lookup(&k) {
            if let Some((i, row)) = locate(&self.snap.faces, old) {
                let s = &self.snap.faces[i];
                if s.live.get(row) && s.seg.vector(row) == v {
                    self.done.unchanged += 1;
                    return;
                }
            }
        }
        let (old, insert) = match &mut self.stage {
            Some(stage) => {
                let r = stage.put_face(k.clone(), v);
                (self.faces.put_at(k, r), None)
            }
            None => (
                self.faces.put(k.clone()),
                Some(WalOp::FaceInsert {
                    location: k.0,
                    user: k.1,
                    template: k.2,
                    vector: v,
                }),
            ),
        };
        if let Some(old) = old {
            self.kill(WalOp::FaceKill(old), old);
            self.done.replaced += 1;
        } else {
            self.done.added += 1;
        }
        self.ops.extend(insert);
    }
    /// Kills a row: logged, or marked dead in its staged segment.
    fn kill(&mut self, op: WalOp, r: RowRef) {
        match &mut self.stage {
            Some(stage) if stage.owns(r) => stage.kill(r),
            _ => self.ops.push(op),
        }
    }
    /// Removes a template; false if it does not exist.
    pub(crate) fn remove_face(&mut self, location: &str, user: &str, template: &str) -> bool {
        let old = self.faces.remove(key(location, user, template));
        if let Some(r) = old {
            self.kill(WalOp::FaceKill(r), r);
        }
        self.done.removed += usize::from(old.is_some());
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
                // so the prepared record (13–17 KB, maybe not in memory) need not be compared.
                if s.live.get(row)
                    && s.seg.prepared_version() == TEMPLATE_VERSION
                    && s.seg.position(row) == f.position
                    && s.seg.source_format(row) == f.format
                    && s.seg.source(row) == source
                {
                    self.done.unchanged += 1;
                    return;
                }
            }
        }
        let (old, insert) = match &mut self.stage {
            Some(stage) => {
                let r = stage.put_finger(k.clone(), f, source);
                (self.fingers.put_at(k, r), None)
            }
            None => (
                self.fingers.put(k.clone()),
                Some(WalOp::FingerInsert {
                    location: k.0,
                    user: k.1,
                    template: k.2,
                    position: f.position,
                    record: f.record,
                    format: finger::format_code(f.format),
                    source,
                }),
            ),
        };
        if let Some(old) = old {
            self.kill(WalOp::FingerKill(old), old);
            self.done.replaced += 1;
        } else {
            self.done.added += 1;
        }
        self.ops.extend(insert);
    }
    /// Removes a fingerprint template; false if it does not exist.
    pub(crate) fn remove_finger(&mut self, location: &str, user: &str, template: &str) -> bool {
        let old = self.fingers.remove(key(location, user, template));
        if let Some(r) = old {
            self.kill(WalOp::FingerKill(r), r);
        }
        self.done.removed += usize::from(old.is_some());
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
