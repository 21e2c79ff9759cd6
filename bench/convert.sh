#!/usr/bin/env bash
# Conversion throughput next to `cp` of the same dump.
#
#   bash bench/convert.sh [SIZE_MIB [EVERY [RUNS]]]
#   bash bench/convert.sh --pv [SIZE_MIB [EVERY [RUNS]]]
#
# Builds a SIZE_MIB MiB (default 2048) 64-bit HVM guest dump in which one page in EVERY
# (default 8) holds random bytes and the rest are zero (holes in the sparse dump), then
# times, with a warm page cache, RUNS times each (default 3, the median is reported):
#   cp            cp DUMP COPY                     (GNU cp: sparse-aware)
#   cp+sync       cp DUMP COPY && sync COPY        (the vmcore is fsync'd, so this is fair)
#   convert       xendump-gdbserver convert -q --force -o VMCORE DUMP
# Throughput is the dump's size over the wall time; peak RSS comes from /usr/bin/time.
# BENCH_OUT=DIR writes the copies and vmcores there (e.g. /dev/shm, to time the tools
# without the disk: flushes and deletes on a busy shared disk take seconds each).
#
# --pv: a SIZE_MIB (default 65536) 64-bit PV guest with a PV Linux's page tables (4 KiB
# mappings of all RAM: one L1 table per 2 MiB, 32 768 for 64 GiB; machine frames in
# scattered 2 MiB chunks; one random page in EVERY, default 4096), converted alternately
# with canonical page tables (the default) and with --keep-machine-frames (tables as
# they are, as convert wrote them before), RUNS times each in the same run: wall, user
# and system time (medians) and peak RSS (largest). PV_CHUNK=N makes the machine-frame
# chunks N pages (PV_CHUNK=1: every page on its own, the worst case for mfn lookups).
set -euo pipefail
cd "$(dirname "$0")/.."

pv=false
if [ "${1:-}" = "--pv" ]; then
  pv=true
  shift
fi
if $pv; then
  size=${1:-65536}
  every=${2:-4096}
else
  size=${1:-2048}
  every=${2:-8}
fi
runs=${3:-3}
work=${BENCH_DIR:-target/bench-convert}
out=${BENCH_OUT:-$work}
mkdir -p "$work" "$out"
chunk=${PV_CHUNK:-512}
kind=$($pv && echo "pv$([ "$chunk" = 512 ] || echo "$chunk")" || echo big)
dump="$work/${kind}-${size}-${every}.core"

cargo build --release --quiet --example make-big-dump --bin xendump-gdbserver
bin=target/release/xendump-gdbserver
if [ ! -e "$dump" ]; then
  target/release/examples/make-big-dump "$dump" "$size" "$every" $($pv && echo "pv:$chunk")
fi
bytes=$(stat -c %s "$dump")
alloc=$(( $(stat -c %b "$dump") * $(stat -c %B "$dump") ))
echo "dump: $dump, $((bytes >> 20)) MiB ($((alloc >> 20)) MiB allocated)"
cat "$dump" > /dev/null # warm the page cache for every contender alike

if $pv; then
  # median VALUES...: the middle one.
  median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
  declare -A wall user sys rss
  for _ in $(seq "$runs"); do
    for mode in canonical keep; do
      flag=$([ $mode = keep ] && echo --keep-machine-frames || true)
      rm -f "$out/out.vmcore"
      t=$( { /usr/bin/time -f "%e %U %S %M" "$bin" convert -q --force $flag \
               -o "$out/out.vmcore" "$dump" > /dev/null; } 2>&1 | tail -n1 )
      read -r e u s m <<< "$t"
      wall[$mode]+="$e "; user[$mode]+="$u "; sys[$mode]+="$s "
      [ "${rss[$mode]:-0}" -lt "$m" ] && rss[$mode]=$m
    done
  done
  printf '%-32s %8s %8s %8s %14s\n' "" wall user system "peak RSS"
  for mode in keep canonical; do
    # shellcheck disable=SC2086
    printf '%-32s %7ss %7ss %7ss %10d KiB\n' \
      "$([ $mode = keep ] && echo '--keep-machine-frames (before)' || echo 'canonical page tables')" \
      "$(median ${wall[$mode]})" "$(median ${user[$mode]})" "$(median ${sys[$mode]})" "${rss[$mode]}"
  done
  rm -f "$out/out.vmcore"
  exit 0
fi

# time_cmd NAME CMD...: run RUNS times, print the median wall time and its peak RSS.
time_cmd() {
  local name=$1; shift
  local times=() rss=0
  for _ in $(seq "$runs"); do
    rm -f "$out/copy" "$out/out.vmcore"
    local t
    t=$( { /usr/bin/time -f "%e %M" "$@" > /dev/null; } 2>&1 | tail -n1 )
    times+=("${t% *}")
    local r=${t#* }
    [ "$r" -gt "$rss" ] && rss=$r
  done
  local median
  median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
  local mibs
  mibs=$(awk -v b="$bytes" -v t="$median" 'BEGIN { printf "%.0f", (t > 0 ? b / 1048576 / t : 0) }')
  printf '%-8s %7ss  %6s MiB/s  peak RSS %6d KiB\n' "$name" "$median" "$mibs" "$rss"
  eval "t_${name//+/_}=$median"
}

time_cmd cp cp "$dump" "$out/copy"
time_cmd cp+sync sh -c "cp '$dump' '$out/copy' && sync '$out/copy'"
time_cmd convert "$bin" convert -q --force -o "$out/out.vmcore" "$dump"
out_alloc=$(( $(stat -c %b "$out/out.vmcore") * $(stat -c %B "$out/out.vmcore") ))
echo "vmcore: $(( $(stat -c %s "$out/out.vmcore") >> 20 )) MiB ($((out_alloc >> 20)) MiB allocated)"
awk -v c="$t_convert" -v p="$t_cp" -v s="$t_cp_sync" 'BEGIN {
  printf "convert takes %.2fx the time of cp, %.2fx that of cp+sync\n", c / p, c / s }'
rm -f "$out/copy" "$out/out.vmcore"
