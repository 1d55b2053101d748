#!/usr/bin/env bash
# Crash test of the real server: builds the release `nyrodb` and the crash driver
# (crates/nyro-server/examples/crash_driver.rs), then, ROUNDS times: starts
# `nyrodb serve` on a free loopback port with NYRODB_BATCH_SYNC=SYNC, drives concurrent
# writers (single inserts, _bulk inserts, replaces, deletes), SIGKILLs the server at a random
# moment, restarts it on the same directory and checks every acknowledged write (content of
# the last acknowledged write, deleted ones absent, nothing torn or foreign). Prints rounds,
# acknowledged writes and lost writes; exits non-zero on any loss.
#
#   scripts/crash-test.sh [ROUNDS] [SYNC] [DRIVER ARGS...]
#
# ROUNDS defaults to 20, SYNC to "always" ("interval": a kill -9 must lose nothing either).
# DRIVER ARGS go to the driver: --writers N, --kill-ms MIN-MAX, --seed N (to replay a run).
# The data directory and the servers' logs are kept if the test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-20}
sync=${2:-always}
shift $(( $# < 2 ? $# : 2 ))
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
target=$(realpath "${CARGO_TARGET_DIR:-target}")
cargo build --release -q -p nyro-cli -p nyro-server --bin nyrodb --example crash_driver
work=$(mktemp -d "${TMPDIR:-/var/tmp}/nyro-crash-test.XXXXXX")
status=0
"$target/release/examples/crash_driver" --nyrodb "$target/release/nyrodb" \
  --rounds "$rounds" --sync "$sync" --work "$work" "$@" || status=$?
if [ "$status" -eq 0 ]; then
  rm -rf "$work"
elif [ -z "$(ls -A "$work")" ]; then
  rm -rf "$work"
  echo "crash test FAILED (exit $status)" >&2
else
  echo "crash test FAILED (exit $status); data and server logs kept in $work" >&2
fi
exit "$status"
