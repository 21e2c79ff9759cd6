#!/usr/bin/env bash
# Every benchmark, one command: the in-process criterion benches (guest memory reads,
# page-table walks), the end-to-end table (start-up, gdb bulk reads, a scripted
# session, random reads, binary reads, a callgrind profile of the server, start-up on
# `xl save` images), interactive kernel debugging against gdb on a local core
# (bench/interactive.sh) and kernel tasks as threads against drgn
# (bench/linux-threads.sh).
#
#   bash bench/run.sh                 # everything (about 25 minutes, ~1.5 GiB of disk
#                                     # in target/bench, mostly sparse)
#   bash bench/run.sh startup bulk    # only these sections: startup bulk session random
#                                     # binary profile saved interactive linux
#   XD_BENCH_ARGS="--reps 5 --worst-case" bash bench/run.sh
#   XD_BASELINE=OLD/xendump-gdbserver XD_BASELINE_GDBINIT=OLD/gdbinit bash bench/run.sh
#                                     # another build side by side, in every section
#                                     # that takes one
#
# Dumps are cached in target/bench and rebuilt only when their description changes.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh --bench
cargo build --release --locked --bin xendump-gdbserver --example xd-bench
want() { [ $# -eq 0 ] || [[ " $* " == *" $section "* ]]; }
xd=()
for section in startup bulk session random binary profile saved; do
  if want "$@"; then xd+=("$section"); fi
done
if [ $# -eq 0 ]; then
  cargo bench --locked --bench read --bench walk
fi
baseline=()
if [ -n "${XD_BASELINE:-}" ]; then
  baseline=(--baseline "$XD_BASELINE")
fi
if [ ${#xd[@]} -gt 0 ]; then
  # shellcheck disable=SC2086
  target/release/examples/xd-bench ${XD_BENCH_ARGS:-} "${baseline[@]}" "${xd[@]}"
fi
section=interactive
if want "$@"; then
  echo
  echo "== interactive: the kernel's lx-* traffic, p *task, bt, x/1024xg; server against gdb on a local core"
  servers=(target/release/xendump-gdbserver)
  if [ -n "${XD_BASELINE:-}" ]; then
    servers+=("$XD_BASELINE:${XD_BASELINE_GDBINIT:-gdbinit}")
  fi
  bash bench/interactive.sh 300 7 "${servers[@]}"
fi
section=linux
if want "$@"; then
  echo
  echo "== kernel tasks as threads: 10,000 tasks, gdb through the server against drgn on the vmcore"
  bash bench/linux-threads.sh 10000 3
fi
