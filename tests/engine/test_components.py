import random

import numpy as np
import pytest
import torch
from torch import nn

from perception.config import ConfigError
from perception.engine import (
    ModelEMA, TrainConfig, build_scheduler, capture_rng, load_checkpoint, load_train_config, restore_rng,
    save_checkpoint, save_train_config, warmup_cosine_factor,
)
from perception.engine.schedule import set_total_steps


def test_warmup_then_cosine_schedule():
    factors = [warmup_cosine_factor(s, total_steps=100, warmup_steps=10, min_ratio=0.1) for s in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(factors[:10], factors[1:10]))  # rising warm-up
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))  # cosine decay
    assert factors[55] == pytest.approx(0.1 + 0.9 * 0.5, abs=1e-6)  # half way through the cosine
    assert warmup_cosine_factor(100, 100, 10, 0.1) == pytest.approx(0.1)

    param = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=1.0)
    sched = build_scheduler(opt, 100, 10, 0.1)
    for _ in range(30):
        opt.step()
        sched.step()
    state = sched.state_dict()
    opt2 = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched2 = build_scheduler(opt2, 100, 10, 0.1)
    sched2.load_state_dict(state)
    opt2.param_groups[0]["lr"] = sched2.get_last_lr()[0]
    assert sched2.get_last_lr() == sched.get_last_lr() == [pytest.approx(factors[30])]


def test_schedule_length_changes_mid_run_and_survives_a_checkpoint():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_scheduler(opt, 100, 10, 0.1)
    for _ in range(30):
        opt.step()
        sched.step()
    set_total_steps(sched, 50)  # a time budget found the run must end at step 50
    assert opt.param_groups[0]["lr"] == pytest.approx(warmup_cosine_factor(30, 50, 10, 0.1))
    opt2 = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched2 = build_scheduler(opt2, 100, 10, 0.1)
    sched2.load_state_dict(sched.state_dict())
    assert sched2.lr_lambdas[0].total_steps == 50
    for _ in range(20):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)  # the cosine reached its floor at the new end


def test_checkpoint_atomic_weights_only_and_rng_round_trip(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    random.gauss(0, 1)  # leaves a cached Gaussian in Python's state
    state = capture_rng()
    expected = (random.random(), random.gauss(0, 1), np.random.rand(3), np.random.randn(), torch.rand(3))
    model = nn.Linear(3, 2)
    path = save_checkpoint({"model": model.state_dict(), "rng": state, "step": 7, "config": {"a": [1, 2]}}, tmp_path / "w" / "last.pt")
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temp file left behind
    loaded = load_checkpoint(path)  # weights_only=True inside
    assert loaded["step"] == 7 and torch.equal(loaded["model"]["weight"], model.weight)
    random.random(), np.random.rand(5), torch.rand(5)  # move every generator on
    restore_rng(loaded["rng"])
    again = (random.random(), random.gauss(0, 1), np.random.rand(3), np.random.randn(), torch.rand(3))
    assert again[:2] == expected[:2]
    assert np.array_equal(again[2], expected[2]) and again[3] == expected[3] and torch.equal(again[4], expected[4])

    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="broken.pt"):
        load_checkpoint(broken)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


def test_ema_follows_the_model_with_warming_decay():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    ema = ModelEMA(model, decay=0.9, tau=1.0)
    start = ema.module[0].weight.clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
    ema.update(model)
    d = 0.9 * (1 - np.exp(-1.0))
    assert torch.allclose(ema.module[0].weight, start * d + model[0].weight * (1 - d))
    assert not any(p.requires_grad for p in ema.module.parameters())
    for _ in range(200):
        ema.update(model)
    assert torch.allclose(ema.module[0].weight, model[0].weight, atol=1e-6)
    assert ema.module[1].num_batches_tracked == model[1].num_batches_tracked


def test_train_config_yaml_round_trip_and_validation(tmp_path):
    # input paths are saved absolute (a train YAML's relative paths resolve against its own folder)
    config = TrainConfig(epochs=3, imgsz=(160, 320), loss_weights={"objects": 2.0}, amp="fp16", data=str(tmp_path / "d.yaml"))
    save_train_config(config, tmp_path / "train.yaml", {"scale": "n"})
    assert load_train_config(tmp_path / "train.yaml") == config
    with pytest.raises(ConfigError, match="train.imgsz"):
        TrainConfig(imgsz=(100, 320))
    with pytest.raises(ConfigError, match="train.amp"):
        TrainConfig(amp="fp8")
    with pytest.raises(ConfigError, match="loss_weights"):
        TrainConfig(loss_weights={"cars": 1.0})
    (tmp_path / "bad.yaml").write_text("train: {epochs: 0}\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_train_config(tmp_path / "bad.yaml")
    (tmp_path / "unknown.yaml").write_text("epochz: 3\n")
    with pytest.raises(ConfigError, match="unknown train field"):
        load_train_config(tmp_path / "unknown.yaml")


def test_loss_weights_beside_uncertainty_balancing_are_refused():
    # the balancer learns the weights, so fixed ones would be silently ignored
    with pytest.raises(ConfigError, match="loss_weights.*ignored by balancing 'uncertainty'"):
        TrainConfig(balancing="uncertainty", loss_weights={"lanes": 4.0})
    assert TrainConfig(balancing="uncertainty").balancing == "uncertainty"
    assert TrainConfig(loss_weights={"lanes": 4.0}).loss_weights["lanes"] == 4.0
