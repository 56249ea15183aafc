"""The batched detection loss (padded ground truth, per-image weights, no host sync) equals the per-image
implementation it replaced, on random batches with ragged, empty and unlabelled images."""

import pytest
import torch

from perception.batching import pad_boxes, pad_regions
from perception.losses.assigner import TaskAlignedAssigner
from perception.losses.detection_loss import DetectionLoss, anchor_grid, decode_boxes
from per_image_reference import PerImageAssigner, PerImageDetectionLoss

IMGSZ = (64, 96)
STRIDES = (8, 16, 32)
HEAD_CLASSES = (2, 3, 5)  # global ids this head owns; 0, 1, 4 belong to another head


def _random_batch(generator, batch, max_boxes):
    """Per-image boxes (some degenerate, some of other heads' classes, some images empty) and raw outputs."""
    num_points = len(anchor_grid(IMGSZ, STRIDES, torch.device("cpu"))[0])
    boxes, classes, regions = [], [], []
    for i in range(batch):
        n = int(torch.randint(0, max_boxes + 1, (1,), generator=generator))
        if i == 0:
            n = 0  # always one empty image
        xy = torch.rand(n, 2, generator=generator) * torch.tensor([IMGSZ[1] - 8.0, IMGSZ[0] - 8.0])
        wh = torch.rand(n, 2, generator=generator) * 40 + 2
        b = torch.cat([xy, xy + wh], 1)
        if n > 1:
            b[1, 2] = b[1, 0]  # a degenerate box: dropped by both
        boxes.append(b)
        classes.append(torch.randint(0, 6, (n,), generator=generator))
        k = int(torch.randint(0, 3, (1,), generator=generator))
        rxy = torch.rand(k, 2, generator=generator) * 40
        regions.append(torch.cat([rxy, rxy + 20], 1))
    reg = torch.randn(batch, num_points, 4, generator=generator)
    cls = torch.randn(batch, num_points, len(HEAD_CLASSES), generator=generator)
    return reg, cls, boxes, classes, regions


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("cls_loss", ["bce", "focal"])
def test_vectorised_loss_equals_the_per_image_one(seed, cls_loss):
    g = torch.Generator().manual_seed(seed)
    batch = 5
    reg, cls, boxes, classes, regions = _random_batch(g, batch, max_boxes=4 + seed)
    labelled = torch.rand(batch, generator=g) > 0.3
    class_labelled = torch.rand(batch, 10, generator=g) > 0.2
    new = DetectionLoss(HEAD_CLASSES, STRIDES, IMGSZ, cls_loss=cls_loss)
    old = PerImageDetectionLoss(HEAD_CLASSES, STRIDES, IMGSZ, cls_loss=cls_loss)
    reg_new, cls_new = reg.clone().requires_grad_(), cls.clone().requires_grad_()
    reg_old, cls_old = reg.clone().requires_grad_(), cls.clone().requires_grad_()
    gt_boxes, gt_classes = pad_boxes(boxes, classes)
    got = new(reg_new, cls_new, gt_boxes, gt_classes, labelled, IMGSZ, pad_regions(regions), class_labelled)
    want = old(reg_old, cls_old, boxes, classes, labelled, IMGSZ, regions, class_labelled)
    for key in ("box", "cls", "total"):
        assert torch.allclose(got[key], want[key], rtol=1e-5, atol=1e-6), (key, got[key], want[key])
    got["total"].backward()
    want["total"].backward()
    # Gradients of the images the old code selected are equal; unselected images get exactly zero.
    assert torch.allclose(reg_new.grad, reg_old.grad if reg_old.grad is not None else torch.zeros_like(reg), atol=1e-6)
    assert torch.allclose(cls_new.grad, cls_old.grad if cls_old.grad is not None else torch.zeros_like(cls), atol=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_batched_assignment_equals_per_image_assignment(seed):
    g = torch.Generator().manual_seed(100 + seed)
    reg, cls, boxes, classes, _ = _random_batch(g, 4, max_boxes=6)
    loss = DetectionLoss(HEAD_CLASSES, STRIDES, IMGSZ)
    gt_labels, gt_boxes, gt_mask = loss.targets(*pad_boxes(boxes, classes), torch.ones(4, dtype=torch.bool))
    points, strides = anchor_grid(IMGSZ, STRIDES, torch.device("cpu"))
    pred = decode_boxes(points, strides, reg)
    scores = cls.sigmoid()
    old = PerImageAssigner()(scores, pred, points, *PerImageDetectionLoss(HEAD_CLASSES, STRIDES, IMGSZ).targets(
        boxes, classes, torch.device("cpu")), strides)
    new = TaskAlignedAssigner()(scores, pred, points, gt_labels, gt_boxes, gt_mask, strides)
    assert torch.equal(new.fg_mask, old.fg_mask)
    assert torch.allclose(new.target_scores, old.target_scores, atol=1e-6)
    assert torch.allclose(new.target_boxes, old.target_boxes)


def test_a_batch_without_boxes_and_padding_only_rows_give_no_positives():
    g = torch.Generator().manual_seed(0)
    reg, cls, _, _, _ = _random_batch(g, 3, max_boxes=0)
    loss = DetectionLoss(HEAD_CLASSES, STRIDES, IMGSZ)
    # Only other heads' classes: every row is padding for this head.
    boxes = [torch.tensor([[4.0, 4.0, 30.0, 30.0]])] * 3
    out = loss(reg.requires_grad_(), cls.requires_grad_(), boxes, [torch.tensor([0])] * 3, torch.ones(3, dtype=torch.bool))
    assert out["box"].item() == 0.0 and torch.isfinite(out["total"])
    out["total"].backward()
    assert torch.isfinite(reg.grad).all() and torch.isfinite(cls.grad).all()


@pytest.mark.parametrize("kind", ["ciou", "giou"])
def test_box_losses_equal_torchvision_values_and_gradients(kind):
    from torchvision.ops import complete_box_iou_loss, generalized_box_iou_loss

    from perception.losses.box_loss import box_iou_loss

    g = torch.Generator().manual_seed(0)
    xy = torch.rand(500, 2, 2, generator=g) * 50
    wh = torch.rand(500, 2, 2, generator=g) * 30 + 0.5
    pred = torch.cat([xy[:, 0], xy[:, 0] + wh[:, 0]], 1).requires_grad_()
    target = torch.cat([xy[:, 1], xy[:, 1] + wh[:, 1]], 1)  # many pairs disjoint, many overlapping
    reference = (complete_box_iou_loss if kind == "ciou" else generalized_box_iou_loss)(pred, target, "none", eps=1e-7)
    ours = box_iou_loss(pred, target, kind)
    assert torch.allclose(ours, reference, atol=1e-6)
    (want,) = torch.autograd.grad(reference.sum(), pred)
    (got,) = torch.autograd.grad(ours.sum(), pred)
    assert torch.allclose(got, want, atol=1e-6)
