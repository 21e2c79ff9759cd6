#!/usr/bin/env bash
# Kernel tasks as gdb threads, measured: `info threads` and `thread apply all bt`
# through the server against drgn's listing and stack_trace() of every task on the
# vmcore `convert` writes for the same dump (bench/linux_threads.py says how).
#
#   bash bench/linux-threads.sh [TASKS [RUNS]]      # default 10000 tasks, 3 runs
#
# Builds the stand-in vmlinux of tests/fixtures/linux (as the tests do: gcc + ld), a
# builder dump of an x86_64 HVM guest with TASKS tasks on its scheduler path
# (examples/linux-guest.rs), its vmcore, and reuses them until the sources change.
set -euo pipefail
cd "$(dirname "$0")/.."
tasks=${1:-10000}
runs=${2:-3}
dir=target/bench/linux
. bench/linux-guest.sh
linux_guest "$dir" "$tasks"
/usr/bin/python3 bench/linux_threads.py target/release/xendump-gdbserver \
  "$vmlinux" "$dump" "$vmcore" --runs "$runs"
