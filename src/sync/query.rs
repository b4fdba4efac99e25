//! Reading the synchronised state: per-location status, digests, user records and credential
//! lookups.

use super::{canonical, delta, location_digest, LocationStatus, UserRef};
use crate::catalog::{LocationState, UserRecord};
use crate::error::{Error, Result};
use crate::store::Store;

impl Store {
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

    /// Access code → user (the code is hashed with each location's key by the store's key
    /// provider; it is never stored). A provider failure is the answer's error.
    pub fn lookup_code(&self, location: Option<&str>, code: &str) -> Result<Option<UserRef>> {
        delta::check_code(code).map_err(Error::Invalid)?;
        let keys = self.code_keys();
        let mut retried = false;
        'snapshots: loop {
            let snap = self.snapshot();
            // A location whose key the provider cannot use does not stop the search of the
            // others; its error is the answer only when no other location knows the code.
            let mut failed = None;
            for (l, s) in snap.catalog().locations.iter() {
                if location.is_some_and(|x| x != l.as_str()) {
                    continue;
                }
                let Some(id) = s.code_key_id else { continue };
                let h = match keys.mac(&id, code.as_bytes()) {
                    Ok(h) => h,
                    // A key rotated away since this snapshot was taken may be gone: look again.
                    Err(_) if !retried && self.snapshot().seq != snap.seq => {
                        retried = true;
                        continue 'snapshots;
                    }
                    Err(e) => {
                        failed.get_or_insert(e);
                        continue;
                    }
                };
                if let Some(user) = s.codes.get(&h) {
                    return Ok(Some(UserRef {
                        location: l.clone(),
                        user: user.clone(),
                    }));
                }
            }
            return failed.map_or(Ok(None), Err);
        }
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
