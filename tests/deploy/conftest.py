"""Session fixtures for the export tests: one tiny model, exported once, and real (or synthetic) frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from perception.deploy.export import export_onnx, load_export_model
from perception.deploy.parity import reference_frames

IMGSZ = (128, 256)


def spread_detection_logits(model, images) -> None:
    """A fresh model's class logits are ~1e-5 everywhere (every score 0.5, all ties); rescale the prediction
    convs so logits spread over about +-3 and boxes vary: thresholds and NMS then have real work to do."""
    from perception.preprocess import prepare_batch

    x = torch.from_numpy(prepare_batch(images, model.config.imgsz, model.config.mean, model.config.std)[0])
    with torch.no_grad():
        raw = model(x)
        for head, reg, cls in ((model.object_head, "obj_reg", "obj_cls"), (model.pedestrian_head, "ped_reg", "ped_cls")):
            if head is None:
                continue
            for pred in head.cls_preds:
                pred.weight.mul_(1.5 / raw[cls].std())
            for pred in head.reg_preds:
                pred.weight.mul_(1.0 / raw[reg].std())


@pytest.fixture(scope="session")
def frames():
    images, _ = reference_frames(3)
    return images


@pytest.fixture(scope="session")
def tiny_model(frames):
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
