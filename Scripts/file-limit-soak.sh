#!/usr/bin/env bash
# An open-file-limit soak: ROUNDS times, a coordinator with a metrics port started with an
# open-file limit of 48, its frontend given 48 connections (so it runs out of files), a probe
# connected to its metrics port, and the shortage held HOLD seconds before every connection
# closes. Passes when the coordinator outlives every round and its metrics port answers after
# each. It failed 6 rounds of 38 (10 s each) on 2 cores when the port waited out the shortage
# on a Swift timer: libdispatch's pool monitor, which opens /proc/TID/stat a second while work
# waits for its threads, crashes a process that cannot open a file ("registered worker exited
# prematurely", signal 4).
#
#   Scripts/file-limit-soak.sh                  # 8 rounds of 10 s
#   ROUNDS=16 HOLD=20 BIN=/path/to/script-cluster Scripts/file-limit-soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BIN:-}" ]; then
    swift build -c release --static-swift-stdlib --product script-cluster >&2
    BIN="$(swift build -c release --show-bin-path)/script-cluster"
fi
python3 - "$BIN" "${ROUNDS:-8}" "${HOLD:-10}" <<'PY'
import os, re, socket, subprocess, sys, tempfile, time, urllib.request

binary, rounds, hold = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])

def one_round():
    log = tempfile.TemporaryFile(mode="w+")
    p = subprocess.Popen(["/usr/bin/prlimit", "--nofile=48", binary, "coordinator", "--metrics-port", "0",
                          "--frontend", "tcp://127.0.0.1:*", "--backend", "tcp://127.0.0.1:*"],
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        ports = {}
        for _ in range(100):
            time.sleep(0.1)
            log.seek(0)
            text = log.read()
            for name in ("frontend", "metrics"):
                m = re.search(rf"^{name} \w+://127\.0\.0\.1:(\d+)", text, re.M)
                if m: ports[name] = int(m.group(1))
            if len(ports) == 2: break
        held = [socket.create_connection(("127.0.0.1", ports["frontend"])) for _ in range(48)]
        time.sleep(1)
        held.append(socket.create_connection(("127.0.0.1", ports["metrics"])))
        time.sleep(hold)
        alive = p.poll() is None
        for s in held: s.close()
        answer = None
        for _ in range(50):
            try:
                answer = urllib.request.urlopen(f"http://127.0.0.1:{ports['metrics']}/livez", timeout=2).status
                break
            except OSError:
                time.sleep(0.1)
        log.seek(0)
        return alive and answer == 200, log.read()
    finally:
        p.kill()
        p.wait()

failed = 0
for r in range(1, rounds + 1):
    ok, text = one_round()
    print(f"round {r}: {'ok' if ok else 'FAILED'}", flush=True)
    if not ok:
        failed += 1
        print("  " + "\n  ".join(text.strip().splitlines()[-6:]))
print(f"{rounds - failed} of {rounds} rounds: the coordinator outlived its shortage of files and its metrics port answered after it")
sys.exit(1 if failed else 0)
PY
