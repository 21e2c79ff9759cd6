#!/usr/bin/env bash
# Soak the server: 10,000 gdb-protocol sessions (4 clients at a time) over loopback
# against a release build, printing the server's RSS, open descriptors and threads
# after warm-up, after 5,000 and after 10,000 sessions (tests/protocol_abuse.rs,
# `soak_10k_sessions`). Bounded: stops by itself after the 10,000th session.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh >/dev/null
cargo test --release --locked --test protocol_abuse -- --ignored --nocapture soak_10k_sessions 2>&1 |
  grep -E '^soak:|test result|panicked|assert'
