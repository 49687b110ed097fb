"""The client against a real local cluster (`script-cluster up --workers 2`), compared with
`script-cluster prune` in-process on the same values."""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest
from harness import Coordinator, in_process, request_data

from script_cluster import AsyncClient, BadBudget, BadOption, BadRequest, BadShards, Client, Layout, PruneRequest

try:
    import ml_dtypes  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - the test command installs it
    ml_dtypes = None

DTYPES = ["f32", "f16", "bf16"]


def as_dtype(x: np.ndarray, name: str) -> np.ndarray:
    if name == "f32":
        return x.astype(np.float32)
    if name == "f16":
        return x.astype(np.float16)
    if ml_dtypes is None:
        pytest.skip("ml_dtypes is not installed (numpy has no bfloat16 without it)")
    return x.astype(ml_dtypes.bfloat16)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["indices", "features", "merged"])
def test_every_dtype_and_return_mode_matches_in_process(cluster, tmp_path, dtype, mode):
    x, q, shards = request_data(3)
    xs, qs = as_dtype(x, dtype), as_dtype(q, dtype)
    with Client(cluster) as c:
        r = c.prune(xs, query=qs, budget=30, shards=shards, return_=mode)
    # The same values in float32 (decoding f16/bf16 is exact): the same kept set.
    ref = in_process(tmp_path, xs.astype(np.float32), 30, query=qs.astype(np.float32), shards=shards,
                     merge=mode == "merged")
    assert isinstance(r.indices, np.ndarray) and r.indices.dtype == np.int64
    assert r.indices.tolist() == ref["indices"]
    assert (r.n, r.budget, r.shards) == (256, 30, 4)
    assert r.workers and set(r.timings_ms) >= {"total"}
    if mode == "indices":
        assert r.features is None
        return
    assert r.features.shape == (30, 96) and r.features.dtype == xs.dtype
    if mode == "features":
        # The kept rows are the input's own values, exactly.
        assert np.array_equal(r.features.view(np.uint8), xs[r.indices].view(np.uint8))
    else:
        np.testing.assert_array_equal(r.features.astype(np.float32), ref["merged"].astype(xs.dtype).astype(np.float32))
        assert not np.array_equal(r.features.astype(np.float32), xs[r.indices].astype(np.float32))


def test_ratio_budget_options_and_embeddings(cluster, tmp_path):
    x, q, shards = request_data(5)
    e = np.random.default_rng(9).standard_normal((256, 32)).astype(np.float32)
    qe = np.random.default_rng(10).standard_normal((4, 32)).astype(np.float32)
    options = {"tau": 0.3, "theta": 0.4, "alpha": 1.5}
    with Client(cluster) as c:
        r = c.prune(x, embeddings=e, query=qe, budget=0.1, shards=shards, options=options)
        plain = c.prune(x, embeddings=e, query=qe, budget=0.1, shards=shards)
    ref = in_process(tmp_path, x, 0.1, query=qe, embeddings=e, shards=shards, options=options)
    assert r.indices.tolist() == ref["indices"] and r.budget == 26
    assert plain.indices.tolist() != r.indices.tolist()  # the options reached the coordinator


def test_3d_input_makes_each_unit_a_shard(cluster, tmp_path):
    x, q, shards = request_data(7)
    with Client(cluster) as c:
        r3 = c.prune(x.reshape(4, 64, 96), query=q, budget=40)
        one = c.prune(x.reshape(4, 64, 96), query=q, budget=40, shards=[(0, 256)])
    assert r3.shards == 4 and one.shards == 1
    assert r3.indices.tolist() == in_process(tmp_path, x, 40, query=q, shards=shards)["indices"]
    assert one.indices.tolist() == in_process(tmp_path, x, 40, query=q, shards=[(0, 256)])["indices"]
    assert r3.indices.tolist() != one.indices.tolist()


def test_layouts(cluster, tmp_path):
    x, q, shards = request_data(11)
    (tmp_path / "layout.json").write_text(json.dumps({"kind": "anyres", "tokens": 256, "units": shards, "shards": shards}))
    with Client(cluster) as c:
        by_tiles = c.prune(x, query=q, budget=32, layout=Layout.tiles(4))
        by_file = c.prune(x, query=q, budget=32, layout=str(tmp_path / "layout.json"))
        video = c.prune(x, query=q, budget=32, layout=Layout.video(8, 3))
        with pytest.raises(BadShards):
            c.prune(x, budget=32, layout=Layout.tiles(3))
    expected = in_process(tmp_path, x, 32, query=q, shards=shards)["indices"]
    assert by_tiles.indices.tolist() == expected == by_file.indices.tolist()
    assert video.shards == 3
    assert video.indices.tolist() == in_process(tmp_path, x, 32, query=q, shards=[(0, 96), (96, 192), (192, 256)])["indices"]


def test_script_plus_takes_its_units_from_the_layout(cluster, tmp_path):
    x, q, shards = request_data(13, units=8, tokens=32)
    plus = dict(method="script+", options={"discount": 2, "floor_relevance": 0.5})
    with Client(cluster) as c:
        by_tiles = c.prune(x, query=q, budget=40, layout=Layout.tiles(8), **plus)
        by_3d = c.prune(x.reshape(8, 32, 96), query=q, budget=40, **plus)
        explicit = c.prune(x, query=q, budget=40, shards=shards, unit_tokens=32, **plus)
        no_units = c.prune(x, query=q, budget=40, shards=shards, **plus)
        script = c.prune(x, query=q, budget=40, shards=shards)
    want = in_process(tmp_path, x, 40, query=q, shards=shards, options=plus["options"], method="script+", unit_tokens=32)
    assert by_tiles.indices.tolist() == by_3d.indices.tolist() == explicit.indices.tolist() == want["indices"]
    assert no_units.indices.tolist() == in_process(tmp_path, x, 40, query=q, shards=shards, options=plus["options"],
                                                   method="script+")["indices"]
    assert script.indices.tolist() != want["indices"]


def test_bf16_similarity_where_the_workers_have_it(cluster, tmp_path):
    """options={"similarity": "bf16"}: the answer is in-process pruning's in bf16 where the
    workers compute bfloat16 products (not f32's: these tokens differ near bfloat16's step); a
    cluster whose workers cannot refuses it, saying so."""
    x, q, shards = request_data(21, units=4)
    x = (0.75 + np.arange(x.shape[1], dtype=np.float32) / 256 + x / 64).astype(np.float32)
    with Client(cluster) as c:
        try:
            r = c.prune(x, query=q, budget=40, shards=shards, options={"similarity": "bf16"})
        except BadOption as e:
            assert "asks for bfloat16 products" in str(e)
            pytest.skip(f"the workers have no bfloat16 products: {e}")
    want = in_process(tmp_path, x, 40, query=q, shards=shards, options={"similarity": "bf16"})
    assert r.indices.tolist() == want["indices"]
    assert want["indices"] != in_process(tmp_path, x, 40, query=q, shards=shards)["indices"]


def test_prune_many_in_order_on_one_connection(cluster):
    reqs = []
    for i in range(12):
        x, q, shards = request_data(100 + i, units=2)
        reqs.append(PruneRequest(as_dtype(x, DTYPES[i % 2]), budget=10 + i, query=q, shards=shards,
                                 return_="features" if i % 3 == 0 else "indices"))
    with Client(cluster) as c:
        singles = [c.prune_request(r) for r in reqs]
        before = c.status()
        many = c.prune_many(iter(reqs), max_in_flight=5)
        after = c.status()
    assert after.served - before.served == 12
    assert [len(m.indices) for m in many] == [10 + i for i in range(12)]
    for s, m in zip(singles, many):
        assert m.indices.tolist() == s.indices.tolist() and m.id != s.id
        assert (m.features is None) == (s.features is None)


def test_prune_many_errors(cluster):
    x, q, shards = request_data(1, units=2)
    good = {"features": x, "budget": 5, "shards": shards}
    reqs = [good, dict(good, budget=0), good, dict(good, features=x.astype(np.int32)), good]
    with Client(cluster) as c:
        out = c.prune_many(reqs, max_in_flight=2, return_exceptions=True)
        assert [type(o).__name__ for o in out] == ["PruneResult", "BadBudget", "PruneResult", "BadTensor", "PruneResult"]
        assert out[1].code == "bad_budget" and out[1].endpoint == cluster
        assert out[3].code == "bad_tensor" and out[3].endpoint is None  # found before sending
        with pytest.raises(Exception) as e:
            c.prune_many(reqs, max_in_flight=2)
        assert getattr(e.value, "code", None) in ("bad_budget", "bad_tensor")
        # The client is still usable after an abandoned batch.
        assert len(c.prune(x, budget=7, shards=shards).indices) == 7


def test_async_matches_sync(cluster):
    reqs = []
    for i in range(10):
        x, q, shards = request_data(200 + i, units=2)
        reqs.append(dict(features=as_dtype(x, DTYPES[i % 2]), query=q, budget=8 + i, shards=shards,
                         return_="merged" if i % 4 == 0 else "indices"))
    with Client(cluster) as c:
        expected = [c.prune_request(r) for r in reqs]

    async def run():
        async with AsyncClient(cluster) as ac:
            one = await ac.prune(**reqs[0])
            many = await ac.prune_many(reqs, max_in_flight=3)
            # Coroutines sharing one client.
            gathered = await asyncio.gather(*[ac.prune_request(r) for r in reqs[:4]])
            bad = await ac.prune_many([reqs[1], dict(reqs[1], budget=-3)], return_exceptions=True)
            with pytest.raises(Exception) as e:
                await ac.prune_many([reqs[1], dict(reqs[1], budget=-3)])
            status = await ac.status()
            return one, many, gathered, bad, e.value, status

    one, many, gathered, bad, err, status = asyncio.run(run())
    assert one.indices.tolist() == expected[0].indices.tolist()
    assert np.array_equal(one.features.astype(np.float32), expected[0].features.astype(np.float32))
    assert [m.indices.tolist() for m in many] == [e.indices.tolist() for e in expected]
    assert [g.indices.tolist() for g in gathered] == [e.indices.tolist() for e in expected[:4]]
    assert bad[0].indices.tolist() == expected[1].indices.tolist() and bad[1].code == "bad_budget"
    assert getattr(err, "code", None) == "bad_budget"
    assert status.workers == 2


def test_status(cluster):
    with Client(cluster) as c:
        s = c.status()
        everything = c.status_all()
    assert s.workers == 2 and s.endpoint == cluster
    assert everything[cluster].workers == 2


def test_a_reused_id_gets_the_first_answer_and_another_request_under_it_is_refused(cluster):
    """The coordinator answers a repeated id from its cache (what makes retries safe), but only
    for the same request: another under that id (another budget, other bytes) is refused, where
    it got the first request's answer."""
    x, q, shards = request_data(21, units=2)
    with Client(cluster) as c:
        a = c.prune(x, budget=9, shards=shards, request_id="reused-id-1")
        b = c.prune(x, budget=9, shards=shards, request_id="reused-id-1")
        for other in [dict(features=x, budget=17), dict(features=x + 1, budget=9)]:
            with pytest.raises(BadRequest, match="request id 'reused-id-1' names another request"):
                c.prune(shards=shards, request_id="reused-id-1", **other)
        fresh = c.prune(x, budget=17, shards=shards)
    assert a.id == b.id == "reused-id-1"
    assert b.indices.tolist() == a.indices.tolist() and len(fresh.indices) == 17


def test_calls_abandoned_by_prune_many_are_cancelled_at_the_coordinator(logdir):
    """A coordinator without workers holds every request to its deadline, unless its client
    gives it up: `prune_many` raising its first error cancels the calls it abandons."""
    c = Coordinator(logdir, name="idle")
    try:
        x, q, shards = request_data(81)
        good = dict(features=x, query=q, budget=10, shards=shards)
        with Client(c.frontend) as client:
            with pytest.raises(BadBudget):
                client.prune_many([good, good, dict(good, budget=0)], max_in_flight=3)
            # Sent as the error is raised (this client is not used again); seen a moment later.
            with Client(c.frontend) as other:
                end = time.monotonic() + 2
                while other.status().requests_in_flight:
                    assert time.monotonic() < end, "the abandoned requests still wait for their deadline"
                    time.sleep(0.05)
    finally:
        assert c.stop() == 0




_INHERITED: dict = {}  # what a forked child finds in its copy of this module


def _prune(client, x):
    if isinstance(client, AsyncClient):
        return asyncio.run(client.prune(x, budget=9, layout=Layout.tiles(2), deadline=10)).indices.tolist()
    return client.prune(x, budget=9, layout=Layout.tiles(2), deadline=10).indices.tolist()


def _prune_in_child(_: int):
    return _prune(_INHERITED["client"], _INHERITED["x"])


@pytest.mark.parametrize("kind", ["sync", "direct", "async"])
def test_a_client_made_before_a_fork_serves_the_children(cluster, kind):
    """As a DataLoader's workers or a multiprocessing pool use it: the children's requests waited forever
    on sockets whose I/O thread stayed in the parent."""
    import multiprocessing
    x, _, _ = request_data(67, units=2)
    client = AsyncClient(cluster) if kind == "async" else Client(cluster, transfer="direct" if kind == "direct" else "inline")
    _INHERITED.update(client=client, x=x)
    try:
        parent = _prune(client, x)
        with multiprocessing.get_context("fork").Pool(2) as pool:
            children = pool.map_async(_prune_in_child, range(4)).get(timeout=60)
        assert children == [parent] * 4
        assert _prune(client, x) == parent  # and the parent's connections are the parent's still
    finally:
        _INHERITED.clear()
        client.close()


@pytest.mark.parametrize("kind", ["sync", "direct", "async"])
def test_a_client_pickled_to_a_spawned_pool_serves_its_workers(cluster, kind):
    """A spawn (or forkserver: Python 3.14's default on Linux) pool's workers get their arguments
    pickled: a client arrives there as a new one with the same endpoints and options (it raised
    "self.handle cannot be converted to a Python object for pickling")."""
    import multiprocessing
    import pickle
    x, _, _ = request_data(70, units=2)
    client = AsyncClient(cluster, deadline=20) if kind == "async" else \
        Client(cluster, deadline=20, transfer="direct" if kind == "direct" else "inline")
    try:
        copy = pickle.loads(pickle.dumps(client))
        assert type(copy) is type(client) and copy is not client
        assert (copy.endpoints, copy.transfer, copy.deadline) == (client.endpoints, client.transfer, client.deadline)
        copy.close()
        parent = _prune(client, x)
        with multiprocessing.get_context("spawn").Pool(2) as pool:
            children = pool.starmap_async(_prune, [(client, x)] * 4).get(timeout=120)
        assert children == [parent] * 4
    finally:
        client.close()


@pytest.mark.parametrize("transfer", ["inline", "direct"])
def test_an_async_client_serves_one_event_loop_after_another(cluster, transfer):
    """`asyncio.run` twice with one client: the second waited forever, past its deadline."""
    x, _, _ = request_data(68, units=2)
    client = AsyncClient(cluster, transfer=transfer)

    async def once():
        r = await asyncio.wait_for(client.prune(x, budget=9, layout=Layout.tiles(2), deadline=10), 30)
        return r.indices.tolist()

    try:
        first = asyncio.run(once())
        assert asyncio.run(once()) == first and asyncio.run(once()) == first
    finally:
        client.close()


@pytest.mark.parametrize("transfer", ["inline", "direct"])
def test_threads_share_one_client(cluster, transfer):
    """A thread pool's threads on one Client: replies went to whichever thread read them, and the
    others timed out."""
    from concurrent.futures import ThreadPoolExecutor
    x, q, _ = request_data(69, units=2)
    asks = [dict(features=x, budget=b, query=q, layout=Layout.tiles(2), deadline=20) for b in (5, 9, 13, 17)]
    with Client(cluster, transfer=transfer) as client:
        expected = [client.prune(**a).indices.tolist() for a in asks]
        with ThreadPoolExecutor(8) as pool:
            singles = [pool.submit(lambda i: client.prune(**asks[i % 4]).indices.tolist(), i) for i in range(48)]
            many = [pool.submit(lambda: [r.indices.tolist() for r in client.prune_many(asks * 3, max_in_flight=3)])
                    for _ in range(2)]
            status = pool.submit(lambda: [client.status().workers for _ in range(5)])
            assert [f.result(timeout=60) for f in singles] == [expected[i % 4] for i in range(48)]
            assert [f.result(timeout=60) for f in many] == [expected * 3] * 2
            assert status.result(timeout=60) == [2] * 5


def test_closing_a_client_ends_other_threads_requests():
    from concurrent.futures import ThreadPoolExecutor
    x, _, _ = request_data(70, units=2)
    client = Client("tcp://127.0.0.1:9")  # nobody answers: the requests wait for their deadline
    with ThreadPoolExecutor(3) as pool:
        waiting = [pool.submit(client.prune, x, budget=3, deadline=30) for _ in range(3)]
        time.sleep(0.5)
        start = time.monotonic()
        client.close()
        for f in waiting:
            with pytest.raises(BadRequest, match="closed"):
                f.result(timeout=10)
        assert time.monotonic() - start < 5


def test_an_async_client_in_use_on_another_loop_says_so(cluster):
    """Two threads' event loops on one AsyncClient would take its sockets from each other."""
    import threading
    x, _, _ = request_data(71, units=2)
    client = AsyncClient(cluster)
    hold = threading.Event()
    release = threading.Event()

    async def busy():
        await client.prune(x, budget=3, layout=Layout.tiles(2), deadline=10)
        hold.set()
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 30)

    other = threading.Thread(target=asyncio.run, args=(busy(),))
    other.start()
    try:
        assert hold.wait(30)
        with pytest.raises(BadRequest, match="in use on another event loop"):
            asyncio.run(client.prune(x, budget=3, layout=Layout.tiles(2), deadline=10))
    finally:
        release.set()
        other.join(30)
    assert asyncio.run(client.prune(x, budget=3, layout=Layout.tiles(2), deadline=10)).indices.size == 3
    client.close()


def test_a_prune_many_waiting_on_its_iterator_lets_other_threads_through(cluster):
    """`prune_many` takes requests from the caller's iterator as room frees up; while it waits on
    one (a lazy loader), other threads' requests on the same client go on."""
    import threading
    from concurrent.futures import ThreadPoolExecutor
    x, _, _ = request_data(72, units=2)
    ask = dict(features=x, budget=5, layout=Layout.tiles(2), deadline=20)
    go = threading.Event()

    def lazy():
        yield ask
        assert go.wait(30)
        yield ask

    with Client(cluster) as client, ThreadPoolExecutor(2) as pool:
        many = pool.submit(client.prune_many, lazy())
        time.sleep(0.5)  # (into its wait on the iterator)
        assert pool.submit(client.prune, **ask).result(timeout=10).indices.size == 5
        go.set()
        assert [r.indices.size for r in many.result(timeout=30)] == [5, 5]


def test_closing_an_async_client_ends_its_requests_as_the_sync_one_does():
    """Other coroutines' requests end with BadRequest (a bare CancelledError before, which reads
    as if their own task had been cancelled)."""
    x, _, _ = request_data(73, units=2)

    async def main():
        client = AsyncClient("tcp://127.0.0.1:9")  # nobody answers: the request waits
        waiting = asyncio.ensure_future(client.prune(x, budget=3, deadline=30))
        await asyncio.sleep(0.3)
        client.close()
        with pytest.raises(BadRequest, match="closed"):
            await asyncio.wait_for(waiting, 5)

    asyncio.run(main())
