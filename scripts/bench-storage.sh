#!/usr/bin/env bash
# Storage benchmark: durable and buffered batched append, random mmap reads, and, in the same
# run and on the same disk, dd's own fdatasync bandwidth. Prints a Markdown section; with
# --write it also replaces the "Storage" section of docs/BENCHMARKS.md.
#
#   scripts/bench-storage.sh [--write] [FRAMES] [ROUNDS]
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"
bench_start storage "$@"
frames=${args[0]:-1000000}
rounds=${args[1]:-3}
batch=10000

cargo build --release -q -p nyro-storage --example bench_storage
bin="${CARGO_TARGET_DIR:-target}/release/examples/bench_storage"

# dd: the same bytes as the durable run (frames x 132 bytes), once as one stream with a
# final fdatasync (the disk's streaming bandwidth), once in batch-sized writes each synced
# (the same sync cadence as the durable run). Median of $rounds.
bytes=$((frames * 132)); batch_bytes=$((batch * 132)); count=$((bytes / batch_bytes))
dd_rate() { # dd args... -> MB/s
  local t0 t1
  t0=$(date +%s.%N); dd if=/dev/zero of="$work/dd.tmp" "$@" status=none; t1=$(date +%s.%N)
  rm -f "$work/dd.tmp"
  echo "$bytes $t0 $t1" | awk '{printf "%.1f\n", $1/($3-$2)/1e6}'
}
med() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
stream=$(for _ in $(seq "$rounds"); do dd_rate bs="$batch_bytes" count="$count" conv=fdatasync; done | med)
synced=$(for _ in $(seq "$rounds"); do dd_rate bs="$batch_bytes" count="$count" oflag=dsync; done | med)

out=$("$bin" "$work/log" "$frames" "$batch" "$rounds")
get() { echo "$out" | sed -n "s/^$1=//p"; }
durable_mb=$(get durable_mb_per_sec)
ratio_stream=$(awk -v a="$durable_mb" -v b="$stream" 'BEGIN {printf "%.0f", 100*a/b}')
ratio_synced=$(awk -v a="$durable_mb" -v b="$synced" 'BEGIN {printf "%.0f", 100*a/b}')

section=$(cat <<MD
## Storage (nyro-storage)

Command: \`scripts/bench-storage.sh --write $frames $rounds\` · date: $(date -u +%Y-%m-%d) ·
machine: $(bench_machine), disk $(df -h "$work" | awk 'NR==2 {print $1}').
$frames frames of 100-byte payloads (132 bytes with the header), batches of $batch, one
\`write\` per batch; median of $rounds runs; dd measured in the same run on the same disk.

| measurement | result |
| --- | --- |
| durable append (fdatasync per batch) | $(get durable_frames_per_sec) frames/s, $durable_mb MB/s |
| buffered append (no fsync) | $(get buffered_frames_per_sec) frames/s, $(get buffered_mb_per_sec) MB/s |
| random reads by location, 1 thread, checksum verified, \`read\` (returns an owned handle) | $(get reads_per_sec) frames/s |
| the same through \`read_with\` (borrows the map; what the database's gets use) | $(get reads_with_per_sec) frames/s |
| dd, same bytes, \`conv=fdatasync\` (one stream) | $stream MB/s |
| dd, same bytes, batch-sized writes, \`oflag=dsync\` | $synced MB/s |
| durable append / dd \`conv=fdatasync\` | ${ratio_stream}% |
| durable append / dd \`oflag=dsync\` (same sync cadence) | ${ratio_synced}% |
MD
)
bench_publish "Storage (nyro-storage)" "$section"
