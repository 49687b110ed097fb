"""Tensor bytes in shared memory (`transfer="shared"`): a sealed memfd that the workers on this
host, behind Unix sockets (`ipc://`), map and read in place instead of receiving the bytes."""

from __future__ import annotations

import fcntl
import mmap
import os
import weakref
from typing import Any, List

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
        """The `shared` field naming the bytes from `offset` on: [process, descriptor, offset]."""
        return [os.getpid(), self.fd, int(offset)]
