//! A platform delta, as bytes off the wire, applied to a fresh store: either refused with nothing
//! changed, or applied; never a panic.
#![no_main]

use edgeid::fs::SimFs;
use edgeid::{OpenOptions, Store};
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let fs = Arc::new(SimFs::new());
    let opts = OpenOptions::new().fs(fs).threads(1);
    // The model and dimension of the example deltas in testdata/sync, so the seeds apply.
    let store = Store::create(Path::new("/fuzz"), "w600k_mbf", 512, opts).expect("create");
    let before = store.snapshot();
    match store.apply_delta(data, &mut |_| {}) {
        Ok(_) => {
            // Whatever was applied is consistent enough to answer from.
            for s in store.sync_status() {
                let _ = store.digest(&s.location);
            }
        }
        Err(_) => {
            let after = store.snapshot();
            assert_eq!(
                before.seq(),
                after.seq(),
                "a refused delta changed the store"
            );
            assert_eq!(after.live_faces(), before.live_faces());
            assert_eq!(after.live_fingers(), before.live_fingers());
        }
    }
});
