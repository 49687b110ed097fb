"""A `prune` request as the caller describes it, its wire form, and what comes back."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import msgpack
import numpy as np

from . import tensors
from ._shared import SharedTensor, in_shared_memory
from .tensors import Origin
from .errors import BadBudget, BadOption, BadReply, BadRequest, ScriptClusterError
from .layout import Layout, resolve, resolve_unit_tokens

PROTOCOL_VERSION = 1
RETURN_MODES = ("indices", "features", "merged")
#: How a request's features and embeddings travel: in the `prune` message, or straight to the
#: workers the coordinator names in `placement` replies (the coordinator gets the envelope only).
TRANSFERS = ("inline", "direct", "shared")
#: The protocol's range for `deadline_ms`.
MAX_DEADLINE_MS = 3_600_000
#: Option keys PROTOCOL.md names (the coordinator also takes `seed`, which only its in-process
#: `random` method uses); unknown keys are passed on for the coordinator to refuse by name.
#: `unit_graph`, `discount` and `floor_relevance` are Script+'s (`method="script+"`); `similarity`
#: is the precision of the products behind the cosines ("bf16" runs on workers whose CPUs have
#: AVX512-BF16 or AMX; a cluster with none refuses it with `BadOption`).
OPTION_KEYS = ("tau", "gamma", "kmin", "gsp_ratio", "theta", "query_keep", "relevance_sign", "alpha",
               "unit_graph", "discount", "floor_relevance", "similarity")
#: Options whose value is a boolean (the others are numbers, but for `CHOICE_OPTIONS`).
BOOL_OPTIONS = ("unit_graph",)
#: Options whose value is one of a few strings.
CHOICE_OPTIONS = {"similarity": ("f32", "bf16")}


@dataclass
class PruneRequest:
    """The arguments of `Client.prune`, for `prune_many`. A mapping of the same keywords works too."""

    features: Any
    budget: Union[int, float]
    query: Any = None
    embeddings: Any = None
    layout: Any = None
    shards: Any = None
    method: str = "script"
    options: Optional[Mapping[str, Any]] = None
    return_: str = "indices"
    deadline: Optional[float] = None
    request_id: Optional[str] = None
    unit_tokens: Optional[int] = None


def as_request(r: Union[PruneRequest, Mapping[str, Any]]) -> PruneRequest:
    if isinstance(r, PruneRequest):
        return r
    if isinstance(r, Mapping):
        try:
            return PruneRequest(**r)
        except TypeError as e:
            raise BadRequest(f"not a prune request: {e}") from None
    raise BadRequest(f"a request must be a PruneRequest or a mapping of prune's keywords, got {type(r).__name__}")


@dataclass
class DirectShards:
    """A direct request's features and embeddings, kept until it is answered: each shard's rows
    go to the worker a `placement` names (again, to another worker, when the shard moves)."""

    features: tensors.WireTensor
    embeddings: Optional[tensors.WireTensor]
    shards: List[Tuple[int, int]]
    #: With `transfer="shared"`: the features' and embeddings' bytes in shared memory (copies, or
    #: where they lie in a `shared_array`).
    shared: Optional[Dict[str, SharedTensor]] = None

    def frames(self, shard: int, ticket: bytes, sharing: bool = False) -> Optional[List[Any]]:
        """The `data` message of shard `shard` under `ticket` (delimiter first), or None when the
        request has no such shard. The rows are views of the input's bytes, not copies; with
        `sharing` (a worker that reads this process's shared memory) and the bytes in shared memory,
        they are named there instead of sent."""
        if not 0 <= shard < len(self.shards):
            return None
        start, end = self.shards[shard]
        fields: Dict[str, Any] = {"v": PROTOCOL_VERSION, "type": "data", "ticket": ticket}
        frames: List[Any] = []
        for name, t in (("features", self.features), ("embeddings", self.embeddings)):
            if t is None:
                continue
            described: Dict[str, Any] = {"dtype": t.dtype, "shape": [end - start, int(t.shape[1])]}
            if sharing and self.shared is not None and name in self.shared:
                described["shared"] = self.shared[name].reference(start * int(t.shape[1]) * tensors.ITEMSIZE[t.dtype])
            else:
                frames.append(t.rows(start, end))
                described["frame"] = len(frames)
            fields[name] = described
        return [b"", msgpack.packb(fields, use_bin_type=True)] + frames


@dataclass
class Prepared:
    """A request in wire form: the envelope's fields but `deadline_ms` (set on each attempt), the
    tensor frames, how to give the result back, and for a direct request its shards' bytes."""

    id: str
    fields: Dict[str, Any]
    frames: List[np.ndarray]
    origin: Origin
    return_mode: str
    deadline: float
    nbytes: int
    direct: Optional[DirectShards] = None


def _scalar(value: Any, what: str, boolean: bool = False) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if boolean:
        if not isinstance(value, bool):
            raise BadOption(f"{what} must be True or False, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadOption(f"{what} must be a number, got {value!r}")
    if isinstance(value, int) and not _INT64[0] <= value <= _INT64[1]:
        raise BadOption(f"{what} = {value} does not fit in a signed 64-bit integer")
    return value


#: The integers the wire carries (MessagePack's, as the coordinator reads them).
_INT64 = (-2 ** 63, 2 ** 63 - 1)


def check_id(request_id: Any) -> str:
    if not isinstance(request_id, str) or not 1 <= len(request_id.encode()) <= 128:
        raise BadRequest(f"request_id must be a string of 1 to 128 bytes, got {request_id!r}")
    return request_id


def check_deadline(deadline: Any, what: str = "deadline") -> float:
    if isinstance(deadline, bool) or not isinstance(deadline, (int, float, np.integer, np.floating)):
        raise BadRequest(f"{what} must be a number of seconds, got {deadline!r}")
    d = float(deadline)
    if not (math.isfinite(d) and 0.001 <= d <= MAX_DEADLINE_MS / 1000):
        raise BadRequest(f"{what} must be between 0.001 and {MAX_DEADLINE_MS // 1000} seconds, got {deadline!r}")
    return d


def prepare(r: PruneRequest, default_deadline: float, transfer: str = "inline") -> Prepared:
    """Checks what can be checked without a pass over the data and builds the wire form
    (`transfer="direct"`: features and embeddings described in the envelope, their bytes kept
    for the workers).

    The coordinator checks the rest (NaN/Inf, whether shards tile the request, option ranges,
    budget range) and answers with the typed error."""
    feats, units, origin = tensors.to_wire(r.features, "features", allow_3d=True)
    emb = q = None
    if r.embeddings is not None:
        emb, emb_units, _ = tensors.to_wire(r.embeddings, "embeddings", allow_3d=True)
        tensors.check_rows(feats, emb)
    if r.query is not None:
        q, _, _ = tensors.to_wire(r.query, "query", allow_3d=False)
    shards = resolve(r.layout, r.shards, feats.shape[0], units)
    unit_tokens = resolve_unit_tokens(r.unit_tokens, r.layout, feats.shape[0], units)

    budget = r.budget
    if isinstance(budget, np.generic):
        budget = budget.item()
    if isinstance(budget, bool) or not isinstance(budget, (int, float)):
        raise BadRequest(f"budget must be an int (tokens to keep) or a float ratio in (0, 1], got {r.budget!r}")
    if isinstance(budget, int) and not _INT64[0] <= budget <= _INT64[1]:
        raise BadBudget(f"budget {budget} does not fit in a signed 64-bit integer")
    if r.return_ not in RETURN_MODES:
        raise BadRequest(f"return_ must be one of {', '.join(RETURN_MODES)}, got {r.return_!r}")
    if not isinstance(r.method, str):
        raise BadOption(f"method must be a string, got {r.method!r}")
    options: Dict[str, Any] = {"method": r.method}
    if r.options is not None:
        if not isinstance(r.options, Mapping):
            raise BadOption(f"options must be a mapping, got {type(r.options).__name__}")
        for k, v in r.options.items():
            if not isinstance(k, str):
                raise BadOption(f"option names are strings, got {k!r}")
            if k == "method":
                raise BadOption("give the method as method=..., not in options")
            if k in CHOICE_OPTIONS:
                if v not in CHOICE_OPTIONS[k]:
                    raise BadOption(f"options[{k!r}] must be one of {', '.join(map(repr, CHOICE_OPTIONS[k]))}, got {v!r}")
                options[k] = v
            else:
                options[k] = _scalar(v, f"options[{k!r}]", boolean=k in BOOL_OPTIONS)
    deadline = check_deadline(r.deadline if r.deadline is not None else default_deadline)

    fields: Dict[str, Any] = {"v": PROTOCOL_VERSION, "type": "prune",
                              "id": check_id(r.request_id) if r.request_id is not None else uuid.uuid4().hex}
    frames: List[np.ndarray] = []
    direct = transfer in ("direct", "shared")
    for name, t in (("features", feats), ("embeddings", emb), ("query", q)):
        if t is None:
            continue
        if direct and name != "query":
            fields[name] = {"dtype": t.dtype, "shape": [int(t.shape[0]), int(t.shape[1])]}
        else:
            frames.append(t.data)
            fields[name] = t.descriptor(len(frames))
    fields["budget"] = budget
    if shards is not None:
        fields["shards"] = [[a, b] for a, b in shards]
    fields["options"] = options
    if unit_tokens is not None:
        fields["unit_tokens"] = unit_tokens
    fields["return"] = r.return_
    shipped = None
    if direct:
        fields["transfer"] = "direct"
        shipped = DirectShards(feats, emb, list(shards) if shards is not None else [(0, feats.shape[0])])
        if transfer == "shared":
            shipped.shared = {name: in_shared_memory(t.data) for name, t in (("features", feats), ("embeddings", emb))
                              if t is not None}
    return Prepared(id=fields["id"], fields=fields, frames=frames, origin=origin, return_mode=r.return_,
                    deadline=deadline, nbytes=sum(int(f.nbytes) for f in frames), direct=shipped)


@dataclass
class PruneResult:
    """A `result` reply.

    `indices`: kept token indices, ascending (int64 numpy array; for a torch input a long tensor
    on its device). `features`: with `return_="features"` or `"merged"`, the kept rows (k x D) in
    the features' dtype, as the same kind of array on the same device; else None."""

    id: str
    indices: Any
    budget: int
    n: int
    shards: int
    workers: List[str]
    timings_ms: Dict[str, float]
    features: Any = None
    endpoint: str = ""
    attempts: int = 1


@dataclass
class ClusterStatus:
    """A `status` reply of one coordinator."""

    endpoint: str
    workers: int
    queued_shards: int
    requests_in_flight: int
    served: int
    failed: int
    extra: Dict[str, Any] = field(default_factory=dict)


def _need(env: Dict[str, Any], key: str, kind: Any, what: str) -> Any:
    v = env.get(key)
    if isinstance(v, bool) or not isinstance(v, kind):
        raise BadReply(f"{what} field '{key}' is missing or of the wrong type: {v!r}")
    return v


def parse_result(env: Dict[str, Any], frames: list, prepared: Prepared, endpoint: str, attempts: int) -> PruneResult:
    indices = _need(env, "indices", list, "result")
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in indices):
        raise BadReply("result field 'indices' holds a value that is not an integer")
    n = _need(env, "n", int, "result")
    if not all(0 <= i < n for i in indices) or any(a >= b for a, b in zip(indices, indices[1:])):
        raise BadReply(f"result field 'indices' is not ascending token indices below n = {n}")
    timings = _need(env, "timings_ms", dict, "result")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in timings.values()):
        raise BadReply("result field 'timings_ms' holds a value that is not a number")
    workers = _need(env, "workers", list, "result")
    feats = None
    if prepared.return_mode != "indices":
        if "features" not in env:
            raise BadReply(f"result for return '{prepared.return_mode}' has no features")
        values = tensors.decode_frame(env["features"], frames, "features")
        if values.shape[0] != len(indices):
            raise BadReply(f"result has {len(indices)} indices but {values.shape[0]} feature rows")
        feats = tensors.features_like(values, prepared.origin)
    return PruneResult(id=prepared.id, indices=tensors.indices_like(indices, prepared.origin),
                       budget=_need(env, "budget", int, "result"), n=n,
                       shards=_need(env, "shards", int, "result"), workers=[str(w) for w in workers],
                       timings_ms={str(k): float(v) for k, v in timings.items()}, features=feats,
                       endpoint=endpoint, attempts=attempts)


def parse_status(env: Dict[str, Any], endpoint: str) -> ClusterStatus:
    known = ("workers", "queued_shards", "requests_in_flight", "served", "failed")
    values = {k: _need(env, k, int, "status") for k in known}
    extra = {k: v for k, v in env.items() if k not in known and k not in ("v", "type", "id")}
    return ClusterStatus(endpoint=endpoint, extra=extra, **values)


def error_result(e: ScriptClusterError, request_id: str, endpoint: Optional[str]) -> ScriptClusterError:
    if e.request_id is None:
        e.request_id = request_id
    if e.endpoint is None:
        e.endpoint = endpoint
    return e


__all__ = ["PruneRequest", "PruneResult", "ClusterStatus", "Layout", "prepare", "as_request"]
