#!/usr/bin/env bash
# The test command: builds everything, runs the Swift tests (unit, cross-checks against the numpy
# reference, real multi-process cluster tests on loopback) and the Python tests: the numpy
# reference's, the deployment files' (against their schemas and linters), and the Python client
# package's (Scripts/python), installed with pip into a fresh virtual environment, against real
# local clusters of the binary just built.
set -euo pipefail
# A crashing test prints its signal at once instead of waiting on a symbolicated backtrace.
export SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=no}
cd "$(dirname "$0")/.."
python3 -c 'import numpy, pytest, zmq, msgpack, yaml' 2>/dev/null \
    || { echo "python3 with numpy, pytest, pyzmq, msgpack and pyyaml is needed: run bash Scripts/install-deps.sh" >&2; exit 1; }
for tool in check-jsonschema kubernetes-validate hadolint shellcheck; do
    command -v "$tool" >/dev/null || { echo "$tool is needed (deployment checks): run bash Scripts/install-deps.sh" >&2; exit 1; }
done
# Optimised (-O) through the command line: the core's tests run realistic shapes, and the
# package itself carries no unsafe flags.
swift build --build-tests -Xswiftc -O
swift test --skip-build
venv=.build/pyenv
rm -rf "$venv"
python3 -m venv "$venv"
# The package's base dependencies (pyzmq, msgpack, numpy), ml_dtypes for numpy bfloat16, pytest,
# mypy; not torch or transformers: their tests skip.
"$venv/bin/python" -m pip install -q "./Scripts/python[bf16]" pytest mypy==2.4.1
SCRIPT_CLUSTER_BIN="$(swift build --show-bin-path)/script-cluster"
export SCRIPT_CLUSTER_BIN
# The package's tests again at the oldest Python and dependencies its pyproject.toml accepts,
# beside the checks below: each run of them mostly waits on the processes it starts (a quarter
# of two cores), so the two together take the time of one. Its output follows theirs; it is
# waited for however they end.
floor_log=$(mktemp)
bash Scripts/test-python-floor.sh >"$floor_log" 2>&1 &
floor=$!
finish_floor() {
    local status=0
    wait "$floor" || status=$?
    echo "--- the floor check, run beside the checks above:"
    cat "$floor_log"
    rm -f "$floor_log"
    return "$status"
}
trap 'finish_floor || true' EXIT
# The package says it is typed (py.typed): its sources pass mypy (msgpack has no stubs).
"$venv/bin/python" -m mypy --cache-dir .build/mypy-cache --ignore-missing-imports Scripts/python/src/script_cluster
"$venv/bin/python" -m pytest -q Scripts/test_reference.py
python3 -m pytest -q Scripts/test_deploy.py
"$venv/bin/python" -m pytest -q Scripts/python/tests
trap - EXIT
finish_floor
