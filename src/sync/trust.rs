//! Who may sign a location's deltas: the trusted keys per location, provisioned locally, and the
//! rules a signed or unsigned delta must pass once its location is known.
//!
//! Provisioning the first key is a local, privileged act (these methods, `edgeid keys`, the C
//! API's `edgeid_signing_key_*`): whoever can write the store directory can. From then on the
//! platform rotates the keys itself with a delta signed by a key the location trusts, carrying
//! `signing_keys` (the complete new set). Every change is one commit of the log (one
//! `CatalogOp::SetTrust`), so it is atomic and durable like a delta, and a rotation is applied in
//! the same commit as the delta that carries it.

use super::signature::{check_public_key, key_id, KeyId, PublicKey, MAX_KEYS_PER_LOCATION};
use super::{delta::Delta, Refusal};
use crate::catalog::{CatalogOp, Trust};
use crate::error::{Error, Result};
use crate::ids::check_id;
use crate::store::Store;

/// The signing keys of one location, for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationKeys {
    /// Location id.
    pub location: String,
    /// Trusted public keys, in the order they were provisioned.
    pub keys: Vec<PublicKey>,
    /// Unsigned deltas for this location are refused.
    pub require_signatures: bool,
}

impl Store {
    /// The keys trusted for each location that has any (or requires signatures), sorted by
    /// location.
    pub fn signing_keys(&self) -> Vec<LocationKeys> {
        self.snapshot()
            .catalog()
            .trust
            .iter()
            .map(|(l, t)| LocationKeys {
                location: l.clone(),
                keys: t.keys.clone(),
                require_signatures: t.require_signatures,
            })
            .collect()
    }

    /// Trusts `key` for the deltas of `location` (a local, privileged act; durable when this
    /// returns). `Ok(false)` if it was trusted already. At most [`MAX_KEYS_PER_LOCATION`] keys.
    pub fn add_signing_key(&self, location: &str, key: &PublicKey) -> Result<bool> {
        check_public_key(key).map_err(Error::Invalid)?;
        self.change_trust(location, |t| {
            if t.keys.contains(key) {
                return Ok(false);
            }
            if t.keys.len() >= MAX_KEYS_PER_LOCATION {
                return Err(Error::Invalid(format!(
                    "location {location:?} trusts {MAX_KEYS_PER_LOCATION} keys already (the most): remove one first"
                )));
            }
            t.keys.push(*key);
            Ok(true)
        })
    }

    /// Stops trusting the key with this id for `location`. `Ok(false)` if it was not trusted.
    pub fn remove_signing_key(&self, location: &str, id: &KeyId) -> Result<bool> {
        self.change_trust(location, |t| {
            let before = t.keys.len();
            t.keys.retain(|k| key_id(k) != *id);
            Ok(t.keys.len() != before)
        })
    }

    /// Whether unsigned deltas for `location` are refused. Requiring signatures of a location
    /// that trusts no key refuses every delta for it until a key is added.
    pub fn set_require_signatures(&self, location: &str, require: bool) -> Result<bool> {
        self.change_trust(location, |t| {
            let changed = t.require_signatures != require;
            t.require_signatures = require;
            Ok(changed)
        })
    }

    /// One local change of a location's trust, committed if `f` changed it.
    fn change_trust(
        &self,
        location: &str,
        f: impl FnOnce(&mut Trust) -> Result<bool>,
    ) -> Result<bool> {
        self.check_writable()?;
        check_id("location", location)?;
        let mut changed = false;
        self.commit_plan(|p| {
            let mut t = p.catalog().trust(location);
            changed = f(&mut t)?;
            if changed {
                p.apply_catalog(CatalogOp::SetTrust {
                    location: location.to_string(),
                    trust: t,
                });
            }
            Ok(())
        })?;
        Ok(changed)
    }
}

/// Checks a parsed delta against its location's trust: `signer` is the key whose signature was
/// verified over the delta's bytes (`None`: unsigned). A key trusted only for another location
/// never authorises a delta; a delta that replaces the keys must be signed.
pub(super) fn check(d: &Delta, trust: &Trust, signer: Option<&PublicKey>) -> Result<(), Refusal> {
    let loc = &d.location;
    match signer {
        Some(k) if !trust.keys.contains(k) => Err(Refusal::Signature(format!(
            "key {} is not trusted for location {loc} (a key of one location never signs for another)",
            super::canonical::hex(&key_id(k))
        ))),
        Some(_) => Ok(()),
        None if trust.require_signatures => Err(Refusal::Signature(format!(
            "location {loc} requires signed deltas and this one is not signed"
        ))),
        None if d.signing_keys.is_some() => Err(Refusal::Signature(format!(
            "signing_keys replaces the keys of location {loc}: the delta must be signed by a key it trusts"
        ))),
        None => Ok(()),
    }
}
