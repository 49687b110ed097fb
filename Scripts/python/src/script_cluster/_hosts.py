"""Host names resolved within a bound, and the IPv6 choice of a ZeroMQ socket.

getaddrinfo runs on a thread of its own and is waited for until a deadline, then given up: the
lookups here run where the client waits for its replies (an asyncio client's event loop), which
a resolver that hangs (its name server gone: 5 s a try by default) would otherwise hold."""

import socket
import threading
from typing import Any, Callable, List, Optional, Tuple

#: getaddrinfo, or what tests give in its place (one that hangs).
Resolver = Callable[..., List[Any]]


def resolved(host: str, port: int, timeout: float, resolve: Resolver = socket.getaddrinfo) -> List[Any]:
    """`resolve(host, port)`'s answer (getaddrinfo's tuples) within `timeout` seconds, or []."""
    answer: List[Any] = []

    def run() -> None:
        try:
            answer.extend(resolve(host, port, type=socket.SOCK_STREAM))
        except (OSError, UnicodeError, ValueError, OverflowError):  # no such name; a name that cannot be
            pass

    t = threading.Thread(target=run, name="script-cluster-resolve", daemon=True)
    t.start()
    t.join(timeout)
    return [] if t.is_alive() else answer


def tcp_parts(endpoint: str) -> Optional[Tuple[Optional[str], str, str]]:
    """(source or None, host without brackets, port) of ``tcp://[SOURCE;]HOST:PORT``, or None."""
    if not endpoint.startswith("tcp://"):
        return None
    host, sep, port = endpoint[6:].rpartition(":")
    source, _, host = host.rpartition(";")
    if not sep or not host:
        return None
    return (source.strip("[]") or None), host.strip("[]"), port


def ipv6_wanted(endpoint: str, timeout: float = 0.5, resolve: Resolver = socket.getaddrinfo) -> bool:
    """Whether a socket connects `endpoint` with libzmq's IPv6 option. Without it libzmq takes
    IPv4 only (an IPv6 address reads as an interface name; a name with only IPv6 addresses, a
    service of an IPv6 Kubernetes cluster, does not resolve); with it, a name with both is
    connected at its first address, often the IPv6 one (``localhost`` is ``::1`` first on many
    hosts), where the peer may listen on IPv4 only. So: on for an IPv6 address, and for a name
    with IPv6 addresses and no IPv4 one (looked up within `timeout`); off otherwise."""
    parts = tcp_parts(endpoint)
    if parts is None:
        return False
    source, host, port = parts
    if ":" in host or (source is not None and ":" in source):
        return True
    try:
        socket.inet_pton(socket.AF_INET, host)
        return False
    except OSError:
        pass
    if not port.isdigit():
        return False
    families = {info[0] for info in resolved(host, int(port), timeout, resolve)}
    return socket.AF_INET6 in families and socket.AF_INET not in families
