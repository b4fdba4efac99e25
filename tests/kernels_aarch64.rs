//! Kernel-versus-scalar checks as a single-threaded binary (`harness = false`): the face kernels
//! and the fingerprint matcher's popcount kernels.
//!
//! Why not libtest: under qemu-user on the build machine a second thread
//! hangs, and libtest starts threads. This binary runs every check of
//! `src/kernels/checks.rs` on every kernel table the CPU offers (NEON and
//! dotprod on aarch64, AVX2/AVX-512 on x86-64) without starting any thread,
//! prints one line per check and a closing `N passed, M failed` line, and
//! exits non-zero on any failure.

use std::process::ExitCode;

use edgeid::kernels::Kernels;

#[path = "../src/kernels/checks.rs"]
mod checks;

fn main() -> ExitCode {
    println!(
        "kernels: detected {}, available [{}]",
        Kernels::detect().name,
        Kernels::all_available()
            .iter()
            .map(|k| k.name)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let (mut passed, mut failed) = (0usize, 0usize);
    for k in Kernels::all_available() {
        for (name, check) in checks::CHECKS {
            match check(&k) {
                Ok(()) => {
                    passed += 1;
                    println!("ok     {} {name}", k.name);
                }
                Err(e) => {
                    failed += 1;
                    println!("FAILED {} {name}: {e}", k.name);
                }
            }
        }
    }
    // The fingerprint matcher's popcount kernels (NEON on aarch64) against their scalar reference.
    println!(
        "finger kernels: [{}]",
        edgeid::kernels::popcnt::available()
            .iter()
            .map(|k| k.0)
            .collect::<Vec<_>>()
            .join(", ")
    );
    for seed in [1u64, 0x9e37_79b9_7f4a_7c15, 42] {
        match edgeid::kernels::popcnt::check_kernels(seed) {
            Ok(n) => {
                passed += 1;
                println!("ok     finger kernels, seed {seed}: {n} comparisons");
            }
            Err(e) => {
                failed += 1;
                println!("FAILED finger kernels, seed {seed}: {e}");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
