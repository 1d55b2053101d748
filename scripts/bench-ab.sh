#!/usr/bin/env bash
# A/B benchmark of this checkout against an older revision, on the same machine in the same
# session: builds both in release mode (the old one in a git worktree under
# target/bench-ab/), then runs the core benchmark (bench_core) and the server benchmark
# (scripts/bench-server.sh) of each, alternating old/new ROUNDS times so that the machine's
# drift hits both alike. Prints, per measurement, the median of each side and the ratio
# new/old (above 1.00: the new one is faster, except for latencies, times and sizes, where
# below 1.00 is better).
#
#   scripts/bench-ab.sh OLD_REV [ROUNDS] [DOCS] [SERVER_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
old_rev=${1:?usage: scripts/bench-ab.sh OLD_REV [ROUNDS] [DOCS] [SERVER_SECONDS]}
rounds=${2:-3}
docs=${3:-1000000}
secs=${4:-10}
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
root=$(pwd)
ab="$root/target/bench-ab"
mkdir -p "$ab"
work=$(mktemp -d "${TMPDIR:-/var/tmp}/nyro-bench-ab.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The old revision's tree and its own target directory (kept between runs).
if [ ! -d "$ab/old" ]; then git worktree add --detach "$ab/old" "$old_rev" >/dev/null; fi
git -C "$ab/old" checkout -q --detach "$old_rev"
build() { # DIR TARGET
  (cd "$1" && CARGO_TARGET_DIR="$2" cargo build --release -q -p nyro-core --example bench_core \
    && CARGO_TARGET_DIR="$2" cargo build --release -q -p nyro-cli -p nyro-server --bin nyrodb \
      --example http_ceiling)
}
echo "building $old_rev and this checkout (release)..." >&2
build "$ab/old" "$ab/old-target"
new_target="${CARGO_TARGET_DIR:-$root/target}"
build "$root" "$new_target"

# One round of each side: core key=value lines, then the server's table rows as key=value.
run_side() { # NAME TREE TARGET ROUND
  local out="$work/$1.$4"
  "$3/release/examples/bench_core" "$work/db-$1" "$docs" > "$out"
  rm -rf "$work/db-$1"
  (cd "$2" && CARGO_TARGET_DIR="$3" scripts/bench-server.sh "$secs") \
    | awk -F'|' '/^\| (single|`_bulk`|gets|indexed)/ {
        name=$2; gsub(/^ +| +$/, "", name); gsub(/[^A-Za-z0-9]+/, "_", name)
        rps=$3; gsub(/ /, "", rps); p99=$6; gsub(/ /, "", p99)
        print "server_" name "_requests_per_sec=" rps; print "server_" name "_p99_ms=" p99 }' \
    >> "$out"
}
for round in $(seq "$rounds"); do
  echo "round $round of $rounds: old" >&2
  run_side old "$ab/old" "$ab/old-target" "$round"
  echo "round $round of $rounds: new" >&2
  run_side new "$root" "$new_target" "$round"
done

python3 - "$work" "$rounds" "$old_rev" <<'EOF'
import statistics, sys
work, rounds, rev = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def load(side):
    runs = []
    for r in range(1, rounds + 1):
        kv = {}
        for line in open(f"{work}/{side}.{r}"):
            k, _, v = line.strip().partition("=")
            try:
                kv[k] = float(v)
            except ValueError:
                pass
        runs.append(kv)
    return runs
old, new = load("old"), load("new")
print(f"| measurement (median of {rounds}) | old ({rev}) | new | new/old |")
print("| --- | ---: | ---: | ---: |")
for key in old[0]:
    if key == "docs" or not all(key in r for r in old + new):
        continue
    o = statistics.median(r[key] for r in old)
    n = statistics.median(r[key] for r in new)
    ratio = f"{n / o:.2f}" if o else ""
    print(f"| {key} | {o:g} | {n:g} | {ratio} |")
EOF
