#!/usr/bin/env bash
# The Python client at the oldest Python and the oldest dependencies its pyproject.toml accepts:
# reads `requires-python` and each `>=` floor of the base and bf16 dependencies, makes a virtual
# environment with that Python (python3.X on PATH, or pyenv's), installs exactly those versions
# (wheels only) and runs the package's tests against the binary in $SCRIPT_CLUSTER_BIN.
# Without such a Python it says so and does nothing (exit 0): `pyenv install 3.X` gives one.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${SCRIPT_CLUSTER_BIN:?set SCRIPT_CLUSTER_BIN to the script-cluster binary the tests run}"
floors=$(python3 - <<'EOF'
import re, tomllib
project = tomllib.load(open("Scripts/python/pyproject.toml", "rb"))["project"]
python = re.fullmatch(r">=\s*(\d+\.\d+)", project["requires-python"]).group(1)
pins = []
for spec in project["dependencies"] + project["optional-dependencies"]["bf16"]:
    name, floor = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9.]+)", spec).groups()
    pins.append(f"{name}=={floor}")
print(python, *pins)
EOF
)
read -r version pins <<<"$floors"
python=""
for candidate in "python$version" "${PYENV_ROOT:-$HOME/.pyenv}/versions/$version".*/bin/python; do
    # A pyenv shim answers to every name, and fails where that version is not the selected one.
    if "$candidate" -c 'import sys' >/dev/null 2>&1; then python=$candidate; break; fi
done
if [ -z "$python" ]; then
    echo "test-python-floor: no Python $version here (python$version or pyenv's); the floor check did not run"
    exit 0
fi
venv=.build/pyenv-floor
rm -rf "$venv"
"$python" -m venv "$venv"
# shellcheck disable=SC2086
"$venv/bin/python" -m pip install -q --only-binary=:all: $pins pytest
"$venv/bin/python" -m pip install -q --no-deps ./Scripts/python
echo "test-python-floor: Python $("$venv/bin/python" -c 'import platform; print(platform.python_version())') with $pins"
"$venv/bin/python" -m pytest -q -p no:cacheprovider Scripts/python/tests
