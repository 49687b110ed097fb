#!/usr/bin/env bash
# Throughput as workers are added, on whatever machine this runs: a coordinator and 1, 2, 4, ...
# single-thread workers, each pinned to its own core (taskset), under the load generator (closed
# loop, 2 requests in flight a worker, f16 tensors, direct transfers), for AnyRes and video.
# Prints a table: workers, req/s, p50, p99, the coordinator's share of a request's CPU, and the
# scaling efficiency = req/s / (workers x the single-thread in-process rate).
#
#   Scripts/bench-scale.sh                  # all sizes up to (cores - 2) workers
#   WORKERS="1 2 4 8 12" DURATION=20 KINDS=anyres TRANSFER=inline Scripts/bench-scale.sh
#   SOCKETS=tcp Scripts/bench-scale.sh      # loopback TCP, as between machines (default ipc: private
#                                           # Unix sockets, as `up` uses for a cluster on one machine)
#   BIN=/path/to/script-cluster Scripts/bench-scale.sh   # a prebuilt binary (no Swift needed)
#   TRANSFER=shared Scripts/bench-scale.sh  # direct, the tensors in the load generator's shared
#                                           # memory, read in place by the workers (ipc sockets only)
#   SIMILARITY=bf16 Scripts/bench-scale.sh  # bfloat16 products (AVX512-BF16 or AMX, libdnnl2), in the
#                                           # workers and in the single-thread reference alike
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BIN:-}" ]; then
    swift build -c release --static-swift-stdlib --product script-cluster >&2
    BIN="$(swift build -c release --show-bin-path)/script-cluster"
fi
cores=$(nproc)
duration=${DURATION:-10}
kinds=${KINDS:-anyres video}
transfer=${TRANSFER:-direct}
sockets=${SOCKETS:-ipc}
similarity=${SIMILARITY:-f32}
# Core 0: the coordinator; core 1: the load generator; workers from core 2; the cores a size's
# workers leave free go to the coordinator and the load generator in turn (12 workers on 16
# cores: the coordinator on 0 and 14, the load generator on 1 and 15). With fewer than 4 cores
# the coordinator and the load generator share core 0 and workers take the rest.
if [ "$cores" -ge 4 ]; then ccpu=0; lcpu=1; first=2; else ccpu=0; lcpu=0; first=1; fi
max=$((cores - first)); [ "$max" -ge 1 ] || max=1
if [ -z "${WORKERS:-}" ]; then
    WORKERS=""; w=1
    while [ "$w" -lt "$max" ]; do WORKERS="$WORKERS $w"; w=$((w * 2)); done
    WORKERS="$WORKERS $max"
fi
case $transfer in direct) flag=(--direct) ;; shared) flag=(--direct --shared-memory) ;; *) flag=() ;; esac
port=$((20000 + RANDOM % 20000))
tmp=$(mktemp -d)
pids=()
stop() { [ ${#pids[@]} -eq 0 ] || kill -TERM "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; pids=(); }
trap 'stop; rm -rf "$tmp"' EXIT

json() { python3 -c "import json,sys; d=json.load(open('$1')); print($2)"; }

# The cores of the coordinator and of the load generator when $1 workers run.
spare() {
    local c=$ccpu l=$lcpu i turn=0
    if [ "$ccpu" != "$lcpu" ]; then
        for ((i = first + $1; i < cores; i++)); do
            if [ $turn -eq 0 ]; then c="$c,$i"; else l="$l,$i"; fi
            turn=$((1 - turn))
        done
    fi
    echo "$c $l"
}

# Endpoints of the $1-worker point: frontend, backend, and worker $2's data socket.
endpoint() {
    if [ "$sockets" = tcp ]; then
        case $2 in fe) echo "tcp://127.0.0.1:$port" ;; be) echo "tcp://127.0.0.1:$((port + 1))" ;; *) echo "tcp://127.0.0.1:*" ;; esac
    else
        echo "ipc://@script-cluster-bench-$$-$1-$2"
    fi
}

echo "machine: $cores cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)); coordinator on core $ccpu, load on core $lcpu, workers from core $first, spare cores to both; $transfer transfers over $sockets sockets, f16, cosines in $similarity, ${duration} s a point"
for kind in $kinds; do
    # The single-thread reference in the same precision (bench times bf16 beside f32: its own line).
    single=$(taskset -c "$first" "$BIN" bench --threads 1 --cases "$kind" --repeats 5 --no-numpy --similarity "$similarity" | tee "$tmp/single.txt" \
        | awk -v s="$similarity" 's == "f32" && $1 == "total" {print $3} s == "bf16" && /bf16 similarity: median/ {print $4}')
    grep -m1 '^BLAS' "$tmp/single.txt" || true
    rate=$(python3 -c "print(1000 / $single)")
    echo
    echo "$kind: single-thread in-process ${single} ms -> $(python3 -c "print(round($rate, 2))") req/s a worker"
    printf '| %7s | %8s | %9s | %9s | %17s | %10s | %14s | %7s |\n' workers "req/s" p50 p99 "coordinator CPU" efficiency "load CPU a req" errors
    printf '|---------|----------|-----------|-----------|-------------------|------------|----------------|---------|\n'
    for w in $WORKERS; do
        port=$((port + 2))
        read -r ccpus lcpus < <(spare "$w")
        taskset -c "$ccpus" "$BIN" coordinator --frontend "$(endpoint "$w" fe)" --backend "$(endpoint "$w" be)" \
            --log-level error > /dev/null 2>&1 &
        pids=($!)
        for i in $(seq 0 $((w - 1))); do
            taskset -c $((first + i % max)) "$BIN" worker --connect "$(endpoint "$w" be)" --data-bind "$(endpoint "$w" "d$i")" \
                --threads 1 --name "w$i" --log-level error > /dev/null 2>&1 &
            pids+=($!)
        done
        taskset -c "$lcpus" "$BIN" load --connect "$(endpoint "$w" fe)" --kind "$kind" --dtype f16 --similarity "$similarity" "${flag[@]}" \
            --concurrency $((2 * w)) --duration "$duration" --wait-workers "$w" --json "$tmp/r.json" > "$tmp/r.txt" || cat "$tmp/r.txt" >&2
        if [ ! -f "$tmp/r.json" ]; then echo "| $w | (no result: the load generator failed) |"; stop; continue; fi
        rps=$(json "$tmp/r.json" "d['throughput']")
        printf '| %7s | %8s | %6s ms | %6s ms | %16s%% | %10s | %11s ms | %7s |\n' "$w" "$rps" \
            "$(json "$tmp/r.json" "round(d['p50_ms'], 1)")" "$(json "$tmp/r.json" "round(d['p99_ms'], 1)")" \
            "$(json "$tmp/r.json" "round(100 * d['coordinator_share'], 1)")" \
            "$(python3 -c "print(round($rps / ($w * $rate), 2))")" \
            "$(json "$tmp/r.json" "round(d['cpu_per_request_ms'].get('load generator', 0), 1)")" \
            "$(json "$tmp/r.json" "sum(d['errors'].values()) + d['timeouts'] + d['wrong']")"
        rm -f "$tmp/r.json"
        stop
    done
done
