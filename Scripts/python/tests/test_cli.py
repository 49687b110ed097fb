"""`script-cluster-py prune|status|load` against the shared cluster."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from harness import Coordinator, in_process, request_data


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "script-cluster-py"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "script_cluster"]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, check=check, timeout=60)


def test_version():
    from script_cluster import __version__
    assert cli("--version").stdout == f"script-cluster-py {__version__}\n"


def test_entry_point_is_installed():
    try:
        eps = metadata.entry_points(group="console_scripts") if sys.version_info >= (3, 10) \
            else metadata.entry_points().get("console_scripts", [])
    except Exception:  # pragma: no cover
        pytest.skip("no package metadata")
    names = {ep.name: ep.value for ep in eps}
    if "script-cluster-py" not in names:
        pytest.skip("the package is not installed (run from a source tree)")
    assert names["script-cluster-py"] == "script_cluster.cli:main"
    assert (Path(sys.executable).parent / "script-cluster-py").exists()


def test_prune_prints_what_in_process_keeps(cluster, tmp_path):
    x, q, shards = request_data(61)
    np.save(tmp_path / "x.npy", x.astype(np.float16))
    np.save(tmp_path / "q.npy", q)
    out = cli("prune", "--connect", cluster, "--features", str(tmp_path / "x.npy"), "--query", str(tmp_path / "q.npy"),
              "--budget", "33", "--tiles", "4", "--tau", "0.25", "--kept-features", str(tmp_path / "kept.npy"))
    doc = json.loads(out.stdout)
    ref = in_process(tmp_path, x.astype(np.float16).astype(np.float32), 33, query=q, shards=shards,
                     options={"tau": 0.25})
    assert doc["indices"] == ref["indices"] and doc["shards"] == 4 and doc["endpoint"] == cluster
    kept = np.load(tmp_path / "kept.npy")
    assert kept.dtype == np.float32 and np.array_equal(kept, x.astype(np.float16)[doc["indices"]].astype(np.float32))
    cli("prune", "--connect", cluster, "--features", str(tmp_path / "x.npy"), "--budget", "0.05",
        "--shards", "0:128,128:256", "--dtype", "f32", "--out", str(tmp_path / "kept.npy"))
    assert np.load(tmp_path / "kept.npy").dtype == np.int64 and len(np.load(tmp_path / "kept.npy")) == 13


def test_sample_directory(cluster, tmp_path):
    from harness import binary
    subprocess.run([binary(), "sample", "--kind", "image", "--out", str(tmp_path / "s")], check=True,
                   stdout=subprocess.DEVNULL)
    doc = json.loads(cli("prune", "--connect", cluster, "--sample", str(tmp_path / "s"), "--budget", "64").stdout)
    assert len(doc["indices"]) == 64 and doc["n"] == 576


def test_status_and_load(cluster, tmp_path):
    doc = json.loads(cli("status", "--connect", cluster).stdout)
    assert doc[cluster]["workers"] == 2
    x, _, _ = request_data(62, units=2)
    np.save(tmp_path / "x.npy", x)
    out = json.loads(cli("load", "--connect", cluster, "--features", str(tmp_path / "x.npy"), "--budget", "8",
                         "--tiles", "2", "--requests", "12", "--concurrency", "4").stdout)
    assert out["ok"] == 12 and out["errors"] == {} and out["latency_ms"]["p50"] > 0 and out["throughput_per_s"] > 0
    shared = json.loads(cli("load", "--connect", cluster, "--features", str(tmp_path / "x.npy"), "--budget", "8",
                            "--tiles", "2", "--requests", "6", "--concurrency", "2", "--shared-memory").stdout)
    assert shared["ok"] == 6 and shared["errors"] == {}


def test_load_says_at_once_that_no_coordinator_answers_or_one_has_no_worker(tmp_path, logdir):
    """`load` asks every coordinator first: none reached ends it after 10 s, saying why (its
    requests had each waited out their deadline, minutes of silence), and one without workers is
    said before its requests wait."""
    x, _, _ = request_data(64, units=2)
    np.save(tmp_path / "x.npy", x)
    t0 = time.monotonic()
    down = cli("load", "--connect", "tcp://127.0.0.1:9", "--features", str(tmp_path / "x.npy"), "--budget", "8",
               "--requests", "16", check=False)
    assert down.returncode == 3 and "failed attempts: is a coordinator listening there" in down.stderr, down.stderr
    assert time.monotonic() - t0 < 20
    co = Coordinator(logdir)
    try:
        lonely = cli("load", "--connect", co.frontend, "--features", str(tmp_path / "x.npy"), "--budget", "8",
                     "--requests", "1", "--deadline", "1", check=False)
        assert f"warning: {co.frontend} has no worker" in lonely.stderr and lonely.returncode == 3, lonely.stderr
    finally:
        assert co.stop() == 0


def test_prune_on_a_coordinator_without_workers_says_so_while_it_waits(tmp_path, logdir):
    """Its request waits for a worker until its deadline: the first ping's answer says so, once,
    as `warning: ...` (it was silent until the deadline, which looked like a hang)."""
    x, _, _ = request_data(64, units=2)
    np.save(tmp_path / "x.npy", x)
    co = Coordinator(logdir)
    try:
        lonely = cli("prune", "--connect", co.frontend, "--features", str(tmp_path / "x.npy"), "--budget", "8",
                     "--deadline", "3.5", check=False)
        said = f"warning: {co.frontend} has no worker: its requests wait for one until their deadline\n"
        assert lonely.returncode == 3 and lonely.stderr.count(said) == 1, lonely.stderr
    finally:
        assert co.stop() == 0


def test_exit_codes(cluster, tmp_path):
    x, _, _ = request_data(63, units=2)
    np.save(tmp_path / "x.npy", x)
    refused = cli("prune", "--connect", cluster, "--features", str(tmp_path / "x.npy"), "--budget", "0", check=False)
    assert refused.returncode == 3 and "bad_budget" in refused.stderr
    missing = cli("prune", "--connect", cluster, "--features", str(tmp_path / "nope.npy"), "--budget", "3", check=False)
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    usage = cli("prune", "--connect", cluster, "--features", str(tmp_path / "x.npy"), "--budget", "many", check=False)
    assert usage.returncode == 2
    cut = cli("prune", "--connect", cluster, "--features", str(tmp_path / "x.npy"), "--budget", "3", "--kmin", "1.5",
              check=False)
    assert cut.returncode == 2 and "--kmin: invalid int value: '1.5'" in cut.stderr  # (it was cut to 1 and sent)
    never = cli("status", "--connect", cluster, "--timeout", "0", check=False)
    assert never.returncode == 2 and "timeout must be between" in never.stderr  # (it said "deadline")
    down = cli("status", "--connect", "tcp://127.0.0.1:9", "--timeout", "0.2", check=False)
    assert down.returncode == 3 and json.loads(down.stdout)["tcp://127.0.0.1:9"]["error"] == "timeout"
    slip = cli("status", "--connect", cluster + ",", check=False)  # as the Swift CLI refuses it
    assert slip.returncode == 2 and "an empty item is not an endpoint" in slip.stderr
    assert os.path.exists(tmp_path / "x.npy")


def cli_with(args: list, **popen: object) -> subprocess.CompletedProcess:
    """The CLI with the standard streams and child setup the test gives (a full device, a closed descriptor)."""
    exe = Path(sys.executable).parent / "script-cluster-py"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "script_cluster"]
    return subprocess.run(cmd + list(args), stderr=subprocess.PIPE, text=True, timeout=60, **popen)


def test_outputs_that_cannot_be_written_say_why(cluster, tmp_path):
    x, _, _ = request_data(64, units=2)
    np.save(tmp_path / "x.npy", x)
    ask = ["prune", "--connect", cluster, "--features", str(tmp_path / "x.npy"), "--budget", "8", "--tiles", "2"]
    full = tmp_path / "full"
    full.symlink_to("/dev/full")  # the test's own link: a regression replaces it, never the device
    with open(full, "w") as disk_full:
        for args in (ask, ["status", "--connect", cluster], ["--help"], ["prune", "--help"], ["--version"]):
            r = cli_with(args, stdout=disk_full)
            assert r.returncode == 2 and r.stderr == "error: standard output cannot be written: No space left on device\n", args
    closed = cli_with(ask, stdout=subprocess.DEVNULL, preexec_fn=lambda: os.close(1))
    assert closed.returncode == 2 and closed.stderr == "error: standard output cannot be written: Bad file descriptor\n"
    for flag, path, says in (("--out", tmp_path / "no" / "r.json", f"the directory {tmp_path / 'no'} does not exist"),
                             ("--out", tmp_path, "is a directory"),
                             ("--out", tmp_path / "x.npy" / "r.json", f"{tmp_path / 'x.npy'} is not a directory"),
                             ("--kept-features", full, "cannot be written: No space left on device")):
        r = cli(*ask, flag, str(path), check=False)
        assert r.returncode == 2 and r.stderr.startswith(f"error: {flag} {path}: ") and says in r.stderr, r.stderr
    assert full.is_symlink() and os.readlink(full) == "/dev/full"
    cli(*ask, "--kept-features", str(tmp_path / "kept"))  # exactly the name given: numpy's own save adds .npy
    assert np.load(tmp_path / "kept").shape == (8, x.shape[1]) and not (tmp_path / "kept.npy").exists()


def test_inputs_through_pipes_keep_what_the_files_keep(cluster, tmp_path):
    x, q, _ = request_data(65, units=2)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "q.npy", q)
    ask = ["prune", "--connect", cluster, "--query", str(tmp_path / "q.npy"), "--budget", "9", "--tiles", "2"]
    files = json.loads(cli(*ask, "--features", str(tmp_path / "x.npy")).stdout)
    data = (tmp_path / "x.npy").read_bytes()
    piped = cli_with(ask + ["--features", "/dev/stdin"], input=data.decode("latin-1"), stdout=subprocess.PIPE,
                     encoding="latin-1")
    assert piped.returncode == 0 and json.loads(piped.stdout)["indices"] == files["indices"]
    longer = cli_with(ask + ["--features", "/dev/stdin"], input=(data + b"\0").decode("latin-1"),
                      stdout=subprocess.PIPE, encoding="latin-1")
    assert longer.returncode == 2 and f"goes on past the {x.nbytes} bytes" in longer.stderr
    endless = cli(*ask, "--features", "/dev/zero", check=False)
    assert endless.returncode == 2 and "cannot read /dev/zero" in endless.stderr


def test_an_interrupt_or_a_closed_pipe_ends_it_by_its_signal(tmp_path):
    x, _, _ = request_data(66, units=2)
    np.save(tmp_path / "x.npy", x)
    exe = Path(sys.executable).parent / "script-cluster-py"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "script_cluster"]
    waiting = subprocess.Popen(cmd + ["prune", "--connect", "tcp://127.0.0.1:9", "--features", str(tmp_path / "x.npy"),
                                      "--budget", "3", "--deadline", "30"], stderr=subprocess.PIPE, text=True)
    time.sleep(2)  # (past the interpreter's start, into the wait for a coordinator)
    waiting.send_signal(signal.SIGINT)
    with waiting.stderr:
        assert waiting.wait(timeout=10) == -signal.SIGINT and "Traceback" not in waiting.stderr.read()
    read, write = os.pipe()
    os.close(read)
    r = subprocess.run(cmd + ["--help"], stdout=write, stderr=subprocess.PIPE, text=True, timeout=60)
    os.close(write)
    assert r.returncode == -signal.SIGPIPE and r.stderr == ""
