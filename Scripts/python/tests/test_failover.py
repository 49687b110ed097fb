"""Several coordinators: requests spread over two independent `up` clusters, and move to the
survivor (same ids, same answers) when one is killed or stops answering mid-batch."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from harness import Coordinator, Proc, UpCluster, binary, request_data

from script_cluster import AsyncClient, Client, PruneRequest


def batch(count: int):
    reqs = []
    for i in range(count):
        x, q, shards = request_data(300 + i, units=2, tokens=64, width=64)
        reqs.append(PruneRequest(x, budget=12, query=q, shards=shards))
    return reqs


@pytest.fixture
def pair(logdir):
    a, b = UpCluster(1, logdir, "a"), UpCluster(1, logdir, "b")
    yield a, b
    a.kill()
    b.kill()


@pytest.fixture(scope="module")
def expected(cluster):
    with Client(cluster) as c:
        return [r.indices.tolist() for r in c.prune_many(batch(16), max_in_flight=4)]


def test_requests_spread_over_coordinators(pair, expected):
    a, b = pair
    with Client([a.frontend, b.frontend]) as c:
        out = c.prune_many(batch(16), max_in_flight=4)
        states = c.status_all()
    assert [r.indices.tolist() for r in out] == expected
    used = [r.endpoint for r in out]
    assert used.count(a.frontend) >= 4 and used.count(b.frontend) >= 4
    assert all(r.attempts == 1 for r in out)
    assert states[a.frontend].served + states[b.frontend].served == 16


def killing(reqs, a: UpCluster, stop_workers_at: int, kill_at: int):
    """Yields the requests; part-way, a's workers stop (its requests stay in flight there), then
    its coordinator is killed."""
    for i, r in enumerate(reqs):
        if i == stop_workers_at:
            a.signal_workers(signal.SIGSTOP)
        if i == kill_at:
            a.kill_coordinator()
        yield r


def test_failover_when_a_coordinator_is_killed_mid_batch(pair, expected):
    a, b = pair
    # Pings every 5 s: only the dropped connection can move the requests within the time allowed.
    with Client([a.frontend, b.frontend], heartbeat=5.0) as c:
        t0 = time.monotonic()
        out = c.prune_many(killing(batch(16), a, 4, 8), max_in_flight=4)
        elapsed = time.monotonic() - t0
    assert [r.indices.tolist() for r in out] == expected
    moved = [r for r in out if r.attempts > 1]
    assert moved and all(r.endpoint == b.frontend for r in moved)
    assert all(r.endpoint == b.frontend for r in out[8:])
    assert elapsed < 8  # a dropped connection moves requests at once, not after silence or a deadline


def test_failover_when_a_coordinator_hangs(pair, expected):
    """A stopped (not dead) coordinator keeps its connection: the pings find it silent."""
    a, b = pair

    def hanging(reqs):
        for i, r in enumerate(reqs):
            if i == 6:
                os.kill(a.coordinator_pid, signal.SIGSTOP)
            yield r

    with Client([a.frontend, b.frontend], heartbeat=0.2, liveness=3) as c:
        t0 = time.monotonic()
        out = c.prune_many(hanging(batch(16)), max_in_flight=4)
        elapsed = time.monotonic() - t0
    assert [r.indices.tolist() for r in out] == expected
    moved = [r for r in out if r.attempts > 1]
    assert moved and all(r.endpoint == b.frontend for r in moved)
    assert elapsed < 8


def test_async_failover(pair, expected):
    a, b = pair

    async def run():
        async with AsyncClient([a.frontend, b.frontend], heartbeat=5.0) as c:
            first = await c.prune_many(batch(16)[:6], max_in_flight=4)
            a.signal_workers(signal.SIGSTOP)
            reqs = batch(16)[6:]
            task = asyncio.ensure_future(c.prune_many(reqs, max_in_flight=4))
            await asyncio.sleep(0.3)  # some of them now wait at a
            a.kill_coordinator()
            return first + await task

    t0 = time.monotonic()
    out = asyncio.run(run())
    assert time.monotonic() - t0 < 8
    assert [r.indices.tolist() for r in out] == expected
    assert any(r.attempts > 1 and r.endpoint == b.frontend for r in out[6:])


def _closing_proxy(port: int):
    """A listener on `port` that accepts each connection and closes it at once (what docker's
    userland proxy or a mesh sidecar does while nothing is behind it); call the result to stop
    it, which gives the number of connections it took."""
    proxy = socket.socket()
    proxy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    proxy.bind(("127.0.0.1", port))
    proxy.listen(64)
    proxy.settimeout(0.05)
    stopping, taken = threading.Event(), []

    def serve():
        while not stopping.is_set():
            try:
                conn, _ = proxy.accept()
            except socket.timeout:
                continue
            conn.close()
            taken.append(1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    def stop() -> int:
        stopping.set()
        thread.join()
        proxy.close()
        return len(taken)
    return stop


def test_connections_closed_before_their_handshake_cost_no_attempts(logdir, expected):
    """The coordinator's port held, while it is down, by a proxy that accepts and closes each
    connection: the client sends nothing over a connection whose handshake never completed, so
    those connections spend none of its 3 attempts, and the request is answered once a
    coordinator is there."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stop_proxy = _closing_proxy(port)
    outcome = {}

    def call():
        try:
            with Client(f"tcp://127.0.0.1:{port}", deadline=30, max_attempts=3) as c:
                outcome["indices"] = c.prune_many(batch(1))[0].indices.tolist()
        except Exception as e:  # noqa: BLE001 - the test reports whatever ended the call
            outcome["error"] = e

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(3)
    taken = stop_proxy()
    assert outcome == {}, f"the request ended while the proxy held the port: {outcome}"
    assert taken > 5, "the proxy took no connections: the test tests nothing"
    coordinator = Proc([binary(), "coordinator", "--frontend", f"tcp://127.0.0.1:{port}", "--backend", "tcp://127.0.0.1:*"],
                       logdir / "proxied.log")
    worker = Proc([binary(), "worker", "--connect", coordinator.wait_line("backend ").split()[1], "--name", "proxied-w0"],
                  logdir / "proxied-w0.log")
    try:
        caller.join(20)
        assert not caller.is_alive() and outcome == {"indices": expected[0]}, outcome
    finally:
        worker.stop()
        coordinator.stop()


class _ServiceProxy:
    """A TCP forwarder in front of a coordinator, as a Kubernetes Service is: `move(port)` sends
    new connections to another coordinator and leaves the open ones hanging, nothing forwarded
    and nothing closed (no FIN, no RST), as a node that died does. With `idle_timeout`, a
    connection nothing crossed for that long is left hanging the same way (`stranded` counts
    them), as a cloud load balancer drops an idle flow."""

    def __init__(self, port: int, idle_timeout: float = math.inf) -> None:
        self.target, self.generation, self.idle_timeout = port, 0, idle_timeout
        self.stranded = 0
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.listener.settimeout(0.05)
        self.port = self.listener.getsockname()[1]
        self.stopping = threading.Event()
        self.held: list = []
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def move(self, port: int) -> None:
        self.target, self.generation = port, self.generation + 1

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            up = socket.create_connection(("127.0.0.1", self.target))
            self.held += [conn, up]
            flow = {"last": time.monotonic(), "stranded": False}
            for a, b in ((conn, up), (up, conn)):
                t = threading.Thread(target=self._pump, args=(a, b, self.generation, flow), daemon=True)
                t.start()
                self.threads.append(t)

    def _pump(self, src: socket.socket, dst: socket.socket, generation: int, flow: dict) -> None:
        src.settimeout(0.05)
        while not self.stopping.is_set() and self.generation == generation and not flow["stranded"]:
            try:
                data = src.recv(1 << 16)
            except socket.timeout:
                if time.monotonic() - flow["last"] >= self.idle_timeout:
                    self.stranded += not flow["stranded"]
                    flow["stranded"] = True
                continue
            except OSError:
                return
            if self.generation != generation or flow["stranded"]:
                return  # what arrives after the move is lost, as on the way to a dead node
            flow["last"] = time.monotonic()
            if not data:
                dst.shutdown(socket.SHUT_WR)
                return
            dst.sendall(data)

    def stop(self) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join()
        for s in self.held + [self.listener]:
            s.close()


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "asyncio"])
def test_a_coordinator_gone_without_a_word_is_left_for_a_fresh_connection(pair, logdir, asynchronous):
    """A coordinator whose host died behind a service address: its connection hangs (ZeroMQ sees
    no close, so it never connects again) while the address now leads to another coordinator.
    Once the silent one misses its pings, the client drops that connection for a fresh one, and
    the request is answered by the other coordinator within seconds, not at its deadline."""
    a, b = pair
    proxy = _ServiceProxy(int(a.frontend.rsplit(":", 1)[1]))
    req = batch(1)[0]

    async def run_async():
        async with AsyncClient(f"tcp://127.0.0.1:{proxy.port}", heartbeat=0.2, deadline=8) as c:
            first = await c.prune_request(req)
            proxy.move(int(b.frontend.rsplit(":", 1)[1]))
            t0 = time.monotonic()
            return first, await c.prune_request(req), time.monotonic() - t0

    try:
        if asynchronous:
            first, second, took = asyncio.run(run_async())
        else:
            with Client(f"tcp://127.0.0.1:{proxy.port}", heartbeat=0.2, deadline=8) as c:
                first = c.prune_request(req)
                proxy.move(int(b.frontend.rsplit(":", 1)[1]))
                t0 = time.monotonic()
                second, took = c.prune_request(req), time.monotonic() - t0
        assert second.indices.tolist() == first.indices.tolist()
        end = time.monotonic() + 5
        while f"request {second.id} ok" not in (logdir / "b.log").read_text():
            assert time.monotonic() < end, "not answered by the other coordinator"
            time.sleep(0.05)
        assert took < 5, f"answered after {took:.1f} s"
    finally:
        proxy.stop()


def test_the_load_tool_leaves_a_coordinator_gone_without_a_word_for_a_fresh_connection(pair, logdir, tmp_path):
    """The same for the Swift client (`script-cluster load`, pinging every second): the request
    waiting on the silent coordinator is answered by the other one after its 3 missed pings, and
    so are the requests after it; none times out."""
    a, b = pair
    proxy = _ServiceProxy(int(a.frontend.rsplit(":", 1)[1]))
    sample, report = tmp_path / "sample", tmp_path / "load.json"
    subprocess.run([binary(), "sample", "--small", "--kind", "anyres", "--out", str(sample), "--quiet"], check=True)
    try:
        load = subprocess.Popen([binary(), "load", "--connect", f"tcp://127.0.0.1:{proxy.port}", "--sample", str(sample),
                                 "--concurrency", "1", "--duration", "9", "--timeout-ms", "8000", "--json", str(report), "-q"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2)
        proxy.move(int(b.frontend.rsplit(":", 1)[1]))
        out, err = load.communicate(timeout=60)
    finally:
        proxy.stop()
    assert load.returncode == 0, err
    r = json.loads(report.read_text())
    assert r["timeouts"] == 0 and r["errors"] == {} and r["wrong"] == 0, r
    served_by_b = (logdir / "b.log").read_text().count(" ok: ")
    assert served_by_b > 10, f"the other coordinator answered {served_by_b} requests"


def test_an_idle_client_keeps_its_connections_through_a_balancer_that_drops_idle_flows(logdir, tmp_path):
    """A load balancer in front of the coordinator and another in front of the worker's data
    socket, each dropping flows idle for 1.5 s (as a cloud balancer does after minutes): a
    client idle for longer keeps both connections (its ZMTP pings, every 10 heartbeats, cross
    them), and its next direct request is answered at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        data_port = s.getsockname()[1]
    data_proxy = _ServiceProxy(data_port, idle_timeout=1.5)
    c = Coordinator(logdir, name="balanced")
    worker = Proc([binary(), "worker", "--connect", c.backend, "--name", "balanced-w", "--data-bind",
                   f"tcp://127.0.0.1:{data_port}", "--data-advertise", f"tcp://127.0.0.1:{data_proxy.port}"],
                  logdir / "balanced-w.log")
    proxy = _ServiceProxy(int(c.frontend.rsplit(":", 1)[1]), idle_timeout=1.5)
    x, q, shards = request_data(31)
    try:
        with Client(f"tcp://127.0.0.1:{proxy.port}", heartbeat=0.1, transfer="direct", deadline=10) as client:
            end = time.monotonic() + 20
            while client.status().workers < 1:
                assert time.monotonic() < end, "the worker did not register"
                time.sleep(0.05)
            first = client.prune(x, query=q, budget=12, shards=shards)
            time.sleep(3.5)
            t0 = time.monotonic()
            second = client.prune(x, query=q, budget=12, shards=shards)
            took = time.monotonic() - t0
        assert second.indices.tolist() == first.indices.tolist()
        assert (proxy.stranded, data_proxy.stranded) == (0, 0), "a balancer dropped an idle connection"
        assert took < 0.25, f"answered after {took:.2f} s"
    finally:
        proxy.stop()
        data_proxy.stop()
        worker.stop()
        c.stop()


def test_direct_bytes_lost_with_a_dropped_data_connection_are_sent_again(logdir):
    """A data connection cut silently with a request's bytes in it (a balancer dropping a flow):
    once the heartbeats close it, the request goes again, the coordinator places its shards
    again, and their bytes go on the next connection: answered in seconds, not at the deadline."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        data_port = s.getsockname()[1]
    data_proxy = _ServiceProxy(data_port)
    c = Coordinator(logdir, name="cut")
    worker = Proc([binary(), "worker", "--connect", c.backend, "--name", "cut-w", "--data-bind",
                   f"tcp://127.0.0.1:{data_port}", "--data-advertise", f"tcp://127.0.0.1:{data_proxy.port}"],
                  logdir / "cut-w.log")
    x, q, shards = request_data(32)
    try:
        with Client(c.frontend, heartbeat=0.1, transfer="direct", deadline=20) as client:
            end = time.monotonic() + 20
            while client.status().workers < 1:
                assert time.monotonic() < end, "the worker did not register"
                time.sleep(0.05)
            first = client.prune(x, query=q, budget=12, shards=shards)
            data_proxy.move(data_port)  # the open connection is cut; the next one reaches the same worker
            t0 = time.monotonic()
            second = client.prune(x, query=q, budget=12, shards=shards)
            took = time.monotonic() - t0
        assert second.indices.tolist() == first.indices.tolist()
        assert took < 8, f"answered after {took:.1f} s"
    finally:
        data_proxy.stop()
        worker.stop()
        c.stop()


_PAUSED_CLIENT = """
import json, sys
import numpy as np
from script_cluster import Client
x, q = np.load(sys.argv[2]), np.load(sys.argv[3])
with Client(sys.argv[1], heartbeat=0.2, max_attempts=1, deadline=30) as c:
    r = c.prune(x, query=q, budget=16)
print(json.dumps({"attempts": r.attempts, "indices": r.indices.tolist()}))
"""


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "asyncio"])
def test_a_paused_client_does_not_give_its_coordinator_up(logdir, tmp_path, asynchronous):
    """A client that did not run for five times its liveness (3 s against 0.6) (its process stopped; in asyncio, a
    coroutine that blocks the event loop) while its coordinator held its request: it heard nothing
    because it did not listen, so it does not give the coordinator up, and the request's one try
    is answered. It dropped the connection and spent the try before."""
    c = Coordinator(logdir, "--heartbeat-ms", "3000", workers=1, name=f"paused-client-{int(asynchronous)}")
    x, q, _ = request_data(81)
    try:
        with Client(c.frontend) as first:
            want = first.prune(x, query=q, budget=16).indices.tolist()
        c.workers[0].signal(signal.SIGSTOP)  # the coordinator holds the request meanwhile
        if asynchronous:
            async def run():
                async with AsyncClient(c.frontend, heartbeat=0.2, max_attempts=1, deadline=30) as client:
                    task = asyncio.ensure_future(client.prune(x, query=q, budget=16))
                    await asyncio.sleep(1.0)  # sent, and pinged five times
                    time.sleep(3.0)  # the event loop held: no pings, nothing read
                    asyncio.get_running_loop().call_later(0.5, c.workers[0].signal, signal.SIGCONT)
                    return await task
            r = asyncio.run(run())
            attempts, c_indices = r.attempts, r.indices.tolist()
        else:
            np.save(tmp_path / "x.npy", x)
            np.save(tmp_path / "q.npy", q)
            client = subprocess.Popen([sys.executable, "-c", _PAUSED_CLIENT, c.frontend, str(tmp_path / "x.npy"),
                                       str(tmp_path / "q.npy")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(1.5)
            client.send_signal(signal.SIGSTOP)
            time.sleep(3.0)
            client.send_signal(signal.SIGCONT)
            time.sleep(0.5)
            c.workers[0].signal(signal.SIGCONT)
            out, err = client.communicate(timeout=30)
            assert client.returncode == 0, err
            doc = json.loads(out)
            attempts, c_indices = doc["attempts"], doc["indices"]
        assert attempts == 1
        assert c_indices == want
    finally:
        c.workers[0].signal(signal.SIGCONT)
        c.stop()
