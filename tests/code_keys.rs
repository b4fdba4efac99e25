//! Code keys are kept apart from the hashes they key: no file but the key file holds a location's
//! code key (so a flash dump of the catalog and log gives no way to test codes), keys survive
//! reopens and crashes in the right order, stores of older builds are migrated, a provider of the
//! terminal's own is used instead of the file, and every file of a store is private to its owner.

mod common;
use common::crash::{PowerLoss, Scenario};
use common::*;
use edgeid::catalog::{code_key_id, Hash, KeyId};
use edgeid::fs::SimFs;
use edgeid::store::keys::{hmac, CodeKeys};
use edgeid::sync::Outcome;
use edgeid::{Error, OpenOptions, Store};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

const DIM: usize = 16;
const KEY: Hash = [0x5a; 32];
const KEY2: Hash = [0xa7; 32];

fn user(id: &str, code: &str) -> Value {
    json!({"op": "upsert_user", "user": {"id": id, "codes": [code]}})
}

fn delta(seq: u64, key: Option<&Hash>, changes: Vec<Value>) -> Vec<u8> {
    let kind = if key.is_some() { "full" } else { "changes" };
    let mut d = json!({"format": "edgeid.delta/1", "location": "hq", "sequence": seq,
                       "kind": kind, "changes": changes});
    if let Some(k) = key {
        d["code_key"] = json!(b64(k));
    }
    serde_json::to_vec(&d).unwrap()
}

fn apply(s: &Store, d: &[u8]) -> edgeid::Result<Outcome> {
    s.apply_delta(d, &mut |_| {})
}

fn who(s: &Store, code: &str) -> Option<String> {
    s.lookup_code(Some("hq"), code).unwrap().map(|r| r.user)
}

/// Every file of a directory on the real disk (and of its subdirectories, named `sub/file`: the
/// event journal's), with its bytes.
fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        if e.path().is_dir() {
            for (sub, bytes) in files_of(&e.path()) {
                out.push((format!("{name}/{sub}"), bytes));
            }
        } else {
            out.push((name, std::fs::read(e.path()).unwrap()));
        }
    }
    out
}

/// Asserts that no file but `CODE-KEYS` holds any of `keys`.
fn only_the_key_file_holds(files: &[(String, Vec<u8>)], keys: &[Hash], at: &str) {
    for (name, bytes) in files {
        for k in keys {
            if contains(bytes, k) {
                assert_eq!(name, "CODE-KEYS", "{at}: {name} holds a code key");
            }
        }
    }
}

#[test]
fn the_code_key_is_in_no_file_but_the_key_file_and_codes_still_work() {
    let (tmp, s) = temp_store(DIM, OpenOptions::new().threads(1));
    apply(&s, &delta(1, Some(&KEY), vec![user("a", "482913")])).unwrap();
    apply(&s, &delta(2, None, vec![user("b", "000111")])).unwrap(); // in the log
    let files = files_of(tmp.path());
    only_the_key_file_holds(&files, &[KEY], "after the applies");
    assert!(files
        .iter()
        .any(|(n, b)| n == "CODE-KEYS" && contains(b, &KEY)));
    s.checkpoint().unwrap(); // the catalog file, a new log
    only_the_key_file_holds(&files_of(tmp.path()), &[KEY], "after a checkpoint");
    drop(s);
    let s = Store::open(tmp.path(), OpenOptions::new().threads(1)).unwrap();
    assert_eq!(who(&s, "482913").as_deref(), Some("a"));
    assert_eq!(who(&s, "000111").as_deref(), Some("b"));
    assert_eq!(who(&s, "482914"), None);
    drop(s);
    // A read-only open reads the key file too.
    let s = Store::open(tmp.path(), OpenOptions::new().threads(1).read_only(true)).unwrap();
    assert_eq!(who(&s, "000111").as_deref(), Some("b"));
}

#[test]
fn a_rotated_key_is_dropped_once_no_file_needs_it() {
    let (tmp, s) = temp_store(DIM, OpenOptions::new().threads(1));
    let d1 = delta(1, Some(&KEY), vec![user("a", "1234")]);
    apply(&s, &d1).unwrap();
    let d2 = delta(2, Some(&KEY2), vec![user("a", "5678")]);
    apply(&s, &d2).unwrap();
    assert_eq!(who(&s, "5678").as_deref(), Some("a"));
    assert_eq!(who(&s, "1234"), None);
    // Both deltas are still recognised when re-sent (the rotation rule of sync-protocol.md).
    for d in [&d1, &d2] {
        assert!(matches!(
            apply(&s, d).unwrap(),
            Outcome::AlreadyApplied { .. }
        ));
    }
    s.checkpoint().unwrap();
    let keys = std::fs::read(tmp.path().join("CODE-KEYS")).unwrap();
    assert!(!contains(&keys, &KEY), "the old key was dropped");
    assert!(contains(&keys, &KEY2));
    only_the_key_file_holds(&files_of(tmp.path()), &[KEY, KEY2], "after the rotation");
    drop(s);
    let s = Store::open(tmp.path(), OpenOptions::new().threads(1)).unwrap();
    assert_eq!(who(&s, "5678").as_deref(), Some("a"));
}

#[test]
fn a_new_store_is_private_to_its_owner() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let s = Store::create(&dir, MODEL, DIM, OpenOptions::new().threads(1)).unwrap();
    apply(&s, &delta(1, Some(&KEY), vec![user("a", "1234")])).unwrap();
    s.commit(&[put("local", "u", "f", Rng(1).vector(DIM))])
        .unwrap();
    s.checkpoint().unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700, "store directory");
    let names: Vec<String> = files_of(&dir).into_iter().map(|(n, _)| n).collect();
    for kind in ["MANIFEST", "LOCK", "CODE-KEYS", "wal-", "seg-", "catalog-"] {
        assert!(
            names.iter().any(|n| n.starts_with(kind)),
            "{kind} in {names:?}"
        );
    }
    for n in &names {
        assert_eq!(mode(&dir.join(n)), 0o600, "{n}");
    }
}

/// The key of the `v1` fixture's full delta (`AAECAw...`: bytes 0..32), which that build kept in
/// its catalog file.
fn fixture_key() -> Hash {
    std::array::from_fn(|i| i as u8)
}

#[test]
fn a_store_of_an_older_build_moves_its_key_out_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/formats/v1");
    for e in std::fs::read_dir(&fixture).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), tmp.path().join(e.file_name())).unwrap();
    }
    let key = fixture_key();
    assert!(
        files_of(tmp.path())
            .iter()
            .any(|(n, b)| n.starts_with("catalog-") && contains(b, &key)),
        "the old build kept the key in its catalog"
    );
    // A read-only open moves nothing and still answers codes.
    let s = Store::open(tmp.path(), OpenOptions::new().threads(1).read_only(true)).unwrap();
    assert_eq!(who(&s, "2468").as_deref(), Some("ada"));
    drop(s);
    let s = Store::open(tmp.path(), OpenOptions::new().threads(1)).unwrap();
    only_the_key_file_holds(&files_of(tmp.path()), &[key], "after the migrating open");
    assert_eq!(who(&s, "2468").as_deref(), Some("ada"));
    drop(s);
    let s = Store::open(tmp.path(), OpenOptions::new().threads(1)).unwrap();
    assert_eq!(who(&s, "2468").as_deref(), Some("ada"));
    let d = delta(4, None, vec![user("bob", "1357")]);
    apply(&s, &d).unwrap();
    assert_eq!(who(&s, "1357").as_deref(), Some("bob"));
}

/// Applies with a key rotation in the middle; the state is the sequence and who each code
/// opens for.
struct Rotation {
    deltas: Vec<Vec<u8>>,
}

type Seen = (u64, Vec<Option<String>>);

const CODES: [&str; 3] = ["1111", "2222", "3333"];

impl Rotation {
    fn new() -> Rotation {
        Rotation {
            deltas: vec![
                delta(1, Some(&KEY), vec![user("a", "1111")]),
                delta(2, None, vec![user("b", "2222")]),
                delta(3, Some(&KEY2), vec![user("c", "3333"), user("a", "1111")]),
                delta(4, None, vec![user("b", "2222")]),
            ],
        }
    }
}

impl Scenario for Rotation {
    type State = Seen;
    fn start(&self) -> Seen {
        (0, vec![None; 3])
    }
    fn expect(&self, j: u64, _: &Seen) -> Seen {
        let who = |u: &str| Some(u.to_string());
        let users = match j {
            0 => vec![who("a"), None, None],
            1 => vec![who("a"), who("b"), None],
            2 => vec![who("a"), None, who("c")],
            _ => vec![who("a"), who("b"), who("c")],
        };
        (j + 1, users)
    }
    fn perform(&self, store: &Store, j: u64, _: &Seen) -> edgeid::Result<()> {
        apply(store, &self.deltas[j as usize]).map(drop)
    }
    fn housekeeping(&self, store: &Store, j: u64) -> edgeid::Result<()> {
        if j == 1 {
            store.checkpoint()?;
        }
        Ok(())
    }
    fn observe(&self, store: &Store) -> Seen {
        let seq = store.sync_status().first().map_or(0, |l| l.sequence);
        (seq, CODES.iter().map(|c| who(store, c)).collect())
    }
}

#[test]
fn power_loss_around_the_key_file_leaves_before_or_after() {
    let harness = PowerLoss {
        opts: &|fs: &SimFs| on_sim(fs),
        dim: DIM,
        steps: 4,
        losses_per_point: 2,
        seed_stride: 2,
    };
    let covered = harness.run_then(&Rotation::new(), |store, disk, got, at| {
        // No file but the key file holds a key, and the reopened store kept exactly the key it
        // uses (a key stored for a commit the power loss took is dropped).
        drop(store);
        let want: &[Hash] = match got.0 {
            0 => &[],
            1 | 2 => &[KEY],
            _ => &[KEY2],
        };
        let mut in_key_file = Vec::new();
        for (p, b) in disk.all_bytes() {
            let name = p.file_name().unwrap().to_str().unwrap();
            for k in [KEY, KEY2] {
                if contains(&b, &k) {
                    assert_eq!(name, "CODE-KEYS", "{at}: {name} holds a key");
                    in_key_file.push(k);
                }
            }
        }
        assert_eq!(in_key_file, want, "{at}: keys held at sequence {}", got.0);
    });
    assert!(covered.trials >= 24, "{}", covered.trials);
}

/// A provider of the test's own (as a secure element would be): keys in memory, failures on
/// demand, calls counted.
#[derive(Default)]
struct Vault {
    keys: Mutex<BTreeMap<KeyId, Hash>>,
    fail_store: Mutex<bool>,
    fail_mac: Mutex<bool>,
}

impl CodeKeys for Vault {
    fn store(&self, id: &KeyId, key: &Hash) -> edgeid::Result<()> {
        if *self.fail_store.lock().unwrap() {
            return Err(Error::Invalid("the vault is sealed".into()));
        }
        self.keys.lock().unwrap().insert(*id, *key);
        Ok(())
    }
    fn mac(&self, id: &KeyId, message: &[u8]) -> edgeid::Result<Hash> {
        if *self.fail_mac.lock().unwrap() {
            return Err(Error::Invalid("the vault is sealed".into()));
        }
        let keys = self.keys.lock().unwrap();
        Ok(hmac(keys.get(id).expect("a key the store gave"), message))
    }
    fn retain(&self, keep: &[KeyId]) -> edgeid::Result<()> {
        self.keys.lock().unwrap().retain(|id, _| keep.contains(id));
        Ok(())
    }
}

#[test]
fn a_provider_of_the_terminal_keeps_the_keys_and_its_failures_change_nothing() {
    let vault = Arc::new(Vault::default());
    let fs = SimFs::new();
    let opts = || on_sim(&fs).code_keys(vault.clone());
    let s = create_sim(DIM, opts());
    apply(&s, &delta(1, Some(&KEY), vec![user("a", "1234")])).unwrap();
    assert_eq!(who(&s, "1234").as_deref(), Some("a"));
    assert_eq!(
        vault.keys.lock().unwrap().keys().collect::<Vec<_>>(),
        vec![&code_key_id(&KEY)]
    );
    for (p, b) in fs.all_bytes() {
        assert!(!contains(&b, &KEY), "{} holds the key", p.display());
        assert!(!p.ends_with("CODE-KEYS"), "no key file with a provider");
    }
    // The provider cannot store: the full delta is not applied, nothing changes.
    *vault.fail_store.lock().unwrap() = true;
    let d2 = delta(2, Some(&KEY2), vec![user("a", "5678")]);
    let e = apply(&s, &d2).unwrap_err();
    assert!(e.to_string().contains("sealed"), "{e}");
    assert_eq!(s.sync_status()[0].sequence, 1);
    assert_eq!(who(&s, "1234").as_deref(), Some("a"));
    *vault.fail_store.lock().unwrap() = false;
    // The provider cannot key codes: lookups and deltas with codes fail with its error.
    *vault.fail_mac.lock().unwrap() = true;
    assert!(s.lookup_code(None, "1234").is_err());
    let e = apply(&s, &delta(2, None, vec![user("b", "9999")])).unwrap_err();
    assert!(e.to_string().contains("sealed"), "{e}");
    assert_eq!(s.sync_status()[0].sequence, 1);
    *vault.fail_mac.lock().unwrap() = false;
    apply(&s, &d2).unwrap();
    s.checkpoint().unwrap();
    assert_eq!(
        vault.keys.lock().unwrap().keys().collect::<Vec<_>>(),
        vec![&code_key_id(&KEY2)],
        "the rotated-away key was released"
    );
    drop(s);
    let s = open_sim(opts()).unwrap();
    assert_eq!(who(&s, "5678").as_deref(), Some("a"));
}
