//! Little-endian byte encoding helpers shared by the log, manifest and deletion files.

/// Appends little-endian fields to a buffer.
#[derive(Default)]
pub struct ByteWriter(pub Vec<u8>);

impl ByteWriter {
    pub fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    /// A string with a u16 length prefix (ids are at most 64 bytes).
    pub fn str(&mut self, s: &str) {
        self.0.extend_from_slice(&(s.len() as u16).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
    }
    pub fn f32s(&mut self, v: &[f32]) {
        self.0.extend_from_slice(bytemuck::cast_slice(v));
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
}

/// Reads little-endian fields; every read checks the remaining length.
pub struct ByteReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// A read past the end or an invalid string; the caller turns it into a corruption error with a path.
#[derive(Debug)]
pub struct Short(pub &'static str);

impl<'a> ByteReader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        ByteReader { buf, pos: 0 }
    }
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Short> {
        if self.remaining() < n {
            return Err(Short(what));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub fn u8(&mut self, what: &'static str) -> Result<u8, Short> {
        Ok(self.take(1, what)?[0])
    }
    pub fn u32(&mut self, what: &'static str) -> Result<u32, Short> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }
    pub fn u64(&mut self, what: &'static str) -> Result<u64, Short> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().unwrap()))
    }
    pub fn str(&mut self, what: &'static str) -> Result<&'a str, Short> {
        let n = u16::from_le_bytes(self.take(2, what)?.try_into().unwrap()) as usize;
        std::str::from_utf8(self.take(n, what)?).map_err(|_| Short(what))
    }
    pub fn f32s(&mut self, n: usize, what: &'static str) -> Result<Vec<f32>, Short> {
        let b = self.take(n * 4, what)?;
        Ok(b.chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect())
    }
}
