#!/usr/bin/env bash
# NyroDB against redb, fjall, sled and LMDB (heed): the same workloads, documents and
# durability through the benchmark crate in bench/ (release build, its own workspace, so
# `cargo test --workspace` never builds it). Each store runs in a fresh process and a fresh
# directory, ROUNDS times, the store order rotating between rounds; the tables give the
# median. Prints a Markdown section; with --write it replaces the "Comparison with other
# stores" section of docs/BENCHMARKS.md and writes the chart to docs/img/bench-compare.png.
#
#   scripts/bench-compare.sh [--write] [DOCS [ROUNDS [SECONDS]]]
#
# DOCS documents (default 1,000,000), ROUNDS rounds (default 3), SECONDS per timed workload
# (default 5). Installs Debian's fonts-dejavu-core for the chart's text if it is missing.
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"
bench_start compare "$@"
docs=${args[0]:-1000000}
rounds=${args[1]:-3}
seconds=${args[2]:-5}
stores=(nyrodb redb fjall sled lmdb)

font=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
if [ ! -f "$font" ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && $sudo apt-get install -y -qq fonts-dejavu-core >/dev/null
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release -q --manifest-path bench/Cargo.toml
bench="$CARGO_TARGET_DIR/release/nyro-bench"

mkdir -p "$work/results"
for round in $(seq 1 "$rounds"); do
  for i in "${!stores[@]}"; do
    store=${stores[$(( (i + round - 1) % ${#stores[@]} ))]}
    echo "round $round/$rounds: $store" >&2
    "$bench" run --store "$store" --dir "$work/$store" --docs "$docs" --seconds "$seconds" \
      --out "$work/results/$store-$round.json" 2>/dev/null
    rm -rf "${work:?}/$store"
  done
done

png="$work/bench-compare.png"
[ "$write" = 1 ] && png=docs/img/bench-compare.png
mkdir -p "$(dirname "$png")"
table=$("$bench" report --results "$work/results" --png "$png" --font "$font" | sed '/^rounds=/d')
version() { awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/[^0-9.]/, ""); print }' bench/Cargo.lock; }

section=$(
  echo "## Comparison with other stores"
  echo
  echo "Command: \`scripts/bench-compare.sh --write $docs $rounds $seconds\` · date: $(date -u +%Y-%m-%d) ·"
  echo "machine: $(bench_machine); one local disk (\`df\`: $(df -h . | awk 'NR == 2 {print $1}'))."
  echo "Medians of $rounds rounds; every store in a fresh process and directory; $docs documents"
  echo "of about 100 bytes; $seconds s per timed workload. Stores: redb $(version redb), fjall"
  echo "$(version fjall), sled $(version sled), LMDB through heed $(version heed)."
  echo
  echo "![NyroDB against redb, fjall, sled and LMDB](img/bench-compare.png)"
  echo
  echo "$table"
  echo
  echo "How each store is driven (bench/src/stores/), and what differs:"
  echo
  echo "- **Same documents, same bytes.** Every store keeps each document as the bytes"
  echo "  \`Document::to_stored_bytes\` gives (what NyroDB's log holds), under its id (8"
  echo "  big-endian bytes in the key-value stores, so key order is id order), and every read"
  echo "  decodes them into a \`Document\`. Building and encoding the documents is timed for all."
  echo "- **Durable when acknowledged, everywhere.** NyroDB: \`batch.sync = \"always\"\` (its"
  echo "  group commit fdatasyncs each batch before answering). redb: \`Durability::Immediate\`"
  echo "  (the default). fjall: write batches committed with \`PersistMode::SyncData\`. sled:"
  echo "  \`flush()\` after each write or batch (sled's way to make writes durable). LMDB: default"
  echo "  flags (fsync at each commit). Batches of 10,000 are one atomic, durable commit each."
  echo "- **Single writes and updates** are upserts: NyroDB \`replace\`, \`insert\`/\`put\` with"
  echo "  a commit each elsewhere. Ingest and the overwrite use NyroDB's \`replace_many\`."
  echo "- **Concurrency.** Gets: 2 threads, uniform ids. YCSB: 16 client threads, scrambled"
  echo "  zipfian ids (constant 0.99) over the loaded documents; an update replaces the whole"
  echo "  document. Single writes: 32 threads each creating new documents. NyroDB's async calls"
  echo "  are driven from the same plain threads with \`Handle::block_on\`."
  echo "- **Defaults otherwise.** No secondary index in NyroDB (the others have none). fjall"
  echo "  compresses its blocks with LZ4 by default; redb and sled cache up to 1 GiB; LMDB maps"
  echo "  256 GiB of address space (not disk). NyroDB runs with its defaults: background"
  echo "  compaction on (\`compaction.auto\`), hint files written in the background."
  echo "- **Disk** is the bytes allocated under the store's directory, the store closed. After"
  echo "  the store's compaction: NyroDB \`Database::compact\`, redb \`Database::compact\`, fjall"
  echo "  \`major_compact\`; sled and LMDB have none (LMDB reuses freed pages but never shrinks"
  echo "  its file). Reopen is the time from open to the first document read."
  echo
  echo "The last column is NyroDB against the best store: 1.00 when NyroDB is the best, 0.50"
  echo "when it does half as well (half the rate, or twice the time or bytes). What the"
  echo "figures mean, where NyroDB loses and why: see \"Comparison: reading the results\"."
)
bench_publish "Comparison with other stores" "$section"
