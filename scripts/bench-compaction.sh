#!/usr/bin/env bash
# Compaction benchmark (nyro-core), release build: N documents ingested and each replaced
# twice; disk bytes before/after compaction against live bytes, compaction throughput,
# write throughput during a compaction against without, reopen time. Prints a Markdown
# section; with --write it replaces the "Compaction (nyro-core)" section of BENCHMARKS.md.
#
#   scripts/bench-compaction.sh [--write] [DOCS]
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"
bench_start compaction "$@"
docs=${args[0]:-1000000}
cargo build --release -q -p nyro-core --example bench_compaction
out=$("${CARGO_TARGET_DIR:-target}/release/examples/bench_compaction" "$work/db" "$docs")
get() { echo "$out" | sed -n "s/^$1=//p"; }
mb() { awk -v b="$1" 'BEGIN {printf "%.1f MB", b/1e6}'; }
section=$(
  echo "## Compaction (nyro-core)"
  echo
  echo "Command: \`scripts/bench-compaction.sh --write $docs\` · date: $(date -u +%Y-%m-%d) ·"
  echo "machine: $(bench_machine)."
  echo "$docs documents of ~100 bytes ingested, then each replaced twice (64 tasks); 64 MB"
  echo "segments, \`sync = interval\`. \"Live\" is the bytes of the frames of current versions, catalog"
  echo "records and segment headers. Write throughput: 64 tasks inserting single documents for 5 s."
  echo
  echo "| measurement | result |"
  echo "| --- | --- |"
  echo "| disk before compaction | $(mb "$(get disk_bytes_before)") (live $(mb "$(get live_bytes_before)")) |"
  echo "| disk after compaction | $(mb "$(get disk_bytes_after)") (live $(mb "$(get live_bytes_after)")): $(get disk_over_live_after)x live |"
  echo "| compaction | $(get segments_rewritten) segments in $(get compaction_secs) s, $(get compaction_read_mb_per_sec) MB/s read |"
  echo "| writes without compaction | $(get writes_without_compaction_docs_per_sec) docs/s |"
  echo "| writes while compacting | $(get writes_during_compaction_docs_per_sec) docs/s (compaction outlasted the 5 s window: $(get compaction_outlasted_write_window)) |"
  echo "| reopen after compaction, without hint files | $(get reopen_secs_without_hints) s |"
)
bench_publish "Compaction (nyro-core)" "$section"
