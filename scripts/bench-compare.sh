#!/usr/bin/env bash
# NyroDB against redb, fjall, sled, LMDB (heed) and RocksDB: the same workloads, records and
# durability through the benchmark crate in bench/ (release build, its own workspace, so
# `cargo test --workspace` never builds it), in two modes: `native`, each store on its own
# best path (its own compact encoding read in place, NyroDB's fastest read API), and
# `same-bytes`, every store keeping NyroDB's stored bytes and decoding them into a
# `Document`. Each store runs in a fresh process and a fresh directory, ROUNDS times per
# mode, the store order rotating between rounds; the tables give the median. Prints a
# Markdown section; with --write it replaces the "Comparison with other stores" section of
# docs/BENCHMARKS.md and writes the chart (native mode) to docs/img/bench-compare.png.
#
#   scripts/bench-compare.sh [--write] [DOCS [ROUNDS [SECONDS]]]
#
# DOCS documents (default 1,000,000), ROUNDS rounds (default 3), SECONDS per timed workload
# (default 5). Installs the Debian packages it needs if they are missing: fonts-dejavu-core
# (the chart's text), librocksdb-dev (RocksDB, linked, never built from source) and
# libclang-dev (the binding's bindgen).
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"
bench_start compare "$@"
docs=${args[0]:-1000000}
rounds=${args[1]:-3}
seconds=${args[2]:-5}
stores=(nyrodb redb fjall sled lmdb rocksdb)
modes=(native same-bytes)

font=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
# fonts-dejavu-core: the chart's text.
if [ -f "$font" ]; then bench_build_crate; else bench_build_crate fonts-dejavu-core; fi

mkdir -p "$work/results"
for round in $(seq 1 "$rounds"); do
  for mode in "${modes[@]}"; do
    for i in "${!stores[@]}"; do
      store=${stores[$(( (i + round - 1) % ${#stores[@]} ))]}
      echo "round $round/$rounds, $mode: $store" >&2
      "$bench" run --store "$store" --mode "$mode" --dir "$work/$store" --docs "$docs" \
        --seconds "$seconds" --out "$work/results/$mode-$store-$round.json" 2>/dev/null
      rm -rf "${work:?}/$store"
    done
  done
done

png="$work/bench-compare.png"
[ "$write" = 1 ] && png=docs/img/bench-compare.png
mkdir -p "$(dirname "$png")"
report() { "$bench" report --results "$work/results" --font "$font" "$@" | sed '/^rounds=/d'; }
native=$(report --mode native --png "$png")
same_bytes=$(report --mode same-bytes)
# version CRATE: its version in bench/Cargo.lock (the newest, if several are locked).
version() { awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/[^0-9.]/, ""); print }' bench/Cargo.lock | tail -n 1; }
rocksdb=$(dpkg-query -W -f='${Version}' librocksdb-dev | sed 's/-[^-]*$//')

section=$(cat <<EOF
## Comparison with other stores

Command: \`scripts/bench-compare.sh --write $docs $rounds $seconds\` · date: $(date -u +%Y-%m-%d) ·
machine: $(bench_machine); one local disk (\`df\`: $(df -h . | awk 'NR == 2 {print $1}')).
Both tables come from this one run: medians of $rounds round(s) each; every store in a fresh
process and directory; $docs records (about 100 bytes as a NyroDB document, 70 as
bincode); $seconds s per timed workload. Stores: redb $(version redb), fjall $(version fjall), sled $(version sled),
LMDB through heed $(version heed), RocksDB $rocksdb (Debian's librocksdb, linked through the
\`rocksdb\` crate $(version rocksdb)); records encoded with bincode $(version bincode).

### Each store on its own best path

![NyroDB against redb, fjall, sled, LMDB and RocksDB, each on its own best path](img/bench-compare.png)

$native

- **Records.** The record is NyroDB's benchmark document as a plain struct (\`name\` and
  \`city\` strings, an \`i64\` \`score\`). The key-value stores keep it as bincode 2
  (\`config::standard()\`: variable-length integers, about 70 bytes) and read it with
  \`BorrowDecode\` into a struct of \`&str\`: the UTF-8 is checked and the strings borrow
  the store's bytes, nothing is allocated. bincode rather than rkyv or zerocopy because it
  is what most Rust users of these stores reach for, and it checks its input as NyroDB's
  reads check theirs (a CRC-32C per frame); rkyv's unchecked access would skip even that.
  Every read, get or scan, looks at one integer (\`score\`) and one string (\`city\`) of
  the record, so no store answers without touching its bytes. Keys are the id as 8
  big-endian bytes, so key order is id order.
- **NyroDB** keeps documents in its own format and reads through its fastest embedded API,
  \`Database::get_with\` and \`Database::scan_with\`, which lend the closure a
  \`DocumentView\` of the stored bytes (checked once, then read in place; nothing allocated).
  Writes build the \`Document\` from the record (timed, as every store's encoding is).
- **RocksDB**, set for point lookups as its users are told to: a full-key bloom filter of
  10 bits per key, a hash index in each data block (\`DataBlockIndexType::BinaryAndHash\`),
  a 1 GiB LRU block cache (the cache redb and sled get by default), index
  and filter blocks held outside the cache (RocksDB's default), gets through
  \`get_pinned_opt\` with one \`ReadOptions\` per thread (the value is lent from the block
  cache, not copied), scans through the raw iterator (keys and values lent in place).
  Otherwise its defaults: level compaction, 64 MiB memtables, Snappy compression,
  \`increase_parallelism(2)\`.

### The same bytes in every store

Every store keeps each record as the bytes NyroDB's log holds (\`Document::to_stored_bytes\`)
and every read decodes them into an owned \`Document\`, as NyroDB's \`Database::get\` does;
every write, the YCSB updates included, is durable. This measures the engines under one
format (NyroDB's); it is not how users of the other stores would keep their data, which is
what the first table is for.

$same_bytes

### Both tables

- **Durability**, the same for every store in a row, is each table's second column.
  Durable (fsync per batch, fsync per write, fsync per update): NyroDB
  \`WriteOptions { sync: true }\` (its group commit fdatasyncs the batch before answering, as
  \`batch.sync = "always"\` does); redb \`Durability::Immediate\`; fjall batches committed with
  \`PersistMode::SyncData\`; sled \`flush()\` after the write; LMDB's default flags (fsync at
  each commit); RocksDB \`WriteOptions::set_sync(true)\` on a \`WriteBatch\`. Not synced (the
  best-path table's YCSB updates): NyroDB \`batch.sync = "never"\` (answered once written to
  the log); redb \`Durability::None\`; fjall without a persist mode; sled without \`flush()\`
  (it flushes its log in the background every 500 ms); LMDB with \`MDB_NOSYNC\` set for the
  YCSB phases; RocksDB \`set_sync(false)\` (the WAL is written, not synced).
- **Concurrency.** Gets: 2 threads, uniform ids. YCSB: 16 client threads, scrambled
  zipfian ids (constant 0.99) over the loaded records; an update replaces the whole
  record. Single writes: 32 threads each creating new records. NyroDB's async calls
  are driven from the same plain threads with \`Handle::block_on\`. Single writes and
  updates are upserts (NyroDB \`replace\`); ingest and the overwrite of half the records
  are batches of 10,000, each one atomic commit (NyroDB \`replace_many\`).
- **Defaults otherwise.** No secondary index in NyroDB (the others have none). fjall
  compresses its blocks with LZ4 by default; redb and sled cache up to 1 GiB; LMDB maps
  256 GiB of address space (not disk). NyroDB runs with its defaults otherwise: background
  compaction on (\`compaction.auto\`), hint files written in the background.
- **Disk** is the bytes allocated under the store's directory, the store closed. After
  the store's compaction: NyroDB \`Database::compact\`, redb \`Database::compact\`, fjall
  \`major_compact\`, RocksDB \`compact_range\` over every key; sled and LMDB have none
  (LMDB reuses freed pages but never shrinks its file). Reopen is the time from open to
  the first get.

The last column is NyroDB against the best store: 1.00 when NyroDB is the best, 0.50
when it does half as well (half the rate, or twice the time or bytes). What the
figures mean, where NyroDB loses and why: see "Comparison: reading the results".
EOF
)
bench_publish "Comparison with other stores" "$section"
