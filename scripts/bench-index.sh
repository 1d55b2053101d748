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
  echo
  echo "The secondary lines are the ordered multikey indexes (a \`BTreeMap\` from key to posting"
  echo "list, one id inline, more in blocks): bytes per (key, id) entry, keys included, for an"
  echo "integer whose values are all distinct, a string with 1,000 values and an array of 3"
  echo "strings from 10,000 tags (3 entries a document). \"One by one\" is \`apply_put\` of each"
  echo "document in random id order, as writes arrive (its time includes the primary index's"
  echo "insert, the \"primary random-order ids\" line, and the counting allocator's atomics);"
  echo "\"bulk\" is \`CollectionIndexes::from_sorted\`, as open rebuilds them. \`walk(100)\` is one"
  echo "cold walk of the first 100 entries."
)
bench_publish "Indexes (nyro-index)" "$section"
