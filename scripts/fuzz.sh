#!/usr/bin/env bash
# Fuzzes NyroDB with cargo-fuzz (libFuzzer): every target in fuzz/ for a bounded time.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s, every target)
#
# Installs cargo-fuzz from crates.io if it is missing. cargo-fuzz needs nightly compiler
# flags (-Z sanitizer=address, sanitizer coverage): a nightly toolchain is used if rustup has
# one, otherwise the machine's stable toolchain with RUSTC_BOOTSTRAP=1, which unlocks them.
# Each target's corpus grows in fuzz/corpus/<target> (kept between runs), crashes land in
# fuzz/artifacts/<target>, logs in fuzz/logs/<target>.log. Exits non-zero if any target
# crashed (or failed to build); prints executions, speed and corpus size per target.
# Not part of `cargo test` or .ci/run. docs/RELIABILITY.md, section "Fuzzing", has figures.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

seconds="${1:-60}"
[ $# -gt 0 ] && shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(frame_check segment_recovery json_document stored_document hint_decode)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz from crates.io" >&2
    cargo install cargo-fuzz --locked
fi
toolchain=()
if rustup run nightly rustc --version >/dev/null 2>&1; then
    toolchain=(+nightly)
else
    echo "no nightly toolchain: building with the stable one and RUSTC_BOOTSTRAP=1" >&2
    export RUSTC_BOOTSTRAP=1
fi

# Seeds, so that a first run starts from real data rather than from nothing.
seed() {
    local target=$1 dir=fuzz/corpus/$1
    mkdir -p "$dir"
    [ -n "$(ls -A "$dir")" ] && return
    case $target in
        segment_recovery)
            # Mode byte 0 (the rest is the file as it is), then a real segment file.
            { printf '\x00'; cat crates/nyro-core/tests/fixtures/format-v1/segment-0000000001.log; } \
                >"$dir/seed-fixture-v1"
            printf '\x02\x05\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a' >"$dir/seed-program"
            printf '\x03\x03\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x03\x02' >"$dir/seed-two"
            ;;
        json_document)
            printf '%s' '{"_id": 7, "a": 1, "b": [true, null, 1.5e3], "c": {"d": "é\u00e9"}}' >"$dir/seed-doc"
            printf '%s' '[{"a": 1}, {"_id": 18446744073709551615, "b": -9223372036854775808}]' >"$dir/seed-bulk"
            ;;
        stored_document)
            # Selector byte, then {"a": 1, "b": "xy"} as stored (docs/FORMAT.md).
            printf '\x03\x02\x01\x61\x02\x02\x01\x62\x05\x02\x78\x79' >"$dir/seed-doc"
            ;;
        hint_decode)
            # Segment 1, 3 entries, then their gaps, lengths, kinds and fields.
            printf '\x01\x00\x03\x00\x10\x00\x01\x05\x02\x07\x00\x09\x00\x08\x20\x01\x02\x00\x03' >"$dir/seed-program"
            ;;
        frame_check)
            printf '\x25\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x07\x00\x00\x00\x2a\x00\x00\x00\x00\x00\x00\x00\x09\x00\x00\x00\x00\x00\x00\x00hello' >"$dir/seed-frame"
            ;;
    esac
}

(cd fuzz && cargo "${toolchain[@]}" fuzz build -O)

mkdir -p fuzz/logs
failed=()
summary=()
for target in "${targets[@]}"; do
    seed "$target"
    mkdir -p "fuzz/artifacts/$target"
    log="fuzz/logs/$target.log"
    echo "== $target: ${seconds} s" >&2
    status=0
    (cd fuzz && cargo "${toolchain[@]}" fuzz run -O "$target" -- \
        -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1) \
        >"$log" 2>&1 || status=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    corpus=$(find "fuzz/corpus/$target" -type f | wc -l)
    line="$target: ${runs:-?} executions in ${seconds} s (${speed:-?}/s), corpus ${corpus} inputs"
    if [ "$status" -ne 0 ]; then
        line="$line, FAILED (exit $status): see $log and fuzz/artifacts/$target"
        failed+=("$target")
        tail -40 "$log" >&2
    fi
    echo "$line" >&2
    summary+=("$line")
done

echo
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "crashed: ${failed[*]}"
    exit 1
fi
echo "no crashes"
