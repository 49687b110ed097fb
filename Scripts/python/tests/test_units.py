"""The parts that need no cluster: the engine's retry and failover decisions on a fake clock, wire
forms of numpy arrays, layouts, reply parsing, errors."""

from __future__ import annotations

import math
import os
import pickle
import random
import subprocess
import time
import sys

import msgpack
import numpy as np
import pytest

import script_cluster as sc
from script_cluster import request as rq
from script_cluster import tensors
from script_cluster._engine import Call, Engine, Placement, Policy
from script_cluster.errors import error_for_code
from script_cluster.layout import Layout


def reply(rid, kind="result", **fields):
    env = {"v": 1, "type": kind, "id": rid}
    env.update(fields)
    return [b"", msgpack.packb(env)]


def result_fields(**extra):
    f = {"indices": [1, 2], "budget": 2, "n": 4, "shards": 1, "workers": ["w"], "timings_ms": {"total": 1.0}}
    f.update(extra)
    return f


def make_call(rid="r1", timeout=10.0, nbytes=0):
    return Call(id=rid, kind="prune", fields={"v": 1, "type": "prune", "id": rid}, tensors=[b"T"], timeout=timeout,
                nbytes=nbytes, send_deadline_ms=True)


def engine(n=2, **policy):
    e = Engine([f"tcp://e{i}" for i in range(n)], Policy(**policy), rng=random.Random(1))
    for i in range(n):
        e.connected(i, 0.0)
    return e


def sent_ids(sends):
    return [(i, msgpack.unpackb(frames[1])["id"]) for i, frames, _ in sends if msgpack.unpackb(frames[1])["type"] == "prune"]


def test_calls_spread_over_endpoints_by_outstanding_count():
    e = engine(3)
    for k in range(6):
        e.add(make_call(f"r{k}"), 0.0)
    sends = e.poll(0.0)
    assert sorted(i for i, _ in sent_ids(sends)) == [0, 0, 1, 1, 2, 2]


def test_deadline_ms_is_the_time_left_on_each_attempt():
    e = engine(1)
    e.add(make_call("r", timeout=10.0), 0.0)
    first = msgpack.unpackb(e.poll(0.0)[0][1][1])
    assert first["deadline_ms"] == 10000
    e.received(0, reply("r", "error", code="busy", message="full"), 4.0)
    again = e.poll(5.0)
    assert msgpack.unpackb(again[0][1][1])["deadline_ms"] == 5000


def test_busy_is_retried_with_the_same_id_and_backoff_until_the_deadline():
    e = engine(1, backoff_initial=0.1, backoff_max=0.4)
    e.add(make_call("r", timeout=2.0), 0.0)
    now, attempts, gaps = 0.0, 0, []
    last = None
    while "r" in e.calls:
        for i, rid in sent_ids(e.poll(now)):
            assert rid == "r"
            attempts += 1
            if last is not None:
                gaps.append(now - last)
            last = now
            e.received(i, reply("r", "error", code="busy", message="full"), now)
        now = round(now + 0.01, 2)
    (call,) = e.take_finished()
    assert isinstance(call.outcome, sc.Busy) and call.outcome.code == "busy"
    assert call.attempts == attempts >= 6
    assert 0.04 <= gaps[0] <= 0.11 and all(0.19 <= g <= 0.41 for g in gaps[3:])  # doubling, capped
    assert now <= 2.02  # ended by its deadline


def test_a_retry_goes_to_another_endpoint_than_its_last_even_a_busier_one():
    e = engine(2, backoff_initial=0.1)
    e.add(make_call("r0"), 0.0)
    e.add(make_call("r1"), 0.0)
    first = dict((rid, i) for i, rid in sent_ids(e.poll(0.0)))
    assert sorted(first.values()) == [0, 1]
    e.received(first["r0"], reply("r0", "error", code="busy", message="full"), 0.0)
    again = sent_ids(e.poll(0.2))
    assert again == [(first["r1"], "r0")]  # r1 still waits there, yet r0 does not go back


def test_max_attempts_bounds_retries():
    e = engine(1, max_attempts=2)
    e.add(make_call("r"), 0.0)
    now = 0.0
    while "r" in e.calls:
        for i, rid in sent_ids(e.poll(now)):
            e.received(i, reply(rid, "error", code="busy", message="full"), now)
        now += 0.05
    (call,) = e.take_finished()
    assert call.attempts == 2 and isinstance(call.outcome, sc.Busy)


def test_disconnect_moves_calls_to_the_other_endpoint_with_their_ids():
    e = engine(2)
    for k in range(4):
        e.add(make_call(f"r{k}"), 0.0)
    first = sent_ids(e.poll(0.0))
    on0 = sorted(rid for i, rid in first if i == 0)
    e.disconnected(0, 0.5)
    moved = sent_ids(e.poll(0.5))
    assert sorted(rid for _, rid in moved) == on0 and all(i == 1 for i, _ in moved)
    for rid in on0:
        assert e.calls[rid].attempts == 2
    # A late answer from the dead endpoint still counts; the survivor's later one is ignored.
    e.received(0, reply(on0[0], **result_fields()), 0.6)
    e.received(1, reply(on0[0], **result_fields(indices=[0, 3])), 0.7)
    done = e.take_finished()
    assert [c.id for c in done] == [on0[0]] and done[0].outcome[0]["indices"] == [1, 2]


def test_a_refused_key_moves_calls_and_ends_them_when_every_endpoint_refused():
    e = engine(2)
    for k in range(4):
        e.add(make_call(f"r{k}"), 0.0)
    on0 = sorted(rid for i, rid in sent_ids(e.poll(0.0)) if i == 0)
    e.refused(0, 0.1)
    moved = sent_ids(e.poll(0.1))
    assert sorted(rid for _, rid in moved) == on0 and all(i == 1 for i, _ in moved)
    assert not e.take_finished()
    e.refused(1, 0.2)
    done = e.take_finished()
    assert sorted(c.id for c in done) == ["r0", "r1", "r2", "r3"]
    assert all(isinstance(c.outcome, sc.ConnectionRefused) for c in done)
    # A call added later ends at once too; a handshake that succeeds again clears the refusal.
    e.add(make_call("late"), 0.3)
    e.poll(0.3)
    assert [c.id for c in e.take_finished()] == ["late"]
    e.connected(1, 0.4)
    e.add(make_call("after"), 0.4)
    assert sent_ids(e.poll(0.4)) == [(1, "after")]


def test_a_refused_endpoint_is_tried_afresh_after_its_back_off_while_a_call_waits():
    """libzmq does not try a refused connection again: once its back-off (doubling) is over and a
    call waits, the shell is told to open a fresh one, and the call waits for its handshake
    instead of ending at once; a refusal ends it, a handshake sends it."""
    e = engine(1, backoff_initial=0.1, backoff_max=0.4)
    e.refused(0, 0.0)
    assert e.take_reopens(5.0) == [], "no call waits: no fresh connection"
    e.add(make_call("a"), 0.01)
    assert e.take_reopens(0.01) == [] and e.poll(0.01) == []
    assert [c.id for c in e.take_finished()] == ["a"], "within the back-off a call ends at once"
    e.add(make_call("b"), 0.2)
    assert e.take_reopens(0.2) == [0] and e.take_reopens(0.2) == []
    assert e.poll(0.2) == [] and e.take_finished() == [], "b waits for the fresh handshake"
    e.refused(0, 0.25)
    (b,) = e.take_finished()
    assert isinstance(b.outcome, sc.ConnectionRefused)
    assert 0.25 + 0.1 <= e.endpoints[0].retry_at <= 0.25 + 0.2, "the second back-off is twice the first"
    e.add(make_call("c"), 0.5)
    assert e.take_reopens(0.5) == [0]
    e.connected(0, 0.6)
    assert sent_ids(e.poll(0.6)) == [(0, "c")] and e.endpoints[0].refusals == 0
    # With another endpoint merely down, a waiting call wakes the shell when the back-off ends.
    e = engine(2, backoff_initial=0.1, backoff_max=0.4)
    e.disconnected(1, 0.0)
    e.refused(0, 0.0)
    e.add(make_call("d"), 0.0)
    e.poll(0.0)
    assert e.take_finished() == [] and e.wakeup(0.0) == pytest.approx(e.endpoints[0].retry_at)


def test_silence_brings_pings_then_failover():
    e = engine(2, heartbeat=1.0, liveness=3)
    e.add(make_call("r"), 0.0)
    ((i, _),) = sent_ids(e.poll(0.0))
    pings = [s for s in e.poll(1.0) if s[2] is None]
    assert len(pings) == 1 and pings[0][0] == i
    ping = msgpack.unpackb(pings[0][1][1])
    assert ping["type"] == "status"
    assert not [s for s in e.poll(1.5) if s[2] is None]  # one ping a heartbeat
    # An answered ping keeps the endpoint alive.
    e.received(i, reply(ping["id"], "status", workers=1, queued_shards=0, requests_in_flight=1, served=0, failed=0), 1.6)
    assert sent_ids(e.poll(3.5)) == []
    # Silence for `liveness` heartbeats: the call goes to the other endpoint.
    moved = sent_ids(e.poll(4.7))
    assert moved == [(1 - i, "r")]
    assert e.wakeup(4.7) > 0
    # The silent one's connection is replaced (one to a host that died is never closed), once:
    # nothing goes there until the fresh one's handshake.
    assert e.take_reopens(4.7) == [i] and e.take_reopens(4.8) == []
    assert not e.endpoints[i].connected and not e.endpoints[i].refused
    e.connected(i, 5.0)
    e.add(make_call("s"), 5.0)
    assert sent_ids(e.poll(5.0)) == [(i, "s")]


def test_a_coordinator_without_workers_is_said_once_until_it_has_one(caplog):
    """Its calls wait for a worker until their deadline: the ping's answer says so, as a warning,
    once (not at every ping), and again only after it had a worker and lost it."""
    e = engine(1, heartbeat=1.0, liveness=3)
    e.add(make_call("r", timeout=60.0), 0.0)
    e.poll(0.0)

    def answer(now, workers):
        (ping,) = [msgpack.unpackb(frames[1]) for _, frames, cid in e.poll(now) if cid is None]
        e.received(0, reply(ping["id"], "status", workers=workers, queued_shards=1, requests_in_flight=1, served=0,
                            failed=0), now)

    with caplog.at_level("WARNING", logger="script_cluster"):
        for now, workers in [(1.0, 0), (2.0, 0), (3.0, 0), (4.0, 1), (5.0, 0)]:
            answer(now, workers)
    said = [r.getMessage() for r in caplog.records if r.name == "script_cluster"]
    assert said == ["tcp://e0 has no worker: its requests wait for one until their deadline"] * 2


def test_a_pause_of_the_client_is_not_its_coordinators_silence():
    """The shell did not look for 10 heartbeats (its process stopped, its event loop held): no pings
    went out and nothing was read, so the pause is not the coordinators' silence (the call stays);
    silence after it is counted as before, and deadlines count the pause."""
    e = engine(2, heartbeat=1.0, liveness=3)
    e.add(make_call("r", timeout=60.0), 0.0)
    e.add(make_call("d", timeout=8.0), 0.0)
    assert sorted(sent_ids(e.poll(0.0))) == [(0, "r"), (1, "d")]
    for i, frames, _ in e.poll(1.0):
        ping = msgpack.unpackb(frames[1])
        e.received(i, reply(ping["id"], "status", workers=1, queued_shards=0, requests_in_flight=1, served=0, failed=0), 1.1)
    assert sent_ids(e.poll(11.0)) == [] and e.take_reopens(11.0) == []
    (ended,) = e.take_finished()
    assert ended.id == "d" and isinstance(ended.outcome, sc.Timeout)
    assert e.calls["r"].state == "sent" and e.calls["r"].attempts == 1
    assert [s[0] for s in e.poll(12.0)] == [0]  # pinged, and silent from here on
    e.poll(13.0)
    assert sent_ids(e.poll(13.5)) == []
    assert sent_ids(e.poll(14.2)) == [(1, "r")]


def test_a_large_send_is_given_time_to_arrive():
    e = engine(1, heartbeat=1.0, liveness=3, transfer_rate=1e6)
    e.add(make_call("r", nbytes=5_000_000), 0.0)  # 5 s at the assumed rate
    e.poll(0.0)
    assert e.wakeup(0.0) <= 1.0
    for t in (1.0, 2.0, 3.0, 4.0, 5.0, 5.5):  # the shell looks at least once a second
        assert [s for s in e.poll(t) if s[2] is None] == []
    assert [s for s in e.poll(6.1) if s[2] is None]


def test_shutting_down_sends_the_call_elsewhere_at_once():
    e = engine(2)
    e.add(make_call("r"), 0.0)
    ((i, _),) = sent_ids(e.poll(0.0))
    e.received(i, reply("r", "error", code="shutting_down", message="draining"), 0.1)
    assert sent_ids(e.poll(0.1)) == [(1 - i, "r")]
    e.add(make_call("s"), 0.2)
    assert sent_ids(e.poll(0.2)) == [(1 - i, "s")]  # the draining one is avoided


def test_final_errors_and_timeouts():
    e = engine(1, grace=0.5)
    e.add(make_call("bad"), 0.0)
    e.add(make_call("slow", timeout=1.0), 0.0)
    e.poll(0.0)
    e.received(0, reply("bad", "error", code="bad_budget", message="budget 0"), 0.1)
    e.received(0, reply("bad", "error", code="internal", message="late duplicate"), 0.2)
    (bad,) = e.take_finished()
    assert isinstance(bad.outcome, sc.BadBudget) and bad.outcome.message == "budget 0"
    e.poll(1.4)
    assert e.take_finished() == []
    e.poll(1.5)
    (slow,) = e.take_finished()
    assert isinstance(slow.outcome, sc.Timeout) and not isinstance(slow.outcome, sc.Unavailable)


def test_no_connection_is_unavailable_at_the_deadline():
    e = Engine(["tcp://a"], Policy())
    e.add(make_call("r", timeout=1.0), 0.0)
    assert e.poll(0.0) == [] and 0 < e.wakeup(0.0) <= 0.1
    e.poll(1.0)
    (call,) = e.take_finished()
    assert isinstance(call.outcome, sc.Unavailable) and "tcp://a" in call.outcome.message


def test_unavailable_says_what_each_endpoint_that_never_came_up_saw():
    e = Engine(["tcp://a", "tcp://b", "tcp://c", "tcp://d"], Policy())
    e.connect_failed(0)
    e.connect_failed(0)
    e.connection_made(1)
    e.connected(3, 0.0)
    e.disconnected(3, 0.1)
    e.add(make_call("r", timeout=1.0), 0.0)
    e.poll(1.0)
    (call,) = e.take_finished()
    assert isinstance(call.outcome, sc.Unavailable)
    assert call.outcome.message.endswith(
        "(tcp://a: 2 failed attempts: is a coordinator listening there, and does its name resolve from here?, "
        "tcp://b: its port takes connections, but no ZeroMQ handshake finished: not a coordinator's frontend, "
        "a coordinator that is stopped, or a proxy with nothing behind it, tcp://c, tcp://d)"), call.outcome.message


def test_replies_that_break_the_protocol():
    e = engine(1)
    for rid in ("a", "b", "c", "d"):
        e.add(make_call(rid), 0.0)
    e.poll(0.0)
    e.received(0, [b"", b"\xc1"], 0.1)  # not MessagePack: no id to match, ignored
    e.received(0, [b"", msgpack.packb({"v": 2, "type": "result", "id": "a"})], 0.1)
    e.received(0, reply("b", "status", workers=1), 0.1)
    e.received(0, reply("c", "error", code=3), 0.1)
    e.received(0, reply("d", "error", code="something_new", message="m"), 0.1)
    out = {c.id: c.outcome for c in e.take_finished()}
    assert all(isinstance(out[k], sc.BadReply) for k in "abc")
    assert type(out["d"]) is sc.ScriptClusterError and out["d"].code == "something_new"


def test_send_refused_is_not_an_attempt():
    e = engine(2)
    e.add(make_call("r"), 0.0)
    ((i, _),) = sent_ids(e.poll(0.0))
    e.send_failed(i, "r", 0.0)
    assert sent_ids(e.poll(0.0)) == [(1 - i, "r")] and e.calls["r"].attempts == 1


def test_a_new_call_goes_to_the_endpoint_with_fewest_outstanding_not_the_next_in_turn():
    e = engine(2)
    for k in range(3):
        e.add(make_call(f"r{k}"), 0.0)
    first = dict((rid, i) for i, rid in sent_ids(e.poll(0.0)))
    assert sorted(first.values()) == [0, 0, 1]
    lone = next(rid for rid, i in first.items() if [j for j in first.values()].count(i) == 1)
    e.received(first[lone], reply(lone, **result_fields()), 0.1)
    e.add(make_call("r3"), 0.2)
    e.add(make_call("r4"), 0.2)
    assert [i for i, _ in sent_ids(e.poll(0.2))] == [first[lone]] * 2  # 0 and 1 outstanding there, 2 on the other


def test_a_pinned_call_waits_for_its_endpoint():
    e = engine(2)
    e.disconnected(0, 0.0)
    e.add(Call(id="s", kind="prune", fields={"v": 1, "type": "prune", "id": "s"}, tensors=[], timeout=10.0, pinned=0), 0.0)
    assert sent_ids(e.poll(0.1)) == []
    e.connected(0, 0.2)
    assert sent_ids(e.poll(0.3)) == [(0, "s")]


def test_a_busy_answer_from_where_a_call_no_longer_is_is_ignored():
    e = engine(2, backoff_initial=0.1)
    e.add(make_call("r"), 0.0)
    ((i, _),) = sent_ids(e.poll(0.0))
    e.disconnected(i, 0.1)
    assert sent_ids(e.poll(0.1)) == [(1 - i, "r")]
    e.received(i, reply("r", "error", code="busy", message="full"), 0.2)  # late, from where it was
    assert e.calls["r"].state == "sent" and e.calls["r"].endpoint == 1 - i
    assert sent_ids(e.poll(1.0)) == []


def test_a_retry_that_would_land_past_the_deadline_ends_the_call_now():
    e = engine(1, backoff_initial=5.0, backoff_max=5.0)
    e.add(make_call("r", timeout=2.0), 0.0)
    e.poll(0.0)
    e.received(0, reply("r", "error", code="busy", message="full"), 0.1)
    (call,) = e.take_finished()
    assert isinstance(call.outcome, sc.Busy)


def test_backoff_is_jittered_and_a_blocked_endpoint_waits_half_a_second_at_most():
    e = engine(1, backoff_initial=1.0, backoff_max=1.0)
    waits = [e.backoff(1) for _ in range(50)]
    assert all(0.5 <= w <= 1.0 for w in waits) and min(waits) < 0.7 and max(waits) > 0.9
    for _ in range(20):
        e.send_failed(0, None, 0.0)
    assert e.endpoints[0].down_until <= 0.5


def test_deadline_ms_rounds_the_time_left_up():
    e = engine(1)
    e.add(make_call("r", timeout=10.0), 0.0)
    assert msgpack.unpackb(e.poll(0.0004)[0][1][1])["deadline_ms"] == 10000


def _damaged_value(rng):
    return rng.choice([None, True, -1, 2 ** 64 - 1, -2 ** 63, 1.5, float("nan"), "x", b"\xff", [], [1, "2"], {"a": 1}, {1: 2},
                       [[0, 1]], {"dtype": "f32", "shape": [1, 2], "frame": 1}, [2 ** 64 - 1], [3, 1], [-1, 2],
                       {"total": "f32"}])


def test_damaged_replies_end_a_call_with_a_typed_error_never_another_exception():
    """A coordinator's reply damaged at random (a field retyped, removed or added, bytes flipped or
    cut, frames dropped): the engine and the reply parser raise nothing but the package's errors."""
    rng = random.Random(5)
    fields = dict(result_fields(), features={"dtype": "f32", "shape": [2, 2], "frame": 1})
    for k in range(3000):
        rid = f"r{k}"
        e = engine(1)
        e.add(make_call(rid), 0.0)
        e.poll(0.0)
        env = dict(fields, v=1, type="result", id=rid)
        how = rng.randrange(4)
        if how == 0:
            env[rng.choice(sorted(env) + ["extra"])] = _damaged_value(rng)
        elif how == 1:
            env.pop(rng.choice([key for key in env if key != "id"]))
        packed = bytearray(msgpack.packb(env))
        if how == 2:
            for _ in range(rng.randrange(1, 4)):
                packed[rng.randrange(len(packed))] ^= 1 << rng.randrange(8)
        frames = [b"", bytes(packed), np.arange(4, dtype="<f4").tobytes()]
        if how == 3:
            frames = frames[:rng.randrange(1, 4)] if rng.random() < 0.5 else [frames[0], frames[1][:rng.randrange(len(frames[1]))]]
        e.received(0, frames, 0.1)
        for call in e.take_finished():
            if isinstance(call.outcome, sc.ScriptClusterError):
                continue
            got_env, got_frames, _ = call.outcome
            p = rq.prepare(rq.PruneRequest(np.ones((4, 2), np.float32), 2, return_="features"), 30)
            try:
                rq.parse_result(got_env, got_frames[1:], p, "e", 1)
            except sc.ScriptClusterError:
                pass


def test_prune_many_keeps_request_order_whatever_the_completion_order(monkeypatch):
    """The engine finishes the latest call first here; results still come back in request order."""
    c = sc.Client("tcp://127.0.0.1:9")
    started = []
    monkeypatch.setattr(c, "_start", lambda call: started.append(call))

    def drive(done):
        call = started.pop()  # the newest in flight finishes first
        env = {"v": 1, "type": "result", "id": call.id, **result_fields(indices=list(range(call.fields["budget"])), n=16)}
        call.state, call.outcome, call.attempts = "done", (env, [b"", b""], 0), 1
        c._engine.finished.append(call)

    monkeypatch.setattr(c, "_drive", drive)
    x = np.ones((16, 4), np.float32)
    out = c.prune_many([{"features": x, "budget": k} for k in (5, 1, 4, 2, 3)], max_in_flight=3)
    assert [len(r.indices) for r in out] == [5, 1, 4, 2, 3]
    c.close()


# -- wire forms ------------------------------------------------------------------------------


def test_numpy_wire_forms_share_memory_where_they_can():
    x = np.arange(24, dtype=np.float32).reshape(6, 4)
    w, units, origin = tensors.to_wire(x, "features", allow_3d=True)
    assert (w.dtype, w.shape, units) == ("f32", (6, 4), None) and np.shares_memory(w.data, x)
    w, units, _ = tensors.to_wire(x.reshape(2, 3, 4), "features", allow_3d=True)
    assert units == (2, 3) and w.shape == (6, 4) and np.shares_memory(w.data, x)
    h = x.astype(np.float16)
    w, _, origin = tensors.to_wire(h, "features", allow_3d=True)
    assert w.dtype == "f16" and w.nbytes == 48 and np.shares_memory(w.data, h)
    # Copies only where the bytes must change: column order, byte order, float64.
    t = x.T
    w, _, _ = tensors.to_wire(t, "features", allow_3d=True)
    assert not np.shares_memory(w.data, x) and np.array_equal(w.data.view("<f4").reshape(4, 6), t)
    be = x.astype(">f4")
    w, _, _ = tensors.to_wire(be, "features", allow_3d=True)
    assert np.array_equal(w.data.view("<f4").reshape(6, 4), x)
    w, _, origin = tensors.to_wire(x.astype(np.float64), "features", allow_3d=True)
    assert w.dtype == "f32" and origin.numpy_dtype == np.float32
    w, _, _ = tensors.to_wire([[1.0, 2.0]], "query", allow_3d=False)
    assert w.dtype == "f32" and w.shape == (1, 2)


def test_bf16_numpy_when_ml_dtypes_is_installed():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x = np.array([[1.5, -2.0], [3.25, 0.0078125]], dtype=np.float32).astype(ml_dtypes.bfloat16)
    w, _, origin = tensors.to_wire(x, "features", allow_3d=True)
    assert w.dtype == "bf16" and w.nbytes == 8 and np.shares_memory(w.data, x)
    assert w.data.view("<u2").tolist() == [0x3FC0, 0xC000, 0x4050, 0x3C00]
    back = tensors.features_like(np.array([[1.5, -2.0]], dtype=np.float32), origin)
    assert back.dtype == x.dtype


def test_reply_tensors_are_checked():
    frames = [b"env", np.arange(6, dtype="<f4").tobytes()]
    ok = tensors.decode_frame({"dtype": "f32", "shape": [2, 3], "frame": 1}, frames, "features")
    assert ok.tolist() == [[0, 1, 2], [3, 4, 5]]
    bits = np.array([[1.0, -3.5]], dtype=np.float32).view(np.uint32) >> 16
    bf = tensors.decode_frame({"dtype": "bf16", "shape": [1, 2], "frame": 1}, [b"", bits.astype("<u2").tobytes()], "f")
    assert bf.tolist() == [[1.0, -3.5]]
    for bad in ({"dtype": "f32", "shape": [2, 2], "frame": 1}, {"dtype": "f32", "shape": [2, 3], "frame": 2},
                {"dtype": "f64", "shape": [2, 3], "frame": 1}, {"dtype": "f32", "shape": [6], "frame": 1}, [1]):
        with pytest.raises(sc.BadReply):
            tensors.decode_frame(bad, frames, "features")


def test_results_missing_fields_are_bad_replies():
    p = rq.prepare(rq.PruneRequest(np.ones((4, 2), np.float32), 2, return_="features"), 30)
    with pytest.raises(sc.BadReply):
        rq.parse_result(result_fields(), [b""], p, "e", 1)  # no features
    with pytest.raises(sc.BadReply):
        rq.parse_result(result_fields(indices=[1, "2"]), [b""], p, "e", 1)
    with pytest.raises(sc.BadReply):
        rq.parse_result({k: v for k, v in result_fields().items() if k != "n"}, [b""], p, "e", 1)


def test_prepare_builds_the_protocol_envelope():
    x = np.ones((6, 4), np.float16)
    p = rq.prepare(rq.PruneRequest(x.reshape(2, 3, 4), np.int64(3), query=np.ones((2, 4), np.float32),
                                   options={"tau": np.float32(0.25), "kmin": 2}, return_="merged",
                                   request_id="abc"), 30)
    f = p.fields
    assert f["id"] == "abc" and f["budget"] == 3 and type(f["budget"]) is int
    assert f["features"] == {"dtype": "f16", "shape": [6, 4], "frame": 1}
    assert f["query"] == {"dtype": "f32", "shape": [2, 4], "frame": 2}
    assert f["shards"] == [[0, 3], [3, 6]]
    assert f["options"] == {"method": "script", "tau": 0.25, "kmin": 2} and f["return"] == "merged"
    assert f["unit_tokens"] == 3  # a 3-D input's units, for script+
    assert set(f) <= {"v", "type", "id", "features", "embeddings", "query", "budget", "shards", "options", "return",
                      "unit_tokens"}
    assert p.nbytes == 48 + 32 and p.deadline == 30


def test_layouts():
    assert Layout.tiles(3).shards_for(12) == [(0, 4), (4, 8), (8, 12)]
    assert Layout.video(5, 2).shards_for(10) == [(0, 4), (4, 8), (8, 10)]
    assert Layout.load({"shards": [[0, 2], [2, 5]]}).shards_for(5) == [(0, 2), (2, 5)]
    assert Layout.ranges([(0, 1)]).shards_for(99) == [(0, 1)]
    for bad in (lambda: Layout.tiles(0), lambda: Layout.video(0, 1), lambda: Layout.tiles(5).shards_for(12),
                lambda: Layout.load({"units": []}), lambda: Layout.ranges([(2, 1)]), lambda: Layout.ranges("0:4"),
                lambda: Layout.ranges([(0, 1.5)])):
        with pytest.raises(sc.BadShards):
            bad()


def test_layout_units_and_unit_tokens():
    """A layout file's units give Script+ its unit size only when they are all one size; an explicit
    unit size must lie within the request."""
    same = Layout.load({"units": [[0, 3], [3, 6]], "shards": [[0, 6]]})
    assert same.unit_tokens_for(6) == 3
    mixed = Layout.load({"units": [[0, 2], [2, 6]], "shards": [[0, 6]]})
    assert mixed.unit_tokens_for(6) is None
    x = np.ones((6, 4), np.float32)
    assert rq.prepare(rq.PruneRequest(x, 2, unit_tokens=6), 30).fields["unit_tokens"] == 6
    with pytest.raises(sc.BadOption, match="unit_tokens must be an integer between 1 and the 6 tokens"):
        rq.prepare(rq.PruneRequest(x, 2, unit_tokens=7), 30)


def test_requests_checked_at_their_edges():
    """Each client-side check at the value it refuses first (the error tests sit further out)."""
    x = np.ones((6, 4), np.float32)
    with pytest.raises(sc.BadRequest, match="deadline must be between 0.001"):
        rq.prepare(rq.PruneRequest(x, 2, deadline=0.0005), 30)
    assert rq.prepare(rq.PruneRequest(x, 2, deadline=0.001), 30).deadline == 0.001
    with pytest.raises(sc.BadOption, match="give the method as method="):
        rq.prepare(rq.PruneRequest(x, 2, options={"method": "script"}), 30)
    p = rq.prepare(rq.PruneRequest(x, 2), 30)
    with pytest.raises(sc.BadReply, match="not an integer"):
        rq.parse_result(result_fields(indices=[True, 2]), [b""], p, "e", 1)
    with pytest.raises(sc.BadReply, match="names frame 0"):
        tensors.decode_frame({"dtype": "f32", "shape": [1, 1], "frame": 0}, [np.zeros(1, "<f4").tobytes()], "features")


def test_errors_by_code_and_pickling():
    for code, cls in [("busy", sc.Busy), ("timeout", sc.Timeout), ("too_large", sc.TooLarge),
                      ("shutting_down", sc.ShuttingDown), ("internal", sc.InternalError), ("shard_failed", sc.ShardFailed),
                      ("unsupported_version", sc.UnsupportedVersion), ("unknown_type", sc.UnknownType),
                      ("bad_message", sc.BadMessage), ("bad_tensor", sc.BadTensor)]:
        e = error_for_code(code, "m", request_id="r", endpoint="tcp://x")
        assert type(e) is cls and e.code == code and isinstance(e, sc.ScriptClusterError)
        again = pickle.loads(pickle.dumps(e))
        assert type(again) is cls and (again.code, again.message, again.request_id, again.endpoint) == (code, "m", "r", "tcp://x")
    assert issubclass(sc.TooLarge, sc.InvalidRequest) and issubclass(sc.Timeout, TimeoutError)
    assert not issubclass(sc.Busy, sc.InvalidRequest)


def test_the_package_needs_neither_torch_nor_ml_dtypes():
    code = ("import sys; sys.modules['torch'] = None; sys.modules['ml_dtypes'] = None\n"
            "import numpy as np, script_cluster as sc\n"
            "from script_cluster import request as rq\n"
            "p = rq.prepare(rq.PruneRequest(np.ones((4, 2), np.float16), 2), 30)\n"
            "assert p.fields['features']['dtype'] == 'f16'\n"
            "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_placements_are_handed_to_the_shell_and_bad_ones_end_the_call():
    e = engine(1)
    for rid in ("a", "b", "c"):
        e.add(make_call(rid), 0.0)
    e.poll(0.0)
    ticket = bytes(range(16))
    e.received(0, reply("a", "placement", shard=2, endpoint="tcp://w:7", ticket=ticket), 0.1)
    e.received(0, reply("a", "placement", shard=2, endpoint="tcp://v:7", ticket=ticket, server_key="k" * 40), 0.2)
    e.received(0, reply("b", "placement", shard=0, endpoint="tcp://w:7", ticket=ticket[:15]), 0.3)
    e.received(0, reply("c", "placement", shard=-1, endpoint="tcp://w:7", ticket=ticket), 0.3)
    placed = e.take_placements()
    assert [(p.call.id, p.shard, p.endpoint, p.ticket, p.server_key) for p in placed] == [
        ("a", 2, "tcp://w:7", ticket, None), ("a", 2, "tcp://v:7", ticket, "k" * 40)]
    assert e.take_placements() == []
    assert "a" in e.calls, "a placement is not an answer"
    broken = {c.id: c.outcome for c in e.take_finished()}
    assert set(broken) == {"b", "c"} and all(isinstance(o, sc.BadReply) for o in broken.values())
    # A placement for a call that has ended (answered, failed, cancelled) is not carried out.
    e.received(0, reply("a", "placement", shard=1, endpoint="tcp://w:7", ticket=ticket), 0.4)
    e.cancel("a")
    assert e.take_placements() == []


def test_a_placement_that_cannot_be_carried_out_ends_its_request_with_the_reason():
    x = np.ones((8, 4), np.float32)
    ticket = bytes(16)
    with sc.Client("tcp://127.0.0.1:9", transfer="direct") as c:
        call = c._call_for(sc.PruneRequest(x, 2, shards=[(0, 4), (4, 8)]))
        assert "frame" not in call.fields["features"] and call.fields["transfer"] == "direct" and call.tensors == []
        frames = c._data_frames(Placement(call, 1, "tcp://w:7", ticket, None))
        env = msgpack.unpackb(frames[1])
        assert env == {"v": 1, "type": "data", "ticket": ticket, "features": {"dtype": "f32", "shape": [4, 4], "frame": 1}}
        assert bytes(frames[2]) == x[4:].tobytes()
        with pytest.raises(sc.BadReply, match="shard 2 of a request with 2"):
            c._data_frames(Placement(call, 2, "tcp://w:7", ticket, None))
        assert c._data_curve(Placement(call, 0, "tcp://w:7", ticket, None)) is None
        with pytest.raises(sc.BadRequest, match="over CURVE only"):
            c._data_curve(Placement(call, 0, "tcp://w:7", ticket, "k" * 40))
        c._curve = (b"p" * 40, b"s" * 40, b"c" * 40)
        with pytest.raises(sc.BadRequest, match="does not send them in the clear"):
            c._data_curve(Placement(call, 0, "tcp://w:7", ticket, None))
        assert c._data_curve(Placement(call, 0, "tcp://w:7", ticket, "k" * 40)) == (b"p" * 40, b"s" * 40, b"k" * 40)
        # Carried out by the shell: a placement it cannot carry out ends the request with the reason.
        c._engine.add(call, 0.0)
        c._engine.placements.append(Placement(call, 0, "tcp://w:7", ticket, None))
        c._place_all()
        (ended,) = c._engine.take_finished()
        assert isinstance(ended.outcome, sc.BadRequest) and ended.outcome.request_id == call.id
        assert "in the clear" in str(ended.outcome) and c._data_socks == {}
    with sc.Client("tcp://127.0.0.1:9") as c:
        call = c._call_for(sc.PruneRequest(x, 2))
        with pytest.raises(sc.BadReply, match="a request sent inline"):
            c._data_frames(Placement(call, 0, "tcp://w:7", ticket, None))


def test_a_call_given_up_after_it_was_sent_is_cancelled_at_every_coordinator():
    e = engine(2)
    e.add(make_call("sent"), 0.0)
    e.poll(0.0)
    e.add(make_call("unsent"), 0.0)  # added after the poll: never sent
    e.cancel("unsent")
    assert e.take_cancels() == []
    e.cancel("sent")
    cancels = e.take_cancels()
    assert [i for i, _ in cancels] == [0, 1]
    assert all(f[0] == b"" and msgpack.unpackb(f[1]) == {"v": 1, "type": "cancel", "id": "sent"} for _, f in cancels)
    assert e.take_cancels() == []
    # A call the shell fails (a worker refused its key) is given up too; a status call never is.
    e.add(make_call("refused"), 0.0)
    e.poll(0.1)
    e.fail("refused", sc.ConnectionRefused("no"))
    assert [msgpack.unpackb(f[1])["id"] for _, f in e.take_cancels()] == ["refused", "refused"]
    e.add(Call(id="ping", kind="status", fields={"v": 1, "type": "status", "id": "ping"}, tensors=[], timeout=1.0), 0.2)
    e.poll(0.2)
    e.cancel("ping")
    assert e.take_cancels() == []


def test_a_placement_says_whose_shared_memory_its_worker_reads():
    """A placement's `shared_memory` ([PID namespace, user]) is kept; the client names its
    tensors in shared memory only to a worker of its own PID namespace and user;
    a scope that is not two integers not below 0 breaks the protocol."""
    from script_cluster._shared import current_scope, worker_reads
    e = engine(1)
    for rid in ("a", "b", "c"):
        e.add(make_call(rid), 0.0)
    e.poll(0.0)
    here = current_scope()
    assert here is not None and here[1] == os.geteuid()
    e.received(0, reply("a", "placement", shard=0, endpoint="ipc://@w", ticket=bytes(16), shared_memory=here), 0.1)
    e.received(0, reply("b", "placement", shard=0, endpoint="ipc://@w", ticket=bytes(16), shared_memory=[1, -1]), 0.1)
    e.received(0, reply("c", "placement", shard=0, endpoint="ipc://@w", ticket=bytes(16), shared_memory=[1, True]), 0.1)
    assert [p.shared_memory for p in e.take_placements()] == [here]
    assert {c.id for c in e.take_finished()} == {"b", "c"}
    assert worker_reads(here)
    assert worker_reads([here[0], 0]) == (here[1] == 0), "root reads only its own user's"
    assert not worker_reads(None), "a worker that does not say"
    assert not worker_reads([here[0] + 1, here[1]]), "another PID namespace"
    assert not worker_reads([here[0], here[1] + 1]), "another user"


def test_a_worker_on_this_host_that_cannot_read_shared_memory_is_sent_the_bytes_and_said_so(caplog):
    """A placement on a Unix socket whose worker runs in another PID namespace: the data message
    carries the bytes, and the client warns once for that worker, saying why."""
    from script_cluster._shared import current_scope
    here = current_scope()
    x = np.ones((8, 4), np.float32)
    with sc.Client("tcp://127.0.0.1:9", transfer="shared") as c:
        call = c._call_for(sc.PruneRequest(x, 2, shards=[(0, 4), (4, 8)]))
        apart = [here[0] + 1, here[1]]
        with caplog.at_level("WARNING", logger="script_cluster"):
            sent = [c._data_frames(Placement(call, s, "ipc://@apart", bytes(16), None, apart)) for s in (0, 1)]
            named = c._data_frames(Placement(call, 0, "ipc://@here", bytes(16), None, here))
    assert [len(f) for f in sent] == [3, 3] and len(named) == 2, "bytes to the worker apart, a name to the one here"
    said = [r.getMessage() for r in caplog.records if "cannot read this client's shared memory" in r.getMessage()]
    assert len(said) == 1 and f"PID namespace {here[0] + 1}" in said[0], said


def _placed_direct_call(c, x, server_key=None):
    """A call of the direct client `c` in flight, its first shard placed on tcp://127.0.0.1:1
    (its bytes sent there)."""
    call = c._call_for(sc.PruneRequest(x, 2, shards=[(0, 4), (4, 8)]))
    c._engine.add(call, 0.0)
    c._engine.placements.append(Placement(call, 0, "tcp://127.0.0.1:1", bytes(16), server_key))
    c._place_all()
    return call


def test_only_a_shard_still_placed_on_an_unconnected_data_socket_moves_its_request():
    """The connect timeout counts from each placement, and a shard placed again elsewhere (its
    first worker died) no longer waits for the first socket. Past it, the address is unreachable:
    the request names it in `avoid` (and so does every new one); placed there again all the same,
    the request ends."""
    from script_cluster.client import DATA_CONNECT_TIMEOUT

    x = np.ones((8, 4), np.float32)
    with sc.Client("tcp://127.0.0.1:9", transfer="direct") as c:
        call = _placed_direct_call(c, x)
        key, at = c._placed[(call.id, 0)]
        c._placed[(call.id, 0)] = (key, at - DATA_CONNECT_TIMEOUT + 1)  # placed long ago, nearly due
        c._engine.placements.append(Placement(call, 0, "tcp://127.0.0.1:2", bytes(16), None))
        c._place_all()
        now = time.monotonic()
        assert c._data_connect_deadlines(now + 2) == pytest.approx(DATA_CONNECT_TIMEOUT - 2, abs=0.5)
        assert call.id in c._engine.calls, "the shard moved on: the first socket's timeout is not its"
        assert c._data_connect_deadlines(now + DATA_CONNECT_TIMEOUT + 0.5) == math.inf
        assert c._engine.take_finished() == [] and c._placed == {}
        assert c.unreachable_data == {"tcp://127.0.0.1:2"} and call.fields["avoid"] == ["tcp://127.0.0.1:2"]
        assert c._call_for(sc.PruneRequest(x, 2)).fields["avoid"] == ["tcp://127.0.0.1:2"]
        c._engine.placements.append(Placement(call, 1, "tcp://127.0.0.1:2", bytes(16), None))
        c._place_all()
        c._data_connect_deadlines(time.monotonic() + DATA_CONNECT_TIMEOUT + 0.5)
        (ended,) = c._engine.take_finished()
        assert isinstance(ended.outcome, sc.Unavailable) and "tcp://127.0.0.1:2" in str(ended.outcome)
        assert c._placed == {}


def test_a_pause_of_the_client_is_not_a_data_sockets_time_to_connect():
    """A shard placed on a data socket just before the client paused (its process stopped, its
    event loop held) is not late for the pause: the socket could not connect while the client
    did not run. Past the pause its time to connect runs on."""
    from script_cluster.client import DATA_CONNECT_TIMEOUT

    x = np.ones((8, 4), np.float32)
    with sc.Client("tcp://127.0.0.1:9", transfer="direct") as c:
        call = _placed_direct_call(c, x)
        _, at = c._placed[(call.id, 0)]
        call.deadline = at + 1000  # (added at 0.0 of the engine's clock)
        c._engine.poll(at)
        later = at + 10 * DATA_CONNECT_TIMEOUT
        c._engine.poll(later)
        assert c._data_connect_deadlines(later) == pytest.approx(DATA_CONNECT_TIMEOUT, abs=0.01)
        assert c.unreachable_data == set() and call.id in c._engine.calls
        assert c._engine.take_pause() == 0.0, "taken once"
        assert c._data_connect_deadlines(later + DATA_CONNECT_TIMEOUT + 0.1) == math.inf
        assert c.unreachable_data == {"tcp://127.0.0.1:1"}


def test_a_shard_placed_a_moment_after_a_late_one_on_the_same_address_moves_with_it():
    """Two shards of one request on one unreachable address, the second placed a millisecond
    after the first: when the first is late, both move (the request goes again avoiding the
    address) and the request goes on; the second is not counted late against the `avoid` that
    its own move wrote (that ended the request with `Unavailable`: seen in test_direct's moves)."""
    from script_cluster.client import DATA_CONNECT_TIMEOUT

    x = np.ones((8, 4), np.float32)
    with sc.Client("tcp://127.0.0.1:9", transfer="direct") as c:
        call = _placed_direct_call(c, x)
        c._engine.placements.append(Placement(call, 1, "tcp://127.0.0.1:1", bytes(16), None))
        c._place_all()
        key, at = c._placed[(call.id, 0)]
        c._placed[(call.id, 1)] = (key, at + 0.001)
        c._data_connect_deadlines(at + DATA_CONNECT_TIMEOUT)
        assert call.fields["avoid"] == ["tcp://127.0.0.1:1"] and c._placed == {}
        c._data_connect_deadlines(at + DATA_CONNECT_TIMEOUT + 0.002)
        assert c._engine.take_finished() == [] and call.id in c._engine.calls


def test_an_unreachable_data_socket_is_replaced_by_one_with_nothing_queued_and_the_same_curve_key(tmp_path, monkeypatch, caplog):
    """Counted unreachable, a data socket is closed with the bytes queued for it, and a fresh one
    to the same address (over CURVE with the same worker key) keeps trying to connect; the
    request is sent again naming the address in `avoid`."""
    import zmq.auth
    from script_cluster import client as client_module
    from script_cluster.client import DATA_CONNECT_TIMEOUT

    opened = []
    real = client_module._data_dealer
    monkeypatch.setattr(client_module, "_data_dealer", lambda ctx, address, curve, heartbeat: opened.append((address, curve))
                        or real(ctx, address, curve, heartbeat))

    client_public, client_secret = zmq.auth.create_certificates(str(tmp_path), "client")
    server_public, _ = zmq.auth.create_certificates(str(tmp_path), "worker")
    worker_key = zmq.auth.load_certificate(server_public)[0].decode()
    x = np.ones((8, 4), np.float32)
    with sc.Client("tcp://127.0.0.1:9", transfer="direct", curve_secret=client_secret,
                   curve_server_key=server_public) as c:
        call = _placed_direct_call(c, x, server_key=worker_key)
        key = ("tcp://127.0.0.1:1", worker_key)
        first = c._data_socks[key]
        c._data_connect_deadlines(time.monotonic() + DATA_CONNECT_TIMEOUT + 0.5)
        again = c._data_socks[key]
        assert again is not first and first.closed and not again.closed
        mine = zmq.auth.load_certificate(client_secret)
        assert opened == [("tcp://127.0.0.1:1", (mine[0], mine[1], worker_key.encode()))] * 2
        assert again.getsockopt(zmq.MECHANISM) == zmq.CURVE
        assert c.unreachable_data == {"tcp://127.0.0.1:1"} and call.fields["avoid"] == ["tcp://127.0.0.1:1"]
        assert [r.getMessage() for r in caplog.records if r.name == "script_cluster"] == [
            "could not connect to the data socket at tcp://127.0.0.1:1 (connection refused, a name that does not resolve, "
            "not a worker's socket, or no answer within 10 s): its shards go to other workers; is that address (a worker's "
            "--data-advertise) reachable from this client?"]
        assert c._data_monitors[key] in dict(c._poller.sockets) and c._placed == {}
        # Once a connection is made there (its handshake), the address is used again.
        c._data_event(key, [zmq.EVENT_HANDSHAKE_SUCCEEDED.to_bytes(2, "little") + bytes(4), b"tcp://127.0.0.1:1"])
        assert c.unreachable_data == set() and "avoid" not in c._call_for(sc.PruneRequest(x, 2)).fields


def test_a_failing_data_socket_is_waited_for_a_second_and_a_tcp_connection_is_not_a_handshake():
    """A data socket's failed connection attempt (refused, a name that does not resolve, a peer
    that closes before the handshake) cuts its shards' wait to `DATA_FAILURE_GRACE`; a TCP
    connection without a handshake (anything listening there) is still waited for; after a
    handshake, a failed attempt (a worker gone since) changes nothing here."""
    import zmq
    from script_cluster.client import DATA_CONNECT_TIMEOUT, DATA_FAILURE_GRACE

    def event(code):
        return [code.to_bytes(2, "little") + bytes(4), b"tcp://127.0.0.1:1"]

    x = np.ones((8, 4), np.float32)
    with sc.Client("tcp://127.0.0.1:9", transfer="direct") as c:
        call = _placed_direct_call(c, x)
        key, now = ("tcp://127.0.0.1:1", None), time.monotonic()
        c._data_event(key, event(zmq.EVENT_CONNECTED))
        assert c._data_connect_deadlines(now) == pytest.approx(DATA_CONNECT_TIMEOUT, abs=0.5)
        c._data_event(key, event(zmq.EVENT_CONNECT_RETRIED))
        assert c._data_connect_deadlines(now) == pytest.approx(DATA_FAILURE_GRACE, abs=0.5)
        c._data_event(key, event(zmq.EVENT_HANDSHAKE_SUCCEEDED))
        assert c._data_connect_deadlines(now) == math.inf
        c._data_event(key, event(zmq.EVENT_CONNECT_RETRIED))
        c._engine.placements.append(Placement(call, 1, "tcp://127.0.0.1:1", bytes(16), None))
        c._place_all()
        assert c._data_connect_deadlines(time.monotonic() + DATA_CONNECT_TIMEOUT + 1) == math.inf
        assert call.id in c._engine.calls and c.unreachable_data == set()


def test_bytes_a_data_socket_cannot_take_before_it_connects_wait_for_it_and_a_refused_one_is_replaced(monkeypatch):
    """A data socket not connected yet that takes nothing (its session ended at a refusal the
    client has not read yet, or its queue filled while it waits): the shard's bytes wait and go
    when it takes them; once connected, one it cannot take ends the request (its queue is full).
    A socket whose handshake refused the key is replaced at the next placement on it (libzmq does
    not try it again; the worker there may now take the key)."""
    import zmq

    def event(code):
        return [code.to_bytes(2, "little") + bytes(4), b"tcp://127.0.0.1:1"]

    x = np.ones((8, 4), np.float32)
    with sc.Client("tcp://127.0.0.1:9", transfer="direct") as c:
        takes = [False]
        sent = []
        monkeypatch.setattr(c, "_send_nowait", lambda sock, frames: takes[0] and not sent.append(frames))
        call = _placed_direct_call(c, x)
        key = ("tcp://127.0.0.1:1", None)
        assert list(c._unsent) == [(call.id, 0)] and call.id in c._engine.calls
        c._place_all()
        assert list(c._unsent) == [(call.id, 0)] and sent == []
        takes[0] = True
        c._place_all()
        assert c._unsent == {} and len(sent) == 1 and call.id in c._engine.calls

        takes[0] = False
        c._engine.placements.append(Placement(call, 1, "tcp://127.0.0.1:1", bytes(16), None))
        c._place_all()
        assert list(c._unsent) == [(call.id, 1)]
        c._data_event(key, event(zmq.EVENT_HANDSHAKE_SUCCEEDED))
        c._place_all()
        (ended,) = c._engine.take_finished()
        assert isinstance(ended.outcome, sc.Unavailable) and "queue is full" in str(ended.outcome)
        assert c._unsent == {}

        first = c._data_socks[key]
        c._data_event(key, event(zmq.EVENT_HANDSHAKE_FAILED_AUTH))
        assert c._data_socks[key] is first
        takes[0] = True
        again = _placed_direct_call(c, x)
        assert c._data_socks[key] is not first and first.closed and again.id in c._engine.calls


def test_a_data_socket_without_a_placement_for_ten_minutes_is_closed_and_its_address_forgotten():
    """Workers come and go: a data socket no shard was placed on for `DATA_IDLE_CLOSE` (and none
    waits on) is closed, and its address no longer named in `avoid`; one a shard in flight waits
    on stays, however long ago it was placed. A later placement there opens a fresh one."""
    import zmq
    from script_cluster.client import DATA_IDLE_CLOSE

    x = np.ones((8, 4), np.float32)
    up = [zmq.EVENT_HANDSHAKE_SUCCEEDED.to_bytes(2, "little") + bytes(4), b"tcp://127.0.0.1:1"]
    with sc.Client("tcp://127.0.0.1:9", transfer="direct") as c:
        call = _placed_direct_call(c, x)
        key, far = ("tcp://127.0.0.1:1", None), ("tcp://127.0.0.1:2", None)
        c._data_event(key, up)
        c._engine.placements.append(Placement(call, 1, far[0], bytes(16), None))
        c._place_all()
        first, monitor = c._data_socks[key], c._data_monitors[key]
        c.unreachable_data.add(far[0])
        c._placed.pop((call.id, 1))
        now = time.monotonic()
        c._data_connect_deadlines(now + DATA_IDLE_CLOSE + 1)
        assert set(c._data_socks) == {key}, "the socket a shard in flight waits on stays"
        assert c.unreachable_data == set()
        c._engine.cancel(call.id)
        c._data_connect_deadlines(now + DATA_IDLE_CLOSE - 1)
        assert set(c._data_socks) == {key}, "not idle for long enough yet"
        c._data_connect_deadlines(now + DATA_IDLE_CLOSE + 1)
        assert c._data_socks == {} and c._data_monitors == {} and c._data_connected == set()
        assert first.closed and monitor not in dict(c._poller.sockets)
        again = _placed_direct_call(c, x)
        assert c._data_socks[key] is not first and again.id in c._engine.calls
        assert "avoid" not in c._call_for(sc.PruneRequest(x, 2)).fields


def test_a_curve_coordinator_closing_three_handshakes_in_a_row_is_refused_for_its_key(tmp_path, monkeypatch):
    """A coordinator that speaks CURVE and closes the handshake without detail, three times in a
    row, holds another key pair than `curve_server_key` names: refused saying so (once could be
    a race); a handshake that succeeds in between starts the count again."""
    import zmq
    import zmq.auth
    from script_cluster import client as client_module

    monkeypatch.setattr(client_module._greeting, "mechanism", lambda endpoint: "CURVE")
    public, secret = zmq.auth.create_certificates(str(tmp_path), "client")
    server, _ = zmq.auth.create_certificates(str(tmp_path), "server")

    def event(code):
        return [code.to_bytes(2, "little") + bytes(4), b"tcp://127.0.0.1:9"]

    with sc.Client("tcp://127.0.0.1:9", curve_secret=secret, curve_server_key=server) as c:
        for t in (0.0, 0.1):
            c._link_event(0, event(zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL), t)
        c._link_event(0, event(zmq.EVENT_HANDSHAKE_SUCCEEDED), 0.2)
        for t in (0.3, 0.4):
            c._link_event(0, event(zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL), t)
        assert c._engine.endpoints[0].refused == ""
        c._link_event(0, event(zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL), 0.5)
        assert "its key pair is not the one whose public key this client was given" in c._engine.endpoints[0].refused


def test_curve_key_files_that_cannot_be_used_say_which_and_why(tmp_path):
    import zmq.auth
    public, secret = zmq.auth.create_certificates(str(tmp_path), "c")
    missing = str(tmp_path / "gone.key")
    for kwargs, says in (
            (dict(curve_secret=missing, curve_server_key=public), f"curve_secret {missing}: no such file"),
            (dict(curve_secret=secret, curve_server_key=missing), f"curve_server_key {missing}: no such file"),
            (dict(curve_secret=str(tmp_path), curve_server_key=public),
             f"curve_secret {tmp_path}: cannot be read as a CURVE key file"),
            (dict(curve_secret=public, curve_server_key=public), f"{public} holds no secret key")):
        with pytest.raises(sc.BadRequest) as e:
            sc.Client("tcp://127.0.0.1:9", **kwargs)
        assert says in e.value.message, e.value.message
    sc.Client("tcp://127.0.0.1:9", curve_secret=secret, curve_server_key=public).close()


def test_ipv6_is_wanted_for_ipv6_addresses_and_names_with_only_ipv6_addresses():
    """libzmq takes IPv6 only with its IPv6 option, and with it connects a name at its first
    address (often IPv6): the option is on for IPv6 addresses and for names with IPv6 addresses
    and no IPv4 one, looked up within a bound."""
    import socket

    from script_cluster import _hosts

    def never(host, port, **kw):
        raise AssertionError(f"{host} looked up")

    for endpoint, wanted in [("tcp://[::1]:5555", True), ("tcp://[fd00::2];10.0.0.1:5555", True),
                             ("tcp://127.0.0.1:5555", False), ("ipc:///tmp/socket", False), ("tcp://", False)]:
        assert _hosts.ipv6_wanted(endpoint, resolve=never) is wanted, endpoint

    def answers(*families):
        return lambda host, port, **kw: [(f, socket.SOCK_STREAM, 6, "", ()) for f in families]

    v4, v6 = socket.AF_INET, socket.AF_INET6
    for families, wanted in [((v6,), True), ((v6, v6), True), ((v6, v4), False), ((v4,), False), ((), False)]:
        assert _hosts.ipv6_wanted("tcp://coordinator:5556", resolve=answers(*families)) is wanted, families

    def hangs(host, port, **kw):
        time.sleep(3)
        return answers(v6)(host, port)

    t0 = time.monotonic()
    assert _hosts.ipv6_wanted("tcp://coordinator:5556", timeout=0.2, resolve=hangs) is False
    assert time.monotonic() - t0 < 1
