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
mkdir -p "$dir"
fx=tests/fixtures/linux

bash scripts/install-deps.sh >/dev/null
cargo build --release --locked --bin xendump-gdbserver --example linux-guest 2>&1 | tail -1

# The stand-in vmlinux, x86_64, Linux 6.1 shapes (tests/support/kernel_fixture.rs).
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

dump="$dir/guest-$tasks.core"
vmcore="$dir/guest-$tasks.vmcore"
if [ ! -e "$dump" ] || [ target/release/examples/linux-guest -nt "$dump" ]; then
  target/release/examples/linux-guest "$dir/vmlinux" "$dump" "$tasks"
  rm -f "$vmcore"
fi
if [ ! -e "$vmcore" ]; then
  target/release/xendump-gdbserver convert -q "$dump" -o "$vmcore"
fi

/usr/bin/python3 bench/linux_threads.py target/release/xendump-gdbserver \
  "$dir/vmlinux" "$dump" "$vmcore" --runs "$runs"
