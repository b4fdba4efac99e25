//! `keys add|remove|list|require`: the platform's public keys each location trusts to sign its
//! deltas (docs/sync-protocol.md, "Signed deltas"). Provisioning is a local, privileged act:
//! whoever may write the store directory may run these.

use crate::args::StoreArg;
use crate::out::{open_read_only, open_store, CmdResult, Fail, Report, Text};
use clap::Args;
use edgeid::sync::signature::{
    key_id, key_id_hex, parse_key_id, parse_public_key, public_key_base64, PublicKey,
};
use edgeid::OpenOptions;
use serde::Serialize;

#[derive(Args)]
pub struct AddArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Location whose deltas the keys may sign.
    #[arg(long)]
    location: String,
    /// Also refuse unsigned deltas for this location from now on.
    #[arg(long)]
    require: bool,
    /// Ed25519 public keys: base64 (padded) of the 32 raw bytes.
    #[arg(required = true, value_name = "PUBLIC_KEY")]
    keys: Vec<String>,
}

#[derive(Args)]
pub struct RemoveArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Location that stops trusting the keys.
    #[arg(long)]
    location: String,
    /// Key ids (16 hex digits, as `keys list` shows) or public keys (base64).
    #[arg(required = true, value_name = "KEY")]
    keys: Vec<String>,
}

#[derive(Args)]
pub struct ListArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Only this location.
    #[arg(long)]
    location: Option<String>,
}

#[derive(Args)]
pub struct RequireArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Location.
    #[arg(long)]
    location: String,
    /// Accept unsigned deltas again (signed ones are still checked).
    #[arg(long)]
    off: bool,
}

/// One key of a location.
#[derive(Serialize)]
pub struct KeyLine {
    key_id: String,
    public_key: String,
}

/// One location's keys.
#[derive(Serialize)]
pub struct LocationKeys {
    location: String,
    require_signatures: bool,
    keys: Vec<KeyLine>,
}

/// What a keys command leaves: the keys of the locations concerned, and what it changed.
#[derive(Serialize)]
pub struct Keys {
    changed: Vec<String>,
    locations: Vec<LocationKeys>,
}

impl Report for Keys {
    fn text(&self, t: &mut Text) {
        for c in &self.changed {
            t.line(c);
        }
        if self.locations.is_empty() {
            t.line("no location trusts a signing key");
        }
        for l in &self.locations {
            let req = if l.require_signatures {
                "unsigned deltas refused"
            } else {
                "unsigned deltas accepted"
            };
            t.line(format_args!(
                "{}: {} key{}, {req}",
                l.location,
                l.keys.len(),
                if l.keys.len() == 1 { "" } else { "s" }
            ));
            for k in &l.keys {
                t.line(format_args!("  {}  {}", k.key_id, k.public_key));
            }
        }
    }
}

fn keys_of(store: &edgeid::Store, location: Option<&str>) -> Vec<LocationKeys> {
    store
        .signing_keys()
        .into_iter()
        .filter(|l| location.is_none_or(|x| x == l.location))
        .map(|l| LocationKeys {
            location: l.location,
            require_signatures: l.require_signatures,
            keys: l
                .keys
                .iter()
                .map(|k| KeyLine {
                    key_id: key_id_hex(k),
                    public_key: public_key_base64(k),
                })
                .collect(),
        })
        .collect()
}

fn parse_keys(keys: &[String]) -> Result<Vec<PublicKey>, Fail> {
    keys.iter()
        .map(|k| {
            parse_public_key(k).map_err(|e| Fail::new(format!("{k:?}: {e}; nothing was changed")))
        })
        .collect()
}

fn warn_if_locked(l: &[LocationKeys]) {
    for l in l
        .iter()
        .filter(|l| l.require_signatures && l.keys.is_empty())
    {
        eprintln!(
            "edgeid: warning: location {} requires signed deltas but trusts no key: every delta for it is refused until a key is added",
            l.location
        );
    }
}

pub fn add(a: &AddArgs) -> CmdResult<Keys> {
    let keys = parse_keys(&a.keys)?;
    let store = open_store(&a.store.store, OpenOptions::new().threads(1))?;
    let mut changed = Vec::new();
    for k in &keys {
        let id = key_id_hex(k);
        changed.push(if store.add_signing_key(&a.location, k)? {
            format!("added key {id} for {}", a.location)
        } else {
            format!("key {id} was already trusted for {}", a.location)
        });
    }
    if a.require && store.set_require_signatures(&a.location, true)? {
        changed.push(format!("{} now refuses unsigned deltas", a.location));
    }
    let locations = keys_of(&store, Some(&a.location));
    Ok(Keys { changed, locations })
}

pub fn remove(a: &RemoveArgs) -> CmdResult<Keys> {
    let ids = a
        .keys
        .iter()
        .map(|k| {
            parse_key_id(k)
                .or_else(|_| parse_public_key(k).map(|p| key_id(&p)))
                .map_err(|_| {
                    Fail::new(format!(
                        "{k:?} is neither a key id (16 hex digits) nor a public key (base64 of 32 bytes); nothing was changed"
                    ))
                })
        })
        .collect::<Result<Vec<_>, Fail>>()?;
    let store = open_store(&a.store.store, OpenOptions::new().threads(1))?;
    let mut changed = Vec::new();
    for (id, text) in ids.iter().zip(&a.keys) {
        changed.push(if store.remove_signing_key(&a.location, id)? {
            format!("removed key {text} from {}", a.location)
        } else {
            format!("key {text} was not trusted for {}", a.location)
        });
    }
    let locations = keys_of(&store, Some(&a.location));
    warn_if_locked(&locations);
    Ok(Keys { changed, locations })
}

pub fn list(a: &ListArgs) -> CmdResult<Keys> {
    let store = open_read_only(&a.store.store, OpenOptions::new().threads(1))?;
    Ok(Keys {
        changed: Vec::new(),
        locations: keys_of(&store, a.location.as_deref()),
    })
}

pub fn require(a: &RequireArgs) -> CmdResult<Keys> {
    let store = open_store(&a.store.store, OpenOptions::new().threads(1))?;
    let on = !a.off;
    let what = if on { "refuses" } else { "accepts" };
    let changed = vec![if store.set_require_signatures(&a.location, on)? {
        format!("{} now {what} unsigned deltas", a.location)
    } else {
        format!("{} already {what} unsigned deltas", a.location)
    }];
    let locations = keys_of(&store, Some(&a.location));
    warn_if_locked(&locations);
    Ok(Keys { changed, locations })
}
