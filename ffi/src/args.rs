//! Turning C arguments into Rust values: the only module that reads or writes through caller
//! pointers.
//!
//! # Safety
//! C cannot tell Rust how large a buffer is, so each helper trusts the length the caller passed and
//! the header documents, per function, how much memory each pointer must cover. Everything else is
//! checked before any pointer is used: NULL gives `EDGEID_ERR_NULL` (as does a pointer not aligned
//! for its type, which C code can only produce by a cast), a length whose byte size exceeds
//! `isize::MAX` gives `EDGEID_ERR_INVALID`, bad UTF-8 `EDGEID_ERR_UTF8`. Borrowed slices live no
//! longer than the call (the `'a` of each helper is chosen by the calling export, which never
//! stores them).

use crate::status::edgeid_status::*;
use crate::status::{Failure, FfiResult};
use engine::ids::check_id;
use std::ffi::c_char;

/// Fails unless `ptr` is non-NULL and aligned for `T`.
fn check_ptr<T>(what: &str, ptr: *const T) -> FfiResult {
    if ptr.is_null() {
        return Err(Failure::new(EDGEID_ERR_NULL, format!("{what} is NULL")));
    }
    if !ptr.is_aligned() {
        return Err(Failure::new(
            EDGEID_ERR_NULL,
            format!(
                "{what} is not aligned to {} bytes",
                std::mem::align_of::<T>()
            ),
        ));
    }
    Ok(())
}

/// Fails unless `len` elements of `T` fit in `isize::MAX` bytes (the limit of any real buffer).
fn check_len<T>(what: &str, len: usize) -> FfiResult {
    match len.checked_mul(std::mem::size_of::<T>()) {
        Some(b) if b <= isize::MAX as usize => Ok(()),
        _ => Err(Failure::new(
            EDGEID_ERR_INVALID,
            format!("{what}: length {len} is larger than any buffer"),
        )),
    }
}

/// A required slice of `len` elements at `ptr`.
///
/// # Safety
/// If `ptr` is non-NULL, it must point to `len` initialised elements that stay valid and unmodified
/// for `'a`.
pub unsafe fn slice<'a, T>(what: &str, ptr: *const T, len: usize) -> FfiResult<&'a [T]> {
    check_ptr(what, ptr)?;
    check_len::<T>(what, len)?;
    // SAFETY: `ptr` is non-NULL and aligned (checked), the byte size fits isize (checked), and the
    // caller guarantees `len` initialised elements valid for 'a (this function's contract).
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A required UTF-8 string of `len` bytes at `ptr` (not NUL-terminated).
///
/// # Safety
/// As [`slice`]: if non-NULL, `ptr` must point to `len` readable bytes valid for `'a`.
pub unsafe fn str_arg<'a>(what: &str, ptr: *const c_char, len: usize) -> FfiResult<&'a str> {
    // SAFETY: forwarded contract; c_char and u8 have the same size and alignment.
    let bytes = unsafe { slice(what, ptr.cast::<u8>(), len) }?;
    std::str::from_utf8(bytes).map_err(|e| {
        Failure::new(
            EDGEID_ERR_UTF8,
            format!(
                "{what} is not valid UTF-8 (first bad byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

/// A required id (location, user, template): UTF-8 that follows the id rules (1..=64 bytes, no
/// control characters; `EDGEID_ERR_INVALID` otherwise). `what` names the argument, e.g.
/// "user_id"; the id rules' message names it without the "_id".
///
/// # Safety
/// As [`str_arg`].
pub unsafe fn id_arg<'a>(what: &str, ptr: *const c_char, len: usize) -> FfiResult<&'a str> {
    // SAFETY: forwarded contract.
    let s = unsafe { str_arg(what, ptr, len) }?;
    check_id(what.trim_end_matches("_id"), s)?;
    Ok(s)
}

/// An optional location filter (lookups, identify): NULL for every location (the length is then
/// ignored), else a location id, checked as [`id_arg`] checks it.
///
/// # Safety
/// As [`str_arg`].
pub unsafe fn location_filter<'a>(ptr: *const c_char, len: usize) -> FfiResult<Option<&'a str>> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded contract.
    unsafe { id_arg("location_id", ptr, len) }.map(Some)
}

/// Reads a struct through a pointer that may be NULL (None).
///
/// # Safety
/// If non-NULL, `ptr` must point to a readable, initialised `T` for the duration of the call, and
/// every bit pattern must be a valid `T` (only plain integer fields).
pub unsafe fn read_opt<T: Copy>(what: &str, ptr: *const T) -> FfiResult<Option<T>> {
    if ptr.is_null() {
        return Ok(None);
    }
    check_ptr(what, ptr)?;
    // SAFETY: non-NULL and aligned (checked); readable and valid per this function's contract.
    Ok(Some(unsafe { ptr.read() }))
}

/// Reads the first `bytes` bytes of a caller struct `T` (an older, shorter version of it); the
/// fields past them are zero.
///
/// # Safety
/// If non-NULL, `ptr` must point to `bytes` readable bytes, and every bit pattern (zero included)
/// must be a valid `T` (integer and pointer fields only). `bytes` must not exceed `size_of::<T>()`
/// (checked: a larger value is refused).
pub unsafe fn read_prefix<T: Copy>(what: &str, ptr: *const T, bytes: usize) -> FfiResult<T> {
    check_ptr(what, ptr)?;
    if bytes > std::mem::size_of::<T>() {
        return Err(Failure::new(
            EDGEID_ERR_SIZE,
            format!("{what}: {bytes} bytes is larger than the struct"),
        ));
    }
    let mut out = std::mem::MaybeUninit::<T>::zeroed();
    // SAFETY: `ptr` is non-NULL and aligned (checked) and covers `bytes` readable bytes (this
    // function's contract); `out` has `size_of::<T>() >= bytes` bytes (checked); a zeroed `T` with
    // any bytes copied over it is valid (this function's contract).
    unsafe {
        std::ptr::copy_nonoverlapping(ptr.cast::<u8>(), out.as_mut_ptr().cast::<u8>(), bytes);
        Ok(out.assume_init())
    }
}

/// Reads the leading `uint32_t size` field of a versioned caller struct `T`, before touching the
/// rest of it, and checks that it is the size of a version this library knows: `size_of::<T>()`
/// (this version) or one of `older` (`(size, version number)`); `EDGEID_ERR_SIZE` otherwise.
/// `field` names the field in the message (e.g. "stats->size"), `type_name` the C type.
///
/// # Safety
/// If non-NULL, `ptr` must point to at least 4 readable bytes holding the struct's `size` field.
pub unsafe fn versioned_size<T>(
    what: &str,
    ptr: *const T,
    field: &str,
    type_name: &str,
    older: &[(u32, u32)],
) -> FfiResult<u32> {
    check_ptr(what, ptr)?;
    // SAFETY: non-NULL and aligned for T (checked), hence for its first u32 field (T's alignment is
    // at least 4 because it starts with a u32); the caller guarantees the 4 bytes are readable.
    let size = unsafe { ptr.cast::<u32>().read() };
    let current = std::mem::size_of::<T>();
    if size as usize == current || older.iter().any(|&(s, _)| s == size) {
        return Ok(size);
    }
    let versions: String = older
        .iter()
        .map(|(s, v)| format!(" (or {s} for version {v})"))
        .collect();
    Err(Failure::new(
        EDGEID_ERR_SIZE,
        format!("{field} must be sizeof({type_name}) = {current}{versions}, got {size}"),
    ))
}

/// Fails unless a required output pointer is non-NULL (and aligned), for an export that checks it
/// before doing the work whose result it receives.
pub fn check_out<T>(what: &str, ptr: *mut T) -> FfiResult {
    check_ptr(what, ptr.cast_const())
}

/// A shared reference to a live object the library handed out (an `edgeid_batch`).
///
/// # Safety
/// If non-NULL, `ptr` must point to a live `T` that nothing mutates during `'a`.
pub unsafe fn object<'a, T>(what: &str, ptr: *const T) -> FfiResult<&'a T> {
    check_ptr(what, ptr)?;
    // SAFETY: non-NULL and aligned (checked); live and not mutated per this function's contract.
    Ok(unsafe { &*ptr })
}

/// An exclusive reference to a live object the library handed out (an `edgeid_batch`).
///
/// # Safety
/// If non-NULL, `ptr` must point to a live `T` that nothing else accesses during `'a`.
pub unsafe fn object_mut<'a, T>(what: &str, ptr: *mut T) -> FfiResult<&'a mut T> {
    check_ptr(what, ptr.cast_const())?;
    // SAFETY: non-NULL and aligned (checked); live and unaliased per this function's contract.
    Ok(unsafe { &mut *ptr })
}

/// Writes `value` through a required output pointer.
///
/// # Safety
/// If non-NULL, `ptr` must point to writable memory for one `T`.
pub unsafe fn write_out<T>(what: &str, ptr: *mut T, value: T) -> FfiResult {
    check_ptr(what, ptr.cast_const())?;
    // SAFETY: non-NULL and aligned (checked), writable per this function's contract. `write` does
    // not drop the old contents, which C may have left uninitialised.
    unsafe { ptr.write(value) };
    Ok(())
}

/// Writes the first `bytes` bytes of `value` through a required output pointer: for a versioned
/// struct whose caller knows an older, shorter version (`bytes` is that version's size, which
/// covers only fields the older version has too).
///
/// # Safety
/// If non-NULL, `ptr` must point to `bytes` writable bytes. `bytes` must not exceed
/// `size_of::<T>()` (checked: a larger value is refused).
pub unsafe fn write_prefix<T>(what: &str, ptr: *mut T, value: T, bytes: usize) -> FfiResult {
    check_ptr(what, ptr.cast_const())?;
    if bytes > std::mem::size_of::<T>() {
        return Err(Failure::new(
            EDGEID_ERR_SIZE,
            format!(
                "{what}: {bytes} bytes is larger than the struct ({})",
                std::mem::size_of::<T>()
            ),
        ));
    }
    // SAFETY: `ptr` is non-NULL and aligned (checked) and covers `bytes` writable bytes (this
    // function's contract); `value` is a local of at least `bytes` bytes (checked), so the source
    // is readable and the two ranges cannot overlap. A byte copy does not drop or read the old
    // contents, which C may have left uninitialised.
    unsafe {
        std::ptr::copy_nonoverlapping(
            std::ptr::from_ref(&value).cast::<u8>(),
            ptr.cast::<u8>(),
            bytes,
        );
    }
    Ok(())
}

/// Writes `value` through an optional output pointer (NULL: the value is not wanted).
///
/// # Safety
/// As [`write_out`].
pub unsafe fn write_opt<T>(what: &str, ptr: *mut T, value: T) -> FfiResult {
    if ptr.is_null() {
        return Ok(());
    }
    // SAFETY: forwarded contract.
    unsafe { write_out(what, ptr, value) }
}

/// A required output array of `len` elements.
///
/// # Safety
/// If non-NULL, `ptr` must point to `len` writable elements that nothing else accesses during `'a`.
/// The elements need not be initialised: callers only `write` whole values into them.
pub unsafe fn out_array<'a, T>(
    what: &str,
    ptr: *mut T,
    len: usize,
) -> FfiResult<&'a mut [std::mem::MaybeUninit<T>]> {
    check_ptr(what, ptr.cast_const())?;
    check_len::<T>(what, len)?;
    // SAFETY: non-NULL, aligned, byte size within isize (checked); writable and unaliased per this
    // function's contract; MaybeUninit<T> has T's layout and makes no claim about the contents.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr.cast::<std::mem::MaybeUninit<T>>(), len) })
}

/// An output array of `len` elements that may be NULL when `len` is 0 (the caller asks for a
/// count only): then it is empty.
///
/// # Safety
/// As [`out_array`].
pub unsafe fn out_array_or_empty<'a, T>(
    what: &str,
    ptr: *mut T,
    len: usize,
) -> FfiResult<&'a mut [std::mem::MaybeUninit<T>]> {
    if ptr.is_null() && len == 0 {
        return Ok(&mut []);
    }
    // SAFETY: forwarded contract.
    unsafe { out_array(what, ptr, len) }
}

/// Copies `s` into a fixed C buffer, NUL-terminated; `s` must be shorter than the buffer (ids and
/// model names are checked to fit by the library).
pub fn fill<const N: usize>(s: &str) -> [c_char; N] {
    let mut out = [0 as c_char; N];
    let n = s.len().min(N - 1);
    for (o, b) in out.iter_mut().zip(&s.as_bytes()[..n]) {
        *o = *b as c_char;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_misaligned_and_huge_are_refused() {
        // SAFETY: NULL and a misaligned pointer are refused before any read.
        unsafe {
            let e = slice::<f32>("probe", std::ptr::null(), 3).unwrap_err();
            assert_eq!(e.status, EDGEID_ERR_NULL);
            let buf = [0f32; 4];
            let odd = buf.as_ptr().cast::<u8>().add(1).cast::<f32>();
            assert_eq!(slice("probe", odd, 1).unwrap_err().status, EDGEID_ERR_NULL);
            let e = slice("probe", buf.as_ptr(), usize::MAX / 2).unwrap_err();
            assert_eq!(e.status, EDGEID_ERR_INVALID);
        }
    }

    #[test]
    fn strings_are_checked() {
        let good = "héllo";
        let bad = [b'a', 0xff, b'b'];
        // SAFETY: the pointers cover the lengths given.
        unsafe {
            assert_eq!(
                str_arg("s", good.as_ptr().cast(), good.len()).unwrap(),
                good
            );
            let e = str_arg("user id", bad.as_ptr().cast(), 3).unwrap_err();
            assert_eq!(e.status, EDGEID_ERR_UTF8);
            assert!(e.message.contains("offset 1"), "{}", e.message);
        }
    }

    #[test]
    fn ids_and_location_filters_are_checked() {
        let long = "x".repeat(65);
        // SAFETY: the pointers cover the lengths given.
        unsafe {
            assert_eq!(id_arg("user_id", "u-1".as_ptr().cast(), 3).unwrap(), "u-1");
            for bad in ["", "tab\there", long.as_str()] {
                let e = id_arg("user_id", bad.as_ptr().cast(), bad.len()).unwrap_err();
                assert_eq!(e.status, EDGEID_ERR_INVALID, "{bad:?}");
                let e = location_filter(bad.as_ptr().cast(), bad.len()).unwrap_err();
                assert_eq!(e.status, EDGEID_ERR_INVALID, "{bad:?}");
                assert!(e.message.contains("location id"), "{}", e.message);
            }
            assert_eq!(location_filter(std::ptr::null(), 99).unwrap(), None);
            assert_eq!(
                location_filter("hq".as_ptr().cast(), 2).unwrap(),
                Some("hq")
            );
        }
    }

    #[test]
    fn versioned_sizes_are_checked() {
        #[repr(C)]
        struct V {
            size: u32,
            a: u32,
            b: u64,
        }
        let mut v = V {
            size: 16,
            a: 0,
            b: 0,
        };
        let _ = (v.a, v.b);
        // SAFETY: `v` is a readable V.
        unsafe {
            assert_eq!(versioned_size("v", &v, "v->size", "V", &[]).unwrap(), 16);
            v.size = 8;
            assert_eq!(
                versioned_size("v", &v, "v->size", "V", &[(8, 1)]).unwrap(),
                8
            );
            let e = versioned_size("v", &v, "v->size", "V", &[]).unwrap_err();
            assert_eq!(e.status, EDGEID_ERR_SIZE);
            assert_eq!(e.message, "v->size must be sizeof(V) = 16, got 8");
            v.size = 9;
            let e = versioned_size("v", &v, "v->size", "V", &[(8, 1)]).unwrap_err();
            assert_eq!(
                e.message,
                "v->size must be sizeof(V) = 16 (or 8 for version 1), got 9"
            );
            let e = versioned_size::<V>("v", std::ptr::null(), "v->size", "V", &[]).unwrap_err();
            assert_eq!(
                (e.status, e.message.as_str()),
                (EDGEID_ERR_NULL, "v is NULL")
            );
        }
    }

    #[test]
    fn fill_terminates() {
        let a: [c_char; 5] = fill("abc");
        assert_eq!(a.map(|c| c as u8), *b"abc\0\0");
        let b: [c_char; 3] = fill("abcdef");
        assert_eq!(b.map(|c| c as u8), *b"ab\0");
    }
}
