//! A face embedding file (raw little-endian f32 or a JSON array), then validation and
//! normalisation: an error or a unit vector, never a panic.
#![no_main]

use edgeid::face::{normalize, parse_embedding_file};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = parse_embedding_file(data) else {
        return;
    };
    if let Ok(n) = normalize(&v, v.len()) {
        let norm: f64 = n.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        assert!((norm - 1.0).abs() < 1e-3, "norm {norm}");
    }
});
