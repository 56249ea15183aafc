"""Session fixtures for the export tests: one tiny model, exported once, and real (or synthetic) frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from perception.deploy.export import export_onnx, load_export_model
from perception.imageio import reference_frames

IMGSZ = (128, 256)


@pytest.fixture(scope="session")
def frames():
    images, _ = reference_frames(3)
    return images


@pytest.fixture(scope="session")
def tiny_model(frames, spread_detection_logits):
    torch.manual_seed(0)
    model = load_export_model(model="n", imgsz=IMGSZ)
    spread_detection_logits(model, frames)
    return model


@pytest.fixture(scope="session")
def tiny_onnx(tiny_model, tmp_path_factory):
    return export_onnx(tiny_model, tmp_path_factory.mktemp("export") / "tiny.onnx")


@pytest.fixture(scope="session")
def random_batch():
    return np.random.default_rng(0).standard_normal((3, 3, *IMGSZ)).astype(np.float32)
