#!/usr/bin/env bash
# Server benchmark: the release `nyrodb serve` over loopback, driven by wrk at 64
# connections: single-document inserts, _bulk inserts of 1,000, gets by id, indexed queries;
# in the same run the same wrk against a minimal axum handler (the HTTP layer's ceiling),
# single-document inserts on a second server with `sync = always`, and Redis (Debian's
# redis-server, append-only file with `appendfsync always`, then `everysec`) under
# redis-benchmark at the same 64 connections. Installs wrk, redis-server and redis-tools
# (Debian packages) if missing. Prints a Markdown section; with --write it replaces the
# "Server (nyro-server)" section of docs/BENCHMARKS.md.
#
#   scripts/bench-server.sh [--write] [SECONDS]
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"
bench_start server "$@"
secs=${args[0]:-10}
conns=64
bench_need_wrk
bench_need_redis
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p nyro-cli -p nyro-server --bin nyrodb --example http_ceiling

port=$(bench_free_ports 1)
NYRODB_LOG_FORMAT=text RUST_LOG=warn bench_spawn "$target/release/nyrodb" serve --data "$work/data" --listen "127.0.0.1:$port" 2>"$work/server.log"
bench_pid_server=$bench_pid
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
bench_stop "$bench_pid_server"

# The same single-document inserts on a second, empty server with `sync = always` (set
# through the environment): every insert is answered after its batch's fdatasync.
port=$(bench_free_ports 1)
NYRODB_BATCH_SYNC=always NYRODB_LOG_FORMAT=text RUST_LOG=warn bench_spawn "$target/release/nyrodb" serve --data "$work/data-always" --listen "127.0.0.1:$port" 2>"$work/server-always.log"
url="http://127.0.0.1:$port"
bench_wait_up "$url/health"
fsyncs_before=$(bench_fsyncs "$url")
insert_always=$(run insert-always "$url/v1/collections/bench/records" scripts/wrk/insert.lua)
fsyncs=$(( $(bench_fsyncs "$url") - fsyncs_before ))
bench_stop "$bench_pid"
errors=$(grep -h "Non-2xx" "$work"/*.txt || true)

# Redis: SET of 100-byte values to random keys, then GET, from 64 connections, once per
# appendfsync policy, as many requests as wrk sends NyroDB in about the same time.
requests=$(awk -v r="$(bench_field "$insert" 1)" -v s="$secs" 'BEGIN {n = int(r * s); print (n < 10000 ? 10000 : n)}')
bench_redis always "$requests"
redis_always=$redis_set
bench_redis everysec "$requests"
redis_everysec=$redis_set
redis_get_everysec=$redis_get
redis_version=$(redis-server --version | awk '{sub(/v=/, "", $3); print $3}')

pct() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f", 100*a/b}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }
# row LABEL "req/s p50 p99 ..." [DOCS/S]: a table row
row() { echo "| $1 | $(bench_field "$2" 1) | ${3-$(bench_field "$2" 1)} | $(bench_field "$2" 2) | $(bench_field "$2" 3) |"; }
bulk_docs=$(awk -v r="$(bench_field "$bulk" 1)" 'BEGIN {printf "%.0f", r*1000}')
section=$(
  echo "## Server (nyro-server)"
  echo
  echo "Command: \`scripts/bench-server.sh --write $secs\` · date: $(date -u +%Y-%m-%d) ·"
  echo "machine: $(nproc) cores (shared by server and load generator), $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr)."
  echo "wrk, 2 threads, $conns connections, ${secs} s per row, over loopback; release \`nyrodb serve\` on the"
  echo "default config (\`sync = interval\`); ~100-byte documents, \`city\` indexed; $docs documents stored"
  echo "when gets and queries ran. The ceiling is a minimal axum handler returning a fixed small JSON."
  echo "The \`sync = always\` row runs on a second, empty server started with \`NYRODB_BATCH_SYNC=always\`."
  echo "Redis $redis_version (Debian's \`redis-server\`), append-only file on, RDB snapshots off, run once with"
  echo "\`appendfsync always\` and once with \`everysec\`, each time on an empty directory, driven by"
  echo "\`redis-benchmark -c 64 -d 100 -r 10000000 -P 1 -t set,get -n $requests\` (one client thread,"
  echo "100-byte values, random keys, no pipelining; as many SETs as NyroDB's insert row sent)."
  echo
  echo "| workload | requests/s | docs/s | p50 ms | p99 ms |"
  echo "| --- | --- | --- | --- | --- |"
  row "ceiling: minimal axum handler" "$ceiling" ""
  row "single-document inserts" "$insert"
  row "single-document inserts, \`sync = always\` (durable)" "$insert_always"
  row "\`_bulk\` inserts of 1,000" "$bulk" "$bulk_docs"
  row "gets by id" "$get"
  row "indexed queries (10 per page)" "$query" ""
  row "Redis SET, \`appendfsync always\` (durable)" "$redis_always"
  row "Redis SET, \`appendfsync everysec\`" "$redis_everysec"
  row "Redis GET (\`everysec\` server, for reference)" "$redis_get_everysec"
  echo
  echo "Gets by id reach $(pct "$(bench_field "$get" 1)" "$(bench_field "$ceiling" 1)")% of the ceiling."
  echo "Durable single inserts (\`sync = always\`, $fsyncs fdatasyncs for $(bench_field "$insert_always" 5) inserts) reach"
  echo "$(ratio "$(bench_field "$insert_always" 1)" "$(bench_field "$redis_always" 1)")x Redis SET with \`appendfsync always\`; single inserts on the default"
  echo "\`sync = interval\` (a power cut loses at most the last second, as with \`everysec\`) reach"
  echo "$(ratio "$(bench_field "$insert" 1)" "$(bench_field "$redis_everysec" 1)")x Redis SET with \`appendfsync everysec\`."
  [ -n "$errors" ] && echo "wrk reported non-2xx answers: $errors"
  true
)
bench_publish "Server (nyro-server)" "$section"
