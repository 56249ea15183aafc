"""The lane-marking loss: unlabelled pixels (255) never count, and it learns attributes and crossings."""

import torch

from perception.losses.lane_marking_loss import LaneMarkingLoss


def test_all_ignored_targets_give_an_exact_zero_with_a_graph():
    attr = torch.randn(2, 8, 6, 8, requires_grad=True)
    crossing = torch.randn(2, 3, 6, 8, requires_grad=True)
    out = LaneMarkingLoss()(attr, crossing, torch.full((2, 3, 6, 8), 255), torch.full((2, 6, 8), 255))
    assert out["total"].item() == 0.0
    out["total"].backward()
    assert attr.grad.abs().sum() == 0 and crossing.grad.abs().sum() == 0


def test_loss_decreases_and_ignores_unlabelled_groups():
    torch.manual_seed(0)
    attr = torch.zeros(1, 8, 4, 4, requires_grad=True)
    crossing = torch.zeros(1, 3, 4, 4, requires_grad=True)
    attr_t = torch.full((1, 3, 4, 4), 255)
    attr_t[0, 0, 1] = 1  # dashed on row 1
    attr_t[0, 2, 1] = 2  # curb; colour stays unlabelled
    crossing_t = torch.zeros(1, 4, 4, dtype=torch.long)
    crossing_t[0, 3] = 2
    loss = LaneMarkingLoss()
    optimizer = torch.optim.SGD([attr, crossing], lr=1.0)
    first = None
    for _ in range(30):
        optimizer.zero_grad()
        out = loss(attr, crossing, attr_t, crossing_t)
        first = first if first is not None else out["total"].item()
        out["total"].backward()
        optimizer.step()
    assert out["total"].item() < 0.2 * first
    assert attr.grad is not None and attr[0, 2:5].abs().sum() == 0  # the colour channels never moved
    assert attr[0, 1, 1].mean() > attr[0, 0, 1].mean() and crossing[0, 2, 3].mean() > crossing[0, 0, 3].mean()
