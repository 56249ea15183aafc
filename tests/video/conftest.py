"""Fixtures for the video tool: synthetic clips written with OpenCV, a colour-threshold predictor, a tiny
untrained model checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
from video_fixtures import CLIP_FRAMES, ColourBoxPredictor, write_clip


@pytest.fixture(scope="session")
def synthetic_clip(tmp_path_factory) -> Path:
    """40 frames, 320x240 at 10 fps, mp4v: a red box moving right, a blue box moving down."""
    return write_clip(tmp_path_factory.mktemp("clip") / "moving.mp4", CLIP_FRAMES)


@pytest.fixture(scope="session")
def mjpeg_clip(tmp_path_factory) -> Path:
    """The same clip in MJPEG/AVI: every frame is one JPEG, so single frames can be corrupted."""
    return write_clip(tmp_path_factory.mktemp("mjpeg") / "moving.avi", 30, fourcc="MJPG")


@pytest.fixture
def colour_predictor() -> ColourBoxPredictor:
    return ColourBoxPredictor()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """An untrained scale-n model at 128x224 input saved as a real checkpoint (what `perception train` writes)."""
    torch = pytest.importorskip("torch")
    from perception.config import ModelConfig
    from perception.models import build_model

    torch.manual_seed(0)
    config = ModelConfig(scale="n", imgsz=(128, 224))
    model = build_model(config)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    torch.save({"model": model.state_dict(), "ema": None, "config": config.to_dict()}, path)
    return path
