"""Fixtures of the data tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from bdd_writers import standard_frames, write_bdd


@pytest.fixture
def bdd_root(tmp_path) -> Path:
    return write_bdd(tmp_path / "bdd", "val", standard_frames())
