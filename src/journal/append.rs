//! Appending: stamping, group commit, rolling files, and the size bound (see the module docs of
//! `journal` for the rules).
//!
//! Order of writes, and why a crash is safe at each step:
//! - **batch**: records are written and fdatasynced; only then are their ids published as durable
//!   (readers see them, callers return). A crash before leaves a torn tail (cut on open).
//! - **roll**: the new file is created, its header written and fdatasynced, the directory
//!   fsynced — all before any record goes into it, and after the previous file's last fdatasync.
//!   A crash before the directory fsync leaves no file or a header-only file (removed on open).
//! - **drop**: (overflow only) the state file records the new floor, the loss and the pending
//!   range; then the file is removed and the directory fsynced; then the Overflow event is
//!   appended; once it is durable the pending range is cleared. Open finishes each step a crash
//!   interrupted (see `Journal::open` and `finish_overflow`).

use super::event::{self, EventKind, Stamp, TimeQuality};
use super::segment::{self, HEADER_LEN};
use super::{lock, Io, Journal};
use crate::error::{Error, Result};
use std::ops::RangeInclusive;

impl Journal {
    /// Appends an event dated now (the journal's clock); returns its id once it is durable.
    pub fn append(&self, kind: EventKind) -> Result<u64> {
        self.append_at(self.now_micros(), kind)
    }

    /// Appends an event dated `utc_micros` (a decision's time); returns its id once durable.
    pub fn append_at(&self, utc_micros: i64, kind: EventKind) -> Result<u64> {
        let last = self.enqueue(std::iter::once((utc_micros, &kind)))?;
        self.wait_durable(last)?;
        Ok(last)
    }

    /// Appends events dated now with one write and fdatasync; returns their ids (consecutive)
    /// once all are durable. An empty batch returns an empty range and writes nothing.
    pub fn append_batch(&self, kinds: &[EventKind]) -> Result<RangeInclusive<u64>> {
        if kinds.is_empty() {
            #[allow(clippy::reversed_empty_ranges)]
            return Ok(1..=0);
        }
        let now = self.now_micros();
        let last = self.enqueue(kinds.iter().map(|k| (now, k)))?;
        self.wait_durable(last)?;
        Ok(last + 1 - kinds.len() as u64..=last)
    }

    /// Appends events each with its own date (Unix microseconds) with one write and fdatasync;
    /// returns their ids once all are durable (see [`Journal::append_batch`]).
    pub fn append_batch_at(&self, items: &[(i64, EventKind)]) -> Result<RangeInclusive<u64>> {
        if items.is_empty() {
            #[allow(clippy::reversed_empty_ranges)]
            return Ok(1..=0);
        }
        let last = self.enqueue(items.iter().map(|(t, k)| (*t, k)))?;
        self.wait_durable(last)?;
        Ok(last + 1 - items.len() as u64..=last)
    }

    /// On open: keeps the size bound (a smaller bound than the journal was written with, or a
    /// drop a crash interrupted before the state file recorded it) and makes its report durable.
    pub(super) fn settle(&self) -> Result<()> {
        let mut io = lock(&self.io);
        self.keep_bound(&mut io)?;
        while let Some(id) = io.overflow_event {
            if lock(&self.state).durable_next > id {
                break;
            }
            self.flush(&mut io)?;
        }
        Ok(())
    }

    /// The stamp of an event at `utc_micros` after one at `last` (see `TimeQuality`).
    fn stamp(&self, utc_micros: i64, last: i64, kind: &EventKind) -> Stamp {
        let (offset_secs, dst) = match jiff::Timestamp::from_microsecond(utc_micros) {
            Ok(t) => {
                let info = self.tz.to_offset_info(t);
                (info.offset().seconds(), info.dst().is_dst())
            }
            Err(_) => (0, false),
        };
        let quality = match kind {
            EventKind::ClockChanged { quality, .. } => *quality,
            _ if utc_micros < self.opts.floor_micros || utc_micros < last => TimeQuality::Suspect,
            _ if self.synced.load(std::sync::atomic::Ordering::Relaxed) => TimeQuality::Synced,
            _ => TimeQuality::Unsynced,
        };
        Stamp {
            utc_micros,
            offset_secs,
            dst,
            quality,
        }
    }

    /// Gives ids to events and encodes them into the shared buffer; returns the last id.
    fn enqueue<'a>(&self, items: impl Iterator<Item = (i64, &'a EventKind)>) -> Result<u64> {
        self.check_writable()?;
        let mut s = lock(&self.state);
        if let Some(f) = &s.failed {
            return Err(Error::Poisoned(f.clone()));
        }
        let mark = (s.pending.len(), s.next_id, s.last_micros);
        for (t, kind) in items {
            let stamp = self.stamp(t, s.last_micros, kind);
            let id = s.next_id;
            let at = s.pending.len();
            let r =
                segment::push_record(&mut s.pending, id, |out| event::encode(out, &stamp, kind));
            if let Err(e) = r {
                // Nothing of a refused batch is kept.
                s.pending.truncate(mark.0);
                s.next_id = mark.1;
                s.last_micros = mark.2;
                return Err(e);
            }
            s.next_id += 1;
            s.pending_last_at = at;
            s.last_micros = match kind {
                EventKind::ClockChanged { to_micros, .. } => *to_micros,
                _ => s.last_micros.max(t),
            };
        }
        Ok(s.next_id - 1)
    }

    /// Waits until event `id` is durable, writing the shared buffer when no one else is.
    fn wait_durable(&self, id: u64) -> Result<()> {
        let mut s = lock(&self.state);
        loop {
            if s.durable_next > id {
                return Ok(());
            }
            if let Some(f) = &s.failed {
                return Err(Error::Poisoned(f.clone()));
            }
            if !s.leader {
                s.leader = true;
                drop(s);
                let r = self.lead();
                s = lock(&self.state);
                s.leader = false;
                self.cv.notify_all();
                if let Err(e) = r {
                    // The journal refuses appends from now on; an event made durable before the
                    // failure (in the size bound's work after its batch) is still reported Ok.
                    if s.failed.is_none() {
                        s.failed = Some(e.to_string());
                    }
                    if s.durable_next <= id {
                        return Err(e);
                    }
                }
                continue;
            }
            s = self.cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// The leader's work: writes what is buffered (and an Overflow event the bound produces).
    fn lead(&self) -> Result<()> {
        let mut io = lock(&self.io);
        loop {
            self.flush(&mut io)?;
            match io.overflow_event {
                Some(id) if lock(&self.state).durable_next <= id => continue,
                _ => return Ok(()),
            }
        }
    }

    /// Writes and fdatasyncs the buffered records, publishes them, then keeps the size bound.
    fn flush(&self, io: &mut Io) -> Result<()> {
        let (batch, first, last) = {
            let mut s = lock(&self.state);
            if s.pending.is_empty() {
                return Ok(());
            }
            let mut batch = std::mem::take(&mut s.pending);
            segment::mark_batch(&mut batch, s.pending_last_at);
            let first = s.pending_first;
            s.pending_first = s.next_id;
            (batch, first, s.next_id - 1)
        };
        if io.len > HEADER_LEN && io.len + batch.len() as u64 > self.opts.max_file_bytes {
            self.roll(io, first)?;
        }
        let path = self.active_path();
        io.file
            .append(&batch)
            .map_err(|e| Error::io("write", &path, e))?;
        io.file
            .sync_data()
            .map_err(|e| Error::io("fdatasync", &path, e))?;
        io.len += batch.len() as u64;
        {
            let mut s = lock(&self.state);
            s.durable_next = last + 1;
            s.active_len = io.len;
            // The buffer's allocation is reused by the next batch.
            if s.pending.is_empty() && s.pending.capacity() < batch.capacity() {
                let mut b = batch;
                b.clear();
                s.pending = b;
            }
        }
        self.cv.notify_all();
        if let Some(oid) = io.overflow_event {
            if last >= oid {
                let mut a = lock(&self.state).ack;
                a.pending = None;
                a.next_id = a.next_id.max(last + 1);
                a.write(&*self.fs, &self.dir)?;
                lock(&self.state).ack = a;
                io.overflow_event = None;
            }
        }
        self.keep_bound(io)
    }

    fn active_path(&self) -> std::path::PathBuf {
        let s = lock(&self.state);
        self.dir
            .join(segment::file_name(*s.files.last().unwrap_or(&0)))
    }

    /// Starts the file whose first event is `first` (see the module docs for the order).
    pub(super) fn roll(&self, io: &mut Io, first: u64) -> Result<()> {
        let p = self.dir.join(segment::file_name(first));
        let mut f = self.fs.create(&p).map_err(|e| Error::io("create", &p, e))?;
        f.append(&segment::header(first))
            .and_then(|_| f.sync_data())
            .map_err(|e| Error::io("write", &p, e))?;
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| Error::io("fsync", &self.dir, e))?;
        io.file = f;
        io.len = HEADER_LEN;
        let mut s = lock(&self.state);
        s.files.push(first);
        s.active_len = HEADER_LEN;
        Ok(())
    }

    /// Drops the oldest files while there are more than `max_files` (see the module docs).
    fn keep_bound(&self, io: &mut Io) -> Result<()> {
        let mut overflowed = false;
        loop {
            let (oldest, next, mut a, durable_next) = {
                let s = lock(&self.state);
                if s.files.len() <= self.opts.max_files {
                    break;
                }
                (s.files[0], s.files[1], s.ack, s.durable_next)
            };
            let last = next - 1;
            if last > a.acked {
                let from = oldest.max(a.acked + 1);
                let count = last + 1 - from;
                a.lost += count;
                a.overflows += 1;
                // The report covers every id lost since the last acknowledgement (earlier
                // reports may have been dropped with their files).
                a.pending = Some((a.acked + 1, last, last - a.acked));
                overflowed = true;
            }
            a.floor = last;
            a.next_id = a.next_id.max(durable_next);
            if overflowed {
                a.write(&*self.fs, &self.dir)?;
            }
            let p = self.dir.join(segment::file_name(oldest));
            {
                let _g = self.files_guard.write().unwrap_or_else(|e| e.into_inner());
                self.fs
                    .scrub_remove(&p)
                    .map_err(|e| Error::io("remove", &p, e))?;
                let mut s = lock(&self.state);
                s.files.remove(0);
                s.ack = a;
            }
            self.fs
                .sync_dir(&self.dir)
                .map_err(|e| Error::io("fsync", &self.dir, e))?;
        }
        if overflowed {
            let (first, last, count) = lock(&self.state).ack.pending.expect("set above");
            let id = self.enqueue(std::iter::once((
                self.now_micros(),
                &EventKind::Overflow {
                    first_id: first,
                    last_id: last,
                    count,
                },
            )))?;
            io.overflow_event = Some(id);
        }
        Ok(())
    }

    /// On open: the overflow of `first..=last` was recorded but its event may not be durable.
    /// Appends the event unless the newest file (`newest`) holds it, then clears the range.
    pub(super) fn finish_overflow(
        &self,
        first: u64,
        last: u64,
        count: u64,
        newest: Option<&[u8]>,
    ) -> Result<()> {
        let want = EventKind::Overflow {
            first_id: first,
            last_id: last,
            count,
        };
        let mut found = false;
        if let Some(bytes) = newest {
            let s = lock(&self.state);
            let f = *s.files.last().unwrap_or(&0);
            drop(s);
            let p = self.dir.join(segment::file_name(f));
            if segment::check_header(bytes, f, &p).is_ok() {
                for r in segment::Records::new(bytes, f, &p, false) {
                    let r = r?;
                    let e = event::decode(r.id, &bytes[r.payload.0..r.payload.1], &p)?;
                    found |= e.kind == want;
                }
            }
        }
        if !found {
            self.append(want)?;
        }
        let mut a = lock(&self.state).ack;
        a.pending = None;
        a.next_id = a.next_id.max(lock(&self.state).durable_next);
        a.write(&*self.fs, &self.dir)?;
        lock(&self.state).ack = a;
        Ok(())
    }
}
