"""What two runtimes may legitimately disagree on when they decode the same network's detections.

PyTorch and ONNX Runtime (or fp32 and INT8, or two CPUs with different SIMD kernels) round differently, so
their raw outputs differ by a small amount. Continuous quantities (box corners, scores, AP) then differ by a
bounded amount, but every *decision* of the decoder is a step function: a candidate whose logit sits at the
confidence threshold, two classes with nearly equal logits, two boxes whose IoU sits at the NMS threshold, or
a score at the pre-NMS top-k / max-detections cut can fall either way. So a detection count is never compared
for equality; it may differ by at most the number of candidates whose decision the two runtimes' actual
outputs put on different sides (`flippable_per_class`). On a machine where nothing lands on a boundary that
number is 0 and the comparison is exact.
"""

from __future__ import annotations

import numpy as np

from perception.postprocess.boxes import anchor_points, box_iou, decode_distances
from perception.postprocess.decode import PRE_NMS_TOPK, decode_detections


def _logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


# Two decoders also compute sigmoid and IoU in their own float32 arithmetic (numpy vs an ONNX NMS node): a
# decision within this of its boundary is flippable even when both raw outputs land on the same side.
ROUNDING = 1e-6


def flippable_candidates(reg_a, cls_a, reg_b, cls_b, imgsz, strides, conf, iou, max_det,
                         per_class_cap: int | None = None) -> np.ndarray:
    """Bool (A,): anchor points whose detection decision differs, or may differ, between output sets a and b.

    reg_* (A, 4) raw distances and cls_* (A, C) logits of one head and image from the two runtimes.
    A point is flippable when, between a and b:
    - its best logit crosses the confidence threshold, or its best class changes;
    - it and a same-class candidate overlap above the NMS IoU in one and not the other, or swap score order
      while overlapping (NMS then keeps the other one);
    - its logit lies within the largest observed logit difference (x2: both sides move) of a ranking cut
      (PRE_NMS_TOPK candidates before NMS, `max_det` after it, and `per_class_cap` per class, the cap COCO's
      evaluation applies per image and class).
    """
    points, point_strides = anchor_points(tuple(imgsz), tuple(strides))
    threshold = _logit(conf)
    best_a, best_b = cls_a.argmax(1), cls_b.argmax(1)
    logit_a, logit_b = cls_a.max(1), cls_b.max(1)
    above_a, above_b = logit_a > threshold, logit_b > threshold
    candidate = above_a | above_b
    flippable = (above_a != above_b) | (np.abs(logit_a - threshold) <= ROUNDING) | (candidate & (best_a != best_b))

    idx = np.flatnonzero(candidate)
    if idx.size == 0:
        return flippable
    delta = float(np.abs(cls_a[idx] - cls_b[idx]).max())
    boxes_a = decode_distances(points[idx], point_strides[idx], reg_a[idx])
    boxes_b = decode_distances(points[idx], point_strides[idx], reg_b[idx])
    same_class = best_a[idx][:, None] == best_a[idx][None, :]
    iou_a = box_iou(boxes_a, boxes_a)
    over_a, over_b = iou_a > iou, box_iou(boxes_b, boxes_b) > iou
    order_a = logit_a[idx][:, None] > logit_a[idx][None, :]
    order_b = logit_b[idx][:, None] > logit_b[idx][None, :]
    at_boundary = np.abs(iou_a - iou) <= ROUNDING
    conflict = same_class & ((over_a != over_b) | at_boundary | ((over_a | over_b) & (order_a != order_b)))
    np.fill_diagonal(conflict, False)
    flippable[idx] |= conflict.any(0) | conflict.any(1)

    def near(cut_score: float, among: np.ndarray) -> np.ndarray:
        return among & (np.abs(logit_a[idx] - _logit(float(np.clip(cut_score, 1e-7, 1 - 1e-7)))) <= 2 * delta)

    everyone = np.ones(idx.size, bool)
    ranked = np.sort(logit_a[idx])[::-1]
    if ranked.size > PRE_NMS_TOPK:
        flippable[idx] |= np.abs(logit_a[idx] - ranked[PRE_NMS_TOPK - 1]) <= 2 * delta
    kept = decode_detections(reg_a, cls_a, tuple(imgsz), tuple(strides), tuple(range(cls_a.shape[1])), conf, iou,
                             max_detections=10**9)
    if len(kept) > max_det:
        flippable[idx] |= near(kept.scores[max_det - 1], everyone)
    kept_scores, kept_classes = kept.scores[:max_det], kept.classes[:max_det]
    for cls in np.unique(kept_classes) if per_class_cap else ():
        scores = kept_scores[kept_classes == cls]
        if len(scores) > per_class_cap:
            flippable[idx] |= near(scores[per_class_cap - 1], best_a[idx] == cls)
    return flippable


HEADS = (("objects", "obj"), ("pedestrians", "ped"))


def flippable_per_image(raw_a: dict, raw_b: dict, config, conf, iou, max_det,
                        per_class_cap: int | None = None) -> list[dict[str, dict[int, int]]]:
    """Per image, head ("objects"/"pedestrians") -> {global class id: flippable candidates of that class}.

    raw_*: the networks' raw output dicts (numpy, batch-first) of the same preprocessed batch. A flippable point
    moves one detection into or out of its class in a and, if b names another class, of that one too."""
    images = len(next(iter(raw_a.values())))
    out: list[dict[str, dict[int, int]]] = [{} for _ in range(images)]
    for head, prefix in HEADS:
        if f"{prefix}_cls" not in raw_a:
            continue
        strides = getattr(config, f"{'object' if head == 'objects' else 'pedestrian'}_strides")
        class_ids = np.asarray(getattr(config, f"{'object' if head == 'objects' else 'pedestrian'}_classes"))
        for b in range(images):
            cls_a, cls_b = raw_a[f"{prefix}_cls"][b], raw_b[f"{prefix}_cls"][b]
            flips = flippable_candidates(raw_a[f"{prefix}_reg"][b], cls_a, raw_b[f"{prefix}_reg"][b], cls_b,
                                         config.imgsz, strides, conf, iou, max_det, per_class_cap)
            counts = out[b].setdefault(head, {})
            for local_a, local_b in zip(cls_a[flips].argmax(1), cls_b[flips].argmax(1)):
                for cid in {int(class_ids[local_a]), int(class_ids[local_b])}:
                    counts[cid] = counts.get(cid, 0) + 1
    return out


def flippable_per_class(raw_a: dict, raw_b: dict, config, conf, iou, max_det,
                        per_class_cap: int | None = None) -> dict[int, int]:
    """Global class id -> flippable candidates over the whole batch and both heads."""
    total: dict[int, int] = {}
    for image in flippable_per_image(raw_a, raw_b, config, conf, iou, max_det, per_class_cap):
        for counts in image.values():
            for cid, n in counts.items():
                total[cid] = total.get(cid, 0) + n
    return total


def match_detections(got, want, max_px: float = 1.0) -> tuple[list[tuple[int, int]], int]:
    """Pair each detection of `want` with the same-class detection of `got` whose corners are nearest (all
    within `max_px`; corners, not IoU, since boxes clipped at the border have zero area), highest score
    first. Returns the (got, want) index pairs and how many detections of either side are left unpaired:
    those must be explained by flippable decisions."""
    pairs, used = [], np.zeros(len(got), bool)
    if len(got) and len(want):
        distance = np.abs(want.boxes[:, None, :] - got.boxes[None, :, :]).max(-1)
        distance[want.classes[:, None] != got.classes[None, :]] = np.inf
        for w in np.argsort(-want.scores, kind="stable"):
            candidates = np.where(used, np.inf, distance[w])
            g = int(candidates.argmin())
            if candidates[g] <= max_px:
                used[g] = True
                pairs.append((g, int(w)))
    return pairs, len(got) + len(want) - 2 * len(pairs)


def assert_detections_agree(got, want, flippable: int, box_atol: float, score_atol: float) -> None:
    """Detections of two runtimes for one image and head: every detection pairs with one of the other side, but
    for at most `flippable` (see flippable_per_class); paired boxes and scores agree within the tolerances."""
    pairs, unpaired = match_detections(got, want)
    assert unpaired <= flippable, f"{unpaired} unpaired detections, only {flippable} flippable decisions"
    if pairs:
        g, w = np.array(pairs).T
        np.testing.assert_allclose(got.boxes[g], want.boxes[w], atol=box_atol, rtol=0)
        np.testing.assert_allclose(got.scores[g], want.scores[w], atol=score_atol, rtol=0)
