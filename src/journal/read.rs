//! Reading pages after a cursor, and acknowledging (see the module docs of `journal`).

use super::event::{self, Event};
use super::segment::{self, Records};
use super::{lock, Journal};
use crate::error::{Error, Result};
use std::sync::Arc;

/// Largest page [`Journal::read`] returns (a larger `limit` is lowered to it): bounds the memory
/// one read takes.
pub const MAX_PAGE: usize = 100_000;

/// Events after a cursor.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// Durable events, in id order.
    pub events: Vec<Event>,
    /// The id of the last event returned, or the `after` asked when none: what the platform
    /// acknowledges and passes as the next `after`.
    pub cursor: u64,
}

/// Where a page ended in a file: (next id, its byte offset).
type Resume = (u64, usize);

/// The bytes of the file read last, and where the last page ended in it.
pub(super) struct Cached {
    first: u64,
    bytes: Arc<Vec<u8>>,
    /// (next id, its byte offset) after the last page read from this file.
    resume: Option<Resume>,
}

impl Journal {
    /// The durable events with id > `after`, in id order, at most `limit` (capped at
    /// [`MAX_PAGE`]). Events dropped by the size bound are skipped (an `Overflow` event reports
    /// them). A damaged record is [`Error::Corrupt`].
    pub fn read(&self, after: u64, limit: usize) -> Result<Page> {
        let limit = limit.min(MAX_PAGE);
        let mut events = Vec::with_capacity(limit.min(4096));
        let _g = self.files_guard.read().unwrap_or_else(|e| e.into_inner());
        let (files, durable_next, active_len) = {
            let s = lock(&self.state);
            (s.files.clone(), s.durable_next, s.active_len)
        };
        let start = files.partition_point(|&f| f <= after.saturating_add(1));
        let mut i = start.saturating_sub(1);
        let mut next = after.saturating_add(1);
        while i < files.len() && events.len() < limit && next < durable_next {
            let first = files[i];
            let newest = i + 1 == files.len();
            let path = self.dir.join(segment::file_name(first));
            let (bytes, resume) = self.file_bytes(first, newest, active_len)?;
            segment::check_header(&bytes, first, &path)?;
            let mut it = match resume {
                Some((id, at)) if id == next => Records::resume(&bytes, at, id, &path, !newest),
                _ => Records::new(&bytes, first, &path, !newest),
            };
            let mut end = None;
            for r in it.by_ref() {
                let r = r?;
                if r.id >= durable_next {
                    break;
                }
                if r.id < next {
                    continue;
                }
                events.push(event::decode(
                    r.id,
                    &bytes[r.payload.0..r.payload.1],
                    &path,
                )?);
                next = r.id + 1;
                end = Some((next, r.payload.1));
                if events.len() == limit {
                    break;
                }
            }
            if let Some(e) = end {
                if let Some(c) = lock(&self.cache).as_mut() {
                    if c.first == first {
                        c.resume = Some(e);
                    }
                }
            }
            i += 1;
        }
        let cursor = events.last().map_or(after, |e| e.id);
        Ok(Page { events, cursor })
    }

    /// The bytes of journal file `first`: from the cache when it holds them (a complete file, or
    /// the newest one read up to `active_len`), else read and cached.
    fn file_bytes(
        &self,
        first: u64,
        newest: bool,
        active_len: u64,
    ) -> Result<(Arc<Vec<u8>>, Option<Resume>)> {
        if let Some(c) = lock(&self.cache).as_ref() {
            if c.first == first && (!newest || c.bytes.len() as u64 >= active_len) {
                return Ok((c.bytes.clone(), c.resume));
            }
        }
        let path = self.dir.join(segment::file_name(first));
        let bytes = Arc::new(
            self.fs
                .read(&path)
                .map_err(|e| Error::io("read", &path, e))?,
        );
        *lock(&self.cache) = Some(Cached {
            first,
            bytes: bytes.clone(),
            resume: None,
        });
        Ok((bytes, None))
    }

    /// Acknowledges every event up to `cursor` (durable before it returns); returns the
    /// acknowledged cursor. An older cursor than the acknowledged one changes nothing (the
    /// acknowledgement never moves backwards); one past the last durable event is refused with
    /// [`Error::Invalid`].
    pub fn ack(&self, cursor: u64) -> Result<u64> {
        self.check_writable()?;
        // Acknowledgements and drops write the state file one at a time.
        let _io = lock(&self.io);
        let mut a = {
            let s = lock(&self.state);
            if let Some(f) = &s.failed {
                return Err(Error::Poisoned(f.clone()));
            }
            if cursor >= s.durable_next {
                return Err(Error::Invalid(format!(
                    "cannot acknowledge up to event {cursor}: the last event is {}",
                    s.durable_next - 1
                )));
            }
            if cursor <= s.ack.acked {
                return Ok(s.ack.acked);
            }
            let mut a = s.ack;
            a.next_id = a.next_id.max(s.durable_next);
            a
        };
        a.acked = cursor;
        a.write(&*self.fs, &self.dir)?;
        lock(&self.state).ack = a;
        Ok(cursor)
    }

    /// The acknowledged cursor.
    pub fn acked(&self) -> u64 {
        lock(&self.state).ack.acked
    }
}
