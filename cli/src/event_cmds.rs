//! `edgeid events read|ack`: the platform's side of the event journal — pages of events after a
//! cursor, and the acknowledgement up to a cursor (see `edgeid::journal`).

use crate::args::StoreArg;
use crate::out::{open_read_only, open_store, CmdResult, Fail, Report, Text};
use clap::{Args, Subcommand};
use edgeid::journal::{Event, EventKind};
use edgeid::OpenOptions;
use serde::Serialize;

#[derive(Subcommand)]
pub enum EventsCmd {
    /// Events after a cursor, in id order (read-only: runs beside the terminal's process).
    Read(ReadArgs),
    /// Acknowledge every event up to a cursor: they may be dropped from now on.
    Ack(AckArgs),
}

#[derive(Args)]
pub struct ReadArgs {
    #[command(flatten)]
    store: StoreArg,
    /// The last event id already received (0: from the start).
    #[arg(long, default_value_t = 0, value_name = "CURSOR")]
    after: u64,
    /// Most events to return (at most 100,000).
    #[arg(long, default_value_t = 1000)]
    limit: usize,
}

#[derive(Args)]
pub struct AckArgs {
    #[command(flatten)]
    store: StoreArg,
    /// The cursor to acknowledge up to (the `cursor` of a page read).
    cursor: u64,
}

/// `events read`: the events (each as `edgeid::journal::EventView` shapes it) and the cursor to
/// acknowledge and to read after next.
#[derive(Serialize)]
pub struct EventsPage {
    events: Vec<serde_json::Value>,
    cursor: u64,
    #[serde(skip)]
    lines: Vec<String>,
}

impl Report for EventsPage {
    fn text(&self, t: &mut Text) {
        for l in &self.lines {
            t.line(l);
        }
        t.line(format!("cursor {}", self.cursor));
    }
}

/// One line per event for people.
fn line(e: &Event) -> String {
    let v = e.view();
    let what = match &e.kind {
        EventKind::Decision(d) => format!(
            "{}/{} {} {}{}",
            d.location,
            d.door,
            d.user.as_deref().unwrap_or("-"),
            if d.granted { "granted" } else { "denied" },
            d.reason
                .as_deref()
                .map_or(String::new(), |r| format!(" ({r})"))
        ),
        EventKind::DeltaApplied {
            location, sequence, ..
        } => format!("{location} sequence {sequence}"),
        EventKind::DeltaRefused {
            location,
            refusal,
            message,
        } => format!(
            "{} {refusal}: {message}",
            location.as_deref().unwrap_or("-")
        ),
        EventKind::ClockChanged {
            from_micros,
            to_micros,
            ..
        } => format!(
            "{} -> {}",
            edgeid::journal::rfc3339(*from_micros),
            edgeid::journal::rfc3339(*to_micros)
        ),
        EventKind::Overflow {
            first_id,
            last_id,
            count,
        } => format!("{count} events lost: {first_id}..={last_id}"),
    };
    format!(
        "{} {} {} {} {} {what}",
        v.id, v.time, v.offset, v.time_quality, v.kind
    )
}

pub fn read(a: &ReadArgs) -> CmdResult<EventsPage> {
    let store = open_read_only(&a.store.store, OpenOptions::new().threads(1))?;
    let page = store.journal().read(a.after, a.limit)?;
    let events = page
        .events
        .iter()
        .map(|e| serde_json::to_value(e.view()).map_err(|e| Fail::new(e.to_string())))
        .collect::<Result<_, _>>()?;
    Ok(EventsPage {
        lines: page.events.iter().map(line).collect(),
        events,
        cursor: page.cursor,
    })
}

/// `events ack`: the acknowledged cursor now.
#[derive(Serialize)]
pub struct Acked {
    acked: u64,
}

impl Report for Acked {
    fn text(&self, t: &mut Text) {
        t.line(format!("acknowledged up to {}", self.acked));
    }
}

pub fn ack(a: &AckArgs) -> CmdResult<Acked> {
    let store = open_store(&a.store.store, OpenOptions::new().threads(1))?;
    Ok(Acked {
        acked: store.journal().ack(a.cursor)?,
    })
}
