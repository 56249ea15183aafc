"""One tiny exported model (fixed batch 2, spread detection logits) shared by the runtime tests."""

from __future__ import annotations

import pytest
import torch

from perception.deploy.export import export_onnx, load_export_model
from perception.imageio import reference_frames


@pytest.fixture(scope="session")
def runtime_frames():
    images, _ = reference_frames(3)
    return images


@pytest.fixture(scope="session")
def runtime_model(runtime_frames, spread_detection_logits):
    torch.manual_seed(1)
    model = load_export_model(model="n", imgsz=(128, 256))
    spread_detection_logits(model, runtime_frames)
    return model


@pytest.fixture(scope="session")
def runtime_onnx(runtime_model, tmp_path_factory):
    # A fixed batch of 2 so predicting 3 images exercises the split-and-pad path.
    return export_onnx(runtime_model, tmp_path_factory.mktemp("runtime") / "tiny_b2.onnx", batch=2)
