#!/usr/bin/env bash
# Query benchmark: DOCS JSON documents {"n", "city", "tags", "score", "name"} with indexes on
# `n` (integer), `city` (string) and `tags` (array of strings), queried in NyroDB (embedded,
# and its server over loopback), SQLite (bundled rusqlite, JSON1 expression indexes) and
# PostgreSQL (Debian's package, `jsonb` with expression and GIN indexes, over loopback):
# equality, a range of 100, a sorted page of 100, `$in` of 10, an array contains, a count
# and a filter on an unindexed field, each with random parameters, at 1 and 16 threads.
# The driver is `nyro-bench query` (bench/src/query/): one process per store loads the
# documents, checks each kind of query against the answers computed from the documents,
# then times it; the table gives the median of ROUNDS rounds. PostgreSQL runs from a
# temporary data directory on a free loopback port (as the `postgres` user when run as
# root), NyroDB's release server likewise; both are stopped and removed on exit. Installs
# postgresql (and the benchmark crate's build packages) if missing. Prints a Markdown
# section; with --write it replaces the "Queries" section of docs/BENCHMARKS.md.
#
#   scripts/bench-query.sh [--write] [DOCS [ROUNDS [SECONDS]]]
#
# DOCS documents (default 1,000,000), ROUNDS rounds (default 3), SECONDS per timed figure
# (default 1; a query still running then completes and counts). `scripts/bench-query.sh
# 20000 1` is a quick check (well under 2 minutes once built). STORES="sqlite postgres"
# (environment) runs only those of nyrodb, sqlite, nyrodb-server and postgres.
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"
bench_start query "$@"
docs=${args[0]:-1000000}
rounds=${args[1]:-3}
seconds=${args[2]:-1}

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -n "$pg_bin" ]; then bench_build_crate; else bench_build_crate postgresql; fi
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
cargo build --release -q -p nyro-cli --bin nyrodb
nyrodb="$CARGO_TARGET_DIR/release/nyrodb"

stores=" ${STORES:-nyrodb sqlite nyrodb-server postgres} "
# want STORE: whether STORE is to run.
want() { [[ "$stores" == *" $1 "* ]]; }

mkdir -p "$work/results"
# driver STORE ARGS...: the benchmark against one store, its JSON in $work/results.
driver() {
  local store=$1
  shift
  echo "$store: $docs documents, $rounds round(s)" >&2
  "$bench" query --store "$store" --docs "$docs" --rounds "$rounds" --seconds "$seconds" \
    --threads 1,16 --out "$work/results/$store.json" "$@"
}

# NyroDB's query.max_scan (default 1,000,000) must let the unindexed filter read them all.
max_scan=$(( docs > 1000000 ? docs : 1000000 ))

if want nyrodb; then
  driver nyrodb --dir "$work/nyrodb-embedded"
  rm -rf "${work:?}/nyrodb-embedded"
fi

if want sqlite; then
  driver sqlite --dir "$work/sqlite"
  rm -rf "${work:?}/sqlite"
fi

# NyroDB's server: release build, default config but query.max_scan, empty data dir.
if want nyrodb-server; then
  port=$(bench_free_ports 1)
  NYRODB_QUERY_MAX_SCAN=$max_scan NYRODB_LOG_FORMAT=text RUST_LOG=warn \
    bench_spawn "$nyrodb" serve --data "$work/nyrodb" \
    --listen "127.0.0.1:$port" 2>"$work/server.log"
  bench_wait_up "http://127.0.0.1:$port/health"
  driver nyrodb-server --url "http://127.0.0.1:$port"
  bench_stop "$bench_pid"
  rm -rf "${work:?}/nyrodb"
fi

# PostgreSQL refuses to run as root: as root, its files belong to `postgres` and it runs
# as that user (setpriv execs it, so the pid bench_stop signals is the server's own).
if want postgres; then
  pg=()
  mkdir -p "$work/pg"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chmod 711 "$work"
    chown postgres: "$work/pg"
    pg=(setpriv --reuid=postgres --regid=postgres --init-groups)
  fi
  "${pg[@]}" "$pg_bin/initdb" -D "$work/pg/data" -U postgres -A trust -E UTF8 --locale=C >/dev/null
  port=$(bench_free_ports 1)
  bench_spawn "${pg[@]}" "$pg_bin/postgres" -D "$work/pg/data" -p "$port" -k "$work/pg" \
    -c listen_addresses=127.0.0.1 -c shared_buffers=1GB -c max_connections=50 \
    -c fsync=off -c synchronous_commit=off 2>"$work/pg/server.log"
  for _ in $(seq 100); do
    "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port" && break
    sleep 0.1
  done
  "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port" \
    || { echo "PostgreSQL did not start:" >&2; cat "$work/pg/server.log" >&2; exit 1; }
  driver postgres --url "host=127.0.0.1 port=$port user=postgres dbname=postgres"
  bench_stop "$bench_pid"
fi

table=$("$bench" query-report --results "$work/results")
# version_of STORE: the version its run recorded (nothing if it did not run).
version_of() {
  [ -f "$work/results/$1.json" ] || return 0
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' "$work/results/$1.json"
}
# nyrodb_version: the NyroDB version benchmarked (the workspace's).
nyrodb_version() { "$nyrodb" --version | awk '{print $NF}'; }
cpu=$(lscpu | awk -F: '/^Model name/ {gsub(/^ +/, "", $2); print $2; exit}')
# commas N: N with thousands separators.
commas() { echo "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }
section=$(cat <<EOF
## Queries

Command: \`scripts/bench-query.sh --write $docs $rounds $seconds\` · date: $(date -u +%Y-%m-%d) ·
machine: $(bench_machine), $cpu; the stores and the client share the machine.
Queries per second, median of $rounds round(s), $seconds s per figure, each query with
random parameters.

$table

- **Documents.** $(commas "$docs") documents \`{"n", "city", "tags", "score", "name"}\`, about
  110 bytes of JSON each: \`n\` a permutation of 0..$(commas "$docs") (so a range of 100
  values holds 100 documents), \`city\` one of 1,000 strings, \`tags\` 3 distinct of 200
  strings, \`score\` (not indexed) uniform in 0..100,000, \`name\` 10 random letters. Ids
  1..$(commas "$docs"), the same in every store. Indexes on \`n\`, \`city\` and \`tags\`.
- **Queries**, as NyroDB's \`_query\` bodies (the SQL asks the same; match counts for
  1,000,000 documents). Each page query returns whole documents, by id unless sorted:
  equality \`{"city": C}\` (about 1,000 match; the first 100); a range
  \`{"n": {"\$gte": X, "\$lte": X+99}}\` (exactly 100); a sorted page \`{"n": {"\$gte": X}}\`
  sorted by \`n\` (the first 100); \`{"city": {"\$in": [10 cities]}}\` (about 10,000 match;
  the first 100); an array contains \`{"tags": T}\` (about 15,000 match; the first 100); a
  count of \`{"city": C}\`; the unindexed \`{"score": S}\` (about 10 match, so every
  document is examined). Before it is timed, each kind is checked on 5 random queries
  against the answer computed from the documents: a kind a store refuses or answers
  wrongly is shown as such and not timed.
- **Threads.** 1 and 16 client threads, each with its own connection (SQLite, PostgreSQL)
  or keep-alive HTTP connection (NyroDB's server, one \`reqwest\` client); a thread sends
  its next query once it has read the last answer. Over the wire every answer is read
  whole (NyroDB's JSON body, PostgreSQL's rows with \`doc::text\`); SQLite's rows and
  NyroDB's embedded documents are read in place.
- **NyroDB embedded** $(nyrodb_version): \`Database::query_with\`, queries made with the
  builder (\`Query::new(Filter::eq("city", c)?).limit(100)\`, not JSON), each document of a
  page lent as a borrowed view of the stored bytes. Loaded with \`replace_many\` in batches
  of 10,000 into a collection created with indexes on \`n\`, \`city\` and \`tags\`; default
  config but \`batch.sync = "never"\` (nothing is written while timed) and
  \`query.max_scan = $(commas "$max_scan")\`.
- **NyroDB's server**: the release \`nyrodb serve\`, default config but
  \`query.max_scan = $(commas "$max_scan")\`; documents loaded with \`_bulk\` (1,000 a
  request) into a collection created with \`{"indexes": ["n", "city", "tags"]}\`.
- **SQLite** $(version_of sqlite) (rusqlite's bundled build): \`docs(id INTEGER PRIMARY KEY,
  doc TEXT)\` with JSON1, expression indexes on \`json_extract(doc, '\$.n')\` and
  \`json_extract(doc, '\$.city')\`, ANALYZE; WAL, reads through a memory map of the whole
  file (\`mmap_size\` 4 GiB); statements prepared once per connection. **No index serves
  the array contains** in SQLite: it indexes one value per row and expression, so \`tags\`
  would need a side table (a row per element, kept by triggers); the query is
  \`EXISTS (SELECT 1 FROM json_each(doc, '\$.tags') WHERE value = ?)\`, a scan in id order
  until 100 match.
- **PostgreSQL** $(version_of postgres): Debian's package, a fresh cluster in a temporary
  directory, \`shared_buffers = 1GB\`, fsync off (nothing is written while timed),
  otherwise its defaults. \`docs(id bigint PRIMARY KEY, doc jsonb)\` loaded with COPY;
  btree expression indexes on \`((doc->>'city'), id)\` (\`id\` second, so that an
  equality's page by id comes straight from the index, as SQLite's and NyroDB's index
  entries are ordered by value then id; without it PostgreSQL fetches and sorts every
  match) and \`((doc->>'n')::bigint)\`; a GIN index (\`jsonb_path_ops\`) serving
  \`doc @> '{"tags": ["T"]}'\`; extended statistics on the unindexed
  \`((doc->>'score')::bigint)\` (without them the planner guesses that 0.5% match and walks
  the primary key instead of scanning); VACUUM ANALYZE, then the table and its indexes
  read into shared_buffers (\`pg_prewarm\`). Statements prepared once per connection (the
  \`postgres\` crate). Its unindexed filter runs as a parallel sequential scan (2 workers,
  its default \`max_parallel_workers_per_gather\`).
- The ratios are NyroDB's queries per second over the other store's: the embedded API
  against SQLite (both in the process), the server against PostgreSQL (both over
  loopback).
EOF
)
bench_publish "Queries" "$section"
