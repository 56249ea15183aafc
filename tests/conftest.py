"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# Real data lives beside the checkout (../shared), in CI too; tests that need it skip without it.
SHARED_DATA = Path(os.environ.get("PERCEPTION_SHARED", REPO_ROOT.parent / "shared")) / "data"


# Other kernel choices on the same machine, so a tolerance that only holds for one CPU's kernels fails here
# before it reaches a machine with another instruction set (`bash tools/test.sh --kernels ort-unoptimised`).
KERNEL_VARIANTS = ("default", "ort-unoptimised", "torch-one-thread")


def pytest_addoption(parser):
    parser.addoption("--kernels", choices=KERNEL_VARIANTS, default="default",
                     help="run with other numeric kernels: ONNX Runtime graph optimisations off, or PyTorch on one thread")


def pytest_configure(config):
    if config.getoption("--kernels") == "ort-unoptimised":
        os.environ["PERCEPTION_ORT_OPTIMIZATION"] = "disable"  # inherited by the CLI subprocesses too


def pytest_report_header(config):
    return f"kernels: {config.getoption('--kernels')}"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not present")
    return SHARED_DATA


@pytest.fixture(autouse=True, scope="session")
def _few_threads(request):
    # The suite runs on 2 cores; oversubscribing them makes everything slower. One thread changes how PyTorch
    # splits its reductions, hence its rounding.
    one = request.config.getoption("--kernels") == "torch-one-thread"
    try:
        import torch

        torch.set_num_threads(1 if one else min(2, os.cpu_count() or 1))
    except ImportError:
        pass
    yield


def _spread_detection_logits(model, images) -> None:
    """A fresh model's class logits are ~1e-5 everywhere (every score 0.5, all ties); rescale the prediction
    convs so logits spread over about +-3 and boxes vary: thresholds and NMS then have real work to do.
    Only the heads the model was built with are touched."""
    import torch

    from perception.preprocess import prepare_batch

    x = torch.from_numpy(prepare_batch(images, model.config.imgsz, model.config.mean, model.config.std)[0])
    heads = model.config.detection_heads  # the heads this model was built with
    with torch.no_grad():
        raw = model(x)
        for spec in heads:
            head = getattr(model, spec.module)
            for pred in head.cls_preds:
                pred.weight.mul_(1.5 / raw[spec.cls].std())
            for pred in head.reg_preds:
                pred.weight.mul_(1.0 / raw[spec.reg].std())
        spread = model(x)
    for spec in heads:  # the fixture did its job: scores are no longer all ties at 0.5
        assert float(spread[spec.cls].std()) > 0.5 and float(spread[spec.reg].std()) > 0.5, spec.task


@pytest.fixture(scope="session")
def spread_detection_logits():
    """The function that spreads a tiny model's detection logits (one copy for every suite that needs it)."""
    return _spread_detection_logits

