//! Memory of this process, as the benches report it: figures of `/proc/self/status` in MiB (None
//! off Linux), and resetting the peak so a later reading measures one step.

/// A `/proc/self/status` figure (`VmRSS`, `VmHWM`, `RssAnon`, …) in MiB.
pub fn status_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Peak resident set size (`VmHWM`) in MiB, since the process started or the last [`reset_peak`].
pub fn peak_mib() -> Option<f64> {
    status_mib("VmHWM")
}

/// Resets the peak resident set size (Linux: `/proc/self/clear_refs`) and returns the current
/// resident size in MiB, so the next [`peak_mib`] minus it measures what happened since.
pub fn reset_peak() -> Option<f64> {
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    status_mib("VmRSS")
}

/// One decimal is plenty for a memory figure in MiB.
pub fn round1(mib: f64) -> f64 {
    (mib * 10.0).round() / 10.0
}
