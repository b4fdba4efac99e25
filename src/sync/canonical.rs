//! Canonical JSON and the hashes built on it, so the platform can compute the same digests.
//!
//! Canonical form of a JSON value: no whitespace; object keys sorted by their UTF-8 bytes; strings
//! escaped as JSON requires and nothing more (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, other
//! control characters as `\u00xx` with lowercase hex; everything else, non-ASCII included, as
//! UTF-8); integers in plain decimal; `true`, `false`, `null`. Deltas may hold no other numbers.
//! Inside a user object, each element of `codes` (and of `duress_codes`) is replaced by the lowercase hex of
//! HMAC-SHA256(location code key, code as UTF-8), so no hash ever depends on a plain access code.

use crate::catalog::Hash;
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};
use simd_json::{BorrowedValue as Value, StaticNode};

/// Keyed hash of an access code: HMAC-SHA256(key, code).
pub fn code_hash(key: &Hash, code: &str) -> Hash {
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    mac.update(code.as_bytes());
    mac.finalize().into_bytes().into()
}

/// What keys access codes for a delta being read: the key a full delta brings (a [`Hash`]), or
/// the location's key held by the store's key provider (which never hands the key out). `Sync`:
/// a streamed delta's changes are checked and put in canonical form on the store's threads.
pub trait CodeMac: Sync {
    /// HMAC-SHA256(key, code as UTF-8).
    fn code_hash(&self, code: &str) -> Hash;
}

impl CodeMac for Hash {
    fn code_hash(&self, code: &str) -> Hash {
        code_hash(self, code)
    }
}

/// SHA-256.
pub fn sha256(bytes: &[u8]) -> Hash {
    Sha256::digest(bytes).into()
}

/// Lowercase hex.
pub fn hex(h: &[u8]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

fn string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let b = s.as_bytes();
    // Most strings (ids, base64 of templates) need no escape: one branch-free pass the compiler
    // vectorises (`all` would stop at each byte to test for an early exit).
    if b.iter()
        .fold(true, |ok, &c| ok & (c >= 0x20) & (c != b'"') & (c != b'\\'))
    {
        out.extend_from_slice(b);
        out.push(b'"');
        return;
    }
    let mut run = 0; // start of the current run of bytes copied as they are
    for (i, &c) in b.iter().enumerate() {
        // Multi-byte UTF-8 sequences never contain bytes below 0x80, so a byte test is enough.
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                out.extend_from_slice(&b[run..i]);
                out.extend_from_slice(format!("\\u{c:04x}").as_bytes());
                run = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&b[run..i]);
        out.extend_from_slice(esc);
        run = i + 1;
    }
    out.extend_from_slice(&b[run..]);
    out.push(b'"');
}

/// How to write the values under some keys of an object differently.
#[derive(Clone, Copy)]
pub enum Rule<'k> {
    /// Plain canonical form.
    Plain,
    /// A user object: `codes` elements become keyed hashes (with no key, each becomes `"*"`:
    /// the masked form that compares deltas across a code-key rotation; a user with codes always
    /// has a key, so no record or digest is ever computed masked).
    User(Option<&'k dyn CodeMac>),
    /// A delta: every `changes[i].user` is a user object; `code_key` is kept as sent.
    Delta(Option<&'k dyn CodeMac>),
}

/// Writes `v` in canonical form. Fails (with the offending JSON kind) on non-integer numbers.
pub fn write(v: &Value<'_>, rule: Rule<'_>, out: &mut Vec<u8>) -> Result<(), &'static str> {
    match v {
        Value::Static(StaticNode::Null) => out.extend_from_slice(b"null"),
        Value::Static(StaticNode::Bool(b)) => {
            out.extend_from_slice(if *b { b"true" } else { b"false" })
        }
        Value::Static(StaticNode::I64(i)) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Static(StaticNode::U64(u)) => out.extend_from_slice(u.to_string().as_bytes()),
        Value::Static(_) => return Err("a non-integer number"),
        Value::String(s) => string(s, out),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let inner = match rule {
                    // changes[i] objects: their "user" member is a user object.
                    Rule::Delta(k) => Rule::Delta(k),
                    _ => Rule::Plain,
                };
                write(x, inner, out)?;
            }
            out.push(b']');
        }
        Value::Object(o) => {
            let mut keys: Vec<&str> = o.keys().map(|k| k.as_ref()).collect();
            keys.sort_unstable();
            out.push(b'{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(k, out);
                out.push(b':');
                let x = o.get(*k).expect("key from this object");
                match (rule, *k, x) {
                    (Rule::User(key), "codes" | "duress_codes", Value::Array(codes)) => {
                        out.push(b'[');
                        for (j, c) in codes.iter().enumerate() {
                            if j > 0 {
                                out.push(b',');
                            }
                            match (c, key) {
                                (Value::String(s), Some(key)) => {
                                    string(&hex(&key.code_hash(s)), out)
                                }
                                (Value::String(_), None) => string("*", out),
                                (other, _) => write(other, Rule::Plain, out)?,
                            }
                        }
                        out.push(b']');
                    }
                    (Rule::Delta(key), "user", _) => write(x, Rule::User(key), out)?,
                    (Rule::Delta(key), "changes", _) => write(x, Rule::Delta(key), out)?,
                    _ => write(x, Rule::Plain, out)?,
                }
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// SHA-256 of the canonical form.
pub fn hash(v: &Value<'_>, rule: Rule<'_>) -> Result<Hash, &'static str> {
    let mut out = Vec::with_capacity(256);
    write(v, rule, &mut out)?;
    Ok(sha256(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(json: &str, rule: Rule<'_>) -> String {
        let mut b = json.as_bytes().to_vec();
        let v = simd_json::to_borrowed_value(&mut b).unwrap();
        let mut out = Vec::new();
        write(&v, rule, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn canonical_form_is_sorted_and_minimal() {
        assert_eq!(
            canon(
                r#" { "b" : [1, -2, true, null], "a": "x\"y\n\u0001é" } "#,
                Rule::Plain
            ),
            r#"{"a":"x\"y\n\u0001é","b":[1,-2,true,null]}"#
        );
        let mut b = br#"{"x": 1.5}"#.to_vec();
        let v = simd_json::to_borrowed_value(&mut b).unwrap();
        assert!(write(&v, Rule::Plain, &mut Vec::new()).is_err());
    }

    #[test]
    fn codes_enter_only_as_keyed_hashes() {
        let key = [7u8; 32];
        let c = canon(
            r#"{"id":"u","codes":["482913"]}"#,
            Rule::User(Some(&key as &dyn CodeMac)),
        );
        assert!(!c.contains("482913"));
        assert!(c.contains(&hex(&code_hash(&key, "482913"))));
        // RFC 4231 test case 2 (HMAC-SHA256 of "what do ya want for nothing?" with key "Jefe").
        let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let out: [u8; 32] = mac.finalize().into_bytes().into();
        assert_eq!(
            hex(&out),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
