"""Python client of a Script Cluster coordinator (protocol version 1, Cluster/PROTOCOL.md).

Needs pyzmq, msgpack and numpy. Example:

    from script_client import ScriptClient
    with ScriptClient("tcp://127.0.0.1:5555") as c:
        r = c.prune(features, embeddings=emb, query=q, budget=64, shards=[(0, 576), (576, 1152)])
        kept = r["indices"]

`prune` raises `ScriptError` (with `.code`, one of the protocol's error codes) when the
coordinator refuses or fails a request, and `TimeoutError` when no reply comes in time.
"""

from __future__ import annotations

import time
import uuid

import msgpack
import numpy as np
import zmq

PROTOCOL_VERSION = 1
_DTYPES = {"f32": np.dtype("<f4"), "f16": np.dtype("<f2")}


class ScriptError(Exception):
    """An `error` reply: `code` is the protocol's error code, `message` says what was wrong."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ScriptClient:
    """A DEALER connection to a coordinator's frontend; replies are matched by request id."""

    def __init__(self, endpoint: str, context: zmq.Context | None = None):
        self._ctx = context or zmq.Context.instance()
        self._sock = self._ctx.socket(zmq.DEALER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.connect(endpoint)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "ScriptClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, frames: list[bytes], request_id: str, timeout_ms: int) -> dict:
        self._sock.send_multipart([b""] + frames, copy=False)
        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLIN)
        deadline = time.monotonic() + timeout_ms / 1000
        while (remaining := int((deadline - time.monotonic()) * 1000)) > 0:
            events = dict(poller.poll(remaining))
            if self._sock not in events:
                break
            msg = self._sock.recv_multipart()
            if len(msg) < 2 or msg[0] != b"":
                continue
            env = msgpack.unpackb(msg[1], raw=False)
            if env.get("id") != request_id:
                continue
            if env.get("type") == "error":
                raise ScriptError(env.get("code", "internal"), env.get("message", ""))
            if "features" in env:
                d = env["features"]
                env["features"] = np.frombuffer(msg[1 + d["frame"]], dtype=_DTYPES[d["dtype"]]).reshape(d["shape"])
            return env
        raise TimeoutError(f"no reply to {request_id} within {timeout_ms} ms")

    def status(self, timeout_ms: int = 5000) -> dict:
        rid = f"status-{uuid.uuid4()}"
        env = {"v": PROTOCOL_VERSION, "type": "status", "id": rid}
        return self._call([msgpack.packb(env)], rid, timeout_ms)

    def prune(self, features, *, budget, embeddings=None, query=None, shards=None, options=None,
              return_mode: str = "indices", deadline_ms: int | None = None, request_id: str | None = None,
              half: bool = False, timeout_ms: int | None = None) -> dict:
        """Prunes one request. `features` is N x D (or units x tokens x D); `budget` an int or a
        ratio in (0, 1]; `shards` a list of (start, end). Returns the `result` envelope as a dict:
        `indices`, `budget`, `n`, `shards`, `workers`, `timings_ms`, and `features` (a numpy array)
        when `return_mode` is `features` or `merged`. `half=True` sends float16 tensors."""
        rid = request_id or str(uuid.uuid4())
        dtype_name = "f16" if half else "f32"
        env: dict = {"v": PROTOCOL_VERSION, "type": "prune", "id": rid}
        frames: list[bytes] = []

        def add(name: str, array) -> None:
            a = np.asarray(array)
            if a.ndim == 3:
                a = a.reshape(-1, a.shape[-1])
            a = np.ascontiguousarray(a, dtype=_DTYPES[dtype_name])
            frames.append(a.tobytes())
            env[name] = {"dtype": dtype_name, "shape": list(a.shape), "frame": len(frames)}

        add("features", features)
        if embeddings is not None:
            add("embeddings", embeddings)
        if query is not None:
            add("query", query)
        env["budget"] = float(budget) if isinstance(budget, float) else int(budget)
        if shards is not None:
            env["shards"] = [[int(a), int(b)] for a, b in shards]
        if options:
            env["options"] = dict(options)
        env["return"] = return_mode
        if deadline_ms is not None:
            env["deadline_ms"] = int(deadline_ms)
        wait = timeout_ms if timeout_ms is not None else (deadline_ms or 30000) + 5000
        return self._call([msgpack.packb(env)] + frames, rid, wait)


def main() -> None:
    import argparse
    import json

    p = argparse.ArgumentParser(description="Send a request made of .npy files to a Script Cluster coordinator.")
    p.add_argument("--connect", default="tcp://127.0.0.1:5555")
    p.add_argument("--features", required=True)
    p.add_argument("--embeddings")
    p.add_argument("--query")
    p.add_argument("--budget", required=True)
    p.add_argument("--layout", help="layout.json as written by `script-cluster sample`")
    p.add_argument("--half", action="store_true")
    a = p.parse_args()
    budget = float(a.budget) if ("." in a.budget or "e" in a.budget.lower()) else int(a.budget)
    shards = None
    if a.layout:
        with open(a.layout) as f:
            shards = [tuple(s) for s in json.load(f)["shards"]]
    with ScriptClient(a.connect) as c:
        r = c.prune(np.load(a.features),
                    embeddings=np.load(a.embeddings) if a.embeddings else None,
                    query=np.load(a.query) if a.query else None,
                    budget=budget, shards=shards, half=a.half)
    print(json.dumps({k: v for k, v in r.items() if k != "features"}))


if __name__ == "__main__":
    main()
