"""The torch-free base install: `pip install perception` (no extras) runs `perception infer` on an exported
model, and a training command says in one line which extra to install.

The wheel is built from this checkout and installed by pip into a fresh virtual environment without
dependencies; the base requirements its metadata declares (and theirs, transitively) are then linked in
from this environment's site-packages, offline and in seconds, instead of downloaded again. `pip check`
confirms the declared requirements are met, so a module the runtime imports but the base install does not
declare fails here, as it would on a vehicle.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _pip(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=timeout)


def _requirements(requires: list[str] | None):
    """Requirements that apply without extras on this machine."""
    from packaging.requirements import Requirement

    for text in requires or []:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            yield req.name


def _base_closure(wheel: Path) -> list[importlib.metadata.Distribution]:
    """The installed distributions that the wheel's base requirements pull in, transitively."""
    with zipfile.ZipFile(wheel) as archive:
        meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        lines = archive.read(meta).decode().splitlines()
    pending = list(_requirements([line.split(":", 1)[1].strip() for line in lines if line.startswith("Requires-Dist:")]))
    seen: dict[str, importlib.metadata.Distribution] = {}
    while pending:
        name = pending.pop().lower().replace("_", "-")
        if name in seen:
            continue
        dist = importlib.metadata.distribution(name)
        seen[name] = dist
        pending.extend(_requirements(dist.requires))
    return list(seen.values())


def _link_into(site_packages: Path, dists: list[importlib.metadata.Distribution]) -> None:
    for dist in dists:
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops - {"__pycache__"}:
            source = Path(dist.locate_file(top))
            target = site_packages / top
            if source.exists() and not target.exists() and not top.endswith(".pth"):
                target.symlink_to(source)


@pytest.fixture(scope="module")
def base_venv(tmp_path_factory) -> Path:
    pytest.importorskip("packaging")
    if _pip("--version").returncode != 0:
        pytest.skip("pip is not available in this environment")
    root = tmp_path_factory.mktemp("base_install")
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "perception", src / "perception", ignore=shutil.ignore_patterns("__pycache__"))
    built = _pip("wheel", "--no-deps", "--quiet", "-w", str(root / "wheels"), str(src))
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((root / "wheels").glob("perception-*.whl"))
    venv = root / "venv"
    made = subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"python -m venv unavailable: {made.stderr.strip()[:200]}")
    python = venv / "bin" / "python"
    installed = _pip("--python", str(python), "install", "--no-deps", "--no-index", "--quiet", str(wheel))
    assert installed.returncode == 0, installed.stderr[-2000:]
    site = Path(subprocess.check_output([str(python), "-c", "import site; print(site.getsitepackages()[0])"], text=True).strip())
    _link_into(site, _base_closure(wheel))
    return venv


def _env() -> dict[str, str]:
    # The fresh environment must see only what it installed: no PYTHONPATH pointing at this checkout.
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")} | {"OMP_NUM_THREADS": "1"}


def test_base_install_has_no_torch_and_meets_its_requirements(base_venv):
    python = str(base_venv / "bin" / "python")
    for module in ("torch", "torchvision", "albumentations", "onnx", "matplotlib"):
        probe = subprocess.run([python, "-c", f"import {module}"], capture_output=True, text=True, env=_env())
        assert probe.returncode != 0, f"{module} importable in the base install"
    check = _pip("--python", python, "check")
    assert check.returncode == 0, check.stdout + check.stderr


def test_base_install_runs_infer_on_an_exported_model(base_venv, tmp_path):
    torch = pytest.importorskip("torch")
    from perception.config import ModelConfig
    from perception.deploy.export import export_onnx
    from perception.models import build_model

    torch.manual_seed(0)
    model = build_model(ModelConfig(scale="n", imgsz=(128, 224))).eval()
    onnx_path = export_onnx(model, tmp_path / "tiny.onnx", simplify=False)
    clip = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (320, 240))
    for i in range(6):
        frame = np.full((240, 320, 3), 60, np.uint8)
        frame[100:140, 10 + 20 * i : 60 + 20 * i] = (0, 0, 220)
        writer.write(frame)
    writer.release()

    perception = str(base_venv / "bin" / "perception")
    out = tmp_path / "run"
    result = subprocess.run([perception, "infer", str(clip), "--model", str(onnx_path), "--out", str(out), "--providers", "cpu"],
                            capture_output=True, text=True, timeout=300, env=_env(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 6
    av = pytest.importorskip("av")
    with av.open(str(out / "annotated.mp4")) as video:
        assert video.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in video.decode(video=0)) == 6

    train = subprocess.run([perception, "train", "--out", str(tmp_path / "t")], capture_output=True, text=True,
                           timeout=120, env=_env(), cwd=tmp_path)
    assert train.returncode == 2
    assert train.stderr.strip().splitlines() == ["perception train: error: needs torch, which is not installed: "
                                                  "pip install 'perception[train]'"]
