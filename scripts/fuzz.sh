#!/usr/bin/env bash
# Run one fuzz target for a given time: scripts/fuzz.sh TARGET SECONDS [libFuzzer args…]
#   TARGET: open_dump | read_memory | gdb_session | task_walker | open_stream   (see src/harness.rs)
# Needs cargo-fuzz (`cargo install cargo-fuzz`); the nightly-only flags it passes work on
# the stable toolchain with RUSTC_BOOTSTRAP=1. Seeds (builder dumps of every variant)
# are written to fuzz/seeds/ by examples/make-fuzz-seeds.rs; the growing corpus lives
# in fuzz/corpus/TARGET and crashes in fuzz/artifacts/TARGET (both git-ignored). Copy
# each crash into tests/fuzz_regressions/TARGET/ once fixed: tests/fuzz_regressions.rs
# replays them in every `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:?usage: scripts/fuzz.sh TARGET SECONDS [libFuzzer args...]}
seconds=${2:?usage: scripts/fuzz.sh TARGET SECONDS [libFuzzer args...]}
shift 2
case "$target" in
  open_dump|read_memory|gdb_session|task_walker|open_stream) ;;
  *) echo "fuzz.sh: unknown target $target (open_dump, read_memory, gdb_session, task_walker, open_stream)" >&2; exit 2 ;;
esac

command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
if [ ! -d "fuzz/seeds/$target" ]; then
  cargo run --quiet --example make-fuzz-seeds -- fuzz/seeds
fi
mkdir -p "fuzz/corpus/$target"

export RUSTC_BOOTSTRAP=1
cd fuzz
# Build first, so the CPU time reported below is fuzzing time only.
cargo fuzz build -O "$target"
# CPU seconds used by this shell's finished children: bash `times`, second line.
# (`times` must run in this shell, not in a $(…) subshell, hence the file.)
times_file=$(mktemp)
child_cpu() {
  tail -n 1 "$times_file" | awk '{
    n = 0
    for (i = 1; i <= 2; i++) { split($i, p, "m"); sub("s", "", p[2]); n += p[1] * 60 + p[2] }
    print n }'
}
# -O: optimised with debug assertions; AddressSanitizer on (cargo-fuzz's default).
status=0
times > "$times_file"
cpu0=$(child_cpu)
start=$(date +%s)
# A target with a dictionary of its tokens gets it (gdb_session: every packet name).
dict=()
if [ -f "$target.dict" ]; then dict=("-dict=$target.dict"); fi
cargo fuzz run -O "$target" "corpus/$target" "seeds/$target" -- \
  -max_total_time="$seconds" -max_len=262144 -rss_limit_mb=4096 -timeout=20 \
  -print_final_stats=1 "${dict[@]}" "$@" || status=$?
times > "$times_file"
cpu=$(awk -v a="$(child_cpu)" -v b="$cpu0" 'BEGIN { printf "%.0f", a - b }')
rm -f "$times_file"
echo "fuzz.sh: $(date -u +%FT%TZ) $target: $(( $(date +%s) - start ))s wall, ${cpu}s CPU, exit $status" | tee -a runs.log
exit $status
