#!/usr/bin/env bash
# Install what the test suite needs on a fresh Debian machine: gdb and lldb (the
# end-to-end tests drive the real debuggers against the real server), crash and drgn
# (the vmcores of `convert` are opened with them). With --bench, also valgrind (a
# callgrind profile of the server). Idempotent; needs root (or sudo)
# only when something is missing.
set -euo pipefail

need=()
command -v gdb >/dev/null 2>&1 || need+=(gdb)
# LLDB: IDE users connect with it too; tests/lldb_e2e.rs drives it.
command -v lldb >/dev/null 2>&1 || need+=(lldb)
# gcc and binutils: the Linux-awareness tests compile and link a kernel fixture
# (tests/fixtures/linux; -m32 is compile-only there, so no multilib is needed).
command -v cc >/dev/null 2>&1 || need+=(gcc)
command -v objcopy >/dev/null 2>&1 || need+=(binutils)
command -v crash >/dev/null 2>&1 || need+=(crash)
/usr/bin/python3 -c 'import drgn' >/dev/null 2>&1 || need+=(python3-drgn)
if [ "${1:-}" = "--bench" ]; then
  command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
fi

if [ ${#need[@]} -eq 0 ]; then
  echo "install-deps: gdb, lldb, crash and drgn already present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "install-deps: need root to install: ${need[*]}" >&2; exit 1; fi
fi
echo "install-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${need[@]}"
