"""The Python client against a real local cluster (`script-cluster up`), compared with `prune`."""

import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest

zmq = pytest.importorskip("zmq")
pytest.importorskip("msgpack")

from script_client import ScriptClient, ScriptError  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def binary():
    for config in ("debug", "release"):
        p = os.path.join(ROOT, ".build", config, "script-cluster")
        if os.path.exists(p):
            return p
    pytest.skip("script-cluster is not built")


@pytest.fixture(scope="module")
def cluster():
    proc = subprocess.Popen([binary(), "up", "--workers", "2", "--frontend", "tcp://127.0.0.1:*",
                             "--backend", "tcp://127.0.0.1:*"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    frontend, deadline = None, time.time() + 30
    while time.time() < deadline:
        line = proc.stdout.readline()
        if line.startswith("cluster up: frontend "):
            frontend = line.split()[3].rstrip(",")
        if line.startswith("all ") and "workers ready" in line:
            break
    assert frontend, "up did not start"
    yield frontend
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0


def test_prune_matches_in_process(cluster, tmp_path):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4 * 64, 96)).astype(np.float32)
    q = rng.standard_normal((6, 96)).astype(np.float32)
    shards = [(i * 64, (i + 1) * 64) for i in range(4)]
    with ScriptClient(cluster) as c:
        r = c.prune(x, query=q, budget=30, shards=shards, return_mode="features")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "q.npy", q)
    out = tmp_path / "kept.json"
    subprocess.run([binary(), "prune", "--features", str(tmp_path / "x.npy"), "--query", str(tmp_path / "q.npy"),
                    "--budget", "30", "--shards", ",".join(f"{a}:{b}" for a, b in shards), "--out", str(out)], check=True)
    assert r["indices"] == json.loads(out.read_text())["indices"]
    assert r["features"].shape == (30, 96)
    assert np.array_equal(r["features"], x[r["indices"]])


def test_errors_are_typed(cluster):
    x = np.ones((10, 8), dtype=np.float32)
    with ScriptClient(cluster) as c:
        with pytest.raises(ScriptError) as e:
            c.prune(x, budget=0)
        assert e.value.code == "bad_budget"
        bad = x.copy()
        bad[3, 3] = np.nan
        with pytest.raises(ScriptError) as e:
            c.prune(bad, budget=3)
        assert e.value.code == "non_finite"
        assert c.status()["workers"] == 2
