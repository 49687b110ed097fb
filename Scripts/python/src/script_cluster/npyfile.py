"""Reads a .npy file from a path that may be a pipe (`/dev/stdin`, `<(...)`) as well as a regular file."""

from __future__ import annotations

import os
import stat
from typing import Callable

import numpy as np


class _Stream:
    """Only `read`: numpy then reads the array in chunks instead of seeking, which a pipe cannot do."""

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read

    def read(self, size: int = -1, /) -> bytes:
        return self._read(size)


def read_npy(path: str) -> np.ndarray:
    """A regular file is loaded as numpy loads it; anything else is read as a stream up to the size its
    header declares (so an endless stream such as /dev/zero fails at its header instead of filling
    memory), and a stream that goes on past it is refused."""
    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        regular = True  # let numpy say what is wrong with it
    if regular:
        return np.load(path)
    with open(path, "rb") as f:
        array = np.lib.format.read_array(_Stream(f.read))
        if f.read(1):
            raise ValueError(f"the stream goes on past the {array.nbytes} bytes of data its header declares")
    return array
