"""`script-cluster-py prune|status|load` against the shared cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from harness import in_process, request_data


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "script-cluster-py"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "script_cluster"]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, check=check, timeout=60)


def test_entry_point_is_installed():
    try:
        eps = metadata.entry_points(group="console_scripts") if sys.version_info >= (3, 10) \
            else metadata.entry_points().get("console_scripts", [])
    except Exception:  # pragma: no cover
        pytest.skip("no package metadata")
    names = {ep.name: ep.value for ep in eps}
    if "script-cluster-py" not in names:
        pytest.skip("the package is not installed (run from a source tree)")
    assert names["script-cluster-py"] == "script_cluster.cli:main"
    assert (Path(sys.executable).parent / "script-cluster-py").exists()


def test_prune_prints_what_in_process_keeps(cluster, tmp_path):
    x, q, shards = request_data(61)
    np.save(tmp_path / "x.npy", x.astype(np.float16))
    np.save(tmp_path / "q.npy", q)
    out = cli("prune", "--connect", cluster, "--features", str(tmp_path / "x.npy"), "--query", str(tmp_path / "q.npy"),
              "--budget", "33", "--tiles", "4", "--tau", "0.25", "--kept-features", str(tmp_path / "kept.npy"))
    doc = json.loads(out.stdout)
    ref = in_process(tmp_path, x.astype(np.float16).astype(np.float32), 33, query=q, shards=shards,
                     options={"tau": 0.25})
    assert doc["indices"] == ref["indices"] and doc["shards"] == 4 and doc["endpoint"] == cluster
    kept = np.load(tmp_path / "kept.npy")
    assert kept.dtype == np.float32 and np.array_equal(kept, x.astype(np.float16)[doc["indices"]].astype(np.float32))
    cli("prune", "--connect", cluster, "--features", str(tmp_path / "x.npy"), "--budget", "0.05",
        "--shards", "0:128,128:256", "--dtype", "f32", "--out", str(tmp_path / "kept.npy"))
    assert np.load(tmp_path / "kept.npy").dtype == np.int64 and len(np.load(tmp_path / "kept.npy")) == 13


def test_sample_directory(cluster, tmp_path):
    from harness import binary
    subprocess.run([binary(), "sample", "--kind", "image", "--out", str(tmp_path / "s")], check=True,
                   stdout=subprocess.DEVNULL)
    doc = json.loads(cli("prune", "--connect", cluster, "--sample", str(tmp_path / "s"), "--budget", "64").stdout)
    assert len(doc["indices"]) == 64 and doc["n"] == 576


def test_status_and_load(cluster, tmp_path):
    doc = json.loads(cli("status", "--connect", cluster).stdout)
    assert doc[cluster]["workers"] == 2
    x, _, _ = request_data(62, units=2)
    np.save(tmp_path / "x.npy", x)
    out = json.loads(cli("load", "--connect", cluster, "--features", str(tmp_path / "x.npy"), "--budget", "8",
                         "--tiles", "2", "--requests", "12", "--concurrency", "4").stdout)
    assert out["ok"] == 12 and out["errors"] == {} and out["latency_ms"]["p50"] > 0 and out["throughput_per_s"] > 0


def test_exit_codes(cluster, tmp_path):
    x, _, _ = request_data(63, units=2)
    np.save(tmp_path / "x.npy", x)
    refused = cli("prune", "--connect", cluster, "--features", str(tmp_path / "x.npy"), "--budget", "0", check=False)
    assert refused.returncode == 3 and "bad_budget" in refused.stderr
    missing = cli("prune", "--connect", cluster, "--features", str(tmp_path / "nope.npy"), "--budget", "3", check=False)
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    usage = cli("prune", "--connect", cluster, "--features", str(tmp_path / "x.npy"), "--budget", "many", check=False)
    assert usage.returncode == 2
    down = cli("status", "--connect", "tcp://127.0.0.1:9", "--timeout", "0.2", check=False)
    assert down.returncode == 3 and json.loads(down.stdout)["tcp://127.0.0.1:9"]["error"] == "timeout"
    assert os.path.exists(tmp_path / "x.npy")
