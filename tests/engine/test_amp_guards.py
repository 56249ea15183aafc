"""fp16 overflow is skipped and counted (a run of it stops training); --sync-bn is refused off CUDA."""

import subprocess
import sys

import pytest
import torch

from perception.engine import TrainConfig, Trainer
from perception.engine.trainer import MAX_NONFINITE_RUN

from engine_sizes import TINY_IMGSZ


def _trainer(data, out):
    cfg = TrainConfig(data=str(data), model="n", imgsz=TINY_IMGSZ, epochs=1, batch=2, workers=0, device="cpu",
                      out=str(out), augment=False)
    trainer = Trainer(cfg, progress=False)
    trainer._setup()
    # fp16 training's GradScaler, on the CPU (the trainer enables it on CUDA with --amp fp16)
    trainer.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
    return trainer


def test_fp16_overflow_steps_are_skipped_and_only_a_run_of_them_stops(tiny_synthetic, tmp_path):
    trainer = _trainer(tiny_synthetic, tmp_path / "run")
    batch = next(iter(trainer.train_loader))
    # float images pass move_batch as already normalised (the loader's are uint8, which cannot hold inf)
    overflow = dict(batch, images=torch.full(batch["images"].shape, float("inf")))
    params = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.train_step(overflow)  # used to raise FloatingPointError
    assert trainer.skipped_steps == 1 and trainer.scaler.get_scale() == 2.0**15
    assert all(torch.equal(a, b) for a, b in zip(params, trainer.model.parameters()))  # the step was skipped
    trainer.train_step(batch)  # a finite step ends the run of skipped ones
    assert trainer.nonfinite_run == 0 and trainer.skipped_steps == 1
    for _ in range(MAX_NONFINITE_RUN - 1):
        trainer.train_step(overflow)
    with pytest.raises(FloatingPointError, match=rf"step {trainer.step}: {MAX_NONFINITE_RUN} fp16 steps in a row"):
        trainer.train_step(overflow)


def test_sync_bn_on_cpu_is_refused_up_front(tiny_synthetic, tmp_path):
    result = subprocess.run([sys.executable, "-m", "perception.cli.main", "train", "--data", str(tiny_synthetic),
                             "--model", "n", "--device", "cpu", "--sync-bn", "--out", str(tmp_path / "run"), "--quiet"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and "--sync-bn" in result.stderr
