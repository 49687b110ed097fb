#!/usr/bin/env bash
# A connection-reset soak: a local cluster over loopback TCP (one coordinator, WORKERS workers of
# one thread, their data sockets on TCP too) under closed-loop `load` while, every 0.5 to 2.5 s,
# the established connections to one of its ports are reset with `ss -K` (as a middlebox that
# drops its state does; every process stays alive): the frontend's (the client's), the
# backend's (every worker's at once) or one worker's data socket's. Passes when every request
# sent was answered, each as in-process pruning answers it (`load` checks every answer), none
# timed out and none failed. Needs root (CAP_NET_ADMIN) and a kernel that can destroy sockets
# (CONFIG_INET_DIAG_DESTROY). Prints the load's report, the resets, and what the coordinator
# logged of its workers.
#
#   sudo Scripts/reset-soak.sh                        # AnyRes, direct, 3 workers, 120 s
#   INLINE=1 SECONDS_OF_LOAD=60 Scripts/reset-soak.sh
#   SEED=7 BIN=/path/to/script-cluster Scripts/reset-soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BIN:-}" ]; then
    swift build -c release --static-swift-stdlib --product script-cluster >&2
    BIN="$(swift build -c release --show-bin-path)/script-cluster"
fi
seconds=${SECONDS_OF_LOAD:-120}
workers=${WORKERS:-3}
RANDOM=${SEED:-$$}
transfer=(--direct)
[ "${INLINE:-0}" = 1 ] && transfer=()
tmp=$(mktemp -d)
declare -a pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
fe=$(port); be=$(port)
declare -a data=()
"$BIN" coordinator --frontend "tcp://127.0.0.1:$fe" --backend "tcp://127.0.0.1:$be" > /dev/null 2> "$tmp/c.log" &
pids+=($!)
for ((i = 1; i <= workers; i++)); do
    data[i]=$(port)
    "$BIN" worker --connect "tcp://127.0.0.1:$be" --name "w$i" --threads 1 --data-bind "tcp://127.0.0.1:${data[i]}" 2> "$tmp/w$i.log" > /dev/null &
    pids+=($!)
done
"$BIN" load --connect "tcp://127.0.0.1:$fe" --kind anyres "${transfer[@]}" --concurrency "$workers" --duration "$seconds" \
    --timeout-ms 30000 --wait-workers "$workers" -q > "$tmp/r.txt" 2>&1 &
load=$!
# Resets the established connections to a port: how many.
reset() { ss -K -t dst 127.0.0.1 dport = "$1" 2>/dev/null | grep -c ESTAB || true; }
frontend=0; backend=0; data_resets=0
while kill -0 "$load" 2>/dev/null; do
    sleep "$((RANDOM % 2)).$((5 + RANDOM % 5))"
    case $((RANDOM % 3)) in
        0) frontend=$((frontend + $(reset "$fe"))) ;;
        1) backend=$((backend + $(reset "$be"))) ;;
        *) data_resets=$((data_resets + $(reset "${data[$((RANDOM % workers + 1))]}"))) ;;
    esac
done
status=0
wait "$load" || status=$?
cat "$tmp/r.txt"
echo "connections reset: $frontend of the frontend's, $backend of the backend's, $data_resets of data sockets' (seed ${SEED:-$$})"
echo "the coordinator on its workers:"
grep -E 'worker w[0-9]+ ' "$tmp/c.log" | sed -E 's/^[^]]*\] //; s/ against [0-9]+ jobs?//; s/[0-9]+ jobs/N jobs/; s/ \(credit.*//' | sort | uniq -c | sort -rn
if [ "$status" != 0 ] || [ $((frontend + backend + data_resets)) = 0 ]; then
    echo "FAILED: load exited with status $status, $((frontend + backend + data_resets)) connections reset" >&2
    exit 1
fi
