# Shared by the scripts/bench-*.sh (sourced, not run): the common start and end of a
# benchmark script.

# bench_start NAME ARGS...: moves to the repository root, takes a leading --write (sets
# $write to 1), exports CARGO_BUILD_JOBS, makes $work (a scratch directory removed on exit)
# and leaves the other arguments in the array $args.
bench_start() {
  local name=$1
  shift
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  write=0
  if [ "${1:-}" = "--write" ]; then write=1; shift; fi
  args=("$@")
  export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
  work=$(mktemp -d "${TMPDIR:-/var/tmp}/nyro-bench-$name.XXXXXX")
  trap 'rm -rf "$work"' EXIT
}

# The machine, for the "machine:" line of a section.
bench_machine() {
  echo "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr)"
}

# bench_publish TITLE SECTION: prints the section; with --write, also replaces the
# "## TITLE" section of docs/BENCHMARKS.md.
bench_publish() {
  echo "$2"
  if [ "$write" = 1 ]; then
    scripts/update-bench-section.py docs/BENCHMARKS.md "$1" <<<"$2"
  fi
}
