"""Tensor bytes in shared memory (`transfer="shared"`): a memfd, sealed against shrinking and
growing, that the workers on this host behind Unix sockets (`ipc://`) map and read in place
instead of receiving the bytes. A request's tensors are copied into one (`SharedBytes`), unless
they already lie in one the caller filled (`shared_array`)."""

from __future__ import annotations

import fcntl
import mmap
import os
import threading
import weakref
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .errors import BadRequest

_SEAL_SIZE = getattr(fcntl, "F_SEAL_SHRINK", 0) | getattr(fcntl, "F_SEAL_GROW", 0)


def _memfd(n: int) -> int:
    """A memfd of `n` bytes that takes seals."""
    if not hasattr(os, "memfd_create") or not hasattr(fcntl, "F_ADD_SEALS"):
        raise BadRequest("transfer='shared' needs Linux (memfd_create and file seals)")
    fd = os.memfd_create("script-cluster-tensor", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        os.ftruncate(fd, n)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _reference(fd: int, offset: int) -> List[int]:
    """The `shared` field naming the bytes of memfd `fd` from `offset` on: [process, descriptor,
    offset, PID namespace]."""
    scope = current_scope()
    if scope is None:
        raise BadRequest("transfer='shared' needs /proc (this process's PID namespace)")
    return [os.getpid(), fd, int(offset), scope[0]]


class SharedBytes:
    """A copy of `data` (a flat uint8 array) in a memfd, sealed against writing, shrinking and
    growing (a worker's mapping can neither be cut short nor see the bytes change). Its descriptor
    stays open while this object lives; a worker's mapping outlives it safely."""

    def __init__(self, data: Any) -> None:
        n = int(data.nbytes)
        fd = _memfd(n)
        try:
            # Written, not copied into a writable mapping: the kernel fills fresh pages as it
            # copies, where a mapping faults each page in and zeroes it first (23.6 MB: 12 ms
            # against 21 on a Zen 4).
            view, done = memoryview(data).cast("B"), 0
            while done < n:
                done += os.pwrite(fd, view[done:], done)
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEAL_SIZE | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        self._close = weakref.finalize(self, os.close, fd)

    def reference(self, offset: int) -> List[int]:
        """The `shared` field naming the bytes from `offset` on."""
        return _reference(self.fd, offset)


class _Region(mmap.mmap):
    """A writable mapping of a memfd sealed against shrinking and growing (`shared_array`): the
    arrays over it keep it, and its descriptor, alive."""

    fd: int


# Live regions by start address, to find the one a tensor's bytes lie in.
_regions: "weakref.WeakValueDictionary[int, _Region]" = weakref.WeakValueDictionary()
_regions_lock = threading.Lock()


def _address(a: np.ndarray) -> int:
    return int(a.__array_interface__["data"][0])


def shared_array(shape: Union[int, Sequence[int]], dtype: Any = np.float16) -> np.ndarray:
    """A zeroed numpy array in shared memory: fill it (a torch tensor's `copy_` into
    `torch.from_numpy(a)` included), then prune it, or a C-contiguous slice of its rows, with
    `transfer="shared"`: the workers on this host read it in place, with no copy in this process.
    Do not write to it while a request that uses it is in flight."""
    dt = np.dtype(dtype)
    dims: Tuple[int, ...] = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    if any(d < 0 for d in dims):
        raise BadRequest(f"shared_array shape {dims} has a negative dimension")
    n = max(1, int(np.prod(dims, dtype=np.int64)) * dt.itemsize)
    fd = _memfd(n)
    try:
        region = _Region(fd, n)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEAL_SIZE | fcntl.F_SEAL_SEAL)
    except BaseException:
        os.close(fd)
        raise
    region.fd = fd
    weakref.finalize(region, os.close, fd)
    a = np.frombuffer(region, dtype=dt, count=int(np.prod(dims, dtype=np.int64))).reshape(dims)
    with _regions_lock:
        _regions[_address(a)] = region
    return a


class _InRegion:
    """Bytes that already lie in a `shared_array`'s region, from byte `start` of it."""

    def __init__(self, region: _Region, start: int) -> None:
        self.region = region
        self.start = start

    def reference(self, offset: int) -> List[int]:
        return _reference(self.region.fd, self.start + offset)


#: A tensor's bytes in shared memory: a copy, or where they lie in a `shared_array`.
SharedTensor = Union[SharedBytes, _InRegion]


def in_shared_memory(data: np.ndarray) -> SharedTensor:
    """`data` (a flat uint8 array) named where it lies, when it lies in a `shared_array`'s
    region; else copied into a fresh memfd."""
    at, n = _address(data), int(data.nbytes)
    with _regions_lock:
        found: Dict[int, _Region] = {s: r for s, r in _regions.items() if s <= at and at + n <= s + len(r)}
    if found:
        start, region = next(iter(found.items()))
        return _InRegion(region, at - start)
    return SharedBytes(data)


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
    user (a worker reads its own user's memory only). None: the worker reads none (or does not
    say), and is sent the bytes."""
    here = current_scope()
    if worker is None or here is None:
        return False
    return worker[0] == here[0] and worker[1] == here[1]
