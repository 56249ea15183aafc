"""Multi-task training you can see: gradient monitoring and the balancers inside the real trainer."""

import csv

import pytest
import torch

from perception.engine import TrainConfig, Trainer, load_checkpoint

from engine_sizes import TINY_IMGSZ


def _config(data, out, **kw):
    base = dict(data=str(data), model="n", imgsz=TINY_IMGSZ, epochs=2, batch=2, workers=0, device="cpu", out=str(out),
                save_period=0, warmup_steps_min=2, lr=3e-3, max_val_batches=1)
    return TrainConfig(**(base | kw))


def test_gradient_monitor_logs_cosines_plots_and_states_its_cost(tiny_synthetic, tmp_path):
    summary = Trainer(_config(tiny_synthetic, tmp_path / "run", grad_monitor_period=2), progress=False).fit()
    monitor = summary["multitask"]["gradient_monitor"]
    assert monitor["measurements"] == 3 and monitor["seconds"] > 0 and 0 < monitor["fraction_of_training"] < 1
    assert isinstance(monitor["negative_pairs"], list)
    rows = list(csv.DictReader((tmp_path / "run" / "results.csv").open()))
    assert len(rows) == 2  # 2 epochs of 3 steps, measured at steps 0, 2 and 4
    for row in rows:
        cosines = [k for k in row if k.startswith("gradcos/")]
        assert len(cosines) == 6  # every pair of the four tasks
        assert all(-1.0 <= float(row[k]) <= 1.0 for k in cosines)
    assert "weight/lanes" in rows[-1]
    assert (tmp_path / "run" / "task_gradients.png").stat().st_size > 0


def test_monitor_is_off_by_default(tiny_synthetic, tmp_path):
    summary = Trainer(_config(tiny_synthetic, tmp_path / "run", max_steps=1, epochs=1), progress=False).fit()
    assert "gradient_monitor" not in summary["multitask"]
    assert not (tmp_path / "run" / "task_gradients.png").exists()


@pytest.mark.parametrize("balancing", ["dwa", "gradnorm", "pcgrad"])
def test_each_balancer_trains_the_network_and_logs_its_weights(tiny_synthetic, tmp_path, balancing):
    summary = Trainer(_config(tiny_synthetic, tmp_path / balancing, balancing=balancing), progress=False).fit()
    weights = summary["multitask"]["final_weights"]
    assert set(weights) == {"objects", "pedestrians", "lanes", "drivable"}
    assert sum(weights.values()) == pytest.approx(4.0, rel=1e-5)
    if balancing != "pcgrad":  # DWA after two epochs, GradNorm after every step: the weights have moved
        assert any(abs(w - 1.0) > 1e-4 for w in weights.values())
    ckpt = load_checkpoint(tmp_path / balancing / "weights" / "last.pt")
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())
    rows = list(csv.DictReader((tmp_path / balancing / "results.csv").open()))
    assert all(f"weight/{t}" in rows[-1] for t in weights)


def test_pcgrad_step_matches_the_plain_step_when_only_one_task_trains(tiny_synthetic):
    """With a single head there is nothing to project: PCGrad's gradients must be the ordinary backward's."""
    from perception.config import ModelConfig
    from perception.data.dataset import build_dataset, collate
    from perception.engine.train_data import move_batch
    from perception.engine.distributed import DistContext
    from perception.multitask.backward import TaskBackward
    from perception.losses import MultiTaskLoss
    from perception.models import build_model

    config = ModelConfig(scale="n", imgsz=TINY_IMGSZ, heads={"lanes": True})
    dataset = build_dataset(str(tiny_synthetic), "train", config, train=False)
    batch = move_batch(collate([dataset[0], dataset[1]]), torch.device("cpu"), mean=config.mean, std=config.std)
    grads = {}
    for balancing in ("fixed", "pcgrad"):
        torch.manual_seed(0)
        model = build_model(config)
        loss = MultiTaskLoss(config, balancing)
        total, _ = loss(model(batch["images"]), batch)
        TaskBackward(model, loss, DistContext()).backward(total, step=0, scaler=torch.amp.GradScaler("cuda", enabled=False))
        grads[balancing] = {n: p.grad.clone() if p.grad is not None else torch.zeros_like(p) for n, p in model.named_parameters()}
    for name, grad in grads["fixed"].items():
        assert torch.allclose(grad, grads["pcgrad"][name], rtol=1e-4, atol=1e-8), name


@pytest.mark.parametrize("balancing", ["pcgrad", "gradnorm"])
def test_gradient_balancers_are_loss_scale_invariant_as_amp_needs(tiny_synthetic, balancing):
    """Under fp16 AMP the GradScaler multiplies the loss: the balancers' gradients must scale with it and
    their weights must not depend on it (scaler.unscale_ then restores the unscaled step)."""
    from perception.config import ModelConfig
    from perception.data.dataset import build_dataset, collate
    from perception.engine.train_data import move_batch
    from perception.engine.distributed import DistContext
    from perception.multitask.backward import TaskBackward
    from perception.losses import MultiTaskLoss
    from perception.models import build_model

    config = ModelConfig(scale="n", imgsz=TINY_IMGSZ)
    dataset = build_dataset(str(tiny_synthetic), "train", config, train=False)
    batch = move_batch(collate([dataset[0], dataset[1]]), torch.device("cpu"), mean=config.mean, std=config.std)
    results = {}
    for scale in (None, 1024.0):
        torch.manual_seed(0)
        model = build_model(config)
        loss = MultiTaskLoss(config, balancing)
        scaler = torch.amp.GradScaler("cpu", init_scale=scale or 1.0, enabled=scale is not None)
        total, _ = loss(model(batch["images"]), batch)
        TaskBackward(model, loss, DistContext()).backward(total, step=0, scaler=scaler)
        grads = torch.cat([p.grad.reshape(-1) for p in model.parameters() if p.grad is not None])
        results[scale] = (grads / (scale or 1.0), loss.balancer.current_weights())
    (plain, plain_weights), (scaled, scaled_weights) = results[None], results[1024.0]
    assert torch.allclose(plain, scaled, rtol=1e-3, atol=1e-7)
    assert plain_weights == pytest.approx(scaled_weights, rel=1e-5)
    if balancing == "gradnorm":
        assert any(abs(w - 1.0) > 1e-4 for w in plain_weights.values())  # one update has happened
