#!/usr/bin/env bash
# The embedded default: install what is needed, build, write the bundled sample request (a
# synthetic LLaVA-NeXT AnyRes image with ground truth), start a local cluster (a coordinator and
# one worker per core), prune the sample on it, print the answer, and stop the cluster.
# Pass `--keep` to leave the cluster running (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/install-deps.sh
swift build -c release --static-swift-stdlib --product script-cluster
bin="$(swift build -c release --show-bin-path)/script-cluster"
sample=sample/anyres
[ -f "$sample/features.npy" ] || "$bin" sample --kind anyres --out "$sample"
once="--once"
[ "${1:-}" = "--keep" ] && once=""
exec "$bin" up --frontend 'tcp://127.0.0.1:*' --submit "$sample" --budget 320 $once
