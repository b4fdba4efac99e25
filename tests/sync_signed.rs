//! Signed deltas: a detached Ed25519 signature over the exact bytes, checked before parsing;
//! keys trusted per location, rotated by a delta the old key signed; every refusal changes nothing.

mod common;
use common::crash::{PowerLoss, Scenario};
use common::*;
use edgeid::fs::SimFs;
use edgeid::sync::signature::{self, key_id, public_key_of, PublicKey};
use edgeid::sync::{Outcome, Refusal};
use edgeid::{Error, Store};
use serde_json::{json, Value};
use std::path::Path;

const DIM: usize = 16;
const SEED_A: [u8; 32] = [0xa1; 32];
const SEED_B: [u8; 32] = [0xb2; 32];
const SEED_C: [u8; 32] = [0xc3; 32];

fn key(seed: &[u8; 32]) -> PublicKey {
    public_key_of(seed)
}

fn delta_with(loc: &str, seq: u64, extra: Value) -> Vec<u8> {
    let mut d = json!({"format": "edgeid.delta/1", "location": loc, "sequence": seq, "kind": "changes",
        "changes": [{"op": "upsert_user", "user": {"id": format!("u{seq}"), "name": "N"}}]});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            d[k] = v;
        }
    }
    serde_json::to_vec_pretty(&d).unwrap()
}

fn delta(loc: &str, seq: u64) -> Vec<u8> {
    delta_with(loc, seq, json!({}))
}

fn signed(s: &Store, d: &[u8], seed: &[u8; 32]) -> edgeid::Result<Outcome> {
    let sig = signature::sign(seed, d);
    s.apply_signed_delta(d, Some(sig.as_bytes()), &mut |_| {})
}

fn unsigned(s: &Store, d: &[u8]) -> edgeid::Result<Outcome> {
    s.apply_delta(d, &mut |_| {})
}

fn seq(s: &Store, loc: &str) -> u64 {
    s.sync_status()
        .iter()
        .find(|l| l.location == loc)
        .map_or(0, |l| l.sequence)
}

/// Refused for its signature, with this in the message; the location did not move.
#[track_caller]
fn refused(r: edgeid::Result<Outcome>, s: &Store, loc: &str, before: u64, says: &str) {
    match r {
        Err(Error::Refused(ref f @ Refusal::Signature(ref m))) => {
            assert_eq!(f.kind(), "signature");
            assert!(m.contains(says), "{m:?} should say {says:?}");
        }
        other => panic!("expected a signature refusal ({says}), got {other:?}"),
    }
    assert_eq!(seq(s, loc), before, "nothing applied");
}

fn b64(k: &PublicKey) -> String {
    signature::public_key_base64(k)
}

#[test]
fn a_valid_signature_applies_and_any_flipped_byte_is_refused() {
    let (_fs, s) = sim_store(DIM);
    assert!(s.add_signing_key("hq", &key(&SEED_A)).unwrap());
    assert!(
        !s.add_signing_key("hq", &key(&SEED_A)).unwrap(),
        "idempotent"
    );
    signed(&s, &delta("hq", 1), &SEED_A).unwrap();
    assert_eq!(seq(&s, "hq"), 1);

    let d = delta("hq", 2);
    let env = signature::sign(&SEED_A, &d);
    // Every byte of the delta: whitespace too (no canonicalisation).
    for i in (0..d.len()).step_by(7) {
        let mut bad = d.clone();
        bad[i] ^= 0x01;
        let r = s.apply_signed_delta(&bad, Some(env.as_bytes()), &mut |_| {});
        refused(r, &s, "hq", 1, "does not match");
    }
    // Every byte of the signature itself.
    let e = signature::parse_envelope(env.as_bytes()).unwrap();
    for i in 0..64 {
        let mut sig = e.signature;
        sig[i] ^= 0x80;
        let bad = signature::envelope(&e.key_id, &sig);
        let r = s.apply_signed_delta(&d, Some(bad.as_bytes()), &mut |_| {});
        refused(r, &s, "hq", 1, "");
    }
    // A malformed envelope.
    for bad in ["", "edgeid.sig/1 ed25519", "not an envelope\n"] {
        let r = s.apply_signed_delta(&d, Some(bad.as_bytes()), &mut |_| {});
        refused(r, &s, "hq", 1, "envelope");
    }
    assert!(matches!(
        signed(&s, &d, &SEED_A).unwrap(),
        Outcome::Applied { sequence: 2, .. }
    ));
}

#[test]
fn unknown_keys_and_keys_of_another_location_are_refused() {
    let (_fs, s) = sim_store(DIM);
    s.add_signing_key("a", &key(&SEED_A)).unwrap();
    s.add_signing_key("b", &key(&SEED_B)).unwrap();
    refused(
        signed(&s, &delta("a", 1), &SEED_C),
        &s,
        "a",
        0,
        "not trusted by this terminal",
    );
    // A's key never authorises a delta for B, nor for a location that trusts nothing.
    refused(
        signed(&s, &delta("b", 1), &SEED_A),
        &s,
        "b",
        0,
        "not trusted for location b",
    );
    refused(
        signed(&s, &delta("c", 1), &SEED_A),
        &s,
        "c",
        0,
        "not trusted for location c",
    );
    signed(&s, &delta("a", 1), &SEED_A).unwrap();
    signed(&s, &delta("b", 1), &SEED_B).unwrap();
    // A key trusted by two locations signs for both.
    s.add_signing_key("b", &key(&SEED_A)).unwrap();
    signed(&s, &delta("b", 2), &SEED_A).unwrap();
}

#[test]
fn unsigned_deltas_are_refused_only_where_signatures_are_required() {
    let (_fs, s) = sim_store(DIM);
    s.add_signing_key("hq", &key(&SEED_A)).unwrap();
    // Keys alone do not require signatures (a transition period).
    unsigned(&s, &delta("hq", 1)).unwrap();
    assert!(s.set_require_signatures("hq", true).unwrap());
    refused(
        unsigned(&s, &delta("hq", 2)),
        &s,
        "hq",
        1,
        "requires signed deltas",
    );
    // Even a re-sent delta: the signature rule comes first.
    refused(
        unsigned(&s, &delta("hq", 1)),
        &s,
        "hq",
        1,
        "requires signed deltas",
    );
    signed(&s, &delta("hq", 2), &SEED_A).unwrap();
    // Other locations are not affected.
    unsigned(&s, &delta("lobby", 1)).unwrap();
    assert!(s.set_require_signatures("hq", false).unwrap());
    unsigned(&s, &delta("hq", 3)).unwrap();
}

#[test]
fn a_rotation_signed_by_the_old_key_replaces_the_keys() {
    let (_fs, s) = sim_store(DIM);
    s.add_signing_key("hq", &key(&SEED_A)).unwrap();
    s.set_require_signatures("hq", true).unwrap();
    signed(&s, &delta("hq", 1), &SEED_A).unwrap();
    let rotate = delta_with("hq", 2, json!({"signing_keys": [b64(&key(&SEED_B))]}));
    // Signed by a key the location does not trust, or not signed: refused.
    refused(signed(&s, &rotate, &SEED_C), &s, "hq", 1, "not trusted");
    s.set_require_signatures("hq", false).unwrap();
    refused(unsigned(&s, &rotate), &s, "hq", 1, "must be signed");
    s.set_require_signatures("hq", true).unwrap();
    // A key trusted for another location cannot rotate this one's.
    s.add_signing_key("other", &key(&SEED_C)).unwrap();
    refused(
        signed(&s, &rotate, &SEED_C),
        &s,
        "hq",
        1,
        "not trusted for location hq",
    );

    signed(&s, &rotate, &SEED_A).unwrap();
    let keys = s.signing_keys();
    let hq = keys.iter().find(|k| k.location == "hq").unwrap();
    assert_eq!(hq.keys, vec![key(&SEED_B)]);
    assert!(hq.require_signatures, "the rotation keeps the requirement");
    refused(
        signed(&s, &delta("hq", 3), &SEED_A),
        &s,
        "hq",
        2,
        "not trusted",
    );
    signed(&s, &delta("hq", 3), &SEED_B).unwrap();
    // The re-sent rotation, signed by the new key, is recognised as applied.
    assert!(matches!(
        signed(&s, &rotate, &SEED_B).unwrap(),
        Outcome::AlreadyApplied { sequence: 2, .. }
    ));
}

#[test]
fn signing_keys_in_a_delta_are_checked() {
    let (_fs, s) = sim_store(DIM);
    s.add_signing_key("hq", &key(&SEED_A)).unwrap();
    let b = b64(&key(&SEED_B));
    let mut identity = [0u8; 32];
    identity[0] = 1;
    for (keys, says) in [
        (json!([]), "at least one key"),
        (json!([b, b]), "listed twice"),
        (json!(["AAAA"]), "32 bytes"),
        (json!([b64(&identity)]), "weak"),
        (json!(vec![b.clone(); 17]), "at most 16"),
        (json!("x"), "expected an array"),
    ] {
        let d = delta_with("hq", 1, json!({ "signing_keys": keys }));
        let r = signed(&s, &d, &SEED_A);
        assert!(
            matches!(&r, Err(Error::Refused(Refusal::Invalid { path, message }))
                if path.starts_with("signing_keys") && message.contains(says)),
            "{says}: {r:?}"
        );
    }
    // A signature inside the delta is refused: it travels beside it.
    let d = delta_with("hq", 1, json!({"signature": "x"}));
    assert!(matches!(
        signed(&s, &d, &SEED_A),
        Err(Error::Refused(Refusal::Invalid { .. }))
    ));
}

#[test]
fn local_key_changes_are_validated_and_listed() {
    let (_fs, s) = sim_store(DIM);
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert!(matches!(
        s.add_signing_key("hq", &identity),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        s.add_signing_key("bad\u{202e}", &key(&SEED_A)),
        Err(Error::Invalid(_))
    ));
    for i in 0..16u8 {
        s.add_signing_key("hq", &key(&[i; 32])).unwrap();
    }
    assert!(s.add_signing_key("hq", &key(&[99; 32])).is_err());
    assert!(s.remove_signing_key("hq", &key_id(&key(&[3; 32]))).unwrap());
    assert!(!s.remove_signing_key("hq", &key_id(&key(&[3; 32]))).unwrap());
    assert_eq!(s.signing_keys()[0].keys.len(), 15);
    // Keys do not make a location synchronised (nor managed by the platform).
    assert!(s.sync_status().is_empty());
    s.commit(&[put("hq", "ann", "f", Rng(1).vector(DIM))])
        .unwrap();
    // Forgetting every key and the requirement forgets the location's entry.
    for i in 0..16u8 {
        s.remove_signing_key("hq", &key_id(&key(&[i; 32]))).unwrap();
    }
    assert!(s.signing_keys().is_empty());
}

#[test]
fn keys_survive_reopen_and_checkpoints() {
    let (fs, s) = sim_store(DIM);
    s.add_signing_key("hq", &key(&SEED_A)).unwrap();
    s.add_signing_key("lobby", &key(&SEED_B)).unwrap();
    s.set_require_signatures("hq", true).unwrap();
    signed(
        &s,
        &delta_with("hq", 1, json!({"signing_keys": [b64(&key(&SEED_C))]})),
        &SEED_A,
    )
    .unwrap();
    let before = s.signing_keys();
    drop(s);
    let s = open_sim(on_sim(&fs)).unwrap();
    assert_eq!(s.signing_keys(), before, "replayed from the log");
    s.checkpoint().unwrap();
    drop(s);
    let s = open_sim(on_sim(&fs)).unwrap();
    assert_eq!(s.signing_keys(), before, "read from the catalog file");
    refused(unsigned(&s, &delta("hq", 2)), &s, "hq", 1, "requires");
    signed(&s, &delta("hq", 2), &SEED_C).unwrap();
}

/// Key changes and signed deltas on a disk that loses power at every sync point.
struct KeySteps {
    deltas: Vec<Vec<u8>>,
}

impl Scenario for KeySteps {
    /// (keys of hq, require, sequence of hq)
    type State = (Vec<PublicKey>, bool, u64);
    fn start(&self) -> Self::State {
        (vec![], false, 0)
    }
    fn expect(&self, j: u64, st: &Self::State) -> Self::State {
        let (mut keys, mut req, mut seq) = st.clone();
        match j {
            0 => keys.push(key(&SEED_A)),
            1 => req = true,
            2 => seq = 1,
            3 => {
                seq = 2;
                keys = vec![key(&SEED_B), key(&SEED_C)];
            }
            4 => keys.retain(|k| *k != key(&SEED_C)),
            _ => seq = 3,
        }
        (keys, req, seq)
    }
    fn perform(&self, s: &Store, j: u64, _: &Self::State) -> edgeid::Result<()> {
        match j {
            0 => s.add_signing_key("hq", &key(&SEED_A)).map(drop),
            1 => s.set_require_signatures("hq", true).map(drop),
            2 => signed(s, &self.deltas[0], &SEED_A).map(drop),
            3 => signed(s, &self.deltas[1], &SEED_A).map(drop),
            4 => s.remove_signing_key("hq", &key_id(&key(&SEED_C))).map(drop),
            _ => signed(s, &self.deltas[2], &SEED_B).map(drop),
        }
    }
    fn housekeeping(&self, s: &Store, j: u64) -> edgeid::Result<()> {
        if j % 2 == 1 {
            s.checkpoint()?;
        }
        Ok(())
    }
    fn observe(&self, s: &Store) -> Self::State {
        let k = s.signing_keys();
        let hq = k.iter().find(|l| l.location == "hq");
        (
            hq.map_or(vec![], |l| l.keys.clone()),
            hq.is_some_and(|l| l.require_signatures),
            seq(s, "hq"),
        )
    }
}

#[test]
fn power_loss_during_key_changes_leaves_before_or_after() {
    let scenario = KeySteps {
        deltas: vec![
            delta("hq", 1),
            delta_with(
                "hq",
                2,
                json!({"signing_keys": [b64(&key(&SEED_B)), b64(&key(&SEED_C))]}),
            ),
            delta("hq", 3),
        ],
    };
    let harness = PowerLoss {
        opts: &|fs: &SimFs| on_sim(fs),
        dim: DIM,
        steps: 6,
        losses_per_point: 2,
        seed_stride: 2,
    };
    let covered = harness.run(&scenario);
    assert!(covered.trials > 10, "{}", covered.trials);
}

fn vectors() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/sync/signed"))
}

fn seed_file(name: &str) -> [u8; 32] {
    let hex = std::fs::read_to_string(vectors().join(name)).unwrap();
    let hex = hex.trim();
    let mut seed = [0; 32];
    for (i, b) in seed.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    seed
}

#[test]
fn the_test_vectors_sign_and_apply_as_documented() {
    let dir = vectors();
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
    let keys: Value = serde_json::from_slice(&read("keys.json")).unwrap();
    let seeds = [seed_file("platform-1.seed"), seed_file("platform-2.seed")];
    for (name, seed) in ["platform-1", "platform-2"].iter().zip(&seeds) {
        let k = key(seed);
        assert_eq!(keys[name]["public_key"], b64(&k));
        assert_eq!(keys[name]["key_id"], signature::key_id_hex(&k));
    }
    for (file, seed) in [
        ("01-full.json", &seeds[0]),
        ("02-rotate.json", &seeds[0]),
        ("03-changes.json", &seeds[1]),
        ("04-old-key.json", &seeds[0]),
    ] {
        let sig = String::from_utf8(read(&format!("{file}.sig"))).unwrap();
        assert_eq!(signature::sign(seed, &read(file)), sig, "{file}.sig");
    }
    let (_fs, s) = sim_store(DIM);
    s.add_signing_key("hq-amsterdam", &key(&seeds[0])).unwrap();
    s.set_require_signatures("hq-amsterdam", true).unwrap();
    let apply =
        |f: &str| s.apply_signed_delta(&read(f), Some(&read(&format!("{f}.sig"))), &mut |_| {});
    apply("01-full.json").unwrap();
    refused(
        apply("03-changes.json"),
        &s,
        "hq-amsterdam",
        1,
        "not trusted",
    );
    apply("02-rotate.json").unwrap();
    refused(
        apply("05-tampered.json"),
        &s,
        "hq-amsterdam",
        2,
        "does not match",
    );
    apply("03-changes.json").unwrap();
    refused(
        apply("04-old-key.json"),
        &s,
        "hq-amsterdam",
        3,
        "not trusted",
    );
    assert!(s.user("hq-amsterdam", "u-1").is_some());
    assert!(s.user("hq-amsterdam", "u-2").is_none());
}

/// The Python reference signer (optional: needs `cryptography` from PyPI) writes the same
/// envelopes as the engine.
#[test]
fn the_python_reference_signer_agrees() {
    let has = std::process::Command::new("python3")
        .args(["-c", "import cryptography"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        eprintln!("skipped: python3 with the cryptography package is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("d.json");
    let bytes = delta("hq", 7);
    std::fs::write(&d, &bytes).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/sync-sign.py");
    let seed = vectors().join("platform-2.seed");
    let out = std::process::Command::new("python3")
        .arg(script)
        .args(["sign", "--key"])
        .arg(&seed)
        .arg(&d)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let sig = std::fs::read_to_string(tmp.path().join("d.json.sig")).unwrap();
    assert_eq!(sig, signature::sign(&seed_file("platform-2.seed"), &bytes));
}

/// What checking a signature costs, by delta size (run with `cargo test --test sync_signed --
/// --ignored --nocapture`): the envelope, the key lookup and `verify_strict` (SHA-512 over the
/// delta plus one double-scalar multiplication).
#[test]
#[ignore]
fn signature_cost() {
    let (_fs, s) = sim_store(DIM);
    s.add_signing_key("hq", &key(&SEED_A)).unwrap();
    for size in [1usize << 10, 1 << 20, 29 << 20] {
        let mut d = delta("hq", 1);
        d.resize(size, b' ');
        let env = signature::sign(&SEED_A, &d);
        let e = signature::parse_envelope(env.as_bytes()).unwrap();
        let runs = if size > 1 << 20 { 5 } else { 200 };
        let keys = [key(&SEED_B), key(&SEED_A)];
        let t = std::time::Instant::now();
        for _ in 0..runs {
            let e2 = signature::parse_envelope(env.as_bytes()).unwrap();
            assert_eq!(e2, e);
            signature::verify(&d, &e2, keys.iter()).unwrap();
        }
        let per = t.elapsed().as_secs_f64() / runs as f64;
        println!(
            "delta of {size} bytes: {:.1} µs per signature check",
            per * 1e6
        );
    }
}
