//! Output and errors shared by the commands: reports printed as human lines or one JSON object, progress bars,
//! failures with exit code 1, and the checks done before touching a store.

use edgeid::store::FileKind;
use edgeid::{OpenOptions, Store};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::fmt::Display;
use std::io::{BufWriter, IsTerminal, StdoutLock, Write};
use std::path::Path;

/// A command's answer: serialised as-is for `--json` (one object on stdout), rendered as lines for
/// people otherwise. Each command builds one report and `main` prints it once, in one of the two
/// forms, so the two cannot drift apart.
pub trait Report: Serialize {
    /// The human lines of the report.
    fn text(&self, t: &mut Text);
}

/// A report whose type is forgotten, for failures that still print one (see [`Fail`]).
pub trait Render {
    /// Prints the report as `out` asks.
    fn render(&self, out: Out);
}

impl<R: Report> Render for R {
    fn render(&self, out: Out) {
        out.report(self);
    }
}

/// Human lines, written to stdout through one buffer. Write errors (a closed pipe:
/// `edgeid finger scores DIR | head`) stop the output rather than panic.
pub struct Text {
    w: BufWriter<StdoutLock<'static>>,
    closed: bool,
}

impl Text {
    fn stdout() -> Text {
        Text {
            w: BufWriter::new(std::io::stdout().lock()),
            closed: false,
        }
    }

    /// Writes one line.
    pub fn line(&mut self, s: impl Display) {
        if !self.closed && writeln!(self.w, "{s}").is_err() {
            self.closed = true;
        }
    }

    fn finish(mut self) {
        if !self.closed {
            let _ = self.w.flush();
        }
    }
}

/// A command that failed: the message goes to stderr and the process exits with 1. `report` is
/// printed first (as JSON or text), for commands whose report still matters when they fail (sync
/// apply, bench face, demo). An empty message is a "no" answer rather than an error (`lookup`
/// finding nobody, like `grep` finding nothing): exit 1 with no error line.
pub struct Fail {
    pub message: String,
    pub report: Option<Box<dyn Render + Send>>,
}

impl Fail {
    /// A failure with just a message.
    pub fn new(message: impl Into<String>) -> Fail {
        Fail {
            message: message.into(),
            report: None,
        }
    }

    /// A failure that still prints its report.
    pub fn with(message: impl Into<String>, report: impl Report + Send + 'static) -> Fail {
        Fail {
            message: message.into(),
            report: Some(Box::new(report)),
        }
    }

    /// A "no" answer: exit status 1, `report` printed, nothing on stderr.
    pub fn no(report: impl Report + Send + 'static) -> Fail {
        Fail::with(String::new(), report)
    }
}

impl From<edgeid::Error> for Fail {
    fn from(e: edgeid::Error) -> Fail {
        Fail::new(e.to_string())
    }
}

/// Result of a command: its report.
pub type CmdResult<R> = Result<R, Fail>;

/// Where output goes. In `--json` mode human lines and progress bars are suppressed so stdout holds
/// exactly one JSON object.
#[derive(Clone, Copy)]
pub struct Out {
    json: bool,
}

impl Out {
    pub fn new(json: bool) -> Out {
        Out { json }
    }

    /// Prints a report: one JSON object in `--json` mode, its lines otherwise.
    pub fn report<R: Report + ?Sized>(self, r: &R) {
        if self.json {
            let v = serde_json::to_string(r).expect("a report serialises");
            let _ = writeln!(std::io::stdout().lock(), "{v}");
        } else {
            let mut t = Text::stdout();
            r.text(&mut t);
            t.finish();
        }
    }

    /// A progress bar on stderr; hidden in `--json` mode or when stderr is not a terminal, so logs
    /// and test output stay clean.
    pub fn progress(self, len: u64, what: &str) -> ProgressBar {
        if self.json || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        pb.set_style(
            ProgressStyle::with_template(
                "{msg:>12} [{bar:40.cyan/blue}] {human_pos}/{human_len} ({elapsed}, eta {eta})",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        pb.set_message(what.to_string());
        pb
    }
}

/// Opens an existing store. Checks first that the directory exists and holds a manifest: the
/// library would otherwise report a missing `LOCK` file, or leave a `LOCK` file behind in a
/// directory that is not a store.
pub fn open_store(dir: &Path, opts: OpenOptions) -> Result<Store, Fail> {
    check_is_store(dir)?;
    Ok(Store::open(dir, opts)?)
}

/// Opens an existing store read-only, for commands that only read: nothing is written (no lock
/// file, no scrubbing, no cut log tail) and it runs beside a writer (see `OpenOptions::read_only`).
pub fn open_read_only(dir: &Path, opts: OpenOptions) -> Result<Store, Fail> {
    open_store(dir, opts.read_only(true))
}

/// Fails with a message that says what to do when `dir` is missing or not a store.
pub fn check_is_store(dir: &Path) -> Result<(), Fail> {
    if !dir.is_dir() {
        return Err(Fail::new(format!(
            "no store at {}: the directory does not exist (create a store with `edgeid init --store {} --model NAME --dim D`)",
            dir.display(),
            dir.display()
        )));
    }
    if !dir.join(FileKind::Manifest.name()).exists() {
        return Err(Fail::new(format!(
            "{} holds no store (no {} file); create one with `edgeid init --store {} --model NAME --dim D`",
            dir.display(),
            FileKind::Manifest.name(),
            dir.display()
        )));
    }
    Ok(())
}

/// Reads a template or probe file (raw little-endian f32 or a JSON array) and checks its length
/// against the store, so the message names the file rather than "change 0".
pub fn read_embedding(path: &Path, dim: usize) -> Result<Vec<f32>, Fail> {
    let bytes =
        std::fs::read(path).map_err(|e| Fail::new(format!("read {}: {e}", path.display())))?;
    let v = edgeid::face::parse_embedding_file(&bytes)
        .map_err(|e| Fail::new(format!("{}: {e}", path.display())))?;
    if v.len() != dim {
        return Err(Fail::new(format!(
            "{}: expected {dim} floats (the store's dimension), got {}",
            path.display(),
            v.len()
        )));
    }
    Ok(v)
}

/// Bytes for people: 1536 → "1.5 KiB".
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// "1 template", "2 templates".
pub fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// Milliseconds of a duration, as a float.
pub fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Rounds for JSON so reports are readable (microsecond resolution is plenty).
pub fn round3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}
