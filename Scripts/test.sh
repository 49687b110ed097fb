#!/usr/bin/env bash
# The test command: builds everything, runs the Swift tests (unit, cross-checks against the numpy
# reference, real multi-process cluster tests on loopback) and the Python tests.
set -euo pipefail
# A crashing test prints its signal at once instead of waiting on a symbolicated backtrace.
export SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=no}
cd "$(dirname "$0")/.."
python3 -c 'import numpy, pytest, zmq, msgpack' 2>/dev/null \
    || { echo "python3 with numpy, pytest, pyzmq and msgpack is needed: run bash Scripts/install-deps.sh" >&2; exit 1; }
# Optimised (-O) through the command line: the core's tests run realistic shapes, and the
# package itself carries no unsafe flags.
swift build --build-tests -Xswiftc -O
swift test --skip-build
python3 -m pytest -q Scripts
