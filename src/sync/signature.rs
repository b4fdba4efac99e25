//! Signed deltas: a detached Ed25519 signature over the exact bytes of a delta.
//!
//! The platform signs the delta file as it sends it (no JSON canonicalisation: the bytes the
//! terminal receives are the bytes that were signed) and sends the signature beside it, in a
//! one-line text envelope (`docs/sync-protocol.md`, "Signed deltas"):
//!
//! ```text
//! edgeid.sig/1 ed25519 <key id: 16 lowercase hex digits> <signature: base64, 88 characters>
//! ```
//! optionally followed by one line feed. The key id is the first 8 bytes of the SHA-256 of the
//! raw 32-byte public key; it picks the key among those the terminal trusts, so the signature is
//! checked (with `verify_strict`: no malleable or small-order signatures, no weak keys) **before
//! the delta is parsed**. Which locations a key may sign for is checked once the delta's location
//! is known, under the writer lock (`sync::trust`).
//!
//! Public keys are written as the standard, padded base64 of their 32 raw bytes (what Python's
//! `cryptography` gives with `public_bytes(Encoding.Raw, PublicFormat.Raw)`).

use super::syntax as syn;
use super::Refusal;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

/// The envelope's format tag.
pub const ENVELOPE_FORMAT: &str = "edgeid.sig/1";
/// The one signature algorithm.
pub const ALGORITHM: &str = "ed25519";
/// Most signing keys a location trusts at once (room for a rotation with an overlap).
pub const MAX_KEYS_PER_LOCATION: usize = 16;
/// Longest envelope accepted (its exact length is 126 bytes, 127 with a line feed).
pub const MAX_ENVELOPE_BYTES: usize = 256;

/// A raw Ed25519 public key.
pub type PublicKey = [u8; 32];
/// A key id: the first 8 bytes of the SHA-256 of the raw public key.
pub type KeyId = [u8; 8];

/// The key id of a public key.
pub fn key_id(key: &PublicKey) -> KeyId {
    let h = super::canonical::sha256(key);
    h[..8].try_into().expect("8 bytes")
}

/// The key id as 16 lowercase hex digits (how envelopes and the CLI write it).
pub fn key_id_hex(key: &PublicKey) -> String {
    super::canonical::hex(&key_id(key))
}

/// A public key as padded base64 of its 32 bytes.
pub fn public_key_base64(key: &PublicKey) -> String {
    base64::engine::general_purpose::STANDARD.encode(key)
}

/// Reads a public key from padded base64 of its 32 raw bytes. Refuses what is not a point of the
/// curve and the weak (small-order) keys, which would accept forged signatures.
pub fn parse_public_key(text: &str) -> Result<PublicKey, String> {
    let b = syn::base64(text)?;
    let key: PublicKey = b
        .as_slice()
        .try_into()
        .map_err(|_| format!("an Ed25519 public key is 32 bytes, got {}", b.len()))?;
    check_public_key(&key)?;
    Ok(key)
}

/// Refuses bytes that are not a usable Ed25519 public key (not a curve point, or of small order).
pub fn check_public_key(key: &PublicKey) -> Result<(), String> {
    let k = VerifyingKey::from_bytes(key)
        .map_err(|_| "not an Ed25519 public key (not a point of the curve)".to_string())?;
    if k.is_weak() {
        return Err(
            "a weak Ed25519 key (of small order): it would accept forged signatures".into(),
        );
    }
    Ok(())
}

/// The public key of a 32-byte Ed25519 secret key (seed).
pub fn public_key_of(seed: &[u8; 32]) -> PublicKey {
    SigningKey::from_bytes(seed).verifying_key().to_bytes()
}

/// Signs `delta` with the secret key `seed` and returns the envelope (with its line feed).
/// For tests, tools and senders written in Rust; a terminal never signs.
pub fn sign(seed: &[u8; 32], delta: &[u8]) -> String {
    let key = SigningKey::from_bytes(seed);
    let sig = key.sign(delta);
    envelope(&key_id(&key.verifying_key().to_bytes()), &sig.to_bytes())
}

/// Writes an envelope (with its line feed).
pub fn envelope(id: &KeyId, signature: &[u8; 64]) -> String {
    format!(
        "{ENVELOPE_FORMAT} {ALGORITHM} {} {}\n",
        super::canonical::hex(id),
        base64::engine::general_purpose::STANDARD.encode(signature)
    )
}

/// A parsed envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Which key signed.
    pub key_id: KeyId,
    /// The 64-byte signature.
    pub signature: [u8; 64],
}

fn refuse(m: impl Into<String>) -> Refusal {
    Refusal::Signature(m.into())
}

/// Reads an envelope, strictly: the four fields separated by single spaces, optionally one line
/// feed at the end, nothing else.
pub fn parse_envelope(bytes: &[u8]) -> Result<Envelope, Refusal> {
    if bytes.len() > MAX_ENVELOPE_BYTES {
        return Err(refuse(format!(
            "the signature envelope is {} bytes, at most {MAX_ENVELOPE_BYTES} expected",
            bytes.len()
        )));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| refuse("the signature envelope is not text (UTF-8)"))?;
    let line = text.strip_suffix('\n').unwrap_or(text);
    let fields: Vec<&str> = line.split(' ').collect();
    let [format, algorithm, id, sig] = fields[..] else {
        return Err(refuse(format!(
            "the signature envelope is \"{ENVELOPE_FORMAT} {ALGORITHM} KEY-ID SIGNATURE\" \
             (four fields separated by single spaces, one line), got {} fields",
            fields.len()
        )));
    };
    if format != ENVELOPE_FORMAT {
        return Err(refuse(format!(
            "envelope format {format:?} is not supported (this build reads {ENVELOPE_FORMAT:?})"
        )));
    }
    if algorithm != ALGORITHM {
        return Err(refuse(format!(
            "algorithm {algorithm:?} is not supported (only {ALGORITHM:?})"
        )));
    }
    let key_id = parse_key_id(id).map_err(refuse)?;
    let raw = syn::base64(sig).map_err(|m| refuse(format!("the signature is {m}")))?;
    let signature: [u8; 64] = raw.as_slice().try_into().map_err(|_| {
        refuse(format!(
            "an Ed25519 signature is 64 bytes, got {}",
            raw.len()
        ))
    })?;
    Ok(Envelope { key_id, signature })
}

/// Reads a key id: 16 lowercase hex digits.
pub fn parse_key_id(text: &str) -> Result<KeyId, String> {
    let ok = text.len() == 16
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !ok {
        return Err(format!(
            "a key id is 16 lowercase hex digits (the first 8 bytes of the SHA-256 of the public key), got {text:?}"
        ));
    }
    let mut id = [0; 8];
    for (i, b) in id.iter_mut().enumerate() {
        *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex digits");
    }
    Ok(id)
}

/// Checks `envelope` against `delta` with the trusted key its key id names among `trusted` (the
/// keys of every location of the store: the delta is not parsed yet, so its location is not
/// known). Returns the key that signed; which locations it may sign for is checked later.
pub fn verify<'k>(
    delta: &[u8],
    envelope: &Envelope,
    trusted: impl IntoIterator<Item = &'k PublicKey>,
) -> Result<PublicKey, Refusal> {
    let mut named = false;
    for key in trusted {
        if key_id(key) != envelope.key_id {
            continue;
        }
        named = true;
        let Ok(k) = VerifyingKey::from_bytes(key) else {
            continue;
        };
        let sig = Signature::from_bytes(&envelope.signature);
        if k.verify_strict(delta, &sig).is_ok() {
            return Ok(*key);
        }
    }
    let id = super::canonical::hex(&envelope.key_id);
    Err(refuse(if named {
        format!("the signature made with key {id} does not match the delta's bytes (altered in transit, or signed over other bytes)")
    } else {
        format!("key {id} is not trusted by this terminal (its keys: edgeid keys list)")
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip_and_are_strict() {
        let seed = [7; 32];
        let e = sign(&seed, b"delta");
        assert_eq!(e.len(), 127);
        let env = parse_envelope(e.as_bytes()).unwrap();
        assert_eq!(env.key_id, key_id(&public_key_of(&seed)));
        assert!(parse_envelope(e.trim_end().as_bytes()).is_ok());
        let key = public_key_of(&seed);
        assert_eq!(verify(b"delta", &env, [&key]), Ok(key));
        assert!(verify(b"delt4", &env, [&key]).is_err());
        for bad in [
            e.replace(' ', "  "),
            format!("{e}\n"),
            e.replace("ed25519", "Ed25519"),
            e.replace("edgeid.sig/1", "edgeid.sig/2"),
            e.to_uppercase(),
            format!(" {e}"),
            e.replace('\n', "\r\n"),
        ] {
            let r = parse_envelope(bad.as_bytes());
            assert!(matches!(r, Err(Refusal::Signature(_))), "{bad:?}: {r:?}");
        }
    }

    #[test]
    fn weak_and_invalid_keys_are_refused() {
        // The identity point (small order) and a non-point.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(check_public_key(&identity).is_err());
        assert!(parse_public_key("AAAA").is_err());
        let good = public_key_of(&[1; 32]);
        assert_eq!(parse_public_key(&public_key_base64(&good)), Ok(good));
    }
}
