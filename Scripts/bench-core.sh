#!/usr/bin/env bash
# The core benchmark (in-process): image, AnyRes and video cases against the BLAS bound and numpy.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product script-cluster
exec "$(swift build -c release --show-bin-path)/script-cluster" bench "$@"
