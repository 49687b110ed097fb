#!/usr/bin/env bash
# The core benchmark (in-process): image, AnyRes and video cases against the BLAS bound and numpy.
#   bash Scripts/bench-core.sh [bench flags]                  one run (all threads this process may use)
#   bash Scripts/bench-core.sh --threads 1,2,4,8,16 [flags]   a run per thread count, then a table:
#       threads, per-case ms, parallel efficiency (t_first * T_first / (t * T)), and numpy / Swift
#       (numpy runs once, in the first run, with all its own threads).
#   bash Scripts/bench-core.sh --cold [runs]                  one-shot `prune` (a fresh process per
#       request, as a script calls it) on the image sample against the same request warm in-process:
#       medians of the prune's own total, of the whole process's wall time (and of a process that
#       only starts: `--version`), and their ratios.
#   BIN=/path/to/script-cluster bash Scripts/bench-core.sh ...  a prebuilt binary (no Swift needed)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${BIN:-}" ]; then
    bin="$BIN"
else
    swift build -c release --static-swift-stdlib --product script-cluster >&2
    bin="$(swift build -c release --show-bin-path)/script-cluster"
fi

if [ "${1:-}" = "--cold" ]; then
    runs="${2:-9}"
    dir=$(mktemp -d)
    trap 'rm -rf "$dir"' EXIT
    "$bin" sample --kind image --out "$dir/image" --quiet >/dev/null
    files=(--features "$dir/image/features.npy" --embeddings "$dir/image/embeddings.npy" --query "$dir/image/query.npy" --budget 64)
    for i in $(seq "$runs"); do
        start=$(date +%s%N)
        "$bin" prune "${files[@]}" --out "$dir/cold$i.json"
        echo $(( ($(date +%s%N) - start) / 1000 )) >>"$dir/wall"
        start=$(date +%s%N)
        "$bin" --version >/dev/null
        echo $(( ($(date +%s%N) - start) / 1000 )) >>"$dir/bare"
    done
    "$bin" bench --cases image --no-numpy --repeats "$runs" | tee "$dir/warm" | grep -E '^  (result|[a-z+]+ +median)'
    python3 - "$dir" "$runs" <<'PY'
import json, statistics, sys
d, runs = sys.argv[1], int(sys.argv[2])
cold = [json.load(open(f"{d}/cold{i}.json")) for i in range(1, runs + 1)]
wall = [int(x) / 1000 for x in open(f"{d}/wall")]
bare = [int(x) / 1000 for x in open(f"{d}/bare")]
warm = float(next(l for l in open(f"{d}/warm") if l.startswith("  result ")).split("ms=")[1].split()[0])
med = lambda xs: statistics.median(xs)
stages = list(cold[0]["timings_ms"])
print(f"\none-shot prune, image 576x4096 k=64, {runs} fresh processes (medians):")
for s in stages:
    print(f"  {s:<12} {med([c['timings_ms'][s] for c in cold]):8.2f} ms")
total = med([c["timings_ms"]["total"] for c in cold])
print(f"  process wall {med(wall):8.2f} ms (start, reading the files, pruning, writing the result)")
print(f"  bare start   {med(bare):8.2f} ms (a process that prints its version and exits)")
print(f"warm in-process total {warm:.2f} ms; cold / warm = {total / warm:.2f}x (prune total), {med(wall) / warm:.2f}x (process wall), "
      f"{(med(wall) - med(bare)) / warm:.2f}x (process wall less a bare start)")
same = len({tuple(c["indices"]) for c in cold}) == 1
print(f"same indices in every process: {'yes' if same else 'NO'}")
PY
    exit 0
fi

list=""
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --threads) list="$2"; shift 2 ;;
        --threads=*) list="${1#--threads=}"; shift ;;
        *) args+=("$1"); shift ;;
    esac
done
case "$list" in *,*) ;; *) exec "$bin" bench ${list:+--threads "$list"} ${args[@]+"${args[@]}"} ;; esac

results=$(mktemp)
trap 'rm -f "$results"' EXIT
first=1
for t in ${list//,/ }; do
    echo "== $t threads" >&2
    extra=()
    [ $first -eq 1 ] || extra=(--no-numpy)
    "$bin" bench --threads "$t" ${args[@]+"${args[@]}"} ${extra[@]+"${extra[@]}"} | tee /dev/stderr | grep '^  result ' >>"$results"
    first=0
done

python3 - "$results" <<'PY'
import sys
rows = [dict(kv.split("=", 1) for kv in line.split()[1:]) for line in open(sys.argv[1])]
cases = list(dict.fromkeys(r["case"] for r in rows))
threads = list(dict.fromkeys(int(r["threads"]) for r in rows))
ms = {(r["case"], int(r["threads"])): float(r["ms"]) for r in rows}
numpy = {r["case"]: float(r["numpy_ms"]) for r in rows if r["numpy_ms"] != "nan"}
base = threads[0]
head = ["threads"] + [f"{c} ms" for c in cases] + [f"{c} eff" for c in cases] + [f"{c} numpy/Swift" for c in cases]
print("\n| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for t in threads:
    cells = [str(t)]
    cells += [f"{ms[(c, t)]:.2f}" if (c, t) in ms else "-" for c in cases]
    cells += [f"{ms[(c, base)] * base / (ms[(c, t)] * t):.2f}" if (c, t) in ms and (c, base) in ms else "-" for c in cases]
    cells += [f"{numpy[c] / ms[(c, t)]:.2f}x" if c in numpy and (c, t) in ms else "-" for c in cases]
    print("| " + " | ".join(cells) + " |")
if numpy:
    print("\nnumpy reference (its own threads): " + ", ".join(f"{c} {v:.2f} ms" for c, v in numpy.items()))
print(f"parallel efficiency relative to {base} thread(s)")
PY
