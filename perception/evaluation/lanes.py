"""Lane-line pixel metrics of the multi-task papers (YOLOP): lane-pixel accuracy (recall) and lane IoU.

Both masks are compared at an evaluation resolution of `eval_width` pixels wide (height in proportion
to the image). Ground-truth polylines are drawn there `line_width` px thick; a ground-truth lane mask,
when the source has one instead, is resized there with nearest-neighbour. The prediction is
`FrameResult.lane_mask` resized the same way (or, without a mask, its polylines drawn at the same
width). Counts are summed over all pixels of the split.
"""

from __future__ import annotations

import cv2
import numpy as np

from perception.evaluation.merge import merge_fields

DEFAULT_EVAL_WIDTH = 640
# the width of the training labels: 8 px at a 640-px-wide input (perception.data.targets.default_lane_thickness)
DEFAULT_LINE_WIDTH = 8


def eval_size(height: int, width: int, eval_width: int = DEFAULT_EVAL_WIDTH) -> tuple[int, int]:
    """(H, W) of the evaluation canvas for an image of height x width pixels."""
    return max(1, int(round(height * eval_width / width))), int(eval_width)


def rasterize_lanes(
    lanes: list[np.ndarray], image_size: tuple[int, int], canvas_size: tuple[int, int], width: int
) -> np.ndarray:
    """Draw polylines given in image pixels (x, y) onto a uint8 {0,1} canvas of canvas_size (H, W).

    Points are sorted by y before drawing so the line follows the lane whatever the input order.
    """
    canvas = np.zeros(canvas_size, np.uint8)
    sy = canvas_size[0] / image_size[0]
    sx = canvas_size[1] / image_size[1]
    for lane in lanes:
        pts = np.asarray(lane, np.float64).reshape(-1, 2)
        if len(pts) == 0:
            continue
        pts = pts[np.argsort(pts[:, 1], kind="mergesort")] * [sx, sy]
        # 4 fractional bits keep sub-pixel positions when drawing on a small canvas
        cv2.polylines(canvas, [np.round(pts * 16).astype(np.int32)], False, 1, int(width), cv2.LINE_8, 4)
    return canvas


def resize_mask(mask: np.ndarray, canvas_size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a label map to canvas_size (H, W)."""
    mask = np.asarray(mask, np.uint8)
    if mask.shape[:2] == tuple(canvas_size):
        return mask
    return cv2.resize(mask, (canvas_size[1], canvas_size[0]), interpolation=cv2.INTER_NEAREST)


class LanePixelAccumulator:
    """TP/FP/FN of the lane class summed over the split; YOLOP's accuracy is TP/(TP+FN)."""

    def __init__(self, eval_width: int = DEFAULT_EVAL_WIDTH, line_width: int = DEFAULT_LINE_WIDTH):
        self.eval_width = int(eval_width)
        self.line_width = int(line_width)
        self.tp = self.fp = self.fn = 0
        self.num_images = 0

    def merge(self, other: "LanePixelAccumulator") -> None:
        """Add another accumulator's images (a DDP rank's shard) to these, as if this one had seen them."""
        merge_fields(self, other, ("tp", "fp", "fn", "num_images"))

    def masks(
        self,
        image_size: tuple[int, int],
        pred_mask: np.ndarray | None,
        pred_lanes: list[np.ndarray],
        gt_mask: np.ndarray | None,
        gt_lanes: list[np.ndarray],
    ) -> tuple[np.ndarray, np.ndarray]:
        """Binary (pred, gt) masks at the evaluation resolution for one image of image_size (H, W)."""
        size = eval_size(*image_size, self.eval_width)
        if gt_mask is not None:
            gt = resize_mask(gt_mask > 0, size)
        else:
            gt = rasterize_lanes(gt_lanes, image_size, size, self.line_width)
        if pred_mask is not None:
            pred = resize_mask(pred_mask > 0, size)
        else:
            pred = rasterize_lanes(pred_lanes, image_size, size, self.line_width)
        return pred.astype(bool), gt.astype(bool)

    def update(self, pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
        """Add one image's binary masks (same shape). Returns this image's accuracy and IoU."""
        tp = int(np.count_nonzero(pred & gt))
        fp = int(np.count_nonzero(pred & ~gt))
        fn = int(np.count_nonzero(~pred & gt))
        self.tp += tp
        self.fp += fp
        self.fn += fn
        self.num_images += 1
        return {"accuracy": tp / max(tp + fn, 1), "iou": tp / max(tp + fp + fn, 1)}

    def summary(self) -> dict:
        return {
            "accuracy": self.tp / max(self.tp + self.fn, 1),
            "iou": self.tp / max(self.tp + self.fp + self.fn, 1),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "eval_width": self.eval_width,
            "line_width": self.line_width,
            "num_images": self.num_images,
        }
