"""torch tensors in and out (skipped where torch is not installed)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from harness import in_process, request_data

torch = pytest.importorskip("torch")

from script_cluster import AsyncClient, BadTensor, Client, tensors  # noqa: E402

DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def test_cpu_tensors_are_sent_without_a_copy():
    for dtype in DTYPES:
        x = torch.randn(8, 5).to(dtype)
        w, units, origin = tensors.to_wire(x, "features", allow_3d=True)
        assert w.data.__array_interface__["data"][0] == x.data_ptr()
        assert w.nbytes == x.numel() * x.element_size() and w.dtype == {torch.float32: "f32", torch.float16: "f16",
                                                                         torch.bfloat16: "bf16"}[dtype]
        assert np.array_equal(w.data, x.reshape(-1).view(torch.uint8).numpy())
    x3 = torch.randn(2, 4, 5, requires_grad=True)
    w, units, _ = tensors.to_wire(x3, "features", allow_3d=True)
    assert units == (2, 4) and w.data.__array_interface__["data"][0] == x3.data_ptr()
    t = torch.randn(5, 8).t()  # not contiguous: one copy
    w, _, _ = tensors.to_wire(t, "features", allow_3d=True)
    assert w.data.__array_interface__["data"][0] != t.data_ptr()
    assert np.array_equal(w.data.view("<f4").reshape(8, 5), t.numpy())
    with pytest.raises(BadTensor):
        tensors.to_wire(torch.ones(4, 4, dtype=torch.int64), "features", allow_3d=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f16", "bf16"])
@pytest.mark.parametrize("mode", ["indices", "features", "merged"])
def test_torch_results_match_numpy_and_in_process(cluster, tmp_path, dtype, mode):
    x, q, shards = request_data(41)
    xt = torch.from_numpy(x).to(dtype)
    qt = torch.from_numpy(q).to(dtype)
    with Client(cluster) as c:
        r = c.prune(xt.reshape(4, 64, 96), query=qt, budget=24, return_=mode)
    ref = in_process(tmp_path, xt.float().numpy(), 24, query=qt.float().numpy(), shards=shards, merge=mode == "merged")
    assert isinstance(r.indices, torch.Tensor) and r.indices.dtype == torch.long
    assert r.indices.tolist() == ref["indices"]
    if mode == "indices":
        assert r.features is None
        return
    assert isinstance(r.features, torch.Tensor) and r.features.dtype == dtype and r.features.shape == (24, 96)
    if mode == "features":
        assert torch.equal(r.features, xt[r.indices])
    else:
        assert torch.equal(r.features, torch.from_numpy(ref["merged"]).to(dtype))


def test_async_with_torch(cluster):
    x, q, shards = request_data(43, units=2)
    xt = torch.from_numpy(x).to(torch.bfloat16)

    async def run():
        async with AsyncClient(cluster) as c:
            return await c.prune_many([dict(features=xt, budget=k, shards=shards, return_="features")
                                       for k in (5, 9, 13)], max_in_flight=2)

    out = asyncio.run(run())
    assert [len(r.indices) for r in out] == [5, 9, 13]
    assert all(torch.equal(r.features, xt[r.indices]) for r in out)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_tensors_come_back_on_their_device(cluster):  # pragma: no cover - needs a GPU
    x, q, shards = request_data(45)
    xc = torch.from_numpy(x).to("cuda", torch.bfloat16)
    with Client(cluster) as c:
        r = c.prune(xc, budget=20, shards=shards, return_="features")
    assert r.indices.device == xc.device and r.features.device == xc.device
    assert torch.equal(r.features, xc[r.indices])
