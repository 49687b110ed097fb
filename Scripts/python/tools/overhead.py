"""Per-request cost of the Python client against the Swift `submit` command, on one AnyRes request
(2880 x 4096 features, 2880 x 1024 embeddings, 16 query tokens, 5 tiles, k = 320) sent as f16,
at batch 1 (one request at a time) and batch 32 (32 requests at once).

    script-cluster sample --kind anyres --out DIR
    cpu-slot --all python tools/overhead.py --bin .build/release/script-cluster --sample DIR

Starts its own `script-cluster up` (release build), then measures, for each client:
- wall: from the start of the request to its result, per request;
- outside: wall minus the coordinator's own time (`timings_ms.total`, from the request's
  arrival to its reply): the client, the transfer both ways, and for `submit` process start and
  file loading;
- CPU: the client's user + system time per request (for processes: the children's rusage).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Dict, List

import numpy as np

from script_cluster import AsyncClient, Client, Layout, PruneRequest


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def start_cluster(binary: str, workers: int) -> tuple:
    p = subprocess.Popen([binary, "up", "--workers", str(workers), "--frontend", "tcp://127.0.0.1:*", "--backend",
                          "tcp://127.0.0.1:*"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    frontend = None
    assert p.stdout is not None
    for line in p.stdout:
        if line.startswith("cluster up: frontend "):
            frontend = line.split()[3].rstrip(",")
        if line.startswith("all ") and "workers ready" in line:
            break
    assert frontend, "the cluster did not start"
    return p, frontend


def summary(walls: List[float], totals: List[float], cpus: List[float]) -> Dict[str, float]:
    outside = [w - t for w, t in zip(walls, totals)]
    return {"wall_ms": statistics.median(walls), "coordinator_ms": statistics.median(totals),
            "outside_ms": statistics.median(outside), "cpu_ms": statistics.median(cpus)}


def submit_args(binary: str, frontend: str, sample: str) -> List[str]:
    return [binary, "submit", "--connect", frontend, "--features", f"{sample}/features.npy",
            "--embeddings", f"{sample}/embeddings.npy", "--query", f"{sample}/query.npy",
            "--layout", f"{sample}/layout.json", "--budget", "320", "--half"]


def swift_batch1(binary: str, frontend: str, sample: str, runs: int) -> Dict[str, float]:
    walls, totals, cpus = [], [], []
    for _ in range(runs):
        c0, t0 = children_cpu(), time.perf_counter()
        out = subprocess.run(submit_args(binary, frontend, sample), capture_output=True, text=True, check=True)
        walls.append((time.perf_counter() - t0) * 1000)
        cpus.append((children_cpu() - c0) * 1000)
        totals.append(json.loads(out.stdout)["timings_ms"]["total"])
    return summary(walls, totals, cpus)


def swift_batch(binary: str, frontend: str, sample: str, batch: int, rounds: int) -> Dict[str, float]:
    """`batch` submit processes started at once; per request: the round's wall / batch."""
    per_wall, per_total, per_cpu, latencies = [], [], [], []
    for _ in range(rounds):
        c0, t0 = children_cpu(), time.perf_counter()
        procs = [subprocess.Popen(submit_args(binary, frontend, sample), stdout=subprocess.PIPE, text=True)
                 for _ in range(batch)]
        outs = []
        for p in procs:
            outs.append(p.communicate()[0])
            latencies.append((time.perf_counter() - t0) * 1000)
            assert p.returncode == 0
        wall = (time.perf_counter() - t0) * 1000
        per_wall.append(wall / batch)
        per_cpu.append((children_cpu() - c0) * 1000 / batch)
        per_total.append(statistics.mean(json.loads(o)["timings_ms"]["total"] for o in outs))
    return {"wall_per_request_ms": statistics.median(per_wall), "batch_wall_ms": statistics.median(per_wall) * batch,
            "coordinator_mean_ms": statistics.median(per_total), "cpu_per_request_ms": statistics.median(per_cpu)}


def python_cli_batch1(frontend: str, sample: str, runs: int) -> Dict[str, float]:
    exe = os.path.join(os.path.dirname(sys.executable), "script-cluster-py")
    walls, totals, cpus = [], [], []
    for _ in range(runs):
        c0, t0 = children_cpu(), time.perf_counter()
        out = subprocess.run([exe, "prune", "--connect", frontend, "--sample", sample, "--budget", "320",
                              "--dtype", "f16"], capture_output=True, text=True, check=True)
        walls.append((time.perf_counter() - t0) * 1000)
        cpus.append((children_cpu() - c0) * 1000)
        totals.append(json.loads(out.stdout)["timings_ms"]["total"])
    return summary(walls, totals, cpus)


def load_f16(sample: str) -> Dict[str, np.ndarray]:
    return {k: np.load(f"{sample}/{k}.npy").astype(np.float16) for k in ("features", "embeddings", "query")}


def python_batch1(frontend: str, req: Dict[str, np.ndarray], runs: int) -> Dict[str, float]:
    walls, totals, cpus = [], [], []
    with Client(frontend) as c:
        for _ in range(runs):
            c0, t0 = time.process_time(), time.perf_counter()
            r = c.prune(req["features"], embeddings=req["embeddings"], query=req["query"], budget=320,
                        layout=Layout.tiles(5))
            walls.append((time.perf_counter() - t0) * 1000)
            cpus.append((time.process_time() - c0) * 1000)
            totals.append(r.timings_ms["total"])
    return summary(walls, totals, cpus)


def python_batch(frontend: str, req: Dict[str, np.ndarray], batch: int, rounds: int, use_async: bool) -> Dict[str, float]:
    reqs = [PruneRequest(req["features"], 320, embeddings=req["embeddings"], query=req["query"],
                         layout=Layout.tiles(5)) for _ in range(batch)]
    per_wall, per_total, per_cpu = [], [], []

    async def run_async() -> list:
        async with AsyncClient(frontend, deadline=120) as ac:
            return await ac.prune_many(reqs, max_in_flight=batch)

    with Client(frontend, deadline=120) as c:
        for _ in range(rounds):
            c0, t0 = time.process_time(), time.perf_counter()
            out = asyncio.run(run_async()) if use_async else c.prune_many(reqs, max_in_flight=batch)
            per_wall.append((time.perf_counter() - t0) * 1000 / batch)
            per_cpu.append((time.process_time() - c0) * 1000 / batch)
            per_total.append(statistics.mean(r.timings_ms["total"] for r in out))
    return {"wall_per_request_ms": statistics.median(per_wall), "batch_wall_ms": statistics.median(per_wall) * batch,
            "coordinator_mean_ms": statistics.median(per_total), "cpu_per_request_ms": statistics.median(per_cpu)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--sample", required=True)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--runs", type=int, default=20, help="requests at batch 1")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--rounds", type=int, default=3, help="batches")
    a = p.parse_args()
    cluster, frontend = start_cluster(a.bin, a.workers)
    try:
        req = load_f16(a.sample)
        python_batch1(frontend, req, 3)  # warm up: the cluster's first requests, the client's imports
        swift_batch1(a.bin, frontend, a.sample, 2)
        res = {
            "batch1": {"swift submit (process)": swift_batch1(a.bin, frontend, a.sample, a.runs),
                       "script-cluster-py prune (process)": python_cli_batch1(frontend, a.sample, a.runs),
                       "Client.prune (library)": python_batch1(frontend, req, a.runs)},
            f"batch{a.batch}": {"swift submit x32 (processes at once)": swift_batch(a.bin, frontend, a.sample, a.batch, a.rounds),
                                "Client.prune_many (library)": python_batch(frontend, req, a.batch, a.rounds, False),
                                "AsyncClient.prune_many (library)": python_batch(frontend, req, a.batch, a.rounds, True)},
        }
    finally:
        cluster.terminate()
        cluster.wait()
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
