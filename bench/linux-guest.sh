# Sourced by the Linux benchmarks (bench/interactive.sh, bench/linux-threads.sh): a
# builder guest running the stand-in vmlinux of tests/fixtures/linux (x86_64, Linux 6.1
# struct layouts, built as the tests build it: gcc + ld), its dump and the vmcore
# `convert` writes of it, all kept under DIR and reused until their sources change.
#
#   linux_guest DIR TASKS [KASLR_OFFSET]
#
# Sets $vmlinux, $dump and $vmcore. Expects the current directory to be the tree's root.
linux_guest() {
  local dir=$1 tasks=$2 fx=tests/fixtures/linux
  mkdir -p "$dir"
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

  vmlinux="$dir/vmlinux"
  dump="$dir/guest-$tasks${3+-kaslr$3}.core"
  vmcore="${dump%.core}.vmcore"
  if [ ! -e "$dump" ] || [ target/release/examples/linux-guest -nt "$dump" ]; then
    target/release/examples/linux-guest "$vmlinux" "$dump" "$tasks" ${3+"$3"}
    rm -f "$vmcore"
  fi
  if [ ! -e "$vmcore" ]; then
    target/release/xendump-gdbserver convert -q "$dump" -o "$vmcore"
  fi
}
