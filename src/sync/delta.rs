//! Parsing and validating a platform delta (format in `docs/sync-protocol.md`).
//!
//! Everything that can be checked without the store's current state is checked here, before the
//! writer lock is taken: structure, ids, card formats, code and plate syntax, time stamps, time
//! zones, embeddings (base64, model, dimension, finite, non-zero). Every error names where it is,
//! e.g. `changes[3].user.faces[0].embedding: expected 512 floats, got 511`.

use super::canonical::{self, CodeMac, Rule};
use super::records;
use super::syntax as syn;
pub use super::syntax::{card_key, check_code, plate_key};
use super::{Refusal, MAX_SEQUENCE};
use crate::catalog::{Door, Hash, Schedule, UserRecord};
use crate::finger::enroll::{prepare, Prepared};
use crate::finger::Format;
use crate::ids::check_id;
use crate::store::Workers;
use simd_json::{BorrowedValue as Value, StaticNode};

/// The version a platform without door-decision settings sends (still read).
pub const FORMAT: &str = "edgeid.delta/1";
/// The version with door-decision settings (door modes with schedules, anti-passback, punches;
/// a user's personal mode and duress codes): refused inside a format-1 delta.
pub const FORMAT_2: &str = "edgeid.delta/2";

/// Most changes in one delta (a full synchronisation of a large location is sent in one delta; the
/// delta's size limit usually binds first).
pub const MAX_CHANGES: usize = 1_000_000;
/// Most face templates per user.
pub const MAX_FACES_PER_USER: usize = 16;
/// Most fingerprint templates per user (ten fingers, two views each).
pub const MAX_FINGERS_PER_USER: usize = 20;
/// Most cards, most access codes and most plates per user (each).
pub const MAX_CREDENTIALS_PER_USER: usize = 16;
/// Most rights per user, and most doors per right.
pub const MAX_RIGHTS_PER_USER: usize = 64;

/// A full synchronisation or a batch of changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The location's complete state.
    Full,
    /// Changes on top of the previous sequence.
    Changes,
}

/// One validated change.
#[derive(Debug)]
pub enum Op {
    /// Insert or replace a user with its face templates (normalised embeddings) and its
    /// fingerprint templates prepared for the finger index (same order as `UserRecord::fingers`).
    UpsertUser(UserRecord, Vec<(String, Vec<f32>)>, Vec<Prepared>),
    /// Remove a user.
    DeleteUser(String),
    /// Insert or replace a schedule.
    UpsertSchedule(Schedule),
    /// Remove a schedule.
    DeleteSchedule(String),
    /// Insert or replace a door.
    UpsertDoor(Door),
    /// Remove a door.
    DeleteDoor(String),
}

/// A parsed, validated delta.
#[derive(Debug)]
pub struct Delta {
    /// Location id.
    pub location: String,
    /// Sequence number.
    pub sequence: u64,
    /// Full or changes.
    pub kind: Kind,
    /// Code key provisioned by this delta.
    pub code_key: Option<Hash>,
    /// The changes, in order.
    pub ops: Vec<Op>,
    /// The location's new signing keys (the complete set), if the delta rotates them; only a
    /// delta signed by a key the location trusts may (`docs/sync-protocol.md`, "Signed deltas").
    pub signing_keys: Option<Vec<super::signature::PublicKey>>,
    /// What tells a re-sent delta from a conflicting one (see [`Delta::same_as`]): the first 16
    /// bytes of the SHA-256 of the canonical form with codes masked, then the first 16 bytes of
    /// the SHA-256 of the canonical form with codes keyed.
    pub hash: Hash,
    /// SHA-256 of the canonical form with codes keyed: what builds before this one remembered.
    pub keyed_hash: Hash,
    /// Its format version: 1 (`edgeid.delta/1`) or 2 (`edgeid.delta/2`, door-decision settings).
    pub version: u32,
}

pub(super) type R<T> = Result<T, Refusal>;

pub(super) fn bad(path: impl Into<String>, msg: impl Into<String>) -> Refusal {
    Refusal::Invalid {
        path: path.into(),
        message: msg.into(),
    }
}

pub(super) fn kind_of(v: &Value<'_>) -> &'static str {
    match v {
        Value::Static(StaticNode::Null) => "null",
        Value::Static(StaticNode::Bool(_)) => "a boolean",
        Value::Static(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An object's members, refusing unknown keys (a misspelt field must not be silently ignored).
pub(super) struct Obj<'a, 'v> {
    o: &'a simd_json::borrowed::Object<'v>,
    path: String,
}

impl<'a, 'v> Obj<'a, 'v> {
    pub(super) fn new(v: &'a Value<'v>, path: &str, allowed: &[&str]) -> R<Self> {
        let Value::Object(o) = v else {
            return Err(bad(path, format!("expected an object, got {}", kind_of(v))));
        };
        for k in o.keys() {
            if !allowed.contains(&k.as_ref()) {
                return Err(bad(
                    join(path, k),
                    format!("unknown field (allowed: {})", allowed.join(", ")),
                ));
            }
        }
        Ok(Obj {
            o,
            path: path.to_string(),
        })
    }
    pub(super) fn at(&self, k: &str) -> String {
        join(&self.path, k)
    }
    pub(super) fn opt(&self, k: &str) -> Option<&'a Value<'v>> {
        self.o
            .get(k)
            .filter(|v| !matches!(v, Value::Static(StaticNode::Null)))
    }
    pub(super) fn req(&self, k: &str) -> R<&'a Value<'v>> {
        self.opt(k).ok_or_else(|| bad(self.at(k), "missing"))
    }
    pub(super) fn str(&self, k: &str) -> R<&'a str> {
        as_str(self.req(k)?, &self.at(k))
    }
    pub(super) fn opt_str(&self, k: &str) -> R<Option<&'a str>> {
        self.opt(k).map(|v| as_str(v, &self.at(k))).transpose()
    }
    pub(super) fn u64(&self, k: &str) -> R<u64> {
        as_u64(self.req(k)?, &self.at(k))
    }
    pub(super) fn arr(&self, k: &str) -> R<&'a [Value<'v>]> {
        match self.opt(k) {
            None => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(v) => Err(bad(
                self.at(k),
                format!("expected an array, got {}", kind_of(v)),
            )),
        }
    }
}

pub(super) fn join(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_string()
    } else {
        format!("{path}.{k}")
    }
}

pub(super) fn as_str<'a>(v: &'a Value<'_>, path: &str) -> R<&'a str> {
    match v {
        Value::String(s) => Ok(s),
        _ => Err(bad(path, format!("expected a string, got {}", kind_of(v)))),
    }
}

pub(super) fn as_u64(v: &Value<'_>, path: &str) -> R<u64> {
    match v {
        Value::Static(StaticNode::U64(u)) => Ok(*u),
        Value::Static(StaticNode::I64(i)) if *i >= 0 => Ok(*i as u64),
        _ => Err(bad(
            path,
            format!("expected a non-negative integer, got {}", kind_of(v)),
        )),
    }
}

pub(super) fn id(v: &str, what: &str, path: &str) -> R<String> {
    check_id(what, v).map_err(|e| bad(path, invalid_text(e)))?;
    Ok(v.to_string())
}

/// At most `max` elements in a list.
pub(super) fn at_most<'a, 'v>(a: &'a [Value<'v>], max: usize, path: &str) -> R<&'a [Value<'v>]> {
    if a.len() > max {
        return Err(bad(
            path,
            format!("at most {max} elements, got {}", a.len()),
        ));
    }
    Ok(a)
}

pub(super) fn invalid_text(e: crate::error::Error) -> String {
    match e {
        crate::error::Error::Invalid(m) => m,
        other => other.to_string(),
    }
}

pub(super) struct Ctx<'k> {
    pub(super) model: &'k str,
    pub(super) dim: usize,
    pub(super) key: Option<&'k dyn CodeMac>,
    /// The delta's format version (1 or 2).
    pub(super) version: u32,
}

/// Parses and validates a delta. `model`/`dim` are the store's; `current_key` keys codes with the
/// location's code key before this delta (a full delta may bring its own, which then keys them).
/// Fingerprints are prepared on the caller's thread ([`parse_on`] uses a store's threads).
pub fn parse<'k>(
    json: &mut [u8],
    model: &str,
    dim: usize,
    current_key: impl FnOnce(&str) -> Option<Box<dyn CodeMac + 'k>>,
    progress: &mut dyn FnMut(usize, usize),
) -> R<Delta> {
    let sequential = Workers::new(1).map_err(|e| Refusal::Parse(e.to_string()))?;
    parse_on(&sequential, json, model, dim, current_key, progress)
}

/// [`parse`], preparing the delta's fingerprints on `workers` (a store's threads).
pub fn parse_on<'k>(
    workers: &Workers,
    json: &mut [u8],
    model: &str,
    dim: usize,
    current_key: impl FnOnce(&str) -> Option<Box<dyn CodeMac + 'k>>,
    progress: &mut dyn FnMut(usize, usize),
) -> R<Delta> {
    let tape =
        simd_json::to_tape(json).map_err(|e| Refusal::Parse(format!("not valid JSON: {e}")))?;
    syn::unique_keys(&tape.0)?;
    let v = simd_json::value::lazy::Value::from_tape(tape.as_value()).into_value();
    drop(tape);
    let top = Obj::new(
        &v,
        "",
        &[
            "format",
            "location",
            "sequence",
            "kind",
            "code_key",
            "changes",
            "signature",
            "signing_keys",
        ],
    )?;
    let format = top.str("format")?;
    let version = match format {
        FORMAT => 1,
        FORMAT_2 => 2,
        _ => {
            return Err(Refusal::Version(format!(
                "format {format:?} is not supported (this build reads {FORMAT:?} and {FORMAT_2:?})"
            )))
        }
    };
    let location = id(top.str("location")?, "location", "location")?;
    let sequence = match top.opt("sequence") {
        Some(Value::Static(StaticNode::U64(u))) => *u,
        Some(Value::Static(StaticNode::I64(i))) if *i >= 0 => *i as u64,
        // Out of range, negative or not an integer: one message with the range.
        _ if top.opt("sequence").is_none() => return Err(bad("sequence", "missing")),
        _ => u64::MAX,
    };
    if !(1..=MAX_SEQUENCE).contains(&sequence) {
        return Err(bad(
            "sequence",
            format!(
                "must be 1..={MAX_SEQUENCE} (2^53-1, exact in every JSON library), got {}",
                top.opt("sequence").map_or(String::new(), |v| match v {
                    Value::Static(StaticNode::U64(u)) => u.to_string(),
                    Value::Static(StaticNode::I64(i)) => i.to_string(),
                    other => kind_of(other).to_string(),
                })
            ),
        ));
    }
    let kind = match top.str("kind")? {
        "full" => Kind::Full,
        "changes" => Kind::Changes,
        other => {
            return Err(bad(
                "kind",
                format!("expected \"full\" or \"changes\", got {other:?}"),
            ))
        }
    };
    if top.opt("signature").is_some() {
        return Err(bad(
            "signature",
            "the signature travels beside the delta (a detached signature over its exact bytes), not inside it",
        ));
    }
    let signing_keys = match top.opt("signing_keys") {
        None => None,
        Some(_) => Some(signing_keys(top.arr("signing_keys")?)?),
    };
    let code_key = match top.opt_str("code_key")? {
        None => None,
        Some(_) if kind == Kind::Changes => {
            return Err(bad(
                "code_key",
                "a code key is provisioned by a full synchronisation only (codes already stored would no longer match)",
            ))
        }
        Some(s) => {
            let b = syn::base64(s).map_err(|m| bad("code_key", m))?;
            Some(
                <Hash>::try_from(b.as_slice())
                    .map_err(|_| bad("code_key", format!("expected 32 bytes, got {}", b.len())))?,
            )
        }
    };
    let stored;
    let key: Option<&dyn CodeMac> = match &code_key {
        Some(k) => Some(k),
        None => {
            stored = current_key(&location);
            stored.as_deref()
        }
    };
    let ctx = Ctx {
        model,
        dim,
        key,
        version,
    };
    // Required in both kinds: a full without it would silently empty the location. `[]` says so.
    top.req("changes")?;
    let changes = at_most(top.arr("changes")?, MAX_CHANGES, "changes")?;
    let mut ops = Vec::with_capacity(changes.len());
    for (i, c) in changes.iter().enumerate() {
        let path = format!("changes[{i}]");
        let op = parse_change(c, &path, &ctx)?;
        full_refuses_deletes(kind, &op, &path)?;
        ops.push(op);
        if i % 256 == 0 {
            progress(i, changes.len());
        }
    }
    progress(changes.len(), changes.len());
    prepare_fingers(workers, &mut ops, 0)?;
    let non_integer = |w| {
        bad(
            "",
            format!("the delta holds {w}; only integers are allowed"),
        )
    };
    let keyed_hash = canonical::hash(&v, Rule::Delta(key)).map_err(non_integer)?;
    let has_codes = ops
        .iter()
        .any(|op| matches!(op, Op::UpsertUser(u, _, _) if !u.codes.is_empty() || !u.access.duress_codes.is_empty()));
    let masked = if has_codes {
        canonical::hash(&v, Rule::Delta(None)).map_err(non_integer)?
    } else {
        keyed_hash
    };
    let mut hash = [0; 32];
    hash[..16].copy_from_slice(&masked[..16]);
    hash[16..].copy_from_slice(&keyed_hash[..16]);
    Ok(Delta {
        location,
        sequence,
        kind,
        code_key,
        ops,
        signing_keys,
        hash,
        keyed_hash,
        version,
    })
}

/// `signing_keys`: 1..=[`super::signature::MAX_KEYS_PER_LOCATION`] distinct public keys (padded
/// base64 of 32 bytes each). Empty is refused: forgetting every key is a local act.
fn signing_keys(a: &[Value<'_>]) -> R<Vec<super::signature::PublicKey>> {
    use super::signature::{parse_public_key, MAX_KEYS_PER_LOCATION};
    if a.is_empty() {
        return Err(bad(
            "signing_keys",
            "at least one key (a location stops trusting every key only by a local act)",
        ));
    }
    let a = at_most(a, MAX_KEYS_PER_LOCATION, "signing_keys")?;
    let mut keys = Vec::with_capacity(a.len());
    for (i, v) in a.iter().enumerate() {
        let path = format!("signing_keys[{i}]");
        let k = parse_public_key(as_str(v, &path)?).map_err(|m| bad(&path, m))?;
        if keys.contains(&k) {
            return Err(bad(path, "this key is listed twice"));
        }
        keys.push(k);
    }
    Ok(keys)
}

impl Delta {
    /// Whether the delta remembered under this sequence (`h`, as stored by
    /// [`crate::catalog::CatalogOp::Applied`]) is this one. Its keyed half is zeroed once the
    /// location's code key changes (the codes it held were keyed with the old key, which the
    /// terminal no longer has): such a delta is compared on everything but its codes. A hash
    /// from a build before this rule is the whole keyed SHA-256.
    pub fn same_as(&self, h: &Hash) -> bool {
        *h == self.hash
            || *h == self.keyed_hash
            || (h[..16] == self.hash[..16] && h[16..] == [0; 16])
    }
}

/// A full delta lists the whole state: it carries no `delete_*` op.
pub(super) fn full_refuses_deletes(kind: Kind, op: &Op, path: &str) -> R<()> {
    if kind == Kind::Full
        && matches!(
            op,
            Op::DeleteUser(_) | Op::DeleteSchedule(_) | Op::DeleteDoor(_)
        )
    {
        return Err(bad(
            join(path, "op"),
            "a full delta lists the whole state: what it does not list is removed, so it carries no delete_* ops",
        ));
    }
    Ok(())
}

/// Prepares every fingerprint template of `ops` (changes `first..` of the delta) for the finger
/// index (about 0.12 ms each, so on the store's threads). A record that cannot be read refuses
/// the delta, naming it.
pub(super) fn prepare_fingers(workers: &Workers, ops: &mut [Op], first: usize) -> R<()> {
    let jobs: Vec<(usize, usize)> = ops
        .iter()
        .enumerate()
        .flat_map(|(i, op)| match op {
            Op::UpsertUser(u, _, _) => (0..u.fingers.len()).map(|j| (i, j)).collect(),
            _ => Vec::new(),
        })
        .collect();
    let prepared: Vec<R<Prepared>> = workers.background_map(&jobs, |&(i, j)| {
        let Op::UpsertUser(u, _, _) = &ops[i] else {
            unreachable!("jobs name user ops")
        };
        let f = &u.fingers[j];
        let format = Format::from_standard_name(&f.format);
        prepare(&f.data, format, Some(f.position)).map_err(|e| {
            bad(
                format!("changes[{}].user.fingers[{j}].data", first + i),
                format!("fingerprint template {:?}: {e}", f.id),
            )
        })
    });
    for (&(i, _), t) in jobs.iter().zip(prepared) {
        if let Op::UpsertUser(_, _, fingers) = &mut ops[i] {
            fingers.push(t?);
        }
    }
    Ok(())
}

pub(super) fn parse_change(v: &Value<'_>, path: &str, ctx: &Ctx<'_>) -> R<Op> {
    let Value::Object(o) = v else {
        return Err(bad(path, format!("expected an object, got {}", kind_of(v))));
    };
    let op = match o.get("op") {
        Some(Value::String(s)) => s.as_ref(),
        _ => return Err(bad(join(path, "op"), "missing or not a string")),
    };
    match op {
        "upsert_user" => {
            let c = Obj::new(v, path, &["op", "user"])?;
            records::parse_user(c.req("user")?, &c.at("user"), ctx)
        }
        "delete_user" | "delete_schedule" | "delete_door" => {
            let c = Obj::new(v, path, &["op", "id"])?;
            let what = &op["delete_".len()..];
            let i = id(c.str("id")?, what, &c.at("id"))?;
            Ok(match op {
                "delete_user" => Op::DeleteUser(i),
                "delete_schedule" => Op::DeleteSchedule(i),
                _ => Op::DeleteDoor(i),
            })
        }
        "upsert_schedule" => {
            let c = Obj::new(v, path, &["op", "schedule"])?;
            records::parse_schedule(c.req("schedule")?, &c.at("schedule")).map(Op::UpsertSchedule)
        }
        "upsert_door" => {
            let c = Obj::new(v, path, &["op", "door"])?;
            records::parse_door(c.req("door")?, &c.at("door"), ctx).map(Op::UpsertDoor)
        }
        other => Err(bad(
            join(path, "op"),
            format!("unknown op {other:?} (known: upsert_user, delete_user, upsert_schedule, delete_schedule, upsert_door, delete_door)"),
        )),
    }
}
