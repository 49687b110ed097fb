#!/usr/bin/env bash
# The cluster benchmark: a local coordinator with 1 and 2 workers under closed and open-loop load.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --static-swift-stdlib --product script-cluster
exec "$(swift build -c release --show-bin-path)/script-cluster" bench --cluster "$@"
