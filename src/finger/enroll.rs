//! From a stored record to the template the index keeps: which view of a record is enrolled.
//!
//! A record may hold several finger views (ISO/ANSI allow up to 16 per record); an enrolled template
//! is one finger. A record with one view enrols it; with several, the view at the requested finger
//! position is enrolled when exactly one matches, and anything else is refused rather than guessed.

use super::codec::{parse_with, Format, FormatError, Mode, Record};
use super::template::FingerTemplate;

/// A fingerprint record made ready for the finger index: what the store logs and keeps.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The prepared template's bytes (`finger::template`).
    pub record: Vec<u8>,
    /// Finger position recorded with it.
    pub position: u8,
    /// Format of the source record.
    pub format: Format,
}

/// Parses a minutiae record strictly (`format` detected when `None`; card formats must be named)
/// and prepares the view to enrol (see [`enrol_view`]): what the store does with every fingerprint
/// it is given, before committing.
pub fn prepare(
    source: &[u8],
    format: Option<Format>,
    position: Option<u8>,
) -> Result<Prepared, FormatError> {
    let format = match format {
        Some(f) => f,
        None => super::detect(source)?,
    };
    let (t, view_position) =
        enrol_view(&parse_with(source, Some(format), Mode::Strict)?, position)?;
    Ok(Prepared {
        record: t.as_bytes().to_vec(),
        position: position.unwrap_or(view_position),
        format,
    })
}

/// Picks the view of a parsed record to enrol (see the module docs) and checks it can be prepared,
/// without building cylinders (what a caller that only validates needs). Returns the view's index
/// and the finger position to record (for card formats, which carry none, `position` or 0).
pub fn select_view(rec: &Record, position: Option<u8>) -> Result<(usize, u8), FormatError> {
    let index = match (rec.views.len(), position) {
        (0, _) => return Err(FormatError("the record holds no finger view".into())),
        (1, _) => 0,
        (n, Some(p)) => {
            let at: Vec<usize> = (0..n).filter(|&i| rec.views[i].position == p).collect();
            match at[..] {
                [i] => i,
                [] => {
                    return Err(FormatError(format!(
                        "the record holds {n} views and none of finger position {p}"
                    )))
                }
                _ => {
                    return Err(FormatError(format!(
                    "the record holds {} views of finger position {p}; enrol one view per template",
                    at.len()
                )))
                }
            }
        }
        (n, None) => {
            return Err(FormatError(format!(
                "the record holds {n} finger views; name the finger position to enrol"
            )))
        }
    };
    let view = &rec.views[index];
    view.normalized(rec.format)?;
    let pos = if rec.format.is_card() {
        position.unwrap_or(view.position)
    } else {
        view.position
    };
    Ok((index, pos))
}

/// Picks the view of a parsed record to enrol ([`select_view`]) and prepares it. Returns the
/// template and the finger position to record.
///
/// A view with no usable local structure (no valid cylinder: too few or too sparse minutiae) is
/// refused: enrolled, it could never match anyone, and the person would be locked out without a word.
pub fn enrol_view(rec: &Record, position: Option<u8>) -> Result<(FingerTemplate, u8), FormatError> {
    let (index, pos) = select_view(rec, position)?;
    let t = FingerTemplate::from_record(rec, index)?;
    if t.as_ref().n_cyl() == 0 {
        return Err(FormatError(format!(
            "the finger view has {} minutiae and no usable local structure (too few or too sparse \
             minutiae): it could never match; capture the finger again",
            t.as_ref().n_min()
        )));
    }
    Ok((t, pos))
}
