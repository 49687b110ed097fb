"""CurveZMQ: a client with an allowed key gets its answers, one with another key is refused at
once (not at its deadline), and key files are checked before anything is sent."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time

import pytest
from harness import Coordinator, Proc, UpCluster, binary, in_process, request_data

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


def test_curve_on_one_side_only_is_refused_at_once_saying_which(curve_cluster, cluster):
    """A client without keys against a coordinator that requires them, and one with keys against
    a coordinator without: refused at once, saying which side speaks CURVE (libzmq does not even
    try again, so the call would otherwise wait for its deadline)."""
    frontend, keys = curve_cluster
    x, q, shards = request_data(19)
    with_keys = dict(curve_secret=str(keys / "clients" / "local.key_secret"), curve_server_key=str(keys / "coordinator.key"))
    for options, where, says in [({}, frontend, "speaks CURVE and this client does not"),
                                 (with_keys, cluster, "does not speak CURVE and this client does")]:
        with Client(where, deadline=20, **options) as c:
            t0 = time.monotonic()
            with pytest.raises(sc.ConnectionRefused, match=says) as e:
                c.prune(x, query=q, budget=24, shards=shards)
            # At the first failed handshake (test_greeting.py); it took seconds of attempts before.
            assert time.monotonic() - t0 < 3, "refused at the first failed handshake, not at the deadline (20 s)"
        assert e.value.endpoint == where


def test_another_coordinator_key_is_refused_at_once_saying_so(curve_cluster, tmp_path):
    """The coordinator's key pair is not the one whose public key the client was given (its keys
    made again): refused at the first failed handshake, saying so (it waited for its deadline,
    then said no coordinator could be reached), sync and asyncio."""
    frontend, keys = curve_cluster
    subprocess.run([binary(), "keygen", "--out", str(tmp_path / "old")], check=True, stdout=subprocess.DEVNULL)
    options = dict(deadline=20, curve_secret=str(keys / "clients" / "local.key_secret"), curve_server_key=str(tmp_path / "old.key"))
    says = "closed the connection during the CURVE handshake: its key pair is not the one whose public key"

    async def asynchronously():
        async with sc.AsyncClient(frontend, **options) as ac:
            return await ac.status(timeout=20)

    with Client(frontend, **options) as c:
        t0 = time.monotonic()
        with pytest.raises(sc.ConnectionRefused, match=says):
            c.status(timeout=20)
        assert time.monotonic() - t0 < 3
    t0 = time.monotonic()
    with pytest.raises(sc.ConnectionRefused, match=says):
        asyncio.run(asynchronously())
    assert time.monotonic() - t0 < 3


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


def test_a_worker_that_refuses_the_key_ends_direct_requests_at_once(logdir, tmp_path):
    """Bob is on the coordinator's list of clients, not on the worker's: his inline requests are
    answered, his direct ones end with `ConnectionRefused` at once, not at their deadline."""
    for name in ("coordinator", "workers/w", "clients/alice", "clients/bob"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([binary(), "keygen", "--out", str(tmp_path / name)], check=True, stdout=subprocess.DEVNULL)
    c = Coordinator(logdir, "--curve-secret", str(tmp_path / "coordinator.key_secret"), "--curve-clients",
                    str(tmp_path / "clients"), "--curve-workers", str(tmp_path / "workers"), name="bob")
    worker = None
    try:
        worker = Proc([binary(), "worker", "--connect", c.backend, "--name", "bob-w", "--curve-secret",
                       str(tmp_path / "workers" / "w.key_secret"), "--curve-server-key", str(tmp_path / "coordinator.key"),
                       "--curve-clients", str(tmp_path / "clients" / "alice.key")], logdir / "bob-w.log")
        keys = dict(curve_secret=str(tmp_path / "clients" / "bob.key_secret"), curve_server_key=str(tmp_path / "coordinator.key"))
        x, q, shards = request_data(20)
        with Client(c.frontend, **keys) as bob:
            end = time.monotonic() + 20
            while bob.status().workers < 1:
                assert time.monotonic() < end, "the worker did not register"
                time.sleep(0.05)
            assert bob.prune(x, query=q, budget=24, shards=shards).indices.tolist() == \
                in_process(tmp_path, x, 24, query=q, shards=shards)["indices"]
        with Client(c.frontend, transfer="direct", deadline=20, **keys) as bob:
            t0 = time.monotonic()
            with pytest.raises(sc.ConnectionRefused, match="data socket .* refused this client's CURVE key") as e:
                bob.prune(x, query=q, budget=24, shards=shards)
            assert time.monotonic() - t0 < 2, "refused at the handshake, not at the deadline"
            # The same client's next direct request to that worker: refused the same way (its
            # data socket's session ended at the refusal, so nothing can be queued on it).
            with pytest.raises(sc.ConnectionRefused, match="data socket .* refused this client's CURVE key"):
                bob.prune(x, query=q, budget=24, shards=shards)
            assert time.monotonic() - t0 < 4, "refused at the handshake, not at the deadline"
        assert e.value.endpoint.startswith("tcp://")

        # Given up by the client (`cancel`), the refused request lets its worker go at once, not at
        # its deadline: the next direct request gets a placement, and its own refusal.
        with Client(c.frontend, **keys) as bob:
            while bob.status().requests_in_flight:
                assert time.monotonic() - t0 < 3, "the refused request still holds its worker"
                time.sleep(0.05)

        async def direct_async():
            async with sc.AsyncClient(c.frontend, transfer="direct", deadline=20, **keys) as ac:
                for _ in range(2):
                    with pytest.raises(sc.ConnectionRefused, match="data socket .* refused this client's CURVE key"):
                        await ac.prune(x, query=q, budget=24, shards=shards)
        t0 = time.monotonic()
        asyncio.run(direct_async())
        assert time.monotonic() - t0 < 5, "refused at the handshake, not at the deadline (20 s)"
        with Client(c.frontend, **keys) as bob:
            while bob.status().requests_in_flight:
                assert time.monotonic() - t0 < 8, "the request the asyncio client gave up still holds its worker"
                time.sleep(0.05)
    finally:
        if worker is not None:
            worker.stop()
        c.stop()



def test_a_worker_restarted_with_the_key_allowed_takes_the_same_clients_shards(logdir, tmp_path):
    """Refused by a worker, then let in by the one that takes its place at the same data address:
    the same client's next direct request is answered (a refused data socket is not kept)."""
    for name in ("coordinator", "workers/w", "clients/alice", "clients/bob"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([binary(), "keygen", "--out", str(tmp_path / name)], check=True, stdout=subprocess.DEVNULL)
    c = Coordinator(logdir, "--curve-secret", str(tmp_path / "coordinator.key_secret"), "--curve-clients",
                    str(tmp_path / "clients"), "--curve-workers", str(tmp_path / "workers"), name="rekey")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        data = f"tcp://127.0.0.1:{s.getsockname()[1]}"

    def worker(allowed: str) -> Proc:
        return Proc([binary(), "worker", "--connect", c.backend, "--name", "rekey-w", "--data-bind", data,
                     "--curve-secret", str(tmp_path / "workers" / "w.key_secret"), "--curve-server-key",
                     str(tmp_path / "coordinator.key"), "--curve-clients", str(tmp_path / "clients" / allowed)],
                    logdir / f"rekey-w-{allowed}.log")
    w = None
    try:
        w = worker("alice.key")
        keys = dict(curve_secret=str(tmp_path / "clients" / "bob.key_secret"), curve_server_key=str(tmp_path / "coordinator.key"))
        x, q, shards = request_data(21)
        with Client(c.frontend, transfer="direct", deadline=20, **keys) as bob:
            end = time.monotonic() + 20
            while bob.status().workers < 1:
                assert time.monotonic() < end, "the worker did not register"
                time.sleep(0.05)
            with pytest.raises(sc.ConnectionRefused):
                bob.prune(x, query=q, budget=24, shards=shards)
            w.stop()
            w = worker("")  # the whole directory of client keys: bob's too
            end = time.monotonic() + 20
            while bob.status().workers < 1:
                assert time.monotonic() < end, "the new worker did not register"
                time.sleep(0.05)
            t0 = time.monotonic()
            assert bob.prune(x, query=q, budget=24, shards=shards).indices.tolist() == \
                in_process(tmp_path, x, 24, query=q, shards=shards)["indices"]
            assert time.monotonic() - t0 < 5, "the shards waited for the refused socket"
    finally:
        if w is not None:
            w.stop()
        c.stop()


def test_a_coordinator_that_refused_the_key_is_tried_again_and_lets_the_same_client_in(logdir, tmp_path):
    """A coordinator restarted with this client's key on its list (a key added) answers the same
    client, sync and asyncio: libzmq does not try a refused connection again, so the client opens
    a fresh one, after a back-off, when a request waits."""
    for name in ("coordinator", "workers/w", "clients/alice", "clients/bob"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([binary(), "keygen", "--out", str(tmp_path / name)], check=True, stdout=subprocess.DEVNULL)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        frontend = f"tcp://127.0.0.1:{s.getsockname()[1]}"

    def coordinator(clients: str) -> Coordinator:
        return Coordinator(logdir, "--frontend", frontend, "--curve-secret", str(tmp_path / "coordinator.key_secret"),
                           "--curve-clients", str(tmp_path / "clients" / clients), "--curve-workers",
                           str(tmp_path / "workers"), name=f"refusing-{clients or 'all'}")
    keys = dict(curve_secret=str(tmp_path / "clients" / "bob.key_secret"), curve_server_key=str(tmp_path / "coordinator.key"))
    c = coordinator("alice.key")
    try:
        with Client(frontend, **keys) as bob:
            with pytest.raises(sc.ConnectionRefused):
                bob.status(timeout=5)
            c.stop()
            c = coordinator("")
            t0 = time.monotonic()
            assert bob.status(timeout=5).workers == 0
            assert time.monotonic() - t0 < 2
        c.stop()
        c = coordinator("alice.key")

        async def asynchronously():
            nonlocal c
            async with sc.AsyncClient(frontend, **keys) as ac:
                with pytest.raises(sc.ConnectionRefused):
                    await ac.status(timeout=5)
                c.stop()
                c = coordinator("")
                t0 = time.monotonic()
                assert (await ac.status(timeout=5)).workers == 0
                assert time.monotonic() - t0 < 2
        asyncio.run(asynchronously())
    finally:
        c.stop()
