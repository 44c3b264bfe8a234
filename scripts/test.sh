#!/usr/bin/env bash
# The whole test suite: formatting and lints, Rust unit and integration tests (the real keel
# binary driven by the official Rust SDK), and the Python SDK tests. Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
install_python_deps

echo "== cargo fmt / clippy"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

echo "== build keel"
cargo build --bin keel
export KEEL_BIN="$CARGO_TARGET_DIR/debug/keel"

echo "== rust tests"
cargo test --workspace -- --nocapture --test-threads 2

echo "== python sdk tests"
"$KEEL_VENV/bin/python" -m pytest -q tests/python
echo "== all tests passed"
