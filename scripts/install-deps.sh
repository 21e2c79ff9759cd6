#!/usr/bin/env bash
# Install what the test suite needs on a fresh Debian machine: gdb (the end-to-end
# tests drive the real gdb against the real server). With --bench, also what the
# benchmarks need: valgrind (callgrind profile of the server). Idempotent; needs root
# (or sudo) only when something is missing.
set -euo pipefail

need=()
command -v gdb >/dev/null 2>&1 || need+=(gdb)
command -v cc >/dev/null 2>&1 || need+=(gcc)
if [ "${1:-}" = "--bench" ]; then
  command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
fi

if [ ${#need[@]} -eq 0 ]; then
  echo "install-deps: gdb $(gdb --version | head -n1 | awk '{print $NF}') already present"
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
