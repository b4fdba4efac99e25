//! The C API's entry points called with what a terminal's firmware passes through them: deltas from
//! the network, probes and dimensions from a camera pipeline, minutiae records from a sensor, ids
//! and credentials typed or read from a card. The buffers are honest (every pointer covers the
//! length given, as the header requires); their contents and the lengths are fuzzed. Whatever the
//! input: no panic (a caught panic is `EDGEID_ERR_PANIC`, which fails here too), every status is a
//! known one, every score is finite and in range ([-1, 1] faces, [0, 1] fingers), hit counts stay
//! within the buffers, and ids come back NUL-terminated at their length.
#![no_main]

use edgeid_ffi::face::{edgeid_face_identify, edgeid_face_verify};
use edgeid_ffi::finger::{
    edgeid_finger_compare, edgeid_finger_fmr_for_score, edgeid_finger_identify,
    edgeid_finger_threshold_for_fmr, edgeid_finger_verify,
};
use edgeid_ffi::lookup::{
    edgeid_check_code, edgeid_lookup_card, edgeid_lookup_code, edgeid_lookup_plate,
};
use edgeid_ffi::store::{edgeid_close, edgeid_create, edgeid_store_stats};
use edgeid_ffi::stream::edgeid_apply_delta_stream;
use edgeid_ffi::sync::{edgeid_apply_delta, edgeid_digest, edgeid_sync_status};
use edgeid_ffi::{
    edgeid_apply_result, edgeid_finger_hit, edgeid_hit, edgeid_location_status,
    edgeid_open_options, edgeid_stats, edgeid_status, edgeid_store, edgeid_user_ref,
};
use libfuzzer_sys::fuzz_target;
use std::ffi::{c_char, c_void};
use std::sync::OnceLock;

const DIM: usize = 512;
const MODEL: &str = "w600k_mbf";
const FULL: &[u8] = include_bytes!("../../testdata/sync/01-full.json");
const CHANGES: &[u8] = include_bytes!("../../testdata/sync/02-changes.json");

/// Reads the fuzz input piece by piece; an exhausted input reads as zeros / empty.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn u8(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        b
    }
    fn u64(&mut self) -> u64 {
        let mut v = [0u8; 8];
        for b in &mut v {
            *b = self.u8();
        }
        u64::from_le_bytes(v)
    }
    /// A length-prefixed (one byte) piece.
    fn bytes(&mut self) -> &'a [u8] {
        let n = usize::from(self.u8()).min(self.0.len());
        let (b, rest) = self.0.split_at(n);
        self.0 = rest;
        b
    }
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
    /// A threshold: mostly ordinary values, sometimes any bits (NaN, infinities).
    fn threshold(&mut self) -> f64 {
        match self.u8() % 4 {
            0 => f64::from_bits(self.u64()),
            n => f64::from(n) * 0.25 - 0.5,
        }
    }
    /// An id: one of the ids the store holds, or fuzzed bytes.
    fn id(&mut self, known: &'static [&'static str]) -> &'a [u8] {
        let sel = self.u8();
        if usize::from(sel) < known.len() {
            known[usize::from(sel)].as_bytes()
        } else {
            self.bytes()
        }
    }
}

const LOCATIONS: &[&str] = &["hq-amsterdam"];
const USERS: &[&str] = &["u-1001", "u-1003"];

fn opts() -> edgeid_open_options {
    edgeid_open_options {
        size: std::mem::size_of::<edgeid_open_options>() as u32,
        threads: 1,
        flags: 0,
        code_keys: std::ptr::null(),
        log: None,
        log_user_data: std::ptr::null_mut(),
    }
}

/// A temporary directory, in memory when the machine has /dev/shm: the C API opens real paths,
/// and the fsyncs of a store on a disk would make this target a hundred times slower.
fn tempdir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(t) = tempfile::tempdir_in(shm) {
            return t;
        }
    }
    tempfile::tempdir().expect("tempdir")
}

/// A new store in `dir`, through the C API.
fn create(dir: &std::path::Path) -> *mut edgeid_store {
    let path = dir.to_str().expect("utf-8 temp path");
    let mut store = std::ptr::null_mut();
    // SAFETY: every pointer covers its length; `store` is writable.
    let st = unsafe {
        edgeid_create(
            path.as_ptr().cast(),
            path.len(),
            MODEL.as_ptr().cast(),
            MODEL.len(),
            DIM,
            &opts(),
            &mut store,
        )
    };
    assert_eq!(st, edgeid_status::EDGEID_OK, "create");
    store
}

fn apply(store: *mut edgeid_store, delta: &[u8]) -> (edgeid_status, edgeid_apply_result) {
    // SAFETY: an all-zero apply result is a valid value (integers, enums with a zero variant).
    let mut r: edgeid_apply_result = unsafe { std::mem::zeroed() };
    r.size = std::mem::size_of::<edgeid_apply_result>() as u32;
    // SAFETY: `delta` covers its length; no progress callback; `r` is writable.
    let st = unsafe {
        edgeid_apply_delta(
            store,
            delta.as_ptr(),
            delta.len(),
            None,
            std::ptr::null_mut(),
            &mut r,
        )
    };
    (st, r)
}

/// The bytes `edgeid_apply_delta_stream` reads: `data`, handed out at most `step` bytes a time.
struct Feed<'a> {
    data: &'a [u8],
    step: usize,
}

/// Read callback over a [`Feed`].
///
/// # Safety
/// `user_data` is a `Feed`; `buf` has room for `cap` bytes.
unsafe extern "C" fn feed(user_data: *mut c_void, buf: *mut u8, cap: usize) -> isize {
    // SAFETY: the caller's contract.
    let f = unsafe { &mut *user_data.cast::<Feed<'_>>() };
    let n = f.data.len().min(f.step).min(cap);
    // SAFETY: `buf` has room for `cap` >= `n` bytes; `data` holds at least `n`.
    unsafe { std::ptr::copy_nonoverlapping(f.data.as_ptr(), buf, n) };
    f.data = &f.data[n..];
    n as isize
}

/// [`apply`] through `edgeid_apply_delta_stream`, read `step` bytes at a time.
fn apply_streamed(
    store: *mut edgeid_store,
    delta: &[u8],
    step: usize,
) -> (edgeid_status, edgeid_apply_result) {
    // SAFETY: as in `apply`.
    let mut r: edgeid_apply_result = unsafe { std::mem::zeroed() };
    r.size = std::mem::size_of::<edgeid_apply_result>() as u32;
    let mut f = Feed { data: delta, step };
    // SAFETY: `feed` reads the `Feed` passed as user data, which outlives the call; `r` is
    // writable.
    let st = unsafe {
        edgeid_apply_delta_stream(
            store,
            Some(feed),
            None,
            (&mut f as *mut Feed<'_>).cast(),
            &mut r,
        )
    };
    (st, r)
}

/// The store every query runs on: the example deltas of testdata/sync (users with faces, a
/// fingerprint, cards, codes, plates), applied through the C API once per process.
fn golden() -> *mut edgeid_store {
    static STORE: OnceLock<(tempfile::TempDir, usize)> = OnceLock::new();
    let (_, s) = STORE.get_or_init(|| {
        let tmp = tempdir();
        let store = create(&tmp.path().join("store"));
        for d in [FULL, CHANGES] {
            assert_eq!(apply(store, d).0, edgeid_status::EDGEID_OK, "example delta");
        }
        (tmp, store as usize)
    });
    *s as *mut edgeid_store
}

/// A status must be one the header defines; a panic caught at the boundary is a bug.
fn check_status(st: edgeid_status, what: &str) {
    assert!(
        edgeid_status::from_u32(st as u32).is_some(),
        "{what}: unknown status"
    );
    assert_ne!(st, edgeid_status::EDGEID_ERR_PANIC, "{what}: panicked");
}

fn check_id(buf: &[c_char], len: usize, what: &str) {
    assert!(
        len < buf.len(),
        "{what}: id length {len} overflows its buffer"
    );
    assert_eq!(buf[len], 0, "{what}: id not NUL-terminated");
    let bytes: Vec<u8> = buf[..len].iter().map(|&c| c as u8).collect();
    assert!(std::str::from_utf8(&bytes).is_ok(), "{what}: id not UTF-8");
}

fn check_face_hit(h: &edgeid_hit, what: &str) {
    assert!(
        h.score.is_finite() && (-1.0..=1.0).contains(&h.score),
        "{what}: face score {}",
        h.score
    );
    check_id(&h.location_id, h.location_id_len, what);
    check_id(&h.user_id, h.user_id_len, what);
    check_id(&h.template_id, h.template_id_len, what);
}

fn check_finger_hit(h: &edgeid_finger_hit, what: &str) {
    assert!(
        h.score.is_finite() && (0.0..=1.0).contains(&h.score),
        "{what}: finger score {}",
        h.score
    );
    check_id(&h.location_id, h.location_id_len, what);
    check_id(&h.user_id, h.user_id_len, what);
    check_id(&h.template_id, h.template_id_len, what);
}

/// A probe of `dim` floats: the stored faces' directions perturbed by the input, or raw bits.
fn probe(inp: &mut Input<'_>) -> Vec<f32> {
    let dim = match inp.u8() % 4 {
        0 => usize::from(inp.u8()) * 4,
        _ => DIM,
    };
    let raw = inp.u8() % 2 == 0;
    let bytes = inp.rest();
    (0..dim)
        .map(|i| {
            let b = |j: usize| {
                bytes
                    .get((i * 4 + j) % bytes.len().max(1))
                    .copied()
                    .unwrap_or(0)
            };
            if raw {
                f32::from_le_bytes([b(0), b(1), b(2), b(3)])
            } else {
                f32::from(b(0) as i8) / 16.0 + 0.01
            }
        })
        .collect()
}

/// A minutiae record: the example fingerprint (sometimes damaged) or the fuzzed bytes.
fn record<'a>(inp: &mut Input<'a>, owned: &'a mut Vec<u8>) -> &'a [u8] {
    const REC: &[u8] = include_bytes!("../../testdata/fingerprint/fvc2002/DB1_B/mindtct/101_2.iso");
    match inp.u8() % 3 {
        0 => {
            *owned = REC.to_vec();
            let at = inp.u64() as usize % owned.len();
            let v = inp.u8();
            owned[at] ^= v;
            owned
        }
        1 => REC,
        _ => inp.rest(),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input(data);
    let op = inp.u8();
    let store = if op & 0x80 != 0 {
        // A made-up handle: looked up, never dereferenced.
        inp.u64() as usize as *mut edgeid_store
    } else {
        golden()
    };
    match op % 8 {
        0 => {
            // A delta off the wire, applied to a fresh store.
            let tmp = tempdir();
            let fresh = create(&tmp.path().join("store"));
            // Bit 6 of the op: the same bytes as a stream, read in pieces of 1..=256 bytes.
            let streamed = op & 0x40 != 0;
            let (st, r) = if streamed {
                let step = usize::from(inp.u8()) + 1;
                apply_streamed(fresh, inp.rest(), step)
            } else {
                apply(fresh, inp.rest())
            };
            check_status(st, "apply_delta");
            if st == edgeid_status::EDGEID_OK {
                check_id(&r.location_id, r.location_id_len, "apply_delta");
            }
            let mut statuses = [edgeid_location_status {
                sequence: 0,
                users: 0,
                faces: 0,
                fingers: 0,
                location_id_len: 0,
                location_id: [0; 65],
                digest: [0; 65],
            }; 4];
            let mut n = 0;
            // SAFETY: the array holds `cap` entries; `n` is writable.
            let st = unsafe { edgeid_sync_status(fresh, statuses.as_mut_ptr(), 4, &mut n) };
            check_status(st, "sync_status");
            if streamed
                && r.outcome != edgeid_ffi::sync::edgeid_apply_outcome::EDGEID_OUTCOME_APPLIED
            {
                assert_eq!(
                    n, 0,
                    "a streamed delta that was not applied changed the store"
                );
            }
            for s in &statuses[..n.min(4)] {
                check_id(&s.location_id, s.location_id_len, "sync_status");
                let mut digest = [0 as c_char; 65];
                // SAFETY: the id covers its length; the digest buffer holds 65 bytes.
                let st = unsafe {
                    edgeid_digest(
                        fresh,
                        s.location_id.as_ptr(),
                        s.location_id_len,
                        digest.as_mut_ptr(),
                    )
                };
                assert_eq!(st, edgeid_status::EDGEID_OK, "digest of a listed location");
            }
            // SAFETY: an all-zero stats struct is valid; its size is set.
            let mut stats: edgeid_stats = unsafe { std::mem::zeroed() };
            stats.size = std::mem::size_of::<edgeid_stats>() as u32;
            // SAFETY: `stats` is writable and sized.
            check_status(unsafe { edgeid_store_stats(fresh, &mut stats) }, "stats");
            assert_eq!(edgeid_close(fresh), edgeid_status::EDGEID_OK);
        }
        1 => {
            let loc = inp.id(LOCATIONS);
            let all = inp.u8() % 2 == 0;
            let threshold = inp.threshold();
            let k = usize::from(inp.u8() % 12);
            let p = probe(&mut inp);
            let mut hits: Vec<edgeid_hit> = (0..k)
                // SAFETY: an all-zero hit is valid (a number, lengths, byte arrays).
                .map(|_| unsafe { std::mem::zeroed() })
                .collect();
            let mut n = usize::MAX;
            // SAFETY: the probe holds `p.len()` floats, the location its length (or NULL), the
            // hits buffer `k` entries.
            let st = unsafe {
                edgeid_face_identify(
                    store,
                    p.as_ptr(),
                    p.len(),
                    if all {
                        std::ptr::null()
                    } else {
                        loc.as_ptr().cast()
                    },
                    loc.len(),
                    threshold,
                    if k == 0 {
                        std::ptr::null_mut()
                    } else {
                        hits.as_mut_ptr()
                    },
                    k,
                    &mut n,
                )
            };
            check_status(st, "face_identify");
            if st == edgeid_status::EDGEID_OK {
                assert!(n <= k, "face_identify: {n} hits for k = {k}");
                for h in &hits[..n] {
                    check_face_hit(h, "face_identify");
                    assert!(
                        h.score >= threshold || threshold.is_nan(),
                        "face_identify: a hit below the threshold"
                    );
                }
            }
        }
        2 => {
            let loc = inp.id(LOCATIONS);
            let user = inp.id(USERS);
            let p = probe(&mut inp);
            // SAFETY: an all-zero hit is valid.
            let mut hit: edgeid_hit = unsafe { std::mem::zeroed() };
            // SAFETY: ids and probe cover their lengths; `hit` is writable.
            let st = unsafe {
                edgeid_face_verify(
                    store,
                    loc.as_ptr().cast(),
                    loc.len(),
                    user.as_ptr().cast(),
                    user.len(),
                    p.as_ptr(),
                    p.len(),
                    &mut hit,
                )
            };
            check_status(st, "face_verify");
            if st == edgeid_status::EDGEID_OK {
                check_face_hit(&hit, "face_verify");
            }
        }
        3 => {
            let loc = inp.id(LOCATIONS);
            let all = inp.u8() % 2 == 0;
            let threshold = inp.threshold();
            let k = usize::from(inp.u8() % 12);
            let format = u32::from(inp.u8() % 8);
            let position = i32::from(inp.u8() as i8);
            let mut owned = Vec::new();
            let rec = record(&mut inp, &mut owned);
            let mut hits: Vec<edgeid_finger_hit> = (0..k)
                // SAFETY: an all-zero finger hit is valid.
                .map(|_| unsafe { std::mem::zeroed() })
                .collect();
            let mut n = usize::MAX;
            // SAFETY: the record, location and hits buffers cover their lengths.
            let st = unsafe {
                edgeid_finger_identify(
                    store,
                    rec.as_ptr(),
                    rec.len(),
                    format,
                    position,
                    if all {
                        std::ptr::null()
                    } else {
                        loc.as_ptr().cast()
                    },
                    loc.len(),
                    threshold,
                    if k == 0 {
                        std::ptr::null_mut()
                    } else {
                        hits.as_mut_ptr()
                    },
                    k,
                    &mut n,
                )
            };
            check_status(st, "finger_identify");
            if st == edgeid_status::EDGEID_OK {
                assert!(n <= k, "finger_identify: {n} hits for k = {k}");
                for h in &hits[..n] {
                    check_finger_hit(h, "finger_identify");
                }
            }
        }
        4 => {
            let loc = inp.id(LOCATIONS);
            let user = inp.id(USERS);
            let format = u32::from(inp.u8() % 8);
            let position = i32::from(inp.u8() as i8);
            let mut owned = Vec::new();
            let rec = record(&mut inp, &mut owned);
            // SAFETY: an all-zero finger hit is valid.
            let mut hit: edgeid_finger_hit = unsafe { std::mem::zeroed() };
            // SAFETY: ids and record cover their lengths; `hit` is writable.
            let st = unsafe {
                edgeid_finger_verify(
                    store,
                    loc.as_ptr().cast(),
                    loc.len(),
                    user.as_ptr().cast(),
                    user.len(),
                    rec.as_ptr(),
                    rec.len(),
                    format,
                    position,
                    &mut hit,
                )
            };
            check_status(st, "finger_verify");
            if st == edgeid_status::EDGEID_OK {
                check_finger_hit(&hit, "finger_verify");
            }
        }
        5 => {
            let (fa, pa) = (u32::from(inp.u8() % 8), i32::from(inp.u8() as i8));
            let (fb, pb) = (u32::from(inp.u8() % 8), i32::from(inp.u8() as i8));
            let a = inp.bytes();
            let mut owned = Vec::new();
            let b = record(&mut inp, &mut owned);
            let mut score = f64::NAN;
            // SAFETY: both records cover their lengths; `score` is writable.
            let st = unsafe {
                edgeid_finger_compare(
                    a.as_ptr(),
                    a.len(),
                    fa,
                    pa,
                    b.as_ptr(),
                    b.len(),
                    fb,
                    pb,
                    &mut score,
                )
            };
            check_status(st, "finger_compare");
            if st == edgeid_status::EDGEID_OK {
                assert!(
                    score.is_finite() && (0.0..=1.0).contains(&score),
                    "finger_compare: score {score}"
                );
            }
            let x = f64::from_bits(inp.u64());
            let mut out = f64::NAN;
            // SAFETY: `out` is writable.
            check_status(
                unsafe { edgeid_finger_threshold_for_fmr(x, &mut out) },
                "threshold_for_fmr",
            );
            // SAFETY: `out` is writable.
            let st = unsafe { edgeid_finger_fmr_for_score(x, &mut out) };
            check_status(st, "fmr_for_score");
            if st == edgeid_status::EDGEID_OK {
                assert!((0.0..=1.0).contains(&out), "fmr_for_score: {out}");
            }
        }
        _ => {
            // Lookups with fuzzed ids and credentials.
            let loc = inp.id(LOCATIONS);
            let all = inp.u8() % 2 == 0;
            let locp: *const c_char = if all {
                std::ptr::null()
            } else {
                loc.as_ptr().cast()
            };
            let which = inp.u8() % 5;
            let a = inp.bytes();
            let b = inp.bytes();
            let facility = inp.u64() as i64;
            // SAFETY: an all-zero user ref is valid.
            let mut user: edgeid_user_ref = unsafe { std::mem::zeroed() };
            let mut found = false;
            // SAFETY (all calls below): every buffer covers its length; outputs are writable.
            let st = unsafe {
                match which {
                    0 => edgeid_lookup_card(
                        store,
                        locp,
                        loc.len(),
                        a.as_ptr().cast(),
                        a.len(),
                        b.as_ptr().cast(),
                        b.len(),
                        facility,
                        &mut user,
                        &mut found,
                    ),
                    1 => edgeid_lookup_code(
                        store,
                        locp,
                        loc.len(),
                        a.as_ptr().cast(),
                        a.len(),
                        &mut user,
                        &mut found,
                    ),
                    2 => edgeid_lookup_plate(
                        store,
                        locp,
                        loc.len(),
                        a.as_ptr().cast(),
                        a.len(),
                        &mut user,
                        &mut found,
                    ),
                    3 => edgeid_check_code(
                        store,
                        loc.as_ptr().cast(),
                        loc.len(),
                        a.as_ptr().cast(),
                        a.len(),
                        b.as_ptr().cast(),
                        b.len(),
                        &mut found,
                    ),
                    _ => {
                        let mut digest = [0 as c_char; 65];
                        edgeid_digest(store, loc.as_ptr().cast(), loc.len(), digest.as_mut_ptr())
                    }
                }
            };
            check_status(st, "lookup");
            if st == edgeid_status::EDGEID_OK && found && which < 3 {
                check_id(&user.location_id, user.location_id_len, "lookup");
                check_id(&user.user_id, user.user_id_len, "lookup");
            }
        }
    }
});
