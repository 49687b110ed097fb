"""Direct transfers (`transfer="direct"`): each shard's bytes go from the client straight to the
worker a `placement` names, and the coordinator gets the envelope only. Against real clusters,
compared with `script-cluster prune` in-process on the same values."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import time

import numpy as np
import pytest
from harness import Coordinator, Proc, UpCluster, binary, in_process, request_data
from test_cli import cli
from test_cluster import as_dtype

import script_cluster as sc
from script_cluster import AsyncClient, Client
from script_cluster import client as client_module


@pytest.mark.parametrize("dtype,mode", [("f32", "indices"), ("f16", "features"), ("bf16", "merged")])
def test_direct_matches_in_process(cluster, tmp_path, dtype, mode):
    x, q, shards = request_data(71)
    emb = np.random.default_rng(72).standard_normal((x.shape[0], 40)).astype(np.float32)
    qe = np.random.default_rng(73).standard_normal((5, 40)).astype(np.float32)
    xs, es, qs = as_dtype(x, dtype), as_dtype(emb, dtype), as_dtype(qe, dtype)
    with Client(cluster, transfer="direct") as c:
        r = c.prune(xs, embeddings=es, query=qs, budget=30, shards=shards, return_=mode)
    f32 = lambda a: a.astype(np.float32)  # noqa: E731 - decoding f16/bf16 is exact
    ref = in_process(tmp_path, f32(xs), 30, embeddings=f32(es), query=f32(qs), shards=shards, merge=mode == "merged")
    assert r.indices.tolist() == ref["indices"] and r.shards == 4
    if mode == "features":
        assert np.array_equal(r.features.view(np.uint8), xs[r.indices].view(np.uint8))
    if mode == "merged":
        np.testing.assert_array_equal(f32(r.features), f32(ref["merged"].astype(xs.dtype)))


def test_direct_async_and_one_shard(cluster, tmp_path):
    x, q, shards = request_data(74)
    ref = in_process(tmp_path, x, 24, query=q, shards=shards)["indices"]
    whole = in_process(tmp_path, x, 24, query=q)["indices"]

    async def run():
        async with AsyncClient(cluster, transfer="direct") as c:
            return await c.prune_many([dict(features=x, query=q, budget=24, shards=shards)] * 5
                                      + [dict(features=x, query=q, budget=24)], max_in_flight=3)

    results = asyncio.run(run())
    assert [r.indices.tolist() for r in results] == [ref] * 5 + [whole]


@pytest.mark.parametrize("transfer", ["inline", "direct"])
def test_a_cluster_on_ipv6(logdir, tmp_path, transfer):
    """A cluster on IPv6 loopback (`tcp://[::1]`, which libzmq takes only with its IPv6 option),
    the workers' data sockets too: the sync and asyncio clients get what in-process Script keeps."""
    c = Coordinator(logdir, workers=1, name=f"v6-{transfer}", host="[::1]")
    try:
        assert c.frontend.startswith("tcp://[::1]:")
        x, q, shards = request_data(75)
        want = in_process(tmp_path, x, 24, query=q, shards=shards)["indices"]
        with Client(c.frontend, transfer=transfer, deadline=10) as client:
            assert client.prune(x, query=q, budget=24, shards=shards).indices.tolist() == want

        async def run():
            async with AsyncClient(c.frontend, transfer=transfer, deadline=10) as ac:
                return await ac.prune(x, query=q, budget=24, shards=shards)

        assert asyncio.run(run()).indices.tolist() == want
    finally:
        assert c.stop() == 0


@pytest.fixture(scope="module")
def small(logdir):
    """A coordinator that takes no message over 64 KiB (a request of this file's size is 98 KB),
    with 2 workers: what reaches it direct, it can only have had without the shards' bytes."""
    c = Coordinator(logdir, "--max-message-bytes", "65536", workers=2, name="small")
    yield c.frontend
    assert c.stop() == 0


def test_the_coordinator_never_carries_the_shards(small, tmp_path):
    x, q, shards = request_data(75)
    with Client(small, max_message_bytes=65536) as inline:
        with pytest.raises(sc.TooLarge):
            inline.prune(x, query=q, budget=20, shards=shards)
    with Client(small, max_message_bytes=65536, transfer="direct") as direct:
        r = direct.prune(x, query=q, budget=20, shards=shards)
    assert r.indices.tolist() == in_process(tmp_path, x, 20, query=q, shards=shards)["indices"]


def test_the_command_line_sends_direct(small, tmp_path):
    x, q, shards = request_data(77)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "q.npy", q)
    args = ["--connect", small, "--features", str(tmp_path / "x.npy"), "--query", str(tmp_path / "q.npy"),
            "--budget", "21", "--tiles", "4", "--deadline", "5", "--direct"]
    doc = json.loads(cli("prune", *args).stdout)
    assert doc["indices"] == in_process(tmp_path, x, 21, query=q, shards=shards)["indices"]
    load = json.loads(cli("load", *args, "--requests", "6", "--concurrency", "3").stdout)
    assert load["ok"] == 6 and load["errors"] == {}


def test_a_shard_placed_again_is_sent_again(logdir, tmp_path):
    """One of two workers stopped: the coordinator places its shards, then, when the worker
    misses its heartbeats, places them again on the other; the client sends those bytes again."""
    up = UpCluster(2, logdir, name="replaced")
    try:
        x, q, shards = request_data(76, units=6)
        os.kill(up.worker_pids[0], signal.SIGSTOP)
        with Client(up.frontend, transfer="direct", deadline=20) as c:
            t0 = time.monotonic()
            r = c.prune(x, query=q, budget=30, shards=shards)
        assert r.indices.tolist() == in_process(tmp_path, x, 30, query=q, shards=shards)["indices"]
        assert len(set(r.workers)) == 1, f"every job ends on the worker that runs: {r.workers}"
        assert time.monotonic() - t0 > 1, "the stopped worker's shards waited for its heartbeats to lapse"
    finally:
        up.kill()


def test_transfer_is_checked(cluster):
    with pytest.raises(sc.BadRequest, match="transfer must be one of inline, direct"):
        Client(cluster, transfer="carrier pigeon")


def _wait_for_workers(client, n):
    end = time.monotonic() + 20
    while client.status().workers < n:
        assert time.monotonic() < end, "the workers did not register"
        time.sleep(0.05)


@contextlib.contextmanager
def _with_far_worker(logdir, name, address, workers=0):
    """A coordinator with `workers` workers of its own, and one more, `far`, that advertises the
    data endpoint `address`; stopped on leaving."""
    c = Coordinator(logdir, name=name, workers=workers)
    far = Proc([binary(), "worker", "--connect", c.backend, "--name", "far", "--data-advertise", address],
               logdir / f"{name}-far.log")
    try:
        yield c
    finally:
        far.stop()
        c.stop()


def test_a_data_socket_this_client_cannot_reach_ends_its_requests_in_seconds(logdir):
    """A worker advertising a data endpoint the client cannot reach (here a closed port: every
    attempt is refused), and no other: a direct request ends within `DATA_FAILURE_GRACE`, not at
    its deadline, with `ShardFailed` naming the address (the client sent it again naming the
    address in `avoid`, and the coordinator has no other worker); the client's next request ends
    at once; and nothing is left in flight."""
    grace = client_module.DATA_FAILURE_GRACE
    nowhere = r"cannot reach the data socket of any worker \(tcp://127\.0\.0\.1:1\)"
    with _with_far_worker(logdir, "unreachable", "tcp://127.0.0.1:1") as c:
        x, q, shards = request_data(78)
        with Client(c.frontend, transfer="direct", deadline=30) as client:
            _wait_for_workers(client, 1)
            # In its first 3 s (its workers' liveness) the coordinator waits for workers that
            # may not have joined it yet.
            time.sleep(max(0.0, c.started + 3.0 - time.monotonic()))
            for wait in (grace, 0.0):
                t0 = time.monotonic()
                with pytest.raises(sc.ShardFailed, match=nowhere):
                    client.prune(x, query=q, budget=20, shards=shards)
                assert wait <= time.monotonic() - t0 < wait + 1.5
                assert client.unreachable_data == {"tcp://127.0.0.1:1"}

            async def direct_async():
                async with AsyncClient(c.frontend, transfer="direct", deadline=30) as ac:
                    return await ac.prune(x, query=q, budget=20, shards=shards)
            t0 = time.monotonic()
            with pytest.raises(sc.ShardFailed, match=nowhere):
                asyncio.run(direct_async())
            assert grace <= time.monotonic() - t0 < grace + 1.5
            assert client.status().requests_in_flight == 0


def test_shards_move_off_a_data_socket_this_client_cannot_reach(logdir, tmp_path):
    """A worker whose data socket the client cannot reach (refused), beside one it can: the shards
    placed there move to the other after `DATA_FAILURE_GRACE` (the request goes again naming the
    address in `avoid`), the answer is the in-process one, and the client's next requests go to
    the reachable worker from the start. The same from the asyncio client."""
    grace = client_module.DATA_FAILURE_GRACE
    with _with_far_worker(logdir, "partial", "tcp://127.0.0.1:1", workers=1) as c:
        x, q, shards = request_data(79)
        want = in_process(tmp_path, x, 20, query=q, shards=shards)["indices"]
        with Client(c.frontend, transfer="direct", deadline=30) as client:
            _wait_for_workers(client, 2)
            for wait in (grace, 0.0, 0.0):
                t0 = time.monotonic()
                r = client.prune(x, query=q, budget=20, shards=shards)
                assert wait <= time.monotonic() - t0 < wait + 1.5
                assert r.indices.tolist() == want and r.workers == ["partial-w0"]
            assert client.unreachable_data == {"tcp://127.0.0.1:1"}

        async def direct_async():
            async with AsyncClient(c.frontend, transfer="direct", deadline=30) as ac:
                first = await ac.prune(x, query=q, budget=20, shards=shards)
                t0 = time.monotonic()
                again = await ac.prune_many([dict(features=x, query=q, budget=20, shards=shards)] * 3)
                return [first] + again, time.monotonic() - t0, set(ac.unreachable_data)
        t0 = time.monotonic()
        results, again, unreachable = asyncio.run(direct_async())
        assert grace <= time.monotonic() - t0 - again and again < 1.5
        assert [r.indices.tolist() for r in results] == [want] * 4 and unreachable == {"tcp://127.0.0.1:1"}


def test_shards_move_off_a_data_socket_that_accepts_but_never_answers(logdir, tmp_path, monkeypatch):
    """A data endpoint where something accepts TCP connections but never speaks ZeroMQ (another
    service, a proxy whose backend is gone): a connection is not a handshake, so the shards placed
    there move once the connect timeout (2 s here) passes, instead of waiting for the deadline."""
    monkeypatch.setattr(client_module, "DATA_CONNECT_TIMEOUT", 2.0)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        with _with_far_worker(logdir, "silent", address, workers=1) as c:
            x, q, shards = request_data(81)
            want = in_process(tmp_path, x, 20, query=q, shards=shards)["indices"]
            with Client(c.frontend, transfer="direct", deadline=30) as client:
                _wait_for_workers(client, 2)
                t0 = time.monotonic()
                r = client.prune(x, query=q, budget=20, shards=shards)
                assert 2.0 <= time.monotonic() - t0 < 3.5
                assert r.indices.tolist() == want and r.workers == ["silent-w0"]
                assert client.unreachable_data == {address}


def test_a_connected_data_socket_is_not_timed_out(cluster, tmp_path):
    """The connect timeout is for a connection never made: a data socket connected once serves
    requests long after it (it would end them at once if the connection were still waited for)."""
    x, q, shards = request_data(79)
    ref = in_process(tmp_path, x, 22, query=q, shards=shards)["indices"]
    with Client(cluster, transfer="direct") as c:
        assert c.prune(x, query=q, budget=22, shards=shards).indices.tolist() == ref
        time.sleep(client_module.DATA_CONNECT_TIMEOUT + 0.5)
        assert c.prune(x, query=q, budget=22, shards=shards).indices.tolist() == ref


def test_a_stopped_workers_shards_wait_for_the_coordinator_not_the_connect_timeout(logdir, tmp_path):
    """A worker stopped before this client ever reached it: its kernel accepts the connection, its
    handshake never comes. The coordinator copies its shards once it has missed a heartbeat (a
    beat and a half, of 8 s here), the client moves them after its connect timeout (10 s):
    whichever comes first, those shards go to the other worker and the request is answered, not
    failed. Here the client's comes first."""
    c = Coordinator(logdir, "--heartbeat-ms", "8000", name="slowbeat")
    workers = [Proc([binary(), "worker", "--connect", c.backend, "--name", f"slowbeat-w{i}", "--heartbeat-ms", "8000"],
                    logdir / f"slowbeat-w{i}.log") for i in range(2)]
    try:
        with Client(c.frontend) as probe:
            end = time.monotonic() + 20
            while probe.status().workers < 2:
                assert time.monotonic() < end, "the workers did not register"
                time.sleep(0.05)
        os.kill(workers[0].pid, signal.SIGSTOP)
        x, q, shards = request_data(80, units=6)
        with Client(c.frontend, transfer="direct", deadline=30) as client:
            t0 = time.monotonic()
            r = client.prune(x, query=q, budget=30, shards=shards)
            took = time.monotonic() - t0
        assert r.indices.tolist() == in_process(tmp_path, x, 30, query=q, shards=shards)["indices"]
        assert r.workers == ["slowbeat-w1"] and took > client_module.DATA_CONNECT_TIMEOUT, (r.workers, took)
    finally:
        os.kill(workers[0].pid, signal.SIGCONT)
        for w in workers:
            w.stop()
        c.stop()


def test_shared_memory_is_read_in_place_by_workers_on_this_host(cluster, tmp_path, monkeypatch):
    """`transfer="shared"`: the shared cluster's workers are behind Unix sockets (`up` on
    loopback), so they map the request's bytes from this process's sealed memfd instead of
    receiving them (a worker that could not would fail the request); answers are in-process
    pruning's, embeddings and f16 included."""
    sharing = []
    frames = sc.request.DirectShards.frames
    monkeypatch.setattr(sc.request.DirectShards, "frames",
                        lambda self, shard, ticket, sharing_=False, **kw: sharing.append(kw.get("sharing", sharing_))
                        or frames(self, shard, ticket, kw.get("sharing", sharing_)))
    x, q, shards = request_data(75)
    emb = np.random.default_rng(76).standard_normal((x.shape[0], 40)).astype(np.float32)
    qe = np.random.default_rng(77).standard_normal((5, 40)).astype(np.float32)
    ref = in_process(tmp_path, x, 30, embeddings=emb, query=qe, shards=shards)["indices"]
    with Client(cluster, transfer="shared") as c:
        assert c.prune(x, embeddings=emb, query=qe, budget=30, shards=shards).indices.tolist() == ref
        half = c.prune(x.astype(np.float16), query=q, budget=24, shards=shards, return_="features")
    ref16 = in_process(tmp_path, x.astype(np.float16).astype(np.float32), 24, query=q.astype(np.float16).astype(np.float32),
                       shards=shards)["indices"]
    assert half.indices.tolist() == ref16
    assert np.array_equal(half.features.view(np.uint8), x.astype(np.float16)[half.indices].view(np.uint8))
    assert sharing and all(sharing), "every shard named in shared memory, none sent"
    monkeypatch.undo()
    # The data messages named the memory, with no bytes after the envelope.
    p = sc.request.prepare(sc.request.as_request(dict(features=x, query=q, budget=24, shards=shards)), 10.0, "shared")
    assert p.direct is not None
    named = p.direct.frames(1, b"t" * 16, sharing=True)
    sent = p.direct.frames(1, b"t" * 16)
    assert named is not None and sent is not None and len(named) == 2 and len(sent) == 3
    fields = __import__("msgpack").unpackb(named[1])
    start = shards[1][0]
    assert fields["features"]["shared"] == [os.getpid(), p.direct.shared["features"].fd, start * x.shape[1] * 4,
                                            os.stat("/proc/self/ns/pid").st_ino]


def test_a_shared_array_is_read_where_it_lies(cluster, tmp_path, monkeypatch):
    """`shared_array`: features written into shared memory are named where they lie, a slice of
    rows at its own offset, with no copy in this process; answers are in-process pruning's."""
    copies = []
    made = sc._shared.SharedBytes
    monkeypatch.setattr(sc._shared, "SharedBytes", lambda data: copies.append(int(data.nbytes)) or made(data))
    x, q, shards = request_data(78)
    big = sc.shared_array((x.shape[0] + 7, x.shape[1]), np.float16)
    assert big.dtype == np.float16 and not big.any()
    big[7:] = x.astype(np.float16)
    feats = big[7:]
    ref = in_process(tmp_path, feats.astype(np.float32), 24, query=q.astype(np.float16).astype(np.float32),
                     shards=shards)["indices"]
    with Client(cluster, transfer="shared") as c:
        assert c.prune(feats, query=q, budget=24, shards=shards).indices.tolist() == ref
    assert copies == [], "named where they lie, not copied"
    p = sc.request.prepare(sc.request.as_request(dict(features=feats, query=q, budget=24, shards=shards)), 10.0, "shared")
    assert p.direct is not None
    named = p.direct.frames(2, b"t" * 16, sharing=True)
    assert named is not None and len(named) == 2
    fields = __import__("msgpack").unpackb(named[1])
    row = x.shape[1] * 2
    assert fields["features"]["shared"][2] == (7 + shards[2][0]) * row, "its offset in the region"
    # A plain array is copied once, as before; a shape with a negative dimension is refused.
    sc.request.prepare(sc.request.as_request(dict(features=x, budget=24)), 10.0, "shared")
    assert copies == [x.nbytes]
    with pytest.raises(sc.BadRequest):
        sc.shared_array((-1, 4))


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/usr/bin/setpriv"),
                    reason="needs root and setpriv (a worker of this user the kernel refuses all the same)")
def test_a_worker_the_kernel_refuses_this_clients_memory_is_sent_the_bytes(tmp_path, caplog):
    """A worker of this client's namespace and user that the kernel does not let open its
    descriptors (root without CAP_SYS_PTRACE here; a security module elsewhere) sends its shard
    back, and the coordinator has the client send the bytes (0.7.0): every request is answered
    as in-process, the client says so once, and later requests send that worker the bytes."""
    c = Coordinator(tmp_path, name="denied")
    worker = Proc(["/usr/bin/setpriv", "--bounding-set", "-sys_ptrace", binary(), "worker", "--connect", c.backend,
                   "--name", "denied-w", "--data-bind", f"ipc://@py-denied-{os.getpid()}"], tmp_path / "denied-w.log")
    try:
        x, q, shards = request_data(79)
        ref = in_process(tmp_path, x, 30, query=q, shards=shards)["indices"]
        with Client(c.frontend, transfer="shared") as client, caplog.at_level("WARNING", logger="script_cluster"):
            for _ in range(3):
                assert client.prune(x, query=q, budget=30, shards=shards).indices.tolist() == ref
        said = [r.getMessage() for r in caplog.records if "its placement names no memory it reads" in r.getMessage()]
        assert len(said) == 1, [r.getMessage() for r in caplog.records]
    finally:
        worker.stop()
        c.stop()
    log = (tmp_path / "denied.log").read_text()
    # The two shards its credit took at first (placed naming its scope); the rest went as bytes.
    assert log.count("could not read shard") == 2, log
