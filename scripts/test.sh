#!/usr/bin/env bash
# The project's test command (the README's second set-up command): every test of every
# crate, unit, integration, property and doc tests. Installs nothing beyond the toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
cargo test --workspace --all-targets "$@"
cargo test --workspace --doc
