"""CurveZMQ: a client with an allowed key gets its answers, one with another key is refused at
once (not at its deadline), and key files are checked before anything is sent."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from harness import UpCluster, binary, in_process, request_data

import script_cluster as sc
from script_cluster import Client


@pytest.fixture(scope="module")
def curve_cluster(tmp_path_factory, logdir):
    keys = tmp_path_factory.mktemp("keys")
    c = UpCluster(1, logdir, name="curve", extra=["--curve-dir", str(keys)])
    try:
        yield c.frontend, keys
    finally:
        c.stop()


def test_an_allowed_key_gets_the_answer(curve_cluster, tmp_path):
    frontend, keys = curve_cluster
    x, q, shards = request_data(17)
    with Client(frontend, curve_secret=str(keys / "clients" / "local.key_secret"),
                curve_server_key=str(keys / "coordinator.key")) as c:
        r = c.prune(x, query=q, budget=24, shards=shards)
    assert r.indices.tolist() == in_process(tmp_path, x, 24, query=q, shards=shards)["indices"]


def test_direct_transfers_go_over_curve_to_the_workers(curve_cluster, tmp_path):
    frontend, keys = curve_cluster
    x, q, shards = request_data(19)
    with Client(frontend, transfer="direct", deadline=10, curve_secret=str(keys / "clients" / "local.key_secret"),
                curve_server_key=str(keys / "coordinator.key")) as c:
        r = c.prune(x, query=q, budget=24, shards=shards)
        assert all(key[1] is not None for key in c._data_socks), "every worker's data socket spoke CURVE"
    assert r.indices.tolist() == in_process(tmp_path, x, 24, query=q, shards=shards)["indices"]


def test_another_key_is_refused_at_once(curve_cluster, tmp_path):
    frontend, keys = curve_cluster
    subprocess.run([binary(), "keygen", "--out", str(tmp_path / "stranger")], check=True, stdout=subprocess.DEVNULL)
    x, q, shards = request_data(18)
    with Client(frontend, deadline=20, curve_secret=str(tmp_path / "stranger.key_secret"),
                curve_server_key=str(keys / "coordinator.key")) as c:
        t0 = time.monotonic()
        with pytest.raises(sc.ConnectionRefused) as e:
            c.prune(x, query=q, budget=24, shards=shards)
        assert time.monotonic() - t0 < 5, "refused at the handshake, not at the deadline"
    assert e.value.endpoint == frontend and "CURVE" in str(e.value)


def test_the_command_line_takes_the_keys(curve_cluster):
    frontend, keys = curve_cluster
    args = [sys.executable, "-m", "script_cluster", "status", "--connect", frontend,
            "--curve-secret", str(keys / "clients" / "local.key_secret"), "--curve-server-key", str(keys / "coordinator.key")]
    done = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert '"workers": 1' in done.stdout


@pytest.mark.parametrize("kwargs", [
    {"curve_secret": "/no/such.key_secret", "curve_server_key": "/no/such.key"},
    {"curve_secret": "x.key_secret"},
    {"curve_server_key": "x.key"},
])
def test_key_files_are_checked_first(kwargs):
    with pytest.raises(sc.BadRequest):
        Client("tcp://127.0.0.1:9", **kwargs)
