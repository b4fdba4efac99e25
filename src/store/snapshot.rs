//! What a search sees: an immutable view of segments, tails and catalog.

use super::segment::{all_rows, live_rows, FaceSegment, FingerSegment, SegState};
use crate::catalog::Catalog;
use crate::finger::prefilter::Frequencies;
use std::sync::Arc;

/// An immutable view of the store: what a search sees. Commits publish new snapshots; a search keeps
/// the one it started with, so readers never wait on writers and never see half a commit.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub(crate) dim: usize,
    pub(crate) model: String,
    /// Face segments and tail blocks.
    pub(crate) faces: Vec<SegState<FaceSegment>>,
    /// Finger segments and tail blocks.
    pub(crate) fingers: Vec<SegState<FingerSegment>>,
    /// Prefilter key frequencies over the live finger templates.
    pub(crate) finger_freq: Arc<Frequencies>,
    /// Sequence number of the last commit visible here.
    pub(crate) seq: u64,
    /// Users, credentials, rights and sync state, consistent with the templates.
    pub(crate) catalog: Catalog,
}

impl Snapshot {
    /// Live face templates.
    pub fn live_faces(&self) -> usize {
        live_rows(&self.faces)
    }
    /// Live fingerprint templates.
    pub fn live_fingers(&self) -> usize {
        live_rows(&self.fingers)
    }
    /// Face rows held, live or dead (what a face scan reads).
    pub(crate) fn face_rows(&self) -> usize {
        all_rows(&self.faces)
    }
    /// Embedding dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// Face model name.
    pub fn model(&self) -> &str {
        &self.model
    }
    /// Sequence number of the last commit this snapshot includes.
    pub fn seq(&self) -> u64 {
        self.seq
    }
    /// The catalog (users, credentials, rights, schedules, doors, sync state) of this snapshot.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }
    /// Prefilter key frequencies over the live fingerprint templates (kept current by every commit).
    pub fn finger_frequencies(&self) -> &Frequencies {
        &self.finger_freq
    }
    /// Users (location, user) holding at least one face or fingerprint template, and the locations
    /// they belong to. Counts by scanning every live template: O(templates), for reports, not for
    /// a door's hot path.
    pub fn template_users(&self) -> (usize, usize) {
        let users: std::collections::HashSet<(&str, &str)> = self
            .face_templates()
            .map(|(l, u, _, _)| (l, u))
            .chain(self.finger_templates().map(|(l, u, _, _, _)| (l, u)))
            .collect();
        let locations: std::collections::HashSet<&str> = users.iter().map(|&(l, _)| l).collect();
        (users.len(), locations.len())
    }
    /// Every live fingerprint template as (location, user, template, position, prepared bytes).
    pub fn finger_templates(&self) -> impl Iterator<Item = (&str, &str, &str, u8, &[u8])> {
        self.fingers.iter().flat_map(|s| {
            s.live_rows().map(move |r| {
                let (l, u, t) = s.seg.row_ids(r);
                (l, u, t, s.seg.position(r), s.seg.record(r))
            })
        })
    }
    /// Every live face template as (location, user, template, normalised embedding), for reference
    /// checks and export.
    pub fn face_templates(&self) -> impl Iterator<Item = (&str, &str, &str, &[f32])> {
        self.faces.iter().flat_map(|s| {
            s.live_rows().map(move |r| {
                let (l, u, t) = s.seg.row_ids(r);
                (l, u, t, s.seg.vector(r))
            })
        })
    }
}
