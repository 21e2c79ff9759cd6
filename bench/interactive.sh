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
mkdir -p "$dir"
fx=tests/fixtures/linux

bash scripts/install-deps.sh >/dev/null
cargo build --release --locked --bin xendump-gdbserver --example linux-guest 2>&1 | tail -1

gcc -ffreestanding -fno-pic -fno-stack-protector -fno-asynchronous-unwind-tables -O0 \
  -DKS_RELEASE='"6.1.0-fixture"' -mcmodel=kernel -g -c -o "$dir/kernel-shapes.o" \
  "$fx/kernel-shapes.c"
ld -m elf_x86_64 --build-id=sha1 -T "$fx/kernel.lds" --defsym KS_TEXT=0xffffffff81000000 \
  --defsym KS_PERCPU_VMA=0 -o "$dir/vmlinux.new" "$dir/kernel-shapes.o"
if ! cmp -s "$dir/vmlinux.new" "$dir/vmlinux"; then
  mv "$dir/vmlinux.new" "$dir/vmlinux"
  rm -f "$dir"/guest-*.core "$dir"/guest-*.vmcore
else
  rm -f "$dir/vmlinux.new"
fi
# KASLR offset 0: the local core's gdb then needs no relocation.
dump="$dir/guest-$tasks.core"
vmcore="$dir/guest-$tasks.vmcore"
if [ ! -e "$dump" ] || [ target/release/examples/linux-guest -nt "$dump" ]; then
  target/release/examples/linux-guest "$dir/vmlinux" "$dump" "$tasks" 0
  rm -f "$vmcore"
fi
if [ ! -e "$vmcore" ]; then
  target/release/xendump-gdbserver convert -q "$dump" -o "$vmcore"
fi
/usr/bin/python3 bench/interactive.py "$dir/vmlinux" "$dump" "$vmcore" "${servers[@]}" --runs "$runs"
