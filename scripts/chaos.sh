#!/usr/bin/env bash
# The long fault-injection run of issue 16 (docs/RELIABILITY.md): real `nyrodb serve`
# clusters behind the harness's proxy network, one random fault per round, every round's
# history checked for linearizability (crates/nyro-cli/tests/it/chaos/).
#
#   scripts/chaos.sh [ROUNDS_3_NODES] [ROUNDS_5_NODES]    (default 160 and 40)
#
# NYRODB_CHAOS_SEED=N replays a run's choices; NYRODB_CHAOS_KINDS=kill-leader,split,...
# limits the faults. The figures go to target/chaos/report.jsonl (one JSON line per
# cluster size) and a Markdown table per cluster size to target/chaos/run-*.log. A failing
# round stops its run, prints why and the directory it kept (each node's data and log, the
# round's history and nemesis steps).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
rounds3="${1:-160}"
rounds5="${2:-40}"
out=target/chaos
mkdir -p "$out"
export NYRODB_CHAOS_REPORT="$PWD/$out/report.jsonl"
export NYRODB_CHAOS_SEED="${NYRODB_CHAOS_SEED:-$(date +%s%N)}"
cargo test -p nyro-cli --test it --no-run
status=0
for run in "three $rounds3" "five $rounds5"; do
    set -- $run
    [ "$2" -gt 0 ] || continue
    log="$out/run-$1-$(date -u +%Y%m%dT%H%M%SZ).log"
    echo "chaos: $2 rounds on $1 nodes, seed $NYRODB_CHAOS_SEED, log $log"
    if ! NYRODB_CHAOS_ROUNDS="$2" NYRODB_IT_CLUSTERS=1 cargo test -p nyro-cli --test it \
        "chaos::${1}_nodes" -- --nocapture --test-threads=1 >"$log" 2>&1; then
        status=1
        grep -E "panicked|failed its checks|kept in" "$log" || tail -50 "$log"
    fi
    grep -E "^chaos: round|^\|" "$log" | tail -15
done
exit $status
