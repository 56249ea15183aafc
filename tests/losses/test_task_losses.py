import math

import pytest
import torch
import torch.nn.functional as F

from perception.config import ModelConfig
from perception.losses import DetectionLoss, DrivableLoss, LaneLoss, MultiTaskLoss
from perception.postprocess.boxes import anchor_points, encode_distances

IMGSZ = (64, 96)
STRIDES = (8, 16)


def _num_points():
    return len(anchor_points(IMGSZ, STRIDES)[0])


def _perfect_detection(box, local_class, num_classes=2):
    """Raw outputs that decode to `box` at every point inside it, with a confident class there."""
    points, strides = anchor_points(IMGSZ, STRIDES)
    points, strides = torch.as_tensor(points), torch.as_tensor(strides)
    inside = (points[:, 0] > box[0]) & (points[:, 0] < box[2]) & (points[:, 1] > box[1]) & (points[:, 1] < box[3])
    reg = torch.zeros(1, len(points), 4)
    reg[0, inside] = encode_distances(points[inside], strides[inside], torch.tensor(box).expand(int(inside.sum()), 4))
    cls = torch.full((1, len(points), num_classes), -8.0)
    cls[0, inside, local_class] = 8.0
    return reg, cls


def test_detection_loss_is_low_for_a_perfect_prediction_and_drops_other_heads_classes():
    loss = DetectionLoss(head_classes=(0, 1), strides=STRIDES, imgsz=IMGSZ)
    box = [8.0, 8.0, 56.0, 40.0]
    reg, cls = _perfect_detection(box, local_class=1)
    boxes, classes = [torch.tensor([box])], [torch.tensor([1])]
    good = loss(reg, cls, boxes, classes, torch.tensor([True]))
    torch.manual_seed(0)
    bad = loss(torch.randn_like(reg), torch.randn_like(cls), boxes, classes, torch.tensor([True]))
    assert good["box"] < 1e-3 and bad["box"] > 0.3
    assert good["total"] < 0.2 * bad["total"]
    # A car (global 2) in the batch is not this head's: same loss as without it.
    with_car = loss(reg, cls, [torch.tensor([box, [60.0, 40.0, 90.0, 60.0]])], [torch.tensor([1, 2])], torch.tensor([True]))
    assert torch.isclose(with_car["total"], good["total"])


def test_detection_loss_unlabelled_images_are_not_negatives_and_all_unlabelled_is_exact_zero():
    loss = DetectionLoss(head_classes=(0, 1), strides=STRIDES, imgsz=IMGSZ, cls_loss="focal")
    torch.manual_seed(0)
    reg = torch.randn(2, _num_points(), 4, requires_grad=True)
    cls = torch.randn(2, _num_points(), 2, requires_grad=True)
    boxes = [torch.tensor([[8.0, 8.0, 56.0, 40.0]]), torch.zeros(0, 4)]
    classes = [torch.tensor([0]), torch.zeros(0, dtype=torch.long)]
    only_first = loss(reg, cls, boxes, classes, torch.tensor([True, False]))
    alone = loss(reg[:1], cls[:1], boxes[:1], classes[:1], torch.tensor([True]))
    assert torch.isclose(only_first["total"], alone["total"])
    none = loss(reg, cls, boxes, classes, torch.tensor([False, False]))
    assert none["total"].item() == 0.0
    none["total"].backward()
    assert torch.equal(reg.grad, torch.zeros_like(reg)) and not torch.isnan(cls.grad).any()


def _lane_logits(target, channels):
    return F.one_hot(target.clamp(max=channels - 1), channels).permute(0, 3, 1, 2).float() * 20 - 10


def test_lane_loss_binary_and_slot_terms():
    torch.manual_seed(0)
    target = torch.zeros(2, 32, 48, dtype=torch.long)
    target[:, :, 10:13] = 1
    target[:, :, 30:33] = 4
    target[:, :2] = 255
    loss = LaneLoss()
    perfect = loss(_lane_logits(target, 6), target, torch.tensor([True, True]), torch.tensor([True, True]))
    random = loss(torch.randn(2, 6, 32, 48), target, torch.tensor([True, True]), torch.tensor([True, True]))
    assert perfect["total"] < 0.05 and random["total"] > 1.0
    # Swapping two slot channels keeps the binary lane mask right but breaks the instance term.
    swapped = _lane_logits(target, 6)[:, [0, 4, 2, 3, 1, 5]]
    out = loss(swapped, target, torch.tensor([True, True]), torch.tensor([True, True]))
    assert out["binary"] < 1e-3 and out["slot"] > 5
    assert loss(swapped, target, torch.tensor([True, True]), torch.tensor([False, False]))["slot"] == 0
    # Ignored pixels do not matter.
    scrambled = _lane_logits(target, 6)
    scrambled[:, :, :2] = torch.randn(2, 6, 2, 48)
    assert torch.isclose(loss(scrambled, target, torch.tensor([True, True]), torch.tensor([True, True]))["total"], perfect["total"])
    zero = loss(torch.randn(2, 6, 32, 48), target, torch.tensor([False, False]), torch.tensor([True, True]))
    assert zero["total"].item() == 0.0


@pytest.mark.parametrize("binary", ["focal", "wbce"])
def test_lane_loss_binary_modes_decrease_under_optimisation(binary):
    torch.manual_seed(0)
    target = torch.zeros(1, 16, 16, dtype=torch.long)
    target[:, :, 5:7] = 7
    logits = torch.randn(1, 8, 16, 16, requires_grad=True)
    loss = LaneLoss(binary=binary)
    opt = torch.optim.Adam([logits], lr=0.1)
    first = None
    for _ in range(30):
        value = loss(logits, target, torch.tensor([True]), torch.tensor([False]))["total"]
        first = first if first is not None else value.item()
        opt.zero_grad()
        value.backward()
        opt.step()
    assert value.item() < 0.3 * first


def test_drivable_loss_is_cross_entropy_plus_dice_with_ignore():
    torch.manual_seed(0)
    target = torch.randint(0, 3, (2, 16, 24))
    target[:, :4] = 255
    logits = torch.randn(2, 3, 16, 24)
    out = DrivableLoss()(logits, target, torch.tensor([True, True]))
    assert torch.isclose(out["ce"], F.cross_entropy(logits, target, ignore_index=255))
    assert 0 < out["dice"] < 1
    perfect = F.one_hot(target.clamp(max=2), 3).permute(0, 3, 1, 2).float() * 30
    assert DrivableLoss()(perfect, target, torch.tensor([True, True]))["total"] < 1e-3
    only_second = DrivableLoss()(logits, target, torch.tensor([False, True]))
    assert torch.isclose(only_second["ce"], F.cross_entropy(logits[1:], target[1:], ignore_index=255))
    assert DrivableLoss()(logits, target, torch.tensor([False, False]))["total"].item() == 0.0


def _batch(config, labelled):
    b, (h, w) = 2, config.imgsz
    return {
        "images": torch.zeros(b, 3, h, w),
        "boxes": [torch.tensor([[4.0, 4.0, 40.0, 30.0], [50.0, 10.0, 90.0, 60.0]]), torch.zeros(0, 4)],
        "classes": [torch.tensor([0, 2]), torch.zeros(0, dtype=torch.long)],
        "lane_target": torch.randint(0, config.lane_slots + 2, (b, h, w)),
        "drivable_target": torch.randint(0, 3, (b, h, w)),
        "labelled": {t: torch.tensor(v) for t, v in labelled.items()},
        "lane_instances": torch.tensor([True, False]),
        "meta": [{}, {}],
    }


def _outputs(config, b=2, requires_grad=True):
    torch.manual_seed(1)
    h, w = config.imgsz
    a_o = len(anchor_points(config.imgsz, config.object_strides)[0])
    a_p = len(anchor_points(config.imgsz, config.pedestrian_strides)[0])
    shapes = {
        "obj_reg": (b, a_o, 4), "obj_cls": (b, a_o, len(config.object_classes)),
        "ped_reg": (b, a_p, 4), "ped_cls": (b, a_p, len(config.pedestrian_classes)),
        "lane": (b, config.lane_channels, h, w), "drivable": (b, 3, h, w),
    }
    return {k: torch.randn(*s, requires_grad=requires_grad) for k, s in shapes.items()}


@pytest.mark.parametrize("balancing", ["fixed", "uncertainty"])
def test_multitask_loss_unlabelled_tasks_add_exact_zero(balancing):
    config = ModelConfig(scale="n", imgsz=(64, 96))
    loss = MultiTaskLoss(config, balancing=balancing)
    outputs = _outputs(config)
    labelled = {"objects": [True, True], "pedestrians": [False, False], "lanes": [True, False], "drivable": [False, False]}
    total, report = loss(outputs, _batch(config, labelled))
    assert math.isfinite(total.item())
    assert report["pedestrians"].item() == 0.0 and report["drivable"].item() == 0.0
    assert report["objects"] > 0 and report["lanes"] > 0
    total.backward()
    assert torch.equal(outputs["ped_cls"].grad, torch.zeros_like(outputs["ped_cls"]))
    assert torch.equal(outputs["drivable"].grad, torch.zeros_like(outputs["drivable"]))
    assert outputs["obj_cls"].grad.abs().sum() > 0
    if balancing == "uncertainty":
        grads = {t: p.grad for t, p in loss.balancer.log_vars.items()}
        assert grads["pedestrians"].item() == 0.0 and grads["objects"].item() != 0.0
        # Kendall et al.: d/ds (exp(-s) L + s) = 1 - L at s = 0.
        assert torch.isclose(grads["objects"], 1 - report["objects"], atol=1e-5)
    # Nothing labelled at all: zero, still no NaN.
    nothing = {t: [False, False] for t in labelled}
    total, report = loss(_outputs(config), _batch(config, nothing))
    assert total.item() == 0.0 and all(math.isfinite(v.item()) for v in report.values())


def _class_grad(loss, **extra):
    torch.manual_seed(0)
    reg = torch.randn(1, _num_points(), 4)
    cls = torch.randn(1, _num_points(), 2, requires_grad=True)
    out = loss(reg, cls, [torch.tensor([[8.0, 8.0, 40.0, 40.0]])], [torch.tensor([0])], torch.tensor([True]), **extra)
    out["total"].backward()
    return cls.grad[0]


def test_ignore_regions_and_unlabelled_classes_give_no_negatives():
    from perception.losses.detection_loss import anchor_grid

    loss = DetectionLoss(head_classes=(0, 1), strides=STRIDES, imgsz=IMGSZ)
    points, _ = anchor_grid(IMGSZ, STRIDES, torch.device("cpu"))
    crowd = torch.tensor([[IMGSZ[1] / 2 + 4, 4.0, IMGSZ[1] - 4.0, IMGSZ[0] - 4.0]])  # clear of the pedestrian
    inside = (points[:, 0] >= crowd[0, 0]) & (points[:, 0] <= crowd[0, 2]) & (points[:, 1] >= crowd[0, 1]) & (
        points[:, 1] <= crowd[0, 3])
    assert inside.any()
    plain = _class_grad(loss)
    assert plain[inside].abs().sum() > 0  # without the region, a crowd trains as background
    ignored = _class_grad(loss, ignore_boxes=[crowd])
    assert torch.equal(ignored[inside], torch.zeros_like(ignored[inside]))
    assert torch.equal(ignored[~inside], plain[~inside])  # the rest of the image is untouched
    # A source that labels pedestrians (global 0) but not riders (global 1): no rider negatives anywhere.
    labelled = torch.zeros(1, 10, dtype=torch.bool)
    labelled[0, 0] = True
    no_rider = _class_grad(loss, class_labelled=labelled)
    assert torch.equal(no_rider[:, 1], torch.zeros_like(no_rider[:, 1]))
    assert torch.equal(no_rider[:, 0], plain[:, 0])
