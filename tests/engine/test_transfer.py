"""Transfer: --weights loads what fits (class rows by class), --freeze keeps parts bit-identical."""

import pytest
import torch

from perception.config import ModelConfig
from perception.engine import TrainConfig, Trainer, load_checkpoint, save_checkpoint
from perception.engine.transfer import load_pretrained
from perception.errors import InputError
from perception.models import build_model

from engine_sizes import TINY_IMGSZ


def _checkpoint(path, config, seed=1):
    torch.manual_seed(seed)
    model = build_model(config)
    with torch.no_grad():  # distinguishable from any fresh initialisation
        for p in model.parameters():
            p.add_(0.01)
    save_checkpoint({"model": model.state_dict(), "ema": None, "config": config.to_dict()}, path)
    return model.state_dict()


def test_a_fine_tune_that_adds_a_class_keeps_every_other_row(tmp_path):
    old = _checkpoint(tmp_path / "old.pt", ModelConfig(scale="n", imgsz=TINY_IMGSZ, object_classes=(2, 3, 4)))
    new_config = ModelConfig(scale="n", imgsz=TINY_IMGSZ, object_classes=(4, 2, 3, 9))  # reordered + traffic sign
    model = build_model(new_config)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    report = load_pretrained(model, new_config, tmp_path / "old.pt")
    state = model.state_dict()
    for key, value in state.items():
        if key.startswith("object_head.cls_preds."):
            assert torch.equal(value[0], old[key][2]) and torch.equal(value[1], old[key][0]) and torch.equal(value[2], old[key][1])
            assert torch.equal(value[3], fresh[key][3])  # the new class starts fresh
        else:
            assert torch.equal(value, old[key]), key
    assert report["class_mapping"]["object_head"] == {"0": 2, "1": 0, "2": 1, "3": None}
    assert "traffic sign (new, fresh)" in report["message"] and "car<-car" in report["message"]


def test_fewer_heads_load_the_shared_encoder_and_drop_the_rest(tmp_path):
    old = _checkpoint(tmp_path / "all.pt", ModelConfig(scale="n", imgsz=TINY_IMGSZ))
    config = ModelConfig(scale="n", imgsz=TINY_IMGSZ, heads={"lanes": True})
    model = build_model(config)
    report = load_pretrained(model, config, tmp_path / "all.pt")
    assert all(torch.equal(v, old[k]) for k, v in model.state_dict().items())
    assert report["fresh"] == [] and any(k.startswith("object_head.") for k in report["dropped"])


def test_a_checkpoint_of_another_scale_is_refused(tmp_path):
    _checkpoint(tmp_path / "small.pt", ModelConfig(scale="s", imgsz=TINY_IMGSZ))
    config = ModelConfig(scale="n", imgsz=TINY_IMGSZ)
    with pytest.raises(InputError, match=r"small\.pt: trained at scale 's'.*--model s"):
        load_pretrained(build_model(config), config, tmp_path / "small.pt")


def test_frozen_encoder_is_bit_identical_after_training(tiny_synthetic, tmp_path):
    old = _checkpoint(tmp_path / "start.pt", ModelConfig(scale="n", imgsz=TINY_IMGSZ))
    config = TrainConfig(data=str(tiny_synthetic), model="n", imgsz=TINY_IMGSZ, epochs=1, max_steps=2, batch=2, workers=0,
                         device="cpu", out=str(tmp_path / "tuned"), save_period=0, warmup_steps_min=1, lr=1e-2,
                         max_val_batches=1, weights=str(tmp_path / "start.pt"), freeze="encoder")
    summary = Trainer(config, progress=False).fit()
    assert summary["transfer"]["loaded"] == len(old)
    tuned = load_checkpoint(tmp_path / "tuned" / "weights" / "last.pt")["model"]
    encoder = [k for k in old if k.startswith(("backbone.", "neck."))]
    assert encoder and all(torch.equal(tuned[k], old[k]) for k in encoder)  # weights and BN statistics alike
    heads = [k for k in old if k.startswith("lane_head.") and k.endswith("weight")]
    assert any(not torch.equal(tuned[k], old[k]) for k in heads)  # what is not frozen did train
