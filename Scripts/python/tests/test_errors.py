"""Each error type, from a real coordinator where one can produce it, and from the client's own
checks before anything is sent."""

from __future__ import annotations

import re

import signal
import socket
import threading
import time

import numpy as np
import pytest
from harness import Coordinator, request_data

import script_cluster as sc
from script_cluster import Client


def small(seed: int = 1):
    x, q, shards = request_data(seed, units=2, tokens=32, width=16, query_rows=3)
    return x, q, shards


@pytest.mark.parametrize("kwargs, cls, code", [
    ({"budget": 0}, sc.BadBudget, "bad_budget"),
    ({"budget": 1.5}, sc.BadBudget, "bad_budget"),
    ({"shards": [(0, 30), (32, 64)]}, sc.BadShards, "bad_shards"),
    ({"shards": [(0, 40), (32, 64)]}, sc.BadShards, "bad_shards"),
    ({"options": {"theta": 1.5}}, sc.BadOption, "bad_option"),
    ({"method": "cdpruner"}, sc.BadOption, "bad_option"),
    ({"method": "script+", "options": {"discount": 65}}, sc.BadOption, "bad_option"),
    ({"options": {"no_such_option": 1}}, sc.BadRequest, "bad_request"),
    ({"query": np.ones((2, 7), dtype=np.float32)}, sc.BadShape, "bad_shape"),
    ({"features": np.ones((0, 16), dtype=np.float32), "shards": None}, sc.BadShape, "bad_shape"),
])
def test_coordinator_refusals_are_typed(cluster, kwargs, cls, code):
    x, q, shards = small()
    args = dict(features=x, budget=5, shards=shards)
    args.update(kwargs)
    with Client(cluster) as c:
        with pytest.raises(cls) as e:
            c.prune(**args)
    assert e.value.code == code and e.value.endpoint == cluster and e.value.request_id
    assert isinstance(e.value, sc.InvalidRequest) and isinstance(e.value, ValueError)
    assert e.value.message in str(e.value)


@pytest.mark.parametrize("endpoint", ["bogus://x", "tcp://nohost", "tcp://h:0", "tcp://h:65536", "tcp://:5555", "tcp://h:*",
                                      "ipc://", "10.0.0.5:5555"])
def test_an_endpoint_no_coordinator_could_listen_on_is_refused_at_once(endpoint):
    for make in (Client, sc.AsyncClient):
        with pytest.raises(sc.BadRequest, match="is not tcp://HOST:PORT or ipc://PATH") as e:
            make(["tcp://127.0.0.1:5555", endpoint])
        assert repr(endpoint) in str(e.value)


@pytest.mark.parametrize("endpoints", ["tcp://127.0.0.1:5555,", ",tcp://127.0.0.1:5555", "tcp://127.0.0.1:5555,,tcp://127.0.0.1:5556",
                                       ["tcp://127.0.0.1:5555", ""], ""])
def test_an_empty_item_among_the_endpoints_is_refused(endpoints):
    """A trailing or doubled comma is a slip the Swift CLI refuses too, not one endpoint fewer."""
    for make in (Client, sc.AsyncClient):
        with pytest.raises(sc.BadRequest, match="an empty item is not an endpoint"):
            make(endpoints)


def test_an_endpoint_listed_twice_is_refused():
    for make in (Client, sc.AsyncClient):
        with pytest.raises(sc.BadRequest, match="endpoint 'tcp://127.0.0.1:5555' is listed twice"):
            make("tcp://127.0.0.1:5555, tcp://127.0.0.1:5556,tcp://127.0.0.1:5555")


def test_a_wildcard_host_is_for_binding():
    """`tcp://*:PORT` is where a coordinator listens, not where a client connects: refused as
    `BadRequest`, where pyzmq raised its own `ZMQError` ("Invalid argument")."""
    for make in (Client, sc.AsyncClient):
        with pytest.raises(sc.BadRequest, match=r"names every interface \(\*\), which is for binding"):
            make("tcp://*:5555")


def test_non_finite_in_every_dtype(cluster):
    x, q, shards = small()
    with Client(cluster) as c:
        for dtype in (np.float32, np.float16):
            for bad in (np.nan, np.inf):
                y = x.astype(dtype)
                y[37, 3] = bad
                with pytest.raises(sc.NonFinite) as e:
                    c.prune(y, budget=5, shards=shards)
                assert e.value.code == "non_finite"
                # the worker that found it named once (the coordinator names it; the worker did too)
                assert re.fullmatch(r"[\w.-]+: features holds a NaN or infinite value at row 37, column 3",
                                    e.value.message), e.value.message
        q2 = q.copy()
        q2[0, 0] = np.nan
        with pytest.raises(sc.NonFinite):
            c.prune(x, query=q2, budget=5, shards=shards)


@pytest.mark.parametrize("kwargs, cls, code", [
    ({"features": np.ones((64, 16), dtype=np.int32)}, sc.BadTensor, "bad_tensor"),
    ({"features": np.ones((64,), dtype=np.float32)}, sc.BadTensor, "bad_tensor"),
    ({"features": np.ones((2, 2, 2, 16), dtype=np.float32)}, sc.BadTensor, "bad_tensor"),
    ({"query": np.ones((1, 2, 16), dtype=np.float32)}, sc.BadTensor, "bad_tensor"),
    ({"features": "not an array"}, sc.BadTensor, "bad_tensor"),
    ({"embeddings": np.ones((63, 16), dtype=np.float32)}, sc.BadShape, "bad_shape"),
    ({"budget": "64"}, sc.BadRequest, "bad_request"),
    ({"budget": True}, sc.BadRequest, "bad_request"),
    ({"return_": "everything"}, sc.BadRequest, "bad_request"),
    ({"deadline": 0}, sc.BadRequest, "bad_request"),
    ({"deadline": 4000}, sc.BadRequest, "bad_request"),
    ({"request_id": ""}, sc.BadRequest, "bad_request"),
    ({"request_id": "x" * 129}, sc.BadRequest, "bad_request"),
    ({"options": {"tau": "high"}}, sc.BadOption, "bad_option"),
    ({"options": {"method": "script"}}, sc.BadOption, "bad_option"),
    ({"options": {"unit_graph": 1}}, sc.BadOption, "bad_option"),
    ({"options": {"discount": True}}, sc.BadOption, "bad_option"),
    ({"options": {"similarity": "fp8"}}, sc.BadOption, "bad_option"),
    ({"options": {"similarity": 16}}, sc.BadOption, "bad_option"),
    ({"options": {"kmin": 2 ** 64}}, sc.BadOption, "bad_option"),  # (msgpack raised OverflowError)
    ({"options": {"kmin": 2 ** 63}}, sc.BadOption, "bad_option"),  # (the coordinator's options hold signed ones)
    ({"options": {"kmin": -2 ** 63 - 1}}, sc.BadOption, "bad_option"),
    ({"budget": 10 ** 20}, sc.BadBudget, "bad_budget"),
    ({"unit_tokens": 0}, sc.BadOption, "bad_option"),
    ({"unit_tokens": 2.5}, sc.BadOption, "bad_option"),
    ({"shards": [(0, 32, 64)]}, sc.BadShards, "bad_shards"),
    ({"shards": [(-1, 32)]}, sc.BadShards, "bad_shards"),
    ({"shards": [(0, 32)], "layout": sc.Layout.tiles(2)}, sc.BadShards, "bad_shards"),
    ({"layout": sc.Layout.tiles(5)}, sc.BadShards, "bad_shards"),
    ({"layout": "/no/such/layout.json"}, sc.BadShards, "bad_shards"),
])
def test_client_side_checks_need_no_cluster(kwargs, cls, code):
    """Found before sending: no coordinator at this address, yet the error comes at once."""
    x, q, shards = small()
    args = dict(features=x, budget=5)
    args.update(kwargs)
    with Client("tcp://127.0.0.1:9", deadline=5) as c:
        t0 = time.monotonic()
        with pytest.raises(cls) as e:
            c.prune(**args)
        assert time.monotonic() - t0 < 2
    assert e.value.code == code and e.value.endpoint is None


def test_too_large_from_the_coordinator(logdir):
    co = Coordinator(logdir, "--max-tokens", "50", name="maxtokens")
    try:
        x, _, _ = small()
        with Client(co.frontend) as c:
            with pytest.raises(sc.TooLarge) as e:
                c.prune(x, budget=5)
            assert e.value.code == "too_large" and "50" in e.value.message
    finally:
        assert co.stop() == 0


def test_message_size_is_checked_before_sending(logdir):
    """A coordinator drops a message over its --max-message-bytes without answering; the client's
    own limit turns that into an immediate TooLarge instead of a wait for the deadline."""
    co = Coordinator(logdir, "--max-message-bytes", "100000", workers=1, name="maxbytes")
    try:
        x = np.ones((1000, 16), dtype=np.float32)  # 64,000 bytes: under the limit
        big = np.ones((2000, 16), dtype=np.float32)  # 128,000 bytes: over it
        with Client(co.frontend, max_message_bytes=100_000) as c:
            assert len(c.prune(x, budget=3).indices) == 3
            t0 = time.monotonic()
            with pytest.raises(sc.TooLarge) as e:
                c.prune(big, budget=3)
            assert time.monotonic() - t0 < 1
            assert e.value.code == "too_large" and "100000" in e.value.message and e.value.endpoint is None
            assert c.status().failed == 0  # nothing reached the coordinator
        # Without the check (a client limit above the coordinator's) there is no answer at all.
        with Client(co.frontend, max_message_bytes=1 << 30) as c:
            with pytest.raises(sc.Timeout):
                c.prune(big, budget=3, deadline=0.5)
    finally:
        assert co.stop() == 0


def test_busy_then_timeout(logdir):
    """A coordinator without workers and a queue of 1: the first request waits for workers until
    the coordinator's deadline passes (`timeout`), the second is answered `busy`, retried with
    back-off until its own deadline, and raised as Busy."""
    co = Coordinator(logdir, "--queue", "1", name="busy")
    try:
        x, _, shards = small()
        first = dict(features=x, budget=5, shards=shards, deadline=2.0)
        second = dict(features=x, budget=6, shards=shards, deadline=0.8)
        with Client(co.frontend, grace=4.0) as c:
            t0 = time.monotonic()
            out = c.prune_many([first, second], max_in_flight=2, return_exceptions=True)
            elapsed = time.monotonic() - t0
            assert isinstance(out[1], sc.Busy) and out[1].code == "busy" and out[1].endpoint == co.frontend
            assert isinstance(out[0], sc.Timeout) and out[0].code == "timeout" and out[0].endpoint == co.frontend
            assert not isinstance(out[0], sc.Unavailable)  # the coordinator's own answer
            assert 1.9 < elapsed < 5.5  # the coordinator's timeout at 2 s, not the client's at 6 s
            # The busy request was retried with back-off (0.05 s doubling, jittered) until its
            # deadline: at least 5 refusals within 0.8 s, besides the first request's timeout.
            assert c.status().failed >= 6
    finally:
        assert co.stop() == 0


def test_shutting_down(logdir):
    co = Coordinator(logdir, name="drain")
    try:
        x, _, shards = small()
        holder = {}

        def in_flight():
            with Client(co.frontend, grace=3.0) as c:
                try:
                    c.prune(x, budget=5, shards=shards, deadline=2.0)
                except sc.ScriptClusterError as e:
                    holder["first"] = e

        t = threading.Thread(target=in_flight)
        t.start()
        with Client(co.frontend) as c:
            end = time.monotonic() + 5
            while c.status().requests_in_flight < 1:
                assert time.monotonic() < end
                time.sleep(0.02)
            co.proc.signal(signal.SIGTERM)  # drains: finishes what it holds, takes nothing new
            time.sleep(0.3)  # the coordinator looks at its signal flag between polls (100 ms)
            with pytest.raises(sc.ShuttingDown) as e:
                c.prune(x, budget=5, shards=shards, deadline=0.5)
            assert e.value.code == "shutting_down" and e.value.endpoint == co.frontend
        t.join()
        # The request it held: its deadline passes (`timeout`), as PROTOCOL.md has it; coordinators
        # with --drain-ms (main after this branch) answer it `shutting_down` when that runs out.
        assert isinstance(holder.get("first"), (sc.Timeout, sc.ShuttingDown))
        assert holder["first"].endpoint == co.frontend
    finally:
        assert co.stop() == 0


def test_unreachable_is_unavailable():
    with Client("tcp://127.0.0.1:9", deadline=0.3) as c:
        t0 = time.monotonic()
        with pytest.raises(sc.Unavailable) as e:
            c.prune(np.ones((8, 4), dtype=np.float32), budget=2)
        assert 0.25 < time.monotonic() - t0 < 2.0
    assert e.value.code == "timeout" and isinstance(e.value, TimeoutError)
    assert "failed attempts: is a coordinator listening there" in e.value.message
    with Client("tcp://127.0.0.1:9") as c:
        with pytest.raises(sc.Unavailable):
            c.status(timeout=0.2)


def test_a_port_that_takes_connections_and_never_speaks_zeromq_is_said_to():
    """Something else at the address (another service, a stopped coordinator, a proxy with
    nothing behind it) takes the connection and never answers the greeting: the error says so,
    rather than asking whether anything listens there."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        with Client(address, deadline=1.0) as c:
            with pytest.raises(sc.Unavailable) as e:
                c.prune(np.ones((8, 4), dtype=np.float32), budget=2)
    assert f"{address}: its port takes connections, but no ZeroMQ handshake finished" in e.value.message, e.value.message


def test_the_workers_port_says_so_at_once(logdir):
    """A client given a coordinator's backend (the workers' port) is told so with `BadRequest`,
    for `status` and `prune`, where it waited out its deadline for a timeout."""
    co = Coordinator(logdir, name="wrong-port")
    try:
        with Client(co.backend, deadline=10) as c:
            for call in (lambda: c.status(), lambda: c.prune(np.ones((8, 4), dtype=np.float32), budget=2)):
                t0 = time.monotonic()
                with pytest.raises(sc.BadRequest, match="this is a coordinator's backend, where workers connect"):
                    call()
                assert time.monotonic() - t0 < 2.0
    finally:
        assert co.stop() == 0
