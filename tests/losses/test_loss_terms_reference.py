"""The dense loss terms, written with fewer full-resolution passes, equal their textbook forms (values and
gradients): focal loss through sigmoid and p_t, cross-entropy through F.cross_entropy, Dice on a softmax and
F.one_hot."""

import pytest
import torch
import torch.nn.functional as F

from perception.classes import IGNORE_INDEX
from perception.losses.drivable_loss import DrivableLoss
from perception.losses.lane_loss import LaneLoss
from perception.losses.segmentation_terms import binary_focal, soft_dice


def textbook_focal(logits, target, valid, gamma=2.0, alpha=0.75):
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    prob = logits.sigmoid()
    p_true = prob * target + (1 - prob) * (1 - target)
    weight = (alpha * target + (1 - alpha) * (1 - target)) * (1 - p_true).pow(gamma)
    return (bce * weight * valid).sum() / valid.sum().clamp(min=1)


def textbook_drivable(logits, target, labelled, dice_weight=1.0):
    valid = (target != IGNORE_INDEX) & labelled[:, None, None]
    ce_target = torch.where(valid, target, torch.full_like(target, IGNORE_INDEX))
    ce = F.cross_entropy(logits, ce_target, ignore_index=IGNORE_INDEX, reduction="sum") / valid.sum().clamp(min=1)
    onehot = F.one_hot(torch.where(valid, target, 0), logits.shape[1]).permute(0, 3, 1, 2).float()
    return ce + dice_weight * soft_dice(logits.softmax(dim=1), onehot, valid[:, None].float())


def textbook_lane(logits, target, labelled, instances):
    instances = instances & labelled
    valid = ((target != IGNORE_INDEX) & labelled[:, None, None]).float()
    is_lane = ((target > 0) & (target != IGNORE_INDEX)).float()
    lane_logit = torch.logsumexp(logits[:, 1:], dim=1) - logits[:, 0]
    binary = textbook_focal(lane_logit, is_lane, valid)
    dice = soft_dice(lane_logit.sigmoid(), is_lane, valid)
    lane_pixels = (target > 0) & (target != IGNORE_INDEX) & instances[:, None, None]
    channel_target = torch.where(lane_pixels, target - 1, torch.full_like(target, -100))
    slot = F.cross_entropy(logits[:, 1:], channel_target, ignore_index=-100, reduction="sum") / lane_pixels.sum().clamp(min=1)
    return binary + dice + slot


def _grads(fn, *inputs, channels_last=False):
    # A channels_last model's outputs are channels_last too: the loss must take them (nll_loss's 2-D backward
    # refuses a non-contiguous input).
    memory = torch.channels_last if channels_last else torch.contiguous_format
    inputs = [x.detach().clone().contiguous(memory_format=memory).requires_grad_() for x in inputs]
    value = fn(*inputs)
    value.backward()
    return value.detach(), [x.grad for x in inputs]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_focal_equals_the_textbook_form(seed):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(4, 24, 40, generator=g) * 4  # saturated pixels too
    target = (torch.rand(4, 24, 40, generator=g) < 0.1).float()
    valid = (torch.rand(4, 24, 40, generator=g) < 0.9).float()
    ours, (ours_grad,) = _grads(lambda x: binary_focal(x, target, valid), logits)
    ref, (ref_grad,) = _grads(lambda x: textbook_focal(x, target, valid), logits)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-5)
    torch.testing.assert_close(ours_grad, ref_grad, rtol=1e-4, atol=1e-8)


@pytest.mark.parametrize("seed, channels_last", [(0, False), (1, False), (0, True)])
def test_drivable_loss_equals_cross_entropy_plus_dice_on_a_one_hot(seed, channels_last):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 3, 16, 24, generator=g) * 3
    target = torch.randint(0, 3, (3, 16, 24), generator=g)
    target[torch.rand(3, 16, 24, generator=g) < 0.1] = IGNORE_INDEX
    labelled = torch.tensor([True, False, True])
    ours, (ours_grad,) = _grads(lambda x: DrivableLoss()(x, target, labelled)["total"], logits, channels_last=channels_last)
    ref, (ref_grad,) = _grads(lambda x: textbook_drivable(x, target, labelled), logits)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-5)
    torch.testing.assert_close(ours_grad, ref_grad, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("seed, channels_last", [(0, False), (1, False), (0, True)])
def test_lane_loss_equals_its_textbook_terms(seed, channels_last):
    g = torch.Generator().manual_seed(seed)
    k = 6
    logits = torch.randn(3, k + 2, 16, 24, generator=g) * 3
    target = torch.randint(0, k + 2, (3, 16, 24), generator=g)
    target[torch.rand(3, 16, 24, generator=g) < 0.5] = 0
    target[torch.rand(3, 16, 24, generator=g) < 0.05] = IGNORE_INDEX
    labelled, instances = torch.tensor([True, True, False]), torch.tensor([True, False, True])
    ours, (ours_grad,) = _grads(lambda x: LaneLoss()(x, target, labelled, instances)["total"], logits, channels_last=channels_last)
    ref, (ref_grad,) = _grads(lambda x: textbook_lane(x, target, labelled, instances), logits)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-5)
    torch.testing.assert_close(ours_grad, ref_grad, rtol=1e-4, atol=1e-7)
