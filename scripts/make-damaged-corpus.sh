#!/usr/bin/env bash
# Regenerate the damaged-dump corpus in tests/damaged/ from builder dumps.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --example make-damaged-corpus -- tests/damaged
