"""Small hand-worked checks of the numpy reference implementation (pytest)."""

import math
import types

import numpy as np

import reference as ref

OPTS = types.SimpleNamespace(tau=0.2, gamma=1.0, kmin=4, gsp_ratio=0.5, alpha=2.0)
PLUS = types.SimpleNamespace(tau=0.2, gamma=1.0, kmin=4, gsp_ratio=0.5, alpha=2.0, unit_graph=True, discount=4, floor=0.6)
PLAIN = types.SimpleNamespace(tau=0.2, gamma=1.0, kmin=4, gsp_ratio=0.5, alpha=2.0, unit_graph=False, discount=0, floor=0.0)


def test_gsp_redundancy_of_a_four_token_shard():
    # x0=(1,0) x1=(1,0) x2=(0,1) x3=(0.6,0.8): S = [[1, .6], [0, .8]]; with kmin = 0 no blending.
    x = np.array([[1, 0], [1, 0], [0, 1], [0.6, 0.8]], dtype=np.float32)
    rho, s = ref.redundancy(x, ref.inverse_norms(x), 0.2, 1.0, 0)
    assert np.allclose(s, [[1, 0.6], [0, 0.8]], atol=1e-6)
    assert np.allclose(rho, [2 * math.exp(0.6), math.exp(0.8), math.exp(0.6), 2 * math.exp(0.5)], atol=1e-5)
    rho4, _ = ref.redundancy(x, ref.inverse_norms(x), 0.2, 1.0, 4)
    assert ref.keep_lowest(rho4, 2) == [1, 2]


def test_greedy_on_a_three_token_kernel():
    x = np.array([[1, 0, 0], [0.9, 0.43589, 0], [0, 0, 1]], dtype=np.float32)
    inv = ref.inverse_norms(x)
    g = ref.cosines(x, inv, x, inv)
    picks, _ = ref.greedy(3, np.array([1, 1.1, 1.05], dtype=np.float32), lambda j: g[j], np.diag(g).copy())
    assert picks == [1, 2, 0]


def test_exhausted_residuals_fill_by_weight():
    x = np.array([[1, 0]] * 3, dtype=np.float32)
    g = np.ones((3, 3), dtype=np.float32)
    picks, _ = ref.greedy(3, np.array([1, 3, 2], dtype=np.float32), lambda j: g[j], np.ones(3, dtype=np.float32))
    assert picks == [1, 2, 0]


def test_uniform_and_random():
    assert ref.uniform_method(10, 4) == [0, 3, 6, 9]
    assert ref.uniform_method(10, 3) == [0, 5, 9]
    assert ref.splitmix(0, 2) == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4]
    a = ref.random_method(100, 10, 42)
    assert a == ref.random_method(100, 10, 42) and len(a) == 10 and a == sorted(a)


def test_relevance_edge_cases():
    e = np.array([[1, 0], [0, 1], [0.6, 0.8]], dtype=np.float32)
    assert np.all(ref.weights(e, None, 0.5, 0.5, 1) == 1)
    same = np.array([[1, 0]] * 3, dtype=np.float32)
    w = ref.weights(same, np.array([[0, 1]], dtype=np.float32), 0.5, 0.5, 1)
    assert np.allclose(w, math.exp(0.5))   # all relevances equal -> r = 1 -> exp(0.5)
    w = ref.weights(e, np.array([[1, 0]], dtype=np.float32), 0.5, 0.5, 1)
    assert np.allclose(w, np.exp(0.5 * np.array([1, 0, 0.6])), atol=1e-5)


def test_single_shard_sharded_equals_monolithic():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((120, 64)).astype(np.float32)
    w = (1 + rng.random(120)).astype(np.float32)
    for k in (5, 20, 40):
        assert ref.script_sharded(x, w, [(0, 120)], k, OPTS) == ref.script_monolithic(x, w, k, OPTS)


def test_budget_parsing():
    assert ref.resolve_budget("0.1", 576) == 58
    assert ref.resolve_budget("64", 576) == 64
    for bad in ("0", "-3", "1.5"):
        try:
            ref.resolve_budget(bad, 10)
        except ref.BadInput:
            continue
        raise AssertionError(bad)


def test_script_plus_with_every_idea_off_is_script():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((96, 32)).astype(np.float32)
    w = (1 + rng.random(96)).astype(np.float32)
    r = rng.random(96).astype(np.float32)
    shards = [(0, 32), (32, 64), (64, 96)]
    for k in (6, 20):
        assert ref.plus_monolithic(x, w, r, 16, k, PLAIN) == ref.script_monolithic(x, w, k, OPTS)
        assert ref.plus_sharded(x, w, r, 16, shards, k, PLAIN) == ref.script_sharded(x, w, shards, k, OPTS)


def test_script_plus_single_shard_equals_monolithic():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((120, 48)).astype(np.float32)
    w = (1 + rng.random(120)).astype(np.float32)
    r = rng.random(120).astype(np.float32)
    for k in (5, 20, 40):
        assert ref.plus_sharded(x, w, r, 30, [(0, 120)], k, PLUS) == ref.plus_monolithic(x, w, r, 30, k, PLUS)


def test_unit_graph_pairs_consecutive_units():
    # Units of 2: (0,1) face (2,3); unit (4,) is alone (no edges). x2 == x0, x3 orthogonal to x1.
    x = np.array([[1, 0], [0, 1], [1, 0], [1, 0], [0.6, 0.8]], dtype=np.float32)
    rho, pieces = ref.unit_graph(x, ref.inverse_norms(x), 2, PLUS)
    assert [list(a) for a, _, _ in pieces] == [[0, 1], [4]] and [list(b) for _, b, _ in pieces] == [[2, 3], []]
    assert np.allclose(pieces[0][2], [[1, 1], [0, 0]], atol=1e-6)
    # kmin 4: every token blends. Token 0: d=2, mu=1 -> rho = 0.5*2*e^0.8 + 0.5*1.
    assert math.isclose(rho[0], 0.5 * 2 * math.exp(0.8) + 0.5, rel_tol=1e-5)
    assert math.isclose(rho[1], 0.0, abs_tol=1e-6)


def test_discount_keeps_the_most_relevant_and_leaves_rho_without_query():
    rho = np.array([5, 1, 3], dtype=np.float32)
    assert np.array_equal(ref.discount(rho, None, 4), rho)
    d = ref.discount(rho, np.array([1, 0, 0.5], dtype=np.float32), 2)
    assert np.allclose(d, [0, 0, 2 * 0.25])
    assert ref.floor_count(np.array([0.59, 0.6, 1], dtype=np.float32), PLUS) == 2
