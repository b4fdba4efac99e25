//! The rules a delta is checked against once all its changes are applied — on the state it
//! produces, not change by change, so the order of a delta's changes never matters: two users
//! swapping a card in one delta is fine in either order, a schedule may be deleted in the same
//! delta that stops using it.
//!
//! - A card, access code or plate belongs to at most one user of the location.
//! - A right names a schedule the location has (a door need not exist: another terminal may
//!   manage it).

use super::delta::Op;
use super::Refusal;
use crate::catalog::{LocationState, UserRecord};
use std::collections::{HashMap, HashSet};
use std::hash::Hash;

fn at(i: usize, message: String) -> Refusal {
    Refusal::Invalid {
        path: format!("changes[{i}]"),
        message,
    }
}

/// Checks the state `after` a delta's `ops` were applied to `before` (the location before the
/// delta; empty for a full synchronisation, which starts from nothing).
pub fn check(ops: &[Op], before: &LocationState, after: &LocationState) -> Result<(), Refusal> {
    // The record each user has at the end (the last upsert of it, unless deleted later), and
    // every user the delta touched.
    let mut last: HashMap<&str, usize> = HashMap::new();
    let mut touched: HashSet<&str> = HashSet::new();
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::UpsertUser(u, _, _) => {
                last.insert(&u.id, i);
                touched.insert(&u.id);
            }
            Op::DeleteUser(id) => {
                last.remove(id.as_str());
                touched.insert(id);
            }
            _ => {}
        }
    }
    let mut finals: Vec<(usize, &UserRecord)> = last
        .values()
        .map(|&i| match &ops[i] {
            Op::UpsertUser(u, _, _) => (i, u),
            _ => unreachable!("`last` names upserts"),
        })
        .collect();
    finals.sort_by_key(|&(i, _)| i);

    let mut cards = Claims::default();
    let mut codes = Claims::default();
    let mut plates = Claims::default();
    for &(i, u) in &finals {
        for c in &u.cards {
            if let Some(o) = cards.claim(c, &u.id, &before.cards, &touched) {
                return Err(at(i, format!("card {c} already belongs to user {o:?}")));
            }
        }
        let mut own = std::collections::HashSet::new();
        for c in u.codes.iter().chain(&u.access.duress_codes) {
            if !own.insert(c) {
                return Err(at(
                    i,
                    "a duress code is also one of the user's codes".into(),
                ));
            }
            if codes.claim(c, &u.id, &before.codes, &touched).is_some() {
                return Err(at(
                    i,
                    "an access code already belongs to another user".into(),
                ));
            }
        }
        for p in &u.plates {
            if let Some(o) = plates.claim(p, &u.id, &before.plates, &touched) {
                return Err(at(i, format!("plate {p} already belongs to user {o:?}")));
            }
        }
    }

    for &(i, u) in &finals {
        for (j, r) in u.rights.iter().enumerate() {
            if let Some(sc) = &r.schedule {
                if !after.schedules.contains_key(sc) {
                    return Err(Refusal::Invalid {
                        path: format!("changes[{i}].user.rights[{j}].schedule"),
                        message: format!("unknown schedule {sc:?}"),
                    });
                }
            }
        }
    }
    // A door's mode schedules (delta format 2) exist at the location too.
    for (i, op) in ops.iter().enumerate() {
        let Op::UpsertDoor(d) = op else { continue };
        for (j, sc) in d.access.mode_schedules.iter().enumerate() {
            if let Some(sc) = sc {
                if !after.schedules.contains_key(sc) {
                    return Err(Refusal::Invalid {
                        path: format!("changes[{i}].door.modes[{j}].schedule"),
                        message: format!("unknown schedule {sc:?}"),
                    });
                }
            }
        }
    }
    // A deleted schedule may still be named by a user (or a door) the delta did not touch.
    for (i, op) in ops.iter().enumerate() {
        let Op::DeleteSchedule(id) = op else { continue };
        if after.schedules.contains_key(id) {
            continue; // upserted again later in the delta
        }
        if let Some(d) = after.doors.values().find(|d| {
            d.access
                .mode_schedules
                .iter()
                .any(|s| s.as_deref() == Some(id.as_str()))
        }) {
            return Err(at(
                i,
                format!(
                    "schedule {id:?} is still used by a mode of door {:?} (change the door in the same delta)",
                    d.id
                ),
            ));
        }
        if let Some(u) = after.users.values().find(|u| {
            u.rights
                .iter()
                .any(|r| r.schedule.as_deref() == Some(id.as_str()))
        }) {
            return Err(at(
                i,
                format!(
                    "schedule {id:?} is still used by user {:?} (change or remove the user's rights in the same delta)",
                    u.id
                ),
            ));
        }
    }
    Ok(())
}

/// Who holds each credential at the end of the delta, among the users it touched.
struct Claims<'a, K> {
    by: HashMap<&'a K, &'a str>,
}

impl<K> Default for Claims<'_, K> {
    fn default() -> Self {
        Claims { by: HashMap::new() }
    }
}

impl<'a, K: Eq + Hash + Clone> Claims<'a, K> {
    /// Records that `user` holds `k` at the end; returns another holder if there is one: a user
    /// the delta left alone who held it before, or another user of the delta.
    fn claim(
        &mut self,
        k: &'a K,
        user: &'a str,
        before: &imbl::HashMap<K, String>,
        touched: &HashSet<&str>,
    ) -> Option<String> {
        if let Some(o) = before.get(k) {
            if o != user && !touched.contains(o.as_str()) {
                return Some(o.clone());
            }
        }
        match self.by.insert(k, user) {
            Some(o) if o != user => Some(o.to_string()),
            _ => None,
        }
    }
}
