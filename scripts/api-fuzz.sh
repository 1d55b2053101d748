#!/usr/bin/env bash
# Checks that GET /v1/openapi.json is exactly what the server does: starts a real
# `nyrodb serve` (debug build, loopback, a temporary data directory, an auth token), checks
# the served description with openapi-spec-validator, then runs schemathesis against it
# with every check (`--checks all`): a property-based client generated from the description
# must find no answer the description does not allow, no 5xx, no schema-valid request
# refused and no schema-violating one accepted. Fails on any failure.
#
# Both tools come from PyPI, pinned, into a virtualenv under target/ (reused while the pins
# stay; python3-venv comes from Debian if missing). Needs python3 and curl. Settings:
# scripts/api-fuzz.toml. Environment:
#   API_FUZZ_EXAMPLES  test cases per operation and phase (default 100)
#   API_FUZZ_SEED      the seed, for a reproducible run (default 14)
#   NYRO_TOOLS_DIR     where the virtualenv goes (default target/tools)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

SCHEMATHESIS_VERSION=4.32.5
VALIDATOR_VERSION=0.9.0
examples=${API_FUZZ_EXAMPLES:-100}
seed=${API_FUZZ_SEED:-14}
tools=${NYRO_TOOLS_DIR:-$root/target/tools}
venv=$tools/api-fuzz-st$SCHEMATHESIS_VERSION-osv$VALIDATOR_VERSION

if ! "$venv/bin/schemathesis" --version >/dev/null 2>&1 ||
    ! "$venv/bin/openapi-spec-validator" --version >/dev/null 2>&1; then
    echo "api-fuzz: installing schemathesis $SCHEMATHESIS_VERSION and openapi-spec-validator $VALIDATOR_VERSION into $venv"
    rm -rf "$venv"
    mkdir -p "$tools"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        # Debian's python3 keeps venv in a package of its own.
        echo "api-fuzz: installing Debian's python3-venv" >&2
        sudo=""
        [[ $(id -u) -eq 0 ]] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
        rm -rf "$venv"
        python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "schemathesis==$SCHEMATHESIS_VERSION" "openapi-spec-validator==$VALIDATOR_VERSION"
fi

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
cargo build --quiet -p nyro-cli
bin="${CARGO_TARGET_DIR:-$root/target}/debug/nyrodb"

work=$(mktemp -d "${TMPDIR:-/tmp}/nyrodb-api-fuzz.XXXXXX")
server_pid=""
cleanup() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

token="api-fuzz-$RANDOM$RANDOM"
mkdir -p "$work/backups"
cat >"$work/nyrodb.toml" <<EOF
[storage]
path = "$work/data"

[server]
listen = "127.0.0.1:0"
auth_token = "$token"
backup_root = "$work/backups"

[[collections]]
name = "users"
indexes = ["age", "city"]
EOF

"$bin" serve --config "$work/nyrodb.toml" --log-format json >"$work/server.log" 2>&1 &
server_pid=$!

# The server listens on a port the OS chose; its start-up line names it.
addr=""
for _ in $(seq 300); do
    addr=$(grep -o '"addr":"127\.0\.0\.1:[0-9]*"' "$work/server.log" | head -n1 | cut -d'"' -f4 || true)
    [[ -n $addr ]] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
if [[ -z $addr ]]; then
    echo "api-fuzz: the server did not start; its log:" >&2
    cat "$work/server.log" >&2
    exit 1
fi
url="http://$addr"
echo "api-fuzz: nyrodb serving at $url (data in $work/data)"

curl -fsS -H "Authorization: Bearer $token" "$url/v1/openapi.json" -o "$work/openapi.json"
"$venv/bin/openapi-spec-validator" --validation-errors all "$work/openapi.json"

# schemathesis keeps its example database and reports in the working directory.
cd "$work"
status=0
"$venv/bin/schemathesis" --no-color --config-file "$root/scripts/api-fuzz.toml" run "$url/v1/openapi.json" \
    --checks all \
    --header "Authorization: Bearer $token" \
    --max-examples "$examples" \
    --seed "$seed" \
    --workers 1 \
    --suppress-health-check too_slow \
    || status=$?
cd "$root"

if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "api-fuzz: the server died during the run; its log:" >&2
    tail -n 50 "$work/server.log" >&2
    exit 1
fi
if [[ $status -ne 0 ]]; then
    echo "api-fuzz: schemathesis found failures (seed $seed); server log: last lines" >&2
    tail -n 20 "$work/server.log" >&2
    exit "$status"
fi
echo "api-fuzz: no failure (seed $seed, $examples examples per operation)"
