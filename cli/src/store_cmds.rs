//! Commands that work on one store directory: init, face add/remove/identify/verify, stats,
//! compact, verify.

use crate::args::{RemoveArgs, SearchArgs, StoreArg, TemplateAt, VerifyAt};
use crate::out::{
    check_is_store, count, human_bytes, ms, open_read_only, open_store, read_embedding, round3,
    CmdResult, Fail, Report, Text,
};
use crate::templates::{self, Added, Kind, Removed};
use clap::Args;
use edgeid::store::IndexStats;
use edgeid::{Change, FaceHit, FaceIdentify, OpenOptions, Store};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

/// Options for commands that do not search: no search thread pool to start.
pub fn quiet_opts() -> OpenOptions {
    OpenOptions::new().threads(1)
}

#[derive(Args)]
pub struct InitArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Face model whose embeddings the store will hold (e.g. w600k_mbf).
    #[arg(long)]
    model: String,
    /// Embedding dimension of that model.
    #[arg(long)]
    dim: usize,
}

#[derive(Serialize)]
pub struct Created {
    store: PathBuf,
    model: String,
    dim: usize,
    seq: u64,
}

impl Report for Created {
    fn text(&self, t: &mut Text) {
        t.line(format_args!(
            "created store {}: model {}, dim {}",
            self.store.display(),
            self.model,
            self.dim
        ));
    }
}

pub fn init(a: &InitArgs) -> CmdResult<Created> {
    let dir = &a.store.store;
    let store = Store::create(dir, &a.model, a.dim, quiet_opts())?;
    let st = store.stats();
    Ok(Created {
        store: dir.clone(),
        model: st.model,
        dim: st.dim,
        seq: st.seq,
    })
}

#[derive(Args)]
pub struct AddArgs {
    #[command(flatten)]
    at: TemplateAt,
    /// Embedding: the store's dimension of little-endian f32, or a JSON array of numbers.
    #[arg(required_unless_present = "image")]
    file: Option<PathBuf>,
    /// Enrol the face of this JPEG/PNG image instead (refused when it fails the quality gate).
    #[cfg(feature = "vision")]
    #[arg(long, conflicts_with = "file")]
    image: Option<PathBuf>,
    #[cfg(feature = "vision")]
    #[command(flatten)]
    vision: crate::vision_cmds::VisionOpts,
}

/// The probe or template of a command: from an image (feature `vision`) or an embedding file.
pub(crate) fn embedding_of(
    store: &Store,
    file: &Option<PathBuf>,
    #[cfg(feature = "vision")] image: &Option<PathBuf>,
    #[cfg(feature = "vision")] vision: &crate::vision_cmds::VisionOpts,
    #[cfg(feature = "vision")] gate: bool,
) -> Result<(Vec<f32>, Option<FaceInfo>), Fail> {
    let snap = store.snapshot();
    #[cfg(feature = "vision")]
    if let Some(img) = image {
        let (e, info) = crate::vision_cmds::probe(vision, img, snap.model(), snap.dim(), gate)?;
        return Ok((e, Some(info)));
    }
    let file = file
        .as_ref()
        .ok_or_else(|| Fail::new("give an embedding FILE or --image"))?;
    Ok((read_embedding(file, snap.dim())?, None))
}

#[cfg(feature = "vision")]
type FaceInfo = crate::vision_cmds::FaceInfo;
/// Without the `vision` feature there is never an image probe.
#[cfg(not(feature = "vision"))]
#[derive(Serialize, Clone)]
pub struct FaceInfo;

pub fn add(a: &AddArgs) -> CmdResult<Added> {
    let store = open_store(&a.at.store.store, quiet_opts())?;
    let (embedding, _) = embedding_of(
        &store,
        &a.file,
        #[cfg(feature = "vision")]
        &a.image,
        #[cfg(feature = "vision")]
        &a.vision,
        #[cfg(feature = "vision")]
        true,
    )?;
    let change = Change::PutFace {
        location: a.at.who.location.clone(),
        user: a.at.who.user.clone(),
        template: a.at.template.clone(),
        embedding,
    };
    templates::put(&store, Kind::Face, &a.at, change)
}

/// Faces only: the user's fingerprints stay (`edgeid finger remove` removes those).
pub fn remove(a: &RemoveArgs) -> CmdResult<Removed> {
    let store = open_store(&a.store.store, quiet_opts())?;
    templates::remove(&store, Kind::Face, a)
}

#[derive(Args)]
pub struct IdentifyArgs {
    #[command(flatten)]
    search: SearchArgs,
    /// Only users scoring at least this cosine similarity (-1..=1).
    #[arg(long, allow_negative_numbers = true)]
    threshold: Option<f64>,
    /// Only users scoring at least the recogniser's calibrated threshold for this false-match
    /// rate (its descriptor in models/).
    #[cfg(feature = "vision")]
    #[arg(long, conflicts_with = "threshold")]
    fmr: Option<f64>,
    /// Probe embedding: the store's dimension of little-endian f32, or a JSON array.
    #[arg(required_unless_present = "image")]
    file: Option<PathBuf>,
    /// Identify the face of this JPEG/PNG image instead.
    #[cfg(feature = "vision")]
    #[arg(long, conflicts_with = "file")]
    image: Option<PathBuf>,
    #[cfg(feature = "vision")]
    #[command(flatten)]
    vision: crate::vision_cmds::VisionOpts,
}

/// One user found by a face search.
#[derive(Serialize)]
pub struct Hit {
    location: String,
    user: String,
    template: String,
    score: f64,
}

impl From<FaceHit> for Hit {
    fn from(h: FaceHit) -> Hit {
        Hit {
            location: h.location,
            user: h.user,
            template: h.template,
            score: h.score,
        }
    }
}

#[derive(Serialize)]
pub struct Identified {
    /// The face found in `--image`, its quality and timings.
    #[serde(skip_serializing_if = "Option::is_none")]
    face: Option<FaceInfo>,
    hits: Vec<Hit>,
    k: u64,
    threshold: Option<f64>,
    location: Option<String>,
    /// Live face templates in the store.
    searched: usize,
    ms: f64,
    kernel: &'static str,
}

impl Report for Identified {
    fn text(&self, t: &mut Text) {
        #[cfg(feature = "vision")]
        if let Some(f) = &self.face {
            f.text(t);
        }
        if self.hits.is_empty() {
            match self.threshold {
                Some(th) => t.line(format_args!("no match (no user scores {th} or more)")),
                None => t.line("no match (the store holds no templates here)"),
            }
        }
        for (i, h) in self.hits.iter().enumerate() {
            t.line(format_args!(
                "{:>3}. {:<24} score {:.4}  (location {}, template {})",
                i + 1,
                h.user,
                h.score,
                h.location,
                h.template
            ));
        }
        t.line(format_args!(
            "searched {} in {:.2} ms (kernel {})",
            count(self.searched, "template"),
            self.ms,
            self.kernel
        ));
    }
}

pub fn identify(a: &IdentifyArgs) -> CmdResult<Identified> {
    let s = &a.search;
    let store = open_read_only(&s.store.store, OpenOptions::new())?;
    let (probe, face) = embedding_of(
        &store,
        &a.file,
        #[cfg(feature = "vision")]
        &a.image,
        #[cfg(feature = "vision")]
        &a.vision,
        #[cfg(feature = "vision")]
        false,
    )?;
    #[cfg(feature = "vision")]
    let threshold = match a.fmr {
        Some(f) => Some(crate::vision_cmds::threshold_for_fmr(&a.vision, f)?),
        None => a.threshold,
    };
    #[cfg(not(feature = "vision"))]
    let threshold = a.threshold;
    let mut req = FaceIdentify::new(&probe).k(s.k as usize);
    if let Some(t) = threshold {
        req = req.threshold(t);
    }
    if let Some(l) = &s.location {
        req = req.location(l);
    }
    let t = Instant::now();
    let hits = store.identify_face(&req)?;
    let took = ms(t.elapsed());
    Ok(Identified {
        face,
        hits: hits.into_iter().map(Hit::from).collect(),
        k: s.k,
        threshold,
        location: s.location.clone(),
        searched: store.snapshot().live_faces(),
        ms: round3(took),
        kernel: store.kernels().name,
    })
}

#[derive(Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    at: VerifyAt,
    /// Also decide: accept when the score is at least this.
    #[arg(long, allow_negative_numbers = true)]
    threshold: Option<f64>,
    /// Decide at the recogniser's calibrated threshold for this false-match rate.
    #[cfg(feature = "vision")]
    #[arg(long, conflicts_with = "threshold")]
    fmr: Option<f64>,
    /// Probe embedding: the store's dimension of little-endian f32, or a JSON array.
    #[arg(required_unless_present = "image")]
    file: Option<PathBuf>,
    /// Verify the face of this JPEG/PNG image instead.
    #[cfg(feature = "vision")]
    #[arg(long, conflicts_with = "file")]
    image: Option<PathBuf>,
    #[cfg(feature = "vision")]
    #[command(flatten)]
    vision: crate::vision_cmds::VisionOpts,
}

#[derive(Serialize)]
pub struct Verified {
    /// The face found in `--image`, its quality and timings.
    #[serde(skip_serializing_if = "Option::is_none")]
    face: Option<FaceInfo>,
    location: String,
    user: String,
    /// The user's best-scoring template.
    template: String,
    score: f64,
    threshold: Option<f64>,
    accepted: Option<bool>,
    ms: f64,
}

impl Report for Verified {
    fn text(&self, t: &mut Text) {
        #[cfg(feature = "vision")]
        if let Some(f) = &self.face {
            f.text(t);
        }
        let decision = match (self.accepted, self.threshold) {
            (Some(true), Some(th)) => format!(" — accepted (>= {th})"),
            (Some(false), Some(th)) => format!(" — rejected (< {th})"),
            _ => String::new(),
        };
        t.line(format_args!(
            "user {} at {}: score {:.4} (best template {}){decision}, {:.3} ms",
            self.user, self.location, self.score, self.template, self.ms
        ));
    }
}

pub fn verify_face(a: &VerifyArgs) -> CmdResult<Verified> {
    let who = &a.at.who;
    let store = open_read_only(&a.at.store.store, quiet_opts())?;
    let (probe, face) = embedding_of(
        &store,
        &a.file,
        #[cfg(feature = "vision")]
        &a.image,
        #[cfg(feature = "vision")]
        &a.vision,
        #[cfg(feature = "vision")]
        false,
    )?;
    #[cfg(feature = "vision")]
    let threshold = match a.fmr {
        Some(f) => Some(crate::vision_cmds::threshold_for_fmr(&a.vision, f)?),
        None => a.threshold,
    };
    #[cfg(not(feature = "vision"))]
    let threshold = a.threshold;
    let t = Instant::now();
    let hit = store.verify_face(&who.location, &who.user, &probe)?;
    let took = ms(t.elapsed());
    let Some(hit) = hit else {
        return Err(Fail::new(format!(
            "user {} has no templates at location {}",
            who.user, who.location
        )));
    };
    Ok(Verified {
        face,
        location: who.location.clone(),
        user: who.user.clone(),
        template: hit.template,
        score: hit.score,
        threshold,
        accepted: threshold.map(|t| hit.score >= t),
        ms: round3(took),
    })
}

/// `edgeid stats`. Each index's figures are under `indexes.faces` and `indexes.fingers`; the face
/// index's also keep
/// their historical top-level keys (`live`, `dead`, …) and the finger index's their prefixed ones.
#[derive(Serialize)]
pub struct StatsReport {
    store: PathBuf,
    model: String,
    dim: usize,
    users: usize,
    locations: usize,
    live: usize,
    dead: usize,
    segments: usize,
    tail_rows: usize,
    /// Bytes of the face and finger segment files.
    segment_bytes: u64,
    wal_bytes: u64,
    fingers: usize,
    fingers_dead: usize,
    finger_segments: usize,
    finger_tail_rows: usize,
    seq: u64,
    kernel: &'static str,
    finger_kernel: &'static str,
    files: Vec<String>,
    indexes: Indexes,
    /// The error of housekeeping that could not be done (e.g. the erasure due at open, on a full
    /// disk); absent when none is pending.
    #[serde(skip_serializing_if = "Option::is_none")]
    maintenance_error: Option<String>,
}

/// Each index's counts and sizes, side by side.
#[derive(Serialize)]
pub struct Indexes {
    faces: IndexStats,
    fingers: IndexStats,
}

impl Report for StatsReport {
    fn text(&self, t: &mut Text) {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        t.line(format_args!("store      {}", self.store.display()));
        t.line(format_args!("model      {} (dim {})", self.model, self.dim));
        t.line(format_args!(
            "users      {} in {} location{}",
            self.users,
            self.locations,
            plural(self.locations)
        ));
        t.line(format_args!(
            "templates  {} live, {} dead (deleted, not yet compacted away)",
            self.live, self.dead
        ));
        t.line(format_args!(
            "fingers    {} live, {} dead; {} finger segment{}, {} tail rows",
            self.fingers,
            self.fingers_dead,
            self.finger_segments,
            plural(self.finger_segments),
            self.finger_tail_rows
        ));
        t.line(format_args!(
            "segments   {} ({})",
            self.segments,
            human_bytes(self.segment_bytes)
        ));
        t.line(format_args!(
            "log        {} tail rows ({})",
            self.tail_rows,
            human_bytes(self.wal_bytes)
        ));
        t.line(format_args!("seq        {}", self.seq));
        t.line(format_args!(
            "kernel     {} (fingerprints {})",
            self.kernel, self.finger_kernel
        ));
        t.line(format_args!("files      {}", self.files.join(", ")));
        if let Some(e) = &self.maintenance_error {
            t.line(format_args!("pending    housekeeping failed: {e}"));
        }
    }
}

pub fn stats(a: &StoreArg) -> CmdResult<StatsReport> {
    let store = open_read_only(&a.store, quiet_opts())?;
    let st = store.stats();
    let (users, locations) = store.snapshot().template_users();
    Ok(StatsReport {
        store: a.store.clone(),
        model: st.model,
        dim: st.dim,
        users,
        locations,
        live: st.faces.live,
        dead: st.faces.dead,
        segments: st.faces.segments,
        tail_rows: st.faces.tail_rows,
        segment_bytes: st.faces.segment_bytes + st.fingers.segment_bytes,
        wal_bytes: st.wal_bytes,
        fingers: st.fingers.live,
        fingers_dead: st.fingers.dead,
        finger_segments: st.fingers.segments,
        finger_tail_rows: st.fingers.tail_rows,
        seq: st.seq,
        kernel: st.kernel,
        finger_kernel: st.finger_kernel,
        files: st.files,
        indexes: Indexes {
            faces: st.faces,
            fingers: st.fingers,
        },
        maintenance_error: st.maintenance_error,
    })
}

/// Bytes on disk: segment files of both indexes and the log.
fn disk_bytes(st: &edgeid::Stats) -> u64 {
    st.faces.segment_bytes + st.fingers.segment_bytes + st.wal_bytes
}

#[derive(Serialize)]
pub struct Compacted {
    ms: f64,
    live: usize,
    dead_removed: usize,
    /// Log rows checkpointed into segments.
    tail_rows_checkpointed: usize,
    segments_before: usize,
    segments_after: usize,
    bytes_before: u64,
    bytes_after: u64,
}

impl Report for Compacted {
    fn text(&self, t: &mut Text) {
        t.line(format_args!(
            "compacted in {:.1} ms: {} removed, {} checkpointed, segments {} -> {}, {} -> {}",
            self.ms,
            count(self.dead_removed, "dead row"),
            count(self.tail_rows_checkpointed, "tail row"),
            self.segments_before,
            self.segments_after,
            human_bytes(self.bytes_before),
            human_bytes(self.bytes_after)
        ));
    }
}

pub fn compact(a: &StoreArg) -> CmdResult<Compacted> {
    let store = open_store(&a.store, quiet_opts())?;
    let before = store.stats();
    let t = Instant::now();
    store.compact()?;
    let took = ms(t.elapsed());
    let after = store.stats();
    Ok(Compacted {
        ms: round3(took),
        live: after.faces.live,
        dead_removed: before.faces.dead - after.faces.dead,
        tail_rows_checkpointed: before.faces.tail_rows,
        segments_before: before.faces.segments,
        segments_after: after.faces.segments,
        bytes_before: disk_bytes(&before),
        bytes_after: disk_bytes(&after),
    })
}

#[derive(Serialize)]
pub struct Checked {
    ok: bool,
    segments: usize,
    segment_bytes: u64,
    wal_bytes: u64,
    live: usize,
    fingers: usize,
    ms: f64,
}

impl Report for Checked {
    fn text(&self, t: &mut Text) {
        t.line(format_args!(
            "ok: {} ({}) checksummed, log ({}) replayed, {}, {}, in {:.1} ms",
            count(self.segments, "segment"),
            human_bytes(self.segment_bytes),
            human_bytes(self.wal_bytes),
            count(self.live, "live face template"),
            count(self.fingers, "live fingerprint template"),
            self.ms
        ));
    }
}

pub fn verify_store(a: &StoreArg) -> CmdResult<Checked> {
    // Opening already checks the manifest, segment headers and tables, deletion files and every
    // log record; verify_checksums then reads every vector byte.
    let damaged = |e: edgeid::Error| match e {
        edgeid::Error::Corrupt { .. } | edgeid::Error::Version { .. } => {
            Fail::new(format!("damage found: {e}"))
        }
        other => other.into(),
    };
    check_is_store(&a.store)?;
    let store = Store::open(&a.store, quiet_opts().read_only(true)).map_err(damaged)?;
    let t = Instant::now();
    let segments = store.verify_checksums().map_err(damaged)?;
    let took = ms(t.elapsed());
    let st = store.stats();
    Ok(Checked {
        ok: true,
        segments,
        segment_bytes: st.faces.segment_bytes + st.fingers.segment_bytes,
        wal_bytes: st.wal_bytes,
        live: st.faces.live,
        fingers: st.fingers.live,
        ms: round3(took),
    })
}
