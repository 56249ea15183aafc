"""The configs users start from (configs/models, configs/train) load, validate and build, so none can rot."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

from perception.config import BACKBONES, ModelConfig, load_model_config
from perception.data.dataset_config import load_dataset_config
from perception.engine.train_config import load_train_config
from perception.models import build_model
from perception.models.factory import model_config_from_arg

REPO = Path(__file__).resolve().parents[2]
MODEL_YAMLS = sorted((REPO / "configs" / "models").glob("*.yaml"))
TRAIN_YAMLS = sorted((REPO / "configs" / "train").glob("*.yaml"))


def test_every_backbone_and_readme_recipe_has_a_config():
    backbones = {load_model_config(p).backbone for p in MODEL_YAMLS}
    assert backbones == set(BACKBONES)
    assert {p.stem for p in TRAIN_YAMLS} == {"bdd100k", "culane_lanes", "citypersons_pedestrians", "mixed"}


@pytest.mark.parametrize("path", MODEL_YAMLS, ids=lambda p: p.stem)
def test_model_config_builds_and_runs(path):
    config = load_model_config(path)
    if config.backbone_weights:
        # A torchvision enum name that exists (checked without downloading).
        torchvision.models.get_model_weights(config.backbone)[config.backbone_weights]
    small = ModelConfig.from_dict(config.to_dict() | {"backbone_weights": None, "imgsz": [64, 96]})
    model = build_model(small).eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 64, 96))
    heads = {"objects": "obj_cls", "pedestrians": "ped_cls", "lanes": "lane", "drivable": "drivable"}
    assert {heads[t] for t in config.enabled_tasks} <= set(out)


@pytest.mark.parametrize("path", TRAIN_YAMLS, ids=lambda p: p.stem)
def test_train_config_and_what_it_names_load(path, monkeypatch):
    monkeypatch.chdir(REPO)  # the YAMLs name datasets/ and configs/ relative to the repository, as run there
    config = load_train_config(path)
    dataset = load_dataset_config(config.data)
    model = model_config_from_arg(config.model, imgsz=list(config.imgsz))
    assert dataset.sources and model.enabled_tasks
