# Shared by the scripts/bench-*.sh (sourced, not run): the common start and end of a
# benchmark script.

# bench_start NAME ARGS...: moves to the repository root, takes a leading --write (sets
# $write to 1), exports CARGO_BUILD_JOBS, makes $work (a scratch directory removed on exit,
# after every process started with bench_spawn is stopped) and leaves the other arguments
# in the array $args.
bench_start() {
  local name=$1
  shift
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  write=0
  if [ "${1:-}" = "--write" ]; then write=1; shift; fi
  args=("$@")
  export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
  work=$(mktemp -d "${TMPDIR:-/var/tmp}/nyro-bench-$name.XXXXXX")
  bench_pids=()
  trap bench_cleanup EXIT
}

bench_cleanup() {
  local pid
  for pid in "${bench_pids[@]}"; do bench_stop "$pid"; done
  rm -rf "$work"
}

# bench_spawn CMD...: runs CMD in the background (its pid in $bench_pid); it is stopped on exit.
bench_spawn() {
  "$@" &
  bench_pid=$!
  bench_pids+=("$bench_pid")
}

# bench_stop PID: SIGTERM, then SIGKILL if it has not exited within 10 s.
bench_stop() {
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 100); do
    kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  echo "process $1 did not stop within 10 s; killing it" >&2
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# The machine, for the "machine:" line of a section.
bench_machine() {
  echo "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr)"
}

# bench_publish TITLE SECTION: prints the section; with --write, also replaces the
# "## TITLE" section of docs/BENCHMARKS.md.
bench_publish() {
  echo "$2"
  if [ "$write" = 1 ]; then
    scripts/update-bench-section.py docs/BENCHMARKS.md "$1" <<<"$2"
  fi
}

# bench_build_crate [PACKAGE...]: builds the benchmark crate in bench/ (release, its own
# workspace) and sets $bench to its binary. Installs the Debian packages it needs if they are
# missing (librocksdb-dev, linked, never built from source; libclang-dev for the binding's
# bindgen), and any PACKAGE given, then points the rocksdb crate at the system library.
bench_build_crate() {
  local missing=() package sudo=""
  for package in librocksdb-dev libclang-dev "$@"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing ${missing[*]}..." >&2
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  # The rocksdb crate links the library in this directory instead of compiling its own.
  ROCKSDB_LIB_DIR=$(dirname "$(dpkg -L librocksdb-dev | grep '/librocksdb\.so$' | head -n 1)")
  export ROCKSDB_LIB_DIR
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
  cargo build --release -q --manifest-path bench/Cargo.toml
  bench="$CARGO_TARGET_DIR/release/nyro-bench"
}

# ---- HTTP benchmarks (wrk over loopback) ----

# bench_need_wrk: installs wrk (Debian package) if it is missing.
bench_need_wrk() {
  if ! command -v wrk >/dev/null; then
    echo "installing wrk..." >&2
    (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
  fi
}

# bench_free_ports N: N distinct free loopback ports, one a line (all held open together
# while they are chosen, so none is given twice).
bench_free_ports() {
  python3 -c '
import socket, sys
held = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in held:
    s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in held))' "$1"
}

# bench_wait_up URL [SECONDS]: waits (default 10 s) until URL answers 2xx; exits otherwise.
bench_wait_up() {
  for _ in $(seq $(( ${2:-10} * 10 ))); do
    curl -sf "$1" >/dev/null && return 0
    sleep 0.1
  done
  echo "server at $1 did not start" >&2
  exit 1
}

# bench_wrk NAME SECONDS CONNS URL [LUA]: runs wrk (2 threads), keeps its output in
# $work/NAME.txt and prints "requests/s p50 p99 non2xx requests" (latencies in ms; non2xx
# counts non-2xx answers and socket errors, which requests/s and requests include).
bench_wrk() {
  local out
  out=$(wrk -t2 -c"$3" -d"$2s" --latency ${5:+-s "$5"} "$4")
  echo "$out" > "$work/$1.txt"
  local rps p50 p99 bad total
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  bad=$(echo "$out" | awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10} END {print n + 0}')
  total=$(echo "$out" | awk '/requests in/ {print $1}')
  echo "$rps $(bench_ms "$p50") $(bench_ms "$p99") $bad $total"
}

# bench_ms LATENCY: a wrk latency (1.23ms, 456.00us, 1.20s) in milliseconds.
bench_ms() {
  echo "$1" | awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; printf "%.2f", v}'
}

# bench_field LINE I: the I-th space-separated field of LINE.
bench_field() { echo "$1" | awk -v i="$2" '{print $i}'; }

# bench_count URL: the document count of the first collection a server lists at URL.
bench_count() {
  curl -sf "$1/v1/collections" | python3 -c 'import json,sys; print(json.load(sys.stdin)["collections"][0]["count"])'
}

# bench_fsyncs URL: how many fdatasyncs the server at URL has made (its /v1/stats).
bench_fsyncs() {
  curl -sf "$1/v1/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["fsyncs"])'
}

# ---- Redis (Debian's redis-server, driven by redis-benchmark) ----

# bench_need_redis: installs redis-server and redis-tools (Debian packages) if missing.
bench_need_redis() {
  if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
    echo "installing redis-server and redis-tools..." >&2
    (apt-get update -qq && apt-get install -y -qq redis-server redis-tools) >/dev/null
  fi
}

# bench_redis POLICY N: starts redis-server on a free loopback port in a directory of its own
# under $work, with the append-only file on and `appendfsync POLICY` (no RDB snapshots),
# runs redis-benchmark (64 connections, 100-byte values, random keys, no pipelining) for N
# SETs then N GETs, keeps its output in $work/redis-POLICY.txt and stops the server. Sets
# $redis_set and $redis_get to "requests/s p50 p99" (latencies in ms).
bench_redis() {
  local port dir out
  port=$(bench_free_ports 1)
  dir="$work/redis-$1"
  mkdir -p "$dir"
  bench_spawn redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save "" \
    --appendonly yes --appendfsync "$1" --daemonize no --logfile "$dir/redis.log"
  for _ in $(seq 100); do
    [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ] && break
    sleep 0.1
  done
  [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ] \
    || { echo "redis-server on port $port did not start (see $dir/redis.log)" >&2; exit 1; }
  out=$(redis-benchmark -h 127.0.0.1 -p "$port" -c 64 -d 100 -r 10000000 -n "$2" -P 1 -t set,get --csv)
  echo "$out" > "$work/redis-$1.txt"
  bench_stop "$bench_pid"
  # CSV columns: test, rps, avg, min, p50, p95, p99, max latency (ms).
  redis_set=$(echo "$out" | awk -F, '{gsub(/"/, "")} $1 == "SET" {printf "%s %.2f %.2f\n", $2, $5, $7}')
  redis_get=$(echo "$out" | awk -F, '{gsub(/"/, "")} $1 == "GET" {printf "%s %.2f %.2f\n", $2, $5, $7}')
  [ -n "$redis_set" ] && [ -n "$redis_get" ] \
    || { echo "redis-benchmark gave no SET/GET figures: $out" >&2; exit 1; }
}
