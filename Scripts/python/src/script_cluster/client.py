"""The synchronous client."""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import uuid
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Set, Tuple, Union, cast

import msgpack
import zmq

from . import _greeting, _hosts
from . import request as rq
from ._engine import Call, Engine, Placement, Policy
from ._shared import current_scope, worker_reads
from .errors import BadReply, BadRequest, ConnectionRefused, ScriptClusterError, TooLarge, Unavailable
from .request import ClusterStatus, PruneRequest, PruneResult

_log = logging.getLogger("script_cluster")

#: The coordinator's default `--max-message-bytes`.
DEFAULT_MAX_MESSAGE_BYTES = 1 << 30
#: Monitor events that tell a connection's state.
_UP_EVENT = getattr(zmq, "EVENT_HANDSHAKE_SUCCEEDED", zmq.EVENT_CONNECTED)
#: A CURVE handshake the coordinator refused (our key is not on its allow-list).
_REFUSED_EVENT = getattr(zmq, "EVENT_HANDSHAKE_FAILED_AUTH", 0)
#: A handshake that failed on the protocol, and the value that says one side speaks CURVE and the
#: other does not (libzmq does not try again).
_PROTOCOL_EVENT = getattr(zmq, "EVENT_HANDSHAKE_FAILED_PROTOCOL", 0)
_MECHANISM_MISMATCH = getattr(zmq, "PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH", 0x11000002)
#: A handshake that failed without detail (the peer closed the connection during it): against
#: CURVE at one end only, often all that end sees of the mismatch (checked with `_greeting`).
_NO_DETAIL_EVENT = getattr(zmq, "EVENT_HANDSHAKE_FAILED_NO_DETAIL", 0)
#: Handshakes in a row a CURVE coordinator closes without detail that tell its key pair is not
#: the one `curve_server_key` names (once could be a race: a connection closed before its greeting).
CURVE_FAILURES_TO_TELL = 3
_MONITOR_EVENTS = (_UP_EVENT | zmq.EVENT_DISCONNECTED | _REFUSED_EVENT | _PROTOCOL_EVENT | _NO_DETAIL_EVENT
                   | zmq.EVENT_CONNECTED | zmq.EVENT_CONNECT_RETRIED)
#: A worker's data socket: its endpoint, and its CURVE public key (None without CURVE).
DataKey = Tuple[str, Optional[str]]
#: Seconds a shard may wait for its worker's data socket to connect (the ZeroMQ handshake: a TCP
#: connection alone may be anything listening there) before the client counts that address
#: unreachable: a connection, unlike a transfer, takes no longer under load, so one not made by
#: then is an address this client cannot reach. The request goes again (the same id, to the same
#: coordinator) naming it in `avoid`, and its shards move to other workers. (A stopped worker
#: makes no handshake either: the coordinator moves its shards first, within its liveness of 3
#: heartbeats, and a shard placed again waits for its new socket only.)
DATA_CONNECT_TIMEOUT = 10.0
#: The same for a data socket whose connection attempts fail (refused, a name that does not
#: resolve, a peer that is not a worker; libzmq tries again every 100 ms or so): long enough for a
#: listener that is only starting, far shorter than waiting for silence.
DATA_FAILURE_GRACE = 1.0
#: Seconds a data socket may go without a shard placed on it before it is closed and its
#: address forgotten, reachable or not: workers come and go (rolling updates, autoscaling), and
#: a long-lived client kept a socket trying to connect to every worker it ever met, and named
#: every address it ever failed to reach in each direct request's `avoid`. An address still
#: unreachable then costs one request its patience again.
DATA_IDLE_CLOSE = 600.0


def _connect_failure() -> str:
    """What a data socket counted unreachable met, in words."""
    return ("connection refused, a name that does not resolve, not a worker's socket, or no answer within "
            f"{DATA_CONNECT_TIMEOUT:g} s")


def _curve_keys(secret: Optional[str], server_key: Optional[str]) -> Optional[Tuple[bytes, bytes, bytes]]:
    """(public, secret, server public) from keygen's files, or None without them."""
    if secret is None and server_key is None:
        return None
    if secret is None or server_key is None:
        raise BadRequest("CURVE takes both curve_secret (this client's .key_secret file) and curve_server_key "
                         "(the coordinator's .key file), or neither")
    import zmq.auth  # the certificate reader only; no authenticator is started

    def load(name: str, path: str) -> Tuple[bytes, Optional[bytes]]:
        if not os.path.exists(path):  # (pyzmq says only "Invalid certificate file")
            raise BadRequest(f"{name} {path}: no such file")
        try:
            return cast(Tuple[bytes, Optional[bytes]], zmq.auth.load_certificate(path))
        except (OSError, ValueError) as e:
            raise BadRequest(f"{name} {path}: cannot be read as a CURVE key file: {e}") from None

    public, private = load("curve_secret", secret)
    server, _ = load("curve_server_key", server_key)
    if not private:
        raise BadRequest(f"{secret} holds no secret key (give the .key_secret file keygen wrote)")
    return public, private, server


def _keep_alive(s: Any, heartbeat: float) -> None:
    """ZMTP heartbeats on `s`'s connection, for a client whose heartbeat is `heartbeat` seconds:
    a PING every 10 of those, and the connection closed (a fresh one made) when no message comes
    within 30 of a PING. An idle connection stays one through middleboxes that drop idle flows
    (a cloud load balancer's 4 minutes), and one to a host that died is replaced before the next
    request. (libzmq counts a message when its last byte is in: one frame may take 30
    heartbeats to arrive, 30 s by default.)"""
    s.setsockopt(zmq.HEARTBEAT_IVL, int(10_000 * heartbeat))
    s.setsockopt(zmq.HEARTBEAT_TIMEOUT, int(30_000 * heartbeat))


def _dealer(ctx: Any, curve: Optional[Tuple[bytes, bytes, bytes]], heartbeat: float) -> Any:
    """A DEALER to one coordinator: no lingering, sends only to a live connection, CURVE when given."""
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    _keep_alive(s, heartbeat)
    s.setsockopt(zmq.IMMEDIATE, 1)  # queue only to a live connection: a send to none fails
    s.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)
    if curve is not None:
        s.curve_publickey, s.curve_secretkey, s.curve_serverkey = curve
    return s


def _data_dealer(ctx: Any, address: str, curve: Optional[Tuple[bytes, bytes, bytes]],
                 heartbeat: float) -> Tuple[Any, Any]:
    """A DEALER to a worker's data socket: shard bytes queue until the connection is made (no
    `IMMEDIATE`), and nothing lingers at close (the request is over by then). With its monitor
    of the handshake, of failed connection attempts and of a refused key, attached before the
    connection starts."""
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)
    _keep_alive(s, heartbeat)
    if curve is not None:
        s.curve_publickey, s.curve_secretkey, s.curve_serverkey = curve
    m = s.get_monitor_socket(_UP_EVENT | zmq.EVENT_CONNECT_RETRIED | _REFUSED_EVENT | zmq.EVENT_DISCONNECTED)
    _connect(s, address)
    return s, m


def _connected(ctx: Any, curve: Optional[Tuple[bytes, bytes, bytes]], address: str,
               heartbeat: float) -> Tuple[Any, Any]:
    """A DEALER connected to `address`, and the monitor socket that reports its connection events."""
    s = _dealer(ctx, curve, heartbeat)
    m = s.get_monitor_socket(_MONITOR_EVENTS)
    _connect(s, address)
    return s, m


def _connect(s: Any, address: str) -> None:
    """Connects `s` to `address`, with libzmq's IPv6 option where the address needs it (an IPv6
    address, or a name with IPv6 addresses only: `_hosts.ipv6_wanted`)."""
    s.setsockopt(zmq.IPV6, 1 if _hosts.ipv6_wanted(address) else 0)
    s.connect(address)


#: Milliseconds a coordinator's socket keeps trying to send what is queued after it is closed:
#: the `cancel` of a request given up just before (libzmq's I/O thread sends it; close returns
#: at once).
CLOSE_LINGER_MS = 200


def _close_all(socks: Sequence[Any], monitors: Sequence[Any], linger: int = CLOSE_LINGER_MS) -> None:
    """Closes each DEALER (what it has queued gets `linger` ms to leave) and its monitor."""
    for s, m in zip(socks, monitors):
        try:
            s.disable_monitor()
        except zmq.ZMQError:
            pass
        m.close(linger=0)
        s.close(linger=linger)


def _endpoints(endpoints: Union[str, Sequence[str]]) -> List[str]:
    """The endpoints checked, as the Swift CLI checks `--connect`: a comma-separated string or a
    list, no empty item (`tcp://a:5555,` is a slip, not one endpoint), none listed twice."""
    given = endpoints
    if isinstance(endpoints, str):
        endpoints = [e.strip() for e in endpoints.split(",")]
    out = list(endpoints)
    if not out or not all(isinstance(e, str) for e in out):
        raise BadRequest(f"endpoints must be one or more ZeroMQ addresses such as tcp://host:5555, got {given!r}")
    if "" in out:
        raise BadRequest(f"an empty item is not an endpoint, in {given!r}: each must be tcp://HOST:PORT or ipc://PATH")
    twice = next((e for i, e in enumerate(out) if e in out[:i]), None)
    if twice is not None:
        raise BadRequest(f"endpoint {twice!r} is listed twice in {given!r}")
    for e in out:
        if not _is_endpoint(e):
            raise BadRequest(f"endpoint {e!r} is not tcp://HOST:PORT or ipc://PATH (such as tcp://10.0.0.5:5555)")
        if e.startswith("tcp://*:"):
            raise BadRequest(f"endpoint {e!r} names every interface (*), which is for binding: give a host name or address to connect to")
    return out


def _is_endpoint(text: str) -> bool:
    """`tcp://HOST:PORT` (port 1 to 65535) or `ipc://PATH`: what a coordinator can listen on."""
    if text.startswith("ipc://"):
        return len(text) > len("ipc://")
    if not text.startswith("tcp://"):
        return False
    host, colon, port = text[len("tcp://"):].rpartition(":")
    return bool(colon and host) and "/" not in host and port.isdigit() and 1 <= int(port) <= 65535


class _Waker:
    """A pipe whose byte wakes the thread waiting in poll (a call added or given up by another)."""

    def __init__(self) -> None:
        self.read_fd, self._write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(self._write_fd, False)

    def wake(self) -> None:
        try:
            os.write(self._write_fd, b"\0")
        except BlockingIOError:  # full: it will wake anyway
            pass

    def drain(self) -> None:
        try:
            while os.read(self.read_fd, 4096):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        os.close(self.read_fd)
        os.close(self._write_fd)


def _remade(cls: Any, endpoints: List[str], options: Dict[str, Any]) -> Any:
    """A client of class `cls` made anew in this process (see `_Base.__reduce__`)."""
    return cls(endpoints, **options)


class _Base:
    """What the sync and asyncio clients share: options, request preparation, result decoding."""

    #: The shell's DEALER to each coordinator, by endpoint index.
    _socks: Sequence[Any]
    #: The options a subclass was made with (besides its context), to start afresh after a fork.
    _options: Dict[str, Any]

    def __init__(self, endpoints: Union[str, Sequence[str]], *, deadline: float = 30.0, heartbeat: float = 1.0,
                 liveness: int = 3, max_attempts: Optional[int] = None, backoff: Tuple[float, float] = (0.05, 2.0),
                 grace: float = 1.0, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 curve_secret: Optional[str] = None, curve_server_key: Optional[str] = None,
                 transfer: str = "inline") -> None:
        self.endpoints = _endpoints(endpoints)
        if transfer not in rq.TRANSFERS:
            raise BadRequest(f"transfer must be one of {', '.join(rq.TRANSFERS)}, got {transfer!r}")
        self.transfer = transfer
        self._data_socks: Dict[DataKey, Any] = {}
        #: Per data socket: its monitor, whether its handshake ever completed, and whether its
        #: connection attempts failed with none completed yet. Where each
        #: shard of the requests in flight was last placed, by (request id, shard): the socket and
        #: when (a shard placed again elsewhere, its worker having died, waits for its new socket).
        self._data_monitors: Dict[DataKey, Any] = {}
        self._data_connected: Set[DataKey] = set()
        self._data_failing: Set[DataKey] = set()
        #: Data sockets whose handshake refused this client's key: libzmq ends such a session and
        #: does not try again, so the next shard placed there goes through a fresh socket.
        self._data_refused: Set[DataKey] = set()
        self._placed: Dict[Tuple[str, int], Tuple[DataKey, float]] = {}
        #: When a shard was last placed on each data socket (`DATA_IDLE_CLOSE`).
        self._data_used: Dict[DataKey, float] = {}
        #: Shards' bytes a data socket not connected yet could not take: they wait for it (its
        #: connection, its refusal or its patience ends the wait), sent again at each step.
        self._unsent: Dict[Tuple[str, int], List[Any]] = {}
        #: Data endpoints this client could not connect to, named in each direct request's
        #: `avoid` until a connection to one is made (its socket keeps trying, with nothing queued).
        self.unreachable_data: Set[str] = set()
        # Workers on this host (behind Unix sockets) that cannot read this client's shared
        # memory, so are sent the bytes: warned of once each.
        self._unshared: Set[str] = set()
        self._ctx: Any = None
        self._curve = _curve_keys(curve_secret, curve_server_key)
        self.deadline = rq.check_deadline(deadline)
        if heartbeat <= 0 or liveness < 1 or grace < 0 or backoff[0] <= 0 or backoff[1] < backoff[0]:
            raise BadRequest("heartbeat > 0, liveness >= 1, grace >= 0 and 0 < backoff[0] <= backoff[1] are needed")
        if max_attempts is not None and max_attempts < 1:
            raise BadRequest(f"max_attempts must be at least 1, got {max_attempts}")
        if max_message_bytes < 1:
            raise BadRequest(f"max_message_bytes must be positive, got {max_message_bytes}")
        self.max_message_bytes = int(max_message_bytes)
        self._engine = Engine(self.endpoints, Policy(heartbeat=heartbeat, liveness=liveness, backoff_initial=backoff[0],
                                                     backoff_max=backoff[1], grace=grace, max_attempts=max_attempts))
        #: Per coordinator: handshakes a CURVE peer closed without detail since one succeeded.
        self._curve_failures = [0] * len(self.endpoints)
        #: The process whose sockets these are (see `_own_process`).
        self._pid = os.getpid()

    def _own_process(self) -> None:
        """In a child forked after this client was made (a PyTorch DataLoader's workers, a
        multiprocessing pool): the inherited sockets belong to the parent's ZeroMQ context, whose
        I/O thread did not survive the fork, so requests sent on them would wait forever. The child
        leaves them to the parent (pyzmq does not close a parent's socket from a child) and starts
        afresh: its own context, connections and in-flight state, with the same options."""
        if self._pid == os.getpid():
            return
        _Base.__init__(self, self.endpoints, **self._options)
        self._open(None)

    def _open(self, context: Any) -> None:
        """Makes this process's context (`context`, or the process's shared one) and connections."""
        raise NotImplementedError

    def __reduce__(self) -> Tuple[Any, ...]:
        """Pickled (sent to a spawn or forkserver pool's workers, Python 3.14's default on Linux),
        a client arrives as a new one with the same endpoints and options: sockets do not travel,
        as after a fork it starts afresh in the other process."""
        return _remade, (type(self), self.endpoints, self._options)

    def _call_for(self, r: Union[PruneRequest, Mapping[str, Any]]) -> Call:
        p = rq.prepare(rq.as_request(r), self.deadline, self.transfer)
        # The envelope with the longest deadline_ms it can carry, to size the whole message.
        envelope = len(msgpack.packb(dict(p.fields, deadline_ms=3_600_000)))
        total = envelope + p.nbytes
        if total > self.max_message_bytes:
            raise TooLarge(f"the request is {total} bytes, over the message limit of {self.max_message_bytes} bytes "
                           f"(the coordinator's --max-message-bytes; it would drop the connection, not answer)",
                           request_id=p.id)
        if p.id in self._engine.calls:
            raise BadRequest(f"request id {p.id} is already in flight on this client", request_id=p.id)
        fields = p.fields
        if self.transfer in ("direct", "shared") and self.unreachable_data:
            fields = dict(fields, avoid=sorted(self.unreachable_data))
        call = Call(id=p.id, kind="prune", fields=fields, tensors=p.frames, timeout=p.deadline, nbytes=total,
                    send_deadline_ms=True)
        call.context = p
        return call

    def _status_call(self, endpoint: Optional[str], timeout: float) -> Call:
        pinned = None
        if endpoint is not None:
            if endpoint not in self.endpoints:
                raise BadRequest(f"{endpoint} is not one of this client's endpoints {self.endpoints}")
            pinned = self.endpoints.index(endpoint)
        rid = f"status-{uuid.uuid4().hex}"
        return Call(id=rid, kind="status", fields={"v": rq.PROTOCOL_VERSION, "type": "status", "id": rid}, tensors=[],
                    timeout=rq.check_deadline(timeout, "timeout"), pinned=pinned)

    def _place_all(self) -> None:
        """Sends each placed shard's bytes to its worker; a placement that cannot be carried out
        ends its request with the reason."""
        for p in self._engine.take_placements():
            try:
                frames = self._data_frames(p)
                key = (p.endpoint, p.server_key)
                if key not in self._data_socks:
                    self._open_data(key, self._data_curve(p))
                elif key in self._data_refused:
                    self._reopen_data(key)
                w = (p.call.id, p.shard)
                self._placed[w] = (key, time.monotonic())
                self._data_used[key] = self._placed[w][1]
                self._unsent.pop(w, None)
                self._send_shard(w, key, frames)
            except ScriptClusterError as e:
                self._engine.fail(p.call.id, rq.error_result(e, p.call.id, None))
        for w, frames in list(self._unsent.items()):
            placed = self._placed.get(w)
            del self._unsent[w]
            if placed is not None:
                try:
                    self._send_shard(w, placed[0], frames)
                except ScriptClusterError as e:
                    self._engine.fail(w[0], rq.error_result(e, w[0], None))

    def _send_shard(self, w: Tuple[str, int], key: DataKey, frames: List[Any]) -> None:
        """Queues a placed shard's bytes on its data socket. One not connected yet that takes
        nothing has lost its session at a failed handshake (a refusal this client has not read
        yet) or filled its queue while it waits: the bytes wait for it, in `_unsent`."""
        if self._send_nowait(self._data_socks[key], frames):
            return
        if key in self._data_connected:
            raise Unavailable(f"the worker's data socket at {key[0]} takes no more messages (its queue is full)")
        self._unsent[w] = frames

    def _turn_engine(self) -> float:
        """One turn of the engine: sends placed shards' bytes, replaces silent connections, sends
        what is due and the cancels of calls given up; returns when the first data socket's
        connect wait ends."""
        engine = self._engine
        self._place_all()
        now = time.monotonic()
        self._reconnect(now)
        for i, frames, cid in engine.poll(now):
            if not self._send_nowait(self._socks[i], frames):
                engine.send_failed(i, cid, now)
        data_wait = self._data_connect_deadlines(time.monotonic())
        self._send_cancels()
        return data_wait

    def _send_cancels(self) -> None:
        """Sends the `cancel` messages of calls given up (best effort: a full queue drops one)."""
        for i, frames in self._engine.take_cancels():
            self._send_nowait(self._socks[i], frames)

    def _link_event(self, i: int, msg: List[bytes], now: float) -> None:
        """What coordinator `i`'s socket monitor reported: a connection up (its handshake) or
        dropped, our key refused, or CURVE spoken on one side only; and, for an error that says
        why none came up, a connection made or an attempt that failed."""
        event = int.from_bytes(msg[0][:2], "little")
        if event & _UP_EVENT:
            self._curve_failures[i] = 0
            self._engine.connected(i, now)
        elif event & zmq.EVENT_DISCONNECTED:
            self._engine.disconnected(i, now)
        elif event & zmq.EVENT_CONNECTED:
            self._engine.connection_made(i)
        elif event & zmq.EVENT_CONNECT_RETRIED:
            self._engine.connect_failed(i)
        elif event & _REFUSED_EVENT:
            self._engine.refused(i, now)
        elif event & _PROTOCOL_EVENT and int.from_bytes(msg[0][2:6], "little") == _MECHANISM_MISMATCH:
            self._engine.refused(i, now, self._mechanism_refusal())
        elif event & _NO_DETAIL_EVENT and len(msg) > 1:
            theirs, mine = _greeting.mechanism(msg[1].decode(errors="replace")), "NULL" if self._curve is None else "CURVE"
            if theirs is not None and theirs != mine:
                self._engine.refused(i, now, self._mechanism_refusal())
            elif theirs == mine == "CURVE" and self._count_curve_failure(i):
                self._engine.refused(i, now, "closed the connection during the CURVE handshake: its key pair is not the one "
                                             "whose public key this client was given (curve_server_key; were its keys made again?)")

    def _count_curve_failure(self, i: int) -> bool:
        """Counts a handshake coordinator `i` (speaking CURVE) closed: whether that makes
        `CURVE_FAILURES_TO_TELL` in a row."""
        self._curve_failures[i] += 1
        return self._curve_failures[i] >= CURVE_FAILURES_TO_TELL

    def _mechanism_refusal(self) -> str:
        """Why a coordinator that speaks another mechanism than this client's is refused."""
        return ("speaks CURVE and this client does not (give it curve_secret and curve_server_key)" if self._curve is None
                else "does not speak CURVE and this client does (leave out curve_secret and curve_server_key, or give the "
                     "coordinator its keys)")

    def _link(self, address: str) -> Tuple[Any, Any]:
        """A DEALER to the coordinator at `address` with this client's CURVE and heartbeat, and
        its monitor."""
        return _connected(self._ctx, self._curve, address, self._engine.policy.heartbeat)

    def _reconnect(self, now: float) -> None:
        """A fresh connection to each coordinator gone silent, and to each refused one whose
        back-off is over while calls wait: ZeroMQ makes none to either (`Engine.take_reopens`)."""
        for i in self._engine.take_reopens(now):
            self._reopen_link(i)

    def _reopen_link(self, i: int) -> None:
        """Closes coordinator `i`'s socket and monitor, and opens and watches fresh ones."""
        raise NotImplementedError

    def _watch_data(self, key: DataKey, monitor: Any) -> None:
        """Has the shell watch a data socket's monitor (`_data_event` for each event)."""

    def _unwatch_data(self, key: DataKey, monitor: Any) -> None:
        """Has the shell stop watching a data socket's monitor (before it is closed)."""

    def _data_event(self, key: DataKey, msg: List[bytes]) -> None:
        """A data socket connected (its shards wait for nothing more here), failed an attempt
        to (its shards wait `DATA_FAILURE_GRACE` at most), refused this client's key (the
        requests whose bytes wait for it end now, not at their deadline), or lost its connection
        (the requests with shards placed there go again: `_data_dropped`)."""
        event = int.from_bytes(msg[0][:2], "little")
        if event & _UP_EVENT:
            self._data_connected.add(key)
            self._data_failing.discard(key)
            self.unreachable_data.discard(key[0])
        elif event & zmq.EVENT_CONNECT_RETRIED:
            if key not in self._data_connected:
                self._data_failing.add(key)
        elif event & _REFUSED_EVENT:
            self._data_refused.add(key)
            self._data_connected.discard(key)
            self._end_placed([w for w, v in self._placed.items() if v[0] == key], lambda cid: ConnectionRefused(
                f"the worker's data socket at {key[0]} refused this client's CURVE key (not on the worker's "
                f"--curve-clients list): its shards' bytes cannot be sent direct (send inline)", request_id=cid,
                endpoint=key[0]))
        elif event & zmq.EVENT_DISCONNECTED and key in self._data_connected:
            self._data_dropped(key)

    def _data_dropped(self, key: DataKey) -> None:
        """The connection of data socket `key` dropped (a worker gone, a balancer or the
        heartbeats that cut it): what it held may be lost, so each request with shards placed
        there goes again, and the coordinator places again those still waiting for their bytes,
        which go on the connection made next (libzmq connects again), or to another worker."""
        now = time.monotonic()
        for cid in sorted({w[0] for w, v in self._placed.items() if v[0] == key and w[0] in self._engine.calls}):
            self._resend(cid, now)

    def _data_connect_deadlines(self, now: float) -> float:
        """Shards placed on a data socket still not connected longer ago than it may take
        (`DATA_CONNECT_TIMEOUT`, or `DATA_FAILURE_GRACE` where its attempts fail; the shards of requests no longer in flight are forgotten): that address counts as
        unreachable, and each such request goes again naming it in `avoid`, so that its shards
        move; a request whose `avoid` named it already ends. Seconds until the next such check
        falls due (inf: none). A pause of the client's own (`Engine.take_pause`) is not the
        socket's: it could not connect while the client did not run."""
        paused = self._engine.take_pause()
        self._placed = {w: (v[0], min(now, v[1] + paused)) for w, v in self._placed.items() if w[0] in self._engine.calls}
        late = {w: v[0] for w, v in self._placed.items()
                if v[0] not in self._data_connected and now - v[1] >= self._patience(v[0])}
        named = [w for w, key in late.items() if key[0] in self._engine.calls[w[0]].fields.get("avoid", ())]
        for w in named:
            address = late[w][0]
            self._end_placed([w], lambda cid: Unavailable(
                f"could not connect to the worker's data socket at {address} ({_connect_failure()}): "
                f"is that address (the worker's --data-advertise) reachable from this client? (or send inline)",
                request_id=cid, endpoint=address))
        # Every shard of such a request placed on such an address moves with the late ones: one
        # placed a moment after them would otherwise be late once `avoid` names its address.
        moving_from = {(w[0], key) for w, key in late.items() if w[0] in self._engine.calls}
        moving = {w: v[0] for w, v in self._placed.items() if (w[0], v[0]) in moving_from}
        for key in sorted(set(moving.values()), key=str):
            if key[0] not in self.unreachable_data:
                self._reopen_data(key)
                _log.warning("could not connect to the data socket at %s (%s): its shards go to other workers; is "
                             "that address (a worker's --data-advertise) reachable from this client?", key[0],
                             _connect_failure())
            self.unreachable_data.add(key[0])
        self._placed = {w: v for w, v in self._placed.items() if w not in moving}
        for cid in sorted({w[0] for w in moving}):
            self._resend(cid, now)
        self._close_idle_data(now)
        return min((at + self._patience(key) - now for key, at in self._placed.values() if key not in self._data_connected),
                   default=math.inf)

    def _patience(self, key: DataKey) -> float:
        """Seconds a shard placed on the data socket `key` waits for it to connect."""
        return DATA_FAILURE_GRACE if key in self._data_failing else DATA_CONNECT_TIMEOUT

    def _reopen_data(self, key: DataKey) -> None:
        """A fresh socket in place of the data socket `key`, with none of the bytes queued for
        it, that keeps trying to connect (a connection takes the address off `unreachable_data`)."""
        unreachable = key[0] in self.unreachable_data
        self._forget_data(key)
        if unreachable:
            self.unreachable_data.add(key[0])
        curve = None if key[1] is None or self._curve is None else (self._curve[0], self._curve[1], key[1].encode())
        self._open_data(key, curve)

    def _close_idle_data(self, now: float) -> None:
        """Closes the data sockets no shard was placed on for `DATA_IDLE_CLOSE` (none waits on
        them), and forgets their addresses."""
        busy = {v[0] for v in self._placed.values()}
        for key in [k for k, t in self._data_used.items() if now - t >= DATA_IDLE_CLOSE and k not in busy]:
            self._forget_data(key)

    def _forget_data(self, key: DataKey) -> None:
        """Closes the data socket `key` and its monitor, and forgets what was known of it; its
        address no longer counts unreachable, unless a socket to it with another CURVE key stays."""
        sock, monitor = self._data_socks.pop(key), self._data_monitors.pop(key)
        self._unwatch_data(key, monitor)
        _close_all([sock], [monitor], linger=0)
        for known in (self._data_refused, self._data_connected, self._data_failing):
            known.discard(key)
        self._data_used.pop(key, None)
        if not any(k[0] == key[0] for k in self._data_socks):
            self.unreachable_data.discard(key[0])

    def _open_data(self, key: DataKey, curve: Optional[Tuple[bytes, bytes, bytes]]) -> None:
        """A data socket to `key`'s endpoint (over CURVE with `curve`), watched by the shell."""
        self._data_socks[key], self._data_monitors[key] = _data_dealer(self._ctx, key[0], curve,
                                                                       self._engine.policy.heartbeat)
        self._data_used[key] = time.monotonic()
        self._watch_data(key, self._data_monitors[key])

    def _resend(self, call_id: str, now: float) -> None:
        """Sends a call in flight again at once, naming every unreachable data endpoint in `avoid`."""
        again = self._engine.avoid(call_id, self.unreachable_data, now)
        if again is not None and not self._send_nowait(self._socks[again[0]], again[1]):
            self._engine.send_failed(again[0], call_id, now)

    def _end_placed(self, waits: List[Tuple[str, int]], error: Callable[[str], ScriptClusterError]) -> None:
        """Ends the requests of these waiting shards, and forgets every shard of theirs."""
        ended = {cid for cid, _ in waits}
        self._placed = {w: v for w, v in self._placed.items() if w[0] not in ended}
        for cid in sorted(ended):
            self._engine.fail(cid, error(cid))

    def _send_nowait(self, sock: Any, frames: List[Any]) -> bool:
        """Queues a message on a DEALER without blocking; False when it cannot take it now (no
        connection ready, or its queue full)."""
        try:
            sock.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:
            return False
        return True

    def _data_frames(self, p: Placement) -> List[Any]:
        direct = p.call.context.direct if p.call.context is not None else None
        # A worker on this host that can read this process's shared memory reads the bytes in place.
        sharing = worker_reads(p.shared_memory)
        if not sharing and direct is not None and direct.shared and p.endpoint.startswith("ipc://") \
                and p.endpoint not in self._unshared:
            self._unshared.add(p.endpoint)
            here = current_scope()
            mine = f"this client in {here[0]} as {here[1]}" if here else "this client cannot read its own"
            why = (f"it runs in PID namespace {p.shared_memory[0]} as user {p.shared_memory[1]}; {mine}"
                   if p.shared_memory else "its placement names no memory it reads: it could not read this "
                   "client's, or it is of an earlier release")
            _log.warning("the worker at %s cannot read this client's shared memory (%s): it is sent the bytes",
                         p.endpoint, why)
        frames = direct.frames(p.shard, p.ticket, sharing=sharing) if direct is not None else None
        if frames is None:
            what = f"shard {p.shard} of a request with {len(direct.shards)}" if direct else "a request sent inline"
            raise BadReply(f"a placement for {what}", endpoint=None)
        return frames

    def _data_curve(self, p: Placement) -> Optional[Tuple[bytes, bytes, bytes]]:
        """CURVE for the worker's data socket: this client's pair and the worker's key, or None
        when neither speaks CURVE (never shard bytes in the clear from a client that does)."""
        if self._curve is None and p.server_key is None:
            return None
        if self._curve is None:
            raise BadRequest(f"the worker at {p.endpoint} takes shard bytes over CURVE only: give this client its keys "
                             f"(curve_secret, curve_server_key)")
        if p.server_key is None:
            raise BadRequest(f"the worker at {p.endpoint} takes shard bytes unencrypted; this client speaks CURVE and does "
                             f"not send them in the clear (give the worker --curve-clients, or use transfer='inline')")
        return self._curve[0], self._curve[1], p.server_key.encode()

    def _close_data(self) -> None:
        """Closes the data sockets at once (their requests are over) with their monitors."""
        keys = list(self._data_socks)
        _close_all([self._data_socks[k] for k in keys], [self._data_monitors[k] for k in keys], linger=0)
        self._data_monitors.clear()
        self._data_socks.clear()
        for known in (self._data_refused, self._data_connected, self._data_failing, self._data_used, self._unsent):
            known.clear()

    def _outcome(self, call: Call) -> Any:
        """The call's result, or its error, raised."""
        out = call.outcome
        if isinstance(out, ScriptClusterError):
            raise out
        env, frames, i = out
        address = self.endpoints[i]
        try:
            if call.kind == "status":
                return rq.parse_status(env, address)
            return rq.parse_result(env, frames[1:], call.context, address, call.attempts)
        except ScriptClusterError as e:
            raise rq.error_result(e, call.id, address) from None


class Client(_Base):
    """A client of one or more coordinators (a DEALER socket to each).

    `endpoints` is one address or several (a list, or a comma-separated string). Requests go to
    the connected coordinator with fewest requests outstanding; when one drops its connection or
    stops answering pings, its requests go to the others under the same ids (a coordinator
    answers a repeated id once), and `busy`/`shutting_down` are retried with exponential back-off
    in `backoff = (first, longest)` seconds. Every request ends by its deadline (`deadline`
    seconds by default, which is also sent as `deadline_ms`) plus `grace`. With
    `transfer="direct"`, each shard's bytes go straight to the worker the coordinator places it
    on (the coordinator gets the envelope and the query only); with `transfer="shared"` (Linux),
    likewise, the features and embeddings copied once into shared memory that the workers on this
    host, behind Unix sockets (`ipc://`, as `script-cluster up` binds them), read in place (the
    others are sent the bytes).

    Any number of threads may share one client: their requests share the connections, and one
    thread at a time moves the bytes for all of them. A client made before a fork (DataLoader
    workers, a multiprocessing pool) works in the child: on its first request there it opens
    connections of its own, in a context of its own. Pickled (to a spawn or forkserver pool), it
    arrives as a new client with the same endpoints and options.
    """

    def __init__(self, endpoints: Union[str, Sequence[str]], *, context: Optional[zmq.Context] = None,
                 **options: Any) -> None:
        super().__init__(endpoints, **options)
        self._options = options
        self._open(context)

    def _open(self, context: Optional[zmq.Context]) -> None:
        self._ctx = context or zmq.Context.instance()
        self._socks: List[zmq.Socket] = []
        self._monitors: List[zmq.Socket] = []
        self._poller = zmq.Poller()
        self._closed = False
        for address in self.endpoints:
            s, m = self._link(address)
            self._socks.append(s)
            self._monitors.append(m)
            self._poller.register(s, zmq.POLLIN)
            self._poller.register(m, zmq.POLLIN)
        #: Threads take turns under this lock. One thread at a time leads: it alone touches the
        #: sockets, for every thread's calls, and waits in poll with the lock released
        #: (`_polling`), while the others wait on the condition for their calls to end or for the
        #: lead to pass to them; one that adds or gives up a call meanwhile wakes it (`_waker`).
        self._turn = threading.Condition(threading.Lock())
        self._leading = False
        self._polling = False
        inherited: Optional[_Waker] = getattr(self, "_waker", None)
        if inherited is not None:  # a forked child's copy of its parent's pipe
            inherited.close()
        self._waker = _Waker()
        self._poller.register(self._waker.read_fd, zmq.POLLIN)

    # -- public ----------------------------------------------------------------------------------

    def prune(self, features: Any, *, budget: Union[int, float], query: Any = None, embeddings: Any = None,
              layout: Any = None, shards: Any = None, method: str = "script", options: Optional[Mapping[str, Any]] = None,
              return_: str = "indices", deadline: Optional[float] = None, request_id: Optional[str] = None,
              unit_tokens: Optional[int] = None) -> PruneResult:
        """Prunes one request and returns its `PruneResult`; raises a `ScriptClusterError` subclass.

        `features`: N x D, or units x tokens x D (each unit a shard unless `layout`/`shards` say
        otherwise); numpy (float32, float16, ml_dtypes bfloat16) or torch (the same, CPU or CUDA),
        sent in its own dtype. `budget`: an int k, or a ratio in (0, 1]. `query`: M x Dq query token
        embeddings; `embeddings`: N x Dq, the tokens in the query's space (default: the features).
        `layout`: a `Layout`, or a layout.json path or mapping; `shards`: (start, end) ranges.
        `method`: "script" (the paper's) or "script+" (keeps more of what the query asks about).
        `options`: the algorithm's parameters (tau, gamma, kmin, gsp_ratio, theta, query_keep,
        relevance_sign, alpha; for script+ also unit_graph, discount, floor_relevance; `similarity`:
        "f32", or "bf16" for bfloat16 products on workers that have them). `return_`: "indices",
        "features" (kept rows) or "merged".
        `request_id`: reuse one to retry a request safely across clients (another request under
        it raises `BadRequest`). `unit_tokens`: tokens
        per tile or frame, for script+ (default: from the layout or a 3-D input)."""
        return self.prune_request(PruneRequest(features, budget, query=query, embeddings=embeddings, layout=layout,
                                               shards=shards, method=method, options=options, return_=return_,
                                               deadline=deadline, request_id=request_id,
                                               unit_tokens=unit_tokens))

    def prune_request(self, r: Union[PruneRequest, Mapping[str, Any]]) -> PruneResult:
        return cast(PruneResult, self._run_one(self._call_for(r)))

    def prune_many(self, requests: Iterable[Union[PruneRequest, Mapping[str, Any]]], *, max_in_flight: int = 8,
                   return_exceptions: bool = False) -> List[Any]:
        """Prunes many requests with up to `max_in_flight` of them in flight at once, and returns
        their results in the order given. `requests` are `PruneRequest`s or mappings of `prune`'s
        keywords, taken from the iterable only as room frees up.

        Raises the first error (the others in flight are abandoned), or with
        `return_exceptions=True` puts each error in its request's place."""
        if isinstance(max_in_flight, bool) or not isinstance(max_in_flight, int) or max_in_flight < 1:
            raise BadRequest(f"max_in_flight must be a positive integer, got {max_in_flight!r}")
        results: Dict[int, Any] = {}
        in_flight: Dict[str, Tuple[int, Call]] = {}
        self._own_process()
        with self._turn:
            self._check_open()
            try:
                count = self._many(iter(requests), max_in_flight, return_exceptions, results, in_flight)
            finally:
                self._give_up(list(in_flight))
        return [results[i] for i in range(count)]

    def _many(self, it: Iterator[Any], max_in_flight: int, return_exceptions: bool, results: Dict[int, Any],
              in_flight: Dict[str, Tuple[int, Call]]) -> int:
        """`prune_many`'s loop, the lock held: fills `results` by index, and returns how many requests
        it took."""
        count = 0
        exhausted = False
        while True:
            while not exhausted and len(in_flight) < max_in_flight:
                # The caller's iterator and the encoding run with the lock released, so that the
                # thread leading meanwhile moves other threads' replies.
                self._turn.release()
                try:
                    r = next(it)
                    call: Union[Call, ScriptClusterError] = self._call_or_error(r)
                except StopIteration:
                    exhausted = True
                    break
                finally:
                    self._turn.acquire()
                index = count
                count += 1
                if isinstance(call, ScriptClusterError):
                    if not return_exceptions:
                        raise call
                    results[index] = call
                    continue
                self._start(call)
                in_flight[call.id] = (index, call)
            if not in_flight:
                return count
            self._drive(lambda: any(c.state == "done" for _, c in in_flight.values()))
            for cid, (index, call) in list(in_flight.items()):
                if call.state != "done":
                    continue
                del in_flight[cid]
                try:
                    results[index] = self._outcome(call)
                except ScriptClusterError as e:
                    if not return_exceptions:
                        raise
                    results[index] = e

    def status(self, endpoint: Optional[str] = None, *, timeout: float = 5.0) -> ClusterStatus:
        """The state of `endpoint` (by default whichever coordinator answers first)."""
        return cast(ClusterStatus, self._run_one(self._status_call(endpoint, timeout)))

    def _run_one(self, call: Call) -> Any:
        """Sends one call and drives the sockets until it ends (cancelled if interrupted)."""
        self._own_process()
        with self._turn:
            self._start(call)
            try:
                self._drive(lambda: call.state == "done")
            finally:
                if call.state != "done":
                    self._give_up([call.id])
        return self._outcome(call)

    def status_all(self, *, timeout: float = 5.0) -> Dict[str, Union[ClusterStatus, ScriptClusterError]]:
        """Every endpoint's state, or the error that asking it gave."""
        calls = [self._status_call(e, timeout) for e in self.endpoints]
        self._own_process()
        with self._turn:
            for c in calls:
                self._start(c)
            try:
                self._drive(lambda: all(c.state == "done" for c in calls))
            finally:
                self._give_up([c.id for c in calls if c.state != "done"])
        out: Dict[str, Union[ClusterStatus, ScriptClusterError]] = {}
        for address, c in zip(self.endpoints, calls):
            try:
                out[address] = self._outcome(c)
            except ScriptClusterError as e:
                out[address] = e
        return out

    def close(self) -> None:
        """Closes the connections; requests other threads have in flight end with `BadRequest`."""
        if self._pid != os.getpid():  # a forked child's copy: the sockets are the parent's
            self._closed = True
            return
        with self._turn:
            if self._closed:
                return
            self._closed = True
            while self._polling:  # the leading thread is in poll: have it come out and stop
                self._waker.wake()
                self._turn.wait(0.1)
            _close_all(self._socks, self._monitors)
            self._close_data()
            self._waker.close()
            self._turn.notify_all()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # -- the loop ------------------------------------------------------------------------------

    def _call_or_error(self, r: Union[PruneRequest, Mapping[str, Any]]) -> Union[Call, ScriptClusterError]:
        """`_call_for`'s call, or the error it raised (for `prune_many`'s `return_exceptions`)."""
        try:
            return self._call_for(r)
        except ScriptClusterError as e:
            return e

    def _check_open(self) -> None:
        if self._closed:
            raise BadRequest("the client is closed")

    def _start(self, call: Call) -> None:
        """Adds a call (the lock held); a thread in poll is woken to send it."""
        self._check_open()
        self._engine.add(call, time.monotonic())
        if self._polling:
            self._waker.wake()

    def _give_up(self, call_ids: List[str]) -> None:
        """Cancels calls (the lock held): their `cancel` messages leave now, or by the thread in poll."""
        for cid in call_ids:
            self._engine.cancel(cid)
        if self._closed:
            return
        if self._polling:
            self._waker.wake()
        else:
            self._send_cancels()

    def _drive(self, done: Callable[[], bool]) -> None:
        """Returns once `done()` (the lock held): this thread leads while no other does, and waits
        for the leading one otherwise (which wakes it whenever calls end or it stops leading)."""
        while not done():
            self._check_open()
            if self._leading:
                self._turn.wait()
                continue
            self._leading = True
            try:
                self._lead(done)
            finally:
                self._leading = False
                self._turn.notify_all()

    def _lead(self, done: Callable[[], bool]) -> None:
        engine = self._engine
        while True:
            self._read(0)
            data_wait = self._turn_engine()
            now = time.monotonic()
            if engine.take_finished():  # (each waiting thread looks at its own calls)
                self._turn.notify_all()
            if done():
                return
            self._read(min(engine.wakeup(now), data_wait))

    def _reopen_link(self, i: int) -> None:
        for old in (self._socks[i], self._monitors[i]):
            self._poller.unregister(old)
        _close_all([self._socks[i]], [self._monitors[i]], linger=0)
        self._socks[i], self._monitors[i] = self._link(self.endpoints[i])
        self._poller.register(self._socks[i], zmq.POLLIN)
        self._poller.register(self._monitors[i], zmq.POLLIN)

    def _watch_data(self, key: DataKey, monitor: Any) -> None:
        self._poller.register(monitor, zmq.POLLIN)

    def _unwatch_data(self, key: DataKey, monitor: Any) -> None:
        self._poller.unregister(monitor)

    def _read(self, timeout: float) -> None:
        """Waits up to `timeout` seconds for messages and connection events (the lock released
        meanwhile), and hands them over."""
        ms = int(timeout * 1000 + 0.999)
        if ms > 0:
            self._polling = True
            self._turn.release()
            try:
                events = dict(self._poller.poll(ms))
            finally:
                self._turn.acquire()
                self._polling = False
            self._check_open()
        else:
            events = dict(self._poller.poll(0))
        if not events:
            return
        if self._waker.read_fd in events:
            self._waker.drain()
        for key, m in self._data_monitors.items():
            while m in events:
                try:
                    self._data_event(key, m.recv_multipart(flags=zmq.NOBLOCK))
                except zmq.Again:
                    break
        now = time.monotonic()
        for i, m in enumerate(self._monitors):
            if m in events:
                while True:
                    try:
                        msg = m.recv_multipart(flags=zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self._monitor_event(i, msg, now)
        for i, s in enumerate(self._socks):
            if s in events:
                while True:
                    try:
                        frames = s.recv_multipart(flags=zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break
                    self._engine.received(i, frames, now)

    def _monitor_event(self, i: int, msg: List[bytes], now: float) -> None:
        self._link_event(i, msg, now)
