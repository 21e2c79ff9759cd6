#!/usr/bin/env bash
# The whole test suite, as CI runs it: dependencies, formatting, lints, every test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# What ships is built without the test support (the dump builder, the fuzz harness):
# this fails if the library or the binary came to need it.
cargo check --locked --lib --bins
cargo test --all-targets --locked
