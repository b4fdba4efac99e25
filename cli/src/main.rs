//! `edgeid`: the command-line tool of the edgeid engine — set up and inspect a terminal's template
//! store, enrol and identify faces by hand, compare, score and inspect fingerprint templates, apply the platform's synchronisation deltas, show users
//! and look them up by credential, benchmark and demonstrate the engine.
//!
//! Every command prints text for people, or with `--json` exactly one JSON object on stdout so
//! scripts never have to parse prose. Errors go to stderr with exit code 1 (2 for usage errors).

mod args;
mod bench;
mod bench_decide;
mod bench_finger;
mod bench_sync;
#[cfg(feature = "vision")]
mod bench_vision;
mod decide_cmds;
mod deltas;
mod demo;
#[cfg(feature = "vision")]
mod demo_photos;
mod demo_report;
mod event_cmds;
mod finger_cmds;
mod finger_eval_cmds;
mod finger_store_cmds;
mod key_cmds;
mod out;
mod rss;
mod store_cmds;
mod sync_cmds;
mod synth;
mod templates;
mod user_cmds;
#[cfg(feature = "vision")]
mod vision_cmds;

use args::{RemoveArgs, StoreArg};
use clap::{Parser, Subcommand};
use out::{CmdResult, Fail, Out, Report};
use std::process::ExitCode;

/// Identity engine for access-control terminals: template store, exact face 1:N, fingerprints,
/// synchronisation.
#[derive(Parser)]
#[command(name = "edgeid", version, about, propagate_version = true)]
struct Cli {
    /// Print one JSON object on stdout instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a new, empty store.
    Init(store_cmds::InitArgs),
    /// Enrol, remove, identify and verify faces.
    #[command(subcommand)]
    Face(FaceCmd),
    /// Enrol, remove, identify and verify fingerprints in a store; compare, score, evaluate and
    /// inspect minutiae records (ISO/ANSI).
    #[command(subcommand)]
    Finger(FingerCmd),
    /// Counts, sizes, files and the kernel in use.
    Stats(StoreArg),
    /// Rewrite segments with deleted rows so dead rows stop costing scan time and disk.
    Compact(StoreArg),
    /// Read every byte of the store and check every checksum (exit 1 on damage).
    Verify(StoreArg),
    /// Apply the platform's deltas, show what each location holds, prove it with digests.
    #[command(subcommand)]
    Sync(SyncCmd),
    /// The platform's public keys each location trusts to sign its deltas; whether unsigned
    /// deltas are refused (docs/sync-protocol.md, "Signed deltas").
    #[command(subcommand)]
    Keys(KeysCmd),
    /// The event journal: read events after a cursor, acknowledge up to one.
    #[command(subcommand)]
    Events(event_cmds::EventsCmd),
    /// Show what the terminal knows of a user (access codes never shown).
    #[command(subcommand)]
    User(UserCmd),
    /// Find the user holding a card, access code or licence plate.
    ///
    /// Prints `location/user`, or "no user". Exit status: 0 when a user holds the credential, 1 when
    /// none does (so scripts can test it), also 1 on errors (with a message on stderr).
    #[command(subcommand)]
    Lookup(LookupCmd),
    /// May this person pass this door now? Decide from what the readers collected (exit 1 when
    /// denied, with the reason).
    Decide(decide_cmds::DecideArgs),
    /// Measure the engine.
    #[command(subcommand)]
    Bench(BenchCmd),
    /// Synchronise synthetic users through deltas, look them up and identify them: the whole job,
    /// end to end, with no setup.
    Demo(demo::DemoArgs),
}

#[derive(Subcommand)]
enum FaceCmd {
    /// Enrol (or replace) one face template.
    Add(store_cmds::AddArgs),
    /// Remove a template or all of a user's templates, and erase their bytes from disk at once.
    Remove(RemoveArgs),
    /// 1:N: who is this face?
    Identify(store_cmds::IdentifyArgs),
    /// 1:1: how well does this face match one user?
    Verify(store_cmds::VerifyArgs),
    /// The embedding of the face in an image, with its box, landmarks, quality and per-stage
    /// times (ONNX Runtime; the reference models of models/).
    #[cfg(feature = "vision")]
    Embed(vision_cmds::EmbedArgs),
    /// Genuine and impostor score distributions of a labelled photo folder (file-name prefix =
    /// identity) and the thresholds for named false-match rates, with the pairs that support each.
    #[cfg(feature = "vision")]
    Calibrate(vision_cmds::CalibrateArgs),
}

#[derive(Subcommand)]
enum FingerCmd {
    /// Enrol (or replace) one fingerprint template from a minutiae record.
    Add(finger_store_cmds::AddArgs),
    /// Remove a fingerprint template or all of a user's, and erase their bytes from disk at once.
    Remove(RemoveArgs),
    /// 1:N: whose finger is this?
    Identify(finger_store_cmds::IdentifyArgs),
    /// 1:1: how well does this finger match one user's enrolled fingers?
    Verify(finger_store_cmds::VerifyArgs),
    /// 1:1: the matcher score of two records, and what it means at the calibrated thresholds.
    Compare(finger_cmds::CompareArgs),
    /// `probe<TAB>gallery<TAB>score` for every ordered pair of records in a directory (file stems
    /// as names), on all cores.
    Scores(finger_cmds::DirArgs),
    /// Accuracy of a directory of records named FINGER_IMPRESSION: EER, FNMR at FMR 1% and at
    /// FMR 0, rank-1 (the protocol of testdata/fingerprint/README.md); `--plot` draws the DET
    /// curve beside a reference matcher's (bozorth3) on the same pairs.
    Eval(finger_eval_cmds::EvalArgs),
    /// Leave-one-set-out cross-validation over ROOT/<db>/<extractor> sets: parameters and FMR
    /// thresholds chosen on the other sets, every held-out set reported, with distorted conditions.
    Crossval(finger_eval_cmds::CrossvalArgs),
    /// Seeded distorted or partial variants of a directory of records (elastic, crop, drop-add,
    /// rotate), written as ISO/IEC 19794-2:2005 records.
    Distort(finger_eval_cmds::DistortArgs),
    /// Format, views, resolution, minutiae and warnings of one record.
    Info(finger_cmds::InfoArgs),
}

#[derive(Subcommand)]
enum SyncCmd {
    /// Apply delta files in order; stop at the first refusal (exit 1 if any was refused).
    ///
    /// Prints per file `applied`, `already-applied` (re-sent, nothing changed), `refused: <reason>`
    /// (the delta is wrong: resending it will not help), `failed: <error>` (the terminal could not
    /// apply it, e.g. storage full; it may be sent again) or `not applied` (after a refusal: a later
    /// delta of the same location would be refused as a gap anyway). Each delta is applied entirely
    /// or not at all, and is durable when reported applied.
    Apply(sync_cmds::ApplyArgs),
    /// Per location: last applied sequence, users, faces, fingers and digest.
    Status(StoreArg),
    /// The digest of a location, to compare with the one the platform computes from what it sent.
    Digest(sync_cmds::DigestArgs),
}

#[derive(Subcommand)]
enum KeysCmd {
    /// Trust public keys for a location's deltas (a local, privileged act; `--require` also
    /// refuses unsigned deltas from now on).
    Add(key_cmds::AddArgs),
    /// Stop trusting keys (by key id or public key).
    Remove(key_cmds::RemoveArgs),
    /// Every location's trusted keys (key id and public key) and whether it requires signatures.
    List(key_cmds::ListArgs),
    /// Refuse unsigned deltas for a location (`--off`: accept them again).
    Require(key_cmds::RequireArgs),
}

#[derive(Subcommand)]
enum UserCmd {
    /// Name, validity, templates, credentials, rights and record hash of one user.
    Show(user_cmds::UserShowArgs),
}

#[derive(Subcommand)]
enum LookupCmd {
    /// Card → user (exit 1 when no user holds it).
    Card(user_cmds::CardArgs),
    /// Access code → user (exit 1 when no user holds it). The code is never printed.
    Code(user_cmds::CodeArgs),
    /// Licence plate → user, matched without case, spaces, dashes or dots (exit 1 when none).
    Plate(user_cmds::PlateArgs),
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Face identification: insert, open, latency, throughput, exactness, delete.
    Face(bench::BenchFaceArgs),
    /// Fingerprint 1:N: latency, effective and one-to-one comparisons/s, rank-1, on a synthetic
    /// gallery made from the real test templates.
    Finger(bench_finger::BenchFingerArgs),
    /// Synchronisation: a 10,000-user batch, one user, and a full sync while searches run.
    Sync(bench_sync::BenchSyncArgs),
    /// The door decision: by card and by code (alone and concurrent), and with a face over a
    /// large gallery (search vs. decision).
    Decide(bench_decide::BenchDecideArgs),
    /// Face image to template: per-stage medians on the test photos, the Python onnxruntime
    /// pipeline's stages in the same run, memory, and missed small faces per detector size.
    #[cfg(feature = "vision")]
    Vision(bench_vision::BenchVisionArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Out::new(cli.json);
    match cli.cmd {
        Cmd::Init(a) => finish(out, store_cmds::init(&a)),
        Cmd::Face(FaceCmd::Add(a)) => finish(out, store_cmds::add(&a)),
        Cmd::Face(FaceCmd::Remove(a)) => finish(out, store_cmds::remove(&a)),
        Cmd::Face(FaceCmd::Identify(a)) => finish(out, store_cmds::identify(&a)),
        Cmd::Face(FaceCmd::Verify(a)) => finish(out, store_cmds::verify_face(&a)),
        #[cfg(feature = "vision")]
        Cmd::Face(FaceCmd::Embed(a)) => finish(out, vision_cmds::embed(&a)),
        #[cfg(feature = "vision")]
        Cmd::Face(FaceCmd::Calibrate(a)) => finish(out, vision_cmds::calibrate(&a)),
        Cmd::Finger(FingerCmd::Add(a)) => finish(out, finger_store_cmds::add(&a)),
        Cmd::Finger(FingerCmd::Remove(a)) => finish(out, finger_store_cmds::remove(&a)),
        Cmd::Finger(FingerCmd::Identify(a)) => finish(out, finger_store_cmds::identify(&a)),
        Cmd::Finger(FingerCmd::Verify(a)) => finish(out, finger_store_cmds::verify(&a)),
        Cmd::Finger(FingerCmd::Compare(a)) => finish(out, finger_cmds::compare_cmd(&a)),
        Cmd::Finger(FingerCmd::Scores(a)) => finish(out, finger_cmds::scores(&a)),
        Cmd::Finger(FingerCmd::Eval(a)) => finish(out, finger_eval_cmds::eval_cmd(&a)),
        Cmd::Finger(FingerCmd::Crossval(a)) => finish(out, finger_eval_cmds::crossval_cmd(&a)),
        Cmd::Finger(FingerCmd::Distort(a)) => finish(out, finger_eval_cmds::distort_cmd(&a)),
        Cmd::Finger(FingerCmd::Info(a)) => finish(out, finger_cmds::info(&a)),
        Cmd::Stats(a) => finish(out, store_cmds::stats(&a)),
        Cmd::Compact(a) => finish(out, store_cmds::compact(&a)),
        Cmd::Verify(a) => finish(out, store_cmds::verify_store(&a)),
        Cmd::Sync(SyncCmd::Apply(a)) => finish(out, sync_cmds::apply(&a, out)),
        Cmd::Sync(SyncCmd::Status(a)) => finish(out, sync_cmds::status(&a)),
        Cmd::Sync(SyncCmd::Digest(a)) => finish(out, sync_cmds::digest(&a)),
        Cmd::Keys(KeysCmd::Add(a)) => finish(out, key_cmds::add(&a)),
        Cmd::Keys(KeysCmd::Remove(a)) => finish(out, key_cmds::remove(&a)),
        Cmd::Keys(KeysCmd::List(a)) => finish(out, key_cmds::list(&a)),
        Cmd::Keys(KeysCmd::Require(a)) => finish(out, key_cmds::require(&a)),
        Cmd::Events(event_cmds::EventsCmd::Read(a)) => finish(out, event_cmds::read(&a)),
        Cmd::Events(event_cmds::EventsCmd::Ack(a)) => finish(out, event_cmds::ack(&a)),
        Cmd::User(UserCmd::Show(a)) => finish(out, user_cmds::user_show(&a)),
        Cmd::Lookup(LookupCmd::Card(a)) => finish(out, user_cmds::lookup_card(&a)),
        Cmd::Lookup(LookupCmd::Code(a)) => finish(out, user_cmds::lookup_code(&a)),
        Cmd::Lookup(LookupCmd::Plate(a)) => finish(out, user_cmds::lookup_plate(&a)),
        Cmd::Bench(BenchCmd::Face(a)) => finish(out, bench::face(&a, out)),
        Cmd::Bench(BenchCmd::Finger(a)) => finish(out, bench_finger::run(&a, out)),
        Cmd::Bench(BenchCmd::Sync(a)) => finish(out, bench_sync::run(&a, out)),
        Cmd::Bench(BenchCmd::Decide(a)) => finish(out, bench_decide::run(&a, out)),
        #[cfg(feature = "vision")]
        Cmd::Bench(BenchCmd::Vision(a)) => finish(out, bench_vision::run(&a)),
        Cmd::Demo(a) => finish(out, demo::run(&a, out)),
        Cmd::Decide(a) => finish(out, decide_cmds::decide(&a)),
    }
}

/// Prints a command's report once (JSON or text) and, on failure, its message; the exit status.
fn finish<R: Report>(out: Out, result: CmdResult<R>) -> ExitCode {
    match result {
        Ok(report) => {
            out.report(&report);
            ExitCode::SUCCESS
        }
        Err(Fail { message, report }) => {
            if let Some(r) = report {
                r.render(out);
            }
            if !message.is_empty() {
                eprintln!("edgeid: error: {message}");
            }
            ExitCode::FAILURE
        }
    }
}
