#!/usr/bin/env bash
# Open time with and without hint files (nyro-core), release build, for each document
# count given (default 1,000,000 and 10,000,000), and the heap per document after open.
# Prints a Markdown section; with --write it replaces the "Open time (hint files)" section
# of docs/BENCHMARKS.md.
#
#   scripts/bench-open.sh [--write] [DOCS...]
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"
bench_start open "$@"
counts=("${args[@]}")
[ ${#counts[@]} -eq 0 ] && counts=(1000000 10000000)
cargo build --release -q -p nyro-core --example bench_open
rows=""
for n in "${counts[@]}"; do
  out=$("${CARGO_TARGET_DIR:-target}/release/examples/bench_open" "$work/db" "$n")
  get() { echo "$out" | sed -n "s/^$1=//p"; }
  rows+="| $n | $(get segments) ($(get used_hints) with hints) | $(get open_secs_without_hints) s ($(get open_cpu_secs_without_hints) s CPU) | $(get open_secs_with_hints) s ($(get open_cpu_secs_with_hints) s CPU) | $(get heap_bytes_per_doc_with_hints) B |"$'\n'
done
section=$(
  echo "## Open time (hint files)"
  echo
  echo "Command: \`scripts/bench-open.sh --write ${counts[*]}\` · date: $(date -u +%Y-%m-%d) ·"
  echo "machine: $(bench_machine)."
  echo "Documents of ~100 bytes, \`city\` indexed, 64 MB segments. Open = recovery of the log,"
  echo "rebuild of every index and the first get, each in a fresh process, median of 3 (CPU: user"
  echo "and system time of all its threads). With hints, sealed segments are not read: their hint"
  echo "gives each record's place and indexed fields; the active segment's hint (written by the"
  echo "clean close) spares decoding it, but its frames are still checked. Heap: anonymous"
  echo "resident memory the open added, per document. On a shared machine elapsed time follows"
  echo "the load of other jobs (and whether the files are still in the page cache); CPU time"
  echo "is steadier."
  echo
  echo "| documents | segments | open without hints | open with hints | heap after open |"
  echo "| --- | --- | --- | --- | --- |"
  printf '%s' "$rows"
)
bench_publish "Open time (hint files)" "$section"
