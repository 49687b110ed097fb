#!/usr/bin/env python3
"""Independent numpy implementation of Script, Script+ and the baselines, as Docs/ALGORITHM.md states them.

Used to cross-check the Swift core (same indices on seeded inputs) and as the benchmark's
reference. Written from the documents, not from the Swift code.

    python3 Scripts/reference.py --features X.npy [--embeddings E.npy] [--query Q.npy] \
        --budget K|RATIO [--shards 0:576,576:1152] [--method script|script+|...] [--unit-tokens T] \
        [--repeat R] --out kept.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np

F32 = np.float32
MASK64 = (1 << 64) - 1


class BadInput(Exception):
    pass


# ---- shared pieces ---------------------------------------------------------------------------

def inverse_norms(x: np.ndarray) -> np.ndarray:
    n = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=F32)).astype(F32)
    out = np.zeros_like(n)
    nz = n > 0
    out[nz] = F32(1) / n[nz]
    return out


def cosines(a: np.ndarray, ia: np.ndarray, b: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """((a . b) * inv(a)) * inv(b), float32."""
    return ((a @ b.T).astype(F32) * ia[:, None]) * ib[None, :]


def weights(emb: np.ndarray, query: np.ndarray | None, theta: float, query_keep: float, sign: float) -> np.ndarray:
    return weights_from(relevance(emb, query, query_keep, sign), emb.shape[0], theta)


def weights_from(r: np.ndarray | None, n: int, theta: float) -> np.ndarray:
    """w = exp(theta r / (2 (1 - theta))); all ones without relevance."""
    if r is None:
        return np.ones(n, dtype=F32)
    scale = F32(theta) / (F32(2) * (F32(1) - F32(theta)))
    return np.exp(scale * r.astype(F32)).astype(F32)


def relevance(emb: np.ndarray, query: np.ndarray | None, query_keep: float, sign: float) -> np.ndarray | None:
    """Relevance in [0, 1] of every token (None without a query)."""
    n = emb.shape[0]
    if query is None or query.shape[0] == 0:
        return None
    c = cosines(emb, inverse_norms(emb), query, inverse_norms(query))
    m = query.shape[0]
    if m <= 2:
        kept = list(range(m))
    else:
        score = c.mean(axis=0, dtype=F32)
        keep = max(1, int(math.floor(query_keep * m)))
        kept = sorted(range(m), key=lambda j: (-float(score[j]), j))[:keep]
    r = (F32(sign) * c[:, kept].mean(axis=1, dtype=F32)).astype(F32)
    lo, hi = r.min(), r.max()
    return ((r - lo) / (hi - lo)).astype(F32) if hi > lo else np.ones(n, dtype=F32)


def redundancy(x: np.ndarray, inv: np.ndarray, tau: float, gamma: float, kmin: int):
    """Bipartite GSP redundancy of one shard; also returns S (A x B cosines)."""
    n = x.shape[0]
    a, b = x[0::2], x[1::2]
    s = cosines(a, inv[0::2], b, inv[1::2]) if b.shape[0] else np.zeros((a.shape[0], 0), dtype=F32)
    rho = np.zeros(n, dtype=F32)
    rho[0::2], rho[1::2] = piece_redundancy(s, tau, gamma, kmin)
    return rho, s


def piece_redundancy(s: np.ndarray, tau: float, gamma: float, kmin: int):
    """Redundancy of the row tokens and of the column tokens of a bipartite piece with cosines s."""
    strong = s >= F32(tau)
    out = []
    for axis, edges in ((1, s.shape[1]), (0, s.shape[0])):
        d = strong.sum(axis=axis).astype(F32)
        sum_strong = np.where(strong, s, F32(0)).sum(axis=axis, dtype=F32)
        total = s.sum(axis=axis, dtype=F32)
        mu = np.where(d > 0, sum_strong / np.maximum(d, F32(1)), F32(0)).astype(F32)
        r = (d * np.exp(F32(gamma) * (mu - F32(tau)))).astype(F32)
        mean = total / F32(edges) if edges > 0 else np.zeros_like(total)
        out.append(np.where(d < kmin, F32(0.5) * r + F32(0.5) * mean, r).astype(F32))
    return out[0], out[1]


def keep_lowest(rho: np.ndarray, g: int) -> list[int]:
    order = sorted(range(len(rho)), key=lambda i: (float(rho[i]), i))
    return sorted(order[:g])


def gsp_keep(n: int, share: int, p: float) -> int:
    return min(n, max(share, int(math.ceil((1.0 - p) * n))))


# ---- greedy MAP (Chen et al. 2018) ----------------------------------------------------------

def greedy(k: int, w: np.ndarray, row, diag: np.ndarray):
    """Returns (picks in pick order, rows used). `row(j)` gives cos(j, all candidates)."""
    n = len(w)
    k = min(k, n)
    d = (w * w * diag).astype(F32)
    v = np.zeros((max(k - 1, 0), n), dtype=F32)
    picked = np.zeros(n, dtype=bool)
    picks, rows = [], {}
    while len(picks) < k:
        masked = np.where(picked, F32(-np.inf), d)
        j = int(np.argmax(masked))
        if picked[j] or masked[j] < F32(1e-10):
            break
        t = len(picks)
        picks.append(j)
        picked[j] = True
        r = row(j)
        rows[j] = r
        if t == k - 1:
            break
        acc = v[:t].T @ v[:t, j] if t else np.zeros(n, dtype=F32)
        e = ((w[j] * w) * r - acc.astype(F32)) / np.sqrt(d[j])
        v[t] = e
        d = (d - e * e).astype(F32)
    if len(picks) < k:
        rest = sorted((i for i in range(n) if not picked[i]), key=lambda i: (-float(w[i]), i))
        for j in rest[: k - len(picks)]:
            picks.append(j)
            rows[j] = row(j)
    return picks, rows


def shard_selection(x: np.ndarray, w: np.ndarray, keep: int, picks: int, o):
    inv = inverse_norms(x)
    rho, s = redundancy(x, inv, o.tau, o.gamma, o.kmin)
    surv = keep_lowest(rho, keep)
    xs, ivs = x[surv], inv[surv]
    pos = np.array(surv)
    # Cosines among survivors: cross-side pairs from S, same-side pairs computed.
    g = cosines(xs, ivs, xs, ivs)
    even = pos % 2 == 0
    ia, ib = np.nonzero(even)[0], np.nonzero(~even)[0]
    cross = s[np.ix_(pos[ia] // 2, pos[ib] // 2)]
    g[np.ix_(ia, ib)] = cross
    g[np.ix_(ib, ia)] = cross.T
    diag = np.einsum("ij,ij->i", xs, xs, dtype=F32) * ivs * ivs
    sel, rows = greedy(picks, w[surv], lambda j: g[j], diag.astype(F32))
    return surv, sel, g, diag


# ---- methods -------------------------------------------------------------------------------

def script_monolithic(x, w, k, o):
    surv, sel, _, _ = shard_selection(x, w, gsp_keep(x.shape[0], k, o.gsp_ratio), k, o)
    return sorted(surv[i] for i in sel)


def propose(x, w, offset, n_total, k, o):
    n = x.shape[0]
    share = (k * n + n_total - 1) // n_total
    kappa = int(math.ceil(o.alpha * k * n / n_total))
    surv, sel, g, diag = shard_selection(x, w, gsp_keep(n, share, o.gsp_ratio), kappa, o)
    order = sorted(sel, key=lambda i: surv[i])
    block = g[np.ix_(order, order)].copy()
    block[np.diag_indices(len(order))] = diag[order]
    return [offset + surv[i] for i in order], block


def script_sharded(x, w, shards, k, o):
    return global_greedy(x, w, [propose(x[a:b], w[a:b], a, x.shape[0], k, o) for a, b in shards], k)


def global_greedy(x, w, groups, k):
    """Greedy k over the union of proposals (indices, within-shard cosine block)."""
    cand = [i for idx, _ in groups for i in idx]
    xs = x[cand]
    inv = inverse_norms(xs)
    g = cosines(xs, inv, xs, inv)
    at = 0
    for idx, block in groups:
        g[at:at + len(idx), at:at + len(idx)] = block
        at += len(idx)
    sel, _ = greedy(k, w[cand], lambda j: g[j], np.diag(g).astype(F32).copy())
    return sorted(cand[i] for i in sel)


def cdpruner(x, w, k):
    inv = inverse_norms(x)
    n = x.shape[0]
    if n <= 4096:
        g = cosines(x, inv, x, inv)
        row = lambda j: g[j]
    else:
        row = lambda j: cosines(x[j:j + 1], inv[j:j + 1], x, inv)[0]
    diag = (np.einsum("ij,ij->i", x, x, dtype=F32) * inv * inv).astype(F32)
    sel, _ = greedy(k, w, row, diag)
    return sorted(sel)


def divprune(x, k):
    xn = (x * inverse_norms(x)[:, None]).astype(F32)
    n = x.shape[0]
    score = xn @ xn.sum(axis=0, dtype=F32)
    j = int(np.argmin(score))
    nearest = np.full(n, -np.inf, dtype=F32)
    picked = np.zeros(n, dtype=bool)
    kept = []
    while len(kept) < min(k, n):
        kept.append(j)
        picked[j] = True
        nearest = np.maximum(nearest, xn @ xn[j])
        cand = np.where(picked, np.inf, nearest)
        j = int(np.argmin(cand))
        if picked[j]:
            break
    return sorted(kept)


def gsp_method(x, k, o):
    rho, _ = redundancy(x, inverse_norms(x), o.tau, o.gamma, o.kmin)
    return keep_lowest(rho, min(k, x.shape[0]))


def splitmix(seed: int, n: int) -> list[int]:
    state, out = seed & MASK64, []
    for _ in range(n):
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        out.append(z ^ (z >> 31))
    return out


def random_method(n, k, seed):
    keys = splitmix(seed, n)
    return sorted(sorted(range(n), key=lambda i: (keys[i], i))[:k])


def uniform_method(n, k):
    if k <= 1:
        return [0]
    return [(2 * i * (n - 1) + (k - 1)) // (2 * (k - 1)) for i in range(min(k, n))]


# ---- Script+ ------------------------------------------------------------------------------

def unit_graph(x, inv, unit_tokens, o):
    """(rho, pieces): units 2i and 2i+1 face each other; a lone last unit, or no units, is
    Script's even/odd graph. Pieces are (A positions, B positions, A x B cosines)."""
    n = x.shape[0]
    if not o.unit_graph or unit_tokens is None or unit_tokens >= n:
        rho, s = redundancy(x, inv, o.tau, o.gamma, o.kmin)
        return rho, [(np.arange(0, n, 2), np.arange(1, n, 2), s)]
    units = [(a, min(n, a + unit_tokens)) for a in range(0, n, unit_tokens)]
    rho = np.zeros(n, dtype=F32)
    pieces = []
    for i in range(0, len(units), 2):
        a0, a1 = units[i]
        if i + 1 == len(units):
            r, s = redundancy(x[a0:a1], inv[a0:a1], o.tau, o.gamma, o.kmin)
            rho[a0:a1] = r
            pieces.append((a0 + np.arange(0, a1 - a0, 2), a0 + np.arange(1, a1 - a0, 2), s))
            continue
        b0, b1 = units[i + 1]
        s = cosines(x[a0:a1], inv[a0:a1], x[b0:b1], inv[b0:b1])
        rho[a0:a1], rho[b0:b1] = piece_redundancy(s, o.tau, o.gamma, o.kmin)
        pieces.append((np.arange(a0, a1), np.arange(b0, b1), s))
    return rho, pieces


def discount(rho, r, power):
    """(rho - min rho) * (1 - r)^power in float32 (power by repeated multiplication)."""
    if r is None or power <= 0:
        return rho
    u = (F32(1) - r).astype(F32)
    f = np.ones_like(u)
    for _ in range(power):
        f = (f * u).astype(F32)
    return ((rho - rho.min()).astype(F32) * f).astype(F32)


def plus_selection(x, w, r, unit_tokens, keep, picks, o):
    inv = inverse_norms(x)
    rho, pieces = unit_graph(x, inv, unit_tokens, o)
    surv = keep_lowest(discount(rho, r, o.discount), keep)
    xs, ivs = x[surv], inv[surv]
    g = cosines(xs, ivs, xs, ivs)
    slot = {p: c for c, p in enumerate(surv)}
    for a, b, s in pieces:
        ia = [i for i, p in enumerate(a) if int(p) in slot]
        ib = [j for j, p in enumerate(b) if int(p) in slot]
        ca, cb = [slot[int(a[i])] for i in ia], [slot[int(b[j])] for j in ib]
        block = s[np.ix_(ia, ib)]
        g[np.ix_(ca, cb)] = block
        g[np.ix_(cb, ca)] = block.T
    diag = (np.einsum("ij,ij->i", xs, xs, dtype=F32) * ivs * ivs).astype(F32)
    sel, _ = greedy(picks, w[surv], lambda j: g[j], diag)
    return surv, sel, g, diag


def floor_count(r, o):
    if r is None or o.floor <= 0:
        return 0
    return int((r >= F32(o.floor)).sum())


def plus_monolithic(x, w, r, unit_tokens, k, o):
    surv, sel, _, _ = plus_selection(x, w, r, unit_tokens, gsp_keep(x.shape[0], k, o.gsp_ratio), k, o)
    return sorted(surv[i] for i in sel)


def plus_propose(x, w, r, unit_tokens, offset, n_total, k, o):
    n = x.shape[0]
    share = (k * n + n_total - 1) // n_total
    kappa = int(math.ceil(o.alpha * k * n / n_total))
    kappa += min(max(0, floor_count(r, o) - share), max(0, k - kappa))
    surv, sel, g, diag = plus_selection(x, w, r, unit_tokens, gsp_keep(n, share, o.gsp_ratio), kappa, o)
    order = sorted(sel, key=lambda i: surv[i])
    block = g[np.ix_(order, order)].copy()
    block[np.diag_indices(len(order))] = diag[order]
    return [offset + surv[i] for i in order], block


def plus_sharded(x, w, r, unit_tokens, shards, k, o):
    groups = [plus_propose(x[a:b], w[a:b], None if r is None else r[a:b], unit_tokens, a, x.shape[0], k, o)
              for a, b in shards]
    return global_greedy(x, w, groups, k)


# ---- driver --------------------------------------------------------------------------------

def resolve_budget(text: str, n: int) -> int:
    if "." in text or "e" in text.lower():
        r = float(text)
        if not (0 < r <= 1):
            raise BadInput(f"budget ratio must be in (0, 1], got {r}")
        return max(1, int(math.floor(r * n + 0.5)))
    k = int(text)
    if k < 1:
        raise BadInput(f"budget must be at least 1, got {k}")
    return k


def load(path: str, what: str) -> np.ndarray:
    a = np.load(path)
    if a.ndim == 3:
        a = a.reshape(-1, a.shape[-1])
    if a.ndim != 2:
        raise BadInput(f"{what} must be 2-D or 3-D, got shape {a.shape}")
    a = a.astype(F32)
    if not np.isfinite(a).all():
        raise BadInput(f"{what} holds NaN or infinite values")
    with np.errstate(over="ignore"):
        squares = np.einsum("ij,ij->i", a, a, dtype=F32)
    if not np.isfinite(squares).all():
        raise BadInput(f"{what} has a row whose squares sum past float32's range")
    return a


def parse_shards(text: str, n: int):
    shards = [tuple(int(v) for v in part.split(":")) for part in text.split(",")]
    at = 0
    for a, b in shards:
        if b <= a:
            raise BadInput(f"shard {a}:{b} is empty")
        if b > n:
            raise BadInput(f"shard {a}:{b} runs past {n}")
        if a < at:
            raise BadInput(f"shard {a}:{b} overlaps")
        if a > at:
            raise BadInput(f"shards leave a gap at {at}:{a}")
        at = b
    if at != n:
        raise BadInput(f"shards leave a gap at {at}:{n}")
    return shards


def run(args):
    x = load(args.features, "features")
    n = x.shape[0]
    if n == 0:
        raise BadInput("features are empty")
    e = load(args.embeddings, "embeddings") if args.embeddings else x
    if e.shape[0] != n:
        raise BadInput(f"embeddings have {e.shape[0]} rows for {n} tokens")
    q = load(args.query, "query") if args.query else None
    if q is not None and q.shape[0] and q.shape[1] != e.shape[1]:
        raise BadInput(f"query width {q.shape[1]} differs from {e.shape[1]}")
    k = resolve_budget(args.budget, n)
    if args.unit_tokens is not None and args.unit_tokens < 1:
        raise BadInput(f"unit tokens must be at least 1, got {args.unit_tokens}")
    if not 0 <= args.discount <= 64:
        raise BadInput(f"discount must be a whole number in [0, 64], got {args.discount}")
    if not 0 <= args.floor <= 1:
        raise BadInput(f"floor-relevance must be in [0, 1], got {args.floor}")
    shards = parse_shards(args.shards, n) if args.shards else None
    timings = []
    kept = None
    for _ in range(max(1, args.repeat)):
        start = time.perf_counter()
        if k >= n:
            kept = list(range(n))
        elif args.method == "script+":
            r = relevance(e, q, args.query_keep, args.relevance_sign)
            w = weights_from(r, n, args.theta)
            if shards:
                kept = plus_sharded(x, w, r, args.unit_tokens, shards, k, args)
            else:
                kept = plus_monolithic(x, w, r, args.unit_tokens, k, args)
        elif args.method in ("script", "cdpruner"):
            w = weights(e, q, args.theta, args.query_keep, args.relevance_sign)
            if args.method == "cdpruner":
                kept = cdpruner(x, w, k)
            elif shards:
                kept = script_sharded(x, w, shards, k, args)
            else:
                kept = script_monolithic(x, w, k, args)
        elif args.method == "divprune":
            kept = divprune(x, k)
        elif args.method == "gsp":
            kept = gsp_method(x, k, args)
        elif args.method == "random":
            kept = random_method(n, k, args.seed)
        elif args.method == "uniform":
            kept = uniform_method(n, k)
        else:
            raise BadInput(f"unknown method {args.method}")
        timings.append((time.perf_counter() - start) * 1e3)
    return {"indices": [int(i) for i in kept], "budget": k, "n": n, "method": args.method,
            "timings_ms": {"total": float(np.median(timings))}}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--features", required=True)
    p.add_argument("--embeddings")
    p.add_argument("--query")
    p.add_argument("--budget", required=True)
    p.add_argument("--shards")
    p.add_argument("--method", default="script")
    p.add_argument("--tau", type=float, default=0.2)
    p.add_argument("--gamma", type=float, default=1.0)
    p.add_argument("--kmin", type=int, default=4)
    p.add_argument("--gsp-ratio", dest="gsp_ratio", type=float, default=0.5)
    p.add_argument("--theta", type=float, default=0.5)
    p.add_argument("--query-keep", dest="query_keep", type=float, default=0.5)
    p.add_argument("--relevance-sign", dest="relevance_sign", type=float, default=1.0)
    p.add_argument("--alpha", type=float, default=2.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--unit-tokens", dest="unit_tokens", type=int)
    p.add_argument("--discount", type=int, default=4)
    p.add_argument("--floor-relevance", dest="floor", type=float, default=0.6)
    p.add_argument("--no-unit-graph", dest="unit_graph", action="store_false")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--out")
    args = p.parse_args(argv)
    try:
        doc = run(args)
    except (BadInput, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    text = json.dumps(doc)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
