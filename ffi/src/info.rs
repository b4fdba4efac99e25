//! Version, SIMD kernel, and error messages.

use crate::status::edgeid_status::{self, *};
use crate::status::{boundary, with_last_error};
use std::ffi::{c_char, CStr, CString};
use std::sync::OnceLock;

/// The library's version, "MAJOR.MINOR.PATCH" (NUL-terminated, static: never free it). Compare it
/// with `EDGEID_VERSION_STRING` to detect a library older than the header you built against.
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn edgeid_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The library's version as one number, `MAJOR * 10000 + MINOR * 100 + PATCH` (0.1.0 is 100),
/// for a firmware that compares versions at run time without parsing a string: check it against
/// `EDGEID_VERSION_NUMBER` from the header. Thread safety: any thread.
#[no_mangle]
pub extern "C" fn edgeid_version_number() -> u32 {
    VERSION_NUMBER
}

/// The ABI this library implements, `EDGEID_ABI_VERSION` of the header it was built with: a
/// program built against another ABI must not use it (the SONAME encodes the same rule: every
/// 0.x minor, then every major). Thread safety: any thread.
#[no_mangle]
pub extern "C" fn edgeid_abi_version() -> u32 {
    ABI_VERSION
}

/// `MAJOR * 10000 + MINOR * 100 + PATCH` of this crate.
const VERSION_NUMBER: u32 = {
    const fn num(s: &str) -> u32 {
        let b = s.as_bytes();
        let mut i = 0;
        let mut n = 0;
        while i < b.len() {
            n = n * 10 + (b[i] - b'0') as u32;
            i += 1;
        }
        n
    }
    let (major, minor, patch) = (
        num(env!("CARGO_PKG_VERSION_MAJOR")),
        num(env!("CARGO_PKG_VERSION_MINOR")),
        num(env!("CARGO_PKG_VERSION_PATCH")),
    );
    assert!(
        minor < 100 && patch < 100,
        "the number keeps two digits each"
    );
    major * 10000 + minor * 100 + patch
};

/// The ABI version: the minor for 0.x (every 0.x minor may change the ABI), else the major.
const ABI_VERSION: u32 = if VERSION_NUMBER < 10000 {
    VERSION_NUMBER / 100
} else {
    VERSION_NUMBER / 10000 * 100
};

/// Name of the SIMD kernel this CPU uses for face search, e.g. "avx512vnni", "avx2", "neon",
/// "scalar" (NUL-terminated, static: never free it). Every kernel gives the same results.
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn edgeid_kernel_name() -> *const c_char {
    static NAME: OnceLock<Option<CString>> = OnceLock::new();
    let name = NAME.get_or_init(|| {
        boundary("edgeid_kernel_name", || {
            Ok(CString::new(engine::kernels::Kernels::detect().name).ok())
        })
        .ok()
        .flatten()
    });
    match name {
        Some(n) => n.as_ptr(),
        None => c"unknown".as_ptr(),
    }
}

/// A short, static description of a status code, e.g. "EDGEID_ERR_NULL: a required pointer was
/// NULL" (NUL-terminated; never free it). Unknown codes give "unknown edgeid status code".
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn edgeid_status_str(status: u32) -> *const c_char {
    let s: &CStr = match edgeid_status::from_u32(status) {
        None => c"unknown edgeid status code",
        Some(s) => match s {
            EDGEID_OK => c"EDGEID_OK: success",
            EDGEID_ERR_NULL => c"EDGEID_ERR_NULL: a required pointer was NULL or misaligned",
            EDGEID_ERR_UTF8 => c"EDGEID_ERR_UTF8: a string is not valid UTF-8",
            EDGEID_ERR_INVALID => c"EDGEID_ERR_INVALID: an argument or input was refused",
            EDGEID_ERR_DIMENSION => {
                c"EDGEID_ERR_DIMENSION: embedding length is not the store's dimension"
            }
            EDGEID_ERR_SIZE => {
                c"EDGEID_ERR_SIZE: a struct's size field is unknown, or an array is too small"
            }
            EDGEID_ERR_NOT_FOUND => c"EDGEID_ERR_NOT_FOUND: no such user, template or location",
            EDGEID_ERR_NO_STORE => {
                c"EDGEID_ERR_NO_STORE: no store in that directory (or, when creating, one already)"
            }
            EDGEID_ERR_LOCKED => c"EDGEID_ERR_LOCKED: the store is open elsewhere",
            EDGEID_ERR_IO => c"EDGEID_ERR_IO: a file operation failed",
            EDGEID_ERR_STORAGE_FULL => c"EDGEID_ERR_STORAGE_FULL: storage full, nothing changed",
            EDGEID_ERR_CORRUPT => c"EDGEID_ERR_CORRUPT: a store file is damaged",
            EDGEID_ERR_VERSION => {
                c"EDGEID_ERR_VERSION: a store file has an unsupported format version"
            }
            EDGEID_ERR_MODEL => c"EDGEID_ERR_MODEL: input of another face model than the store's",
            EDGEID_ERR_POISONED => {
                c"EDGEID_ERR_POISONED: an earlier write failed; close and reopen the store"
            }
            EDGEID_ERR_CLOSED => c"EDGEID_ERR_CLOSED: the store handle is closed or invalid",
            EDGEID_ERR_UNSUPPORTED => c"EDGEID_ERR_UNSUPPORTED: not supported by this version",
            EDGEID_ERR_PANIC => {
                c"EDGEID_ERR_PANIC: internal error; the store handle was closed, reopen it"
            }
            EDGEID_ERR_OTHER => c"EDGEID_ERR_OTHER: unclassified error, see the message",
            EDGEID_ERR_REFUSED => {
                c"EDGEID_ERR_REFUSED: the delta was refused; nothing of it was applied"
            }
            EDGEID_ERR_READ_ONLY => {
                c"EDGEID_ERR_READ_ONLY: the store was opened read-only; nothing was changed"
            }
            EDGEID_ERR_OUT_OF_MEMORY => {
                c"EDGEID_ERR_OUT_OF_MEMORY: out of memory, nothing changed; retry smaller or later"
            }
            EDGEID_ERR_CANCELLED => {
                c"EDGEID_ERR_CANCELLED: the callback asked to stop; nothing was applied"
            }
        },
    };
    s.as_ptr()
}

/// The message of the last failed call on this thread (calls that succeed leave it unchanged, so
/// read it right after the failure). Copies it into `buf` as UTF-8, cut at a character boundary to
/// fit `buf_len - 1` bytes, and NUL-terminates it; returns the full length in bytes (without the
/// NUL). So `if (n >= buf_len)` the message was cut; `edgeid_last_error_message(NULL, 0)` returns
/// the length needed. Returns 0 (and writes "") if no call on this thread has failed.
/// Thread safety: any thread; each thread has its own message.
///
/// # Safety
/// `buf`, if not NULL, must point to `buf_len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn edgeid_last_error_message(buf: *mut c_char, buf_len: usize) -> usize {
    boundary("edgeid_last_error_message", || {
        Ok(with_last_error(|m| {
            if !buf.is_null() && buf_len > 0 {
                let mut n = m.len().min(buf_len - 1);
                while !m.is_char_boundary(n) {
                    n -= 1;
                }
                // SAFETY: `buf` covers `buf_len` > n bytes (contract); the message is a separate
                // allocation, so the ranges do not overlap.
                unsafe {
                    std::ptr::copy_nonoverlapping(m.as_ptr(), buf.cast::<u8>(), n);
                    buf.add(n).write(0);
                }
            }
            m.len()
        }))
    })
    .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::set_last_error;

    #[test]
    fn version_matches_cargo() {
        // SAFETY: edgeid_version returns a static NUL-terminated string.
        let v = unsafe { CStr::from_ptr(edgeid_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn version_number_matches_cargo() {
        let v: Vec<u32> = env!("CARGO_PKG_VERSION")
            .split('.')
            .map(|p| p.parse().unwrap())
            .collect();
        assert_eq!(edgeid_version_number(), v[0] * 10000 + v[1] * 100 + v[2]);
        let abi = if v[0] == 0 { v[1] } else { v[0] * 100 };
        assert_eq!(edgeid_abi_version(), abi);
    }

    #[test]
    fn every_status_has_its_own_text() {
        for s in edgeid_status::ALL {
            // SAFETY: static NUL-terminated strings.
            let t = unsafe { CStr::from_ptr(edgeid_status_str(s as u32)) };
            assert!(t.to_str().unwrap().starts_with(&format!("{s:?}:")), "{t:?}");
        }
        // SAFETY: as above.
        let t = unsafe { CStr::from_ptr(edgeid_status_str(999)) };
        assert_eq!(t, c"unknown edgeid status code");
    }

    #[test]
    fn message_is_cut_at_a_char_boundary() {
        set_last_error("ab\u{e9}cd".into()); // é is 2 bytes: a b 0xc3 0xa9 c d
        let mut buf = [0x55 as c_char; 4];
        // SAFETY: buf has 4 bytes.
        let n = unsafe { edgeid_last_error_message(buf.as_mut_ptr(), 4) };
        assert_eq!(n, 6);
        assert_eq!(buf.map(|c| c as u8), [b'a', b'b', 0, 0x55]);
        // SAFETY: NULL is allowed.
        let needed = unsafe { edgeid_last_error_message(std::ptr::null_mut(), 0) };
        assert_eq!(needed, 6);
    }
}
