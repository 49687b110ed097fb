"""Several coordinators: requests spread over two independent `up` clusters, and move to the
survivor (same ids, same answers) when one is killed or stops answering mid-batch."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest
from harness import UpCluster, request_data

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
