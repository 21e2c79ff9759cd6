#!/usr/bin/env bash
# Every benchmark, one command: the in-process criterion benches (guest memory reads,
# page-table walks) and the end-to-end table (start-up, gdb bulk reads, a scripted
# session, random reads, a callgrind profile of the server).
#
#   bash bench/run.sh                 # everything (about 15 minutes, ~1.5 GiB of disk
#                                     # in target/bench, mostly sparse)
#   bash bench/run.sh startup bulk    # only these end-to-end sections
#   XD_BENCH_ARGS="--reps 5 --worst-case" bash bench/run.sh
#
# Dumps are cached in target/bench and rebuilt only when their description changes.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh --bench
cargo build --release --locked --bin xendump-gdbserver --example xd-bench
if [ $# -eq 0 ]; then
  cargo bench --locked --bench read --bench walk
fi
# shellcheck disable=SC2086
target/release/examples/xd-bench ${XD_BENCH_ARGS:-} "$@"
