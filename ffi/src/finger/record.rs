//! Fingerprint arguments: a record with its `edgeid_finger_format` and finger position, parsed
//! strictly, and score thresholds.

use super::{edgeid_finger_format, EDGEID_FINGER_POSITION_FROM_RECORD, EDGEID_FINGER_POSITION_MAX};
use crate::args;
use crate::status::edgeid_status::*;
use crate::status::{Failure, FfiResult};
use engine::finger::enroll::select_view;
use engine::finger::{parse_with, FingerTemplate, Format, FormatError, Mode, Record};

/// The record format a `format` argument names (None: detect).
fn format_arg(what: &str, code: u32) -> FfiResult<Option<Format>> {
    use edgeid_finger_format::*;
    const fn n(f: edgeid_finger_format) -> u32 {
        f as u32
    }
    Ok(match code {
        c if c == n(EDGEID_FINGER_FORMAT_DETECT) => None,
        c if c == n(EDGEID_FINGER_FORMAT_ISO2005) => Some(Format::Iso2005),
        c if c == n(EDGEID_FINGER_FORMAT_ANSI378) => Some(Format::Ansi2004),
        c if c == n(EDGEID_FINGER_FORMAT_ISO2011) => Some(Format::Iso2011),
        c if c == n(EDGEID_FINGER_FORMAT_CARD_NORMAL) => Some(Format::IsoCardNormal),
        c if c == n(EDGEID_FINGER_FORMAT_CARD_COMPACT) => Some(Format::IsoCardCompact),
        c => {
            return Err(Failure::new(
                EDGEID_ERR_UNSUPPORTED,
                format!(
                    "{what}: {c} is not an edgeid_finger_format this version knows (0..={})",
                    n(EDGEID_FINGER_FORMAT_CARD_COMPACT)
                ),
            ))
        }
    })
}

/// The finger position a `position` argument names (None: from the record).
fn position_arg(position: i32) -> FfiResult<Option<u8>> {
    match position {
        EDGEID_FINGER_POSITION_FROM_RECORD => Ok(None),
        p @ 0..=EDGEID_FINGER_POSITION_MAX => Ok(Some(p as u8)),
        p => Err(Failure::new(
            EDGEID_ERR_INVALID,
            format!(
                "position must be 0..={EDGEID_FINGER_POSITION_MAX} or \
                 EDGEID_FINGER_POSITION_FROM_RECORD (-1), got {p}"
            ),
        )),
    }
}

/// A record argument, parsed strictly, with the view to use.
pub(super) struct RecordArg<'a> {
    /// The record's bytes.
    pub(super) data: &'a [u8],
    /// The format named (None: detected).
    pub(super) format: Option<Format>,
    /// The parsed record.
    pub(super) parsed: Record,
    /// Index of the view and the finger position to record.
    pub(super) view: (usize, u8),
}

/// Reads a record argument, parses it and picks the finger view it names (no cylinders built).
///
/// # Safety
/// A non-NULL `ptr` must point to `len` readable bytes that stay valid for `'a`.
pub(super) unsafe fn record_arg<'a>(
    what: &str,
    ptr: *const u8,
    len: usize,
    format: u32,
    position: i32,
) -> FfiResult<RecordArg<'a>> {
    // SAFETY: forwarded contract.
    let data = unsafe { args::slice(what, ptr, len) }?;
    let format = format_arg(&format!("{what}'s format"), format)?;
    let position = position_arg(position)?;
    let unreadable = |e: FormatError| {
        let named = format.map_or(String::new(), |f| format!(" (as {})", f.standard_name()));
        Failure::new(
            EDGEID_ERR_INVALID,
            format!("{what}{named} cannot be read: {e}"),
        )
    };
    let parsed = parse_with(data, format, Mode::Strict).map_err(unreadable)?;
    let view = select_view(&parsed, position).map_err(unreadable)?;
    Ok(RecordArg {
        data,
        format,
        parsed,
        view,
    })
}

/// Reads a record argument and prepares the finger view it names: the template and its position.
///
/// # Safety
/// A non-NULL `ptr` must point to `len` readable bytes.
pub(crate) unsafe fn record(
    what: &str,
    ptr: *const u8,
    len: usize,
    format: u32,
    position: i32,
) -> FfiResult<(FingerTemplate, u8)> {
    // SAFETY: forwarded contract.
    let r = unsafe { record_arg(what, ptr, len, format, position) }?;
    let t = FingerTemplate::from_record(&r.parsed, r.view.0)
        .map_err(|e| Failure::new(EDGEID_ERR_INVALID, format!("{what} cannot be read: {e}")))?;
    Ok((t, r.view.1))
}

/// The smallest `f32` at least `t` (finite `t`), so that comparing an `f32` score with it gives
/// the same answer as comparing that score, widened to `double`, with `t` in C.
pub(super) fn f32_at_least(t: f64) -> f32 {
    let f = t as f32;
    if f64::from(f) < t {
        f.next_up()
    } else {
        f
    }
}

/// Fails unless a threshold is a finite number.
pub(super) fn check_threshold(threshold: f64) -> FfiResult {
    if threshold.is_finite() {
        Ok(())
    } else {
        Err(Failure::new(
            EDGEID_ERR_INVALID,
            format!("threshold must be a finite number, got {threshold}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_numbers_are_stable_and_cover_every_format() {
        let mut seen = Vec::new();
        for code in 0..=5 {
            seen.push(format_arg("f", code).unwrap());
        }
        assert_eq!(seen[0], None);
        let named: Vec<Format> = seen[1..].iter().map(|f| f.unwrap()).collect();
        assert_eq!(named.len(), Format::ALL.len());
        for f in Format::ALL {
            assert!(named.contains(&f), "{f} has no edgeid_finger_format");
        }
        let e = format_arg("f", 6).unwrap_err();
        assert_eq!(e.status, EDGEID_ERR_UNSUPPORTED);
        assert_eq!(
            format_arg("f", u32::MAX).unwrap_err().status,
            EDGEID_ERR_UNSUPPORTED
        );
    }

    #[test]
    fn positions() {
        assert_eq!(position_arg(-1).unwrap(), None);
        assert_eq!(position_arg(0).unwrap(), Some(0));
        assert_eq!(position_arg(10).unwrap(), Some(10));
        for p in [-2, 11, 255, i32::MIN, i32::MAX] {
            assert_eq!(position_arg(p).unwrap_err().status, EDGEID_ERR_INVALID);
        }
    }

    #[test]
    fn thresholds_round_up_to_f32() {
        for t in [0.0, 0.1, 0.032_081_73, 1.0 / 3.0, -1.0, 1e-40, 2.0] {
            let f = f32_at_least(t);
            assert!(f64::from(f) >= t, "{t} -> {f}");
            assert!(
                f64::from(f.next_down()) < t,
                "{t} -> {f} is not the smallest"
            );
        }
    }
}
