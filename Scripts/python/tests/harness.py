"""Helpers of the tests: real local clusters, `script-cluster up`, or a coordinator and workers started one
by one where a test needs their flags or their process ids. The binary is $SCRIPT_CLUSTER_BIN,
else the repository's .build/debug or .build/release build; a test that needs a cluster fails
(never skips) when there is none."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]


def binary() -> str:
    env = os.environ.get("SCRIPT_CLUSTER_BIN")
    if env:
        return env
    for config in ("debug", "release"):
        p = ROOT / ".build" / config / "script-cluster"
        if p.exists():
            return str(p)
    pytest.fail("script-cluster is not built: run `swift build` at the repository root (or set SCRIPT_CLUSTER_BIN)")


class Proc:
    """A child process whose stdout lines are read on a thread (so its pipe never fills)."""

    def __init__(self, args: List[str], log: Path) -> None:
        self.log = log
        # The binary stops once this test process is gone (a killed or crashed run leaves none).
        env = dict(os.environ, SCRIPT_CLUSTER_PARENT_PID=str(os.getpid()))
        with open(log, "w") as stderr:  # the child writes its own copy; this one closes at once
            self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, text=True, bufsize=1, env=env)
        self.lines: "queue.Queue[str]" = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.p.stdout is not None
        with self.p.stdout:  # closed at the end of the output, whoever stops the process
            for line in self.p.stdout:
                self.lines.put(line.rstrip("\n"))

    def wait_line(self, prefix: str, timeout: float = 30) -> str:
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line starting {prefix!r} within {timeout} s (see {self.log})")
            try:
                line = self.lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.p.poll() is not None:
                    raise AssertionError(f"process exited with {self.p.returncode} (see {self.log})")
                continue
            if line.startswith(prefix):
                return line

    @property
    def pid(self) -> int:
        return self.p.pid

    def signal(self, sig: int) -> None:
        if self.p.poll() is None:
            os.kill(self.p.pid, sig)

    def stop(self, timeout: float = 20) -> Optional[int]:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode


def children(pid: int) -> List[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(d))
    return out


class UpCluster:
    """`script-cluster up --workers N` on free loopback ports."""

    def __init__(self, workers: int, logdir: Path, name: str = "up", extra: Sequence[str] = ()) -> None:
        self.proc = Proc([binary(), "up", "--workers", str(workers), "--frontend", "tcp://127.0.0.1:*",
                          "--backend", "tcp://127.0.0.1:*", *extra], logdir / f"{name}.log")
        line = self.proc.wait_line("cluster up: frontend ")
        self.frontend = line.split()[3].rstrip(",")
        # "(coordinator pid P)", or "(pids P,...)" where `up` may start several coordinators.
        found = re.search(r"\((?:coordinator )?pids? (\d+)", line)
        assert found, f"no coordinator pid in {line!r}"
        self.coordinator_pid = int(found.group(1))
        self.proc.wait_line(f"all {workers} workers ready")
        self.worker_pids = [p for p in children(self.proc.pid) if p != self.coordinator_pid]
        assert len(self.worker_pids) == workers

    def kill_coordinator(self) -> None:
        os.kill(self.coordinator_pid, signal.SIGKILL)

    def signal_workers(self, sig: int) -> None:
        for p in self.worker_pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass

    def stop(self) -> Optional[int]:
        for p in [self.coordinator_pid] + self.worker_pids:
            try:
                os.kill(p, signal.SIGCONT)
            except ProcessLookupError:
                pass
        return self.proc.stop()

    def kill(self) -> None:
        """Ends a disposable cluster at once: its children killed, then `up` (which sees them go)."""
        for p in [self.coordinator_pid] + self.worker_pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.stop()


class Coordinator:
    """A coordinator alone (flags of its own), with `workers` worker processes if asked."""

    def __init__(self, logdir: Path, *flags: str, workers: int = 0, name: str = "coordinator",
                 host: str = "127.0.0.1") -> None:
        self.started = time.monotonic()
        self.proc = Proc([binary(), "coordinator", "--frontend", f"tcp://{host}:*", "--backend", f"tcp://{host}:*",
                          *flags], logdir / f"{name}.log")
        self.frontend = self.proc.wait_line("frontend ").split()[1]
        self.backend = backend = self.proc.wait_line("backend ").split()[1]
        self.workers = [Proc([binary(), "worker", "--connect", backend, "--name", f"{name}-w{i}", "--data-bind", f"tcp://{host}:*"],
                             logdir / f"{name}-w{i}.log") for i in range(workers)]
        try:
            self._wait_for_workers(workers)
        except BaseException:
            self.stop()  # a cluster that did not come up is not left running
            raise

    def _wait_for_workers(self, workers: int) -> None:
        if workers:
            from script_cluster import Client
            with Client(self.frontend) as c:
                end = time.monotonic() + 20
                while c.status().workers < workers:
                    assert time.monotonic() < end, "workers did not connect"
                    time.sleep(0.05)

    def stop(self) -> Optional[int]:
        self.proc.signal(signal.SIGCONT)
        code = self.proc.stop()
        for w in self.workers:
            w.stop()
        return code


def in_process(tmp_path: Path, x: np.ndarray, budget: object, *, query: Optional[np.ndarray] = None,
               embeddings: Optional[np.ndarray] = None, shards: Optional[list] = None, merge: bool = False,
               options: Optional[dict] = None, method: str = "script", unit_tokens: Optional[int] = None) -> dict:
    """`script-cluster prune --shards ...` on float32 copies of the same values: the kept indices
    (and with `merge`, the merged kept features)."""
    args = [binary(), "prune", "--budget", str(budget)]
    for name, a in (("features", x), ("query", query), ("embeddings", embeddings)):
        if a is not None:
            np.save(tmp_path / f"{name}.npy", np.asarray(a, dtype=np.float32))
            args += [f"--{name}", str(tmp_path / f"{name}.npy")]
    if shards is not None:
        args += ["--shards", ",".join(f"{a}:{b}" for a, b in shards)]
    for k, v in (options or {}).items():
        args += ["--" + k.replace("_", "-"), str(v)]
    args += ["--method", method] + (["--unit-tokens", str(unit_tokens)] if unit_tokens else [])
    args += ["--out", str(tmp_path / "kept.json")]
    if merge:
        args += ["--kept-features", str(tmp_path / "kept.npy"), "--merge"]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    doc = json.loads((tmp_path / "kept.json").read_text())
    if merge:
        doc["merged"] = np.load(tmp_path / "kept.npy")
    return doc


def request_data(seed: int, units: int = 4, tokens: int = 64, width: int = 96, query_rows: int = 6):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((units * tokens, width)).astype(np.float32)
    q = rng.standard_normal((query_rows, width)).astype(np.float32)
    shards = [(i * tokens, (i + 1) * tokens) for i in range(units)]
    return x, q, shards
