"""The greeting probe (the mechanism a ZeroMQ peer announces) against real libzmq sockets and
listeners that are not ZeroMQ, and the client that uses it to tell CURVE on one side only when
its own handshake saw only a closed connection."""

from __future__ import annotations

import os
import socket
import struct
import tempfile
import threading
import time
from typing import Callable, List

import numpy as np
import pytest
import zmq

import script_cluster as sc
from script_cluster import _greeting


def greeting(mechanism: bytes, major: int = 3) -> bytes:
    return b"\xff" + b"\x00" * 8 + b"\x7f" + bytes([major, 0]) + mechanism.ljust(20, b"\x00") + b"\x00" * 32


class FakePeer:
    """A loopback TCP listener that hands each connection to `answer` on its own thread."""

    def __init__(self, answer: Callable[[socket.socket], None]):
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = "tcp://127.0.0.1:%d" % self._listener.getsockname()[1]
        self._open: List[socket.socket] = []
        self._stop = False
        self._answer = answer
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self._listener.settimeout(0.05)
        while not self._stop:
            try:
                c, _ = self._listener.accept()
            except OSError:
                continue
            self._open.append(c)
            self._answer(c)

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        for c in self._open + [self._listener]:
            c.close()


def test_each_mechanism_is_read_over_tcp_and_ipc_and_the_probe_is_never_refused():
    ctx = zmq.Context()
    curve, plain = ctx.socket(zmq.ROUTER), ctx.socket(zmq.ROUTER)
    curve.curve_server = True
    curve.curve_secretkey = zmq.curve_keypair()[1]
    port = curve.bind_to_random_port("tcp://127.0.0.1")
    path = os.path.join(tempfile.mkdtemp(), "probe.ipc")
    plain.bind("ipc://" + path)
    try:
        for _ in range(20):
            assert _greeting.mechanism("tcp://127.0.0.1:%d" % port) == "CURVE"
            assert _greeting.mechanism("ipc://" + path) == "NULL"
        assert _greeting.mechanism("tcp://localhost:%d" % port) == "CURVE", "a name resolves"
    finally:
        curve.close(0)
        plain.close(0)
        ctx.term()


def test_a_resolver_that_hangs_costs_the_probe_its_bound_only():
    """A name server gone makes getaddrinfo wait for its own timeouts (5 s a try by default); the
    probe, where the client waits for replies, waits no longer than its bound."""
    ctx = zmq.Context()
    curve = ctx.socket(zmq.ROUTER)
    curve.curve_server = True
    curve.curve_secretkey = zmq.curve_keypair()[1]
    port = curve.bind_to_random_port("tcp://127.0.0.1")

    def local(host, port, **kw):
        return socket.getaddrinfo("127.0.0.1", port, **kw)

    def hangs(host, port, **kw):
        time.sleep(3)
        return local(host, port, **kw)

    try:
        named = "tcp://coordinator.example:%d" % port
        assert _greeting.mechanism(named, resolve=local) == "CURVE", "the name is resolved by the resolver given"
        t0 = time.monotonic()
        assert _greeting.mechanism(named, timeout=0.2, resolve=hangs) is None
        assert time.monotonic() - t0 < 1, "bounded by its timeout, not the resolver's"
    finally:
        curve.close(0)
        ctx.term()


def test_what_is_not_a_zmtp_peer_reads_as_nothing():
    http = FakePeer(lambda c: c.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n" + b" " * 40))
    silent = FakePeer(lambda c: None)
    try:
        assert _greeting.mechanism(http.endpoint) is None
        t0 = time.monotonic()
        assert _greeting.mechanism(silent.endpoint, timeout=0.2) is None
        assert time.monotonic() - t0 < 2, "bounded by its timeout"
    finally:
        http.close()
        silent.close()
    assert _greeting.mechanism(silent.endpoint) is None, "nothing listens"
    for odd in ["", "tcp://", "tcp://127.0.0.1", "udp://127.0.0.1:1", "ipc://", "tcp://no.such.host.invalid:5555",
                "tcp://a..b:5555", "tcp://127.0.0.1:99999", "ipc:///no/such/dir/socket"]:
        assert _greeting.mechanism(odd) is None, odd
    assert _greeting.parse(greeting(b"CURVE")) == "CURVE"
    assert _greeting.parse(greeting(b"CURVE", major=2)) is None, "ZMTP 2 has no mechanism"
    assert _greeting.parse(greeting(b"cur ve")) is None
    assert _greeting.parse(greeting(b"CURVE")[:31]) is None


def reset_libzmq_greet_probes(c: socket.socket) -> None:
    """libzmq's connections (a signature of 10 bytes, then waiting for ours) are reset, as a
    CURVE coordinator's often look to a client without CURVE; the probe, which sends 11 bytes at
    once, is greeted with CURVE."""
    c.settimeout(0.2)
    got = b""
    try:
        while len(got) < 11:
            chunk = c.recv(11 - len(got))
            if not chunk:
                break
            got += chunk
    except socket.timeout:
        pass
    if len(got) == 11:
        c.sendall(greeting(b"CURVE"))
    else:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()


def test_a_handshake_closed_early_by_a_curve_peer_is_refused_saying_so():
    peer = FakePeer(reset_libzmq_greet_probes)
    try:
        x = np.ones((8, 4), dtype=np.float32)
        with sc.Client(peer.endpoint, deadline=10) as c:
            t0 = time.monotonic()
            with pytest.raises(sc.ConnectionRefused, match="speaks CURVE and this client does not"):
                c.prune(x, budget=2)
            assert time.monotonic() - t0 < 3, "refused at the first failed handshake, not at the deadline"
    finally:
        peer.close()
