"""One tiny exported model (fixed batch 2, spread detection logits) shared by the runtime tests."""

from __future__ import annotations

import pytest
import torch

from perception.deploy.export import export_onnx, load_export_model
from perception.deploy.parity import reference_frames
from perception.preprocess import prepare_batch


@pytest.fixture(scope="session")
def runtime_frames():
    images, _ = reference_frames(3)
    return images


@pytest.fixture(scope="session")
def runtime_model(runtime_frames):
    torch.manual_seed(1)
    model = load_export_model(model="n", imgsz=(128, 256))
    # Fresh logits are ~1e-5 (all scores 0.5): spread them so thresholds and NMS select real subsets.
    x = torch.from_numpy(prepare_batch(runtime_frames, model.config.imgsz, model.config.mean, model.config.std)[0])
    with torch.no_grad():
        raw = model(x)
        for head, reg, cls in ((model.object_head, "obj_reg", "obj_cls"), (model.pedestrian_head, "ped_reg", "ped_cls")):
            for pred in head.cls_preds:
                pred.weight.mul_(1.5 / raw[cls].std())
            for pred in head.reg_preds:
                pred.weight.mul_(1.0 / raw[reg].std())
    return model


@pytest.fixture(scope="session")
def runtime_onnx(runtime_model, tmp_path_factory):
    # A fixed batch of 2 so predicting 3 images exercises the split-and-pad path.
    return export_onnx(runtime_model, tmp_path_factory.mktemp("runtime") / "tiny_b2.onnx", batch=2)
