#!/usr/bin/env bash
# Time the Linux-awareness layer's DWARF scan (DebugInfo::open) on a large vmlinux-like
# file: UNITS compilation units, each including tests/fixtures/linux/kernel-shapes.h
# (so each defines task_struct again, as a kernel's units do) plus FILLER structs and
# functions, linked like a vmlinux (Debian's 6.1 vmlinux: ~3000 units, ~450 MiB of
# .debug_info). The units that define the task walker's structs
# are either the first (a real vmlinux: init/main.c comes early) or only the last (the
# worst case: every unit is looked at).
#
#   bash bench/linux-debuginfo.sh [UNITS [FILLER]]     # default 3000 300
set -euo pipefail
cd "$(dirname "$0")/.."
units=${1:-3000}
filler=${2:-300}
dir=target/bench/linux-debuginfo-$units-$filler
mkdir -p "$dir"
fx=tests/fixtures/linux
cflags=(-g -O0 -ffreestanding -fno-pic -fno-stack-protector -mcmodel=kernel -DKS_RELEASE='"6.1.0-bench"' -I "$fx")

cargo build --release --quiet --example debuginfo-scan
if [ ! -f "$dir/vmlinux-last" ]; then
  echo "linux-debuginfo: compiling $units units into $dir"
  # Filler units: the header's structs are used, so each unit's DWARF carries them
  # (all the walker's structs but inactive_task_frame, so the scan cannot stop there),
  # plus FILLER structs of a dozen members, FILLER/20 functions with locals, and one
  # function using every struct: top-level entries with children, as a kernel unit's
  # types and functions are (and about as many symbols per unit as a kernel's).
  awk -v units="$units" -v n="$filler" -v dir="$dir" 'BEGIN {
    for (i = 1; i <= units; i++) {
      f = dir "/u" i ".c"
      print "#include \"kernel-shapes.h\"" > f
      for (j = 1; j <= n; j++) {
        printf "struct s%d_%d { struct list_head l; unsigned long a[%d]; int b, c, d, e; void *p[4]; struct task_struct *t; struct mm_struct *mm; u64 x, y; };\n", i, j, j, i, j > f
        if (j % 20 == 0)
          printf "unsigned long f%d_%d(struct task_struct *t, struct s%d_%d *s) { unsigned long a = t->pid, b = t->thread.sp, c = (unsigned long)t->mm->pgd; int d = t->signal->nr_threads; return a + b + c + d + s->b; }\n", i, j, i, j > f
      }
      # One function whose locals use every struct: types without a symbol each.
      printf "void use%d(void) {\n", i > f
      for (j = 1; j <= n; j++)
        printf "  struct s%d_%d *p%d = 0; (void)p%d;\n", i, j, j, j > f
      print "}" > f
      close(f)
    }
  }'
  printf '%s\n' "$dir"/u*.c | xargs -P "$(nproc)" -I{} sh -c 'gcc "$@" -c -o "${0%.c}.o" "$0"' {} "${cflags[@]}"
  gcc "${cflags[@]}" -c -o "$dir/kernel.o" "$fx/kernel-shapes.c"
  lds=(-m elf_x86_64 --build-id=sha1 -T "$fx/kernel.lds" --defsym KS_TEXT=0xffffffff81000000 --defsym KS_PERCPU_VMA=0)
  ld "${lds[@]}" -o "$dir/vmlinux-first" "$dir/kernel.o" "$dir"/u*.o
  ld "${lds[@]}" -o "$dir/vmlinux-last" "$dir"/u*.o "$dir/kernel.o"
fi
for which in first last; do
  f="$dir/vmlinux-$which"
  size=$(objdump -h "$f" | awk '$2 == ".debug_info" { print $3 }')
  echo "== task walker's structs in the $which unit: $(du -h --apparent-size "$f" | cut -f1) file, $((16#$size >> 20)) MiB .debug_info"
  # Cold page cache is not ours to make; run twice and report both.
  for run in 1 2; do
    target/release/examples/debuginfo-scan "$f" 1e000000 | grep '^scan:'
  done
done
