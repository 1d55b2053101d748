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
if ! command -v wrk >/dev/null; then
  echo "installing wrk..." >&2
  (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
fi
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p nyro-cli -p nyro-server --bin nyrodb --example http_ceiling
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "server at $1 did not start" >&2; exit 1; }

port=$(free_port)
NYRODB_LOG_FORMAT=text RUST_LOG=warn "$target/release/nyrodb" serve --data "$work/data" --listen "127.0.0.1:$port" 2>"$work/server.log" &
pids+=($!)
url="http://127.0.0.1:$port"
wait_up "$url/health"
curl -sf -X PUT "$url/v1/collections/bench" -d '{"indexes":["city"]}' >/dev/null

cport=$(free_port)
"$target/release/examples/http_ceiling" "127.0.0.1:$cport" &
pids+=($!)
wait_up "http://127.0.0.1:$cport/"

# run NAME URL [LUA] -> "req/s p50 p99" (latencies in ms)
run() {
  local out
  out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency ${3:+-s "$3"} "$2")
  echo "$out" > "$work/$1.txt"
  local rps p50 p99
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  echo "$rps $(ms "$p50") $(ms "$p99")"
}
ms() { # wrk latency like 1.23ms / 456.00us / 1.20s -> milliseconds
  echo "$1" | awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; printf "%.2f", v}'
}

ceiling=$(run ceiling "http://127.0.0.1:$cport/")
bulk=$(run bulk "$url/v1/collections/bench/records/_bulk" scripts/wrk/bulk.lua)
insert=$(run insert "$url/v1/collections/bench/records" scripts/wrk/insert.lua)
docs=$(curl -sf "$url/v1/collections" | python3 -c 'import json,sys; print(json.load(sys.stdin)["collections"][0]["count"])')
get=$(NYRO_DOCS=$docs run get "$url" scripts/wrk/get.lua)
query=$(run query "$url/v1/collections/bench/_query" scripts/wrk/query.lua)
errors=$(grep -h "Non-2xx" "$work"/*.txt || true)

field() { echo "$1" | awk -v i="$2" '{print $i}'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f", 100*a/b}'; }
bulk_docs=$(awk -v r="$(field "$bulk" 1)" 'BEGIN {printf "%.0f", r*1000}')
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
  echo "| ceiling: minimal axum handler | $(field "$ceiling" 1) | | $(field "$ceiling" 2) | $(field "$ceiling" 3) |"
  echo "| single-document inserts | $(field "$insert" 1) | $(field "$insert" 1) | $(field "$insert" 2) | $(field "$insert" 3) |"
  echo "| \`_bulk\` inserts of 1,000 | $(field "$bulk" 1) | $bulk_docs | $(field "$bulk" 2) | $(field "$bulk" 3) |"
  echo "| gets by id | $(field "$get" 1) | $(field "$get" 1) | $(field "$get" 2) | $(field "$get" 3) |"
  echo "| indexed queries (10 per page) | $(field "$query" 1) | | $(field "$query" 2) | $(field "$query" 3) |"
  echo
  echo "Gets by id reach $(pct "$(field "$get" 1)" "$(field "$ceiling" 1)")% of the ceiling."
  [ -n "$errors" ] && echo "wrk reported non-2xx answers: $errors"
  true
)
bench_publish "Server (nyro-server)" "$section"
