"""The security mechanism a ZeroMQ peer announces in its greeting (ZMTP 3, RFC 23: ``NULL``,
``PLAIN``, ``CURVE``), read over a plain connection that sends only the greeting's signature and
version, never a mechanism of its own, so that the peer has nothing to refuse and answers alike
every time.

Against CURVE at one end only, libzmq reports the mismatch only at the end that reads the other's
greeting before its own write fails; between processes the other end often sees a connection
closed during the handshake and nothing more, and tries again with a growing interval. A
handshake that fails without detail is checked with this probe."""

import socket
import time
from typing import List, Optional

from ._hosts import Resolver, resolved, tcp_parts

#: The signature (0xFF, 8 bytes of padding, 0x7F) and major version 3.
_OPENING = b"\xff" + b"\x00" * 7 + b"\x01\x7f\x03"


def parse(greeting: bytes) -> Optional[str]:
    """The mechanism named in a greeting's first 32 bytes, or None when they are not a ZMTP 3
    greeting."""
    if len(greeting) < 32 or greeting[0] != 0xFF or not greeting[9] & 1 or greeting[10] < 3:
        return None
    name = greeting[12:32].split(b"\x00", 1)[0]
    if not name or not all(0x41 <= c <= 0x5A or 0x30 <= c <= 0x39 for c in name):
        return None
    return name.decode("ascii")


def _address(endpoint: str) -> Optional[tuple]:
    """(family, address) for ``tcp://host:port`` or ``ipc://path``, or None."""
    if endpoint.startswith("ipc://") and len(endpoint) > 6:
        path = endpoint[6:]
        return socket.AF_UNIX, ("\0" + path[1:] if path.startswith("@") else path)
    parts = tcp_parts(endpoint)
    if parts is None or not parts[2].isdigit():
        return None
    return socket.AF_UNSPEC, (parts[1], int(parts[2]))


def _connect(address: tuple, timeout: float, resolve: Resolver) -> socket.socket:
    """A connected stream socket to `address` (from `_address`) within `timeout` seconds, names
    resolved included; OSError when none can be made."""
    deadline = time.monotonic() + timeout
    if address[0] == socket.AF_UNIX:
        targets = [(socket.AF_UNIX, address[1])]
    else:
        host, port = address[1]
        targets = [(family, sockaddr) for family, _, _, _, sockaddr in resolved(host, port, timeout, resolve)]
    for family, sockaddr in targets:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.settimeout(left)
            s.connect(sockaddr)
            return s
        except OSError:
            s.close()
    raise OSError(f"no connection to {address[1]!r} within {timeout:g} s")


def mechanism(endpoint: str, timeout: float = 0.5, resolve: Resolver = socket.getaddrinfo) -> Optional[str]:
    """The mechanism `endpoint` announces, or None when it cannot be read within `timeout`
    seconds (nothing listens, the peer is not a ZMTP 3 peer, or closes first). `resolve` is
    getaddrinfo (tests give one that hangs)."""
    address = _address(endpoint)
    if address is None:
        return None
    deadline = time.monotonic() + timeout
    try:
        s = _connect(address, timeout, resolve)
    except (OSError, ValueError, OverflowError):  # unreachable; a name that cannot be; a port past 65535
        return None
    with s:
        try:
            s.sendall(_OPENING)
            got = b""
            while len(got) < 32:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                s.settimeout(left)
                chunk = s.recv(64)
                if not chunk:
                    return None
                got += chunk
        except OSError:
            return None
    return parse(got)
