#!/usr/bin/env bash
# The whole test suite: formatting and lints, Rust unit and integration tests (the real keel
# binary driven by the official Rust SDK), the Python and TypeScript SDK and temporal CLI
# tests, and keel-jepsen. Installs what it needs and stops early, naming it, if something is
# still missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
install_python_deps
install_node_deps
install_browser_deps
check_prereqs python node browser
export PATH="$KEEL_VENV/bin:$PATH"  # the temporal CLI for the CLI tests

echo "== cargo fmt / clippy"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p keel-server --features fault-injection --all-targets -- -D warnings

# The previous release, for the rolling-upgrade test (tests/python/test_rolling_upgrade.py):
# built once from its pinned commit and kept in the cache. It has a target directory of its
# own: cargo names a workspace's artifacts by their path inside the workspace, so two
# checkouts sharing one target directory would overwrite each other's.
KEEL_PREVIOUS=721436bc00edcebdd6a451043929d4b0b5260baf
old_bin="$KEEL_CACHE/keel-${KEEL_PREVIOUS:0:12}"
if [ ! -x "$old_bin" ] && git cat-file -e "$KEEL_PREVIOUS^{commit}" 2>/dev/null; then
  echo "== build the previous release (${KEEL_PREVIOUS:0:12}) for the rolling-upgrade test"
  old_src="$(mktemp -d)"
  git archive "$KEEL_PREVIOUS" | tar -x -C "$old_src"
  (cd "$old_src" && CARGO_TARGET_DIR="$KEEL_CACHE/target-previous" cargo build --bin keel)
  cp "$KEEL_CACHE/target-previous/debug/keel" "$old_bin"
  rm -rf "$old_src"
fi
if [ -x "$old_bin" ]; then
  export KEEL_OLD_BIN="$old_bin"
else
  echo "the previous release ${KEEL_PREVIOUS:0:12} is not in this clone: the rolling-upgrade test is skipped"
fi

echo "== build keel"
cargo build --bin keel --bin keel-jepsen
cargo build -p keel-server --features test-clock --bin keel-test
cargo build -p keel-server --features fault-injection --bin keel-faulty
export KEEL_BIN="$CARGO_TARGET_DIR/debug/keel"

echo "== rust tests"
cargo test --workspace -- --nocapture --test-threads 2

echo "== python and typescript sdk, temporal cli, scripts tests"
# One fixed base directory for the tests' data dirs: pytest empties it when a run starts (so a
# machine never keeps more than one run's nodes, ~10 GB) and it is removed after a green run.
pytest_tmp="${TMPDIR:-/tmp}/keel-pytest"
"$KEEL_VENV/bin/python" -m pytest -q --basetemp "$pytest_tmp" tests/python
rm -rf "$pytest_tmp"
echo "== jepsen: 3 nodes, 90 s under every nemesis (partitions, kill -9, pauses, membership, clock skew)"
jepsen_out="$(mktemp -d)"
"$CARGO_TARGET_DIR/debug/keel-jepsen" run --nodes 3 --time 90 --nemesis all --seed 1 \
  --keel-bin "$CARGO_TARGET_DIR/debug/keel-test" --out "$jepsen_out/clean"

echo "== jepsen: the checker bites (a test build that acknowledges signals it never commits)"
status=0
"$CARGO_TARGET_DIR/debug/keel-jepsen" run --nodes 3 --time 15 --nemesis partition --seed 2 \
  --keel-bin "$CARGO_TARGET_DIR/debug/keel-faulty" --out "$jepsen_out/faulty" >/dev/null || status=$?
if [ "$status" -ne 1 ] || ! grep -q "lost-signal" "$jepsen_out/faulty/report.txt"; then
  echo "keel-jepsen did not report the faulty build's lost signals (exit $status)"
  exit 1
fi
grep "^anomalies" "$jepsen_out/faulty/report.txt"

if [ "$(id -u)" -eq 0 ]; then
  echo "== jepsen: 3 nodes in network namespaces, 30 s of nftables partitions and kills"
  install_netns_deps
  "$CARGO_TARGET_DIR/debug/keel-jepsen" run --net netns --nodes 3 --time 30 \
    --nemesis partition,kill --seed 3 --keel-bin "$KEEL_BIN" --out "$jepsen_out/netns"
else
  echo "== jepsen: network-namespace run skipped (needs root)"
fi
rm -rf "$jepsen_out"
echo "== all tests passed"
