"""Defaults written once: the input size, the ImageNet normalisation and the choice lists the CLI offers live in
perception/config.py, and everything that checks or uses them reads them from there."""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path

import pytest
import torch

from perception import config
from perception.config import (BALANCING_MODES, BOX_LOSSES, CLS_LOSSES, DEFAULT_IMGSZ, FREEZE_MODES, IMAGENET_MEAN,
                               IMAGENET_STD, LANE_BINARY_LOSSES, ConfigError, ModelConfig)
from perception.engine.train_config import TrainConfig
from perception.errors import InputError

PACKAGE = Path(__file__).resolve().parents[2] / "perception"
ONE_SOURCE = {
    "DEFAULT_IMGSZ": DEFAULT_IMGSZ, "IMAGENET_MEAN": IMAGENET_MEAN, "IMAGENET_STD": IMAGENET_STD,
    "BALANCING_MODES": BALANCING_MODES, "FREEZE_MODES": FREEZE_MODES, "CLS_LOSSES": CLS_LOSSES,
    "BOX_LOSSES": BOX_LOSSES, "LANE_BINARY_LOSSES": LANE_BINARY_LOSSES,
}
# TrainConfig field -> the choice list of perception/config.py its flag offers
CHOICES = {"balancing": BALANCING_MODES, "freeze": FREEZE_MODES, "cls_loss": CLS_LOSSES, "box_loss": BOX_LOSSES,
           "lane_binary": LANE_BINARY_LOSSES}


def _literal(node: ast.AST):
    if isinstance(node, (ast.Tuple, ast.List)) and node.elts and all(isinstance(e, ast.Constant) for e in node.elts):
        return tuple(e.value for e in node.elts)
    return None


def test_each_default_and_choice_list_is_written_only_in_config():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "config.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            value = _literal(node)
            for name, source in ONE_SOURCE.items():
                # a choice list in another order is still a copy
                if value is not None and (value == source or (isinstance(source[0], str) and set(value) == set(source))):
                    found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} copies {name}")
    assert not found, "; ".join(found)


def test_train_flags_offer_the_choice_lists_the_code_checks():
    from perception.engine import transfer
    from perception.losses import box_loss, detection_loss, lane_loss

    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    for name, choices in CHOICES.items():
        assert fields[name].metadata["choices"] is choices, name
    # the modules that check a value check it against the same tuple
    assert detection_loss.CLS_LOSSES is CLS_LOSSES and box_loss.BOX_LOSSES is BOX_LOSSES
    assert lane_loss.LANE_BINARY_LOSSES is LANE_BINARY_LOSSES
    assert tuple(transfer.FREEZE_PARTS) == FREEZE_MODES


def test_every_choice_offered_works_and_nothing_else_is_accepted():
    from perception.engine.transfer import apply_freeze
    from perception.multitask.balancers import build_balancer
    from perception.losses.box_loss import box_iou_loss
    from perception.losses.detection_loss import DetectionLoss
    from perception.losses.lane_loss import LaneLoss
    from perception.models import build_model

    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0]]), torch.tensor([[2.0, 1.0, 12.0, 9.0]])
    assert {kind: float(box_iou_loss(*boxes, kind)) > 0 for kind in BOX_LOSSES} == dict.fromkeys(BOX_LOSSES, True)
    for kind in CLS_LOSSES:
        DetectionLoss((2, 3), (8, 16, 32), (64, 96), cls_loss=kind)
    for kind in LANE_BINARY_LOSSES:
        LaneLoss(binary=kind)
    for mode in BALANCING_MODES:
        build_balancer(mode, ["lanes"], {})
    for part in FREEZE_MODES:
        frozen = apply_freeze(build_model(ModelConfig(scale="n", imgsz=(64, 96))), part)
        assert set(frozen) <= {"backbone", "neck"}
    with pytest.raises(InputError):
        box_iou_loss(*boxes, "diou")
    with pytest.raises(InputError):
        DetectionLoss((2, 3), (8, 16, 32), (64, 96), cls_loss="varifocal")
    with pytest.raises(InputError):
        LaneLoss(binary="dice")
    with pytest.raises(ConfigError):
        apply_freeze(build_model(ModelConfig(scale="n", imgsz=(64, 96))), "heads")
    for name in CHOICES:
        with pytest.raises(ConfigError, match=name):
            TrainConfig(**{name: "none-of-these"})


def test_everything_defaults_to_the_one_input_size_and_normalisation():
    from perception.bench import baseline
    from perception.bench.suite import BenchConfig
    from perception.cli.main import build_parser
    from perception.data.dataset import MultiTaskDataset
    from perception.data.synthetic.scene import sample_scene
    from perception.data.synthetic.video import write_clip
    from perception.data.synthetic.writer import generate_dataset

    assert ModelConfig().imgsz == TrainConfig().imgsz == BenchConfig().imgsz == DEFAULT_IMGSZ
    assert (ModelConfig().mean, ModelConfig().std) == (IMAGENET_MEAN, IMAGENET_STD)
    assert (baseline.IMAGENET_MEAN, baseline.IMAGENET_STD) == (IMAGENET_MEAN, IMAGENET_STD)  # the lraspp baseline
    for function in (MultiTaskDataset.__init__, sample_scene, write_clip, generate_dataset):
        assert inspect.signature(function).parameters["imgsz"].default == DEFAULT_IMGSZ, function.__qualname__
    dataset = inspect.signature(MultiTaskDataset.__init__).parameters
    assert (dataset["mean"].default, dataset["std"].default) == (IMAGENET_MEAN, IMAGENET_STD)
    parser = build_parser()
    for argv in (["synth", "--out", "x"], ["data", "show", "--data", "x", "--out", "x"]):
        assert tuple(parser.parse_args(argv).imgsz) == DEFAULT_IMGSZ, argv
    from perception.cli.common import config_flags

    bench = parser.parse_args(["bench"])  # bench's flags are BenchConfig's fields: unset, they are its defaults
    assert bench.imgsz is None and BenchConfig(**config_flags(bench, BenchConfig)).imgsz == DEFAULT_IMGSZ
    assert config.DEFAULT_IMGSZ[0] % 32 == 0 and config.DEFAULT_IMGSZ[1] % 32 == 0  # the largest stride
