//! The exact syntax of the values inside a delta (`docs/sync-protocol.md`, "Exact syntax"): one
//! accepted spelling where a platform's library could produce several, so what the terminal accepts,
//! what it indexes and what the digest hashes (the string as sent) cannot disagree.
//!
//! Also the JSON-level rule simd-json does not enforce: an object may not repeat a key. Its
//! borrowed values keep the first of two equal keys in small objects and the last in large ones,
//! while most platform libraries keep the last, so a repeated key would make the terminal and
//! the platform read (and hash) different documents.

use super::Refusal;
use base64::Engine;
use simd_json::tape::Node;

/// Where a node is, for the error message (built only when there is an error).
enum Seg<'a> {
    Key(&'a str),
    Idx(usize),
}

fn path_text(segs: &[Seg<'_>]) -> String {
    let mut out = String::new();
    for s in segs {
        match s {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Idx(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Refuses a document in which an object repeats a key (after unescaping: `"a"` and `"\u0061"` are
/// the same key), naming the first repeated key. `nodes` is a simd-json tape.
pub fn unique_keys(nodes: &[Node<'_>]) -> Result<(), Refusal> {
    let mut i = 0;
    let mut path = Vec::new();
    if nodes.is_empty() {
        return Ok(());
    }
    walk(nodes, &mut i, &mut path)
}

fn walk<'a>(nodes: &[Node<'a>], i: &mut usize, path: &mut Vec<Seg<'a>>) -> Result<(), Refusal> {
    match nodes[*i] {
        Node::Object { len, .. } => {
            *i += 1;
            let mut small: Vec<&str> = Vec::new();
            let mut large: std::collections::HashSet<&str> = Default::default();
            for _ in 0..len {
                let Node::String(k) = nodes[*i] else {
                    unreachable!("a tape object alternates string keys and values")
                };
                *i += 1;
                let seen = if len <= 16 {
                    let s = small.contains(&k);
                    small.push(k);
                    s
                } else {
                    !large.insert(k)
                };
                path.push(Seg::Key(k));
                if seen {
                    return Err(Refusal::Invalid {
                        path: path_text(path),
                        message: "duplicate key (each key may appear once in an object)".into(),
                    });
                }
                walk(nodes, i, path)?;
                path.pop();
            }
        }
        Node::Array { len, .. } => {
            *i += 1;
            for j in 0..len {
                path.push(Seg::Idx(j));
                walk(nodes, i, path)?;
                path.pop();
            }
        }
        Node::String(_) | Node::Static(_) => *i += 1,
    }
    Ok(())
}

/// Decodes base64: RFC 4648 §4 (standard alphabet `A–Z a–z 0–9 + /`), padded with `=` to a multiple
/// of 4 characters, no whitespace or line breaks, unused trailing bits zero — so one byte string
/// has exactly one accepted spelling.
pub fn base64(s: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| format!("not base64 (RFC 4648 section 4, padded): {e}"))
}

/// Normalises a card credential to its lookup key. Formats: `csn` (a string of hex digits, an even
/// number 2..=32 of them, case-insensitive), `wiegand26` (facility 0..=255, number 0..=65535),
/// `wiegand34` (facility 0..=65535, number 0..=65535); a Wiegand number as sent in a string is
/// decimal digits without sign, spaces or leading zeros.
pub fn card_key(format: &str, number: &str, facility: Option<u64>) -> Result<String, String> {
    match format {
        "csn" => {
            let n = number;
            if n.len() < 2 || n.len() > 32 || !n.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("csn must be 2..=32 hex digits, got {number:?}"));
            }
            if !n.len().is_multiple_of(2) {
                return Err(format!(
                    "csn must be whole bytes (an even number of hex digits), got {number:?}"
                ));
            }
            if facility.is_some() {
                return Err("csn cards have no facility".into());
            }
            Ok(format!("csn:{}", n.to_ascii_uppercase()))
        }
        "wiegand26" | "wiegand34" => {
            let fmax = if format == "wiegand26" { 255 } else { 65_535 };
            let f = facility.ok_or_else(|| format!("{format} needs a facility code"))?;
            if f > fmax {
                return Err(format!("{format} facility must be 0..={fmax}, got {f}"));
            }
            let n = decimal(number)
                .map_err(|m| format!("{format} number must be {m}, got {number:?}"))?;
            if n > 65_535 {
                return Err(format!("{format} number must be 0..=65535, got {n}"));
            }
            let tag = if format == "wiegand26" { "w26" } else { "w34" };
            Ok(format!("{tag}:{f}:{n}"))
        }
        other => Err(format!(
            "unknown card format {other:?} (known: csn, wiegand26, wiegand34)"
        )),
    }
}

/// A number written in a string: decimal digits only, no leading zeros (`0` itself is fine).
fn decimal(s: &str) -> Result<u64, &'static str> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("decimal digits only (no sign, no spaces)");
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err("written without leading zeros");
    }
    s.parse()
        .map_err(|_| "decimal digits only (no sign, no spaces)")
}

/// Normalises a licence plate: ASCII letters upper-cased, spaces, dashes and dots removed; 1..=16
/// ASCII letters and digits remain. Non-ASCII letters are refused: upper-casing them differs
/// between platforms (`ß`, `ǅ`), and no two spellings of one plate may exist.
pub fn plate_key(p: &str) -> Result<String, String> {
    let k: String = p
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if k.is_empty() || k.len() > 16 || !k.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!(
            "plate must be 1..=16 ASCII letters or digits after removing spaces, dashes and dots, got {p:?}"
        ));
    }
    Ok(k)
}

/// Checks an access code: 4..=12 decimal digits.
pub fn check_code(c: &str) -> Result<(), String> {
    if !(4..=12).contains(&c.len()) || !c.bytes().all(|b| b.is_ascii_digit()) {
        return Err("access code must be 4..=12 digits".into());
    }
    Ok(())
}

/// A time of day `HH:MM` (two digits each), 00:00..=23:59 or 24:00; minutes since midnight.
pub fn hhmm(s: &str) -> Result<u16, String> {
    let b = s.as_bytes();
    let digits = |x: &[u8]| -> Option<u16> {
        x.iter()
            .all(u8::is_ascii_digit)
            .then(|| x.iter().fold(0, |a, d| a * 10 + u16::from(d - b'0')))
    };
    if b.len() == 5 && b[2] == b':' {
        if let (Some(h), Some(m)) = (digits(&b[..2]), digits(&b[3..])) {
            if (h < 24 && m < 60) || (h == 24 && m == 0) {
                return Ok(h * 60 + m);
            }
        }
    }
    Err(format!("expected HH:MM (00:00..=24:00), got {s:?}"))
}

/// The factors of an authentication mode.
pub const FACTORS: &[&str] = &["face", "finger", "card", "code", "plate", "id"];

/// Checks an authentication mode (`docs/sync-protocol.md`, "Authentication modes"): steps joined
/// by `+`, each step one factor or alternatives joined by `|` (`card+face|code`: a card, then a
/// face or a code); factors from [`FACTORS`], each at most once in a mode; `id` (a typed user id)
/// never alone in a step's alternatives and never the whole mode (it names the user and proves
/// nothing).
pub fn mode(m: &str) -> Result<(), String> {
    let err = |why: &str| {
        format!(
            "mode {m:?}: {why} (factors {} joined by '+', alternatives by '|')",
            FACTORS.join(", ")
        )
    };
    let mut seen = Vec::new();
    let steps: Vec<&str> = m.split('+').collect();
    for step in &steps {
        let alts: Vec<&str> = step.split('|').collect();
        for f in &alts {
            if !FACTORS.contains(f) {
                return Err(err(&format!("unknown factor {f:?}")));
            }
            if seen.contains(f) {
                return Err(err(&format!("{f} appears twice")));
            }
            seen.push(f);
            if *f == "id" && alts.len() > 1 {
                return Err(err("id cannot be an alternative"));
            }
        }
    }
    if steps == ["id"] {
        return Err(err("id alone proves nothing"));
    }
    Ok(())
}

/// The time-and-attendance punches.
pub const PUNCHES: &[&str] = &[
    "check_in",
    "check_out",
    "break_out",
    "break_in",
    "overtime_in",
    "overtime_out",
];

/// A calendar date `YYYY-MM-DD` (a holiday).
pub fn date(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    let parts = ok.then(|| (s[..4].parse(), s[5..7].parse(), s[8..].parse()));
    match parts {
        Some((Ok(y), Ok(m), Ok(d))) if jiff::civil::Date::new(y, m, d).is_ok() => Ok(()),
        _ => Err(format!("expected a date YYYY-MM-DD, got {s:?}")),
    }
}

/// A time stamp: `YYYY-MM-DDTHH:MM:SSZ` or `YYYY-MM-DDTHH:MM:SS±hh:mm` — RFC 3339 with an
/// upper-case `T` and `Z`, whole seconds (no `:60`, no fraction), an offset -23:59..=+23:59 that
/// is not zero (UTC is written `Z`, so `+00:00` and `-00:00` are refused). Unix seconds.
pub fn timestamp(s: &str) -> Result<i64, String> {
    let err = |why: &str| {
        format!(
            "{s:?} is not a time stamp YYYY-MM-DDTHH:MM:SSZ or YYYY-MM-DDTHH:MM:SS+hh:mm ({why})"
        )
    };
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i32> {
        let x = b.get(r)?;
        x.iter()
            .all(u8::is_ascii_digit)
            .then(|| x.iter().fold(0, |a, d| a * 10 + i32::from(d - b'0')))
    };
    let shape = b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':';
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(sec)) = (
        num(0..4),
        num(5..7),
        num(8..10),
        num(11..13),
        num(14..16),
        num(17..19),
    ) else {
        return Err(err("layout"));
    };
    if !shape {
        return Err(err("layout"));
    }
    let offset = match &b[19..] {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (Some(oh), Some(om)) = (num(20..22), num(23..25)) else {
                return Err(err("offset"));
            };
            if oh > 23 || om > 59 {
                return Err(err("offset out of range"));
            }
            if oh == 0 && om == 0 {
                return Err(err("UTC is written Z"));
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'-' {
                -o
            } else {
                o
            }
        }
        _ => {
            return Err(err(
                "expected Z or an offset +hh:mm / -hh:mm after the seconds",
            ))
        }
    };
    if h > 23 || mi > 59 || sec > 59 {
        return Err(err("time of day out of range"));
    }
    let date =
        jiff::civil::Date::new(y as i16, mo as i8, d as i8).map_err(|_| err("no such date"))?;
    let dt = date.at(h as i8, mi as i8, sec as i8, 0);
    let off = jiff::tz::Offset::from_seconds(offset).map_err(|_| err("offset"))?;
    off.to_timestamp(dt)
        .map(|t| t.as_second())
        .map_err(|_| err("out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_stamps_have_one_spelling() {
        assert_eq!(timestamp("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(timestamp("1970-01-01T01:00:00+01:00"), Ok(0));
        assert_eq!(timestamp("1969-12-31T23:30:00-00:30"), Ok(0));
        for bad in [
            "1970-01-01T00:00:00+00:00",
            "1970-01-01T00:00:00-00:00",
            "1970-01-01T00:00:00",
            "1970-01-01T00:00:00.000Z",
            "1970-01-01T00:00:60Z",
            "1970-1-01T00:00:00Z",
            "+970-01-01T00:00:00Z",
            "1970-01-01T00:00:00+1:00",
            "1970-01-01T00:00:00+01:00 ",
        ] {
            assert!(timestamp(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hours_and_numbers_are_digits() {
        assert_eq!(hhmm("24:00"), Ok(1440));
        assert_eq!(hhmm("07:05"), Ok(425));
        for bad in ["+7:00", "7:00", "07:0+", "24:01", "07:60", " 7:00"] {
            assert!(hhmm(bad).is_err(), "{bad}");
        }
        assert_eq!(decimal("0"), Ok(0));
        assert_eq!(decimal("65535"), Ok(65535));
        for bad in ["", "+5", " 5", "5 ", "05", "-0", "1e3"] {
            assert!(decimal(bad).is_err(), "{bad}");
        }
    }
}
