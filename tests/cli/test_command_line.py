"""The one way back from a config to its command line (cli/common.command_line): the recorded command, parsed by
the command's own parser, gives the same config again, for the defaults and for every field changed."""

from __future__ import annotations

import argparse
import shlex

import pytest

from perception.cli.common import command_line, config_flags
from perception.cli.main import build_parser


def _round_trip(command: str, config_cls: type):
    words = shlex.split(command)
    assert words[0] == "perception"
    args = build_parser().parse_args(words[1:])
    return config_cls(**config_flags(args, config_cls))


def _compare_configs():
    from perception.multitask.compare import CompareConfig

    return CompareConfig, [
        CompareConfig(),
        CompareConfig(data="my data/x.yaml", model="s", imgsz=(64, 96), max_steps=5, batch=2, lr=1e-3, seeds=[3, 4],
                      tasks=["lanes", "drivable"], balancers=["fixed", "pcgrad"], fraction=0.25,
                      fraction_task="drivable", grad_monitor=2, separate=False, val_period=2, out="runs/c 1", device="cuda:1", workers=0),
    ]


def _bench_configs():
    from perception.bench.suite import BenchConfig

    return BenchConfig, [
        BenchConfig(),
        BenchConfig(model="n", imgsz=(128, 256), batches=(2,), threads=3, runs=4, warmup=0, int8=True,
                    calibration_images=2, providers=("cpu",), trt_cache_dir="cache dir", trt_fp16=True, no_video=True,
                    video_frames=7, frames="frames", out_dir="runs/b"),
    ]


def _eval_configs():
    from perception.evaluation import EvalConfig

    return EvalConfig, [
        EvalConfig(model="w.pt", data="d", out="o"),
        EvalConfig(model="my w.onnx", data="d.yaml", split="test", out="o 1", imgsz=(64, 96), batch=3, tasks=("lanes", "objects"),
                   conf=0.01, nms_iou=0.5, max_detections=30, vehicle_protocol=True, limit=5, device="cuda:1",
                   trt_cache="c", trt_fp16=True, worst_k=0, strict=True),
    ]


def _export_configs():
    from perception.deploy.export_config import ExportConfig

    return ExportConfig, [
        ExportConfig(model="w.pt", out="m.onnx"),
        ExportConfig(model="n", out="my m.onnx", imgsz=(64, 96), batch=2, dynamic=True, opset=18, half=True, int8=True,
                     calib="c d", calib_count=4, nms=True, conf=0.3, iou=0.6, max_det=50, simplify=False, threads=1),
    ]


@pytest.mark.parametrize("which, words", [(_export_configs, ["perception", "export"]),
                                          (_compare_configs, ["perception", "compare-tasks"]),
                                          (_bench_configs, ["perception", "bench"]),
                                          (_eval_configs, ["perception", "eval"])])
def test_the_recorded_command_rebuilds_the_same_config(which, words):
    config_cls, configs = which()
    for config in configs:
        command = command_line(words, config)
        assert command.startswith(" ".join(words) + " ")
        assert _round_trip(command, config_cls) == config, command


def test_a_bool_field_is_written_only_when_it_differs_from_its_default():
    from perception.cli.common import add_config_flags
    from perception.engine.train_config import TrainConfig

    config = TrainConfig(ema=False, augment=True)
    command = command_line(["perception", "train"], config)
    assert "--no-ema" in command.split() and "--augment" not in command.split()
    parser = argparse.ArgumentParser()
    add_config_flags(parser, TrainConfig)
    assert parser.parse_args(shlex.split(command)[2:]).ema is False
