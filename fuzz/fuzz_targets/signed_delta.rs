//! A signed delta off the wire: the envelope parser and the signature check in front of the delta
//! parser. The store trusts one key for the example deltas' location and requires signatures.
//! Even inputs are signed with that key (so the fuzzer reaches the checks after the signature:
//! location binding, `signing_keys` rotation); odd inputs carry a fuzzed envelope, which must never
//! get a delta applied unless it is the genuine signature.
#![no_main]

use edgeid::fs::SimFs;
use edgeid::sync::{signature, Outcome};
use edgeid::{OpenOptions, Store};
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::Arc;

const SEED: [u8; 32] = [7; 32];
/// The location of the example deltas in testdata/sync (the seeds).
const LOCATION: &str = "hq-amsterdam";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let fs = Arc::new(SimFs::new());
    let opts = OpenOptions::new().fs(fs).threads(1);
    let store = Store::create(Path::new("/fuzz"), "w600k_mbf", 512, opts).expect("create");
    let key = signature::public_key_of(&SEED);
    store.add_signing_key(LOCATION, &key).expect("trust");
    store.set_require_signatures(LOCATION, true).expect("require");
    let before = store.snapshot().seq();
    if mode % 2 == 0 {
        let env = signature::sign(&SEED, rest);
        let _ = store.apply_signed_delta(rest, Some(env.as_bytes()), &mut |_| {});
        return;
    }
    // Odd: the first `n` bytes are the envelope, the rest the delta.
    let n = usize::from(mode / 2).min(rest.len());
    let (env, delta) = rest.split_at(n);
    let _ = signature::parse_envelope(env);
    match store.apply_signed_delta(delta, Some(env), &mut |_| {}) {
        Ok(Outcome::Applied { .. }) => {
            let genuine = signature::sign(&SEED, delta);
            assert_eq!(
                std::str::from_utf8(env).map(|e| e.trim_end_matches('\n')),
                Ok(genuine.trim_end_matches('\n')),
                "a delta was applied under a signature that is not the trusted key's"
            );
        }
        Ok(Outcome::AlreadyApplied { .. }) => unreachable!("a fresh store has applied nothing"),
        Err(_) => assert_eq!(store.snapshot().seq(), before, "a refused delta changed the store"),
    }
});
