"""`script-cluster-py`: quick checks of a cluster from a box with Python only.

    script-cluster-py status --connect tcp://HOST:5555
    script-cluster-py prune --connect tcp://HOST:5555 --features F.npy --query Q.npy --budget 320 --tiles 5
    script-cluster-py load --connect tcp://HOST:5555 --sample DIR --budget 320 --requests 64 --concurrency 8

`prune` takes the flags of `script-cluster submit` (requests from .npy files) and prints the same
JSON; `load` sends one request many times (each with its own id) and prints latency and throughput.
Exit status: 0, 2 for a bad command line, input or output (an output file or standard output that
cannot be written), 3 when the cluster refused or failed. An interrupt or a closed pipe ends it as
it ends other Unix tools (by the signal, without a traceback).
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import logging
import os
import signal
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from .aio import AsyncClient
from .client import Client
from .errors import InvalidRequest, ScriptClusterError
from .layout import Layout, check_shards
from .npyfile import read_npy
from .request import BOOL_OPTIONS, OPTION_KEYS, PruneRequest


def _connect(values: Optional[List[str]]) -> List[str]:
    out: List[str] = []
    for v in values or ["tcp://127.0.0.1:5555"]:
        out += [e.strip() for e in v.split(",")]
    return out


def _budget(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"budget must be a count (64) or a ratio (0.1), got {text!r}") from None


#: Options that are counts: `--kmin 1.5` is a usage error (it was cut to 1).
_WHOLE_OPTIONS = ("kmin", "discount")


def _connection_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--connect", action="append", metavar="ENDPOINT",
                   help="a coordinator's client endpoint; repeat it (or separate with commas) for several "
                        "(default tcp://127.0.0.1:5555)")
    p.add_argument("--curve-secret", help="CurveZMQ: this client's key pair (a .key_secret file written by "
                                          "`script-cluster keygen`); with --curve-server-key")
    p.add_argument("--curve-server-key", help="CurveZMQ: the coordinator's public key (its .key file)")


def _curve(a: argparse.Namespace) -> Dict[str, Any]:
    return {"curve_secret": a.curve_secret, "curve_server_key": a.curve_server_key}


def _request_flags(p: argparse.ArgumentParser) -> None:
    _connection_flags(p)
    p.add_argument("--features", help="visual tokens, N x D or units x tokens x D (.npy)")
    p.add_argument("--embeddings", help="the tokens in the query's space, N x Dq (.npy)")
    p.add_argument("--query", help="query token embeddings, M x Dq (.npy)")
    p.add_argument("--sample", metavar="DIR",
                   help="a directory as `script-cluster sample` writes it (features.npy, embeddings.npy, query.npy, "
                        "layout.json), instead of --features/--embeddings/--query/--layout")
    p.add_argument("--budget", required=True, type=_budget, help="tokens to keep: a count (64) or a ratio of N (0.1)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--shards", help="explicit shards: start:end,start:end,...")
    g.add_argument("--tiles", type=int, help="T equal tiles, one shard each (AnyRes)")
    g.add_argument("--frames", type=int, help="video frames F (with --segment-frames)")
    g.add_argument("--layout", help="a layout.json giving the shards")
    p.add_argument("--segment-frames", type=int, help="frames per shard (video)")
    p.add_argument("--method", default="script", help="script (the paper's) or script+ (keeps more of what the query asks about)")
    for key in OPTION_KEYS:
        if key not in BOOL_OPTIONS:
            p.add_argument("--" + key.replace("_", "-"), dest=key, type=int if key in _WHOLE_OPTIONS else float,
                           help=f"option {key}")
    p.add_argument("--no-unit-graph", dest="unit_graph", action="store_false", default=None,
                   help="script+: pair even and odd positions even where the layout has units")
    p.add_argument("--unit-tokens", type=int, help="script+: tokens per tile or frame (default: from the layout)")
    p.add_argument("--dtype", choices=["keep", "f32", "f16", "bf16"], default="keep",
                   help="send tensors in this dtype (bf16 needs ml_dtypes); keep: as stored")
    p.add_argument("--deadline", type=float, help="seconds the cluster may take (default 30)")
    p.add_argument("--direct", action="store_true",
                   help="send each shard's bytes straight to its worker (the coordinator gets the envelope only)")
    p.add_argument("--shared-memory", action="store_true",
                   help="as --direct, the tensors in shared memory that workers on this host behind Unix sockets "
                        "(ipc://) read in place (Linux)")


class CommandError(Exception):
    """A command that cannot finish for a reason of its own (an output it cannot write): exit status 2."""


def _load(path: str, dtype: str) -> np.ndarray:
    try:
        a = read_npy(path)
    except (OSError, ValueError) as e:
        raise InvalidRequest(f"cannot read {path}: {e}") from None
    if dtype == "keep":
        return a
    if dtype == "bf16":
        try:
            import ml_dtypes  # type: ignore[import-not-found]
        except ImportError:
            raise InvalidRequest("--dtype bf16 needs ml_dtypes (pip install ml_dtypes)") from None
        return a.astype(ml_dtypes.bfloat16)
    return a.astype({"f32": np.float32, "f16": np.float16}[dtype])


def _request(a: argparse.Namespace, **extra: Any) -> PruneRequest:
    feats, emb, query, layout = a.features, a.embeddings, a.query, a.layout
    if a.sample:
        if feats or emb or query or layout:
            raise InvalidRequest("give --sample or the files, not both")
        p = lambda name: os.path.join(a.sample, name)  # noqa: E731
        feats = p("features.npy")
        emb = p("embeddings.npy") if os.path.exists(p("embeddings.npy")) else None
        query = p("query.npy") if os.path.exists(p("query.npy")) else None
        if a.shards is None and a.tiles is None and a.frames is None and os.path.exists(p("layout.json")):
            layout = p("layout.json")
    if not feats:
        raise InvalidRequest("--features (or --sample) is needed")
    shards = None
    lay: Any = None
    if a.shards:
        try:
            shards = check_shards([tuple(int(v) for v in part.split(":")) for part in a.shards.split(",")])
        except ValueError:
            raise InvalidRequest(f"--shards must be start:end,start:end,..., got {a.shards!r}") from None
    elif a.tiles is not None:
        lay = Layout.tiles(a.tiles)
    elif a.frames is not None or a.segment_frames is not None:
        if a.frames is None or a.segment_frames is None:
            raise InvalidRequest("--frames and --segment-frames go together")
        lay = Layout.video(a.frames, a.segment_frames)
    elif layout:
        lay = Layout.load(layout)
    options = {k: getattr(a, k) for k in OPTION_KEYS if getattr(a, k) is not None}
    return PruneRequest(_load(feats, a.dtype), a.budget, query=_load(query, a.dtype) if query else None,
                        embeddings=_load(emb, a.dtype) if emb else None, layout=lay, shards=shards, method=a.method,
                        options=options or None, deadline=a.deadline, unit_tokens=a.unit_tokens, **extra)


def _summary(r: Any) -> Dict[str, Any]:
    return {"indices": [int(i) for i in r.indices], "budget": r.budget, "n": r.n, "shards": r.shards,
            "workers": r.workers, "timings_ms": r.timings_ms, "id": r.id, "endpoint": r.endpoint,
            "attempts": r.attempts}


def _say(text: Optional[str] = None) -> None:
    """Writes a line (if given) to standard output now, or raises CommandError saying why it cannot."""
    try:
        if sys.stdout is None:  # started with descriptor 1 closed
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        if text is not None:
            sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except OSError as e:
        if sys.stdout is not None:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # what stays buffered goes nowhere
        raise CommandError(f"standard output cannot be written: {e.strerror}") from None


def _check_output(flag: str, path: Optional[str]) -> None:
    """Refuses an output path that cannot be written before the cluster does the work."""
    if path is None:
        return
    if os.path.isdir(path):
        raise CommandError(f"{flag} {path}: is a directory")
    parent = os.path.dirname(path) or "."
    if not os.path.isdir(parent):
        why = f"{parent} is not a directory" if os.path.exists(parent) else f"the directory {parent} does not exist"
        raise CommandError(f"{flag} {path}: cannot be written: {why}")


def _write(flag: str, path: str, mode: str, write: Callable[[Any], None]) -> None:
    """Writes `path` in place, at exactly that name (a link or a device stays what it is); a regular
    file left half-written is removed."""
    try:
        with open(path, mode) as f:
            write(f)
    except OSError as e:
        if os.path.isfile(path) and not os.path.islink(path):
            os.remove(path)
        raise CommandError(f"{flag} {path}: cannot be written: {e.strerror}") from None


def _transfer(a: argparse.Namespace) -> str:
    return "shared" if a.shared_memory else "direct" if a.direct else "inline"


def cmd_prune(a: argparse.Namespace) -> int:
    _check_output("--out", a.out)
    _check_output("--kept-features", a.kept_features)
    mode = "indices" if not a.kept_features else ("merged" if a.merge else "features")
    req = _request(a, return_=mode, request_id=a.id)
    with Client(_connect(a.connect), transfer=_transfer(a), **_curve(a)) as c:
        r = c.prune_request(req)
    doc = _summary(r)
    if a.out and a.out.endswith(".npy"):
        _write("--out", a.out, "wb", lambda f: np.save(f, np.asarray(doc["indices"], dtype=np.int64)))
    elif a.out:
        _write("--out", a.out, "w", lambda f: json.dump(doc, f))
    else:
        _say(json.dumps(doc))
    if a.kept_features:
        _write("--kept-features", a.kept_features, "wb", lambda f: np.save(f, np.asarray(r.features, dtype=np.float32)))
    return 0


def cmd_status(a: argparse.Namespace) -> int:
    with Client(_connect(a.connect), **_curve(a)) as c:
        states = c.status_all(timeout=a.timeout)
    code = 0
    doc: Dict[str, Any] = {}
    for endpoint, s in states.items():
        if isinstance(s, ScriptClusterError):
            doc[endpoint] = {"error": s.code, "message": s.message}
            code = 3
        else:
            doc[endpoint] = {"workers": s.workers, "queued_shards": s.queued_shards,
                             "requests_in_flight": s.requests_in_flight, "served": s.served, "failed": s.failed}
    _say(json.dumps(doc, indent=1))
    return code


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


async def _check_coordinators(c: AsyncClient) -> None:
    """Before a load: no coordinator reached within 10 s ends it now, saying why (its requests would
    each have waited out their deadline first, minutes of silence), and one without workers is said
    at once (its requests wait for one until their deadline)."""
    states = await c.status_all(timeout=10.0)
    errors = [s for s in states.values() if isinstance(s, ScriptClusterError)]
    if len(errors) == len(states):
        raise errors[0]
    for endpoint, s in states.items():
        if not isinstance(s, ScriptClusterError) and s.workers == 0:
            print(f"warning: {endpoint} has no worker: its requests wait for one until their deadline", file=sys.stderr)


async def _load_run(a: argparse.Namespace) -> Dict[str, Any]:
    base = _request(a)
    latencies: List[float] = []
    errors: Dict[str, int] = {}
    room = asyncio.Semaphore(a.concurrency)
    async with AsyncClient(_connect(a.connect), transfer=_transfer(a), **_curve(a)) as c:
        await _check_coordinators(c)

        async def one() -> None:
            async with room:
                t0 = time.perf_counter()
                try:
                    await c.prune_request(PruneRequest(**{**base.__dict__, "request_id": None}))
                    latencies.append((time.perf_counter() - t0) * 1000)
                except ScriptClusterError as e:
                    errors[e.code] = errors.get(e.code, 0) + 1

        start = time.perf_counter()
        await asyncio.gather(*[one() for _ in range(a.requests)])
        wall = time.perf_counter() - start
    return {"requests": a.requests, "concurrency": a.concurrency, "ok": len(latencies), "errors": errors,
            "wall_s": round(wall, 4), "throughput_per_s": round(len(latencies) / wall, 2) if wall > 0 else None,
            "latency_ms": {"p50": round(_percentile(latencies, 50), 2), "p90": round(_percentile(latencies, 90), 2),
                           "p99": round(_percentile(latencies, 99), 2),
                           "max": round(max(latencies), 2) if latencies else None}}


def cmd_load(a: argparse.Namespace) -> int:
    if a.requests < 1 or a.concurrency < 1:
        raise InvalidRequest("--requests and --concurrency must be at least 1")
    doc = asyncio.run(_load_run(a))
    _say(json.dumps(doc))
    return 3 if doc["errors"] else 0


class _Parser(argparse.ArgumentParser):
    """argparse, whose help says when standard output cannot be written (argparse's own drops the error)."""

    def print_help(self, file: Any = None) -> None:
        if file is None:
            _say(self.format_help().rstrip("\n"))
        else:
            super().print_help(file)


class _Version(argparse.Action):
    """`--version`: the package's version, through `_say` (argparse's own action drops write errors)."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        from . import __version__
        _say(f"script-cluster-py {__version__}")
        parser.exit()


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="script-cluster-py", description="Python client of a Script Cluster.")
    p.add_argument("--version", action=_Version, nargs=0, help="print the version and exit")
    sub = p.add_subparsers(dest="command", required=True)
    pr = sub.add_parser("prune", help="prune one request made of .npy files and print the result as JSON")
    _request_flags(pr)
    pr.add_argument("--out", help="write the kept indices: .json (the result) or .npy (int64)")
    pr.add_argument("--kept-features", help="also write the kept features (.npy, float32)")
    pr.add_argument("--merge", action="store_true", help="with --kept-features: merge pruned tokens into kept ones")
    pr.add_argument("--id", help="request id (default: a fresh one); reuse one to retry safely")
    pr.set_defaults(run=cmd_prune)
    st = sub.add_parser("status", help="print each coordinator's state")
    _connection_flags(st)
    st.add_argument("--timeout", type=float, default=5.0)
    st.set_defaults(run=cmd_status)
    ld = sub.add_parser("load", help="send a request many times and print latency and throughput")
    _request_flags(ld)
    ld.add_argument("--requests", type=int, default=32)
    ld.add_argument("--concurrency", type=int, default=8)
    ld.set_defaults(run=cmd_load)
    return p


def _end_as_unix_tools_do() -> None:
    """Ctrl-C and a reader that closed its end of the pipe end the process by their signal, as they end
    `script-cluster` and other Unix tools, rather than with a Python traceback."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)


class _StandardError(logging.Handler):
    """The client library's warnings (a coordinator with no worker, a data socket it cannot reach)
    said as the Swift tools say theirs: `warning: ...` on standard error, as it is at the time."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"{record.levelname.lower()}: {record.getMessage()}", file=sys.stderr)


def _say_library_warnings() -> None:
    log = logging.getLogger("script_cluster")
    if not any(isinstance(h, _StandardError) for h in log.handlers):
        log.addHandler(_StandardError(logging.WARNING))


def _run(argv: Optional[Sequence[str]]) -> int:
    try:
        a = parser().parse_args(argv)
    except SystemExit as done:  # after --help (0), or a usage error argparse has said (2)
        return done.code if isinstance(done.code, int) else 2
    return int(a.run(a))


def main(argv: Optional[Sequence[str]] = None) -> None:
    _end_as_unix_tools_do()
    _say_library_warnings()
    try:
        code = _run(argv)
    except CommandError as e:
        print(f"error: {e}", file=sys.stderr)
        code = 2
    except InvalidRequest as e:
        print(f"error: {e}", file=sys.stderr)
        code = 2 if e.endpoint is None else 3
    except ScriptClusterError as e:
        print(f"error: {e}", file=sys.stderr)
        code = 3
    sys.exit(code)
