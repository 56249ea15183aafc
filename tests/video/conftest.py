"""Fixtures for the video tool: synthetic clips written with OpenCV, a colour-threshold predictor, a tiny
untrained model checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
from video_fixtures import ColourBoxPredictor, write_clip

@pytest.fixture(scope="session")
@pytest.fixture(scope="session")
@pytest.fixture
@pytest.fixture(scope="session")