//! Synchronisation: the platform's deltas applied as atomic, durable, idempotent commits.
//!
//! A delta (`docs/sync-protocol.md`) carries a location, a sequence number and either changes or the
//! location's full state. [`Store::apply_delta`] parses and validates it completely, then — under the
//! writer lock — checks the sequence, builds the new catalog and face changes, refuses duplicates and
//! dangling schedule references, and commits everything as one log record: the delta is applied
//! entirely or not at all, and is durable when `Applied` is returned.
//!
//! Per location: the first delta is a full synchronisation or sequence 1; a `changes` delta must carry
//! the last sequence + 1 (a gap asks for a full synchronisation); re-sending an applied delta is a
//! no-op success, the same sequence with other content a conflict (hashes of the last
//! [`crate::catalog::DELTA_HISTORY`] deltas are kept); a `full` delta replaces the location's whole
//! state and sets its sequence.
//!
//! [`Store::digest`] proves completeness: SHA-256 over the lines `user <id> <record hash>`,
//! `schedule <id> <hash>`, `door <id> <hash>` (each sorted by id, users first), where a record hash is
//! the SHA-256 of the record's canonical JSON as sent (see [`canonical`]) — access codes enter only as
//! keyed hashes.

pub mod canonical;
pub mod delta;

use crate::catalog::{CatalogOp, Hash, LocationState, UserRecord};
pub use crate::error::Refusal;
use crate::error::{Error, Result};
use crate::store::Store;
use delta::{Kind, Op};

/// What happened to an accepted delta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Applied and durable.
    Applied {
        /// Location.
        location: String,
        /// Its sequence now.
        sequence: u64,
        /// Changes in the delta.
        changes: usize,
    },
    /// This exact delta had been applied before; nothing changed.
    AlreadyApplied {
        /// Location.
        location: String,
        /// The delta's sequence.
        sequence: u64,
    },
}

/// Progress of an apply, for the platform's sync notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Parsing and validating: `done` of `total` changes.
    Validating {
        /// Changes validated.
        done: usize,
        /// Changes in the delta.
        total: usize,
    },
    /// Writing the commit (reported only for a delta that will be applied, after the sequence
    /// checks; an already-applied or refused delta never reaches it).
    Committing,
}

/// Per-location state, for `sync status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationStatus {
    /// Location id.
    pub location: String,
    /// Last applied sequence.
    pub sequence: u64,
    /// Users.
    pub users: usize,
    /// Face templates in the face index at this location.
    pub faces: usize,
    /// Fingerprint templates in the finger index at this location.
    pub fingers: usize,
    /// Digest (hex).
    pub digest: String,
}

/// A user found by a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRef {
    /// Location id.
    pub location: String,
    /// User id.
    pub user: String,
}

fn refused(r: Refusal) -> Error {
    Error::Refused(r)
}

/// The location digest (see the module docs).
pub fn location_digest(s: &LocationState) -> Hash {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for (id, u) in &s.users {
        h.update(format!("user {id} {}\n", canonical::hex(&u.hash)).as_bytes());
    }
    for (id, x) in &s.schedules {
        h.update(format!("schedule {id} {}\n", canonical::hex(&x.hash)).as_bytes());
    }
    for (id, x) in &s.doors {
        h.update(format!("door {id} {}\n", canonical::hex(&x.hash)).as_bytes());
    }
    h.finalize().into()
}

impl Store {
    /// Applies one delta (JSON bytes) atomically and durably; `progress` is told how far it got.
    ///
    /// A delta larger than [`Store::max_delta_bytes`] is refused first, before it is copied or
    /// parsed: parsing needs a mutable copy, simd-json's structural index and the decoded
    /// embeddings and fingerprints, a few times the delta's size (docs/sync-protocol.md, "Limits").
    pub fn apply_delta(&self, json: &[u8], progress: &mut dyn FnMut(Progress)) -> Result<Outcome> {
        self.check_writable()?;
        let limit = self.max_delta_bytes();
        if json.len() > limit {
            return Err(refused(Refusal::TooLarge {
                size: json.len(),
                limit,
            }));
        }
        let snap = self.snapshot();
        let mut buf = json.to_vec();
        let mut parse_key = None;
        let d = delta::parse(
            &mut buf,
            snap.model(),
            snap.dim(),
            |l| {
                parse_key = snap.catalog().location(l).and_then(|s| s.code_key);
                parse_key
            },
            &mut |done, total| progress(Progress::Validating { done, total }),
        )
        .map_err(refused);
        // The copy held plain access codes: wipe it before anything else happens.
        buf.fill(0);
        std::hint::black_box(&buf);
        let mut d = d?;
        // The prepared fingerprints (13–17 KB each) move into the plan instead of being copied.
        let mut prepared: Vec<Vec<crate::finger::enroll::Prepared>> = d
            .ops
            .iter_mut()
            .map(|op| match op {
                Op::UpsertUser(_, _, f) => std::mem::take(f),
                _ => Vec::new(),
            })
            .collect();
        // Tell the sync notice when the delta is going to be committed (the callback runs outside
        // the writer lock, so it may read the store; the binding check is repeated under the lock).
        let last = snap.catalog().location(&d.location).map_or(0, |s| s.seq);
        if d.sequence > last && (d.kind == Kind::Full || d.sequence == last + 1) {
            progress(Progress::Committing);
        }
        drop(snap);
        let mut outcome = None;
        self.commit_plan(|p| {
            let loc = d.location.clone();
            let state = p.catalog().location(&loc).cloned().unwrap_or_default();
            let last = state.seq;
            // The code key used to hash codes must still be the location's.
            let key_now = d.code_key.or(state.code_key);
            let key_parsed = d.code_key.or(parse_key);
            if key_now != key_parsed {
                return Err(refused(Refusal::Conflict {
                    location: loc,
                    sequence: d.sequence,
                }));
            }
            if d.sequence <= last {
                return match state.deltas.get(&d.sequence) {
                    Some(h) if *h == d.hash => {
                        outcome = Some(Outcome::AlreadyApplied {
                            location: loc,
                            sequence: d.sequence,
                        });
                        Ok(())
                    }
                    Some(_) => Err(refused(Refusal::Conflict {
                        location: loc,
                        sequence: d.sequence,
                    })),
                    None => Err(refused(Refusal::Stale {
                        location: loc,
                        sequence: d.sequence,
                        last,
                    })),
                };
            }
            if d.kind == Kind::Changes && d.sequence != last + 1 {
                return Err(refused(Refusal::Gap {
                    location: loc,
                    expected: last + 1,
                    got: d.sequence,
                }));
            }
            if d.kind == Kind::Full {
                p.apply_catalog(CatalogOp::Reset {
                    location: loc.clone(),
                });
                // Templates of the location that the snapshot does not list are removed.
                let mut keep = std::collections::HashSet::new();
                let mut keep_fingers = std::collections::HashSet::new();
                for op in &d.ops {
                    if let Op::UpsertUser(u, faces, _) = op {
                        for (f, _) in faces {
                            keep.insert((u.id.clone(), f.clone()));
                        }
                        for f in &u.fingers {
                            keep_fingers.insert((u.id.clone(), f.id.clone()));
                        }
                    }
                }
                for (u, t) in p.faces_at(&loc) {
                    if !keep.contains(&(u.clone(), t.clone())) {
                        p.remove_face(&loc, &u, &t);
                    }
                }
                for (u, t) in p.fingers_at(&loc) {
                    if !keep_fingers.contains(&(u.clone(), t.clone())) {
                        p.remove_finger(&loc, &u, &t);
                    }
                }
            }
            for (i, op) in d.ops.iter().enumerate() {
                let at = |m: String| {
                    refused(Refusal::Invalid {
                        path: format!("changes[{i}]"),
                        message: m,
                    })
                };
                match op {
                    Op::UpsertUser(u, faces, _) => {
                        let s = p.catalog().location(&loc).cloned().unwrap_or_default();
                        for c in &u.cards {
                            if let Some(o) = s.cards.get(c).filter(|o| **o != u.id) {
                                return Err(at(format!("card {c} already belongs to user {o:?}")));
                            }
                        }
                        for c in &u.codes {
                            if s.codes.get(c).is_some_and(|o| *o != u.id) {
                                return Err(at(
                                    "an access code already belongs to another user".into()
                                ));
                            }
                        }
                        for pl in &u.plates {
                            if let Some(o) = s.plates.get(pl).filter(|o| **o != u.id) {
                                return Err(at(format!(
                                    "plate {pl} already belongs to user {o:?}"
                                )));
                            }
                        }
                        for t in p.face_templates(&loc, &u.id) {
                            if !faces.iter().any(|(f, _)| *f == t) {
                                p.remove_face(&loc, &u.id, &t);
                            }
                        }
                        for (f, v) in faces {
                            p.put_face(&loc, &u.id, f, v.clone());
                        }
                        for t in p.finger_templates(&loc, &u.id) {
                            if !u.fingers.iter().any(|f| f.id == t) {
                                p.remove_finger(&loc, &u.id, &t);
                            }
                        }
                        for (f, t) in u.fingers.iter().zip(std::mem::take(&mut prepared[i])) {
                            p.put_finger(&loc, &u.id, &f.id, t, f.data.clone());
                        }
                        p.apply_catalog(CatalogOp::PutUser {
                            location: loc.clone(),
                            user: u.clone(),
                        });
                    }
                    Op::DeleteUser(id) => {
                        let exists = p
                            .catalog()
                            .location(&loc)
                            .is_some_and(|s| s.users.contains_key(id));
                        if !exists {
                            return Err(at(format!("delete_user {id:?}: no such user at {loc}")));
                        }
                        p.remove_user_faces(&loc, id);
                        p.remove_user_fingers(&loc, id);
                        p.apply_catalog(CatalogOp::DeleteUser {
                            location: loc.clone(),
                            id: id.clone(),
                        });
                    }
                    Op::UpsertSchedule(s) => p.apply_catalog(CatalogOp::PutSchedule {
                        location: loc.clone(),
                        schedule: s.clone(),
                    }),
                    Op::DeleteSchedule(id) => {
                        if !p
                            .catalog()
                            .location(&loc)
                            .is_some_and(|s| s.schedules.contains_key(id))
                        {
                            return Err(at(format!(
                                "delete_schedule {id:?}: no such schedule at {loc}"
                            )));
                        }
                        p.apply_catalog(CatalogOp::DeleteSchedule {
                            location: loc.clone(),
                            id: id.clone(),
                        });
                    }
                    Op::UpsertDoor(x) => p.apply_catalog(CatalogOp::PutDoor {
                        location: loc.clone(),
                        door: x.clone(),
                    }),
                    Op::DeleteDoor(id) => {
                        if !p
                            .catalog()
                            .location(&loc)
                            .is_some_and(|s| s.doors.contains_key(id))
                        {
                            return Err(at(format!("delete_door {id:?}: no such door at {loc}")));
                        }
                        p.apply_catalog(CatalogOp::DeleteDoor {
                            location: loc.clone(),
                            id: id.clone(),
                        });
                    }
                }
            }
            // Rights must name schedules the location has once the delta is applied.
            let s = p.catalog().location(&loc).cloned().unwrap_or_default();
            for (i, op) in d.ops.iter().enumerate() {
                if let Op::UpsertUser(u, _, _) = op {
                    for (j, r) in u.rights.iter().enumerate() {
                        if let Some(sc) = &r.schedule {
                            if !s.schedules.contains_key(sc) {
                                return Err(refused(Refusal::Invalid {
                                    path: format!("changes[{i}].user.rights[{j}].schedule"),
                                    message: format!("unknown schedule {sc:?}"),
                                }));
                            }
                        }
                    }
                }
            }
            p.apply_catalog(CatalogOp::Applied {
                location: loc.clone(),
                seq: d.sequence,
                delta_hash: d.hash,
                code_key: d.code_key,
            });
            outcome = Some(Outcome::Applied {
                location: loc,
                sequence: d.sequence,
                changes: d.ops.len(),
            });
            Ok(())
        })?;
        Ok(outcome.expect("set by the plan"))
    }

    /// Per-location sync state.
    pub fn sync_status(&self) -> Vec<LocationStatus> {
        let snap = self.snapshot();
        let mut faces: std::collections::HashMap<&str, usize> = Default::default();
        for (l, _, _, _) in snap.face_templates() {
            *faces.entry(l).or_default() += 1;
        }
        let mut fingers: std::collections::HashMap<&str, usize> = Default::default();
        for (l, _, _, _, _) in snap.finger_templates() {
            *fingers.entry(l).or_default() += 1;
        }
        let mut out: Vec<LocationStatus> = snap
            .catalog()
            .locations
            .iter()
            .map(|(id, s)| LocationStatus {
                location: id.clone(),
                sequence: s.seq,
                users: s.users.len(),
                faces: faces.get(id.as_str()).copied().unwrap_or(0),
                fingers: fingers.get(id.as_str()).copied().unwrap_or(0),
                digest: canonical::hex(&location_digest(s)),
            })
            .collect();
        out.sort_by(|a, b| a.location.cmp(&b.location));
        out
    }

    /// The digest of a location (hex); an unknown location is an error.
    pub fn digest(&self, location: &str) -> Result<String> {
        let snap = self.snapshot();
        let s = snap.catalog().location(location).ok_or_else(|| {
            Error::NotFound(format!("location {location:?} has never been synchronised"))
        })?;
        Ok(canonical::hex(&location_digest(s)))
    }

    /// A user's record (codes only as a count: they are never shown).
    pub fn user(&self, location: &str, user: &str) -> Option<UserRecord> {
        let snap = self.snapshot();
        snap.catalog()
            .location(location)
            .and_then(|s| s.users.get(user))
            .map(|u| (**u).clone())
    }

    fn find(
        &self,
        location: Option<&str>,
        f: impl Fn(&LocationState) -> Option<String>,
    ) -> Option<UserRef> {
        let snap = self.snapshot();
        snap.catalog()
            .locations
            .iter()
            .filter(|(l, _)| location.is_none_or(|x| x == l.as_str()))
            .find_map(|(l, s)| {
                f(s).map(|user| UserRef {
                    location: l.clone(),
                    user,
                })
            })
    }

    /// Card → user. `facility` for Wiegand formats.
    pub fn lookup_card(
        &self,
        location: Option<&str>,
        format: &str,
        number: &str,
        facility: Option<u64>,
    ) -> Result<Option<UserRef>> {
        let k = delta::card_key(format, number, facility).map_err(Error::Invalid)?;
        Ok(self.find(location, |s| s.cards.get(&k).cloned()))
    }

    /// Access code → user (the code is hashed with each location's key; it is never stored).
    pub fn lookup_code(&self, location: Option<&str>, code: &str) -> Result<Option<UserRef>> {
        delta::check_code(code).map_err(Error::Invalid)?;
        Ok(self.find(location, |s| {
            let key = s.code_key?;
            s.codes.get(&canonical::code_hash(&key, code)).cloned()
        }))
    }

    /// True if `code` is one of the user's access codes.
    pub fn check_code(&self, location: &str, user: &str, code: &str) -> Result<bool> {
        delta::check_code(code).map_err(Error::Invalid)?;
        Ok(self
            .lookup_code(Some(location), code)?
            .is_some_and(|r| r.user == user))
    }

    /// Licence plate → user (normalised: case, spaces, dashes, dots).
    pub fn lookup_plate(&self, location: Option<&str>, plate: &str) -> Result<Option<UserRef>> {
        let k = delta::plate_key(plate).map_err(Error::Invalid)?;
        Ok(self.find(location, |s| s.plates.get(&k).cloned()))
    }
}
