#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 30 s each; FUZZ_SECONDS=N to change), seeded
# from the committed corpora (fuzz/corpus/<target>/) and the test data. Fails on the first crash,
# leaving the input in fuzz/artifacts/<target>/ (turn it into a regression test, then commit it to the
# target's corpus). Installs cargo-fuzz from crates.io when missing. libFuzzer's coverage
# instrumentation is stable rustc; no sanitizer (they need a nightly toolchain), so memory errors
# outside `unsafe` are already impossible and the targets check the engine's own invariants.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-30}"
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked --version 0.13.2
fi
targets=(delta signed_delta finger_codecs face_template store_open c_api)
# One optimised build of all targets (debug assertions on).
cargo fuzz build --sanitizer none --debug-assertions
declare -A seeds=(
    [delta]="testdata/sync"
    [signed_delta]="testdata/sync/signed"
    [finger_codecs]="testdata/fingerprint/standard-examples testdata/fingerprint/invalid testdata/fingerprint/fvc2002/DB1_B/mindtct testdata/fingerprint/fvc2002/DB3_B/secugen"
    [face_template]=""
    [store_open]=""
    [c_api]=""
)
for t in "${targets[@]}"; do
    work="$(mktemp -d)"
    log="$work.log"
    echo "fuzz $t: ${seconds}s"
    status=0
    # shellcheck disable=SC2086 # seed directories are words
    cargo fuzz run --sanitizer none --debug-assertions "$t" "$work" "fuzz/corpus/$t" ${seeds[$t]} -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 >"$log" 2>&1 ||
        status=$?
    grep -E '^(stat::number_of_executed_units|stat::new_units_added|SUMMARY)|panicked|ERROR|Running' "$log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 40 "$log"
        echo "fuzz $t: FAILED (input saved in fuzz/artifacts/$t/)"
        exit 1
    fi
    rm -rf "$work" "$log"
done
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no crash"
