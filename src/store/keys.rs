//! Where the locations' code keys live: apart from the hashes they key.
//!
//! Access codes are stored as HMAC-SHA256(code key, code). A 4–12 digit code has at most 10^12
//! values, so whoever holds a hash *and* its key finds the code by trying them all (a 6-digit
//! code in well under a second). The key is therefore never written to the log, the catalog or a
//! segment: those name it by its [`KeyId`], and the key itself goes to a [`CodeKeys`] provider —
//! by default [`FileCodeKeys`], a file of its own in the store directory (`CODE-KEYS`, mode 0600);
//! a terminal with a secure element or TPM passes its own provider
//! ([`OpenOptions::code_keys`](super::OpenOptions::code_keys), or callbacks through the C API) and
//! the key never reaches the flash at all. See `docs/security.md` for what each choice protects.
//!
//! # Order of writes
//! A full synchronisation bringing a new key calls [`CodeKeys::store`], which returns only once
//! the key is durable, and only then appends the log record naming its id: after a crash the log
//! never names a key the provider lacks. A key stored for a commit that then failed, or was lost
//! in the crash, is an orphan; [`CodeKeys::retain`] drops it with the keys no location uses any
//! more (after a key rotation) once a checkpoint wrote the catalog that no longer names them, and
//! on every writable open.
//!
//! # `CODE-KEYS` (version 1)
//! ```text
//! magic "EDGEIDCK" | version u32 | count u32 | count × (key id [16] | key [32]) | crc32c u32
//! ```
//! Ids ascending, each once; the CRC-32C covers every byte before it. Replaced, never edited:
//! written to `CODE-KEYS.tmp`, fdatasynced, renamed over `CODE-KEYS`, directory fsynced (a crash
//! leaves the old or the new file; a leftover `.tmp` is scrubbed on open). No file means no key.

use crate::catalog::{Hash, KeyId};
use crate::error::{Error, Result};
use crate::fs::{write_file, Fs};
use hmac::{KeyInit, Mac};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Holds the locations' code keys and keys access codes with them.
///
/// Called from any thread, concurrently (lookups run beside commits). Errors are the provider's:
/// they fail the operation that needed the key (a delta is then not applied, a lookup answers the
/// error), never the store.
pub trait CodeKeys: Send + Sync {
    /// Keeps `key` under `id`, durably, before returning: the store logs the commit that names
    /// `id` only after this returned `Ok`. Storing a key already held is a no-op.
    fn store(&self, id: &KeyId, key: &Hash) -> Result<()>;
    /// HMAC-SHA256 of `message` with the key `id`.
    fn mac(&self, id: &KeyId, message: &[u8]) -> Result<Hash>;
    /// The store needs no key but these any more (the ones its locations use): the provider may
    /// discard the others. Called after checkpoints that changed the catalog and on open.
    fn retain(&self, keep: &[KeyId]) -> Result<()>;
}

/// HMAC-SHA256(key, message).
pub fn hmac(key: &Hash, message: &[u8]) -> Hash {
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).expect("any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// The error of a key the provider does not hold.
pub fn unknown_key(id: &KeyId) -> Error {
    Error::NotFound(format!(
        "code key {} is not held by the code key provider (send a full synchronisation with code_key)",
        id.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

const MAGIC: [u8; 8] = *b"EDGEIDCK";
const VERSION: u32 = 1;
/// Name of the key file in the store directory.
pub const FILE: &str = "CODE-KEYS";
/// Name of the key file being written.
pub const TMP: &str = "CODE-KEYS.tmp";

/// The default provider: the keys in `CODE-KEYS` in the store directory (see the module docs),
/// cached in memory.
pub struct FileCodeKeys {
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    keys: Mutex<BTreeMap<KeyId, Hash>>,
}

impl std::fmt::Debug for FileCodeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileCodeKeys({})", self.dir.display()) // never the keys
    }
}

impl FileCodeKeys {
    /// Reads the key file of the store directory `dir` (none: no keys yet). Writes nothing.
    pub fn open(fs: Arc<dyn Fs>, dir: &Path) -> Result<FileCodeKeys> {
        let p = dir.join(FILE);
        let keys = match fs.read(&p) {
            Ok(b) => decode(&b, &p)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(Error::io("read", &p, e)),
        };
        Ok(FileCodeKeys {
            fs,
            dir: dir.to_path_buf(),
            keys: Mutex::new(keys),
        })
    }

    /// Replaces the file with `keys` (see the module docs).
    fn write(&self, keys: &BTreeMap<KeyId, Hash>) -> Result<()> {
        let (fs, dir) = (&*self.fs, &self.dir);
        let tmp = dir.join(TMP);
        if fs.file_len(&tmp).is_ok() {
            fs.scrub_remove(&tmp)
                .map_err(|e| Error::io("remove", &tmp, e))?;
        }
        write_file(fs, &tmp, &encode(keys))?;
        let dst = dir.join(FILE);
        fs.rename(&tmp, &dst)
            .map_err(|e| Error::io("rename", &dst, e))?;
        fs.sync_dir(dir).map_err(|e| Error::io("fsync", dir, e))
    }
}

impl CodeKeys for FileCodeKeys {
    fn store(&self, id: &KeyId, key: &Hash) -> Result<()> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if keys.get(id) == Some(key) {
            return Ok(());
        }
        let mut next = keys.clone();
        next.insert(*id, *key);
        self.write(&next)?;
        *keys = next;
        Ok(())
    }
    fn mac(&self, id: &KeyId, message: &[u8]) -> Result<Hash> {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let key = keys.get(id).ok_or_else(|| unknown_key(id))?;
        Ok(hmac(key, message))
    }
    fn retain(&self, keep: &[KeyId]) -> Result<()> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let next: BTreeMap<KeyId, Hash> = keys
            .iter()
            .filter(|(id, _)| keep.contains(id))
            .map(|(a, b)| (*a, *b))
            .collect();
        if next.len() == keys.len() {
            return Ok(());
        }
        self.write(&next)?;
        *keys = next;
        Ok(())
    }
}

fn encode(keys: &BTreeMap<KeyId, Hash>) -> Vec<u8> {
    let mut out = Vec::with_capacity(20 + 48 * keys.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(keys.len() as u32).to_le_bytes());
    for (id, key) in keys {
        out.extend_from_slice(id);
        out.extend_from_slice(key);
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn decode(b: &[u8], path: &Path) -> Result<BTreeMap<KeyId, Hash>> {
    if b.len() < 20 || b[..8] != MAGIC {
        return Err(Error::corrupt(path, "not a code key file (bad magic)"));
    }
    let (body, crc) = b.split_at(b.len() - 4);
    if crc32c::crc32c(body) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
        return Err(Error::corrupt(path, "code key file checksum mismatch"));
    }
    let version = u32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(Error::Version {
            path: path.into(),
            found: version,
            min: VERSION,
            max: VERSION,
        });
    }
    let n = u32::from_le_bytes(b[12..16].try_into().expect("4 bytes")) as usize;
    let entries = &body[16..];
    if entries.len() != n.saturating_mul(48) {
        return Err(Error::corrupt(
            path,
            format!(
                "code key file holds {} bytes of keys for {n} keys",
                entries.len()
            ),
        ));
    }
    let mut keys = BTreeMap::new();
    for e in entries.chunks_exact(48) {
        let id: KeyId = e[..16].try_into().expect("16 bytes");
        if keys
            .insert(id, e[16..].try_into().expect("32 bytes"))
            .is_some()
        {
            return Err(Error::corrupt(path, "code key file names a key twice"));
        }
    }
    Ok(keys)
}

/// A provider plus keys held in memory only: what a read-only open of a store written before the
/// keys were kept apart uses (it may not move them, and must still answer code lookups).
pub(super) struct WithLegacy {
    pub(super) inner: Arc<dyn CodeKeys>,
    pub(super) legacy: BTreeMap<KeyId, Hash>,
}

impl CodeKeys for WithLegacy {
    fn store(&self, id: &KeyId, key: &Hash) -> Result<()> {
        self.inner.store(id, key)
    }
    fn mac(&self, id: &KeyId, message: &[u8]) -> Result<Hash> {
        match self.legacy.get(id) {
            Some(k) => Ok(hmac(k, message)),
            None => self.inner.mac(id, message),
        }
    }
    fn retain(&self, keep: &[KeyId]) -> Result<()> {
        self.inner.retain(keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::code_key_id;
    use crate::fs::SimFs;

    #[test]
    fn keys_survive_reopen_and_damage_is_refused() {
        let fs = SimFs::new();
        let dir = Path::new("/s");
        let k = FileCodeKeys::open(Arc::new(fs.clone()), dir).unwrap();
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let (ia, ib) = (code_key_id(&a), code_key_id(&b));
        assert!(matches!(k.mac(&ia, b"1234"), Err(Error::NotFound(_))));
        k.store(&ia, &a).unwrap();
        k.store(&ib, &b).unwrap();
        let syncs = fs.syncs();
        k.store(&ia, &a).unwrap(); // held: nothing written
        assert_eq!(fs.syncs(), syncs);
        let k = FileCodeKeys::open(Arc::new(fs.clone()), dir).unwrap();
        assert_eq!(k.mac(&ia, b"1234").unwrap(), hmac(&a, b"1234"));
        k.retain(&[ib]).unwrap();
        let k = FileCodeKeys::open(Arc::new(fs.clone()), dir).unwrap();
        assert!(k.mac(&ia, b"1234").is_err());
        assert_eq!(k.mac(&ib, b"1234").unwrap(), hmac(&b, b"1234"));
        let bytes = fs.read(&dir.join(FILE)).unwrap();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 1;
            assert!(decode(&bad, Path::new("K")).is_err(), "flip at {i}");
        }
    }
}
