"""Task balancers on small problems whose effect is known: PCGrad, GradNorm, DWA."""

import math

import pytest
import torch

from perception.config import BALANCING_MODES
from perception.errors import InputError
from perception.multitask.balancers import DynamicWeightAverage, GradNormWeights, build_balancer
from perception.multitask.gradient_surgery import project_conflicting


def test_pcgrad_projected_gradients_never_conflict():
    g = torch.tensor([[1.0, 0.0, 0.5], [-2.0, 1.0, 0.0]])  # dot = -2: conflicting
    assert torch.dot(g[0], g[1]) < 0
    p = project_conflicting(g, torch.Generator().manual_seed(0))
    assert torch.dot(p[0], g[1]).abs() < 1e-6 and torch.dot(p[1], g[0]).abs() < 1e-6
    update = p.sum(0)
    assert torch.dot(update, g[0]) > 0 and torch.dot(update, g[1]) > 0  # the sum helps both tasks
    assert torch.dot(g.sum(0), g[0]) < 0  # the plain sum had undone task 0


def test_pcgrad_leaves_agreeing_gradients_alone_and_is_reproducible():
    torch.manual_seed(0)
    agree = torch.rand(3, 50)  # all positive: every pair agrees
    assert torch.equal(project_conflicting(agree), agree)
    mixed = torch.randn(4, 50)
    a = project_conflicting(mixed, torch.Generator().manual_seed(3))
    b = project_conflicting(mixed, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)  # same seed, same order: what keeps DDP ranks identical


def test_gradnorm_moves_gradient_norms_toward_their_targets():
    balancer = GradNormWeights(["a", "b"], alpha=1.5, lr=0.025)
    norms = torch.tensor([2.0, 1.0])  # task a's raw gradient is twice task b's
    active = torch.tensor([True, True])
    losses = torch.tensor([1.0, 1.0])  # equal training rates: target = the mean weighted norm
    gaps = []
    for _ in range(100):
        balancer.update(norms, losses, active)
        weighted = balancer.weights * norms
        gaps.append(float((weighted - weighted.mean()).abs().max()))
    assert gaps[-1] < 0.1 * 0.5  # started at |2 - 1.5| = 0.5
    assert balancer.weights.sum().item() == pytest.approx(2.0)  # renormalised to K
    assert balancer.weights[0] < balancer.weights[1]


def test_gradnorm_gives_the_slower_task_a_higher_target():
    balancer = GradNormWeights(["fast", "slow"], alpha=1.5)
    active = torch.tensor([True, True])
    balancer.update(torch.tensor([1.0, 1.0]), torch.tensor([1.0, 1.0]), active)  # records L(0)
    log = balancer.update(torch.tensor([1.0, 1.0]), torch.tensor([0.2, 0.9]), active)
    assert log["gradnorm/target/slow"] > log["gradnorm/target/fast"]
    for _ in range(50):
        balancer.update(torch.tensor([1.0, 1.0]), torch.tensor([0.2, 0.9]), active)
    assert balancer.current_weights()["slow"] > balancer.current_weights()["fast"]


def test_dwa_weights_follow_the_loss_rate_ratio():
    balancer = DynamicWeightAverage(["flat", "falling"], temperature=2.0, period=2)
    balancer.train()
    flat, falling = 1.0, 4.0
    for period in range(3):
        for _ in range(2):
            balancer({"flat": torch.tensor(flat), "falling": torch.tensor(falling)}, {"flat": True, "falling": True})
        if period == 0:
            assert balancer.current_weights() == {"flat": 1.0, "falling": 1.0}  # one period: no ratio yet
        falling /= 2
    # ratios of the last two period means: flat 1, falling 0.5
    e1, e2 = math.exp(1.0 / 2), math.exp(0.5 / 2)
    w = balancer.current_weights()
    assert w["flat"] == pytest.approx(2 * e1 / (e1 + e2), rel=1e-6)
    assert w["falling"] == pytest.approx(2 * e2 / (e1 + e2), rel=1e-6)
    total = balancer({"flat": torch.tensor(1.0), "falling": torch.tensor(1.0)}, {"flat": True, "falling": True})
    assert total.item() == pytest.approx(2.0, rel=1e-6)  # weights sum to K


def test_dwa_state_survives_a_checkpoint_round_trip():
    a = DynamicWeightAverage(["x", "y"], period=1)
    for v in (3.0, 2.0, 1.5):
        a({"x": torch.tensor(v), "y": torch.tensor(1.0)}, {"x": True, "y": True})
    b = DynamicWeightAverage(["x", "y"], period=1)
    b.load_state_dict(a.state_dict())
    assert b.current_weights() == a.current_weights() and b.current_weights()["x"] != 1.0


def test_every_balancing_mode_offered_builds_its_own_balancer_and_unknown_is_refused():
    # The modes the CLI and TrainConfig offer (config.BALANCING_MODES), not a copy of them: a mode added there
    # without a balancer, or mapped to another mode's, fails here.
    losses = {"lanes": torch.tensor(2.0), "drivable": torch.tensor(3.0)}
    kinds = set()
    for mode in BALANCING_MODES:
        balancer = build_balancer(mode, list(losses), {"lanes": 0.5})
        kinds.add(type(balancer))
        weights = balancer.current_weights()
        assert set(weights) == set(losses), mode
        # at the start every balancer is the weighted sum of its current weights (learned log-variances are 0)
        total = balancer(losses, {task: True for task in losses})
        assert float(total) == pytest.approx(sum(weights[t] * float(loss) for t, loss in losses.items())), mode
    assert len(kinds) == len(BALANCING_MODES)
    with pytest.raises(InputError, match="'mgda' is not one of"):
        build_balancer("mgda", ["lanes"], {})
