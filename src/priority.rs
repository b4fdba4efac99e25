//! Thread scheduling priority: the one place that asks the operating system to run a thread at a
//! lower priority.
//!
//! A bulk synchronisation quantises and writes hundreds of thousands of templates while the door
//! keeps identifying people. The threads that do the bulk work lower their own priority, so that
//! the scheduler gives a search the cores whenever it wants them and the bulk work takes what is
//! left (`store::workers`, `Workers::background`). Only threads the store starts (and joins) are
//! lowered, never a caller's: an unprivileged thread may lower its priority but not raise it back.
//!
//! Linux and Android: `setpriority(PRIO_PROCESS, tid, nice)` changes one thread (threads are tasks there), by
//! [`BACKGROUND_NICE`] above the thread's current nice value (so a firmware process already at
//! nice 5 gets background threads at 15). Elsewhere nothing is changed.

/// How much nicer than the store's other threads the background threads are: at +10 the kernel's
/// fair scheduler weighs a search thread about nine times a bulk thread on a contended core.
pub const BACKGROUND_NICE: i32 = 10;

/// Lowers the calling thread's priority by [`BACKGROUND_NICE`]; false when the system refused or
/// cannot do it (the work then runs at the normal priority, which is correct, only less polite).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn lower_current_thread() -> bool {
    // SAFETY: `gettid` takes no arguments and cannot fail. `getpriority` and `setpriority` take
    // plain integers (no pointers) and only read or change the scheduling attribute of the task
    // named by `tid`, which is the calling thread itself. `getpriority` may legitimately return
    // -1, which is also its error value: an error then reads as nice -1, and the value set below
    // is clamped to the valid range, so the worst outcome is a slightly different nice value.
    unsafe {
        let tid = libc::gettid() as libc::id_t;
        let now = libc::getpriority(libc::PRIO_PROCESS, tid);
        let to = (now + BACKGROUND_NICE).clamp(-20, 19);
        libc::setpriority(libc::PRIO_PROCESS, tid, to) == 0
    }
}

/// Lowers the calling thread's priority: not done on this system.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn lower_current_thread() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    fn nice_of_current() -> i32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        // Field 19 (nice) counted after the command name, which ends at the last ')'.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        rest.split(' ').nth(16).unwrap().parse().unwrap()
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn lowers_only_the_calling_thread() {
        let before = nice_of_current();
        let lowered = std::thread::spawn(|| (lower_current_thread(), nice_of_current()))
            .join()
            .unwrap();
        assert!(lowered.0, "setpriority refused");
        assert_eq!(lowered.1, (before + BACKGROUND_NICE).min(19));
        assert_eq!(
            nice_of_current(),
            before,
            "the caller's thread is unchanged"
        );
    }
}
