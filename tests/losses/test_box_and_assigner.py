import pytest
import torch
from torchvision.ops import box_iou, complete_box_iou_loss, generalized_box_iou_loss

from perception.losses import TaskAlignedAssigner, box_iou_loss
from perception.postprocess.boxes import anchor_points


def test_box_loss_matches_torchvision_and_is_zero_on_identity():
    torch.manual_seed(0)
    xy = torch.rand(20, 2) * 100
    pred = torch.cat([xy, xy + 5 + torch.rand(20, 2) * 50], 1)
    target = pred + torch.randn(20, 4) * 3
    target[:, 2:] = torch.maximum(target[:, 2:], target[:, :2] + 1)
    assert torch.allclose(box_iou_loss(pred, target, "ciou"), complete_box_iou_loss(pred, target, eps=1e-7))
    assert torch.allclose(box_iou_loss(pred, target, "giou"), generalized_box_iou_loss(pred, target, eps=1e-7))
    assert box_iou_loss(pred, pred).abs().max() < 1e-5
    # Disjoint boxes still get a loss above 1 (IoU 0 plus the distance penalty): gradients do not vanish.
    far = pred + 500
    assert (box_iou_loss(pred, far) > 1).all()
    with pytest.raises(ValueError, match="box loss"):
        box_iou_loss(pred, target, "l1")


def _grid(imgsz=(64, 64), strides=(8, 16)):
    points, strides_per_point = anchor_points(imgsz, strides)
    return torch.as_tensor(points), torch.as_tensor(strides_per_point)


def test_assigner_picks_topk_points_inside_each_box_and_scores_by_iou():
    points, _ = _grid()
    num_points = len(points)
    gt_boxes = torch.tensor([[[4.0, 4.0, 36.0, 36.0], [30.0, 30.0, 62.0, 62.0]]])
    gt_labels = torch.tensor([[1, 0]])
    gt_mask = torch.tensor([[True, True]])
    # Every point predicts the first box with a confident class 1, so alignment ranks by IoU alone.
    pred_boxes = gt_boxes[:, :1].expand(1, num_points, 4).clone()
    pred_boxes += torch.linspace(0, 8, num_points)[None, :, None]  # IoU decreases with the point index
    pred_scores = torch.full((1, num_points, 3), 0.5)
    result = TaskAlignedAssigner(topk=4)(pred_scores, pred_boxes, points, gt_labels, gt_boxes, gt_mask)

    fg = result.fg_mask[0]
    assert 0 < int(fg.sum()) <= 8
    for gt_index, box in enumerate(gt_boxes[0]):
        mine = fg & (result.target_gt_idx[0] == gt_index)
        assert int(mine.sum()) >= 1
        p = points[mine]
        assert ((p[:, 0] > box[0]) & (p[:, 0] < box[2]) & (p[:, 1] > box[1]) & (p[:, 1] < box[3])).all()
        assert torch.equal(result.target_boxes[0, mine], box.expand(int(mine.sum()), 4))
        label = int(gt_labels[0, gt_index])
        scores = result.target_scores[0, mine]
        assert (scores[:, [c for c in range(3) if c != label]] == 0).all()
        # The best-aligned point of a box gets that box's best IoU among its positives.
        ious = box_iou(box[None], pred_boxes[0, mine])[0]
        assert torch.isclose(scores[:, label].max(), ious.max(), rtol=1e-2)
    assert (result.target_scores[0, ~fg] == 0).all()


def test_assigner_without_ground_truth_assigns_nothing():
    points, _ = _grid()
    result = TaskAlignedAssigner()(
        torch.rand(2, len(points), 3), torch.rand(2, len(points), 4), points,
        torch.zeros(2, 0, dtype=torch.long), torch.zeros(2, 0, 4), torch.zeros(2, 0, dtype=torch.bool),
    )
    assert not result.fg_mask.any() and result.target_scores.sum() == 0


def test_assigner_resolves_points_claimed_by_two_boxes_to_one():
    points, _ = _grid()
    gt_boxes = torch.tensor([[[0.0, 0.0, 40.0, 40.0], [2.0, 2.0, 42.0, 42.0]]])
    pred = gt_boxes[:, 1:].expand(1, len(points), 4)
    result = TaskAlignedAssigner(topk=13)(
        torch.full((1, len(points), 2), 0.5), pred, points, torch.tensor([[0, 1]]), gt_boxes, torch.tensor([[True, True]])
    )
    fg = result.fg_mask[0]
    # Shared points go to the box their prediction overlaps most: the second.
    assert (result.target_gt_idx[0, fg] == 1).sum() >= (result.target_gt_idx[0, fg] == 0).sum()
    assert torch.allclose(result.target_scores[0].sum(-1)[fg] > 0, torch.ones_like(fg[fg]))


def test_a_box_narrower_than_the_stride_gets_the_point_of_its_centre_cell():
    # Stride-8 points at 4, 12, 20, ...: the 3 px wide box from x 13.5 to 16.5 holds none of them.
    points, strides = anchor_points((32, 32), (8,))
    points, strides = torch.as_tensor(points), torch.as_tensor(strides)
    gt_boxes = torch.tensor([[[13.5, 9.0, 16.5, 15.0]]])
    args = (torch.full((1, len(points), 1), 0.5), torch.tensor([[[10.0, 8.0, 18.0, 16.0]]]).expand(1, len(points), 4),
            points, torch.zeros(1, 1, dtype=torch.long), gt_boxes, torch.ones(1, 1, dtype=torch.bool))
    assert not TaskAlignedAssigner(centre_cells=False)(*args, strides).fg_mask.any()
    fg = TaskAlignedAssigner()(*args, strides).fg_mask[0]
    assert fg.nonzero().flatten().tolist() == [5]  # (12, 12): the cell holding the centre (15, 12)
