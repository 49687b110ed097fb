#!/usr/bin/env bash
# The test command: builds everything, runs the Swift tests (unit, cross-checks against the numpy
# reference, real multi-process cluster tests on loopback) and the Python tests.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests
swift test --skip-build
if python3 -c 'import pytest, numpy' 2>/dev/null; then
    python3 -m pytest -q Scripts
fi
