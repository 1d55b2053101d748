#!/usr/bin/env bash
# Browser tests of the web console (crates/nyro-server/console): headless Debian Chromium,
# driven by playwright-core (crates/nyro-server/console-tests), against a real `nyrodb serve`
# on a fresh data directory, with an auth token, on a free loopback port.
#
# Installs what it needs: Debian's chromium if /usr/bin/chromium is missing (apt-get, with
# sudo unless root), and the pinned playwright-core with `npm ci` (never a browser download).
# Screenshots of every page go to artifacts/console/, with the server's log.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
started=$(date +%s)

if [[ ! -x /usr/bin/chromium ]]; then
    echo "console-test: installing Debian's chromium" >&2
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi

(cd crates/nyro-server/console-tests && npm ci --no-audit --no-fund --loglevel=error)
cargo build -p nyro-cli

artifacts="$root/artifacts/console"
rm -rf "$artifacts"
mkdir -p "$artifacts"
work=$(mktemp -d)
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
token="console-test-$RANDOM$RANDOM"
cat >"$work/nyrodb.toml" <<TOML
[storage]
path = "$work/data"

[server]
listen = "127.0.0.1:$port"
auth_token = "$token"
TOML

# Debug level: every request is logged (nyro_server::context, with its path), as are other
# crates' debug lines, so the token check at the end can actually catch a leak.
RUST_LOG=debug NO_COLOR=1 "${CARGO_TARGET_DIR:-target}/debug/nyrodb" serve --config "$work/nyrodb.toml" >"$artifacts/server.log" 2>&1 &
server_pid=$!

url="http://127.0.0.1:$port"
for i in $(seq 100); do
    if curl -fsS --max-time 1 "$url/health" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "console-test: the server exited; its log:" >&2
        cat "$artifacts/server.log" >&2
        exit 1
    fi
    if [[ $i -eq 100 ]]; then
        echo "console-test: the server did not answer /health within 10 s" >&2
        exit 1
    fi
    sleep 0.1
done

(
    cd crates/nyro-server/console-tests
    NYRODB_URL="$url" NYRODB_TOKEN="$token" CONSOLE_ARTIFACTS="$artifacts" \
        timeout 170 node --test --test-concurrency=1 units.test.mjs console.test.mjs
)

# The change feed took the token as ?access_token=; it must not have reached the log. First
# make sure the log holds per-request lines at all (else the check below proves nothing):
# the feed's upgrade request itself, and an API call.
for logged in "path=/v1/changes" "path=/v1/collections"; do
    if ! grep -qF "$logged" "$artifacts/server.log"; then
        echo "console-test: no request line with $logged in the server's log; the token check would prove nothing" >&2
        exit 1
    fi
done
if grep -qF "$token" "$artifacts/server.log"; then
    echo "console-test: the auth token appears in the server's log" >&2
    exit 1
fi
echo "console-test: passed in $(($(date +%s) - started)) s; screenshots in artifacts/console/"
