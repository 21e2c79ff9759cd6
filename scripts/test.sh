#!/usr/bin/env bash
# The whole test suite, as CI runs it: dependencies, formatting, lints, every test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
