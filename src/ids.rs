//! Ids and names as the platform sends them: user, template and location ids, model names. Shared
//! by faces, fingerprints, the catalog and the store.

use crate::error::{Error, Result};

/// Longest id (user, template, location) in bytes, as the platform sends them.
pub const MAX_ID_LEN: usize = 64;
/// Longest model name in bytes (stored in every segment header).
pub const MAX_MODEL_LEN: usize = 32;
/// Longest display name in bytes.
pub const MAX_NAME_LEN: usize = 256;

/// Bidirectional embeddings, overrides and isolates (U+202A..=U+202E, U+2066..=U+2069): printed
/// raw, they reorder the text around them, so `admin\u{202E}txt.exe` shows as something else.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The first character of `s` that must not appear in an id or a name: a control character (C0,
/// DEL, C1) or a bidi control. Ids and names end up in terminals, logs and door displays.
fn forbidden_char(s: &str) -> Option<char> {
    s.chars().find(|&c| c.is_control() || is_bidi_control(c))
}

/// Checks an id: 1..=64 bytes of UTF-8 without control or bidi-control characters.
pub fn check_id(what: &str, id: &str) -> Result<()> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(Error::Invalid(format!(
            "{what} id must be 1..={MAX_ID_LEN} bytes, got {} bytes",
            id.len()
        )));
    }
    if let Some(c) = forbidden_char(id) {
        return Err(Error::Invalid(format!(
            "{what} id {id:?} contains the control character U+{:04X}",
            c as u32
        )));
    }
    Ok(())
}

/// Checks a display name: at most 256 bytes of UTF-8 without control or bidi-control characters.
pub fn check_name(name: &str) -> Result<()> {
    if name.len() > MAX_NAME_LEN {
        return Err(Error::Invalid(format!(
            "longer than {MAX_NAME_LEN} bytes ({} bytes)",
            name.len()
        )));
    }
    if let Some(c) = forbidden_char(name) {
        return Err(Error::Invalid(format!(
            "name {name:?} contains the control character U+{:04X}",
            c as u32
        )));
    }
    Ok(())
}

/// Checks a model name: 1..=32 bytes of printable ASCII.
pub fn check_model(model: &str) -> Result<()> {
    if model.is_empty()
        || model.len() > MAX_MODEL_LEN
        || !model.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(Error::Invalid(format!(
            "model name must be 1..={MAX_MODEL_LEN} printable ASCII bytes, got {model:?}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(check_id("user", "").is_err());
        assert!(check_id("user", &"x".repeat(65)).is_err());
        assert!(check_id("user", "a\nb").is_err());
        assert!(check_id("user", "a\u{202E}b").is_err());
        assert!(check_id("user", "a\u{2066}b").is_err());
        assert!(check_id("user", "a\u{85}b").is_err());
        assert!(check_id("user", "Zoë-1").is_ok());
        assert!(check_name("Zoë \u{1F600}").is_ok());
        assert!(check_name("x\u{2069}").is_err());
        assert!(check_name(&"x".repeat(257)).is_err());
        assert!(check_id("user", "u-1001").is_ok());
        assert!(check_model("w600k_mbf").is_ok());
        assert!(check_model("bad model").is_err());
    }
}
