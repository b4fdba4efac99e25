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
mod end_state;
mod plan;
mod query;
mod records;
mod scanner;
pub mod signature;
mod stream;
pub mod syntax;
mod trust;

use crate::catalog::{code_key_id, CatalogOp, Hash, KeyId, LocationState};
pub use crate::error::{Refusal, MAX_SEQUENCE};
pub use delta::{
    MAX_CHANGES, MAX_CREDENTIALS_PER_USER, MAX_FACES_PER_USER, MAX_FINGERS_PER_USER,
    MAX_RIGHTS_PER_USER,
};
pub use trust::LocationKeys;

/// The digest of a location that holds nothing — also what a location never synchronised has:
/// SHA-256 of the empty text.
pub const EMPTY_DIGEST: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
use crate::error::{Error, Result};
use crate::journal::{DeltaKind, EventKind};
use crate::store::{LogLevel, Store};

/// Longest refusal message a `DeltaRefused` event keeps (bytes; longer ones are cut).
const MAX_EVENT_MESSAGE: usize = 4096;
use delta::{Kind, Op};
use std::ops::ControlFlow;

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

/// Keys codes with a location's key held by the store's key provider. The parser cannot fail on
/// the provider's account (its errors are refusals, the delta's fault), so the first failure is
/// kept here and reported instead of the parse's outcome.
struct ProviderMac<'a> {
    keys: &'a dyn crate::store::keys::CodeKeys,
    id: KeyId,
    /// A mutex, not a cell: a streamed delta keys codes on the store's threads.
    failed: &'a std::sync::Mutex<Option<Error>>,
}

impl canonical::CodeMac for ProviderMac<'_> {
    fn code_hash(&self, code: &str) -> Hash {
        match self.keys.mac(&self.id, code.as_bytes()) {
            Ok(h) => h,
            Err(e) => {
                self.failed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert(e);
                [0; 32]
            }
        }
    }
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
    ///
    /// The delta is unsigned: a location that requires signatures refuses it
    /// ([`Store::apply_signed_delta`] takes the signature).
    pub fn apply_delta(&self, json: &[u8], progress: &mut dyn FnMut(Progress)) -> Result<Outcome> {
        self.apply_signed_delta(json, None, progress)
    }

    /// Applies one delta with its detached signature (`signature`: the envelope, see
    /// [`signature`]; `None` for an unsigned delta), as [`Store::apply_delta`] does.
    ///
    /// The signature is checked over the exact bytes of `json` before they are parsed, with the
    /// trusted key its key id names; once the delta's location is known (under the writer lock),
    /// that key must be trusted for that location. An unsigned delta is refused if its location
    /// requires signatures, or if it carries `signing_keys`. Every such refusal is
    /// [`Refusal::Signature`]; nothing is applied and the sequence does not move. A signed delta
    /// carrying `signing_keys` replaces the location's keys in the same commit.
    ///
    /// Every applied delta appends a `DeltaApplied` event to the journal (after its commit is
    /// durable), every refused one a `DeltaRefused` event (its refusal kind and message; no
    /// payload); an already-applied one appends nothing. A failure of that append does not undo
    /// the delta: it poisons the journal, whose later appends report it.
    pub fn apply_signed_delta(
        &self,
        json: &[u8],
        signature: Option<&[u8]>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Outcome> {
        self.apply_delta_cancellable(json, signature, &mut |p| {
            progress(p);
            ControlFlow::Continue(())
        })
    }

    /// [`Store::apply_signed_delta`] with a progress callback that may cancel: returning
    /// `ControlFlow::Break(())` stops the apply with [`Error::Cancelled`] and nothing of the
    /// delta applied. A cancel during [`Progress::Validating`] takes effect when validation ends
    /// (before anything is committed); the last chance is the [`Progress::Committing`] report,
    /// after which the delta is committed whatever the callback returns later.
    pub fn apply_delta_cancellable(
        &self,
        json: &[u8],
        signature: Option<&[u8]>,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<Outcome> {
        let r = self.apply_delta_checked(json, signature, progress);
        match &r {
            Err(Error::Refused(why)) => self.report(LogLevel::Warn, || {
                format!(
                    "delta of {} bytes refused, nothing applied: {why}",
                    json.len()
                )
            }),
            Err(Error::Cancelled) => self.report(LogLevel::Info, || {
                "delta apply cancelled by the caller, nothing applied".to_string()
            }),
            _ => {}
        }
        r
    }

    fn apply_delta_checked(
        &self,
        json: &[u8],
        signature: Option<&[u8]>,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<Outcome> {
        self.check_writable()?;
        let mut location = None;
        let r = self.apply_signed_delta_inner(json, signature, progress, &mut location);
        if let Err(Error::Refused(refusal)) = &r {
            let location = match refusal {
                Refusal::Gap { location, .. }
                | Refusal::Conflict { location, .. }
                | Refusal::Stale { location, .. } => Some(location.clone()),
                _ => location,
            };
            let mut message = refusal.to_string();
            if message.len() > MAX_EVENT_MESSAGE {
                let mut end = MAX_EVENT_MESSAGE;
                while !message.is_char_boundary(end) {
                    end -= 1;
                }
                message.truncate(end);
            }
            // See above: a failure here poisons the journal, the refusal is what is returned.
            let _ = self.journal().append(EventKind::DeltaRefused {
                location,
                refusal: refusal.kind().to_string(),
                message,
            });
        }
        r
    }

    fn apply_signed_delta_inner(
        &self,
        json: &[u8],
        signature: Option<&[u8]>,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
        location: &mut Option<String>,
    ) -> Result<Outcome> {
        let limit = self.max_delta_bytes();
        if json.len() > limit {
            return Err(refused(Refusal::TooLarge {
                size: json.len(),
                limit,
            }));
        }
        let signer = match signature {
            None => None,
            Some(envelope) => {
                let envelope = signature::parse_envelope(envelope).map_err(refused)?;
                let snap = self.snapshot();
                let trusted = snap.catalog().trust.values().flat_map(|t| t.keys.iter());
                Some(signature::verify(json, &envelope, trusted).map_err(refused)?)
            }
        };
        // The delta is parsed outside the writer lock, its codes keyed with the location's code
        // key of that moment; a full synchronisation committed meanwhile may have changed the key.
        // The delta is then parsed again (a delta is never refused for what another one did).
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.apply_delta_once(json, signer.as_ref(), progress, location)? {
                Some(outcome) => return Ok(outcome),
                None if attempts < 4 => continue,
                None => {
                    return Err(Error::Invalid(
                        "the location's code key kept changing while this delta was applied; send it again".into(),
                    ))
                }
            }
        }
    }

    /// One attempt of [`Store::apply_delta`]; `None` if the code key changed since the parse.
    fn apply_delta_once(
        &self,
        json: &[u8],
        signer: Option<&signature::PublicKey>,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
        location: &mut Option<String>,
    ) -> Result<Option<Outcome>> {
        let mut cancelled = false;
        let snap = self.snapshot();
        let mut buf = crate::error::alloc::copy(json, "delta copy")?;
        let mut parse_key = None;
        let mut parsed_at = None;
        let failed = std::sync::Mutex::new(None);
        let keys = self.code_keys();
        let d = delta::parse_on(
            self.workers(),
            &mut buf,
            snap.model(),
            snap.dim(),
            |l| {
                parsed_at = Some(l.to_string());
                parse_key = snap.catalog().location(l).and_then(|s| s.code_key_id);
                parse_key.map(|id| {
                    Box::new(ProviderMac {
                        keys,
                        id,
                        failed: &failed,
                    }) as Box<dyn canonical::CodeMac>
                })
            },
            &mut |done, total| {
                if !cancelled && progress(Progress::Validating { done, total }).is_break() {
                    cancelled = true;
                }
            },
        )
        .map_err(refused);
        // The copy held plain access codes: wipe it before anything else happens.
        buf.fill(0);
        std::hint::black_box(&buf);
        location.clone_from(&parsed_at);
        if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
            // The key provider failed. If the location's key changed meanwhile (a rotation, after
            // which a checkpoint let the provider drop the old key), parse again with the new one.
            let now = parsed_at.and_then(|l| {
                self.snapshot()
                    .catalog()
                    .location(&l)
                    .and_then(|s| s.code_key_id)
            });
            return if now != parse_key { Ok(None) } else { Err(e) };
        }
        if cancelled {
            return Err(Error::Cancelled);
        }
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
        // Who signed (or that nobody did) against the location's keys: refused before anything
        // else is decided (and again under the lock).
        trust::check(&d, &snap.catalog().trust(&d.location), signer).map_err(refused)?;
        // Tell the sync notice when the delta is going to be committed (the callback runs outside
        // the writer lock, so it may read the store; the binding check is repeated under the lock).
        let last = snap.catalog().location(&d.location).map_or(0, |s| s.seq);
        let known = snap
            .catalog()
            .location(&d.location)
            .and_then(|s| s.deltas.get(&d.sequence))
            .is_some_and(|h| d.same_as(h));
        if !known && sequence_rule(&d, last).is_ok() && progress(Progress::Committing).is_break() {
            return Err(Error::Cancelled);
        }
        drop(snap);
        let mut outcome = None;
        let mut key_changed = false;
        // A large delta takes the bulk path (its templates written once, straight to segments).
        let templates: usize = prepared.iter().map(Vec::len).sum::<usize>()
            + d.ops
                .iter()
                .map(|op| match op {
                    Op::UpsertUser(_, faces, _) => faces.len(),
                    _ => 0,
                })
                .sum::<usize>();
        self.commit_plan_as(templates >= self.bulk_rows(), |p| {
            let loc = d.location.clone();
            // Again under the lock: the keys may have changed since the check above.
            let trust = p.catalog().trust(&loc);
            trust::check(&d, &trust, signer).map_err(refused)?;
            let state = p.catalog().location(&loc).cloned().unwrap_or_default();
            let last = state.seq;
            // The code key used to hash codes must still be the location's.
            let new_key = d.code_key.as_ref().map(code_key_id);
            let key_now = new_key.or(state.code_key_id);
            let key_parsed = new_key.or(parse_key);
            if key_now != key_parsed {
                key_changed = true;
                return Ok(());
            }
            if state.deltas.get(&d.sequence).is_some_and(|h| d.same_as(h)) {
                outcome = Some(Outcome::AlreadyApplied {
                    location: loc,
                    sequence: d.sequence,
                });
                return Ok(());
            }
            sequence_rule(&d, last).map_err(|r| match r {
                // Remembered with other content.
                Refusal::Stale { .. } if state.deltas.contains_key(&d.sequence) => {
                    refused(Refusal::Conflict {
                        location: loc.clone(),
                        sequence: d.sequence,
                    })
                }
                r => refused(r),
            })?;
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
            // The state the delta starts from (empty for a full): credentials are checked on the
            // state the delta produces, against it.
            let before = p.catalog().location(&loc).cloned().unwrap_or_default();
            for (i, op) in d.ops.iter_mut().enumerate() {
                plan::plan_op(p, &loc, i, op, std::mem::take(&mut prepared[i]))?;
            }
            let after = p.catalog().location(&loc).cloned().unwrap_or_default();
            end_state::check(&d.ops, &before, &after).map_err(refused)?;
            if let (Some(k), Some(id)) = (&d.code_key, &new_key) {
                // Durable with the provider before the log names it (a failure writes nothing).
                self.code_keys().store(id, k)?;
            }
            p.apply_catalog(CatalogOp::Applied {
                location: loc.clone(),
                seq: d.sequence,
                delta_hash: d.hash,
                code_key_id: new_key,
            });
            if let Some(keys) = &d.signing_keys {
                // A rotation, authorised by the signature checked above.
                p.apply_catalog(CatalogOp::SetTrust {
                    location: loc.clone(),
                    trust: crate::catalog::Trust {
                        keys: keys.clone(),
                        require_signatures: trust.require_signatures,
                    },
                });
            }
            outcome = Some(Outcome::Applied {
                location: loc,
                sequence: d.sequence,
                changes: d.ops.len(),
            });
            Ok(())
        })?;
        if key_changed {
            return Ok(None);
        }
        let outcome = outcome.expect("set by the plan");
        if let Outcome::Applied {
            location, sequence, ..
        } = &outcome
        {
            // The commit is durable: the event follows it (see `apply_signed_delta`).
            let _ = self.journal().append(EventKind::DeltaApplied {
                location: location.clone(),
                sequence: *sequence,
                kind: match d.kind {
                    Kind::Full => DeltaKind::Full,
                    Kind::Changes => DeltaKind::Changes,
                },
                hash: d.hash,
            });
        }
        Ok(Some(outcome))
    }
}

/// Whether a delta's sequence may be applied after `last` (the history was consulted before:
/// this is for a delta not applied yet). A full synchronisation needs a sequence above `last` —
/// or any sequence once `last` is at the end of the range ([`MAX_SEQUENCE`], or beyond it in a
/// store written before the range was bounded), where numbering restarts; a `changes` delta
/// needs `last + 1`.
fn sequence_rule(d: &delta::Delta, last: u64) -> std::result::Result<(), Refusal> {
    let restart = last >= MAX_SEQUENCE;
    match d.kind {
        Kind::Full if d.sequence > last || restart => Ok(()),
        Kind::Changes if !restart && d.sequence == last + 1 => Ok(()),
        Kind::Changes if d.sequence > last || restart => Err(Refusal::Gap {
            location: d.location.clone(),
            expected: last.saturating_add(1),
            got: d.sequence,
        }),
        _ => Err(Refusal::Stale {
            location: d.location.clone(),
            sequence: d.sequence,
            last,
        }),
    }
}
