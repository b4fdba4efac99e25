//! Cutting JSON values out of a byte stream without parsing them (a streamed delta's members and
//! the elements of its `changes`, see `stream`): strings, most of a delta's bytes (base64 of
//! templates), are skipped with `memchr`; only the bytes outside them are looked at one by one.

use super::delta::bad;
use super::{refused, Refusal};
use crate::error::{Error, Result};
use std::io::Read;

/// Bytes read from the reader at a time.
pub(super) const CHUNK: usize = 64 << 10;

/// Cuts JSON values out of a byte stream.
pub(super) struct Scanner<'r> {
    pub(super) src: &'r mut dyn Read,
    /// Elements of `changes` cut so far.
    pub(super) changes: usize,
    pub(super) buf: Vec<u8>,
    pub(super) pos: usize,
    pub(super) eof: bool,
}

impl Scanner<'_> {
    /// Reads more bytes; false at the end of the stream.
    pub(super) fn fill(&mut self) -> Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let at = self.buf.len();
        self.buf.resize(at + CHUNK, 0);
        let n = loop {
            match self.src.read(&mut self.buf[at..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(at);
                    return Err(Error::io("read", "(delta stream)", e));
                }
            }
        };
        self.buf.truncate(at + n);
        self.eof = n == 0;
        Ok(n > 0)
    }

    /// The next byte that is not JSON whitespace, not consumed; `None` at the end.
    pub(super) fn peek(&mut self) -> Result<Option<u8>> {
        loop {
            while self.pos < self.buf.len() {
                match self.buf[self.pos] {
                    b' ' | b'\t' | b'\n' | b'\r' => self.pos += 1,
                    b => return Ok(Some(b)),
                }
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// Consumes `b` (after whitespace) or refuses with `what`.
    pub(super) fn expect(&mut self, b: u8, what: &str) -> Result<()> {
        if self.peek()? != Some(b) {
            return Err(parse_error(what));
        }
        self.pos += 1;
        Ok(())
    }

    /// The bytes of the next value (an object, array, string or scalar), at most `max` of them.
    pub(super) fn value(&mut self, max: usize, path: &str) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.value_into(&mut out, max, &path)?;
        Ok(out)
    }

    /// [`Scanner::value`] into `out` (cleared first, its capacity reused). The contents of strings
    /// (most of a delta: base64 of templates) are skipped with `memchr`, not byte by byte.
    /// `path` names the value in a refusal (formatted only then: this runs once per change).
    pub(super) fn value_into(
        &mut self,
        out: &mut Vec<u8>,
        max: usize,
        path: &dyn std::fmt::Display,
    ) -> Result<()> {
        out.clear();
        let first = self
            .peek()?
            .ok_or_else(|| parse_error("the delta ends in the middle"))?;
        let scalar = !matches!(first, b'{' | b'[' | b'"');
        let (mut depth, mut in_str, mut esc) = (0i64, false, false);
        loop {
            let chunk = &self.buf[self.pos..];
            let mut end = None;
            let mut i = 0;
            while i < chunk.len() {
                let c = chunk[i];
                if scalar {
                    if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        end = Some(i);
                        break;
                    }
                    i += 1;
                    continue;
                }
                if in_str {
                    if esc {
                        esc = false;
                        i += 1;
                        continue;
                    }
                    // Jump to the next quote or backslash.
                    match memchr::memchr2(b'"', b'\\', &chunk[i..]) {
                        None => break,
                        Some(j) => i += j,
                    }
                    if chunk[i] == b'\\' {
                        esc = true;
                    } else {
                        in_str = false;
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                    i += 1;
                    continue;
                }
                match c {
                    b'"' => in_str = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            let take = end.unwrap_or(chunk.len());
            if out.len() + take > max {
                return Err(refused(bad(
                    path.to_string(),
                    format!("more than {max} bytes (the most a streamed delta's element may hold)"),
                )));
            }
            out.extend_from_slice(&chunk[..take]);
            self.pos += take;
            if end.is_some() {
                return Ok(());
            }
            if !self.fill()? {
                return if scalar {
                    Ok(())
                } else {
                    Err(parse_error("the delta ends in the middle"))
                };
            }
        }
    }
}

pub(super) fn parse_error(what: &str) -> Error {
    refused(Refusal::Parse(format!("not valid JSON: {what}")))
}
