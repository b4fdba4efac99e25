//! Gives the shared library its SONAME, which encodes the ABI version (see README.md, "ABI rules"):
//! `libedgeid.so.0.MINOR` while the major version is 0 (every 0.x minor may change the ABI), then
//! `libedgeid.so.MAJOR`.

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_default();
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap_or_default();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if matches!(
        os.as_str(),
        "linux" | "android" | "freebsd" | "netbsd" | "openbsd"
    ) {
        let soname = if major == "0" {
            format!("libedgeid.so.0.{minor}")
        } else {
            format!("libedgeid.so.{major}")
        };
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
