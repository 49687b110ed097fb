"""The client's state machine, free of sockets and clocks (the sync and asyncio clients are shells
around it that move frames and tell it the time).

It spreads calls over endpoints (the one with fewest calls outstanding, in turn), watches each
endpoint it waits on (a `status` ping after `heartbeat` seconds of silence, the endpoint counted
dead after `liveness` silent intervals, or at once when its connection drops), moves a dead
endpoint's calls to the others with the same request id, retries `busy` and `shutting_down` with
exponential back-off, and ends every call by its deadline. A ping answered by a coordinator with
no worker is logged (a warning on the "script_cluster" logger, once until it has one): its calls
wait for a worker until their deadline, which looked like a hang.
"""

from __future__ import annotations

import itertools
import logging
import math
import random
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Set, Tuple

import msgpack

from .errors import (RETRYABLE_CODES, BadReply, ConnectionRefused, ScriptClusterError, ShuttingDown, Timeout, Unavailable,
                     error_for_code)

PROTOCOL_VERSION = 1

_log = logging.getLogger("script_cluster")


#: Why a coordinator refused this client at the handshake, when its key is not on the list.
_KEY_REFUSED = "refused this client's CURVE key (not on the coordinator's --curve-clients list, or the wrong --curve-server-key)"


@dataclass
class Policy:
    heartbeat: float = 1.0
    liveness: int = 3
    backoff_initial: float = 0.05
    backoff_max: float = 2.0
    #: How long past a call's deadline to wait for the coordinator's own `timeout` reply.
    grace: float = 1.0
    #: Attempts a call may make (None: as many as its deadline allows).
    max_attempts: Optional[int] = None
    #: Bytes a second a send is assumed to take at least: silence is only counted once a large
    #: message has had time to arrive.
    transfer_rate: float = 100e6


@dataclass
class Call:
    id: str
    kind: str  # "prune" or "status"
    fields: Dict[str, Any]
    tensors: List[Any]
    timeout: float  # seconds from when the call is added
    nbytes: int = 0
    pinned: Optional[int] = None  # an endpoint index the call may only go to
    send_deadline_ms: bool = False  # put the time left into `deadline_ms` on every attempt
    # state
    deadline: float = 0.0
    state: str = "waiting"  # waiting, sent, done
    endpoint: Optional[int] = None
    last_endpoint: Optional[int] = None
    attempts: int = 0
    next_try: float = 0.0
    last_error: Optional[ScriptClusterError] = None
    outcome: Any = None  # (envelope, frames, endpoint index) or a ScriptClusterError
    context: Any = None  # the shell's


@dataclass
class Endpoint:
    address: str
    connected: bool = False
    down_until: float = 0.0
    failures: int = 0
    last_heard: float = -math.inf
    quiet_from: float = -math.inf
    ping_id: Optional[str] = None
    ping_sent: float = -math.inf
    outstanding: Set[str] = field(default_factory=set)
    blocked: int = 0  # sends refused in a row (no connection yet, or the queue full)
    refused: str = ""  # why its handshake refused this client, if it did (until a handshake succeeds)
    refusals: int = 0  # refusals in a row
    retry_at: float = math.inf  # when a refused endpoint may get a fresh connection
    retrying: bool = False  # a fresh connection after a refusal, its handshake not done yet
    stale: bool = False  # silent past its liveness: its connection is to be replaced
    ever_up: bool = False  # a handshake completed once
    took_connection: bool = False  # a connection was made (its handshake may not have finished)
    failed_connects: int = 0  # attempts to connect that failed
    workerless: bool = False  # its last ping answer said it had no worker (logged once)

    def trouble(self) -> str:
        """Why it never came up, for an error ("" when it was up, or nothing was seen)."""
        if self.ever_up:
            return ""
        if self.took_connection:
            return ("its port takes connections, but no ZeroMQ handshake finished: not a coordinator's "
                    "frontend, a coordinator that is stopped, or a proxy with nothing behind it")
        if self.failed_connects:
            return (f"{self.failed_connects} failed attempts: is a coordinator listening there, "
                    "and does its name resolve from here?")
        return ""


Send = Tuple[int, List[Any], Optional[str]]


@dataclass
class Placement:
    """A `placement` reply: send shard `shard` of `call` to the worker's data socket at
    `endpoint`, filed there under `ticket` (over CURVE with `server_key` when given); the
    worker reads the shared memory of processes of scope `shared_memory` ([PID namespace, user])
    in place, where it says one."""

    call: Call
    shard: int
    endpoint: str
    ticket: bytes
    server_key: Optional[str]
    shared_memory: Optional[List[int]] = None


class Engine:
    def __init__(self, addresses: List[str], policy: Policy, rng: Optional[random.Random] = None) -> None:
        if not addresses:
            raise ValueError("at least one endpoint is needed")
        self.policy = policy
        self.endpoints = [Endpoint(a) for a in addresses]
        self.calls: Dict[str, Call] = {}
        self.finished: List[Call] = []
        self.placements: List[Placement] = []
        self._cancels: List[Tuple[int, List[Any]]] = []
        self._turn = 0
        self._looked = math.inf  # when `poll` last ran
        self._paused = 0.0  # pauses found since `take_pause`
        self._pings = itertools.count()
        self._rng = rng or random.Random()

    # -- calls ---------------------------------------------------------------------------------

    def add(self, call: Call, now: float) -> None:
        if call.id in self.calls:
            raise ValueError(f"request id {call.id} is already in flight on this client")
        call.deadline = now + call.timeout
        call.next_try = now
        call.state = "waiting"
        self.calls[call.id] = call

    def cancel(self, call_id: str) -> None:
        """The caller stops waiting for a call: it ends, and the coordinators are told (`cancel`)."""
        call = self.calls.pop(call_id, None)
        if call is not None:
            self._give_up(call)
            self._detach(call)
            call.state = "done"

    def take_cancels(self) -> List[Tuple[int, List[Any]]]:
        """`cancel` messages to send (endpoint, frames), for calls given up after they were sent."""
        out, self._cancels = self._cancels, []
        return out

    def _give_up(self, call: Call) -> None:
        """Tells every coordinator a call was sent to at all that it is given up (each does
        nothing for an id it does not hold): the cluster stops working on it."""
        if call.kind != "prune" or call.attempts == 0:
            return
        frames = [b"", msgpack.packb({"v": PROTOCOL_VERSION, "type": "cancel", "id": call.id})]
        self._cancels += [(i, frames) for i in range(len(self.endpoints))]

    def take_finished(self) -> List[Call]:
        done, self.finished = self.finished, []
        return done

    def take_placements(self) -> List[Placement]:
        """Placements received for calls still in flight, for the shell to carry out."""
        placed, self.placements = [c for c in self.placements if c.call.state != "done"], []
        return placed

    def fail(self, call_id: str, error: ScriptClusterError) -> None:
        """Ends a call with the shell's error (a placement it cannot carry out), and gives it up."""
        call = self.calls.get(call_id)
        if call is not None:
            self._give_up(call)
            self._finish(call, error)

    def avoid(self, call_id: str, endpoints: Set[str], now: float) -> Optional[Tuple[int, List[Any]]]:
        """The shell cannot reach these workers' data endpoints: the call names them in `avoid`
        from now on, and one already sent goes again now (the same id, to the same coordinator,
        not an attempt), so that its shards move: the endpoint and frames to send, if so."""
        call = self.calls.get(call_id)
        if call is None:
            return None
        call.fields = dict(call.fields, avoid=sorted(set(call.fields.get("avoid", ())) | endpoints))
        if call.state != "sent" or call.endpoint is None:
            return None
        return call.endpoint, self._frames(call, now)

    def _finish(self, call: Call, outcome: Any) -> None:
        self._detach(call)
        call.state = "done"
        call.outcome = outcome
        self.calls.pop(call.id, None)
        self.finished.append(call)

    def _detach(self, call: Call) -> None:
        if call.endpoint is not None:
            self.endpoints[call.endpoint].outstanding.discard(call.id)
            call.last_endpoint = call.endpoint
            call.endpoint = None

    def _requeue(self, call: Call, at: float, error: ScriptClusterError) -> None:
        """Back to waiting, for another attempt at `at` (or the end, when the deadline or the
        attempt limit says so)."""
        self._detach(call)
        call.last_error = error
        limit = self.policy.max_attempts
        if (limit is not None and call.attempts >= limit) or at >= call.deadline:
            self._finish(call, error)
            return
        call.state = "waiting"
        call.next_try = at

    def backoff(self, attempt: int) -> float:
        base = min(self.policy.backoff_max, self.policy.backoff_initial * 2 ** max(0, attempt - 1))
        return base * (0.5 + 0.5 * self._rng.random())

    # -- endpoints -----------------------------------------------------------------------------

    def _sendable(self, i: int, now: float) -> bool:
        e = self.endpoints[i]
        return e.connected and now >= e.down_until

    def _choose(self, call: Call, now: float) -> Optional[int]:
        n = len(self.endpoints)
        if call.pinned is not None:
            return call.pinned if self._sendable(call.pinned, now) else None
        candidates = [i for i in range(n) if self._sendable(i, now)]
        if not candidates:
            return None
        turn = self._turn
        best = min(candidates, key=lambda i: (i == call.last_endpoint and len(candidates) > 1,
                                              len(self.endpoints[i].outstanding), (i - turn) % n))
        self._turn = (best + 1) % n
        return best

    def connected(self, i: int, now: float) -> None:
        """A connection (a handshake) to endpoint `i` completed: a new peer, up from now."""
        e = self.endpoints[i]
        e.connected = e.ever_up = True
        e.refused = ""
        e.refusals, e.retry_at, e.retrying = 0, math.inf, False
        e.down_until = 0.0
        e.blocked = 0
        e.last_heard = now

    def connection_made(self, i: int) -> None:
        """A connection to endpoint `i` was made; its handshake comes next (for errors that say
        why no coordinator came up)."""
        self.endpoints[i].took_connection = True

    def connect_failed(self, i: int) -> None:
        """An attempt to connect to endpoint `i` failed (nothing listens, or the name does not
        resolve); libzmq tries again."""
        self.endpoints[i].failed_connects += 1

    def disconnected(self, i: int, now: float) -> None:
        """Endpoint `i`'s connection dropped: its calls go elsewhere now, with the same ids."""
        e = self.endpoints[i]
        e.connected = False
        e.failures += 1
        self._abandon(i, now, f"{e.address} dropped the connection")

    def refused(self, i: int, now: float, why: str = _KEY_REFUSED) -> None:
        """Endpoint `i` refused this client at the handshake (`why`: our CURVE key, or CURVE
        spoken on one side only): its calls go elsewhere; when every endpoint has refused, every
        call ends now with `ConnectionRefused` rather than at its deadline. libzmq does not try
        a refused connection again: after a back-off, `take_reopens` has the shell open a fresh
        one (the coordinator may take this client now: a key added, CURVE turned on or off)."""
        e = self.endpoints[i]
        e.connected = False
        e.refused = why
        e.refusals += 1
        e.retry_at, e.retrying = now + self.backoff(e.refusals), False
        self._abandon(i, now, f"{e.address} {why}")
        self._refuse_all_if_none_left()

    def take_reopens(self, now: float) -> List[int]:
        """Endpoints the shell gives a fresh connection, whose handshake calls then wait for:
        one silent past its liveness (a coordinator whose host died leaves a connection that is
        never closed, so ZeroMQ never makes another, while its address may lead elsewhere now),
        and, while a call waits, a refused one whose back-off is over (its calls no longer end
        at once)."""
        waiting = any(c.state == "waiting" for c in self.calls.values())
        due = [i for i, e in enumerate(self.endpoints)
               if e.stale or (waiting and e.refused and not e.retrying and now >= e.retry_at)]
        for i in due:
            e = self.endpoints[i]
            e.retrying = bool(e.refused)
            e.stale = e.connected = False
        return due

    def _refuse_all_if_none_left(self) -> None:
        if not all(e.refused and not e.retrying for e in self.endpoints):
            return
        reasons: Dict[str, List[str]] = {}
        for e in self.endpoints:
            reasons.setdefault(e.refused, []).append(e.address)
        message = "; ".join(f"{', '.join(where)} {why}" for why, where in reasons.items())
        for call in list(self.calls.values()):
            self._finish(call, ConnectionRefused(message, request_id=call.id,
                                                 endpoint=self.endpoints[call.last_endpoint or 0].address))

    def _abandon(self, i: int, now: float, why: str) -> None:
        e = self.endpoints[i]
        e.ping_id = None
        for cid in list(e.outstanding):
            call = self.calls[cid]
            err = Unavailable(f"{why}; no other coordinator answered before the deadline", request_id=cid,
                              endpoint=e.address)
            self._requeue(call, now, err)
        e.outstanding.clear()

    # -- the shell's inputs --------------------------------------------------------------------

    def poll(self, now: float) -> List[Send]:
        """Everything due at `now`: calls' ends, liveness, and the frames to send."""
        self._resumed(now)
        self._deadlines(now)
        self._refuse_all_if_none_left()
        sends: List[Send] = []
        self._liveness(now, sends)
        for call in list(self.calls.values()):
            if call.state != "waiting" or call.next_try > now:
                continue
            i = self._choose(call, now)
            if i is None:
                continue
            e = self.endpoints[i]
            call.state = "sent"
            call.endpoint = i
            call.attempts += 1
            if not e.outstanding:
                e.quiet_from = max(e.quiet_from, now)
            e.outstanding.add(call.id)
            e.quiet_from = max(e.quiet_from, now) + call.nbytes / self.policy.transfer_rate
            sends.append((i, self._frames(call, now), call.id))
        return sends

    def send_failed(self, i: int, call_id: Optional[str], now: float) -> None:
        """A send found no connection ready (or a full queue): not an attempt; try again shortly."""
        e = self.endpoints[i]
        e.blocked += 1
        e.down_until = now + min(0.5, 0.002 * 2 ** min(e.blocked, 8))
        if call_id is None:
            e.ping_id = None
            return
        call = self.calls.get(call_id)
        if call is not None and call.state == "sent" and call.endpoint == i:
            self._detach(call)
            call.attempts -= 1
            call.state = "waiting"
            call.next_try = now

    def received(self, i: int, frames: List[Any], now: float) -> None:
        """A message from endpoint `i` (frames as received, the delimiter first)."""
        e = self.endpoints[i]
        e.last_heard = now
        e.blocked = 0
        if e.down_until > now and e.connected:
            e.down_until = 0.0
        if len(frames) < 2 or len(_bytes(frames[0])) != 0:
            return
        try:
            env = msgpack.unpackb(_bytes(frames[1]), raw=False)
        except Exception:
            return
        if not isinstance(env, dict) or not isinstance(env.get("id"), str):
            return
        rid = env["id"]
        if rid == e.ping_id:
            e.ping_id = None
            e.failures = 0
            self._note_workers(e, env.get("workers"))
            return
        call = self.calls.get(rid)
        if call is None or call.state == "done":
            return  # a late or duplicate answer (a retried id answered twice)
        if env.get("v") != PROTOCOL_VERSION:
            self._finish(call, BadReply(f"reply of protocol version {env.get('v')!r}, this client speaks 1",
                                        request_id=rid, endpoint=e.address))
            return
        kind = env.get("type")
        if kind == "error":
            code, message = env.get("code"), env.get("message")
            if not isinstance(code, str) or not isinstance(message, str):
                self._finish(call, BadReply(f"error reply without code or message: {env!r}", request_id=rid,
                                            endpoint=e.address))
                return
            err = error_for_code(code, message, request_id=rid, endpoint=e.address)
            if code in RETRYABLE_CODES:
                if call.endpoint != i:
                    return  # the call has moved on from this endpoint
                if code == "shutting_down":
                    e.down_until = now + self.policy.backoff_max
                    self._requeue(call, now, err)
                else:
                    self._requeue(call, now + self.backoff(call.attempts), err)
                return
            self._finish(call, err)
            return
        if kind == "placement" and call.kind == "prune":
            self._placed(call, env, e.address)
            return
        expected = "result" if call.kind == "prune" else "status"
        if kind != expected:
            self._finish(call, BadReply(f"a {call.kind} request got a reply of type {kind!r}", request_id=rid,
                                        endpoint=e.address))
            return
        e.failures = 0
        if kind == "status":
            self._note_workers(e, env.get("workers"))
        self._finish(call, (env, frames, i))

    def _note_workers(self, e: Endpoint, workers: Any) -> None:
        """Warns when `e` says it has no worker while requests wait on it (once, until it has one;
        a `status` asked with none waiting is its caller's to read, and is not said again)."""
        if not isinstance(workers, int) or isinstance(workers, bool):
            return
        waiting = any(c in self.calls and self.calls[c].kind == "prune" for c in e.outstanding)
        if workers == 0 and not e.workerless and waiting:
            _log.warning("%s has no worker: its requests wait for one until their deadline", e.address)
        e.workerless = workers == 0

    def _placed(self, call: Call, env: Dict[str, Any], address: str) -> None:
        shard, endpoint, ticket, key = env.get("shard"), env.get("endpoint"), env.get("ticket"), env.get("server_key")
        scope = env.get("shared_memory")
        if isinstance(shard, bool) or not isinstance(shard, int) or shard < 0 or not isinstance(endpoint, str) \
                or not endpoint or not isinstance(ticket, bytes) or len(ticket) != 16 \
                or not (key is None or (isinstance(key, str) and len(key) == 40)) \
                or not (scope is None or _is_scope(scope)):
            self._finish(call, BadReply(f"a placement that breaks the protocol: {env!r}", request_id=call.id,
                                        endpoint=address))
            return
        self.placements.append(Placement(call, shard, endpoint, ticket, key, scope))

    # -- time ----------------------------------------------------------------------------------

    def _deadlines(self, now: float) -> None:
        for call in list(self.calls.values()):
            if call.state == "waiting" and now >= call.deadline:
                err = call.last_error
                if err is None:
                    names = ", ".join(self._named(self.endpoints[j]) for j in
                                      ([call.pinned] if call.pinned is not None else range(len(self.endpoints))))
                    err = Unavailable(f"no coordinator could be reached within {call.timeout:g} s ({names})",
                                      request_id=call.id)
                self._finish(call, err)
            elif call.state == "sent" and now >= call.deadline + self.policy.grace:
                e = self.endpoints[call.endpoint] if call.endpoint is not None else None
                self._finish(call, Timeout(f"no reply within the deadline of {call.timeout:g} s "
                                           f"(attempt {call.attempts})", request_id=call.id,
                                           endpoint=e.address if e else None))

    @staticmethod
    def _named(e: Endpoint) -> str:
        """An endpoint's address, with why it never came up when that is known."""
        why = e.trouble()
        return f"{e.address}: {why}" if why else e.address

    def _resumed(self, now: float) -> None:
        """Counts none of the time the shell did not look as a coordinator's silence: its process
        was stopped, or its thread or event loop held by other work, so what came meanwhile waits
        unread and no pings went out. While calls wait the shell looks within a heartbeat (see
        `wakeup`), so a look later than two heartbeats is such a pause; deadlines still count it."""
        gap, self._looked = now - self._looked, now
        if gap <= 2 * self.policy.heartbeat:
            return
        self._paused += gap
        for e in self.endpoints:
            e.last_heard = min(now, max(e.last_heard, e.quiet_from) + gap)

    def take_pause(self) -> float:
        """Seconds of the shell's pauses `poll` found since the last call (for the shell's own
        clocks: a data socket's time to connect)."""
        paused, self._paused = self._paused, 0.0
        return paused

    def _silence(self, e: Endpoint, now: float) -> float:
        return now - max(e.last_heard, e.quiet_from)

    def _liveness(self, now: float, sends: List[Send]) -> None:
        hb = self.policy.heartbeat
        for i, e in enumerate(self.endpoints):
            if not e.outstanding:
                continue
            silent = self._silence(e, now)
            if silent >= hb * self.policy.liveness:
                e.down_until = now + self.backoff(e.failures + 1) + hb
                e.failures += 1
                e.stale = True
                self._abandon(i, now, f"{e.address} stopped answering ({silent:.1f} s silent)")
            elif silent >= hb and now - e.ping_sent >= hb:
                e.ping_id = f"ping-{next(self._pings)}-{self._rng.getrandbits(32):08x}"
                e.ping_sent = now
                sends.append((i, [b"", msgpack.packb({"v": PROTOCOL_VERSION, "type": "status", "id": e.ping_id})],
                              None))

    def wakeup(self, now: float) -> float:
        """Seconds until something falls due (capped, so that the shell looks again). Meant to be
        asked right after `poll`: a waiting call already due is one no endpoint can take now, and
        waits for a connection (an event the shell wakes up for) or an endpoint's back-off."""
        if not self.calls:
            return 1.0
        t = now + 1.0
        any_waiting = False
        for call in self.calls.values():
            if call.state == "waiting":
                any_waiting = True
                if call.next_try > now:
                    t = min(t, call.next_try)
                t = min(t, call.deadline)
            elif call.state == "sent":
                t = min(t, call.deadline + self.policy.grace)
        hb = self.policy.heartbeat
        for e in self.endpoints:
            if e.outstanding:
                quiet = max(e.last_heard, e.quiet_from)
                t = min(t, max(quiet, e.ping_sent) + hb, quiet + hb * self.policy.liveness)
            if any_waiting and e.down_until > now:
                t = min(t, e.down_until)
            if any_waiting and e.refused and not e.retrying:
                t = min(t, e.retry_at)
        if any_waiting:
            t = min(t, now + 0.1)
        return max(0.0, t - now)

    # -- frames --------------------------------------------------------------------------------

    def _frames(self, call: Call, now: float) -> List[Any]:
        fields = call.fields
        if call.send_deadline_ms:
            fields = dict(fields)
            fields["deadline_ms"] = max(1, min(3_600_000, int(math.ceil((call.deadline - now) * 1000))))
        return [b"", msgpack.packb(fields, use_bin_type=True)] + list(call.tensors)


def _bytes(frame: Any) -> bytes:
    if isinstance(frame, (bytes, bytearray)):
        return bytes(frame)
    if hasattr(frame, "bytes"):
        return frame.bytes  # a zmq.Frame
    return bytes(frame)


def _is_scope(value: Any) -> bool:
    """Whether `value` is a worker's shared-memory scope: [PID namespace, user], two integers
    not below 0."""
    return isinstance(value, list) and len(value) == 2 \
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)


__all__ = ["Engine", "Policy", "Call", "Placement", "ShuttingDown"]
