"""How a request's tokens split into shards: explicit ranges, equal tiles (AnyRes), video segments,
or a `layout.json` as `script-cluster sample` writes it. The same rules as the `prune` and `submit`
flags `--shards`, `--tiles`, `--frames/--segment-frames` and `--layout`."""

from __future__ import annotations

import json
import os
from typing import Any, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .errors import BadOption, BadShards

Shard = Tuple[int, int]
PathLike = Union[str, "os.PathLike[str]"]


def _int(value: Any, what: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise BadShards(f"{what} must be an integer, got {value!r}")
    return int(value)


def check_shards(shards: Any) -> List[Shard]:
    """`shards` as a list of (start, end) pairs of integers with 0 <= start <= end.

    Whether they tile the request (in order, no gaps, no overlap, none empty) is the
    coordinator's check (`bad_shards`), the same as in-process."""
    if isinstance(shards, (str, bytes)) or not isinstance(shards, (Sequence, np.ndarray)):
        raise BadShards(f"shards must be a sequence of (start, end) pairs, got {type(shards).__name__}")
    out: List[Shard] = []
    for i, pair in enumerate(shards):
        if isinstance(pair, (str, bytes)) or not isinstance(pair, (Sequence, np.ndarray)) or len(pair) != 2:
            raise BadShards(f"shards[{i}] must be a (start, end) pair, got {pair!r}")
        a, b = _int(pair[0], f"shards[{i}] start"), _int(pair[1], f"shards[{i}] end")
        if a < 0 or b < a:
            raise BadShards(f"shards[{i}] = ({a}, {b}) must have 0 <= start <= end")
        out.append((a, b))
    return out


class Layout:
    """A rule that gives the shards of an `n`-token request (`shards_for(n)`)."""

    def __init__(self, kind: str, *, shards: Optional[List[Shard]] = None, tiles: int = 0, frames: int = 0,
                 segment_frames: int = 0, unit_tokens: Optional[int] = None) -> None:
        self.kind = kind
        self._unit_tokens = unit_tokens
        self._shards = shards
        self._tiles = tiles
        self._frames = frames
        self._segment_frames = segment_frames

    def __repr__(self) -> str:
        if self.kind == "tiles":
            return f"Layout.tiles({self._tiles})"
        if self.kind == "video":
            return f"Layout.video({self._frames}, {self._segment_frames})"
        return f"Layout.ranges({self._shards!r})"

    @staticmethod
    def ranges(shards: Sequence[Sequence[int]]) -> "Layout":
        """Explicit half-open token ranges."""
        return Layout("ranges", shards=check_shards(shards))

    @staticmethod
    def tiles(count: int) -> "Layout":
        """`count` equal tiles, one shard each (LLaVA-NeXT AnyRes: a base image and its crops)."""
        count = _int(count, "tiles")
        if count < 1:
            raise BadShards(f"tiles must be at least 1, got {count}")
        return Layout("tiles", tiles=count)

    @staticmethod
    def video(frames: int, segment_frames: int) -> "Layout":
        """`frames` equal frames grouped `segment_frames` at a time (the last segment may be shorter)."""
        frames, segment_frames = _int(frames, "frames"), _int(segment_frames, "segment_frames")
        if frames < 1 or segment_frames < 1:
            raise BadShards(f"frames and segment_frames must be at least 1, got {frames} and {segment_frames}")
        return Layout("video", frames=frames, segment_frames=segment_frames)

    @staticmethod
    def load(source: Union[PathLike, Mapping[str, Any]]) -> "Layout":
        """A `layout.json` (a path, or its parsed content): its `shards`."""
        if isinstance(source, Mapping):
            doc = source
        else:
            try:
                with open(source) as f:
                    doc = json.load(f)
            except (OSError, ValueError) as e:
                raise BadShards(f"cannot read layout file {source}: {e}") from None
        if not isinstance(doc, Mapping) or "shards" not in doc:
            raise BadShards("a layout must be a map with 'shards' (as written by `script-cluster sample`)")
        layout = Layout.ranges(doc["shards"])
        units = doc.get("units")
        if isinstance(units, list) and len(units) > 1:
            sizes = {b - a for a, b in check_shards(units)}
            if len(sizes) == 1 and min(sizes) > 0:
                layout._unit_tokens = sizes.pop()
        return layout

    def unit_tokens_for(self, n: int) -> Optional[int]:
        """Tokens per unit (tile, frame) of an `n`-token request, when the layout knows its units."""
        if self.kind == "tiles":
            return n // self._tiles if n % self._tiles == 0 else None
        if self.kind == "video":
            return n // self._frames if n % self._frames == 0 else None
        return self._unit_tokens

    def shards_for(self, n: int) -> List[Shard]:
        """The shards of an `n`-token request."""
        if self.kind == "tiles":
            if n % self._tiles != 0:
                raise BadShards(f"{self._tiles} tiles do not divide the {n} tokens into equal tiles")
            t = n // self._tiles
            return [(i * t, (i + 1) * t) for i in range(self._tiles)]
        if self.kind == "video":
            if n % self._frames != 0:
                raise BadShards(f"{self._frames} frames do not divide the {n} tokens into equal frames")
            per = n // self._frames
            s = self._segment_frames
            return [(f * per, min(self._frames, f + s) * per) for f in range(0, self._frames, s)]
        assert self._shards is not None
        return list(self._shards)


def resolve_unit_tokens(explicit: Any, layout: Any, n: int, units: Optional[Tuple[int, int]]) -> Optional[int]:
    """Tokens per unit, for Script+: `unit_tokens` if given, else the layout's units, else those of a
    3-D input; None when unknown (Script+ then pairs even and odd positions, as Script does)."""
    if explicit is not None:
        if isinstance(explicit, (bool, np.bool_)) or not isinstance(explicit, (int, np.integer)) or not 1 <= explicit <= n:
            raise BadOption(f"unit_tokens must be an integer between 1 and the {n} tokens, got {explicit!r}")
        return int(explicit)
    if layout is not None:
        if not isinstance(layout, Layout):
            layout = Layout.load(layout)
        return layout.unit_tokens_for(n)
    return units[1] if units is not None else None


def resolve(layout: Any, shards: Any, n: int, units: Optional[Tuple[int, int]]) -> Optional[List[Shard]]:
    """The shards to send: from `shards` or `layout` (at most one), else one shard per unit of a
    3-D input (`units` = (units, tokens per unit)), else none (the coordinator's one shard)."""
    if layout is not None and shards is not None:
        raise BadShards("give layout or shards, not both")
    if shards is not None:
        return check_shards(shards)
    if layout is not None:
        if not isinstance(layout, Layout):
            layout = Layout.load(layout)
        return layout.shards_for(n)
    if units is not None:
        u, t = units
        return [(i * t, (i + 1) * t) for i in range(u)]
    return None
