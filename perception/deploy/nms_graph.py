"""Decoding and non-maximum suppression inside the ONNX graph.

`NMSExportWrapper(model)` returns `detections` (N, 7) float32 rows `[batch, x1, y1, x2, y2, score, class]`
(input pixels, global class index, sorted by score, highest first) instead of the four raw detection outputs;
`lane` and `drivable` stay raw. It mirrors `perception.postprocess.decode.decode_detections` step for step:
best class per point, the top PRE_NMS_TOPK points, `score > conf_threshold`, class-aware NMS with
`IoU > iou_threshold` suppressing, at most `max_detections` per class and image (the runtime keeps the best
`max_detections` per head and image). The thresholds are graph constants (TensorRT's ONNX parser wants
NonMaxSuppression's thresholds as initializers) and are written to the model's metadata.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from perception.errors import InputError
from perception.models.network import MultiTaskNet
from perception.postprocess.boxes import anchor_points, decode_distances, nms
from perception.postprocess.decode import PRE_NMS_TOPK

DETECTION_COLUMNS = ("batch", "x1", "y1", "x2", "y2", "score", "class")


class OnnxNonMaxSuppression(torch.autograd.Function):
    """ONNX NonMaxSuppression (opset >= 10) with a real eager implementation, as YOLOv8/mmdeploy do.

    boxes (B, K, 4) corners, scores (B, C, K) -> selected (N, 3) int64 [batch, class, box index], per
    (batch, class) highest score first. Eager mode runs the package's numpy NMS (perception.postprocess.boxes) so the wrapper also works in PyTorch
    and the traced shapes are real; export emits the ONNX operator.
    """

    @staticmethod
    def forward(ctx, boxes, scores, max_output, iou_threshold, score_threshold):  # noqa: D102
        boxes_np = boxes.detach().cpu().numpy()
        scores_np = scores.detach().cpu().numpy()
        selected = []
        for b in range(scores_np.shape[0]):
            for c in range(scores_np.shape[1]):
                candidates = np.flatnonzero(scores_np[b, c] > float(score_threshold))
                kept = candidates[nms(boxes_np[b, candidates], scores_np[b, c, candidates], float(iou_threshold))]
                kept = kept[: int(max_output)]
                selected.append(np.stack([np.full_like(kept, b), np.full_like(kept, c), kept], 1))
        out = np.concatenate(selected) if selected else np.zeros((0, 3), np.int64)
        return torch.from_numpy(out.astype(np.int64)).to(boxes.device)

    @staticmethod
    def symbolic(g, boxes, scores, max_output, iou_threshold, score_threshold):  # noqa: D102
        return g.op("NonMaxSuppression", boxes, scores, max_output, iou_threshold, score_threshold, center_point_box_i=0)


# Outputs passed through unchanged beside the in-graph detections.
DENSE_OUTPUTS = ("lane", "lane_attr", "crossing", "drivable")


class NMSExportWrapper(nn.Module):
    """forward(images (B, 3, H, W)) -> {"detections": (N, 7), "lane", "lane_attr", "crossing", "drivable": raw}
    (heads present only).

    The anchor points are constants for the model's fixed input size, so an NMS graph has a static H x W.
    """

    def __init__(self, model: MultiTaskNet, conf_threshold: float, iou_threshold: float, max_detections: int):
        super().__init__()
        self.model = model
        config = model.config
        self.heads = []
        for spec in config.detection_heads:
            points, point_strides = anchor_points(tuple(config.imgsz), spec.strides)
            self.register_buffer(f"{spec.reg}_points", torch.from_numpy(points), persistent=False)
            self.register_buffer(f"{spec.reg}_strides", torch.from_numpy(point_strides), persistent=False)
            self.register_buffer(f"{spec.reg}_classes", torch.tensor(spec.classes, dtype=torch.float32), persistent=False)
            self.heads.append((spec.reg, spec.cls))
        if not self.heads:
            raise InputError("--nms: the model has no detection head to run NMS on")
        self.register_buffer("max_output", torch.tensor([int(max_detections)], dtype=torch.int64), persistent=False)
        self.register_buffer("iou_threshold", torch.tensor([float(iou_threshold)]), persistent=False)
        self.register_buffer("score_threshold", torch.tensor([float(conf_threshold)]), persistent=False)
        self.thresholds = {
            "conf_threshold": float(conf_threshold),
            "iou_threshold": float(iou_threshold),
            "max_detections": int(max_detections),
        }

    @property
    def output_names(self) -> list[str]:
        return ["detections"] + [n for n in self.model.output_names if n in DENSE_OUTPUTS]

    def _head_detections(self, reg_key: str, reg: torch.Tensor, cls_logits: torch.Tensor) -> torch.Tensor:
        points = getattr(self, f"{reg_key}_points")
        strides = getattr(self, f"{reg_key}_strides")
        classes = getattr(self, f"{reg_key}_classes")
        boxes = decode_distances(points, strides, reg)  # (B, A, 4) input pixels
        best_score, best_class = cls_logits.sigmoid().max(-1)  # (B, A)
        k = min(PRE_NMS_TOPK, best_score.shape[1])
        top_score, top_index = best_score.topk(k, dim=1)  # (B, k)
        top_boxes = boxes.gather(1, top_index.unsqueeze(-1).expand(-1, -1, 4))
        top_class = best_class.gather(1, top_index)
        # Only a point's best class gets its score, so NMS per class = class-aware NMS on the best class.
        class_range = torch.arange(classes.shape[0], device=reg.device).view(1, -1, 1)
        class_scores = (top_class.unsqueeze(1) == class_range).to(top_score.dtype) * top_score.unsqueeze(1)
        selected = OnnxNonMaxSuppression.apply(
            top_boxes, class_scores, self.max_output, self.iou_threshold, self.score_threshold
        )
        batch_index, class_index, box_index = selected[:, 0], selected[:, 1], selected[:, 2]
        flat = batch_index * k + box_index
        return torch.cat(
            [
                batch_index.to(top_score.dtype).unsqueeze(1),
                top_boxes.reshape(-1, 4).index_select(0, flat),
                top_score.reshape(-1).index_select(0, flat).unsqueeze(1),
                classes.index_select(0, class_index).unsqueeze(1),
            ],
            1,
        )

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        raw = self.model(images)
        detections = torch.cat([self._head_detections(reg, raw[reg], raw[cls]) for reg, cls in self.heads])
        order = torch.argsort(detections[:, 5], descending=True)
        out = {"detections": detections.index_select(0, order)}
        for name in DENSE_OUTPUTS:
            if name in raw:
                out[name] = raw[name]
        return out
