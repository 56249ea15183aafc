"""fp16 overflow is skipped and counted (a run of it stops training); --sync-bn is refused off CUDA.

On a CPU the trainer trains fp32 (no autocast, GradScaler disabled), so the CPU test below swaps in a CPU
GradScaler: it checks the trainer's skip counting and its stop after a run of skips, not fp16 autocast. The
real fp16 path (autocast + GradScaler("cuda")) is the CUDA test below, which runs only on a GPU host, and the
fp16_overflow step of tools/gpu_check.py."""

import math
import subprocess
import sys

import pytest
import torch

from perception.engine import TrainConfig, Trainer
from perception.engine.trainer import MAX_NONFINITE_RUN

from engine_sizes import TINY_IMGSZ


def _trainer(data, out, device="cpu"):
    # log_period 1: the step statistics (skips, non-finite losses) are read back and checked after every step
    cfg = TrainConfig(data=str(data), model="n", imgsz=TINY_IMGSZ, epochs=1, batch=2, workers=0, device=device,
                      out=str(out), augment=False, amp="fp16" if device != "cpu" else "off", log_period=1)
    trainer = Trainer(cfg, progress=False)
    trainer._setup()
    if device == "cpu":
        # CPU-only stand-in: fp16 training's GradScaler, which the trainer enables on CUDA only (no autocast here)
        trainer.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
    return trainer


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA only: fp16 autocast and GradScaler('cuda')")
def test_cuda_fp16_overflow_step_is_skipped_with_the_scale_halved(tiny_synthetic, tmp_path):
    trainer = _trainer(tiny_synthetic, tmp_path / "run", device="cuda")
    assert trainer.amp_dtype is torch.float16 and trainer.scaler.is_enabled()
    batch = next(iter(trainer.train_loader))
    trainer.train_step(batch)
    skips, scale = trainer.skipped_steps, trainer.scaler.get_scale()
    params = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.train_step(dict(batch, images=torch.full(batch["images"].shape, float("inf"))))
    assert trainer.skipped_steps == skips + 1 and trainer.scaler.get_scale() == scale / 2
    assert all(torch.equal(a, b) for a, b in zip(params, trainer.model.parameters()))


def test_overflow_steps_are_skipped_and_only_a_run_of_them_stops_cpu_scaler(tiny_synthetic, tmp_path):
    trainer = _trainer(tiny_synthetic, tmp_path / "run")
    batch = next(iter(trainer.train_loader))
    # float images pass move_batch as already normalised (the loader's are uint8, which cannot hold inf)
    overflow = dict(batch, images=torch.full(batch["images"].shape, float("inf")))
    params = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.train_step(overflow)  # used to raise FloatingPointError
    assert trainer.skipped_steps == 1 and trainer.scaler.get_scale() == 2.0**15
    assert all(torch.equal(a, b) for a, b in zip(params, trainer.model.parameters()))  # the step was skipped
    stats = trainer.train_step(batch)  # a finite step ends the run of skipped ones
    assert trainer.skipped_steps == 1 and stats["longest_skip_run"] == 1
    assert stats["means"] and all(map(math.isfinite, stats["means"].values()))  # the skipped step is not in the means
    for _ in range(MAX_NONFINITE_RUN - 1):
        trainer.train_step(overflow)
    with pytest.raises(FloatingPointError, match=rf"step {trainer.step + 1}: {MAX_NONFINITE_RUN} fp16 steps in a row"):
        trainer.train_step(overflow)


def test_a_nonfinite_fp32_loss_stops_training_before_any_save(tiny_synthetic, tmp_path):
    trainer = _trainer(tiny_synthetic, tmp_path / "run")
    trainer.scaler = torch.amp.GradScaler("cpu", enabled=False)
    batch = next(iter(trainer.train_loader))
    with pytest.raises(FloatingPointError, match=r"step 1: the loss became inf/nan \(rank\(s\) \[0\]"):
        trainer.train_step(dict(batch, images=torch.full(batch["images"].shape, float("nan"))))


def test_sync_bn_on_cpu_is_refused_up_front(tiny_synthetic, tmp_path):
    result = subprocess.run([sys.executable, "-m", "perception.cli.main", "train", "--data", str(tiny_synthetic),
                             "--model", "n", "--device", "cpu", "--sync-bn", "--out", str(tmp_path / "run"), "--quiet"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and "--sync-bn" in result.stderr
