"""Training on a user's own data (issue 25): a task without labels stops the run or warns on every epoch line,
the end says which model best.pt is (re-validated), a resumed run says where, skips have totals, sources are
counted per epoch, a train YAML runs from any directory, and a torchvision backbone loads from a local file."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from perception.engine import TrainConfig, Trainer, load_checkpoint
from perception.errors import InputError

from engine_sizes import TINY_IMGSZ


def _config(data, out, **kw):
    base = dict(data=str(data), model="n", imgsz=TINY_IMGSZ, epochs=2, batch=2, workers=0, device="cpu", out=str(out),
                warmup_steps_min=2, augment=False)
    return TrainConfig(**(base | kw))


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "perception.cli.main", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


@pytest.fixture
def no_det_labels(tiny_synthetic, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_synthetic, data)
    (data / "labels" / "det_20").rename(data / "labels" / "det20")
    return data


def test_model_task_without_labels_stops_training(no_det_labels, tmp_path):
    with pytest.raises(InputError, match="the model trains objects, pedestrians but no source of the split labels them"):
        Trainer(_config(no_det_labels, tmp_path / "run", epochs=1), progress=False).fit()


@pytest.mark.filterwarnings("error:Converting a tensor with requires_grad")  # the warning on every step
def test_allowed_missing_labels_warn_on_every_epoch_line(no_det_labels, tmp_path, capsys):
    Trainer(_config(no_det_labels, tmp_path / "run", allow_missing_labels=True, max_val_batches=1), progress=True).fit()
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2 and all("WARNING no labels for objects, pedestrians" in line for line in lines)


def test_end_of_training_names_best_pt_and_revalidates_it(tiny_synthetic, tmp_path):
    summary = Trainer(_config(tiny_synthetic, tmp_path / "run"), progress=False).fit()
    best = summary["best_model"]
    saved = load_checkpoint(tmp_path / "run" / "weights" / "best.pt")
    assert best["epoch"] == saved["epoch"] and best["step"] == saved["step"] and best["metrics"] == saved["metrics"]
    # validated again from the file as `perception eval` loads it: the numbers it was chosen on
    assert best["validated"]["fitness"] == pytest.approx(saved["metrics"]["fitness"], abs=1e-6)
    assert summary["data_skips"]["train"]["images_skipped"] == 0
    header, *rows = (tmp_path / "run" / "results.csv").read_text().splitlines()
    column = header.split(",").index(f"samples/bdd100k:{tiny_synthetic}")
    assert [int(row.split(",")[column]) for row in rows] == [6, 6]  # 6 train images per epoch, one source


def test_cli_prints_best_skips_and_where_a_resume_starts(tiny_synthetic, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_synthetic, data)
    sorted((data / "images" / "100k" / "val").glob("*.jpg"))[0].unlink()  # a labelled val image goes missing
    args = ["train", "--data", str(data), "--model", "n", "--imgsz", *map(str, TINY_IMGSZ), "--batch", "2",
            "--workers", "0", "--device", "cpu", "--out", str(tmp_path / "run"), "--quiet", "--no-augment"]
    first = _cli(*args, "--epochs", "1")
    assert first.returncode == 0, first.stderr
    assert "best.pt: epoch 1 (step 3)" in first.stdout and "best.pt validated again at the end" in first.stdout
    assert "data (val): skipped 1 image(s) (missing_image 1)" in first.stdout
    resumed = _cli(*args, "--epochs", "2", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming " + str(tmp_path / "run") + " from weights/last.pt at epoch 1, step 3" in resumed.stdout


def test_train_yaml_paths_resolve_against_its_folder(tiny_synthetic, tmp_path):
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    shutil.copytree(tiny_synthetic, tmp_path / "data")
    (recipes / "model.yaml").write_text("model:\n  scale: n\n")
    (recipes / "train.yaml").write_text(f"train:\n  data: ../data\n  model: model.yaml\n  imgsz: {list(TINY_IMGSZ)}\n"
                                        "  epochs: 1\n  batch: 2\n  max_steps: 1\n  device: cpu\n  workers: 0\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = _cli("train", "--cfg", str(recipes / "train.yaml"), "--out", "run", "--quiet", "--max-val-batches", "1",
               cwd=elsewhere)
    assert run.returncode == 0, run.stderr
    assert (elsewhere / "run" / "weights" / "last.pt").is_file()


def test_backbone_weights_flag_and_environment_variable(tmp_path, monkeypatch):
    torchvision = pytest.importorskip("torchvision")
    from perception.models import build_model, model_config_from_arg

    reference = torchvision.models.resnet18(weights=None)
    torch.nn.init.constant_(reference.conv1.weight, 0.125)
    weights = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), weights)
    yaml = Path(__file__).resolve().parents[2] / "configs" / "models" / "resnet18.yaml"  # says IMAGENET1K_V1
    net = build_model(model_config_from_arg(str(yaml), backbone_weights=str(weights)))
    assert torch.equal(net.backbone.body.conv1.weight, reference.conv1.weight)
    monkeypatch.setenv("PERCEPTION_BACKBONE_WEIGHTS", str(weights))
    net = build_model(model_config_from_arg(str(yaml)))
    assert torch.equal(net.backbone.body.conv1.weight, reference.conv1.weight)
    assert "--backbone-weights" in _cli("train", "--help").stdout


def test_backbone_download_failure_is_one_line(tmp_path, monkeypatch):
    """Offline, the YAML's IMAGENET1K_V1 cannot download: one line saying which flag or variable to use."""
    pytest.importorskip("torchvision")
    from perception.models.torchvision_backbone import TorchvisionBackbone

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))  # no cached copy
    monkeypatch.delenv("PERCEPTION_BACKBONE_WEIGHTS", raising=False)

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(InputError, match=r"--backbone-weights FILE \(or set PERCEPTION_BACKBONE_WEIGHTS=FILE\)"):
        TorchvisionBackbone("resnet18", "IMAGENET1K_V1")
