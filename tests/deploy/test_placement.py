"""Export, parity and the model summary build their inputs where the model is (its device and float type), so
a model already on a GPU, or in another precision, works as one on the CPU does (the CPU stands in for the GPU
here: the `meta` device and float64 are as foreign to a CPU float32 input as CUDA is)."""

from __future__ import annotations

import copy

import onnx
import pytest
import torch

from perception.config import ModelConfig
from perception.deploy.export import export_onnx
from perception.deploy.parity import check_parity
from perception.models import build_model
from perception.models.summary import model_summary


def test_model_summary_runs_where_the_model_is():
    config = ModelConfig(scale="n")
    on_cpu = model_summary(build_model(config), (64, 128))
    with torch.device("meta"):
        on_meta = build_model(config)
    assert next(on_meta.parameters()).is_meta
    summary = model_summary(on_meta, (64, 128))  # used to build a CPU input: "tensors on different devices"
    assert summary["outputs"] == on_cpu["outputs"]
    assert summary["total"] == pytest.approx(on_cpu["total"])


def test_export_traces_the_model_in_its_own_dtype(tiny_model, tmp_path):
    double = copy.deepcopy(tiny_model).double()
    path = export_onnx(double, tmp_path / "double.onnx", batch=1, simplify=False)  # used to fail: float input
    elem_type = onnx.load(str(path)).graph.input[0].type.tensor_type.elem_type
    assert elem_type == onnx.TensorProto.DOUBLE


def test_parity_feeds_the_model_its_own_dtype_and_reads_outputs_back(tiny_model, tiny_onnx, frames):
    double = copy.deepcopy(tiny_model).double()
    summary = check_parity(tiny_onnx, double, frames[:1])  # used to fail: a float32 input for float64 weights
    assert summary["passed"] and max(summary["max_rel_diff"].values()) <= 1e-3
