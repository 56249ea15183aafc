"""Raw outputs of a batch -> one FrameResult per image, in original-image pixels."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from perception.config import ModelConfig
from perception.postprocess.boxes import anchor_points, batched_nms, decode_distances
from perception.postprocess.lanes import channel_argmax, decode_lanes, lane_polylines
from perception.postprocess.markings import crossing_mask, decode_crossings, decode_lane_marking
from perception.preprocess import LetterboxInfo
from perception.structures import Crossing, Detections, FrameResult, Lane

# Candidates kept before NMS: bounds NMS cost when the confidence threshold is low (0.001 for mAP).
PRE_NMS_TOPK = 1000


@lru_cache(maxsize=16)
def _cached_points(imgsz: tuple[int, int], strides: tuple[int, ...]):
    return anchor_points(imgsz, strides)


def decode_detections(
    reg: np.ndarray,
    cls_logits: np.ndarray,
    imgsz: tuple[int, int],
    strides: tuple[int, ...],
    class_ids: tuple[int, ...],
    conf_threshold: float,
    iou_threshold: float,
    max_detections: int,
) -> Detections:
    """One image: reg (A, 4), cls_logits (A, C) -> Detections in input pixels, best class per point."""
    points, point_strides = _cached_points(tuple(imgsz), tuple(strides))
    best = cls_logits.argmax(1)
    logit = cls_logits[np.arange(len(best)), best]
    # Threshold on logits: sigmoid is monotone, so only survivors pay for it.
    keep = np.flatnonzero(logit > np.log(conf_threshold / max(1.0 - conf_threshold, 1e-12)))
    if keep.size > PRE_NMS_TOPK:
        keep = keep[np.argpartition(-logit[keep], PRE_NMS_TOPK)[:PRE_NMS_TOPK]]
    scores = 1.0 / (1.0 + np.exp(-logit[keep].astype(np.float32)))
    boxes = decode_distances(points[keep], point_strides[keep], reg[keep])
    local = best[keep]
    kept = batched_nms(boxes, scores, local, iou_threshold)[:max_detections]
    global_ids = np.asarray(class_ids, np.int64)[local[kept]]
    return Detections(boxes=boxes[kept], scores=scores[kept], classes=global_ids)


def _to_original(dets: Detections, info: LetterboxInfo) -> Detections:
    h, w = info.orig_size
    boxes = info.to_original(dets.boxes)
    boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, w)
    boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, h)
    return Detections(boxes=boxes, scores=dets.scores, classes=dets.classes)


# Public name for runtimes that decode boxes elsewhere (the in-graph NMS) but map them back alike.
detections_to_original = _to_original


def decode_outputs(
    outputs: dict[str, np.ndarray],
    config: ModelConfig,
    infos: list[LetterboxInfo],
    conf_threshold: float | None = None,
    iou_threshold: float | None = None,
    max_detections: int | None = None,
    masks: bool = True,
    lane_masks: bool | None = None,
) -> list[FrameResult]:
    """Decode a batch of raw outputs (numpy, names as in docs/architecture.md).

    Instead of "lane" and "drivable", outputs may hold what a device reduced them to (TorchPredictor with
    host_outputs="decode"): "lane_rows" + "lane_mask" (see `_decode_lanes`) and "drivable_class" (B, H, W)
    uint8, the drivable argmax; the results are the same.

    Thresholds default to the model config's. `masks=False` skips the drivable and lane masks (the video
    tool at high rates only needs polylines and boxes); `lane_masks` (default: as `masks`) decides the binary
    lane mask alone: evaluation scores it, the video tool draws and writes polylines only.
    """
    lane_masks = masks if lane_masks is None else lane_masks
    conf = config.conf_threshold if conf_threshold is None else conf_threshold
    iou = config.iou_threshold if iou_threshold is None else iou_threshold
    max_det = config.max_detections if max_detections is None else max_detections
    results = []
    for b, info in enumerate(infos):
        imgsz = info.input_size
        result = FrameResult()
        for spec in config.detection_heads:
            if spec.reg in outputs:  # an NMS graph's runtime decodes its boxes itself
                dets = decode_detections(outputs[spec.reg][b], outputs[spec.cls][b], imgsz, spec.strides, spec.classes,
                                         conf, iou, max_det)
                setattr(result, spec.task, _to_original(dets, info))
        if "lane" in outputs or "lane_rows" in outputs:
            lanes, lane_mask = _decode_lanes(outputs, b, config, lane_masks)
            result.lanes = [_lane_to_original(points, score, slot, info) for points, score, slot in lanes]
            if "lane_attr" in outputs:
                for lane, (points, _, _) in zip(result.lanes, lanes):
                    for name, (value, prob) in decode_lane_marking(points, outputs["lane_attr"][b]).items():
                        setattr(lane, name, value)
                        setattr(lane, f"{name}_score", prob)
            if lane_mask is not None:
                if "crossing" in outputs:
                    # the pixel protocol's lane class is every marking (YOLOP's masks hold crossings too)
                    lane_mask = lane_mask | crossing_mask(outputs["crossing"][b], lane_mask.shape)
                result.lane_mask = info.crop_mask(lane_mask)
        if "crossing" in outputs:
            result.crossings = [_crossing_to_original(polygon, name, score, info)
                                for polygon, name, score in decode_crossings(outputs["crossing"][b], config.lane_threshold)]
        if "drivable" in outputs and masks:
            result.drivable = info.crop_mask(channel_argmax(outputs["drivable"][b]))
        elif "drivable_class" in outputs and masks:
            result.drivable = info.crop_mask(outputs["drivable_class"][b])
        results.append(result)
    return results


def _decode_lanes(outputs: dict[str, np.ndarray], b: int, config: ModelConfig, with_mask: bool):
    """Image b's lanes from the raw "lane" logits, or from what a device already reduced them to:
    "lane_rows" (every ROW_STEP-th row's logits) and "lane_mask" (uint8 foreground), as `decode_lanes` would."""
    if "lane_rows" in outputs:
        lanes = lane_polylines(outputs["lane_rows"][b], config.lane_threshold, config.lane_min_rows)
        return lanes, outputs["lane_mask"][b] if with_mask else None
    return decode_lanes(outputs["lane"][b], config.lane_threshold, config.lane_min_rows, with_mask)


def _crossing_to_original(polygon: np.ndarray, name: str, score: float, info: LetterboxInfo) -> Crossing:
    h, w = info.orig_size
    pts = info.to_original(polygon)
    pts[:, 0] = np.clip(pts[:, 0], 0, w - 1)
    pts[:, 1] = np.clip(pts[:, 1], 0, h - 1)
    return Crossing(polygon=pts, category=name, score=score)


def _lane_to_original(points: np.ndarray, score: float, slot: int, info: LetterboxInfo) -> Lane:
    h, w = info.orig_size
    pts = info.to_original(points)
    inside = (pts[:, 1] >= 0) & (pts[:, 1] <= h - 1)
    pts = pts[inside]
    pts[:, 0] = np.clip(pts[:, 0], 0, w - 1)
    return Lane(points=pts, score=score, slot=slot)
