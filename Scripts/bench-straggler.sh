#!/usr/bin/env bash
# What one slow worker costs a cluster: AnyRes requests one at a time (direct, f16) against
#   1. one worker alone (the reference),
#   2. two workers,
#   3. two workers, one held to a quarter of a CPU (as a container with a CPU limit of 250m is:
#      a cgroup CPU quota of 25 ms every 100 ms where this process may make one, else the worker
#      stopped 75 ms of every 100 with SIGSTOP and SIGCONT).
# Prints p50, p90 and p99, req/s, the coordinator's copies of straggling shards
# (script_cluster_shard_hedges_total) and each p50 against the worker alone.
#
#   Scripts/bench-straggler.sh
#   REQUESTS=200 Scripts/bench-straggler.sh
#   BIN=/path/to/script-cluster Scripts/bench-straggler.sh   # a prebuilt binary (no Swift needed)
set -euo pipefail
# A process group with a stopped member that loses its tie to the session (this script started in
# the background by a shell that then exits, or by nohup) gets SIGHUP from the kernel: ignored
# here and in every process started (the services keep an ignored SIGHUP ignored), so that a
# pause is not a kill.
trap '' HUP
cd "$(dirname "$0")/.."
if [ -z "${BIN:-}" ]; then
    swift build -c release --static-swift-stdlib --product script-cluster >&2
    BIN="$(swift build -c release --show-bin-path)/script-cluster"
fi
requests=${REQUESTS:-80}
tmp=$(mktemp -d)
pids=()
cgroup=""
# SIGCONT after SIGTERM: a worker stopped by `throttle` when its stopper ends takes the TERM then.
stop() {
    [ ${#pids[@]} -eq 0 ] || { kill -TERM "${pids[@]}" 2>/dev/null; kill -CONT "${pids[@]}" 2>/dev/null; } || true
    wait 2>/dev/null || true
    pids=()
}
cleanup() { stop; [ -z "$cgroup" ] || rmdir "$cgroup" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

json() { python3 -c "import json,sys; d=json.load(open('$1')); print($2)"; }

# A cgroup holding its processes to a quarter of a CPU, if this process may make one (v2, then v1).
quarter_cgroup() {
    local d
    if [ -w /sys/fs/cgroup/cgroup.subtree_control ] && grep -qw cpu /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
        d=/sys/fs/cgroup/script-cluster-straggler-$$
        mkdir "$d" 2>/dev/null && echo "25000 100000" > "$d/cpu.max" 2>/dev/null && { echo "$d"; return; }
        rmdir "$d" 2>/dev/null || true
    fi
    if [ -w /sys/fs/cgroup/cpu ]; then
        d=/sys/fs/cgroup/cpu/script-cluster-straggler-$$
        mkdir "$d" 2>/dev/null && echo 100000 > "$d/cpu.cfs_period_us" && echo 25000 > "$d/cpu.cfs_quota_us" 2>/dev/null \
            && { echo "$d"; return; }
        rmdir "$d" 2>/dev/null || true
    fi
}

# Holds process $1 to a quarter of a CPU: into the cgroup, or stopped 75 ms of every 100.
throttle() {
    if [ -n "$cgroup" ]; then
        echo "$1" > "$cgroup/cgroup.procs"
    else
        (while kill -STOP "$1" 2>/dev/null; do sleep 0.075; kill -CONT "$1" 2>/dev/null || break; sleep 0.025; done) &
        pids+=($!)
    fi
}

# One configuration: $1 workers, the last one throttled when $2 is 1. Prints its row.
run() {
    local n=$1 slow=$2 name=$3 tag fe be i
    tag="straggler-$$-$n-$slow"
    fe="ipc://@$tag-fe"; be="ipc://@$tag-be"
    "$BIN" coordinator --frontend "$fe" --backend "$be" --metrics-port 0 > "$tmp/c.out" 2> "$tmp/c.log" &
    pids+=($!)
    for ((i = 1; i <= n; i++)); do
        "$BIN" worker --connect "$be" --name "w$i" --threads 1 --data-bind "ipc://@$tag-w$i" > /dev/null 2> "$tmp/w$i.log" &
        pids+=($!)
    done
    [ "$slow" = 1 ] && throttle "${pids[-1]}"
    "$BIN" load --connect "$fe" --kind anyres --direct --concurrency 1 --requests "$requests" --duration 600 \
        --wait-workers "$n" --json "$tmp/r.json" -q > "$tmp/r.txt" || { cat "$tmp/r.txt" "$tmp/c.log" >&2; exit 1; }
    local metrics copies
    metrics=$(sed -n 's/^metrics //p' "$tmp/c.out" | head -1)
    copies=$(python3 - "$metrics/metrics" <<'EOF'
import sys, urllib.request
text = urllib.request.urlopen(sys.argv[1], timeout=5).read().decode()
got = {o: 0 for o in ("sent", "won", "lost")}
for line in text.splitlines():
    if line.startswith('script_cluster_shard_hedges_total{outcome="'):
        got[line.split('"')[1]] = int(float(line.split()[-1]))
print(f"{got['sent']} ({got['won']} won)")
EOF
)
    stop
    local p50
    p50=$(json "$tmp/r.json" "d['p50_ms']")
    [ -n "${reference:-}" ] || reference=$p50
    printf "| %s | %s | %s | %s | %s | %s | %.2fx |\n" "$name" \
        "$(json "$tmp/r.json" "round(d['p50_ms'], 1)")" "$(json "$tmp/r.json" "round(d['p90_ms'], 1)")" \
        "$(json "$tmp/r.json" "round(d['p99_ms'], 1)")" "$(json "$tmp/r.json" "d['throughput']")" "$copies" \
        "$(python3 -c "print($p50 / $reference)")"
}

cgroup=$(quarter_cgroup || true)
how=${cgroup:+"a cgroup CPU quota of 25 ms every 100 ms"}
echo "AnyRes 2880 x 4096, k = 320, one request at a time, direct, f16, $requests requests a row; slow worker: ${how:-stopped 75 ms of every 100 (SIGSTOP)}"
echo
echo "| workers | p50 ms | p90 ms | p99 ms | req/s | shards copied | p50 / one worker alone |"
echo "|---|---|---|---|---|---|---|"
run 1 0 "1 alone"
run 2 0 "2"
run 2 1 "2, one at a quarter CPU"
