"""`perception eval` on a `.pt` checkpoint and on its ONNX export gives the same metrics (within 0.5 points).

The same dataset, evaluator and report code run on both; only the network runtime differs (PyTorch vs ONNX
Runtime). The checkpoint is a seeded untrained network whose BatchNorm statistics are calibrated on the
training images (see `_calibrate_batch_norm`): every head then varies over the image, every labelled class
has scored detections, and AP, recall, the PR curves, MR^-2 and the lane/drivable pixel metrics are computed
from predictions that depend on the network. A few training steps would be the alternative, but cost
seconds each on a shared CPU and still leave AP at 0.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from parity import flippable_per_class

IMGSZ = (96, 160)
BATCH = 2  # several predictor calls per split, so the latency has timed (post warm-up) calls
# Metrics (AP, recall, MR^-2, IoU...) move continuously with the outputs: 0.5 points on a 0..1 scale, 0.5 % of
# larger values (pixel counts, FPPI). Detection counts are step functions of the outputs and are compared
# separately, within the decisions the two runtimes actually put on different sides (tests/parity.py).
TOLERANCE = 0.005
# `perception eval`'s defaults, used by _evaluate: decode threshold and NMS IoU; COCO's cap per image and class.
EVAL_CONF, EVAL_IOU, EVAL_CLASS_CAP = 0.001, 0.6, 100


def _calibrate_batch_norm(model, images) -> None:
    """Set every BatchNorm's running statistics to the batch statistics of `images` (AdaBN, no gradients).

    With the init statistics (mean 0, var 1) a fresh network's activations collapse: its lane and drivable
    maps are the head biases (one class everywhere, spatial std ~1e-6) and every anchor scores the same.
    Calibrated, all four heads vary over the image, so the metrics depend on what the network computes."""
    from perception.preprocess import prepare_batch

    x = torch.from_numpy(prepare_batch(images, model.config.imgsz, model.config.mean, model.config.std)[0])
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # a cumulative average: one pass sets the statistics of this batch
    model.train()
    with torch.no_grad():
        model(x)
    model.eval()


def _checkpoint(data, path, seed: int):
    from perception.config import ModelConfig
    from perception.data.dataset import iter_samples
    from perception.models.factory import build_model

    torch.manual_seed(seed)
    config = ModelConfig(scale="n", imgsz=IMGSZ)
    model = build_model(config).eval()
    _calibrate_batch_norm(model, [s.image for s in iter_samples(str(data), "train")])
    torch.save({"model": model.state_dict(), "ema": None, "config": config.to_dict()}, path)
    return path


@pytest.fixture(scope="session")
def parity_models(tmp_path_factory):
    """A rendered dataset (6 train + 6 val images), a .pt checkpoint and its ONNX export (real export code)."""
    from perception.data.synthetic import generate_dataset
    from perception.deploy.export_job import export_model

    root = tmp_path_factory.mktemp("onnx_eval")
    data = root / "synth"
    generate_dataset(data, 12, seed=7, imgsz=IMGSZ, val_fraction=0.5, workers=1, progress=False)
    weights = _checkpoint(data, root / "tiny.pt", seed=0)
    summary = export_model(root / "tiny.onnx", model=str(weights), threads=1)
    assert summary["parity"]["fp32"]["passed"]
    return data, weights, root / "tiny.onnx"


def _evaluate(weights, data, out) -> dict:
    from perception.cli.main import main

    code = main(["eval", "--model", str(weights), "--data", str(data), "--split", "val", "--out", str(out),
                 "--batch", str(BATCH), "--vehicle-protocol", "--worst", "0"])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    report["markdown"] = (out / "report.md").read_text()  # not part of report.json; kept for the latency check
    return report


@pytest.fixture(scope="session")
def reports(parity_models, tmp_path_factory):
    data, pt, onnx = parity_models
    out = tmp_path_factory.mktemp("onnx_eval_reports")
    return _evaluate(pt, data, out / "pt"), _evaluate(onnx, data, out / "onnx")


@pytest.fixture(scope="session")
def flippable(parity_models):
    """Global class id -> detections that may legitimately differ between the .pt and .onnx evaluations: the
    candidates whose threshold, class, NMS or ranking decision the two runtimes' raw outputs put on different
    sides, on the same val batches the evaluation runs."""
    from perception.data.dataset import iter_samples
    from perception.loading import load_predictor

    data, pt, onnx = parity_models
    torch_predictor, onnx_predictor = load_predictor(pt), load_predictor(onnx, providers="cpu")
    images = [s.image for s in iter_samples(str(data), "val")]
    counts: dict[int, int] = {}
    for start in range(0, len(images), BATCH):
        batch, _ = torch_predictor.preprocess(images[start:start + BATCH])
        raw_pt, raw_onnx = torch_predictor.infer(batch), onnx_predictor.infer(batch)
        config = torch_predictor.config
        for cid, n in flippable_per_class(raw_pt, raw_onnx, config, EVAL_CONF, EVAL_IOU, config.max_detections,
                                          EVAL_CLASS_CAP).items():
            counts[cid] = counts.get(cid, 0) + n
    return counts


def _leaves(value, path: str = "") -> dict[str, object]:
    """Every leaf of a nested report by its path; lists are indexed so their lengths are part of the set."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _leaves(item, f"{path}.{key}" if path else key).items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in _leaves(item, f"{path}[{i}]").items()}
    return {path: value}


def _is_count(key: str) -> bool:
    return key.endswith("num_det")


def _agree(a, b) -> bool:
    if isinstance(a, bool) or not isinstance(a, (int, float)) or a is None or b is None:
        return a == b
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return abs(a - b) <= TOLERANCE * max(1.0, abs(a), abs(b))


def test_pt_and_onnx_reports_have_the_same_metric_set(reports):
    pt, onnx = reports
    assert set(_leaves(pt["metrics"])) == set(_leaves(onnx["metrics"]))
    assert pt["metrics"]["num_images"] == onnx["metrics"]["num_images"] == 6
    assert set(pt["metrics"]["images_per_task"]) == {"objects", "pedestrians", "lanes", "drivable"}
    assert pt["metrics"]["vehicle"] is not None and onnx["metrics"]["vehicle"] is not None


def test_every_metric_agrees_within_half_a_point(reports):
    pt, onnx = reports
    a, b = _leaves(pt["metrics"]), _leaves(onnx["metrics"])
    where = {"config.model", "config.out"}  # the two evaluations' model file and report folder differ by design
    differing = {k: (a[k], b[k]) for k in a if k in b and k not in where and not _is_count(k) and not _agree(a[k], b[k])}
    assert not differing, f"{len(differing)} metrics differ between .pt and .onnx: {dict(list(differing.items())[:10])}"


def test_detection_counts_differ_only_by_flippable_decisions(reports, flippable):
    """Per class, |detections(.pt) - detections(.onnx)| <= the candidates whose decision flips between the two
    runtimes' outputs: 0 where no candidate lies on a boundary (then the counts are equal)."""
    pt, onnx = reports
    from perception.classes import BDD100K_CLASSES

    class_ids = {name: cid for cid, name in enumerate(BDD100K_CLASSES)}
    for name in pt["metrics"]["objects"]["per_class"]:
        a = pt["metrics"]["objects"]["per_class"][name]["num_det"]
        b = onnx["metrics"]["objects"]["per_class"][name]["num_det"]
        assert abs(a - b) <= flippable.get(class_ids[name], 0), (name, a, b, flippable)


def test_the_compared_metrics_come_from_real_predictions(reports):
    """The parity would be empty if both runtimes predicted nothing: the metrics must have something to agree on."""
    for report in reports:
        m = report["metrics"]
        per_class = m["objects"]["per_class"]
        assert len(per_class) >= 5 and all(v["num_det"] > 0 for v in per_class.values())
        assert m["objects"]["recall50"] > 0  # some random boxes do hit ground truth
        assert 0 < m["lanes"]["pixel"]["iou"] < 1 and m["lanes"]["pixel"]["fn"] > 0  # lane predicted in parts only
        assert 0 < m["drivable"]["miou"] < 1
        confusion = np.array(m["drivable"]["confusion"])
        assert np.count_nonzero(confusion.sum(0)) >= 2 and np.count_nonzero(confusion.sum(1)) >= 2  # not one class
        assert m["pedestrians"]["all"]["num_gt"] > 0 and 0 < m["pedestrians"]["all"]["mr2"] <= 1


def test_the_comparison_tells_another_network_apart(parity_models, reports, tmp_path):
    """Control: a differently seeded network on the same split fails the same comparison, so agreeing is not
    a property of any two reports on this data (the detection APs are tiny, the counts and pixel metrics not)."""
    data, _, _ = parity_models
    other = _evaluate(_checkpoint(data, tmp_path / "other.pt", seed=1), data, tmp_path / "other")
    a, b = _leaves(reports[0]["metrics"]), _leaves(other["metrics"])
    differing = [k for k in a if k in b and not _agree(a[k], b[k])]  # counts included: these differ by dozens
    assert len(differing) > 20
    assert any(k.startswith("lanes.pixel") for k in differing) and any(k.startswith("drivable") for k in differing)
    assert any(k.startswith("objects.per_class") and k.endswith("num_det") for k in differing)


def test_reports_hold_the_latency_at_the_eval_size(reports):
    pt, onnx = reports
    for report, runtime in ((pt, "torch (cpu)"), (onnx, "onnxruntime")):
        latency = report["latency"]
        assert latency["runtime"] == runtime
        assert latency["imgsz"] == list(IMGSZ) == report["meta"]["imgsz"]
        assert latency["batch"] == BATCH and latency["timed_calls"] == 6 // BATCH - 1
        assert latency["what"] == "network only"
        assert latency["median_ms_per_image"] > 0
        stages = latency["stages_ms_per_image"]
        assert stages["inference"] == latency["median_ms_per_image"]
        stage_sum = stages["preprocess"] + stages["inference"] + stages["postprocess"]
        assert np.isclose(latency["total_ms_per_image"], stage_sum)
        assert f"- latency: {latency['median_ms_per_image']:.2f} ms/image median (network only)" in report["markdown"]
