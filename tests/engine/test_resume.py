"""Checkpoints and resume: an interrupted run continues exactly (same step, LR, RNG, weights)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from perception.engine import TrainConfig, Trainer, load_checkpoint

from engine_sizes import TINY_IMGSZ

REPO = Path(__file__).resolve().parents[2]


def _config(data, out, **kw):
    base = dict(data=str(data), model="n", imgsz=TINY_IMGSZ, epochs=2, batch=2, workers=0, device="cpu", out=str(out),
                save_period=1, warmup_steps_min=2, lr=3e-3)
    return TrainConfig(**(base | kw))


class Crash(RuntimeError):
    pass


def _full_then_killed_and_resumed(data, tmp_path, monkeypatch, **cfg):
    """Train uninterrupted into full/; train into cut/, die after the 4th optimizer step (mid way through epoch
    2, after its step checkpoint), resume. Returns (full last.pt, cut last.pt as it was at the crash, resumed)."""
    full = Trainer(_config(data, tmp_path / "full", **cfg), progress=False).fit()
    assert full["steps"] == 6 and full["epochs"] == 2  # 6 train images, batch 2, 2 epochs
    original = Trainer.train_step

    def crashing(self, batch):
        if self.step == 4:
            raise Crash("simulated crash")
        return original(self, batch)

    monkeypatch.setattr(Trainer, "train_step", crashing)
    with pytest.raises(Crash):
        Trainer(_config(data, tmp_path / "cut", **cfg), progress=False).fit()
    monkeypatch.setattr(Trainer, "train_step", original)
    cut = load_checkpoint(tmp_path / "cut" / "weights" / "last.pt")
    resumed = Trainer(_config(data, tmp_path / "cut", **cfg), resume=True, progress=False).fit()
    assert resumed["steps"] == 6
    return load_checkpoint(tmp_path / "full" / "weights" / "last.pt"), cut, load_checkpoint(tmp_path / "cut" / "weights" / "last.pt")


def _assert_same_weights(a, b) -> None:
    # Exact: the resumed run repeats the same kernels on the same batches in the same order in one process.
    assert a["step"] == b["step"] == 6
    for key in ("model", "ema"):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), f"{key}.{name}"


def test_interrupted_run_resumes_to_the_same_weights(tiny_synthetic, tmp_path, monkeypatch):
    a, cut, b = _full_then_killed_and_resumed(tiny_synthetic, tmp_path, monkeypatch)
    assert (cut["step"], cut["epoch"], cut["epoch_step"]) == (4, 1, 1)
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"] == 6
    assert a["optimizer"]["param_groups"][0]["lr"] == b["optimizer"]["param_groups"][0]["lr"]
    _assert_same_weights(a, b)
    assert (tmp_path / "cut" / "weights" / "best.pt").is_file()
    # The checkpoint is what load_model reads.
    from perception.models import load_model

    model, config = load_model(tmp_path / "cut" / "weights" / "last.pt")
    assert tuple(config.imgsz) == TINY_IMGSZ and not model.training


def test_resume_with_loader_workers_is_bit_exact(tiny_synthetic, tmp_path, monkeypatch):
    """Default-style loading (2 worker processes, augmentation on): killed mid-epoch and resumed, the run
    ends with exactly the weights of an uninterrupted one - each draw's augmentation is seeded from
    (seed, epoch, rank, position), not from a worker's RNG stream that a resume restarts."""
    a, _, b = _full_then_killed_and_resumed(tiny_synthetic, tmp_path, monkeypatch, workers=2, augment=True)
    _assert_same_weights(a, b)


def _train_cmd(data, out, *extra):
    return [sys.executable, "-m", "perception.cli.main", "train", "--data", str(data), "--model", "n", "--imgsz",
            str(TINY_IMGSZ[0]), str(TINY_IMGSZ[1]), "--epochs", "2", "--batch", "2", "--workers", "0", "--device", "cpu",
            "--save-period", "1", "--out", str(out), "--quiet", *extra]


@pytest.mark.slow
def test_sigkilled_training_process_resumes_to_completion(tiny_synthetic, tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(_train_cmd(tiny_synthetic, out), cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    last = out / "weights" / "last.pt"
    deadline = time.time() + 120
    step = 0
    try:
        while time.time() < deadline and proc.poll() is None:
            if last.is_file():
                step = load_checkpoint(last)["step"]
                if step >= 2:
                    break
            time.sleep(0.2)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    killed_at = load_checkpoint(last)["step"]
    assert 2 <= killed_at < 6, f"the run was not killed mid-training (step {killed_at})"

    done = subprocess.run(_train_cmd(tiny_synthetic, out, "--resume", "--json", str(tmp_path / "summary.json")), cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    final = load_checkpoint(last)
    assert (final["step"], final["epoch"]) == (6, 2)
    import json

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["steps"] == 6 and "fitness" in summary["val_metrics"]
    rows = (out / "results.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,step") and rows[-1].startswith("2,6")
    assert (out / "results.png").is_file() and any((out / "tensorboard").iterdir())


def test_resume_honours_a_longer_run_and_refuses_what_cannot_change(tiny_synthetic, tmp_path):
    out = tmp_path / "run"
    Trainer(_config(tiny_synthetic, out, epochs=1), progress=False).fit()
    assert load_checkpoint(out / "weights" / "last.pt")["step"] == 3
    env = dict(os.environ, OMP_NUM_THREADS="1")
    base = [sys.executable, "-m", "perception.cli.main", "train", "--out", str(out), "--resume", "--quiet"]
    refused = subprocess.run(base + ["--model", "s"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr[-2000:]
    assert "--model" in refused.stderr and "'n'" in refused.stderr
    longer = subprocess.run(base + ["--epochs", "2"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert longer.returncode == 0, longer.stderr[-2000:]
    assert "epochs 1 -> 2; the LR schedule is recomputed" in longer.stdout
    final = load_checkpoint(out / "weights" / "last.pt")
    assert (final["step"], final["epoch"]) == (6, 2) and final["train_config"]["epochs"] == 2


def test_time_budget_replaces_epochs_and_ends_the_schedule(tiny_synthetic, tmp_path):
    # A budget far below one epoch's time: the run stops after its first epoch, validated, with the cosine
    # shrunk to end there (the LR at its floor), whatever --epochs said.
    summary = Trainer(_config(tiny_synthetic, tmp_path / "run", epochs=50, time=1e-6,
                                      warmup_epochs=0, warmup_steps_min=0), progress=False).fit()
    assert (summary["epochs"], summary["steps"]) == (1, 3) and summary["val_metrics"]
    last = load_checkpoint(tmp_path / "run" / "weights" / "last.pt")
    assert last["scheduler"]["lr_lambdas"][0]["total_steps"] == 3 and last["train_seconds"] > 0
    assert last["optimizer"]["param_groups"][0]["lr"] == pytest.approx(3e-3 * 0.05)


def test_max_steps_sets_the_epochs_the_run_does(tiny_synthetic, tmp_path, capsys):
    # compare-tasks passes epochs=max_steps as a bound; the run's length (and "epoch i/N" in its lines) comes from
    # max_steps: 5 steps of 3 per epoch end two thirds into epoch 2 of 2, validated there, not "of 50".
    summary = Trainer(_config(tiny_synthetic, tmp_path / "run", epochs=50, max_steps=5, val_period=50), progress=True).fit()
    assert (summary["epochs"], summary["steps"]) == (1, 5) and summary["val_metrics"]  # epochs: the completed ones
    out, err = capsys.readouterr()
    assert "epoch 1.67/2 (step 5)" in out and "epoch 2/2" in err and "/50" not in out + err


def test_resumed_run_keeps_the_gradient_monitors_measurements(tiny_synthetic, tmp_path, monkeypatch):
    # The monitor's records travel in last.pt: the resumed run's curve, summary and cost cover all of its steps.
    a, cut, b = _full_then_killed_and_resumed(tiny_synthetic, tmp_path, monkeypatch, grad_monitor_period=1)
    assert [step for step, _ in cut["grad_monitor"]["records"]] == [0, 1, 2, 3]  # measured before each of 4 steps
    assert [step for step, _ in b["grad_monitor"]["records"]] == [step for step, _ in a["grad_monitor"]["records"]]
    assert b["grad_monitor"]["measurements"] == a["grad_monitor"]["measurements"] == 6
    for (_, full), (_, resumed) in zip(a["grad_monitor"]["records"], b["grad_monitor"]["records"]):
        assert resumed == pytest.approx(full)  # the same gradients: exact resume
    assert len(b["grad_monitor"]["epochs"]) == len(a["grad_monitor"]["epochs"]) == 2
