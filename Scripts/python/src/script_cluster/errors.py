"""Typed errors. Every error carries `code`, one of the protocol's error codes (Cluster/PROTOCOL.md):
the coordinator's own when it refused or failed a request, the one that describes the problem
when the client found it before sending (a bad input, a message over the size limit, no reply in
time)."""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Type


class ScriptClusterError(Exception):
    """Base of every error the client raises.

    `code` is the protocol's error code, `message` what was wrong, `request_id` the request's id
    (None for errors found before an id was chosen), `endpoint` the coordinator that answered
    (None when the client raised it itself)."""

    default_code = "internal"

    def __init__(self, message: str, *, code: Optional[str] = None, request_id: Optional[str] = None,
                 endpoint: Optional[str] = None) -> None:
        super().__init__(message)
        self.code: str = code or self.default_code
        self.message: str = message
        self.request_id: Optional[str] = request_id
        self.endpoint: Optional[str] = endpoint

    def __str__(self) -> str:
        where = f" (request {self.request_id}" + (f" at {self.endpoint})" if self.endpoint else ")") if self.request_id else ""
        return f"{self.code}: {self.message}{where}"

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.code, self.request_id, self.endpoint))


def _rebuild(cls: Type[ScriptClusterError], message: str, code: str, request_id: Optional[str],
             endpoint: Optional[str]) -> ScriptClusterError:
    return cls(message, code=code, request_id=request_id, endpoint=endpoint)


class InvalidRequest(ScriptClusterError, ValueError):
    """The request is wrong and retrying it unchanged cannot help."""

    default_code = "bad_request"


class BadMessage(InvalidRequest):
    default_code = "bad_message"


class UnsupportedVersion(InvalidRequest):
    default_code = "unsupported_version"


class UnknownType(InvalidRequest):
    default_code = "unknown_type"


class BadRequest(InvalidRequest):
    """A field is missing, of the wrong type, or unknown."""

    default_code = "bad_request"


class BadTensor(InvalidRequest):
    """A tensor's dtype, rank or bytes are not what the protocol carries."""

    default_code = "bad_tensor"


class BadShape(InvalidRequest):
    """Tensors disagree (row counts, query width) or are empty."""

    default_code = "bad_shape"


class NonFinite(InvalidRequest):
    default_code = "non_finite"


class BadBudget(InvalidRequest):
    default_code = "bad_budget"


class BadShards(InvalidRequest):
    default_code = "bad_shards"


class BadOption(InvalidRequest):
    default_code = "bad_option"


class TooLarge(InvalidRequest):
    """Over a limit: the coordinator's (tokens, width, shards) or the client's message-size limit,
    which is checked before sending because the coordinator drops an oversize message's
    connection without a reply."""

    default_code = "too_large"


class Busy(ScriptClusterError):
    """Every coordinator tried was full until the request's deadline."""

    default_code = "busy"


class Timeout(ScriptClusterError, TimeoutError):
    """The deadline passed before a result came (or, overloaded, the coordinator ended the request
    early, while it waited with too little time left to be answered)."""

    default_code = "timeout"


class Unavailable(Timeout):
    """No coordinator could be reached, or none answered, before the deadline."""


class ConnectionRefused(ScriptClusterError):
    """Every coordinator refused this client's CURVE key (the client's own finding, from the
    handshake; the code is not one a coordinator sends)."""

    default_code = "connection_refused"


class ShuttingDown(ScriptClusterError):
    """The coordinators tried were draining until the request's deadline."""

    default_code = "shutting_down"


class ShardFailed(ScriptClusterError):
    """A shard of the request kept killing the workers computing it (more than the coordinator's
    retries), or a direct-transfer shard's bytes never reached its worker, or this client reaches
    no worker's data socket: the request failed; sending it again computes it again."""

    default_code = "shard_failed"


class UnreadableSharedMemory(ScriptClusterError):
    """A worker could not read shared memory that a client named to it where the coordinator had
    not told it to (its placement named no scope: a client of another release). Where it had,
    the coordinator handles the refusal itself: the client is told to send the bytes instead."""

    default_code = "unreadable_shared_memory"


class InternalError(ScriptClusterError):
    """The coordinator reports a bug."""

    default_code = "internal"


class BadReply(ScriptClusterError):
    """A reply that does not follow the protocol (the coordinator's or the network's fault)."""

    default_code = "bad_message"


_BY_CODE: Dict[str, Type[ScriptClusterError]] = {
    "bad_message": BadMessage,
    "unsupported_version": UnsupportedVersion,
    "unknown_type": UnknownType,
    "bad_request": BadRequest,
    "bad_tensor": BadTensor,
    "bad_shape": BadShape,
    "non_finite": NonFinite,
    "bad_budget": BadBudget,
    "bad_shards": BadShards,
    "bad_option": BadOption,
    "too_large": TooLarge,
    "busy": Busy,
    "timeout": Timeout,
    "shutting_down": ShuttingDown,
    "shard_failed": ShardFailed,
    "unreadable_shared_memory": UnreadableSharedMemory,
    "internal": InternalError,
}

#: Codes worth another attempt with the same id: the request was not taken.
RETRYABLE_CODES = frozenset({"busy", "shutting_down"})


def error_for_code(code: str, message: str, *, request_id: Optional[str] = None,
                   endpoint: Optional[str] = None) -> ScriptClusterError:
    """The typed error for a coordinator's `error` reply (an unknown code gives the base class)."""
    cls = _BY_CODE.get(code, ScriptClusterError)
    return cls(message, code=code, request_id=request_id, endpoint=endpoint)
