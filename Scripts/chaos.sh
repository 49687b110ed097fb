#!/usr/bin/env bash
# A fault soak: a local cluster (one coordinator, WORKERS workers of one thread) under closed-loop
# `load` while, at random, a worker is stopped for 0.2 to 4 s (SIGSTOP: a stalled process, a
# container at its CPU limit; longer than its liveness of 3 s, it is given up), or killed
# (SIGKILL) and started again; with COORDINATOR_FAULTS=1 the coordinator too is stopped for 0.2
# to 4 s or killed and started again on its endpoints. Passes when every request sent was answered, each as in-process
# pruning answers it (`load` checks every answer), none timed out and none failed. Prints the
# load's report, what was done to the workers, the coordinator's copies of straggling shards,
# departures and requeued jobs, and its resident memory at start, after 10 s and at the end.
#
#   Scripts/chaos.sh                                  # AnyRes, direct, 3 workers, 120 s
#   KIND=video INLINE=1 SECONDS_OF_LOAD=300 Scripts/chaos.sh
#   SEED=7 Scripts/chaos.sh                           # the same faults at the same times again
#   COORDINATOR_FAULTS=1 Scripts/chaos.sh             # the coordinator stopped and killed as well
#   BIN=/path/to/script-cluster Scripts/chaos.sh      # a prebuilt binary (no Swift needed)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BIN:-}" ]; then
    swift build -c release --product script-cluster >&2
    BIN="$(swift build -c release --show-bin-path)/script-cluster"
fi
kind=${KIND:-anyres}
seconds=${SECONDS_OF_LOAD:-120}
workers=${WORKERS:-3}
concurrency=${CONCURRENCY:-$workers}
RANDOM=${SEED:-$$}
transfer=(--direct)
[ "${INLINE:-0}" = 1 ] && transfer=()
tmp=$(mktemp -d)
tag="chaos-$$"
fe="ipc://@$tag-fe"; be="ipc://@$tag-be"
declare -a worker_pids=()
coordinator=""
load=""
cleanup() {
    local p
    for p in "${worker_pids[@]}" $coordinator $load; do kill -CONT "$p" 2>/dev/null || true; kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

start_worker() {
    "$BIN" worker --connect "$be" --name "w$1" --threads 1 --data-bind "ipc://@$tag-w$1" >> "$tmp/w$1.log" 2>&1 &
    worker_pids[$1]=$!
}
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$coordinator/status" 2>/dev/null || echo 0; }
start_coordinator() {
    "$BIN" coordinator --frontend "$fe" --backend "$be" --metrics-port 0 > "$tmp/c.out" 2>> "$tmp/c.log" &
    coordinator=$!
}
pause() { kill -STOP "$1"; sleep "$(($2 / 1000)).$(printf %03d $(($2 % 1000)))"; kill -CONT "$1"; }

start_coordinator
for ((i = 1; i <= workers; i++)); do start_worker "$i"; done
"$BIN" load --connect "$fe" --kind "$kind" "${transfer[@]}" --concurrency "$concurrency" --duration "$seconds" \
    --timeout-ms 30000 --wait-workers "$workers" --json "$tmp/r.json" -q > "$tmp/r.txt" 2>&1 &
load=$!
rss_start=$(rss_kb)
stops=0; kills=0; coordinator_faults=0; rss_10s=""
started=$SECONDS
while kill -0 "$load" 2>/dev/null; do
    [ -n "$rss_10s" ] || [ $((SECONDS - started)) -lt 10 ] || rss_10s=$(rss_kb)
    i=$((RANDOM % workers + 1))
    case $((RANDOM % 10)) in
        [0-5])
            pause "${worker_pids[$i]}" $((200 + RANDOM % 3800))
            stops=$((stops + 1)) ;;
        [6-7])
            kill -KILL "${worker_pids[$i]}"
            wait "${worker_pids[$i]}" 2>/dev/null || true
            sleep "0.$((RANDOM % 9))"
            start_worker "$i"
            kills=$((kills + 1)) ;;
        8)
            if [ "${COORDINATOR_FAULTS:-0}" = 1 ]; then
                kill -KILL "$coordinator"
                wait "$coordinator" 2>/dev/null || true
                sleep "0.$((RANDOM % 9))"
                start_coordinator
                coordinator_faults=$((coordinator_faults + 1))
            else
                sleep 1
            fi ;;
        *)
            if [ "${COORDINATOR_FAULTS:-0}" = 1 ]; then
                pause "$coordinator" $((200 + RANDOM % 3800))
                coordinator_faults=$((coordinator_faults + 1))
            else
                sleep 1
            fi ;;
    esac
    sleep "0.$((RANDOM % 9))"
done
status=0
wait "$load" || status=$?
load=""
rss_end=$(rss_kb)
metrics=$(sed -n 's/^metrics //p' "$tmp/c.out" | head -1)
cat "$tmp/r.txt"
echo "faults: $stops workers stopped for 0.2-4 s, $kills killed and started again, the coordinator $coordinator_faults times stopped or killed (seed ${SEED:-$$})"
python3 - "$metrics/metrics" "$tmp/r.json" "$rss_start" "${rss_10s:-$rss_end}" "$rss_end" "$coordinator_faults" <<'EOF'
import json, sys, urllib.request
text = urllib.request.urlopen(sys.argv[1], timeout=5).read().decode()
def series(name):
    got = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            got[line.split('"')[1]] = int(float(line.split()[-1]))
    return ", ".join(f"{k} {v}" for k, v in sorted(got.items())) or "none"
print("coordinator" + (" (the last one started)" if sys.argv[6] != "0" else "") + ": copies of straggling shards:", series("script_cluster_shard_hedges_total"))
print(f"             workers departed: {series('script_cluster_worker_departures_total')}; "
      f"jobs requeued: {series('script_cluster_jobs_requeued_total')}")
start, warm, end = (int(v) / 1024 for v in sys.argv[3:6])
which = " (of the coordinator process running at each reading)" if sys.argv[6] != "0" else ""
print(f"             resident memory{which}: {start:.1f} MiB at start, {warm:.1f} after 10 s, {end:.1f} at the end")
r = json.load(open(sys.argv[2]))
bad = []
if r["answered"] != r["sent"]:
    bad.append(f"{r['sent'] - r['answered']} of {r['sent']} requests unanswered")
if r["wrong"]:
    bad.append(f"{r['wrong']} answers differ from in-process pruning")
if r["timeouts"]:
    bad.append(f"{r['timeouts']} timed out")
if r["errors"]:
    bad.append(f"errors: {r['errors']}")
if bad:
    print("FAILED: " + "; ".join(bad))
    sys.exit(1)
print("passed: every request answered, as in-process pruning answers it")
EOF
[ "$status" = 0 ] || { echo "load exited with status $status" >&2; tail -20 "$tmp/c.log" >&2; exit 1; }
