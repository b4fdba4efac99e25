//! Platform deltas (`edgeid.delta/1`, see `docs/sync-protocol.md`) built in memory for `demo` and
//! `bench sync`: the same JSON a platform would send, so both go through the whole apply path.

use base64::Engine;
use edgeid::sync::delta::{Kind, FORMAT};
use serde_json::{json, Map, Value};

/// Standard base64, as the protocol uses for embeddings and the code key.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A face template as the platform sends it: base64 of the embedding's little-endian f32.
pub fn face(id: &str, model: &str, embedding: &[f32]) -> Value {
    let bytes: Vec<u8> = embedding.iter().flat_map(|f| f.to_le_bytes()).collect();
    json!({"id": id, "model": model, "embedding": b64(&bytes)})
}

/// `{"op": "upsert_user", "user": …}`: the user's whole record.
pub fn upsert_user(user: Value) -> Value {
    let mut m = Map::new();
    m.insert("op".into(), "upsert_user".into());
    m.insert("user".into(), user);
    Value::Object(m)
}

/// `{"op": "delete_user", "id": …}`.
pub fn delete_user(id: &str) -> Value {
    json!({"op": "delete_user", "id": id})
}

/// A 32-byte code key derived from a seed (a platform would draw it from a CSPRNG).
pub fn code_key(seed: u64) -> [u8; 32] {
    let mut r = crate::synth::Rng::new(seed, crate::synth::CHOICE + 0xc0de);
    let mut k = [0u8; 32];
    for chunk in k.chunks_exact_mut(8) {
        chunk.copy_from_slice(&r.next_u64().to_le_bytes());
    }
    k
}

/// The delta document as bytes. `code_key` belongs in full synchronisations only. The changes are
/// moved in, not copied: a full synchronisation of 100,000 faces is hundreds of MB.
pub fn delta(
    location: &str,
    sequence: u64,
    kind: Kind,
    code_key: Option<&[u8; 32]>,
    changes: Vec<Value>,
) -> Vec<u8> {
    let mut m = Map::new();
    m.insert("format".into(), FORMAT.into());
    m.insert("location".into(), location.into());
    m.insert("sequence".into(), sequence.into());
    let kind = match kind {
        Kind::Full => "full",
        Kind::Changes => "changes",
    };
    m.insert("kind".into(), kind.into());
    if let Some(k) = code_key {
        m.insert("code_key".into(), b64(k).into());
    }
    m.insert("changes".into(), Value::Array(changes));
    serde_json::to_vec(&Value::Object(m)).expect("a JSON value serialises")
}
