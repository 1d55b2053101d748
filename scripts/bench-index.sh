#!/usr/bin/env bash
# Index memory and speed (nyro-index), release build: bytes per record of the primary index
# and bytes per (key, id) entry of the ordered secondary indexes of three paths (all-distinct
# integers; 1,000 distinct strings; arrays of 3 strings from 10,000), built one entry at a
# time and in bulk, measured by counting the heap bytes the allocator hands out. Prints a Markdown section; with --write
# it replaces the "Indexes (nyro-index)" section of docs/BENCHMARKS.md.
#
#   scripts/bench-index.sh [--write] [RECORDS]
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"
bench_start index "$@"
records=${args[0]:-1000000}
out=$(cargo run --release -q -p nyro-index --example index_memory "$records")
section=$(
  echo "## Indexes (nyro-index)"
  echo
  echo "Command: \`scripts/bench-index.sh --write $records\` · date: $(date -u +%Y-%m-%d) ·"
  echo "machine: $(nproc) cores, $(uname -sr). Heap bytes requested per record (the allocator's own"
  echo "overhead not counted). Hash tables double in size, so the figure depends on where the count"
  echo "falls: 1,000,000 is just past a doubling, the worst point (at 900,000 the primary index takes"
  echo "about 37 bytes per record)."
  echo
  echo '```text'
  echo "$out"
  echo '```'
)
bench_publish "Indexes (nyro-index)" "$section"
