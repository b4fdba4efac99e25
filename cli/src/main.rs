//! `edgeid`: the command-line tool of the edgeid engine — set up and inspect a terminal's template
//! store, enrol and identify faces by hand, benchmark and demonstrate the engine.
//!
//! Every command prints text for people, or with `--json` exactly one JSON object on stdout so
//! scripts never have to parse prose. Errors go to stderr with exit code 1 (2 for usage errors).

mod bench;
mod demo;
mod out;
mod store_cmds;
mod synth;

use clap::{Args, Parser, Subcommand};
use out::{Fail, Out};
use std::path::PathBuf;
use std::process::ExitCode;

/// Identity engine for access-control terminals: template store, exact face 1:N.
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
    /// Counts, sizes, files and the kernel in use.
    Stats(StoreArg),
    /// Rewrite segments with deleted rows so dead rows stop costing scan time and disk.
    Compact(StoreArg),
    /// Read every byte of the store and check every checksum (exit 1 on damage).
    Verify(StoreArg),
    /// Measure the engine.
    #[command(subcommand)]
    Bench(BenchCmd),
    /// Enrol synthetic users and identify them: the whole job, end to end, with no setup.
    Demo(demo::DemoArgs),
}

#[derive(Subcommand)]
enum FaceCmd {
    /// Enrol (or replace) one face template.
    Add(store_cmds::AddArgs),
    /// Remove a template or all of a user's templates, and erase their bytes from disk at once.
    Remove(store_cmds::RemoveArgs),
    /// 1:N: who is this face?
    Identify(store_cmds::IdentifyArgs),
    /// 1:1: how well does this face match one user?
    Verify(store_cmds::VerifyArgs),
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Face identification: insert, open, latency, throughput, exactness, delete.
    Face(bench::BenchFaceArgs),
}

/// The store directory argument shared by every command that works on a store.
#[derive(Args, Debug, Clone)]
pub struct StoreArg {
    /// Store directory.
    #[arg(long, value_name = "DIR")]
    pub store: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Out::new(cli.json);
    let result = match cli.cmd {
        Cmd::Init(a) => store_cmds::init(&a, out),
        Cmd::Face(FaceCmd::Add(a)) => store_cmds::add(&a, out),
        Cmd::Face(FaceCmd::Remove(a)) => store_cmds::remove(&a, out),
        Cmd::Face(FaceCmd::Identify(a)) => store_cmds::identify(&a, out),
        Cmd::Face(FaceCmd::Verify(a)) => store_cmds::verify_face(&a, out),
        Cmd::Stats(a) => store_cmds::stats(&a, out),
        Cmd::Compact(a) => store_cmds::compact(&a, out),
        Cmd::Verify(a) => store_cmds::verify_store(&a, out),
        Cmd::Bench(BenchCmd::Face(a)) => bench::face(&a, out),
        Cmd::Demo(a) => demo::run(&a, out),
    };
    match result {
        Ok(v) => {
            out.json(&v);
            ExitCode::SUCCESS
        }
        Err(Fail { message, json }) => {
            if let Some(v) = json {
                out.json(&v);
            }
            eprintln!("edgeid: error: {message}");
            ExitCode::FAILURE
        }
    }
}
