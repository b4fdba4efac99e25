//! The ordered checks of a decision (see the module docs of `access`).

use super::antipassback::{self, Passback};
use super::mode::{Factor, Factors, Mode};
use super::schedule::{self, InSchedule};
use super::state::DoorState;
use super::{punch, Decision, Presented, Reason, Score};
use crate::catalog::{Door, LocationState, UserRecord};
use crate::error::{Error, Result};
use crate::index::face::FaceIdentify;
use crate::index::finger::FingerIdentify;
use crate::journal::EventKind;
use crate::store::Store;
use crate::sync::syntax::{card_key, check_code, plate_key};
use jiff::Timestamp;
use std::time::SystemTime;

/// Normalises a card as presented: `csn:HEX`, `wiegand26:FACILITY:NUMBER`,
/// `wiegand34:FACILITY:NUMBER` (the store's key, e.g. `csn:04A1B2`, `w26:12:34567`).
pub fn card_of(text: &str) -> Result<String> {
    let bad = |m: String| Error::Invalid(format!("card {text:?}: {m}"));
    match text.split(':').collect::<Vec<_>>()[..] {
        ["csn", hex] => card_key("csn", hex, None).map_err(bad),
        [f @ ("wiegand26" | "wiegand34"), facility, number] => {
            let facility = facility
                .parse::<u64>()
                .map_err(|_| bad(format!("facility {facility:?} is not a number")))?;
            card_key(f, number, Some(facility)).map_err(bad)
        }
        _ => Err(bad(
            "expected csn:HEX, wiegand26:FACILITY:NUMBER or wiegand34:FACILITY:NUMBER".into(),
        )),
    }
}

fn unix(t: SystemTime) -> Result<Timestamp> {
    Timestamp::try_from(t).map_err(|e| Error::Invalid(format!("time out of range: {e}")))
}

/// Checks what was presented, before anything is looked up: bad input is an error.
fn check(p: &Presented) -> Result<()> {
    if p.instants().is_empty() {
        return Err(Error::Invalid(
            "nothing presented: give a face, finger, card, code, plate or id".into(),
        ));
    }
    if let Some(c) = &p.card {
        card_of(&c.value)?;
    }
    if let Some(c) = &p.code {
        check_code(&c.value).map_err(Error::Invalid)?;
    }
    if let Some(x) = &p.plate {
        plate_key(&x.value).map_err(Error::Invalid)?;
    }
    if let Some(u) = &p.id {
        crate::ids::check_id("user", &u.value)?;
    }
    if let Some(k) = &p.punch {
        if !punch::PUNCHES.contains(&k.as_str()) {
            return Err(Error::Invalid(format!(
                "unknown punch {k:?} (known: {})",
                punch::PUNCHES.join(", ")
            )));
        }
    }
    let o = &p.options;
    if !(o.face_threshold.is_finite() && o.finger_threshold.is_finite()) {
        return Err(Error::Invalid("thresholds must be finite".into()));
    }
    Ok(())
}

/// The factors that combine: those presented within the timeout of the latest one.
fn in_time(p: &Presented, at: SystemTime) -> Factors {
    let instants: Vec<(Factor, SystemTime)> = p
        .instants()
        .into_iter()
        .map(|(f, t)| (f, t.unwrap_or(at)))
        .collect();
    let latest = instants.iter().map(|x| x.1).max().unwrap_or(at);
    let mut out = Factors::default();
    for (f, t) in instants {
        if latest.duration_since(t).unwrap_or_default() <= p.options.second_factor_timeout {
            out.insert(f);
        }
    }
    out
}

/// What the factors said about whom.
struct Identified {
    user: String,
    verified: Factors,
    failed: Factors,
    scores: Vec<Score>,
    duress: bool,
}

enum Outcome {
    Known(Identified),
    Unknown(Reason, Vec<Score>),
}

fn code_hash(store: &Store, loc: &LocationState, code: &str) -> Result<Option<[u8; 32]>> {
    match loc.code_key_id {
        None => Ok(None),
        Some(id) => store.code_keys().mac(&id, code.as_bytes()).map(Some),
    }
}

fn identify(
    store: &Store,
    location: &str,
    loc: &LocationState,
    p: &Presented,
    live: Factors,
) -> Result<Outcome> {
    let o = &p.options;
    let mut scores = Vec::new();
    let card = match (&p.card, live.contains(Factor::Card)) {
        (Some(c), true) => Some(card_of(&c.value)?),
        _ => None,
    };
    let plate = match (&p.plate, live.contains(Factor::Plate)) {
        (Some(x), true) => Some(plate_key(&x.value).map_err(Error::Invalid)?),
        _ => None,
    };
    let id =
        p.id.as_ref()
            .filter(|_| live.contains(Factor::Id))
            .map(|u| u.value.clone());
    // The naming factors, in order: who each names (None: nobody).
    let mut naming: Vec<(Factor, Option<String>)> = Vec::new();
    if let Some(u) = id {
        naming.push((Factor::Id, loc.users.contains_key(&u).then_some(u)));
    }
    if let Some(c) = card {
        naming.push((Factor::Card, loc.cards.get(&c).cloned()));
    }
    if let Some(x) = plate {
        naming.push((Factor::Plate, loc.plates.get(&x).cloned()));
    }
    let mut verified = Factors::default();
    let mut failed = Factors::default();
    let face = p.face.as_ref().filter(|_| live.contains(Factor::Face));
    let finger = p.finger.as_ref().filter(|_| live.contains(Factor::Finger));
    let code = p.code.as_ref().filter(|_| live.contains(Factor::Code));
    let mut face_done = false;
    let mut finger_done = false;
    let mut code_done = false;
    let user = if let Some((f, who)) = naming.first() {
        let Some(u) = who.clone() else {
            return Ok(Outcome::Unknown(Reason::UnknownCredential, scores));
        };
        verified.insert(*f);
        for (g, other) in &naming[1..] {
            if other.as_deref() == Some(u.as_str()) {
                verified.insert(*g);
            } else {
                failed.insert(*g);
            }
        }
        u
    } else if let Some(face) = face {
        face_done = true;
        let t = o.face_threshold;
        let hits = store.identify_face(&FaceIdentify::new(&face.value).k(1).location(location))?;
        let best = hits.into_iter().next();
        let score = best.as_ref().map_or(-1.0, |h| h.score);
        scores.push(Score {
            factor: Factor::Face,
            score: score as f32,
            threshold: t as f32,
        });
        match best.filter(|h| h.score >= t) {
            Some(h) => {
                verified.insert(Factor::Face);
                h.user
            }
            None => return Ok(Outcome::Unknown(Reason::UnknownFace, scores)),
        }
    } else if let Some(finger) = finger {
        finger_done = true;
        let t = o.finger_threshold;
        let hits = store.identify_finger(
            &FingerIdentify::new(finger.value.as_ref())
                .k(1)
                .location(location),
        )?;
        let best = hits.into_iter().next();
        scores.push(Score {
            factor: Factor::Finger,
            score: best.as_ref().map_or(0.0, |h| h.score),
            threshold: t,
        });
        match best.filter(|h| h.score >= t) {
            Some(h) => {
                verified.insert(Factor::Finger);
                h.user
            }
            None => return Ok(Outcome::Unknown(Reason::UnknownFinger, scores)),
        }
    } else if let Some(code) = code {
        code_done = true;
        let who = code_hash(store, loc, &code.value)?.and_then(|h| loc.codes.get(&h).cloned());
        match who {
            Some(u) => {
                verified.insert(Factor::Code);
                u
            }
            None => return Ok(Outcome::Unknown(Reason::UnknownCredential, scores)),
        }
    } else {
        // Every factor presented was too old to combine with the latest one: cannot happen, the
        // latest is always in time.
        return Ok(Outcome::Unknown(Reason::UnknownCredential, scores));
    };
    // The remaining factors, 1:1 against the user.
    if let (Some(face), false) = (face, face_done) {
        let t = o.face_threshold;
        let hit = store.verify_face(location, &user, &face.value)?;
        let score = hit.map_or(-1.0, |h| h.score);
        scores.push(Score {
            factor: Factor::Face,
            score: score as f32,
            threshold: t as f32,
        });
        if score >= t {
            verified.insert(Factor::Face);
        } else {
            failed.insert(Factor::Face);
        }
    }
    if let (Some(finger), false) = (finger, finger_done) {
        let t = o.finger_threshold;
        let hit = store.verify_finger(location, &user, &finger.value.as_ref())?;
        let score = hit.map_or(0.0, |h| h.score);
        scores.push(Score {
            factor: Factor::Finger,
            score,
            threshold: t,
        });
        if score >= t {
            verified.insert(Factor::Finger);
        } else {
            failed.insert(Factor::Finger);
        }
    }
    let mut duress = false;
    if let Some(code) = code {
        let rec = loc.users.get(&user);
        let h = code_hash(store, loc, &code.value)?;
        let mine = h.is_some_and(|h| rec.is_some_and(|r| r.codes.contains(&h)));
        duress = h.is_some_and(|h| rec.is_some_and(|r| r.access.duress_codes.contains(&h)));
        if mine || duress {
            verified.insert(Factor::Code);
        } else if !code_done {
            failed.insert(Factor::Code);
        }
    }
    Ok(Outcome::Known(Identified {
        user,
        verified,
        failed,
        scores,
        duress,
    }))
}

/// Where `at` falls in the schedules of the user's rights for `door`: `None` when no right
/// names the door.
fn rights(
    loc: &LocationState,
    u: &UserRecord,
    door: &str,
    at: Timestamp,
) -> Result<Option<InSchedule>> {
    let mut found = None;
    for r in u
        .rights
        .iter()
        .filter(|r| r.doors.iter().any(|d| d == door))
    {
        let here = match &r.schedule {
            None => InSchedule::Inside,
            Some(id) => match loc.schedules.get(id) {
                Some(s) => schedule::check(s, at)?,
                None => InSchedule::Outside,
            },
        };
        found = Some(match (found, here) {
            (_, InSchedule::Inside) | (Some(InSchedule::Inside), _) => InSchedule::Inside,
            (_, InSchedule::Holiday) | (Some(InSchedule::Holiday), _) => InSchedule::Holiday,
            _ => InSchedule::Outside,
        });
    }
    Ok(found)
}

/// The modes offered to `u` at `door` at `at`: the personal mode, or the door's modes whose
/// schedule (if any) holds `at` (a holiday closes a mode's schedule too).
fn modes(loc: &LocationState, door: &Door, u: &UserRecord, at: Timestamp) -> Result<Vec<Mode>> {
    if let Some(m) = &u.access.mode {
        return Ok(vec![Mode::parse(m)?]);
    }
    let mut out = Vec::new();
    for (i, m) in door.modes.iter().enumerate() {
        let offered = match door.access.mode_schedules.get(i).and_then(|s| s.as_ref()) {
            None => true,
            Some(id) => match loc.schedules.get(id) {
                Some(s) => schedule::check(s, at)? == InSchedule::Inside,
                None => false,
            },
        };
        if offered {
            out.push(Mode::parse(m)?);
        }
    }
    Ok(out)
}

impl Store {
    /// May the person who presented `presented` pass `door` of `location` at `at` (default:
    /// now, from the store's clock)? See the `access` module docs for the checks and their
    /// order. Anti-passback and punch state, and the decision's event in the journal, are durable
    /// before this returns.
    ///
    /// Errors are for bad input (nothing presented, a malformed card, code, plate or id, a face
    /// of the wrong dimension) and for failures of the store (its key provider, the state file);
    /// a person who may not pass is a [`Decision`] with a [`Reason`], not an error.
    pub fn decide(
        &self,
        location: &str,
        door: &str,
        at: Option<SystemTime>,
        presented: &Presented,
    ) -> Result<Decision> {
        crate::ids::check_id("location", location)?;
        crate::ids::check_id("door", door)?;
        check(presented)?;
        self.check_writable()?;
        let at = at.unwrap_or_else(|| self.now());
        let ts = unix(at)?;
        let d = self.decide_at(location, door, at, ts, presented)?;
        // Durable in the journal before it is returned.
        self.journal().append_at(
            ts.as_microsecond() as i64,
            EventKind::Decision(super::journal_event(&d)),
        )?;
        Ok(d)
    }

    /// The checks of [`Store::decide`], once the input is checked.
    fn decide_at(
        &self,
        location: &str,
        door: &str,
        at: SystemTime,
        ts: Timestamp,
        presented: &Presented,
    ) -> Result<Decision> {
        let now = ts.as_second();
        let mut d = Decision {
            location: location.to_string(),
            door: door.to_string(),
            at: now,
            granted: false,
            reason: None,
            user: None,
            mode: None,
            factors: Factors::default(),
            scores: Vec::new(),
            duress: false,
            anti_passback: None,
            punch: None,
            duplicate_punch: false,
        };
        let deny = |mut d: Decision, r: Reason| {
            d.reason = Some(r);
            Ok(d)
        };
        let snap = self.snapshot();
        let Some(loc) = snap.catalog().location(location) else {
            return deny(d, Reason::UnknownDoor);
        };
        let Some(door_rec) = loc.doors.get(door) else {
            return deny(d, Reason::UnknownDoor);
        };
        let live = in_time(presented, at);
        let who = match identify(self, location, loc, presented, live)? {
            Outcome::Unknown(r, scores) => {
                d.scores = scores;
                return deny(d, r);
            }
            Outcome::Known(w) => w,
        };
        d.user = Some(who.user.clone());
        d.factors = who.verified;
        d.scores = who.scores;
        d.duress = who.duress;
        let Some(u) = loc.users.get(&who.user) else {
            return deny(d, Reason::UnknownCredential);
        };
        if !u.enabled {
            return deny(d, Reason::Disabled);
        }
        if u.valid_from.is_some_and(|f| now < f) {
            return deny(d, Reason::NotYetValid);
        }
        if u.valid_until.is_some_and(|t| now > t) {
            return deny(d, Reason::Expired);
        }
        match rights(loc, u, door, ts)? {
            None => return deny(d, Reason::NoRightForDoor),
            Some(InSchedule::Holiday) => return deny(d, Reason::Holiday),
            Some(InSchedule::Outside) => return deny(d, Reason::OutsideSchedule),
            Some(InSchedule::Inside) => {}
        }
        let offered = modes(loc, door_rec, u, ts)?;
        match offered
            .iter()
            .find_map(|m| m.satisfied_by(who.verified).map(|used| (m, used)))
        {
            Some((m, used)) => {
                d.mode = Some(m.text().to_string());
                d.factors = used;
            }
            None => {
                let used_by_modes = offered
                    .iter()
                    .any(|m| who.failed.iter().any(|f| m.factors().contains(f)));
                let r = if used_by_modes {
                    Reason::SecondFactorMismatch
                } else if offered.iter().any(|m| m.begun_by(who.verified)) {
                    Reason::SecondFactorMissing
                } else {
                    Reason::ModeNotAllowed
                };
                return deny(d, r);
            }
        }
        let apb = door_rec.access.anti_passback.as_ref();
        let punch_kind = presented
            .punch
            .clone()
            .or_else(|| door_rec.access.punch.as_ref().map(|p| p.kind.clone()));
        if apb.is_none() && punch_kind.is_none() {
            d.granted = true;
            return Ok(d);
        }
        // Anti-passback and punches: judged and recorded under the state's lock.
        let state = self.layered(DoorState::default);
        let mut locked = state.lock(self.fs(), self.dir())?;
        let mut next = locked.get().clone();
        if let Some(apb) = apb {
            let verdict = antipassback::judge(&next, location, apb, &who.user, now);
            d.anti_passback = Some(verdict);
            if verdict == Passback::Denied {
                return deny(d, Reason::AntiPassback);
            }
            antipassback::record(&mut next, location, apb, &who.user, now);
        }
        if let Some(kind) = punch_kind {
            let window = door_rec
                .access
                .punch
                .as_ref()
                .map_or(0, |p| p.duplicate_window);
            d.duplicate_punch = punch::is_duplicate(&next, location, &who.user, &kind, window, now);
            if !d.duplicate_punch {
                punch::record(&mut next, location, &who.user, &kind, now);
            }
            d.punch = Some(kind);
        }
        locked.replace(next, now, self.fs(), self.dir())?;
        d.granted = true;
        Ok(d)
    }
}
