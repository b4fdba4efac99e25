//! Streamed deltas: a delta of any size read from a reader in bounded pieces and applied on the
//! bulk path, atomically (docs/sync-protocol.md, "Large deltas").
//!
//! A whole delta is parsed at once (simd-json needs a mutable copy and a structural index, and the
//! decoded templates come on top: a few times the delta's size), which is why
//! [`Store::apply_delta`] refuses one above `max_delta_bytes`. [`Store::apply_delta_reader`]
//! reads the same JSON as a stream instead: the top-level members before `changes` (at most
//! [`MAX_HEADER`] bytes) are read and checked first, then each element of `changes` (at most
//! [`MAX_STREAMED_CHANGE`] bytes) is cut out of the stream, parsed and checked on its own, and
//! planned in pieces whose size follows the store's memory budget; the templates go to the bulk
//! path's staged segment files (see `store::bulk`). The delta's hashes are computed on the way:
//! the canonical form puts `changes` first, so the canonical bytes of each change feed the SHA-256
//! in stream order and the other members close it.
//!
//! Speed (issue 12): changes are cut out of the stream (`scanner`) into batches; the store's
//! threads parse, check and write the canonical form of a batch's changes in parallel, then feed
//! those canonical bytes to the hashes in order, while this thread plans the previous batch's
//! changes and reads the next batch (three batches in flight, each under a sixth of a piece).
//! That work is background work: it gives way to searches between two changes (`Workers`). Refusals
//! are still reported in stream order: the first bad change, or a reading error only once every
//! change before it was planned. `cargo bench --bench bulk` measures the rate.
//!
//! What a streamed delta must be: `changes` is its last member (every other member comes before
//! it: they say how to read the changes), and it is unsigned (a detached signature covers the
//! exact bytes, which are never all held here; a location that requires signatures refuses it).
//! The writer lock is held while the stream is read, so a slow reader delays other writes (never
//! searches), and `progress` is called under that lock: it may read the store, not write to it.

use super::canonical::{self, CodeMac, Rule};
use super::delta::{self, bad, Ctx, Kind, Op, R};
use super::scanner::{parse_error, Scanner, CHUNK};
use super::{code_key_id, end_state, plan, refused, sequence_rule, syntax, trust};
use super::{Outcome, Progress, ProviderMac, Refusal, MAX_CHANGES};
use crate::catalog::{CatalogOp, Trust};
use crate::error::{Error, Result};
use crate::store::{Store, Workers};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::Read;
use std::ops::ControlFlow;

/// Most bytes of a streamed delta's members before `changes`.
pub const MAX_HEADER: usize = 1 << 20;
/// Most bytes of one element of a streamed delta's `changes` (a user with 16 faces and 20
/// fingerprint records of the largest size is about 1.9 MB).
pub const MAX_STREAMED_CHANGE: usize = 4 << 20;

/// Parses one JSON value cut out of the stream.
fn parse_value<'v>(bytes: &'v mut [u8], path: &str) -> R<simd_json::BorrowedValue<'v>> {
    let tape = simd_json::to_tape(bytes)
        .map_err(|e| Refusal::Parse(format!("{path}: not valid JSON: {e}")))?;
    syntax::unique_keys(&tape.0).map_err(|r| within(r, path))?;
    Ok(simd_json::value::lazy::Value::from_tape(tape.as_value()).into_value())
}

/// A refusal about part of an element, placed under the element's path.
fn within(r: Refusal, path: &str) -> Refusal {
    match r {
        Refusal::Invalid { path: p, message } if p.is_empty() => bad(path, message),
        Refusal::Invalid { path: p, message } => bad(format!("{path}.{p}"), message),
        r => r,
    }
}

/// Members of a delta as sent: (name, value) bytes.
type Members = Vec<(Vec<u8>, Vec<u8>)>;

/// The members before `changes`; true if `changes` follows.
fn read_header(sc: &mut Scanner<'_>) -> Result<(Members, bool)> {
    sc.expect(b'{', "a delta is a JSON object")?;
    let mut fields = Vec::new();
    let mut used = 0;
    loop {
        match sc.peek()? {
            Some(b'}') => {
                sc.pos += 1;
                return Ok((fields, false));
            }
            Some(b'"') => {}
            _ => return Err(parse_error("expected a member name")),
        }
        let k = sc.value(MAX_HEADER, "")?;
        let key = match parse_value(&mut k.clone(), "").map_err(refused)? {
            simd_json::BorrowedValue::String(s) => s.to_string(),
            _ => return Err(parse_error("expected a member name")),
        };
        sc.expect(b':', "expected ':' after a member name")?;
        if key == "changes" {
            let has = |name: &str| {
                fields
                    .iter()
                    .any(|(k, _)| k[..] == *format!("\"{name}\"").as_bytes())
            };
            if !["format", "location", "sequence", "kind"]
                .iter()
                .all(|n| has(n))
            {
                return Err(refused(bad(
                    "changes",
                    "a streamed delta carries changes as its last member (format, location, sequence and kind come before it)",
                )));
            }
            return Ok((fields, true));
        }
        let v = sc.value(MAX_HEADER.saturating_sub(used), &key)?;
        used += v.len() + k.len();
        fields.push((k, v));
        match sc.peek()? {
            Some(b',') => sc.pos += 1,
            Some(b'}') => {}
            _ => return Err(parse_error("expected ',' or '}' between members")),
        }
    }
}

/// The members as a JSON object, with `changes` empty when the stream has it.
fn header_json(fields: &[(Vec<u8>, Vec<u8>)], changes: bool) -> Vec<u8> {
    let mut j = b"{".to_vec();
    for (k, v) in fields {
        j.extend_from_slice(k);
        j.push(b':');
        j.extend_from_slice(v);
        j.push(b',');
    }
    if changes {
        j.extend_from_slice(b"\"changes\":[]");
    } else {
        j.pop_if(|b| *b == b',');
    }
    j.push(b'}');
    j
}

/// The two canonical hashes of a delta (codes keyed, codes masked), fed change by change. They
/// differ only from the first change holding access codes on: until then one hash is fed, and
/// the masked one starts as its copy there.
struct Hashes {
    keyed: Sha256,
    masked: Option<Sha256>,
    n: usize,
}

impl Hashes {
    fn new() -> Hashes {
        let mut keyed = Sha256::new();
        keyed.update(b"{\"changes\":[");
        Hashes {
            keyed,
            masked: None,
            n: 0,
        }
    }
    fn both(&mut self, b: &[u8]) {
        self.keyed.update(b);
        if let Some(m) = &mut self.masked {
            m.update(b);
        }
    }
    /// Feeds one change in canonical form (`keyed`: codes keyed); `masked`: the form with codes
    /// masked, when the change holds access codes.
    fn change(&mut self, keyed: &[u8], masked: Option<&[u8]>) {
        if self.n > 0 {
            self.both(b",");
        }
        self.n += 1;
        match masked {
            None => self.both(keyed),
            Some(m) => {
                let mh = self.masked.get_or_insert_with(|| self.keyed.clone());
                mh.update(m);
                self.keyed.update(keyed);
            }
        }
    }
    /// Closes the hashes with the other members (`rest`: the canonical header after its empty
    /// `changes`) and returns (the delta's `hash`, its `keyed_hash`).
    fn finish(mut self, rest: &[u8]) -> ([u8; 32], [u8; 32]) {
        self.both(b"]");
        self.both(rest);
        let keyed: [u8; 32] = self.keyed.finalize().into();
        let masked: [u8; 32] = match self.masked {
            Some(m) => m.finalize().into(),
            None => keyed,
        };
        let mut hash = [0; 32];
        hash[..16].copy_from_slice(&masked[..16]);
        hash[16..].copy_from_slice(&keyed[..16]);
        (hash, keyed)
    }
}

/// Most changes checked in one batch.
const MAX_BATCH: usize = 4096;

/// Cuts the next changes out of the stream into `b` (empty, numbered on from the changes read
/// before), up to `limit` bytes or [`MAX_BATCH`] changes; false once `changes` is closed.
fn read_batch(sc: &mut Scanner<'_>, b: &mut Batch, limit: usize) -> Result<bool> {
    loop {
        let seen = sc.changes;
        match sc.peek()? {
            Some(b']') => {
                sc.pos += 1;
                return Ok(false);
            }
            _ if seen == 0 => {}
            Some(b',') => sc.pos += 1,
            _ => return Err(parse_error("expected ',' or ']' in changes")),
        }
        if seen >= MAX_CHANGES {
            return Err(refused(bad(
                "changes",
                format!("at most {MAX_CHANGES} elements"),
            )));
        }
        if b.len() == 0 {
            b.first = seen;
        }
        let slot = b.next_slot();
        let path = format_args!("changes[{seen}]");
        if let Err(e) = sc.value_into(&mut slot.json, MAX_STREAMED_CHANGE, &path) {
            // Not a whole change: out of the batch (and wiped, it may hold codes).
            slot.json.fill(0);
            slot.json.clear();
            b.n -= 1;
            return Err(e);
        }
        sc.changes += 1;
        b.bytes += slot.json.len();
        if b.bytes >= limit || b.len() >= MAX_BATCH {
            return Ok(true);
        }
    }
}

/// Runs `job` on the store's threads while `body` runs on this one; returns `body`'s result once
/// both are done (both on this thread, `job` first, when the store has no threads).
fn beside<R>(workers: &Workers, job: impl FnOnce() + Send, body: impl FnOnce() -> R) -> R {
    match workers.pool() {
        Some(pool) => pool.in_place_scope(|s| {
            s.spawn(|_| job());
            body()
        }),
        None => {
            job();
            body()
        }
    }
}

/// Changes cut out of the stream on the caller's thread, then parsed, checked and put in
/// canonical form together on the store's threads ([`Batch::check`]); the caller then feeds the
/// canonical forms to the hashes in stream order and plans the changes. The slots (and their
/// buffers) are reused from batch to batch.
#[derive(Default)]
struct Batch {
    /// Index of its first change in `changes`.
    first: usize,
    slots: Vec<Slot>,
    /// Slots in use.
    n: usize,
    /// JSON bytes in the slots in use.
    bytes: usize,
}

/// One change of a batch.
#[derive(Default)]
struct Slot {
    /// The change's JSON as cut from the stream (wiped once parsed: it may hold access codes).
    json: Vec<u8>,
    /// Its length before it was parsed.
    json_len: usize,
    /// Canonical form, codes keyed.
    canon: Vec<u8>,
    /// Canonical form, codes masked (when the change holds codes).
    masked: Vec<u8>,
    /// The change and whether it holds access codes, or why it is refused.
    out: Option<R<(Op, bool)>>,
}

/// Buffers above this capacity are released after a batch (one large change must not keep its
/// size in every slot it passed through).
const KEEP_CAPACITY: usize = 64 << 10;

impl Batch {
    fn len(&self) -> usize {
        self.n
    }

    /// A cleared slot for the next change.
    fn next_slot(&mut self) -> &mut Slot {
        if self.n == self.slots.len() {
            self.slots.push(Slot::default());
        }
        self.n += 1;
        &mut self.slots[self.n - 1]
    }

    /// Parses and checks every change on `workers`, as background work (it gives way to
    /// searches between two changes).
    fn check(&mut self, workers: &Workers, ctx: &Ctx<'_>, kind: Kind) {
        let first = self.first;
        workers.background_each(&mut self.slots[..self.n], |j, s| {
            s.check(first + j, ctx, kind)
        });
    }

    /// Feeds the checked changes' canonical forms to the hashes, in order, giving way to
    /// searches between two (this runs on the store's threads, beside the planning of the batch
    /// before). A refused change feeds what it has: the delta is refused, its hashes unused.
    fn hash(&self, workers: &Workers, hashes: &mut Hashes) {
        for slot in &self.slots[..self.n] {
            let codes = matches!(&slot.out, Some(Ok((_, true))));
            hashes.change(&slot.canon, codes.then_some(&slot.masked[..]));
            workers.give_way();
        }
    }

    /// The slots in use, checked.
    fn checked(&mut self) -> &mut [Slot] {
        &mut self.slots[..self.n]
    }

    /// Empties the batch for the next changes.
    fn clear(&mut self) {
        for s in &mut self.slots[..self.n] {
            s.out = None;
            for b in [&mut s.json, &mut s.canon, &mut s.masked] {
                b.clear();
                if b.capacity() > KEEP_CAPACITY {
                    *b = Vec::new();
                }
            }
        }
        self.n = 0;
        self.bytes = 0;
    }
}

impl Drop for Batch {
    /// Changes cut but never parsed (a refusal came first) may hold plain access codes.
    fn drop(&mut self) {
        for s in &mut self.slots {
            s.json.fill(0);
            std::hint::black_box(&s.json);
        }
    }
}

impl Slot {
    /// Parses and checks the change `changes[at]` and writes its canonical forms.
    fn check(&mut self, at: usize, ctx: &Ctx<'_>, kind: Kind) {
        let path = format!("changes[{at}]");
        self.json_len = self.json.len();
        let (canon, masked) = (&mut self.canon, &mut self.masked);
        let r = (|| -> R<(Op, bool)> {
            let v = parse_value(&mut self.json, &path)?;
            let op = delta::parse_change(&v, &path, ctx)?;
            delta::full_refuses_deletes(kind, &op, &path)?;
            let codes = matches!(&op, Op::UpsertUser(u, _, _)
                if !u.codes.is_empty() || !u.access.duress_codes.is_empty());
            let non_integer = |w| {
                bad(
                    "",
                    format!("the delta holds {w}; only integers are allowed"),
                )
            };
            canon.clear();
            canonical::write(&v, Rule::Delta(ctx.key), canon).map_err(non_integer)?;
            if codes {
                masked.clear();
                canonical::write(&v, Rule::Delta(None), masked).map_err(non_integer)?;
            }
            Ok((op, codes))
        })();
        // The element held plain access codes: wiped before anything else.
        self.json.fill(0);
        std::hint::black_box(&self.json);
        self.out = Some(r);
    }
}

impl Store {
    /// Applies one unsigned delta read from `reader`, of any size, atomically and durably, in
    /// memory bounded by [`OpenOptions::memory_budget`](crate::OpenOptions::memory_budget)
    /// (see the module docs and docs/sync-protocol.md, "Large deltas"): `changes` must be the
    /// delta's last member. The outcome and refusals are those of [`Store::apply_delta`]
    /// (a refused delta writes nothing); `Progress::Validating` reports `total: 0` (unknown).
    pub fn apply_delta_reader(
        &self,
        reader: &mut dyn Read,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Outcome> {
        self.apply_delta_reader_cancellable(reader, &mut |p| {
            progress(p);
            ControlFlow::Continue(())
        })
    }

    /// [`Store::apply_delta_reader`] with a progress callback that may cancel: returning
    /// `ControlFlow::Break(())` from any report stops the apply with [`Error::Cancelled`] and
    /// nothing of the delta applied. Here [`Progress::Committing`] comes first (once the header's
    /// sequence is checked; the changes are then read and staged under the writer lock) and the
    /// last [`Progress::Validating`] report comes after the whole stream was read: nothing is
    /// committed before it returns, so every report is a chance to cancel.
    pub fn apply_delta_reader_cancellable(
        &self,
        reader: &mut dyn Read,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<Outcome> {
        self.check_writable()?;
        let mut sc = Scanner {
            src: reader,
            changes: 0,
            buf: Vec::with_capacity(2 * CHUNK),
            pos: 0,
            eof: false,
        };
        let (fields, has_changes) = read_header(&mut sc)?;
        let mut header = header_json(&fields, has_changes);
        drop(fields);
        let snap = self.snapshot();
        let d = delta::parse(
            &mut header.clone(),
            snap.model(),
            snap.dim(),
            |_| None,
            &mut |_, _| {},
        )
        .map_err(refused)?;
        let rest = {
            let v = parse_value(&mut header, "").map_err(refused)?;
            let mut c = Vec::new();
            canonical::write(&v, Rule::Delta(None), &mut c)
                .map_err(|w| refused(bad("", format!("the delta holds {w}"))))?;
            c.split_off(b"{\"changes\":[]".len())
        };
        trust::check(&d, &snap.catalog().trust(&d.location), None).map_err(refused)?;
        let (model, dim) = (snap.model().to_string(), snap.dim());
        drop(snap);
        let piece_limit = (self.memory_budget() / 8).max(1 << 20);
        // A batch's JSON, its canonical form and its parsed changes: under half a piece.
        let batch_limit = piece_limit / 6;
        let failed = std::sync::Mutex::new(None);
        let mut outcome = None;
        self.commit_plan_as(true, |p| {
            let loc = d.location.clone();
            let trust: Trust = p.catalog().trust(&loc);
            trust::check(&d, &trust, None).map_err(refused)?;
            let state = p.catalog().location(&loc).cloned().unwrap_or_default();
            let new_key = d.code_key.as_ref().map(code_key_id);
            let key_id = new_key.or(state.code_key_id);
            let provider = key_id.map(|id| ProviderMac {
                keys: self.code_keys(),
                id,
                failed: &failed,
            });
            let key: Option<&dyn CodeMac> = match (&d.code_key, &provider) {
                (Some(k), _) => Some(k),
                (None, Some(m)) => Some(m),
                (None, None) => None,
            };
            let ctx = Ctx {
                model: &model,
                dim,
                key,
                version: d.version,
            };
            // A sequence already applied: read it through for its hash only.
            let resend = state.deltas.contains_key(&d.sequence);
            if !resend {
                sequence_rule(&d, state.seq).map_err(refused)?;
                if progress(Progress::Committing).is_break() {
                    return Err(Error::Cancelled);
                }
            }
            if d.kind == Kind::Full && !resend {
                p.apply_catalog(CatalogOp::Reset {
                    location: loc.clone(),
                });
            }
            let before = p.catalog().location(&loc).cloned().unwrap_or_default();
            let mut hashes = Hashes::new();
            let mut kept: Vec<Op> = Vec::new();
            let mut listed = (HashSet::new(), HashSet::new());
            let mut piece: Vec<Op> = Vec::new();
            let (mut piece_cost, mut first, mut i) = (0usize, 0usize, 0usize);
            let mut plan_piece = |p: &mut crate::store::Planner<'_>,
                                  piece: &mut Vec<Op>,
                                  first: usize|
             -> Result<()> {
                delta::prepare_fingers(self.workers(), piece, first).map_err(refused)?;
                let n = piece.len();
                for (j, mut op) in piece.drain(..).enumerate() {
                    let prepared = match &mut op {
                        Op::UpsertUser(u, faces, f) => {
                            if d.kind == Kind::Full {
                                for (t, _) in faces.iter() {
                                    listed.0.insert((u.id.clone(), t.clone()));
                                }
                                for t in &u.fingers {
                                    listed.1.insert((u.id.clone(), t.id.clone()));
                                }
                            }
                            std::mem::take(f)
                        }
                        _ => Vec::new(),
                    };
                    plan::plan_op(p, &loc, first + j, &mut op, prepared)?;
                    kept.push(op);
                }
                let report = progress(Progress::Validating {
                    done: first + n,
                    total: 0,
                });
                if report.is_break() {
                    return Err(Error::Cancelled);
                }
                // Between pieces, searches running beside the apply get the CPU first, and the
                // memory the piece freed goes back to the system.
                crate::error::alloc::release_free();
                std::thread::yield_now();
                Ok(())
            };
            // Plans a checked batch (already fed to the hashes), in stream order.
            let mut end_batch = |batch: &mut Batch,
                                 p: &mut crate::store::Planner<'_>,
                                 i: &mut usize|
             -> Result<()> {
                for slot in batch.checked() {
                    let (op, _) = slot.out.take().expect("checked").map_err(refused)?;
                    *i += 1;
                    if resend {
                        continue;
                    }
                    piece_cost += cost(&op, slot.json_len);
                    piece.push(op);
                    if piece_cost >= piece_limit {
                        plan_piece(p, &mut piece, first)?;
                        first = *i;
                        piece_cost = 0;
                    }
                }
                batch.clear();
                Ok(())
            };
            if has_changes {
                sc.expect(b'[', "changes must be an array")?;
                // Three batches in flight: the store's threads check one while this thread plans
                // the one checked before it and reads the next (see `Batch`). A refusal is
                // reported in stream order: a reading error only once the changes before it
                // are planned.
                let (mut reading, mut spare) = (Batch::default(), Batch::default());
                let mut checked: Option<Batch> = None;
                let mut read_error = None;
                let mut more = true;
                let workers = self.workers();
                let mut read = |sc: &mut Scanner<'_>, b: &mut Batch, more: &mut bool| {
                    if !*more || read_error.is_some() {
                        return;
                    }
                    match read_batch(sc, b, batch_limit) {
                        Ok(m) => *more = m,
                        Err(e) => read_error = Some(e),
                    }
                };
                read(&mut sc, &mut reading, &mut more);
                loop {
                    let mut checking = std::mem::replace(&mut reading, std::mem::take(&mut spare));
                    if checking.len() == 0 && checked.is_none() {
                        break;
                    }
                    let (ctx, kind, h) = (&ctx, d.kind, &mut hashes);
                    let planned = beside(
                        workers,
                        || {
                            checking.check(workers, ctx, kind);
                            checking.hash(workers, h);
                        },
                        || -> Result<()> {
                            if let Some(c) = &mut checked {
                                end_batch(c, p, &mut i)?;
                            }
                            read(&mut sc, &mut reading, &mut more);
                            Ok(())
                        },
                    );
                    planned?;
                    if let Some(mut c) = checked.take() {
                        c.clear();
                        spare = c;
                    }
                    if checking.len() > 0 {
                        checked = Some(checking);
                    }
                }
                if let Some(e) = read_error {
                    return Err(e);
                }
                if sc.peek()? != Some(b'}') {
                    return Err(refused(bad(
                        "changes",
                        "a streamed delta carries changes as its last member",
                    )));
                }
                sc.pos += 1;
            }
            if sc.peek()?.is_some() {
                return Err(parse_error("bytes after the delta"));
            }
            plan_piece(p, &mut piece, first)?;
            if let Some(e) = failed.lock().unwrap_or_else(|p| p.into_inner()).take() {
                return Err(e);
            }
            let (hash, keyed_hash) = hashes.finish(&rest);
            let this = delta::Delta {
                location: loc.clone(),
                sequence: d.sequence,
                kind: d.kind,
                code_key: d.code_key,
                ops: Vec::new(),
                signing_keys: None,
                hash,
                keyed_hash,
                version: d.version,
            };
            if resend {
                if state
                    .deltas
                    .get(&d.sequence)
                    .is_some_and(|h| this.same_as(h))
                {
                    outcome = Some(Outcome::AlreadyApplied {
                        location: loc,
                        sequence: d.sequence,
                    });
                    return Ok(());
                }
                return Err(refused(Refusal::Conflict {
                    location: loc,
                    sequence: d.sequence,
                }));
            }
            if d.kind == Kind::Full {
                // What the full synchronisation does not list is removed.
                for (u, t) in p.faces_at(&loc) {
                    if !listed.0.contains(&(u.clone(), t.clone())) {
                        p.remove_face(&loc, &u, &t);
                    }
                }
                for (u, t) in p.fingers_at(&loc) {
                    if !listed.1.contains(&(u.clone(), t.clone())) {
                        p.remove_finger(&loc, &u, &t);
                    }
                }
            }
            let after = p.catalog().location(&loc).cloned().unwrap_or_default();
            end_state::check(&kept, &before, &after).map_err(refused)?;
            if let (Some(k), Some(id)) = (&d.code_key, &new_key) {
                self.code_keys().store(id, k)?;
            }
            p.apply_catalog(CatalogOp::Applied {
                location: loc.clone(),
                seq: d.sequence,
                delta_hash: hash,
                code_key_id: new_key,
            });
            outcome = Some(Outcome::Applied {
                location: loc,
                sequence: d.sequence,
                changes: i,
            });
            Ok(())
        })?;
        Ok(outcome.expect("set by the plan"))
    }
}

/// Memory a parsed change holds until it is planned: its JSON, decoded embeddings, and its
/// fingerprints once prepared (about 20 KB each).
fn cost(op: &Op, json: usize) -> usize {
    match op {
        Op::UpsertUser(u, faces, _) => {
            json + faces.iter().map(|(_, v)| 4 * v.len()).sum::<usize>() + 20_000 * u.fingers.len()
        }
        _ => json,
    }
}
