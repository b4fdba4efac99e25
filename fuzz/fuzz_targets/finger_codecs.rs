//! The five fingerprint template codecs and the prepared-template reader on arbitrary bytes:
//! a clear error or a usable template, never a panic; what parses re-encodes and compares.
#![no_main]

use edgeid::finger::{compare, parse_with, FingerTemplate, Format, Mode, TemplateRef};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for format in Format::ALL {
        for mode in [Mode::Strict, Mode::Lenient] {
            let Ok(record) = parse_with(data, Some(format), mode) else {
                continue;
            };
            // What was read can be written again and read back.
            if let Ok(bytes) = record.encode() {
                let _ = parse_with(&bytes, Some(format), Mode::Strict);
            }
            for to in Format::ALL {
                let _ = record.convert(to);
            }
        }
    }
    if let Ok(t) = FingerTemplate::from_record_bytes(data) {
        let s = compare(&t.as_ref(), &t.as_ref());
        assert!((0.0..=1.0).contains(&s), "score {s} outside [0, 1]");
    }
    // A prepared template as read from a mapped segment: the header is checked before use.
    if let Ok(t) = TemplateRef::from_bytes(data) {
        let s = compare(&t, &t);
        assert!(s.is_finite(), "score {s} not finite");
    }
});
