//! C API of edgeid: the vendor-facing surface lands with the C API issue.
