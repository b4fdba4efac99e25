//! The catalog: users, credentials, rights, schedules, doors and per-location sync state.
//!
//! Everything here is small next to the face templates, and kept in persistent maps (`imbl`) so a
//! commit publishes a new catalog in O(change · log n) while searches keep reading the old one.
//! Credentials are indexed for O(1) lookups: cards and plates normalised, access codes only as keyed
//! hashes (HMAC-SHA256 with the location's code key) — the plain code never reaches the store, its
//! log or its files. Neither does the code key: the catalog names it by its [`KeyId`] (a one-way
//! hash of it), and the key itself is held by the store's key provider (`store::keys`), apart from
//! the hashes it keys.
//!
//! The catalog is logged as [`CatalogOp`]s inside write-ahead log records (so a delta is one atomic
//! commit with its face templates) and written whole to a `catalog-<id>.cat` file by checkpoints:
//! magic `EDGEIDCT`, version `u32`, payload length `u64`, CRC-32C `u32` of the payload, then the
//! payload (postcard encoding of [`CatalogFile`], then of [`TrustFile`]). Version 3 appends the
//! trusted signing keys (per location, its Ed25519 public keys and whether it requires
//! signatures); version 4 appends the door-decision settings of delta format 2 ([`AccessFile`]);
//! version 2 names each location's code key by its [`KeyId`] and trusts no signing
//! key; version 1 (builds before the keys were kept apart) held the code key itself, and is still
//! read: [`Catalog::decode`] hands such keys back so the store moves them to its key provider.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// A 32-byte hash (SHA-256 or HMAC-SHA256).
pub type Hash = [u8; 32];

/// What names a location's code key in the catalog, the log and the key provider: the first 16
/// bytes of SHA-256(`"edgeid.code-key-id/1\0"` ‖ key). One-way: it tells two keys apart but gives
/// nothing to key a hash with.
pub type KeyId = [u8; 16];

/// The [`KeyId`] of a code key.
pub fn code_key_id(key: &Hash) -> KeyId {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"edgeid.code-key-id/1\0");
    h.update(key);
    let d: Hash = h.finalize().into();
    d[..16].try_into().expect("16 bytes")
}

/// A fingerprint template as the platform sent it (the finger index keeps the searchable form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FingerRecord {
    /// Template id.
    pub id: String,
    /// Finger position code (ISO/IEC 19794-2: 0 unknown, 1 right thumb … 10 left little).
    pub position: u8,
    /// Record format, e.g. `iso19794-2:2005`.
    pub format: String,
    /// The record's bytes.
    pub data: Vec<u8>,
}

/// Where and when a user may pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Right {
    /// Door ids.
    pub doors: Vec<String>,
    /// Schedule id (None: always).
    pub schedule: Option<String>,
}

/// A user of a location, normalised for lookups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    /// User id.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// Disabled users are kept but never granted.
    pub enabled: bool,
    /// Start of validity (Unix seconds).
    pub valid_from: Option<i64>,
    /// End of validity (Unix seconds).
    pub valid_until: Option<i64>,
    /// Face template ids (the embeddings live in the face index).
    pub faces: Vec<String>,
    /// Fingerprint templates.
    pub fingers: Vec<FingerRecord>,
    /// Normalised cards (`csn:04A1B2`, `w26:12:34567`, `w34:1200:34567`).
    pub cards: Vec<String>,
    /// Access codes as keyed hashes.
    pub codes: Vec<Hash>,
    /// Normalised licence plates.
    pub plates: Vec<String>,
    /// Access rights.
    pub rights: Vec<Right>,
    /// Hash of the record's canonical form as sent (the digest's input).
    pub hash: Hash,
    /// What the door decision needs beyond the above (delta format 2): logged and checkpointed
    /// apart from the record, so the bytes older builds logged keep their meaning.
    #[serde(skip)]
    pub access: UserAccess,
}

/// A user's door-decision settings (delta format `edgeid.delta/2`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserAccess {
    /// A personal authentication mode that replaces the door's modes (e.g. `card+finger`).
    pub mode: Option<String>,
    /// Duress codes as keyed hashes: they open like a code and raise a duress alarm.
    pub duress_codes: Vec<Hash>,
}

impl UserAccess {
    /// Nothing set (what a format-1 delta gives).
    pub fn is_default(&self) -> bool {
        *self == UserAccess::default()
    }
}

/// A weekly schedule with holidays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Schedule id.
    pub id: String,
    /// IANA time zone name.
    pub timezone: String,
    /// Intervals: (weekday 0 = Monday, start minute, end minute), end exclusive.
    pub weekly: Vec<(u8, u16, u16)>,
    /// Holidays `YYYY-MM-DD` (no access).
    pub holidays: Vec<String>,
    /// Hash of the canonical form as sent.
    pub hash: Hash,
}

/// A door and the credential combinations it accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Door {
    /// Door id.
    pub id: String,
    /// Modes such as `face`, `card+code` (without their schedules: see [`DoorAccess::modes`]).
    pub modes: Vec<String>,
    /// Hash of the canonical form as sent.
    pub hash: Hash,
    /// The door-decision settings of delta format 2, logged and checkpointed apart (see
    /// [`UserRecord::access`]).
    #[serde(skip)]
    pub access: DoorAccess,
}

/// A door's door-decision settings beyond its mode names (delta format `edgeid.delta/2`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DoorAccess {
    /// Schedule ids of the modes, by position in [`Door::modes`] (`None`: the mode is always
    /// available). Empty when no mode has a schedule.
    pub mode_schedules: Vec<Option<String>>,
    /// Anti-passback of an area this door leads into or out of.
    pub anti_passback: Option<AntiPassback>,
    /// The time-and-attendance punch a grant at this door records.
    pub punch: Option<PunchConfig>,
}

impl DoorAccess {
    /// Nothing set (what a format-1 delta gives).
    pub fn is_default(&self) -> bool {
        *self == DoorAccess::default()
    }
}

/// Which way a door leads for anti-passback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    /// Into the area.
    Entry,
    /// Out of the area.
    Exit,
}

/// What an anti-passback violation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PassbackKind {
    /// Deny.
    Hard,
    /// Grant and record the violation.
    Soft,
}

/// Anti-passback of a door.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AntiPassback {
    /// Area id (doors of one area share who is inside).
    pub area: String,
    /// Entry or exit door of the area.
    pub direction: Direction,
    /// Hard or soft.
    pub kind: PassbackKind,
    /// Seconds after which a user's last passage no longer counts (None: never).
    pub reset_after: Option<u64>,
}

/// A door's time-and-attendance punch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PunchConfig {
    /// Default punch of a grant here: `check_in`, `check_out`, `break_out`, `break_in`,
    /// `overtime_in`, `overtime_out` (the terminal may pass another one with the decision).
    pub kind: String,
    /// Seconds within which a second punch of the same kind by the same user is a duplicate.
    pub duplicate_window: u64,
}

/// Everything the terminal knows of one location.
#[derive(Debug, Clone, Default)]
pub struct LocationState {
    /// Last applied delta sequence.
    pub seq: u64,
    /// Which key keys the hashes of access codes (provisioned by a full synchronisation; the key
    /// itself is held by the store's key provider).
    pub code_key_id: Option<KeyId>,
    /// Users by id.
    pub users: imbl::OrdMap<String, Arc<UserRecord>>,
    /// Card → user.
    pub cards: imbl::HashMap<String, String>,
    /// Code hash → user.
    pub codes: imbl::HashMap<Hash, String>,
    /// Plate → user.
    pub plates: imbl::HashMap<String, String>,
    /// Schedules by id.
    pub schedules: imbl::OrdMap<String, Arc<Schedule>>,
    /// Doors by id.
    pub doors: imbl::OrdMap<String, Arc<Door>>,
    /// What identifies each of the last applied deltas, by sequence (the last [`DELTA_HISTORY`]):
    /// `sync::delta::Delta::hash`, its keyed half zeroed after a code-key change (older builds
    /// stored the whole keyed SHA-256).
    pub deltas: imbl::OrdMap<u64, Hash>,
}

/// Who may sign a location's deltas (see `sync::signature`): the platform's Ed25519 public keys
/// trusted for it, and whether an unsigned delta is refused. Provisioned locally
/// (`Store::add_signing_key`), replaced by a delta signed with a trusted key (`signing_keys`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trust {
    /// Raw 32-byte Ed25519 public keys, in the order they were provisioned.
    pub keys: Vec<[u8; 32]>,
    /// Unsigned deltas for this location are refused.
    pub require_signatures: bool,
}

/// Deltas whose hashes are kept per location, to tell a re-sent delta from a conflicting one.
pub const DELTA_HISTORY: u64 = 10_000;

/// One logged change of the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CatalogOp {
    /// Insert or replace a user.
    PutUser {
        /// Location id.
        location: String,
        /// The record.
        user: UserRecord,
    },
    /// Remove a user.
    DeleteUser {
        /// Location id.
        location: String,
        /// User id.
        id: String,
    },
    /// Insert or replace a schedule.
    PutSchedule {
        /// Location id.
        location: String,
        /// The schedule.
        schedule: Schedule,
    },
    /// Remove a schedule.
    DeleteSchedule {
        /// Location id.
        location: String,
        /// Schedule id.
        id: String,
    },
    /// Insert or replace a door.
    PutDoor {
        /// Location id.
        location: String,
        /// The door.
        door: Door,
    },
    /// Remove a door.
    DeleteDoor {
        /// Location id.
        location: String,
        /// Door id.
        id: String,
    },
    /// Forget the location's users, schedules and doors (a full synchronisation starts with this).
    Reset {
        /// Location id.
        location: String,
    },
    /// What builds before the code keys were kept apart logged for an applied delta: the key
    /// itself. Read from old logs only (the store moves the key to its provider on open); applied
    /// as [`CatalogOp::Applied`] with the key's id.
    LegacyApplied {
        /// Location id.
        location: String,
        /// Sequence of the delta.
        seq: u64,
        /// Hash of the delta (codes keyed).
        delta_hash: Hash,
        /// Code key provisioned by this delta.
        code_key: Option<Hash>,
    },
    /// Record an applied delta: the location's sequence, its hash, and the id of a code key it
    /// provisioned, if any (the key was made durable by the key provider before this was logged).
    Applied {
        /// Location id.
        location: String,
        /// Sequence of the delta.
        seq: u64,
        /// Hash of the delta (codes keyed).
        delta_hash: Hash,
        /// Id of the code key provisioned by this delta.
        code_key_id: Option<KeyId>,
    },
    /// Replace who may sign the location's deltas (an empty trust forgets the location's entry).
    /// Logged by the local key commands and by a signed delta that rotates the keys.
    SetTrust {
        /// Location id.
        location: String,
        /// The new trust.
        trust: Trust,
    },
    /// Insert or replace a user with door-decision settings (delta format 2; a user without
    /// them is logged as [`CatalogOp::PutUser`], as before).
    PutUserAccess {
        /// Location id.
        location: String,
        /// The record.
        user: UserRecord,
        /// Its settings.
        access: UserAccess,
    },
    /// Insert or replace a door with door-decision settings (delta format 2; a door without
    /// them is logged as [`CatalogOp::PutDoor`], as before).
    PutDoorAccess {
        /// Location id.
        location: String,
        /// The door.
        door: Door,
        /// Its settings.
        access: DoorAccess,
    },
}

impl CatalogOp {
    /// The op that logs putting `user`: [`CatalogOp::PutUser`] unless it has door-decision
    /// settings (so a store that never receives format-2 deltas logs what older builds read).
    pub fn put_user(location: String, user: UserRecord) -> CatalogOp {
        if user.access.is_default() {
            CatalogOp::PutUser { location, user }
        } else {
            let access = user.access.clone();
            CatalogOp::PutUserAccess {
                location,
                user,
                access,
            }
        }
    }

    /// The op that logs putting `door` (see [`CatalogOp::put_user`]).
    pub fn put_door(location: String, door: Door) -> CatalogOp {
        if door.access.is_default() {
            CatalogOp::PutDoor { location, door }
        } else {
            let access = door.access.clone();
            CatalogOp::PutDoorAccess {
                location,
                door,
                access,
            }
        }
    }
}

/// All locations of a store.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Locations by id.
    pub locations: imbl::OrdMap<String, LocationState>,
    /// Signing keys by location. Kept apart from [`LocationState`]: provisioning a key does not
    /// make a location synchronised (nor managed by the platform), and a full synchronisation's
    /// reset leaves it alone.
    pub trust: imbl::OrdMap<String, Trust>,
}

impl LocationState {
    /// Forgets the user's credentials — those it still holds: within one delta a credential may
    /// pass to another user before its old holder is replaced or deleted (uniqueness is checked
    /// on the state the whole delta produces), and that new holder keeps it.
    fn unindex(&mut self, u: &UserRecord) {
        fn drop_own<K: std::hash::Hash + Eq + Clone>(
            m: &mut imbl::HashMap<K, String>,
            k: &K,
            id: &str,
        ) {
            if m.get(k).is_some_and(|o| o == id) {
                m.remove(k);
            }
        }
        for c in &u.cards {
            drop_own(&mut self.cards, c, &u.id);
        }
        for c in u.codes.iter().chain(&u.access.duress_codes) {
            drop_own(&mut self.codes, c, &u.id);
        }
        for p in &u.plates {
            drop_own(&mut self.plates, p, &u.id);
        }
    }
    fn index(&mut self, u: &UserRecord) {
        for c in &u.cards {
            self.cards.insert(c.clone(), u.id.clone());
        }
        for c in u.codes.iter().chain(&u.access.duress_codes) {
            self.codes.insert(*c, u.id.clone());
        }
        for p in &u.plates {
            self.plates.insert(p.clone(), u.id.clone());
        }
    }
}

impl Catalog {
    /// The state of a location (empty if unknown).
    pub fn location(&self, id: &str) -> Option<&LocationState> {
        self.locations.get(id)
    }

    /// Applies one op. Ops are validated before they are logged, so this cannot fail.
    pub fn apply(&mut self, op: &CatalogOp) {
        // The location's state is changed in place: a copy taken out and put back would share
        // every node of its maps with the original, so each insert would copy its whole path
        // (23 % of the applying thread's samples in `perf record` of `cargo bench --bench bulk`).
        fn state<'c>(c: &'c mut Catalog, l: &str) -> &'c mut LocationState {
            if !c.locations.contains_key(l) {
                c.locations.insert(l.to_string(), LocationState::default());
            }
            c.locations.get_mut(l).expect("inserted above")
        }
        match op {
            CatalogOp::PutUser { location, user } => {
                let s = state(self, location);
                if let Some(old) = s.users.get(&user.id).cloned() {
                    s.unindex(&old);
                }
                s.index(user);
                s.users.insert(user.id.clone(), Arc::new(user.clone()));
            }
            CatalogOp::PutUserAccess {
                location,
                user,
                access,
            } => {
                let mut user = user.clone();
                user.access = access.clone();
                self.apply(&CatalogOp::PutUser {
                    location: location.clone(),
                    user,
                });
            }
            CatalogOp::PutDoorAccess {
                location,
                door,
                access,
            } => {
                let mut door = door.clone();
                door.access = access.clone();
                self.apply(&CatalogOp::PutDoor {
                    location: location.clone(),
                    door,
                });
            }
            CatalogOp::DeleteUser { location, id } => {
                let s = state(self, location);
                if let Some(old) = s.users.remove(id) {
                    s.unindex(&old);
                }
            }
            CatalogOp::PutSchedule { location, schedule } => {
                let s = state(self, location);
                s.schedules
                    .insert(schedule.id.clone(), Arc::new(schedule.clone()));
            }
            CatalogOp::DeleteSchedule { location, id } => {
                let s = state(self, location);
                s.schedules.remove(id);
            }
            CatalogOp::PutDoor { location, door } => {
                let s = state(self, location);
                s.doors.insert(door.id.clone(), Arc::new(door.clone()));
            }
            CatalogOp::DeleteDoor { location, id } => {
                let s = state(self, location);
                s.doors.remove(id);
            }
            CatalogOp::Reset { location } => {
                let s = state(self, location);
                s.users = Default::default();
                s.cards = Default::default();
                s.codes = Default::default();
                s.plates = Default::default();
                s.schedules = Default::default();
                s.doors = Default::default();
            }
            CatalogOp::LegacyApplied {
                location,
                seq,
                delta_hash,
                code_key,
            } => self.apply(&CatalogOp::Applied {
                location: location.clone(),
                seq: *seq,
                delta_hash: *delta_hash,
                code_key_id: code_key.as_ref().map(code_key_id),
            }),
            CatalogOp::Applied {
                location,
                seq,
                delta_hash,
                code_key_id,
            } => {
                let s = state(self, location);
                if *seq <= s.seq {
                    // A full synchronisation restarting the numbering of a location at the end
                    // of the sequence range: the sequences remembered so far mean nothing now.
                    s.deltas = Default::default();
                }
                if code_key_id.is_some_and(|k| s.code_key_id.is_some_and(|old| old != k)) {
                    // A new code key: the deltas remembered so far keyed their codes with the
                    // old one, which is gone. Their keyed half (see `sync::delta::Delta::hash`)
                    // is zeroed so that a re-sent one is compared on everything but its codes.
                    let rekeyed: Vec<(u64, Hash)> = s
                        .deltas
                        .iter()
                        .map(|(q, h)| {
                            let mut h = *h;
                            h[16..].fill(0);
                            (*q, h)
                        })
                        .collect();
                    s.deltas = rekeyed.into_iter().collect();
                }
                s.seq = *seq;
                s.deltas.insert(*seq, *delta_hash);
                while s.deltas.len() as u64 > DELTA_HISTORY {
                    if let Some(&(first, _)) = s.deltas.get_min() {
                        s.deltas.remove(&first);
                    }
                }
                if let Some(k) = code_key_id {
                    s.code_key_id = Some(*k);
                }
            }
            CatalogOp::SetTrust { location, trust } => {
                if *trust == Trust::default() {
                    self.trust.remove(location);
                } else {
                    self.trust.insert(location.clone(), trust.clone());
                }
            }
        }
    }

    /// Nothing in it: no location, no signing key (a checkpoint then writes no catalog file).
    pub fn is_empty(&self) -> bool {
        self.locations.is_empty() && self.trust.is_empty()
    }

    /// Who may sign the deltas of a location (nothing trusted, nothing required if unknown).
    pub fn trust(&self, location: &str) -> Trust {
        self.trust.get(location).cloned().unwrap_or_default()
    }

    /// Serialises the whole catalog for a checkpoint file.
    pub fn encode(&self) -> Vec<u8> {
        let file = CatalogFile {
            locations: self
                .locations
                .iter()
                .map(|(id, s)| LocationFile {
                    id: id.clone(),
                    seq: s.seq,
                    code_key: s.code_key_id,
                    users: s.users.values().map(|u| (**u).clone()).collect(),
                    schedules: s.schedules.values().map(|x| (**x).clone()).collect(),
                    doors: s.doors.values().map(|x| (**x).clone()).collect(),
                    deltas: s.deltas.iter().map(|(a, b)| (*a, *b)).collect(),
                })
                .collect(),
        };
        let mut payload = postcard::to_allocvec(&file).expect("catalog serialises");
        let trust = TrustFile {
            locations: self
                .trust
                .iter()
                .map(|(id, t)| (id.clone(), t.clone()))
                .collect(),
        };
        payload.extend(postcard::to_allocvec(&trust).expect("trust serialises"));
        let access = AccessFile {
            locations: self
                .locations
                .iter()
                .map(|(id, s)| {
                    (
                        id.clone(),
                        s.users
                            .values()
                            .filter(|u| !u.access.is_default())
                            .map(|u| (u.id.clone(), u.access.clone()))
                            .collect(),
                        s.doors
                            .values()
                            .filter(|d| !d.access.is_default())
                            .map(|d| (d.id.clone(), d.access.clone()))
                            .collect(),
                    )
                })
                .filter(|(_, u, d): &(String, Vec<_>, Vec<_>)| !u.is_empty() || !d.is_empty())
                .collect(),
        };
        payload.extend(postcard::to_allocvec(&access).expect("access serialises"));
        let mut out = Vec::with_capacity(payload.len() + 24);
        out.extend_from_slice(CATALOG_MAGIC);
        out.extend_from_slice(&CATALOG_VERSION.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// Reads a checkpoint file. The code keys a version-1 file holds (written before the keys
    /// were kept apart) are appended to `legacy_keys`, for the store to move to its key provider;
    /// the catalog names them by id like a current one.
    pub fn decode(bytes: &[u8], path: &Path, legacy_keys: &mut Vec<Hash>) -> Result<Catalog> {
        if bytes.len() < 24 || &bytes[..8] != CATALOG_MAGIC {
            return Err(Error::corrupt(path, "not a catalog file (bad magic)"));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if !(1..=CATALOG_VERSION).contains(&version) {
            return Err(Error::Version {
                path: path.into(),
                found: version,
                min: 1,
                max: CATALOG_VERSION,
            });
        }
        let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
        let crc = u32::from_le_bytes(bytes[20..24].try_into().expect("4 bytes"));
        let payload = &bytes[24..];
        if payload.len() as u64 != len {
            return Err(Error::corrupt(
                path,
                format!(
                    "catalog payload is {} bytes, header says {len}",
                    payload.len()
                ),
            ));
        }
        if crc32c::crc32c(payload) != crc {
            return Err(Error::corrupt(path, "catalog checksum mismatch"));
        }
        let bad = |e: postcard::Error| Error::corrupt(path, format!("catalog payload: {e}"));
        let (locations, rest): (Vec<LocationFile<KeyId>>, &[u8]) = if version == 1 {
            let (file, rest): (CatalogFile<Hash>, _) =
                postcard::take_from_bytes(payload).map_err(bad)?;
            let locations = file
                .locations
                .into_iter()
                .map(|l| {
                    legacy_keys.extend(l.code_key);
                    LocationFile {
                        code_key: l.code_key.as_ref().map(code_key_id),
                        id: l.id,
                        seq: l.seq,
                        users: l.users,
                        schedules: l.schedules,
                        doors: l.doors,
                        deltas: l.deltas,
                    }
                })
                .collect();
            (locations, rest)
        } else {
            let (file, rest): (CatalogFile, _) = postcard::take_from_bytes(payload).map_err(bad)?;
            (file.locations, rest)
        };
        let mut c = Catalog::default();
        let rest = if version >= TRUST_VERSION {
            let (trust, rest): (TrustFile, _) = postcard::take_from_bytes(rest)
                .map_err(|e| Error::corrupt(path, format!("catalog signing keys: {e}")))?;
            c.trust = trust.locations.into_iter().collect();
            rest
        } else {
            rest
        };
        let mut access = AccessFile::default();
        let rest = if version >= ACCESS_VERSION {
            let (a, rest): (AccessFile, _) = postcard::take_from_bytes(rest)
                .map_err(|e| Error::corrupt(path, format!("catalog door settings: {e}")))?;
            access = a;
            rest
        } else {
            rest
        };
        if !rest.is_empty() {
            return Err(Error::corrupt(
                path,
                format!("{} bytes after the catalog's payload", rest.len()),
            ));
        }
        for l in locations {
            let mut s = LocationState {
                seq: l.seq,
                code_key_id: l.code_key,
                ..Default::default()
            };
            for u in l.users {
                s.index(&u);
                s.users.insert(u.id.clone(), Arc::new(u));
            }
            for x in l.schedules {
                s.schedules.insert(x.id.clone(), Arc::new(x));
            }
            for x in l.doors {
                s.doors.insert(x.id.clone(), Arc::new(x));
            }
            s.deltas = l.deltas.into_iter().collect();
            c.locations.insert(l.id, s);
        }
        for (l, users, doors) in access.locations {
            let Some(s) = c.locations.get_mut(&l) else {
                return Err(Error::corrupt(
                    path,
                    format!("door settings of an unknown location {l:?}"),
                ));
            };
            for (u, a) in users {
                let Some(mut rec) = s.users.get(&u).map(|r| (**r).clone()) else {
                    return Err(Error::corrupt(
                        path,
                        format!("door settings of an unknown user {u:?}"),
                    ));
                };
                rec.access = a;
                s.index(&rec);
                s.users.insert(u, Arc::new(rec));
            }
            for (d, a) in doors {
                let Some(mut rec) = s.doors.get(&d).map(|r| (**r).clone()) else {
                    return Err(Error::corrupt(
                        path,
                        format!("door settings of an unknown door {d:?}"),
                    ));
                };
                rec.access = a;
                s.doors.insert(d, Arc::new(rec));
            }
        }
        Ok(c)
    }
}

const CATALOG_MAGIC: &[u8; 8] = b"EDGEIDCT";
/// Version written: 4. Version 2 named code keys by [`KeyId`] (version 1 held the keys); version 3
/// appends the signing keys ([`TrustFile`]); version 4 appends the door-decision settings
/// ([`AccessFile`]). Versions 1 to 3 are read (as trusting no key, with no door settings).
const CATALOG_VERSION: u32 = 4;
/// First version with the signing keys.
const TRUST_VERSION: u32 = 3;
/// First version with the door-decision settings.
const ACCESS_VERSION: u32 = 4;

/// The serialised form of the catalog (checkpoint files). `K` is what names a location's code
/// key: its [`KeyId`] (version 2 on) or, in version 1, the key itself.
#[derive(Serialize, Deserialize)]
pub struct CatalogFile<K = KeyId> {
    locations: Vec<LocationFile<K>>,
}

#[derive(Serialize, Deserialize)]
struct LocationFile<K> {
    id: String,
    seq: u64,
    code_key: Option<K>,
    users: Vec<UserRecord>,
    schedules: Vec<Schedule>,
    doors: Vec<Door>,
    deltas: Vec<(u64, Hash)>,
}

/// The signing keys in a catalog file (version 3 on), after the [`CatalogFile`].
#[derive(Serialize, Deserialize)]
pub struct TrustFile {
    locations: Vec<(String, Trust)>,
}

/// The door-decision settings in a catalog file (version 4 on), after the [`TrustFile`]: per
/// location, the users and doors that have any (delta format 2), by id.
#[derive(Default, Serialize, Deserialize)]
pub struct AccessFile {
    #[allow(clippy::type_complexity)]
    locations: Vec<(String, Vec<(String, UserAccess)>, Vec<(String, DoorAccess)>)>,
}
