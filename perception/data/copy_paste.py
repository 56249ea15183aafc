"""Same-place copy-paste: objects of another image of the same source, pasted where they were.

Dashcams of one source share a mounting height and a horizon, so an object cut from one frame and pasted at
the same pixel position in another keeps a plausible size and ground contact - no scale or position has to be
invented (the synthetic world shares one camera model outright). Each paste adds labelled objects to the
image, so every training step sees more positives: detection learns more per image (issue 12).

Only what the labels vouch for is pasted: whole, unoccluded objects (visibility >= MIN_VISIBILITY, so the
crop shows the object and not its occluder), not touching an ignore region, covering at most MAX_COVER of
any object already there (which would then be hidden behind it). Crops are rectangles feathered at the border
so no hard seam marks them. Lane and drivable labels stay as they are: an object covers a few pixels of them.
"""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np

from perception.postprocess.boxes import box_iou
from perception.structures import Sample

MIN_VISIBILITY = 0.9
MAX_COVER = 0.3  # the largest share of an existing object (or pasted one) another box may hide
MIN_SIDE = 4.0  # px: smaller crops are noise, not objects
FEATHER = 2  # px of linear blend at a crop's border


def _cover(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M): the share of each box of `b` that box `a[i]` covers (intersection / area of b): box_iou's crowd rule."""
    return box_iou(b, a, crowd=np.ones(len(a), bool)).T


def _blend(image: np.ndarray, donor: np.ndarray, box: np.ndarray) -> None:
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    h, w = y2 - y1, x2 - x1
    if h <= 0 or w <= 0:
        return
    ramp_y = np.minimum(np.arange(h) + 1, np.arange(h)[::-1] + 1) / (FEATHER + 1)
    ramp_x = np.minimum(np.arange(w) + 1, np.arange(w)[::-1] + 1) / (FEATHER + 1)
    alpha = np.clip(np.minimum(ramp_y[:, None], ramp_x[None, :]), 0, 1)[..., None]
    region = image[y1:y2, x1:x2].astype(np.float32)
    image[y1:y2, x1:x2] = (alpha * donor[y1:y2, x1:x2] + (1 - alpha) * region).round().astype(image.dtype)


def paste_objects(target: Sample, donor: Sample, rng: random.Random | None = None, max_objects: int = 8) -> Sample:
    """`target` with up to `max_objects` of `donor`'s objects pasted at their own positions.

    The donor must be an image of the same size and source with the detection task labelled; otherwise the
    target comes back unchanged. Pasted objects keep their class and visibility, get track id -1, and are
    drawn in random order, each checked against everything pasted before it.
    """
    rng = rng or random
    same_frame = donor.image.shape == target.image.shape and donor.source == target.source
    if not (same_frame and donor.labelled.get("objects") and target.labelled.get("objects") and len(donor.boxes)):
        return target
    boxes = target.boxes
    sides = np.minimum(donor.boxes[:, 2] - donor.boxes[:, 0], donor.boxes[:, 3] - donor.boxes[:, 1])
    order = [i for i in np.flatnonzero((donor.visibility >= MIN_VISIBILITY) & (sides >= MIN_SIDE))]
    rng.shuffle(order)
    image = target.image.copy()
    kept: list[int] = []
    for i in order[:max_objects]:
        box = donor.boxes[i : i + 1]
        if len(target.ignore_boxes) and _cover(box, target.ignore_boxes).max(initial=0) > 0:
            continue
        placed = np.concatenate([boxes, donor.boxes[kept]]) if kept else boxes
        if len(placed) and (_cover(box, placed).max() > MAX_COVER or _cover(placed, box).max() > MAX_COVER):
            continue
        _blend(image, donor.image, donor.boxes[i])
        kept.append(i)
    if not kept:
        return target
    return replace(
        target,
        image=image,
        boxes=np.concatenate([target.boxes, donor.boxes[kept]]),
        classes=np.concatenate([target.classes, donor.classes[kept]]),
        track_ids=np.concatenate([target.track_ids, np.full(len(kept), -1, np.int64)]),
        visibility=np.concatenate([target.visibility, donor.visibility[kept]]),
    )
