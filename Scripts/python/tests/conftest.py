"""Fixtures: a log folder and the shared cluster (helpers in harness.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterator

import pytest
from harness import UpCluster


@pytest.fixture(scope="session")
def logdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="script-cluster-py-") as d:
        yield Path(d)


@pytest.fixture(scope="session")
def cluster(logdir: Path) -> Iterator[str]:
    """A shared cluster of 2 workers: its frontend endpoint."""
    c = UpCluster(2, logdir, "shared")
    yield c.frontend
    assert c.stop() == 0
