"""Inline against direct transfers from the Python client: the CPU each process of a local
cluster spends per request, and the throughput, on one AnyRes request (2880 x 4096 features,
2880 x 1024 embeddings, 16 query tokens, 5 tiles, k = 320) sent as f16.

    script-cluster sample --kind anyres --out DIR
    cpu-slot --all python tools/transfer.py --bin .build/release/script-cluster --sample DIR

Starts its own `script-cluster up --workers 2`, then runs `rounds` rounds, each a batch of
`batch` requests (`Client.prune_many`, `in_flight` at once) inline and a batch direct, in turn.
Per request: the coordinator's CPU and the workers' (from /proc), the client's, and the wall
time of the batch divided by its requests. Every answer is checked against the first."""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import time
from typing import Dict, List

import numpy as np

from script_cluster import Client, Layout, PruneRequest

TICK = os.sysconf("SC_CLK_TCK")


def cpu_ms(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / TICK


def children(pid: int) -> List[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def start(binary: str) -> tuple:
    p = subprocess.Popen([binary, "up", "--workers", "2", "--frontend", "tcp://127.0.0.1:*", "--backend",
                          "tcp://127.0.0.1:*"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert p.stdout is not None
    frontend, coordinator = "", 0
    for line in p.stdout:
        if line.startswith("cluster up: frontend "):
            frontend = line.split()[3].rstrip(",")
            coordinator = int(re.search(r"pids? (\d+)", line).group(1))  # type: ignore[union-attr]
        if line.startswith("all ") and "workers ready" in line:
            break
    assert frontend, "the cluster did not start"
    workers = [c for c in children(p.pid) if c != coordinator]
    return p, frontend, coordinator, workers


def batch(client: Client, reqs: List[PruneRequest], in_flight: int, coordinator: int, workers: List[int]) -> Dict[str, float]:
    c0, w0, own0, t0 = cpu_ms(coordinator), sum(map(cpu_ms, workers)), time.process_time(), time.perf_counter()
    out = client.prune_many(reqs, max_in_flight=in_flight)
    wall = (time.perf_counter() - t0) * 1000
    n = len(reqs)
    assert all(r.indices.tolist() == out[0].indices.tolist() for r in out)
    return {"wall_per_request_ms": wall / n, "coordinator_cpu_ms": (cpu_ms(coordinator) - c0) / n,
            "workers_cpu_ms": (sum(map(cpu_ms, workers)) - w0) / n, "client_cpu_ms": (time.process_time() - own0) * 1000 / n,
            "first_indices": out[0].indices[:8].tolist()}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--sample", required=True)
    p.add_argument("--batch", type=int, default=24)
    p.add_argument("--in-flight", type=int, default=4)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    f16 = {k: np.load(f"{a.sample}/{k}.npy").astype(np.float16) for k in ("features", "embeddings", "query")}
    reqs = [PruneRequest(f16["features"], 320, embeddings=f16["embeddings"], query=f16["query"], layout=Layout.tiles(5))
            for _ in range(a.batch)]
    cluster, frontend, coordinator, workers = start(a.bin)
    runs: Dict[str, List[Dict[str, float]]] = {"inline": [], "direct": []}
    try:
        clients = {t: Client(frontend, transfer=t, deadline=120) for t in runs}
        for t, c in clients.items():
            c.prune_many(reqs[:4], max_in_flight=2)  # warm-up
        for _ in range(a.rounds):
            for t, c in clients.items():
                runs[t].append(batch(c, reqs, a.in_flight, coordinator, workers))
        for c in clients.values():
            c.close()
    finally:
        cluster.terminate()
        cluster.wait()
    assert runs["inline"][0]["first_indices"] == runs["direct"][0]["first_indices"]
    keys = ("wall_per_request_ms", "coordinator_cpu_ms", "workers_cpu_ms", "client_cpu_ms")
    print(json.dumps({t: {k: round(statistics.median(r[k] for r in rs), 2) for k in keys} for t, rs in runs.items()}, indent=1))


if __name__ == "__main__":
    main()
