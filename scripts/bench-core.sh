#!/usr/bin/env bash
# Core benchmark (nyro-core's embedded API), release build, one run: durable bulk ingest,
# 1/4/64 concurrent producers under each sync policy, a lone write's latency, random gets on
# 2 threads, indexed queries, reopen time, memory and disk per document. Prints a Markdown
# section; with --write it replaces the "Core (nyro-core)" section of docs/BENCHMARKS.md.
#
#   scripts/bench-core.sh [--write] [DOCS]
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"
bench_start core "$@"
docs=${args[0]:-1000000}

cargo build --release -q -p nyro-core --example bench_core
out=$("${CARGO_TARGET_DIR:-target}/release/examples/bench_core" "$work/db" "$docs")
get() { echo "$out" | sed -n "s/^$1=//p"; }
row() { printf '| %s | %s |\n' "$1" "$2"; }

section=$(
  echo "## Core (nyro-core)"
  echo
  echo "Command: \`scripts/bench-core.sh --write $docs\` · date: $(date -u +%Y-%m-%d) ·"
  echo "machine: $(bench_machine)."
  echo "Documents of about 100 bytes (three fields, \`city\` indexed with 1,000 distinct values)."
  echo "Producers are tokio tasks each awaiting one single-document insert at a time; under"
  echo "\`always\` the 1- and 4-producer runs write 2,000 documents per producer (they are bound"
  echo "by fdatasyncs), the others 50,000 per producer, at most $docs. Gets and scans: medians"
  echo "of three rounds in which the rows take turns."
  echo
  echo "| measurement | result |"
  echo "| --- | --- |"
  row "durable ingest, \`insert_many\` batches of 10,000, \`sync = always\`" "$(get bulk_always_docs_per_sec) docs/s"
  for sync in always interval never; do
    for p in 1 4 64; do
      row "$p producer(s), single-document inserts, \`sync = $sync\`" "$(get "producers_${sync}_${p}_docs_per_sec") docs/s ($(get "producers_${sync}_${p}_records_per_batch") records per batch)"
    done
  done
  row "lone write on an idle writer, \`interval\`, median of 200" "$(get lone_write_interval_micros) µs"
  row "random gets by id, 2 threads, owned \`Document\` (\`get\`)" "$(get gets_2_threads_per_sec) gets/s"
  row "random gets by id, 2 threads, borrowed view reading one field (\`get_with\`)" "$(get gets_with_one_field_2_threads_per_sec) gets/s"
  row "random gets by id, 2 threads, the view written as JSON (what the server sends)" "$(get gets_json_2_threads_per_sec) gets/s"
  row "random gets by id, 2 threads, view + the codec's decode (the read path before views)" "$(get gets_codec_decode_2_threads_per_sec) gets/s"
  row "full scan, 1 thread, owned documents (\`documents\`)" "$(get scan_documents_docs_per_sec) docs/s"
  row "full scan, 1 thread, borrowed views reading one field (\`scan_with\`)" "$(get scan_with_docs_per_sec) docs/s"
  row "full scan, 1 thread, views + the codec's decode (the scan before views)" "$(get scan_codec_decode_docs_per_sec) docs/s"
  row "indexed equality queries (100 documents per page)" "$(get queries_per_sec) queries/s, $(get query_docs_per_sec) docs/s"
  row "reopen of $docs documents (replay and index rebuild)" "$(get reopen_secs) s"
  row "heap after reopen, per document (anonymous RSS growth: indexes, catalog; the log's mapped pages not counted)" "$(get heap_bytes_per_doc_after_open) bytes"
  row "disk per document" "$(get disk_bytes_per_doc) bytes"
  row "peak RSS of the whole run" "$(get peak_rss_mb) MB"
)
bench_publish "Core (nyro-core)" "$section"
