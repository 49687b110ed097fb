"""Tensor bytes in shared memory (`transfer="shared"`): a sealed memfd that the workers on this
host, behind Unix sockets (`ipc://`), map and read in place instead of receiving the bytes."""

from __future__ import annotations

import fcntl
import mmap
import os
import weakref
from typing import Any, List, Optional, Sequence

from .errors import BadRequest


class SharedBytes:
    """A copy of `data` (a flat uint8 array) in a memfd, sealed against writing, shrinking and
    growing (a worker's mapping can neither be cut short nor see the bytes change). Its descriptor
    stays open while this object lives; a worker's mapping outlives it safely."""

    def __init__(self, data: Any) -> None:
        if not hasattr(os, "memfd_create") or not hasattr(fcntl, "F_ADD_SEALS"):
            raise BadRequest("transfer='shared' needs Linux (memfd_create and file seals)")
        n = int(data.nbytes)
        fd = os.memfd_create("script-cluster-tensor", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            os.ftruncate(fd, n)
            if n:
                with mmap.mmap(fd, n) as m:
                    m[:] = memoryview(data).cast("B")
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        self._close = weakref.finalize(self, os.close, fd)

    def reference(self, offset: int) -> List[int]:
        """The `shared` field naming the bytes from `offset` on: [process, descriptor, offset,
        PID namespace]."""
        scope = current_scope()
        if scope is None:
            raise BadRequest("transfer='shared' needs /proc (this process's PID namespace)")
        return [os.getpid(), self.fd, int(offset), scope[0]]


def current_scope() -> Optional[List[int]]:
    """[PID namespace, user] of this process: whose shared memory it reads, and who reads its
    (None where /proc does not say)."""
    try:
        return [os.stat("/proc/self/ns/pid").st_ino, os.geteuid()]
    except OSError:
        return None


def worker_reads(worker: Optional[Sequence[int]]) -> bool:
    """Whether a worker of scope `worker` (a placement's `shared_memory`) reads this process's
    shared memory: the same PID namespace (a PID names its process only there), and the same
    user or root. None: the worker reads none (or does not say), and is sent the bytes."""
    here = current_scope()
    if worker is None or here is None:
        return False
    return worker[0] == here[0] and worker[1] in (here[1], 0)
