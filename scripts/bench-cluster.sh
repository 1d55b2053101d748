#!/usr/bin/env bash
# Cluster benchmark (issue 15): a 3-node cluster of release `nyrodb serve` processes and a
# standalone server, all on this machine over loopback with `sync = "always"`, driven by wrk
# at 64 connections (as scripts/bench-server.sh): durable single-document inserts and `_bulk`
# inserts of 1,000 against the standalone server, the cluster's leader and a follower (which
# forwards to the leader); gets by id on the standalone server and at `local`, `lease` and
# `linearizable` on the leader and on a follower. Each round starts fresh processes in fresh
# directories (the write order rotating between rounds); the table gives the median of the
# rounds and the ratios cluster/standalone and consistency/local. Prints a Markdown section;
# with --write it replaces the "Cluster (issue 15)" section of docs/BENCHMARKS.md.
# NYRO_BENCH_LOGS=DIR keeps each round's server logs (warnings and errors) in DIR.
#
#   scripts/bench-cluster.sh [--write] [--quick] [--heartbeat-ms MS] [--election-timeout-ms MS]
#                            [SECONDS [ROUNDS]]
#
# SECONDS per row (default 10), ROUNDS rounds (default 3); --quick is a smoke run for CI
# (2 s per row, one round, unless given). Exits 1 if a workload got no 2xx answer at all in a
# round. The cluster's `heartbeat_ms` and `election_timeout_ms` are the defaults unless
# given. Installs wrk (Debian package) if missing.
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"
bench_start cluster "$@"
quick=0
rest=()
timing=""  # extra [cluster] keys
flags=""   # the same, as this script's options (for the Command: line)
set -- "${args[@]}"
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --write) write=1 ;;
    --heartbeat-ms | --election-timeout-ms)
      key=${1#--}
      timing+="${key//-/_} = ${2:?$1 needs a value}\n"
      flags+=" $1 $2"
      shift ;;
    *) rest+=("$1") ;;
  esac
  shift
done
if [ "$quick" = 1 ]; then secs=${rest[0]:-2}; rounds=${rest[1]:-1}; else secs=${rest[0]:-10}; rounds=${rest[1]:-3}; fi
conns=64
bench_need_wrk
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p nyro-cli --bin nyrodb
nyrodb="$target/release/nyrodb"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
results="$work/results"
: > "$results"
: > "$work/notes"

# start_node DIR PORT [NODE_ID]: a server with `sync = "always"` in DIR on PORT; with
# NODE_ID, a member of the cluster $bootstrap. Its pid goes to $round_pids.
start_node() {
  mkdir -p "$1"
  {
    printf '[storage]\npath = "%s/data"\n[server]\nlisten = "127.0.0.1:%s"\n' "$1" "$2"
    printf '[batch]\nsync = "always"\n'
    if [ -n "${3:-}" ]; then
      printf '[cluster]\nnode_id = %s\nbootstrap = [%s]\nsecret = "bench"\n%b' "$3" "$bootstrap" "$timing"
    fi
  } > "$1/nyrodb.toml"
  NYRODB_LOG_FORMAT=text RUST_LOG=warn bench_spawn "$nyrodb" serve --config "$1/nyrodb.toml" 2>"$1/server.log"
  round_pids+=("$bench_pid")
}

# roles PORT...: polls each node's GET /v1/cluster (30 s at most) until all name the same
# leader; prints "LEADER_PORT FOLLOWER_PORT TERM" (the follower: the lowest other node id).
roles() {
  python3 - "$@" <<'EOF'
import json, sys, time, urllib.request
ports = sys.argv[1:]
deadline = time.monotonic() + 30
last = None
while time.monotonic() < deadline:
    try:
        answers = [json.load(urllib.request.urlopen(f"http://127.0.0.1:{p}/v1/cluster", timeout=2))
                   for p in ports]
        leaders = {a["leader_id"] for a in answers}
        last = answers
        if len(leaders) == 1 and None not in leaders:
            lead = leaders.pop()
            addrs = {m["id"]: m["addr"] for m in answers[0]["members"]}
            follower = min(i for i in addrs if i != lead)
            port = lambda i: addrs[i].rsplit(":", 1)[1]
            print(port(lead), port(follower), max(a["term"] for a in answers))
            sys.exit(0)
    except (OSError, ValueError, KeyError):
        pass
    time.sleep(0.2)
sys.exit(f"the nodes on ports {ports} did not agree on a leader within 30 s: {last}")
EOF
}

# has_collection URL: waits (10 s) until the server at URL lists the collection `bench`.
has_collection() {
  for _ in $(seq 100); do
    curl -sf "$1/v1/collections" | grep -q '"bench"' && return 0
    sleep 0.1
  done
  echo "the collection did not reach $1 within 10 s" >&2
  exit 1
}

# cpu PID...: the CPU time (user and system, clock ticks) the processes PID... have used.
cpu() {
  local pid total=0
  for pid in "$@"; do total=$(( total + $(awk '{print $14 + $15}' "/proc/$pid/stat") )); done
  echo "$total"
}

# commit_index: the cluster's commit index, as the leader ($lport) tells it (10 s of retries).
commit_index() {
  local index
  for _ in $(seq 50); do
    index=$(curl -sf "http://127.0.0.1:$lport/v1/cluster" \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["commit_index"])') \
      && { echo "$index"; return 0; }
    sleep 0.2
  done
  echo "node on port $lport did not answer GET /v1/cluster within 10 s" >&2
  exit 1
}

# row ROUND KEY standalone|cluster URL [LUA]: one wrk run, appended to $results as
# "ROUND KEY rps p50 p99 non2xx requests cpu_ticks entries": the CPU the standalone server or
# the three nodes used during it, and (cluster) the Raft entries committed during it.
row() {
  echo "round $1/$rounds: $2" >&2
  local pids=("$spid") before out entries=0 first
  [ "$3" = cluster ] && pids=("${cpids[@]}") && first=$(commit_index)
  before=$(cpu "${pids[@]}")
  out=$(bench_wrk "r$1-$2" "$secs" "$conns" "$4" "${5:-}")
  local used=$(( $(cpu "${pids[@]}") - before ))
  [ "$3" = cluster ] && entries=$(( $(commit_index) - first ))
  echo "$1 $2 $out $used $entries" >> "$results"
}

for round in $(seq "$rounds"); do
  dir="$work/round$round"
  round_pids=()
  mapfile -t ports < <(bench_free_ports 4)
  sport=${ports[0]}
  cports=("${ports[@]:1}")
  bootstrap="\"1@127.0.0.1:${cports[0]}\", \"2@127.0.0.1:${cports[1]}\", \"3@127.0.0.1:${cports[2]}\""
  start_node "$dir/standalone" "$sport"
  spid=$bench_pid
  cpids=()
  for i in 1 2 3; do start_node "$dir/n$i" "${cports[$((i - 1))]}" "$i"; cpids+=("$bench_pid"); done
  for p in "${ports[@]}"; do bench_wait_up "http://127.0.0.1:$p/health" 30; done
  read -r lport fport term0 < <(roles "${cports[@]}")
  standalone="http://127.0.0.1:$sport"
  for url in "$standalone" "http://127.0.0.1:$lport"; do
    curl -sf -X PUT "$url/v1/collections/bench" -d '{"indexes":["city"]}' >/dev/null
  done
  for p in "${cports[@]}"; do has_collection "http://127.0.0.1:$p"; done

  # Writes: standalone, leader, follower, the order rotating with the round.
  targets=(standalone leader follower)
  for workload in bulk insert; do
    path=/v1/collections/bench/records
    [ "$workload" = bulk ] && path="$path/_bulk"
    for i in 0 1 2; do
      t=${targets[$(( (i + round - 1) % 3 ))]}
      who=cluster
      case $t in
        standalone) url=$standalone; who=standalone ;;
        *)
          read -r lport fport _ < <(roles "${cports[@]}")
          if [ "$t" = leader ]; then url="http://127.0.0.1:$lport"; else url="http://127.0.0.1:$fport"; fi ;;
      esac
      row "$round" "$workload.$t" "$who" "$url$path" "scripts/wrk/$workload.lua"
    done
  done

  # Gets by id over the ids both stores hold.
  read -r lport fport _ < <(roles "${cports[@]}")
  sdocs=$(bench_count "$standalone")
  cdocs=$(bench_count "http://127.0.0.1:$lport")
  docs=$(( sdocs < cdocs ? sdocs : cdocs ))
  echo "$round docs $docs" >> "$work/notes"
  NYRO_DOCS=$docs row "$round" get.standalone standalone "$standalone" scripts/wrk/get.lua
  for node in leader follower; do
    port=$lport
    [ "$node" = follower ] && port=$fport
    for level in local lease linearizable; do
      NYRO_DOCS=$docs NYRO_QUERY="consistency=$level" \
        row "$round" "get.$node.$level" cluster "http://127.0.0.1:$port" scripts/wrk/get.lua
    done
  done

  read -r _ _ term1 < <(roles "${cports[@]}")
  [ "$term0" = "$term1" ] || echo "$round term $term0 $term1" >> "$work/notes"
  for pid in "${round_pids[@]}"; do bench_stop "$pid"; done
  if [ -n "${NYRO_BENCH_LOGS:-}" ]; then
    mkdir -p "$NYRO_BENCH_LOGS/round$round"
    for d in "$dir"/*/; do cp "$d/server.log" "$NYRO_BENCH_LOGS/round$round/$(basename "$d").log"; done
  fi
  rm -rf "$dir"
done

table=$(python3 - "$results" "$work/notes" "$secs" "$(getconf CLK_TCK)" <<'EOF'
import statistics, sys
from collections import defaultdict
results, notes, secs, tck = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
runs = defaultdict(dict)  # key -> round -> (2xx/s, p50, p99, bad, cpu ticks)
for line in open(results):
    r, key, rps, p50, p99, bad, total, ticks, entries = line.split()
    ok = float(rps) * (1 - int(bad) / max(int(total), 1))  # wrk's rate counts failures too
    runs[key][int(r)] = (ok, float(p50), float(p99), int(bad), float(ticks), int(entries))
med = lambda key, i: statistics.median(v[i] for v in runs[key].values())
# The servers' CPU per request (standalone: its process; cluster: the three nodes), µs.
cpu = lambda key: statistics.median(v[4] / tck / max(v[0] * secs, 1) * 1e6 for v in runs[key].values())
def per_round(a, b):
    return ", ".join(f"{runs[a][r][0] / max(runs[b][r][0], 1e-9):.2f}" for r in sorted(runs[a]))

rows = [
    ("durable single inserts", "standalone", "insert.standalone", 1, None, ""),
    ("durable single inserts", "cluster, to the leader", "insert.leader", 1, "insert.standalone", "of standalone"),
    ("durable single inserts", "cluster, to a follower (forwarded)", "insert.follower", 1, "insert.standalone", "of standalone"),
    ("durable `_bulk` of 1,000", "standalone", "bulk.standalone", 1000, None, ""),
    ("durable `_bulk` of 1,000", "cluster, to the leader", "bulk.leader", 1000, "bulk.standalone", "of standalone"),
    ("durable `_bulk` of 1,000", "cluster, to a follower (forwarded)", "bulk.follower", 1000, "bulk.standalone", "of standalone"),
    ("gets by id", "standalone", "get.standalone", 1, None, ""),
]
for node in ("leader", "follower"):
    rows.append(("gets by id", f"cluster {node}, `local`", f"get.{node}.local", 1, "get.standalone", "of standalone"))
    for level in ("lease", "linearizable"):
        rows.append(("gets by id", f"cluster {node}, `{level}`", f"get.{node}.{level}", 1, f"get.{node}.local", "of `local`"))
print(f"| workload | where | 2xx requests/s | docs/s | p50 ms | p99 ms | server CPU µs/doc | ratio (requests/s) |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
for workload, where, key, per, base, of in rows:
    rps = med(key, 0)
    ratio = f"{rps / med(base, 0):.2f} {of}" if base and med(base, 0) else ""
    print(f"| {workload} | {where} | {rps:.0f} | {rps * per:.0f} | {med(key, 1):.2f} | {med(key, 2):.2f} "
          f"| {cpu(key) / per:.1f} | {ratio} |")
print()
print(f"Ratios per round: inserts, cluster leader/standalone {per_round('insert.leader', 'insert.standalone')}; "
      f"follower/standalone {per_round('insert.follower', 'insert.standalone')}; "
      f"`_bulk`, leader/standalone {per_round('bulk.leader', 'bulk.standalone')}; "
      f"gets, leader linearizable/local {per_round('get.leader.linearizable', 'get.leader.local')}; "
      f"follower linearizable/local {per_round('get.follower.linearizable', 'get.follower.local')}.")
def per_entry(key, per):
    return statistics.median(v[0] * secs * per / max(v[5], 1) for v in runs[key].values())
print("Documents per Raft entry (the leader's commit index growth during the row), median: inserts "
      f"to the leader {per_entry('insert.leader', 1):.1f}, to a follower {per_entry('insert.follower', 1):.1f}; "
      f"`_bulk` to the leader {per_entry('bulk.leader', 1000):.0f}, to a follower {per_entry('bulk.follower', 1000):.0f}.")
docs = [int(l.split()[2]) for l in open(notes) if l.split()[1] == "docs"]
print(f"Gets ran over {min(docs)}-{max(docs)} documents (the ids both the standalone server and the cluster held).")
bad = {k: sum(v[3] for v in runs[k].values()) for k in runs}
bad = {k: n for k, n in bad.items() if n}
print("Non-2xx answers or socket errors: " + (", ".join(f"{k} {n}" for k, n in sorted(bad.items())) if bad else "none") + ".")
for l in open(notes):
    f = l.split()
    if f[1] == "term":
        print(f"Round {f[0]}: the leader changed during the round (term {f[2]} -> {f[3]}).")
dead = sorted(k for k in runs if any(v[0] == 0 for v in runs[k].values()))
if dead:
    print(f"No 2xx answer at all in a round of: {', '.join(dead)}.")
EOF
)
# A workload without a single 2xx answer in some round is broken, not slow (the --quick smoke
# run's check): print what was measured and fail.
if grep -q "^No 2xx answer" <<<"$table"; then
  echo "$table" >&2
  exit 1
fi

if [ -n "$timing" ]; then
  described=$(printf '%b' "$timing" | sed 's/.*/`&`/' | paste -sd, - | sed 's/,/, /g')
else
  described="default \`heartbeat_ms\` (100) and \`election_timeout_ms\` (1000)"
fi
section=$(
  echo "## Cluster (issue 15)"
  echo
  echo "Command: \`scripts/bench-cluster.sh --write$flags $secs $rounds\` · date: $(date -u +%Y-%m-%d) ·"
  echo "machine: $(nproc) cores (shared by the four servers and the load generator), $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr);"
  echo "load average before the run: $load_before."
  echo "A 3-node cluster ($described) and a standalone server,"
  echo "release \`nyrodb serve\`, all with \`sync = \"always\"\`, on this machine over loopback; wrk, 2 threads,"
  echo "$conns connections, $secs s per row; ~100-byte documents, \`city\` indexed. Each of $rounds round(s) starts"
  echo "fresh processes in fresh directories: \`_bulk\`, then single inserts (standalone, leader, follower, the"
  echo "order rotating between rounds), then the gets. Figures are medians of the rounds, each column on its own."
  echo "Server CPU is the user and system time the standalone process, or the three nodes together, used during"
  echo "the row, per document (from /proc; the load generator's not counted)."
  echo
  echo "$table"
)
bench_publish "Cluster (issue 15)" "$section"
