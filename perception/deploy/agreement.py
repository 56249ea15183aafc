"""Is a quantized copy the same model to its user? Its decoded outputs against the FP32 file's, on real frames.

A raw logit difference (INT8 often differs by whole units on some logit) says nothing about what a user sees;
the decoded results do. Both files run through the one runtime predictor at the deployment thresholds, and:
- boxes: F1 of the copy's detections against FP32's (same class, IoU >= 0.5, greedy by score), both heads;
- lanes: IoU of the predicted lane pixels; drivable: share of pixels given the same class.
The copy is acceptable when every figure reaches its threshold (AGREEMENT_THRESHOLDS: this project's
acceptance criterion, export/README.md, not a published one).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perception.postprocess.boxes import box_iou
from perception.structures import Detections, FrameResult

AGREEMENT_THRESHOLDS = {"box_f1": 0.90, "lane_iou": 0.80, "drivable_agreement": 0.95}
MATCH_IOU = 0.5


def box_f1(reference: Detections, candidate: Detections) -> tuple[int, int, int]:
    """(matched, reference boxes, candidate boxes): candidate boxes by descending score matched greedily to an
    unmatched reference box of the same class with IoU >= MATCH_IOU."""
    matched = 0
    for cls in np.union1d(reference.classes, candidate.classes):
        ref = reference.boxes[reference.classes == cls]
        keep = candidate.classes == cls
        cand = candidate.boxes[keep][np.argsort(-candidate.scores[keep], kind="mergesort")]
        if not len(ref) or not len(cand):
            continue
        iou = box_iou(cand, ref)
        free = np.ones(len(ref), bool)
        for row in iou:
            j = int(np.argmax(np.where(free, row, -1.0)))
            if free[j] and row[j] >= MATCH_IOU:
                free[j] = False
                matched += 1
    return matched, len(reference.boxes), len(candidate.boxes)


def decoded_agreement(reference: list[FrameResult], candidate: list[FrameResult]) -> dict[str, float]:
    """Box F1, lane-pixel IoU and drivable pixel agreement of `candidate` against `reference`, frame by frame
    pooled over the frames (an empty pair agrees fully)."""
    matched = n_ref = n_cand = 0
    lane_inter = lane_union = same = pixels = 0
    for ref, cand in zip(reference, candidate):
        for head in ("objects", "pedestrians"):
            m, r, c = box_f1(getattr(ref, head), getattr(cand, head))
            matched, n_ref, n_cand = matched + m, n_ref + r, n_cand + c
        if ref.lane_mask is not None and cand.lane_mask is not None:
            a, b = ref.lane_mask > 0, cand.lane_mask > 0
            lane_inter += int(np.count_nonzero(a & b))
            lane_union += int(np.count_nonzero(a | b))
        if ref.drivable is not None and cand.drivable is not None:
            same += int(np.count_nonzero(ref.drivable == cand.drivable))
            pixels += ref.drivable.size
    return {"box_f1": 2 * matched / (n_ref + n_cand) if n_ref + n_cand else 1.0,
            "boxes_reference": n_ref, "boxes_candidate": n_cand,
            "lane_iou": lane_inter / lane_union if lane_union else 1.0,
            "drivable_agreement": same / pixels if pixels else 1.0}


def verdict_frames(calib_dir: str | Path, calibration_count: int, count: int = 16) -> tuple[list[np.ndarray], str]:
    """Frames to judge on: images of `calib_dir` after the ones calibration used (held out), else the
    calibration frames themselves; and a phrase saying which."""
    from perception.imageio import read_images

    images, _ = read_images(calib_dir, calibration_count + count)
    held_out = images[calibration_count:]
    if held_out:
        return held_out, f"{len(held_out)} held-out frame(s) of {calib_dir} (not used to calibrate)"
    return images[:count], f"{min(len(images), count)} calibration frame(s) of {calib_dir} (none held out)"


def judge_copy(fp32_path: str | Path, copy_path: str | Path, images: list[np.ndarray], where: str,
               threads: int = 2) -> dict:
    """Run both ONNX files on `images` (CPU) and say whether the copy is acceptable by AGREEMENT_THRESHOLDS."""
    from perception.runtime.onnx_predictor import OnnxPredictor

    results = []
    for path in (fp32_path, copy_path):
        predictor = OnnxPredictor(path, providers="cpu", threads=threads)
        results.append([r for i in range(len(images)) for r in predictor.predict(images[i : i + 1])])
    agreement = decoded_agreement(*results)
    failing = [k for k, low in AGREEMENT_THRESHOLDS.items() if agreement[k] < low]
    return agreement | {"frames": where, "thresholds": dict(AGREEMENT_THRESHOLDS), "failing": failing,
                        "acceptable": not failing}


def verdict_line(judgement: dict) -> str:
    """One line: ACCEPTABLE / NOT ACCEPTABLE, each figure against its threshold, on which frames."""
    figures = ", ".join(f"{k} {judgement[k]:.3f} (>= {low:.2f})" for k, low in judgement["thresholds"].items())
    word = "ACCEPTABLE" if judgement["acceptable"] else f"NOT ACCEPTABLE ({', '.join(judgement['failing'])} too low)"
    return f"{word}: decoded outputs against FP32 on {judgement['frames']}: {figures}"
