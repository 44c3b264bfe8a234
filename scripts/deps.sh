#!/usr/bin/env bash
# Installs what building and testing Keel needs on a fresh Debian machine, only when missing:
# libclang (bindgen for RocksDB) and a Python venv with the official Temporal SDK and pytest.
# Idempotent; sourced by the other scripts. Exports CARGO_TARGET_DIR and KEEL_VENV.
set -euo pipefail

export KEEL_CACHE="${KEEL_CACHE:-$HOME/.cache/keel}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$KEEL_CACHE/target}"
export KEEL_VENV="${KEEL_VENV:-$KEEL_CACHE/venv}"
mkdir -p "$KEEL_CACHE"

need_libclang() {
  ! ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 && ! ldconfig -p 2>/dev/null | grep -q libclang
}

if need_libclang; then
  echo "deps: installing libclang-dev (RocksDB's bindgen needs it)" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libclang-dev clang >/dev/null
fi

# keel-jepsen --net netns: network namespaces (iproute2) and packet drops (nftables); root only.
install_netns_deps() {
  if ! command -v ip >/dev/null || ! command -v nft >/dev/null; then
    echo "deps: installing iproute2 and nftables (keel-jepsen --net netns)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 nftables >/dev/null
  fi
}

install_python_deps() {
  if [ ! -x "$KEEL_VENV/bin/python" ]; then
    echo "deps: creating $KEEL_VENV" >&2
    python3 -m venv "$KEEL_VENV"
  fi
  if ! "$KEEL_VENV/bin/python" -c "import temporalio, pytest, pytest_asyncio, pytest_timeout" 2>/dev/null; then
    echo "deps: installing temporalio, pytest into $KEEL_VENV" >&2
    "$KEEL_VENV/bin/pip" install -q --upgrade pip >/dev/null
    "$KEEL_VENV/bin/pip" install -q -r "$(dirname "${BASH_SOURCE[0]}")/../tests/python/requirements.txt"
  fi
}
