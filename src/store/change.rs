//! What a commit is made of: the changes a caller asks for, face and fingerprint alike.

use crate::finger::Format;

/// One change in a commit.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Inserts a face template, replacing one with the same (location, user, template) ids.
    PutFace {
        /// Location id.
        location: String,
        /// User id.
        user: String,
        /// Template id.
        template: String,
        /// The embedding as the model produced it (normalised by the store).
        embedding: Vec<f32>,
    },
    /// Removes one template; refused if it does not exist.
    RemoveFace {
        /// Location id.
        location: String,
        /// User id.
        user: String,
        /// Template id.
        template: String,
    },
    /// Enrols a fingerprint from a minutiae record, replacing a template with the same (location,
    /// user, template) ids. The store parses the record strictly, prepares it for the matcher and
    /// keeps both (see `fsegment` for why); a record it cannot read refuses the commit.
    PutFinger {
        /// Location id.
        location: String,
        /// User id.
        user: String,
        /// Template id.
        template: String,
        /// The minutiae record (ISO/IEC 19794-2:2005 or 2011, ANSI/INCITS 378-2004, ISO card).
        record: Vec<u8>,
        /// Its format; `None` detects it from the header (card formats must be named).
        format: Option<Format>,
        /// Finger position (ISO/IEC 19794-2 code: 0 unknown, 1 right thumb … 10 left little): picks
        /// the view of a record with several and is recorded for card formats; `None` takes the
        /// record's.
        position: Option<u8>,
    },
    /// Removes one fingerprint template; refused if it does not exist.
    RemoveFinger {
        /// Location id.
        location: String,
        /// User id.
        user: String,
        /// Template id.
        template: String,
    },
    /// Removes every face and fingerprint template of a user; refused if the user has none.
    RemoveUser {
        /// Location id.
        location: String,
        /// User id.
        user: String,
    },
    /// Removes every face template of a user (fingerprints stay); refused if the user has none.
    RemoveUserFaces {
        /// Location id.
        location: String,
        /// User id.
        user: String,
    },
    /// Removes every fingerprint template of a user (faces stay); refused if the user has none.
    RemoveUserFingers {
        /// Location id.
        location: String,
        /// User id.
        user: String,
    },
}

impl Change {
    /// (location, user, template) of the templates this change names (`None`: all of the user's).
    pub fn ids(&self) -> (&str, &str, Option<&str>) {
        match self {
            Change::PutFace {
                location,
                user,
                template,
                ..
            }
            | Change::RemoveFace {
                location,
                user,
                template,
            }
            | Change::PutFinger {
                location,
                user,
                template,
                ..
            }
            | Change::RemoveFinger {
                location,
                user,
                template,
            } => (location, user, Some(template)),
            Change::RemoveUser { location, user }
            | Change::RemoveUserFaces { location, user }
            | Change::RemoveUserFingers { location, user } => (location, user, None),
        }
    }
}

/// What a commit did to the templates it names: what a caller reports to a person.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Committed {
    /// Sequence number of the commit (the store's current one when nothing needed writing).
    pub seq: u64,
    /// Templates added under new ids.
    pub added: usize,
    /// Templates that replaced one with the same (location, user, template) ids.
    pub replaced: usize,
    /// Templates put again unchanged: nothing was written for them.
    pub unchanged: usize,
    /// Templates removed.
    pub removed: usize,
    /// The commit is durable, but the housekeeping after it (a checkpoint or the erasure of deleted
    /// templates) failed, typically on a full disk; it is retried by the next commit or
    /// `Store::maintain`, and its error is in `Store::maintenance_error` and `Stats`.
    pub maintenance_pending: bool,
}
