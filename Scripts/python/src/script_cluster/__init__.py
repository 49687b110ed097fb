"""Python client of a Script Cluster coordinator (wire protocol version 1, Cluster/PROTOCOL.md).

    from script_cluster import Client
    with Client("tcp://127.0.0.1:5555") as c:
        r = c.prune(features, query=q, budget=320, layout=Layout.tiles(5))
        kept = features[r.indices]
"""

from .aio import AsyncClient
from .client import Client
from .errors import (BadBudget, BadMessage, BadOption, BadReply, BadRequest, BadShape, BadShards, BadTensor, Busy,
                     ConnectionRefused,
                     InternalError, InvalidRequest, NonFinite, ScriptClusterError, ShardFailed, ShuttingDown, Timeout, TooLarge,
                     Unavailable, UnknownType, UnreadableSharedMemory, UnsupportedVersion)
from ._shared import shared_array
from .layout import Layout
from .request import ClusterStatus, PruneRequest, PruneResult

__version__ = "0.7.0"
PROTOCOL_VERSION = 1

__all__ = [
    "AsyncClient", "Client", "ClusterStatus", "Layout", "PruneRequest", "PruneResult", "PROTOCOL_VERSION", "shared_array",
    "ScriptClusterError", "InvalidRequest", "BadMessage", "UnsupportedVersion", "UnknownType", "BadRequest",
    "BadTensor", "BadShape", "NonFinite", "BadBudget", "BadShards", "BadOption", "TooLarge", "Busy", "Timeout",
    "Unavailable", "ConnectionRefused", "ShuttingDown", "ShardFailed", "UnreadableSharedMemory",
    "InternalError", "BadReply",
]
