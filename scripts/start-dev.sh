#!/usr/bin/env bash
# Starts a single-node Keel with its data in ./keel-data (pass flags to override, e.g.
# --listen 127.0.0.1:7233 --data-dir DIR --namespace NAME). Builds it first if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
check_prereqs
exec cargo run --release --bin keel -- server start-dev "$@"
