//! Authentication modes: which factors a door (or a user's personal mode) asks for.
//!
//! A mode is steps joined by `+`, each step one factor or alternatives joined by `|`:
//! `card+face|code` is a card, then a face or a code. A door lists several modes (any one of
//! them opens it), each with an optional schedule outside which it is not offered. Factors:
//! `face`, `finger`, `card`, `code`, `plate`, `id` (a typed user id). The syntax is checked where
//! a delta is read (`sync::syntax::mode`, the same rules); this is the reading the decision uses.
//!
//! Card, id and plate **name** the user: with one of them, a face or fingerprint is a 1:1
//! verification against that user's templates, never a 1:N search. A face or fingerprint alone
//! identifies 1:N; a code alone identifies by its keyed hash.

use crate::error::{Error, Result};

/// One credential kind a reader collects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Factor {
    /// A face (embedding or probe).
    Face,
    /// A fingerprint template.
    Finger,
    /// A card.
    Card,
    /// An access code.
    Code,
    /// A licence plate.
    Plate,
    /// A typed user id.
    Id,
}

/// Every factor, in the order decisions list them.
pub const ALL_FACTORS: [Factor; 6] = [
    Factor::Card,
    Factor::Id,
    Factor::Plate,
    Factor::Code,
    Factor::Face,
    Factor::Finger,
];

impl Factor {
    /// Its name in modes and reports.
    pub fn name(self) -> &'static str {
        match self {
            Factor::Face => "face",
            Factor::Finger => "finger",
            Factor::Card => "card",
            Factor::Code => "code",
            Factor::Plate => "plate",
            Factor::Id => "id",
        }
    }

    /// The factor of a name.
    pub fn parse(s: &str) -> Option<Factor> {
        ALL_FACTORS.into_iter().find(|f| f.name() == s)
    }

    /// Whether it names the user (card, id, plate): a biometric with it is a 1:1 verification.
    pub fn names_user(self) -> bool {
        matches!(self, Factor::Card | Factor::Id | Factor::Plate)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of factors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Factors(u8);

impl Factors {
    /// Adds a factor.
    pub fn insert(&mut self, f: Factor) {
        self.0 |= f.bit();
    }
    /// Whether it holds `f`.
    pub fn contains(self, f: Factor) -> bool {
        self.0 & f.bit() != 0
    }
    /// Empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The factors in it, in [`ALL_FACTORS`] order.
    pub fn iter(self) -> impl Iterator<Item = Factor> {
        ALL_FACTORS.into_iter().filter(move |f| self.contains(*f))
    }
}

/// A parsed mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mode {
    text: String,
    steps: Vec<Vec<Factor>>,
}

impl Mode {
    /// Parses a mode (see the module docs); the same rules as a delta's.
    pub fn parse(s: &str) -> Result<Mode> {
        let mut steps = Vec::new();
        let mut seen = Factors::default();
        for step in s.split('+') {
            let mut alts = Vec::new();
            for name in step.split('|') {
                let f = Factor::parse(name).ok_or_else(|| {
                    Error::Invalid(format!("mode {s:?}: unknown factor {name:?}"))
                })?;
                if seen.contains(f) {
                    return Err(Error::Invalid(format!("mode {s:?}: {name} appears twice")));
                }
                seen.insert(f);
                alts.push(f);
            }
            if alts.contains(&Factor::Id) && alts.len() > 1 {
                return Err(Error::Invalid(format!(
                    "mode {s:?}: id cannot be an alternative"
                )));
            }
            steps.push(alts);
        }
        if steps == [vec![Factor::Id]] {
            return Err(Error::Invalid(format!(
                "mode {s:?}: id alone proves nothing"
            )));
        }
        Ok(Mode {
            text: s.to_string(),
            steps,
        })
    }

    /// As written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Every factor the mode names.
    pub fn factors(&self) -> Factors {
        let mut out = Factors::default();
        for f in self.steps.iter().flatten() {
            out.insert(*f);
        }
        out
    }

    /// The factors of `verified` that satisfy every step (the first verified alternative of
    /// each), or `None` when a step has none.
    pub fn satisfied_by(&self, verified: Factors) -> Option<Factors> {
        let mut used = Factors::default();
        for step in &self.steps {
            used.insert(*step.iter().find(|f| verified.contains(**f))?);
        }
        Some(used)
    }

    /// Whether `verified` satisfies at least one step (the user has begun this mode).
    pub fn begun_by(&self, verified: Factors) -> bool {
        self.steps
            .iter()
            .any(|s| s.iter().any(|f| verified.contains(*f)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(fs: &[Factor]) -> Factors {
        let mut s = Factors::default();
        for f in fs {
            s.insert(*f);
        }
        s
    }

    #[test]
    fn steps_and_alternatives() {
        let m = Mode::parse("card+face|code").unwrap();
        use Factor::*;
        assert!(m.satisfied_by(set(&[Card, Face])).is_some());
        assert_eq!(m.satisfied_by(set(&[Card, Code])), Some(set(&[Card, Code])));
        assert!(m.satisfied_by(set(&[Card])).is_none());
        assert!(m.satisfied_by(set(&[Face, Code])).is_none());
        assert!(m.begun_by(set(&[Card])));
        assert!(!m.begun_by(set(&[Plate])));
        for bad in [
            "",
            "card+",
            "card+card",
            "id",
            "id|card",
            "face+Face",
            "card++code",
        ] {
            assert!(Mode::parse(bad).is_err(), "{bad}");
        }
        assert!(Mode::parse("id+face").is_ok());
    }
}
