//! `edgeid demo`: the engine's main job end to end on synthetic faces and fingerprints, driven the
//! way a terminal is — by the platform's deltas: a full synchronisation, "synchronize user",
//! "synchronize all changes" (with a deleted user), sync status and digest, card/code/plate lookups,
//! a restart, then identification of known users and strangers by face and by finger. No model or
//! setup. It checks its own answers and exits 1 if any is wrong, so it doubles as a smoke test on a
//! new device.

use crate::deltas;
use crate::demo_report::{Demo, LookupLine, ProbeLine, StatusLine};
use crate::out::{ms, round3, CmdResult, Fail, Out};
use crate::sync_cmds;
use crate::synth::{self, user_id, Rng};
use clap::Args;
use edgeid::finger::calibration::threshold_for_fmr;
use edgeid::finger::synth::to_record;
use edgeid::finger::template::Point;
use edgeid::finger::FingerTemplate;
use edgeid::sync::delta::Kind;
use edgeid::sync::{Outcome, UserRef};
use edgeid::{FaceIdentify, FingerIdentify, OpenOptions, Store};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Instant;

/// Cosine similarity at which the demo accepts a match.
const THRESHOLD: f64 = 0.5;
/// Known users probed.
const PROBES: usize = 10;
/// Probes of people who were never enrolled.
const STRANGERS: usize = 2;
/// Users re-enrolled by the "synchronize all changes" delta.
const CHANGED: usize = 5;
/// Every this many users (from user 0) also get a card, an access code, a plate, a right and a
/// fingerprint.
const CREDENTIALS_EVERY: usize = 10;
const LOCATION: &str = "local";
pub const DOOR: &str = "front";
const SCHEDULE: &str = "office-hours";
/// False-match rate at which the demo accepts a fingerprint match.
const FINGER_FMR: f64 = 1e-4;
/// Users identified by fingerprint.
const FINGER_PROBES: usize = 5;
/// Checks the text names when they fail.
pub const RESENT: &str = "a re-sent delta is already applied";
pub const SAME_DIGEST: &str = "the digest is the same after a restart";

#[derive(Args)]
pub struct DemoArgs {
    /// Synthetic users to enrol (1 or 2 templates each).
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(2..))]
    users: u64,
    /// Embedding dimension.
    #[arg(long, default_value_t = 512)]
    dim: usize,
    /// Keep the store in this new directory (default: a temporary one, removed at exit).
    #[arg(long, value_name = "DIR")]
    store: Option<PathBuf>,
    /// Seed of the synthetic faces (and of the location's code key).
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Skip the part with real photos (face detection and embedding with ONNX Runtime).
    #[cfg(feature = "vision")]
    #[arg(long)]
    no_photos: bool,
}

/// The synthetic population: each user is a random direction; templates and probes are noisy
/// captures of it; every [`CREDENTIALS_EVERY`]th user also holds a card, a code and a plate.
struct People {
    seed: u64,
    dim: usize,
    model: String,
}

impl People {
    fn base(&self, i: usize) -> Vec<f32> {
        synth::gaussian_vec(self.seed, synth::GALLERY + i as u64, self.dim)
    }

    fn faces(&self, i: usize) -> u64 {
        1 + Rng::new(self.seed, synth::CHOICE + 1 + i as u64).below(2)
    }

    /// Template `j` of user `i` as captured at enrolment number `enrolment` (0 = first).
    fn capture(&self, i: usize, enrolment: u64, j: u64) -> Vec<f32> {
        let stream = synth::EXTRA + (enrolment << 40) + 2 * i as u64 + j;
        synth::noisy(
            &self.base(i),
            self.seed,
            stream,
            0.3 / (self.dim as f64).sqrt(),
        )
    }

    fn probe(&self, i: usize) -> Vec<f32> {
        let sigma = 0.5 / (self.dim as f64).sqrt();
        synth::noisy(&self.base(i), self.seed, synth::PROBE + i as u64, sigma)
    }

    fn has_credentials(i: usize) -> bool {
        i.is_multiple_of(CREDENTIALS_EVERY)
    }

    /// Card serial (csn, hex), access code and licence plate of a user with credentials; unique
    /// per user, as the platform guarantees.
    fn card(i: usize) -> String {
        format!("04{:012X}", 0xA1B2_0000_0000u64 + i as u64)
    }
    fn code(i: usize) -> String {
        // 7919 is prime to 10^8: distinct users get distinct codes.
        format!("{:08}", (i as u64 * 7_919 + 31_337) % 100_000_000)
    }
    fn plate(i: usize) -> String {
        format!("DM-{:03}-{}", i / 26, char::from(b'A' + (i % 26) as u8))
    }

    /// Impression number `k` of user `i`'s right index finger (a stranger's for `i` beyond the
    /// users).
    fn impression(&self, i: usize, k: u64) -> Vec<Point> {
        synth::impression(self.seed, i as u64, k)
    }

    /// The user's whole record as the platform sends it.
    fn user(&self, i: usize, enrolment: u64) -> Value {
        let faces: Vec<Value> = (0..self.faces(i))
            .map(|j| {
                deltas::face(
                    &format!("t{j}"),
                    &self.model,
                    &self.capture(i, enrolment, j),
                )
            })
            .collect();
        let mut u = json!({
            "id": user_id(i), "name": format!("Synthetic user {i}"), "enabled": true,
            "valid_from": "2026-01-01T00:00:00Z", "faces": faces,
        });
        if Self::has_credentials(i) {
            u["cards"] = json!([{"format": "csn", "number": Self::card(i)}]);
            u["codes"] = json!([Self::code(i)]);
            u["plates"] = json!([Self::plate(i)]);
            u["rights"] = json!([{"doors": [DOOR], "schedule": SCHEDULE}]);
            let record = to_record(&self.impression(i, enrolment));
            u["fingers"] = json!([{"id": "r-index", "position": 2,
                "format": "iso19794-2:2005", "data": deltas::b64(&record)}]);
        }
        u
    }
}

/// Identifies a face probe (k=1, at [`THRESHOLD`]) and says whether the answer is `expected`.
fn probe(
    store: &Store,
    label: String,
    expected: Option<String>,
    v: &[f32],
) -> Result<ProbeLine, Fail> {
    let t = Instant::now();
    let hits = store.identify_face(&FaceIdentify::new(v).threshold(THRESHOLD))?;
    let ms = ms(t.elapsed());
    let hit = hits.into_iter().next();
    let found = hit.as_ref().map(|h| h.user.clone());
    Ok(ProbeLine {
        ok: found == expected,
        probe: label,
        expected,
        found,
        score: hit.map(|h| h.score),
        ms: round3(ms),
    })
}

/// Applies one delta with a progress bar; returns the outcome and the milliseconds it took.
fn apply(store: &Store, delta: &[u8], out: Out) -> Result<(Outcome, f64), Fail> {
    let (r, took) = sync_cmds::apply_one(store, delta, None, out);
    Ok((r?, took))
}

/// Things the demo checks besides identifications; a wrong one fails the demo.
#[derive(Default)]
struct Checks(Vec<(String, bool)>);

impl Checks {
    fn check(&mut self, what: impl Into<String>, ok: bool) -> bool {
        self.0.push((what.into(), ok));
        ok
    }
    fn failed(&self) -> Vec<String> {
        self.0
            .iter()
            .filter(|c| !c.1)
            .map(|c| c.0.clone())
            .collect()
    }
}

fn who(r: &Option<UserRef>) -> String {
    r.as_ref()
        .map_or("no user".into(), |r| format!("{}/{}", r.location, r.user))
}

pub fn run(a: &DemoArgs, out: Out) -> CmdResult<Demo> {
    let (n, dim, seed) = (a.users as usize, a.dim, a.seed);
    let people = People {
        seed,
        dim,
        model: format!("synthetic-{dim}"),
    };
    let model = people.model.clone();
    let tmp;
    let dir = match &a.store {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::Builder::new()
                .prefix("edgeid-demo-")
                .tempdir()
                .map_err(|e| Fail::new(format!("create temporary directory: {e}")))?;
            tmp.path().join("store")
        }
    };
    let mut checks = Checks::default();

    // Who the demo will probe, and who the platform deletes.
    let mut pick = Rng::new(seed, synth::CHOICE);
    let mut chosen: Vec<usize> = Vec::new();
    while chosen.len() < (PROBES + 1).min(n) {
        let u = pick.below(n as u64) as usize;
        if !chosen.contains(&u) {
            chosen.push(u);
        }
    }
    let gone = chosen.pop().expect("at least 2 users");

    // 1. Full synchronisation: the location's complete state, with the code key.
    let store = Store::create(&dir, &model, dim, OpenOptions::new())?;
    let key = deltas::code_key(seed);
    let t = Instant::now();
    let pb = out.progress(n as u64, "building");
    let mut changes = vec![
        json!({"op": "upsert_schedule", "schedule": {"id": SCHEDULE, "timezone": "Europe/Amsterdam",
            "weekly": {"mon": [["07:00", "19:00"]], "tue": [["07:00", "19:00"]], "wed": [["07:00", "19:00"]],
                       "thu": [["07:00", "19:00"]], "fri": [["07:00", "17:00"]]},
            "holidays": ["2026-12-25"]}}),
        json!({"op": "upsert_door", "door": {"id": DOOR, "modes": ["face", "finger", "card+code", "plate"]}}),
    ];
    for i in 0..n {
        changes.push(deltas::upsert_user(people.user(i, 0)));
        pb.inc(1);
    }
    pb.finish_and_clear();
    let templates: u64 = (0..n).map(|i| people.faces(i)).sum();
    let with_credentials = (0..n).filter(|&i| People::has_credentials(i)).count();
    let full = deltas::delta(LOCATION, 1, Kind::Full, Some(&key), changes);
    let full_sync_bytes = full.len();
    let build_s = t.elapsed().as_secs_f64();
    let (outcome, full_ms) = apply(&store, &full, out)?;
    drop(full);
    checks.check(
        "the full synchronisation is applied with every change",
        matches!(outcome, Outcome::Applied { sequence: 1, changes, .. } if changes == n + 2),
    );

    // 2. "Synchronize user": one user re-enrolled with a new capture.
    let again = chosen[0];
    let one = deltas::delta(
        LOCATION,
        2,
        Kind::Changes,
        None,
        vec![deltas::upsert_user(people.user(again, 1))],
    );
    let (outcome, one_ms) = apply(&store, &one, out)?;
    checks.check(
        "the synchronize-user delta is applied",
        matches!(outcome, Outcome::Applied { sequence: 2, .. }),
    );

    // 3. "Synchronize all changes": a few users re-enrolled, one deleted.
    let changed: Vec<usize> = chosen.iter().skip(1).take(CHANGED).copied().collect();
    let mut changes: Vec<Value> = changed
        .iter()
        .map(|&i| deltas::upsert_user(people.user(i, 2)))
        .collect();
    changes.push(deltas::delete_user(&user_id(gone)));
    let batch = deltas::delta(LOCATION, 3, Kind::Changes, None, changes);
    let (outcome, batch_ms) = apply(&store, &batch, out)?;
    checks.check(
        "the synchronize-all-changes delta is applied",
        matches!(outcome, Outcome::Applied { sequence: 3, .. }),
    );
    // Biometric data of the deleted user must not linger on the flash.
    store.erase_deleted()?;
    let (outcome, _) = apply(&store, &batch, out)?;
    checks.check(
        RESENT,
        matches!(outcome, Outcome::AlreadyApplied { sequence: 3, .. }),
    );

    // 4. Sync status and the digest the platform compares with its own.
    let status = store.sync_status();
    let Some(st) = status.first() else {
        return Err(Fail::new("demo: sync status lists no location"));
    };
    checks.check(
        format!("sync status: sequence 3 and {} users", n - 1),
        status.len() == 1 && st.sequence == 3 && st.users == n - 1,
    );
    let sync_status = StatusLine {
        location: st.location.clone(),
        sequence: st.sequence,
        users: st.users,
        faces: st.faces,
        fingers: st.fingers,
    };
    let digest = st.digest.clone();

    // 5. Lookups by credential, as a card reader, keypad or plate camera would do them.
    let mut lookups = Vec::new();
    if let Some(i) = (0..n).step_by(CREDENTIALS_EVERY).find(|&i| i != gone) {
        let card = People::card(i).to_ascii_lowercase();
        let plate = People::plate(i).to_ascii_lowercase().replace('-', " ");
        let expected = format!("{LOCATION}/{}", user_id(i));
        let asked = [
            (
                format!("card csn {card}"),
                store.lookup_card(None, "csn", &card, None)?,
            ),
            (
                "code (never shown)".to_string(),
                store.lookup_code(Some(LOCATION), &People::code(i))?,
            ),
            (
                format!("plate {plate:?}"),
                store.lookup_plate(None, &plate)?,
            ),
        ];
        for (what, found) in asked {
            let ok = who(&found) == expected;
            checks.check(format!("lookup {what}"), ok);
            lookups.push(LookupLine {
                lookup: what,
                expected: expected.clone(),
                found: who(&found),
                ok,
            });
        }
    }

    // Restart, as a terminal does after a power cut: checkpointed segments are mapped, not read.
    store.checkpoint()?;
    drop(store);
    let t = Instant::now();
    let store = Store::open(&dir, OpenOptions::new())?;
    let open_ms = ms(t.elapsed());
    checks.check(SAME_DIGEST, store.digest(LOCATION)? == digest);

    // Identify known users (fresh noisy captures) and strangers.
    let mut probes = Vec::new();
    for &i in &chosen {
        let label = format!("probe of {}", user_id(i));
        probes.push(probe(&store, label, Some(user_id(i)), &people.probe(i))?);
    }
    for s in 0..STRANGERS {
        let v = synth::gaussian_vec(seed, synth::STRANGER + s as u64, dim);
        probes.push(probe(&store, format!("stranger {}", s + 1), None, &v)?);
    }
    let label = format!("probe of {}", user_id(gone));
    let after = probe(&store, label, None, &people.probe(gone))?;

    // Identify by fingerprint: fresh impressions of enrolled fingers, a stranger's, the deleted
    // user's (when they had one).
    let t_finger = threshold_for_fmr(FINGER_FMR);
    let mut finger_probes: Vec<(String, Option<String>, Vec<Point>)> = (0..n)
        .step_by(CREDENTIALS_EVERY)
        .filter(|&i| i != gone)
        .take(FINGER_PROBES)
        .map(|i| {
            (
                format!("finger of {}", user_id(i)),
                Some(user_id(i)),
                people.impression(i, 1_000),
            )
        })
        .collect();
    finger_probes.push((
        "stranger's finger".into(),
        None,
        people.impression(n + 1, 0),
    ));
    if People::has_credentials(gone) {
        finger_probes.push((
            format!("finger of {}", user_id(gone)),
            None,
            people.impression(gone, 1_000),
        ));
    }
    let mut fingers = Vec::new();
    for (label, expected, pts) in finger_probes {
        let probe = FingerTemplate::from_points(&pts);
        let t = Instant::now();
        let hits =
            store.identify_finger(&FingerIdentify::new(probe.as_ref()).threshold(t_finger))?;
        let took = ms(t.elapsed());
        let found = hits.first().map(|h| h.user.clone());
        fingers.push(ProbeLine {
            ok: found == expected,
            probe: label,
            expected,
            found,
            score: hits.first().map(|h| f64::from(h.score)),
            ms: round3(took),
        });
    }
    let fingers_ok = fingers.iter().filter(|f| f.ok).count();

    let st = store.stats();
    let known_ok = probes
        .iter()
        .filter(|p| p.expected.is_some() && p.ok)
        .count();
    let strangers_ok = probes
        .iter()
        .filter(|p| p.expected.is_none() && p.ok)
        .count();
    let mut lat: Vec<f64> = probes.iter().chain([&after]).map(|p| p.ms).collect();
    lat.sort_by(f64::total_cmp);
    let median = lat[lat.len() / 2];
    #[cfg(feature = "vision")]
    let photos = if a.no_photos {
        None
    } else {
        Some(crate::demo_photos::run(&dir.with_extension("photos"))?)
    };
    #[cfg(feature = "vision")]
    checks.check(
        "faces from photos: every person identified, the stranger rejected",
        photos.as_ref().is_none_or(|p| p.ok),
    );
    let failed = checks.failed();
    let ok = known_ok == chosen.len()
        && strangers_ok == STRANGERS
        && after.ok
        && fingers_ok == fingers.len()
        && failed.is_empty();
    let report = Demo {
        ok,
        users: n,
        templates,
        with_credentials,
        dim,
        model,
        store: dir.clone(),
        temporary: a.store.is_none(),
        full_sync_bytes,
        build_s: round3(build_s),
        full_sync_ms: round3(full_ms),
        resynced: user_id(again),
        sync_user_ms: round3(one_ms),
        changed: changed.len(),
        sync_changes_ms: round3(batch_ms),
        sequence: 3,
        sync_status,
        digest,
        lookups,
        failed_checks: failed,
        open_ms: round3(open_ms),
        threshold: THRESHOLD,
        probes,
        removed: user_id(gone),
        after_removal: after,
        fingers,
        fingers_ok,
        finger_fmr: FINGER_FMR,
        finger_threshold: t_finger,
        identified: known_ok,
        strangers_rejected: strangers_ok,
        median_ms: round3(median),
        live: st.faces.live,
        live_fingers: st.fingers.live,
        dead: st.faces.dead,
        segments: st.faces.segments,
        kernel: st.kernel,
        #[cfg(feature = "vision")]
        photos,
    };
    if !ok {
        return Err(Fail::with("demo: some answers were wrong", report));
    }
    Ok(report)
}
