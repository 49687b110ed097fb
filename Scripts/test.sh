#!/usr/bin/env bash
# The test command: builds everything, runs the Swift tests (unit, cross-checks against the numpy
# reference, real multi-process cluster tests on loopback) and the Python tests (the Python client,
# the reference, and the deployment files against their schemas and linters).
set -euo pipefail
# A crashing test prints its signal at once instead of waiting on a symbolicated backtrace.
export SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=no}
cd "$(dirname "$0")/.."
python3 -c 'import numpy, pytest, zmq, msgpack, yaml' 2>/dev/null \
    || { echo "python3 with numpy, pytest, pyzmq, msgpack and pyyaml is needed: run bash Scripts/install-deps.sh" >&2; exit 1; }
for tool in check-jsonschema kubernetes-validate hadolint; do
    command -v "$tool" >/dev/null || { echo "$tool is needed (deployment checks): run bash Scripts/install-deps.sh" >&2; exit 1; }
done
swift build --build-tests
swift test --skip-build
python3 -m pytest -q Scripts
