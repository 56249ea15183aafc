"""`Evaluator`: feeds each (prediction, ground truth) pair to the metric accumulators of the tasks it has.

A task is scored on an image only when `gt.labelled[task]` is True: a missing label is never a negative.
All coordinates are original-image pixels (FrameResult and Sample share them).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import ClassVar

import numpy as np

from perception.classes import BDD100K_CLASSES, PEDESTRIAN_CLASSES
from perception.config import ConfigBase, ConfigError, check_at_least, option
from perception.evaluation.confusion import DetectionConfusion
from perception.evaluation.detection import DetectionAccumulator
from perception.evaluation.drivable import DrivableAccumulator
from perception.evaluation.lane_instances import CULaneAccumulator, TuSimpleAccumulator
from perception.evaluation.lane_markings import LaneMarkingAccumulator
from perception.evaluation.lanes import DEFAULT_EVAL_WIDTH, DEFAULT_LINE_WIDTH, LanePixelAccumulator
from perception.evaluation.merge import merge_fields
from perception.evaluation.pedestrian import PedestrianAccumulator
from perception.evaluation.vehicle import VEHICLE_ID, merge_vehicles, vehicle_ground_truth
from perception.markings import is_crossing
from perception.structures import TASKS, Detections, FrameResult, Sample
from perception.thresholds import DISPLAY_CONF, EVAL_CONF, EVAL_MAX_DETECTIONS, NMS_IOU


@dataclass
class EvalConfig(ConfigBase):
    """One evaluation: what is scored and how (every choice that changes a number), and where the model, data
    and report are. Written into report.json. Fields with help text are `perception eval`'s flags
    (cli/common.add_config_flags); the training validator uses the scoring fields only."""

    SECTION: ClassVar[str] = "eval"

    model: str | None = option(None, "model file: W.pt (PyTorch) or W.onnx (ONNX Runtime)", metavar="FILE")
    data: str | None = option(None, "dataset YAML (datasets/X.yaml) or a BDD100K-layout directory")
    split: str = option("val", "split to evaluate")
    out: str | None = option(None, "output directory for the report")
    imgsz: tuple[int, int] | None = option(None, "input size (default: the model's)")
    batch: int = option(8, "images per predictor call")
    tasks: tuple[str, ...] = option(TASKS, f"tasks to score: {' '.join(TASKS)}", metavar="TASK")
    class_names: dict[int, str] = field(default_factory=lambda: dict(enumerate(BDD100K_CLASSES)))
    # The evaluation side of perception.thresholds (why it differs from predicting is written there).
    conf: float = option(EVAL_CONF, "score threshold before NMS (as COCO; see perception/thresholds.py)")
    nms_iou: float = option(NMS_IOU, "NMS IoU threshold, also the re-suppression of merged vehicle boxes", flag="--iou")
    max_detections: int = option(EVAL_MAX_DETECTIONS, "detections kept per image and class for AP", flag="--max-det")
    vehicle_protocol: bool = option(False, "also report the YOLOP/HybridNets 'vehicle' class (car+truck+bus+train): "
                                    "mAP50 and recall")
    limit: int | None = option(None, "evaluate only the first N images")
    device: str | None = option(None, "cpu or cuda: torch device of a .pt model (default cpu), ONNX Runtime provider "
                                "of an .onnx one (default: the best that starts)")
    trt_cache: str | None = option(None, "TensorRT engine and timing cache folder: the first start builds the engine "
                                   "(minutes), later ones read it (seconds)", metavar="DIR")
    trt_fp16: bool = option(False, "TensorRT: build fp16 engines")
    worst_k: int = option(12, "images in the worst-images grid (0 = none)", flag="--worst")
    strict: bool = option(False, "stop at the first bad label instead of counting skips")
    person_class: int = PEDESTRIAN_CLASSES[0]
    person_ignore_classes: tuple[int, ...] = PEDESTRIAN_CLASSES[1:]
    lane_eval_width: int = DEFAULT_EVAL_WIDTH
    lane_line_width: int = DEFAULT_LINE_WIDTH
    display_conf: float = DISPLAY_CONF  # confusion matrix, per-image F1 and drawings only, never AP

    def validate(self) -> None:
        unknown = set(self.tasks) - set(TASKS)
        if unknown or not self.tasks:
            raise ConfigError(f"{self.SECTION}.tasks: unknown evaluation task(s) {sorted(unknown)}; choose from {list(TASKS)}")
        self.class_names = {int(k): str(v) for k, v in self.class_names.items()}
        check_at_least(self, 1, "batch", "limit", "max_detections")
        check_at_least(self, 0, "worst_k")


def _is_crossing(attrs: dict) -> bool:
    return is_crossing(attrs) is not None


class Evaluator:
    """Accumulate with `update(pred, gt)` image by image, then `summary()` once."""

    def __init__(self, config: EvalConfig | None = None, worst=None, per_source: bool = True, **overrides):
        self.config = config or EvalConfig(**overrides)
        cfg = self.config
        self.detection = DetectionAccumulator(cfg.class_names, cfg.max_detections)
        self.vehicle = DetectionAccumulator({VEHICLE_ID: "vehicle"}, cfg.max_detections) if cfg.vehicle_protocol else None
        self.confusion = DetectionConfusion(sorted(cfg.class_names), conf=cfg.display_conf)
        self.pedestrian = PedestrianAccumulator(cfg.person_class, cfg.person_ignore_classes)
        self.lane_pixels = LanePixelAccumulator(cfg.lane_eval_width, cfg.lane_line_width)
        self.culane = CULaneAccumulator()
        self.tusimple = TuSimpleAccumulator()
        self.markings = LaneMarkingAccumulator()
        self.drivable = DrivableAccumulator()
        self.worst = worst
        # one Evaluator per source of a mixed split (a pooled score hides which source a model fails on)
        self.by_source: dict[str, Evaluator] | None = {} if per_source else None
        self._first_source: str | None = None
        self.images_per_task = {t: 0 for t in TASKS}
        self.num_images = 0

    def merge(self, other: "Evaluator") -> None:
        """Add another Evaluator's images (same config; a DDP rank's shard of the split) to these: merged in
        split order, the summary is the one a single Evaluator over every image gives."""
        if self.config != other.config or self.worst is not None or other.worst is not None:
            raise ValueError("only Evaluators with the same config and no worst-image gallery can be merged")
        for name in ("detection", "confusion", "pedestrian", "lane_pixels", "culane", "tusimple", "markings", "drivable"):
            getattr(self, name).merge(getattr(other, name))
        if self.vehicle is not None:
            self.vehicle.merge(other.vehicle)
        merge_fields(self, other, ("images_per_task", "num_images"))

    def _scored(self, gt: Sample, task: str) -> bool:
        return task in self.config.tasks and gt.labelled.get(task, False)

    def update(self, pred: FrameResult, gt: Sample) -> dict[str, float]:
        """Score one image; returns its per-task scores (F1 / IoU in [0, 1]) and their mean as 'score'."""
        self._update_source(pred, gt)  # first: a copy of the pooled state must not hold this image yet
        self.num_images += 1
        scores: dict[str, float] = {}
        if self._scored(gt, "objects"):
            scores["objects"] = self._update_objects(pred, gt)
        if self._scored(gt, "pedestrians"):
            peds = pred.pedestrians
            self.pedestrian.update(peds.boxes, peds.scores, peds.classes, gt.boxes, gt.classes, gt.visibility, gt.ignore_boxes)
            self.images_per_task["pedestrians"] += 1
        # an image labelled with no lanes (an empty CULane .lines.txt) is scored: its predicted lanes are false
        # positives, and `data check` counts it as labelled too
        if self._scored(gt, "lanes"):
            scores["lanes"] = self._update_lanes(pred, gt)
        if self._scored(gt, "drivable") and gt.drivable is not None and pred.drivable is not None:
            scores["drivable"] = self.drivable.update(pred.drivable, gt.drivable)["miou"]
            self.images_per_task["drivable"] += 1
        if scores:
            scores["score"] = float(np.mean(list(scores.values())))
            if self.worst is not None:
                self.worst.offer(scores["score"], gt, pred)
        return scores

    def _update_source(self, pred: FrameResult, gt: Sample) -> None:
        """Per-source accumulation, paid for only once a second source shows up: until then the pooled state is
        the first source's, and a copy of it starts that source's Evaluator."""
        if self.by_source is None:
            return
        if self._first_source is None:
            self._first_source = gt.source
        if gt.source == self._first_source and not self.by_source:
            return
        if not self.by_source:
            worst, by_source, self.worst, self.by_source = self.worst, self.by_source, None, None
            first = copy.deepcopy(self)
            self.worst, self.by_source = worst, by_source
            self.by_source[self._first_source] = first
        if gt.source not in self.by_source:
            self.by_source[gt.source] = Evaluator(self.config, per_source=False)
        self.by_source[gt.source].update(pred, gt)

    def _update_objects(self, pred: FrameResult, gt: Sample) -> float:
        both = Detections.cat([pred.objects, pred.pedestrians])
        boxes, confs, classes = both.boxes, both.scores, both.classes
        per_class = self.detection.update(boxes, confs, classes, gt.boxes, gt.classes, gt.ignore_boxes)
        self.confusion.update(boxes, confs, classes, gt.boxes, gt.classes, gt.ignore_boxes)
        if self.vehicle is not None:
            v_boxes, v_scores = merge_vehicles(boxes, confs, classes, self.config.nms_iou)
            v_gt = vehicle_ground_truth(gt.boxes, gt.classes)
            self.vehicle.update(v_boxes, v_scores, np.full(len(v_boxes), VEHICLE_ID), v_gt, np.full(len(v_gt), VEHICLE_ID), gt.ignore_boxes)
        self.images_per_task["objects"] += 1
        # per-image F1 at IoU 0.5 over the confident detections: only ranks images for the worst grid
        tp = fp = num_gt = 0
        for result in per_class.values():
            confident = (result["scores"] >= self.config.display_conf) & ~result["ignored"]
            tp += int(np.count_nonzero(result["matched"] & confident))
            fp += int(np.count_nonzero(~result["matched"] & confident))
            num_gt += result["num_gt"]
        return 2 * tp / max(2 * tp + fp + (num_gt - tp), 1) if (tp + fp + num_gt) else 1.0

    def _update_lanes(self, pred: FrameResult, gt: Sample) -> float:
        image_size = (gt.height, gt.width)
        pred_lanes = [lane.points for lane in pred.lanes]
        pred_mask, gt_mask = self.lane_pixels.masks(image_size, pred.lane_mask, pred_lanes, gt.lane_mask, gt.lanes)
        score = self.lane_pixels.update(pred_mask, gt_mask)["iou"]
        self.markings.update(pred, gt)
        if gt.lane_mask is None:
            # instance protocols count lanes along the road only; crosswalks and stop lines are no lanes there
            gt_lanes = [lane for lane, attrs in zip(gt.lanes, gt.lane_attrs) if not _is_crossing(attrs) and len(lane)]
            score = self.culane.update(pred_lanes, gt_lanes, image_size)["f1"]
            if "tusimple" in gt.source.lower():
                self.tusimple.update(pred_lanes, gt_lanes)
        self.images_per_task["lanes"] += 1
        return score

    def summary(self) -> dict:
        """All metrics as plain Python values (JSON-ready); tasks never scored are None."""
        out: dict = {"num_images": self.num_images, "images_per_task": dict(self.images_per_task)}
        count = self.images_per_task
        out["objects"] = self.detection.summary() if count["objects"] else None
        if out["objects"] is not None:
            names = [self.config.class_names[c] for c in self.confusion.class_ids] + ["background"]
            out["objects"]["confusion"] = {"names": names, "matrix": self.confusion.matrix.tolist(),
                                           "conf": self.confusion.conf, "iou": self.confusion.iou}
        if self.vehicle is not None and count["objects"]:
            v = self.vehicle.summary()
            out["vehicle"] = {"map50": v["map50"], "recall50": v["recall50"], "map50_95": v["map50_95"],
                              "nms_iou": self.config.nms_iou, "per_class": v["per_class"]}
        out["pedestrians"] = self._pedestrian_summary() if count["pedestrians"] else None
        if count["lanes"]:
            out["lanes"] = {"pixel": self.lane_pixels.summary(),
                            "culane": self.culane.summary() if self.culane.num_images else None,
                            "tusimple": self.tusimple.summary() if self.tusimple.num_images else None,
                            "markings": self.markings.summary()}
        else:
            out["lanes"] = None
        out["drivable"] = self.drivable.summary() if count["drivable"] else None
        if self.by_source is not None and len(self.by_source) > 1:
            out["per_source"] = {name: ev.summary() for name, ev in sorted(self.by_source.items())}
        out["config"] = asdict(self.config)
        return out

    def _pedestrian_summary(self) -> dict:
        summary = self.pedestrian.summary()
        for setup in self.pedestrian.setups:
            if summary.get(setup.name) is None:
                continue
            curve = self.pedestrian.curve(setup.name)
            # a few hundred points are enough to draw the curve; keep report.json small
            idx = np.unique(np.linspace(0, len(curve["fppi"]) - 1, min(len(curve["fppi"]), 300)).astype(int))
            summary[setup.name]["curve"] = {"fppi": curve["fppi"][idx].tolist(), "miss_rate": curve["miss_rate"][idx].tolist()}
        return summary
