#!/usr/bin/env bash
# A fault soak: a local cluster (one coordinator, WORKERS workers of one thread) under closed-loop
# `load` while, at random, a worker is stopped for 0.2 to 4 s (SIGSTOP: a stalled process, a
# container at its CPU limit; longer than its liveness of 3 s, it is given up), or killed
# (SIGKILL) and started again; with COORDINATOR_FAULTS=1 the coordinator too is stopped for 0.2
# to 4 s or killed and started again on its endpoints; with CLIENT_FAULTS=1 the load generator (the
# client) is stopped for 1 to 5 s as well, past its liveness of 3 pings of 1 s (a paused client
# must not give its coordinator up, nor a data socket, for its own pause). Passes when every request sent was answered, each as in-process
# pruning answers it (`load` checks every answer), none timed out and none failed, and (without
# coordinator faults) the client kept its one connection to the coordinator. Prints the
# load's report, what was done to the workers, the coordinator's copies of straggling shards,
# departures and requeued jobs, and its resident memory at start, after 10 s and at the end.
#
#   Scripts/chaos.sh                                  # AnyRes, direct, 3 workers, 120 s
#   KIND=video INLINE=1 SECONDS_OF_LOAD=300 Scripts/chaos.sh
#   SEED=7 Scripts/chaos.sh                           # the same faults at the same times again
#   COORDINATOR_FAULTS=1 Scripts/chaos.sh             # the coordinator stopped and killed as well
#   CLIENT_FAULTS=1 Scripts/chaos.sh                  # the client stopped as well
#   SIMILARITY=bf16 Scripts/chaos.sh                  # requests in bf16 (workers with AVX512-BF16 or AMX)
#   SHARED=1 Scripts/chaos.sh                         # the tensors in the load generator's shared memory
#   BIN=/path/to/script-cluster Scripts/chaos.sh      # a prebuilt binary (no Swift needed)
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
kind=${KIND:-anyres}
seconds=${SECONDS_OF_LOAD:-120}
workers=${WORKERS:-3}
concurrency=${CONCURRENCY:-$workers}
RANDOM=${SEED:-$$}
transfer=(--direct)
[ "${INLINE:-0}" = 1 ] && transfer=()
[ "${SHARED:-0}" = 1 ] && transfer=(--direct --shared-memory)
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
"$BIN" load --connect "$fe" --kind "$kind" "${transfer[@]}" --similarity "${SIMILARITY:-f32}" --concurrency "$concurrency" --duration "$seconds" \
    --timeout-ms 30000 --wait-workers "$workers" --json "$tmp/r.json" -q > "$tmp/r.txt" 2>&1 &
load=$!
rss_start=$(rss_kb)
stops=0; kills=0; coordinator_faults=0; client_stops=0; rss_10s=""
started=$SECONDS
while kill -0 "$load" 2>/dev/null; do
    [ -n "$rss_10s" ] || [ $((SECONDS - started)) -lt 10 ] || rss_10s=$(rss_kb)
    # A client's fault draws its own number, so that a seed without them gives the same faults.
    if [ "${CLIENT_FAULTS:-0}" = 1 ] && [ $((RANDOM % 6)) = 0 ]; then
        pause "$load" $((1000 + RANDOM % 4000)) 2>/dev/null || true
        client_stops=$((client_stops + 1))
        sleep "0.$((RANDOM % 9))"
        continue
    fi
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
if [ "$status" != 0 ] || [ ! -s "$tmp/r.json" ]; then
    echo "FAILED: load exited with status $status$( [ "$status" -gt 128 ] && echo " (signal $((status - 128)))")" >&2
    tail -20 "$tmp/c.log" >&2
    exit 1
fi
echo "faults: $stops workers stopped for 0.2-4 s, $kills killed and started again, the coordinator $coordinator_faults times stopped or killed, the client $client_stops times stopped for 1-5 s (seed ${SEED:-$$})"
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
accepted = sum(int(float(line.split()[-1])) for line in text.splitlines()
               if line.startswith("script_cluster_connections_total{") and 'socket="frontend"' in line and 'event="accepted"' in line)
print(f"             client connections accepted: {accepted}")
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
if accepted > 1 and sys.argv[6] == "0":
    bad.append(f"the client gave its coordinator, never stopped, up {accepted - 1} times (it connected again)")
if bad:
    print("FAILED: " + "; ".join(bad))
    sys.exit(1)
print("passed: every request answered, as in-process pruning answers it")
EOF
