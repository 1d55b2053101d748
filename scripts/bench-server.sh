#!/usr/bin/env bash
# Server benchmark: the release `nyrodb serve` over loopback, driven by wrk at 64
# connections: single-document inserts, _bulk inserts of 1,000, gets by id, indexed queries;
# in the same run the same wrk against a minimal axum handler (the HTTP layer's ceiling).
# Installs wrk (Debian package) if missing. Prints a Markdown section; with --write it
# replaces the "Server (nyro-server)" section of docs/BENCHMARKS.md.
#
#   scripts/bench-server.sh [--write] [SECONDS]
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"
bench_start server "$@"
secs=${args[0]:-10}
conns=64
bench_need_wrk
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p nyro-cli -p nyro-server --bin nyrodb --example http_ceiling

port=$(bench_free_ports 1)
NYRODB_LOG_FORMAT=text RUST_LOG=warn bench_spawn "$target/release/nyrodb" serve --data "$work/data" --listen "127.0.0.1:$port" 2>"$work/server.log"
url="http://127.0.0.1:$port"
bench_wait_up "$url/health"
curl -sf -X PUT "$url/v1/collections/bench" -d '{"indexes":["city"]}' >/dev/null

cport=$(bench_free_ports 1)
bench_spawn "$target/release/examples/http_ceiling" "127.0.0.1:$cport"
bench_wait_up "http://127.0.0.1:$cport/"

# run NAME URL [LUA] -> "req/s p50 p99 non2xx" (latencies in ms)
run() { bench_wrk "$1" "$secs" "$conns" "$2" "${3:-}"; }

ceiling=$(run ceiling "http://127.0.0.1:$cport/")
bulk=$(run bulk "$url/v1/collections/bench/records/_bulk" scripts/wrk/bulk.lua)
insert=$(run insert "$url/v1/collections/bench/records" scripts/wrk/insert.lua)
docs=$(bench_count "$url")
get=$(NYRO_DOCS=$docs run get "$url" scripts/wrk/get.lua)
query=$(run query "$url/v1/collections/bench/_query" scripts/wrk/query.lua)
errors=$(grep -h "Non-2xx" "$work"/*.txt || true)

pct() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f", 100*a/b}'; }
bulk_docs=$(awk -v r="$(bench_field "$bulk" 1)" 'BEGIN {printf "%.0f", r*1000}')
section=$(
  echo "## Server (nyro-server)"
  echo
  echo "Command: \`scripts/bench-server.sh --write $secs\` · date: $(date -u +%Y-%m-%d) ·"
  echo "machine: $(nproc) cores (shared by server and load generator), $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr)."
  echo "wrk, 2 threads, $conns connections, ${secs} s per row, over loopback; release \`nyrodb serve\` on the"
  echo "default config (\`sync = interval\`); ~100-byte documents, \`city\` indexed; $docs documents stored"
  echo "when gets and queries ran. The ceiling is a minimal axum handler returning a fixed small JSON."
  echo
  echo "| workload | requests/s | docs/s | p50 ms | p99 ms |"
  echo "| --- | --- | --- | --- | --- |"
  echo "| ceiling: minimal axum handler | $(bench_field "$ceiling" 1) | | $(bench_field "$ceiling" 2) | $(bench_field "$ceiling" 3) |"
  echo "| single-document inserts | $(bench_field "$insert" 1) | $(bench_field "$insert" 1) | $(bench_field "$insert" 2) | $(bench_field "$insert" 3) |"
  echo "| \`_bulk\` inserts of 1,000 | $(bench_field "$bulk" 1) | $bulk_docs | $(bench_field "$bulk" 2) | $(bench_field "$bulk" 3) |"
  echo "| gets by id | $(bench_field "$get" 1) | $(bench_field "$get" 1) | $(bench_field "$get" 2) | $(bench_field "$get" 3) |"
  echo "| indexed queries (10 per page) | $(bench_field "$query" 1) | | $(bench_field "$query" 2) | $(bench_field "$query" 3) |"
  echo
  echo "Gets by id reach $(pct "$(bench_field "$get" 1)" "$(bench_field "$ceiling" 1)")% of the ceiling."
  [ -n "$errors" ] && echo "wrk reported non-2xx answers: $errors"
  true
)
bench_publish "Server (nyro-server)" "$section"
