#!/usr/bin/env bash
# Interactive kernel debugging through the server against gdb on a local core of the
# same guest: the memory traffic of the kernel's lx-* scripts, `p *task`, `bt` in every
# thread and `x/1024xg` (bench/interactive.py says how).
#
#   bash bench/interactive.sh [TASKS [RUNS [SERVER[:GDBINIT] ...]]]
#
# Default: 300 tasks, 5 runs, this tree's release server and gdbinit; give more servers
# (with the gdbinit to use with each) to compare builds in the same run, e.g.
#   bash bench/interactive.sh 300 5 target/release/xendump-gdbserver OLD/xendump-gdbserver:OLD/gdbinit
set -euo pipefail
cd "$(dirname "$0")/.."
tasks=${1:-300}
runs=${2:-5}
shift $(( $# < 2 ? $# : 2 ))
servers=("$@")
[ ${#servers[@]} -gt 0 ] || servers=(target/release/xendump-gdbserver)
dir=target/bench/interactive
. bench/linux-guest.sh
# KASLR offset 0: the local core's gdb then needs no relocation.
linux_guest "$dir" "$tasks" 0
/usr/bin/python3 bench/interactive.py "$vmlinux" "$dump" "$vmcore" "${servers[@]}" --runs "$runs"
