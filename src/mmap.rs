//! Read-only memory maps of immutable store files.
//!
//! # Safety
//! Mapping a file is `unsafe` because another process could change the file under the map, which would
//! break Rust's aliasing rules. edgeid only maps files it never modifies after publishing them (segment
//! files are written once, fsynced, then named in the manifest; later states go to new files), and the
//! store's lock file keeps a second edgeid writer out of the directory. A process outside edgeid writing
//! into the store's files is outside the contract, as for any database file. All mapping happens here.

use std::fs::File;
use std::ops::Deref;
use std::sync::Arc;

/// Bytes of a segment: a shared read-only map of a published file, or an owned, 64-byte aligned buffer
/// (in-memory segments of the live tail, and test file systems). Cloning is cheap.
#[derive(Clone)]
pub struct Bytes(Arc<Inner>);

enum Inner {
    Mapped(memmap2::Mmap),
    Owned(Vec<Align64>, usize),
}

/// A 64-byte block, so owned buffers are aligned like pages for SIMD loads and `f32` casts.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Align64([u8; 64]);

// SAFETY: Align64 is 64 plain bytes with no padding; all bit patterns are valid.
unsafe impl bytemuck::Zeroable for Align64 {}
// SAFETY: as above; it is Copy, 'static and repr(C) with no padding.
unsafe impl bytemuck::Pod for Align64 {}

impl Bytes {
    /// Maps `file` read-only. The file must be a published, never-modified store file (see module docs).
    pub fn map(file: &File) -> std::io::Result<Bytes> {
        if file.metadata()?.len() == 0 {
            return Ok(Bytes::copy_from(&[]));
        }
        // SAFETY: the file is immutable once published and protected by the store lock (module docs);
        // the map is read-only and lives as long as this Arc.
        let map = unsafe { memmap2::Mmap::map(file)? };
        Ok(Bytes(Arc::new(Inner::Mapped(map))))
    }

    /// Copies `data` into an aligned owned buffer.
    pub fn copy_from(data: &[u8]) -> Bytes {
        let mut blocks = vec![Align64([0; 64]); data.len().div_ceil(64)];
        bytemuck::cast_slice_mut::<Align64, u8>(&mut blocks)[..data.len()].copy_from_slice(data);
        Bytes(Arc::new(Inner::Owned(blocks, data.len())))
    }

    /// [`Bytes::copy_from`], or [`Error::OutOfMemory`](crate::error::Error::OutOfMemory).
    pub fn try_copy_from(data: &[u8], what: &'static str) -> crate::error::Result<Bytes> {
        let mut b = AlignedBuf::try_zeroed(data.len(), what)?;
        b.as_mut_bytes().copy_from_slice(data);
        Ok(b.freeze())
    }

    /// True when the bytes come from a memory map.
    pub fn is_mapped(&self) -> bool {
        matches!(*self.0, Inner::Mapped(_))
    }
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &*self.0 {
            Inner::Mapped(m) => m,
            Inner::Owned(b, len) => &bytemuck::cast_slice::<Align64, u8>(b)[..*len],
        }
    }
}

/// A zeroed, 64-byte aligned buffer to encode a file image into; [`AlignedBuf::freeze`] turns it
/// into [`Bytes`] without copying (a large in-memory segment is then held once, not twice).
pub struct AlignedBuf(Vec<Align64>, usize);

impl AlignedBuf {
    /// `len` zero bytes, or [`Error::OutOfMemory`](crate::error::Error::OutOfMemory).
    pub fn try_zeroed(len: usize, what: &'static str) -> crate::error::Result<AlignedBuf> {
        let blocks = crate::error::alloc::filled(len.div_ceil(64), Align64([0; 64]), what)?;
        Ok(AlignedBuf(blocks, len))
    }
    /// The bytes, writable.
    pub fn as_mut_bytes(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut::<Align64, u8>(&mut self.0)[..self.1]
    }
    /// Read-only, shareable bytes.
    pub fn freeze(self) -> Bytes {
        Bytes(Arc::new(Inner::Owned(self.0, self.1)))
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &bytemuck::cast_slice::<Align64, u8>(&self.0)[..self.1]
    }
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Bytes({} bytes, mapped={})",
            self.len(),
            self.is_mapped()
        )
    }
}
