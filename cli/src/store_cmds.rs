//! Commands that work on one store directory: init, face add/remove/identify/verify, stats,
//! compact, verify.

use crate::out::{
    check_is_store, count, human_bytes, ms, open_store, read_embedding, round3, CmdResult, Fail,
    Out,
};
use crate::StoreArg;
use clap::Args;
use edgeid::{Change, FaceIdentify, OpenOptions, Store};
use serde_json::json;
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

/// Location used when none is given: a terminal that serves one site needs no location ids.
pub const DEFAULT_LOCATION: &str = "local";

/// Options for commands that do not search: no search thread pool to start.
fn quiet_opts() -> OpenOptions {
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

pub fn init(a: &InitArgs, out: Out) -> CmdResult {
    let dir = &a.store.store;
    let store = Store::create(dir, &a.model, a.dim, quiet_opts())?;
    let st = store.stats();
    out.line(format_args!(
        "created store {}: model {}, dim {}",
        dir.display(),
        st.model,
        st.dim
    ));
    Ok(json!({ "store": dir, "model": st.model, "dim": st.dim, "seq": st.seq }))
}

#[derive(Args)]
pub struct AddArgs {
    #[command(flatten)]
    store: StoreArg,
    /// User id.
    #[arg(long)]
    user: String,
    /// Template id (a user may have several; adding an existing one replaces it).
    #[arg(long)]
    template: String,
    /// Location id.
    #[arg(long, default_value = DEFAULT_LOCATION)]
    location: String,
    /// Embedding: the store's dimension of little-endian f32, or a JSON array of numbers.
    file: PathBuf,
}

pub fn add(a: &AddArgs, out: Out) -> CmdResult {
    let store = open_store(&a.store.store, quiet_opts())?;
    let embedding = read_embedding(&a.file, store.snapshot().dim())?;
    let done = store.commit(&[Change::PutFace {
        location: a.location.clone(),
        user: a.user.clone(),
        template: a.template.clone(),
        embedding,
    }])?;
    let seq = done.seq;
    let live = store.snapshot().live_faces();
    // Same ids as a template already held (replaced, or put again unchanged).
    let replaced = done.added == 0;
    out.line(format_args!(
        "{} template {} of user {} at {} (seq {seq}, {})",
        if replaced { "replaced" } else { "added" },
        a.template,
        a.user,
        a.location,
        count(live, "live template")
    ));
    Ok(json!({
        "location": a.location, "user": a.user, "template": a.template,
        "replaced": replaced, "seq": seq, "live": live,
    }))
}

/// Arguments of `face remove` and `finger remove`.
#[derive(Args)]
pub struct RemoveArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// User id.
    #[arg(long)]
    pub user: String,
    /// Remove only this template (default: every template of the user of this kind, face or
    /// fingerprint).
    #[arg(long)]
    pub template: Option<String>,
    /// Location id.
    #[arg(long, default_value = DEFAULT_LOCATION)]
    pub location: String,
}

pub fn remove(a: &RemoveArgs, out: Out) -> CmdResult {
    let store = open_store(&a.store.store, quiet_opts())?;
    // Faces only: the user's fingerprints stay (`edgeid finger remove` removes those).
    let change = match &a.template {
        Some(t) => Change::RemoveFace {
            location: a.location.clone(),
            user: a.user.clone(),
            template: t.clone(),
        },
        None => Change::RemoveUserFaces {
            location: a.location.clone(),
            user: a.user.clone(),
        },
    };
    let commit = store.commit(&[change]);
    // The library's message names the batch position ("change 0"); say it in the user's terms.
    let done = commit.map_err(|e| match e {
        edgeid::Error::NotFound(_) => Fail::new(match &a.template {
            Some(t) => format!(
                "user {} has no template {t} at location {}",
                a.user, a.location
            ),
            None => format!(
                "user {} has no templates at location {}",
                a.user, a.location
            ),
        }),
        other => other.into(),
    })?;
    let (seq, removed) = (done.seq, done.removed);
    // Biometric data must not linger: checkpoint, compact and scrub now rather than within the
    // store's erase deadline.
    let t = Instant::now();
    let still_mapped = store.erase_deleted()?;
    let erase_ms = ms(t.elapsed());
    let what = match &a.template {
        Some(t) => format!("template {t} of user {}", a.user),
        None => format!("user {}", a.user),
    };
    out.line(format_args!(
        "removed {what} at {} ({}, seq {seq})",
        a.location,
        count(removed, "template")
    ));
    if still_mapped == 0 {
        out.line(format_args!(
            "erased from disk now: log checkpointed, segments rewritten, old files overwritten and deleted ({erase_ms:.1} ms)"
        ));
    } else {
        out.line(format_args!(
            "erased from the store's files; {still_mapped} old file(s) still in use will be overwritten at the next commit"
        ));
    }
    Ok(json!({
        "location": a.location, "user": a.user, "template": a.template,
        "removed": removed, "seq": seq, "erased": still_mapped == 0,
        "files_pending_erase": still_mapped, "erase_ms": round3(erase_ms),
    }))
}

#[derive(Args)]
pub struct IdentifyArgs {
    #[command(flatten)]
    store: StoreArg,
    /// How many users to list, best first.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    k: u64,
    /// Only users scoring at least this cosine similarity (-1..=1).
    #[arg(long, allow_negative_numbers = true)]
    threshold: Option<f64>,
    /// Only users of this location.
    #[arg(long)]
    location: Option<String>,
    /// Probe embedding: the store's dimension of little-endian f32, or a JSON array.
    file: PathBuf,
}

pub fn identify(a: &IdentifyArgs, out: Out) -> CmdResult {
    let store = open_store(&a.store.store, OpenOptions::new())?;
    let probe = read_embedding(&a.file, store.snapshot().dim())?;
    let mut req = FaceIdentify::new(&probe).k(a.k as usize);
    if let Some(t) = a.threshold {
        req = req.threshold(t);
    }
    if let Some(l) = &a.location {
        req = req.location(l);
    }
    let t = Instant::now();
    let hits = store.identify_face(&req)?;
    let took = ms(t.elapsed());
    let live = store.snapshot().live_faces();
    if hits.is_empty() {
        match a.threshold {
            Some(t) => out.line(format_args!("no match (no user scores {t} or more)")),
            None => out.line("no match (the store holds no templates here)"),
        }
    }
    for (i, h) in hits.iter().enumerate() {
        out.line(format_args!(
            "{:>3}. {:<24} score {:.4}  (location {}, template {})",
            i + 1,
            h.user,
            h.score,
            h.location,
            h.template
        ));
    }
    out.line(format_args!(
        "searched {} in {took:.2} ms (kernel {})",
        count(live, "template"),
        store.kernels().name
    ));
    let hits: Vec<_> = hits
        .iter()
        .map(|h| json!({"location": h.location, "user": h.user, "template": h.template, "score": h.score}))
        .collect();
    Ok(json!({
        "hits": hits, "k": a.k, "threshold": a.threshold, "location": a.location,
        "searched": live, "ms": round3(took), "kernel": store.kernels().name,
    }))
}

#[derive(Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    store: StoreArg,
    /// User id.
    #[arg(long)]
    user: String,
    /// Location id.
    #[arg(long, default_value = DEFAULT_LOCATION)]
    location: String,
    /// Also decide: accept when the score is at least this.
    #[arg(long, allow_negative_numbers = true)]
    threshold: Option<f64>,
    /// Probe embedding: the store's dimension of little-endian f32, or a JSON array.
    file: PathBuf,
}

pub fn verify_face(a: &VerifyArgs, out: Out) -> CmdResult {
    let store = open_store(&a.store.store, quiet_opts())?;
    let probe = read_embedding(&a.file, store.snapshot().dim())?;
    let t = Instant::now();
    let hit = store.verify_face(&a.location, &a.user, &probe)?;
    let took = ms(t.elapsed());
    let Some(hit) = hit else {
        return Err(Fail::new(format!(
            "user {} has no templates at location {}",
            a.user, a.location
        )));
    };
    let accepted = a.threshold.map(|t| hit.score >= t);
    let decision = match (accepted, a.threshold) {
        (Some(true), Some(t)) => format!(" — accepted (>= {t})"),
        (Some(false), Some(t)) => format!(" — rejected (< {t})"),
        _ => String::new(),
    };
    out.line(format_args!(
        "user {} at {}: score {:.4} (best template {}){decision}, {took:.3} ms",
        a.user, a.location, hit.score, hit.template
    ));
    Ok(json!({
        "location": a.location, "user": a.user, "template": hit.template,
        "score": hit.score, "threshold": a.threshold, "accepted": accepted, "ms": round3(took),
    }))
}

pub fn stats(a: &StoreArg, out: Out) -> CmdResult {
    let store = open_store(&a.store, quiet_opts())?;
    let st = store.stats();
    let snap = store.snapshot();
    let users: HashSet<(&str, &str)> = snap
        .face_templates()
        .map(|(l, u, _, _)| (l, u))
        .chain(snap.finger_templates().map(|(l, u, _, _, _)| (l, u)))
        .collect();
    let locations: HashSet<&str> = users.iter().map(|&(l, _)| l).collect();
    out.line(format_args!("store      {}", a.store.display()));
    out.line(format_args!("model      {} (dim {})", st.model, st.dim));
    out.line(format_args!(
        "users      {} in {} location{}",
        users.len(),
        locations.len(),
        if locations.len() == 1 { "" } else { "s" }
    ));
    out.line(format_args!(
        "templates  {} live, {} dead (deleted, not yet compacted away)",
        st.faces.live, st.faces.dead
    ));
    out.line(format_args!(
        "fingers    {} live, {} dead; {} finger segment{}, {} tail rows",
        st.fingers.live,
        st.fingers.dead,
        st.fingers.segments,
        if st.fingers.segments == 1 { "" } else { "s" },
        st.fingers.tail_rows
    ));
    out.line(format_args!(
        "segments   {} ({})",
        st.faces.segments,
        human_bytes(st.faces.segment_bytes + st.fingers.segment_bytes)
    ));
    out.line(format_args!(
        "log        {} tail rows ({})",
        st.faces.tail_rows,
        human_bytes(st.wal_bytes)
    ));
    out.line(format_args!("seq        {}", st.seq));
    out.line(format_args!("kernel     {}", st.kernel));
    out.line(format_args!("files      {}", st.files.join(", ")));
    Ok(json!({
        "store": a.store, "model": st.model, "dim": st.dim, "users": users.len(),
        "locations": locations.len(), "live": st.faces.live, "dead": st.faces.dead, "segments": st.faces.segments,
        "tail_rows": st.faces.tail_rows, "segment_bytes": (st.faces.segment_bytes + st.fingers.segment_bytes), "wal_bytes": st.wal_bytes,
        "fingers": st.fingers.live, "fingers_dead": st.fingers.dead,
        "finger_segments": st.fingers.segments, "finger_tail_rows": st.fingers.tail_rows,
        "seq": st.seq, "kernel": st.kernel, "files": st.files,
    }))
}

pub fn compact(a: &StoreArg, out: Out) -> CmdResult {
    let store = open_store(&a.store, quiet_opts())?;
    let before = store.stats();
    let t = Instant::now();
    store.compact()?;
    let took = ms(t.elapsed());
    let after = store.stats();
    out.line(format_args!(
        "compacted in {took:.1} ms: {} removed, {} checkpointed, segments {} -> {}, {} -> {}",
        count(before.faces.dead - after.faces.dead, "dead row"),
        count(before.faces.tail_rows, "tail row"),
        before.faces.segments,
        after.faces.segments,
        human_bytes((before.faces.segment_bytes + before.fingers.segment_bytes) + before.wal_bytes),
        human_bytes((after.faces.segment_bytes + after.fingers.segment_bytes) + after.wal_bytes)
    ));
    Ok(json!({
        "ms": round3(took), "live": after.faces.live, "dead_removed": before.faces.dead - after.faces.dead,
        "segments_before": before.faces.segments, "segments_after": after.faces.segments,
        "bytes_before": (before.faces.segment_bytes + before.fingers.segment_bytes) + before.wal_bytes,
        "bytes_after": (after.faces.segment_bytes + after.fingers.segment_bytes) + after.wal_bytes,
    }))
}

pub fn verify_store(a: &StoreArg, out: Out) -> CmdResult {
    // Opening already checks the manifest, segment headers and tables, deletion files and every
    // log record; verify_checksums then reads every vector byte.
    let damaged = |e: edgeid::Error| match e {
        edgeid::Error::Corrupt { .. } | edgeid::Error::Version { .. } => {
            Fail::new(format!("damage found: {e}"))
        }
        other => other.into(),
    };
    check_is_store(&a.store)?;
    let store = Store::open(&a.store, quiet_opts()).map_err(damaged)?;
    let t = Instant::now();
    let segments = store.verify_checksums().map_err(damaged)?;
    let took = ms(t.elapsed());
    let st = store.stats();
    out.line(format_args!(
        "ok: {} ({}) checksummed, log ({}) replayed, {}, {}, in {took:.1} ms",
        count(segments, "segment"),
        human_bytes(st.faces.segment_bytes + st.fingers.segment_bytes),
        human_bytes(st.wal_bytes),
        count(st.faces.live, "live face template"),
        count(st.fingers.live, "live fingerprint template")
    ));
    Ok(json!({
        "ok": true, "segments": segments, "segment_bytes": (st.faces.segment_bytes + st.fingers.segment_bytes),
        "wal_bytes": st.wal_bytes, "live": st.faces.live, "fingers": st.fingers.live, "ms": round3(took),
    }))
}
