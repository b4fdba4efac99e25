//! Ids and names as the platform sends them: user, template and location ids, model names. Shared
//! by faces, fingerprints, the catalog and the store.

use crate::error::{Error, Result};

/// Longest id (user, template, location) in bytes, as the platform sends them.
pub const MAX_ID_LEN: usize = 64;
/// Longest model name in bytes (stored in every segment header).
pub const MAX_MODEL_LEN: usize = 32;
/// Checks an id: 1..=64 bytes of UTF-8 without control characters.
pub fn check_id(what: &str, id: &str) -> Result<()> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(Error::Invalid(format!(
            "{what} id must be 1..={MAX_ID_LEN} bytes, got {} bytes",
            id.len()
        )));
    }
    if id.chars().any(char::is_control) {
        return Err(Error::Invalid(format!(
            "{what} id {id:?} contains a control character"
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
        assert!(check_id("user", "u-1001").is_ok());
        assert!(check_model("w600k_mbf").is_ok());
        assert!(check_model("bad model").is_err());
    }
}
