"""Augmentation: boxes, lane polylines and masks move together with the image.

Order: (same-place copy-paste of another image's objects, done by the dataset: data/copy_paste.py), letterbox to `imgsz` (exactly `perception.preprocess.letterbox`: centred, pad 114), then random
scale/translate (albumentations Affine; scale > 1 crops), horizontal flip, photometric changes (HSV,
brightness/contrast, blur, noise, rare rain/fog/shadow/sun flare). Evaluation uses the letterbox only.

The flip is done here rather than by albumentations because a flip must also reverse the lane list and
swap side-specific attributes ('left' <-> 'right'); lane slots are assigned afterwards from geometry
(targets.py), so they follow the flip automatically.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import cv2
import numpy as np

from perception.classes import IGNORE_INDEX
from perception.config import ConfigBase
from perception.preprocess import PAD_VALUE, LetterboxInfo, letterbox
from perception.structures import Sample

MASK_FILL = IGNORE_INDEX  # albumentations fills all masks alike; lane masks map it back to 0 (no lane)
MIN_BOX_AREA = 4.0  # px^2 at input resolution; smaller remnants of cropped boxes are dropped
MIN_BOX_VISIBILITY = 0.2  # fraction of a box that must stay inside the image after a crop


@dataclass
class AugmentConfig(ConfigBase):
    """Probabilities and ranges of the training augmentation."""

    SECTION: ClassVar[str] = "augment"

    scale: tuple[float, float] = (0.6, 1.4)
    translate: float = 0.1  # fraction of the input size
    affine_p: float = 0.7
    flip_p: float = 0.5
    hsv_p: float = 0.5
    brightness_contrast_p: float = 0.5
    blur_p: float = 0.1
    noise_p: float = 0.1
    weather_p: float = 0.05  # rain / fog / shadow / sun flare (one of them)
    copy_paste_p: float = 0.0  # objects of another image of the source pasted in place (data/copy_paste.py)


@dataclass
class Augmented:
    """A sample at network-input resolution. Coordinates are input pixels; masks are (H, W) uint8.

    `drivable` uses 255 where the pixel has no label (padding, outside the original image).
    """

    image: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray
    track_ids: np.ndarray
    visibility: np.ndarray
    ignore_boxes: np.ndarray
    lanes: list[np.ndarray]
    lane_attrs: list[dict[str, Any]]
    lane_mask: np.ndarray | None
    drivable: np.ndarray | None
    labelled: dict[str, bool]
    info: LetterboxInfo
    path: str = ""
    source: str = ""
    flipped: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    lane_bits: np.ndarray | None = None  # BDD100K lane byte mask, 255 (background) where padded


def _resize_mask(mask: np.ndarray | None, info: LetterboxInfo, fill: int) -> np.ndarray | None:
    if mask is None:
        return None
    h, w = info.input_size
    new_w = int(round(info.orig_size[1] * info.scale))
    new_h = int(round(info.orig_size[0] * info.scale))
    resized = cv2.resize(mask, (new_w, new_h), interpolation=cv2.INTER_NEAREST)
    canvas = np.full((h, w), fill, np.uint8)
    top, left = int(info.pad_y), int(info.pad_x)
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas


def letterbox_sample(sample: Sample, imgsz: tuple[int, int]) -> Augmented:
    """Letterbox a Sample to imgsz (H, W): image padded 114, drivable padded 255, lane mask padded 0."""
    image, info = letterbox(sample.image, imgsz)
    return Augmented(
        image=image,
        boxes=info.to_input(sample.boxes).reshape(-1, 4),
        classes=sample.classes.copy(),
        track_ids=sample.track_ids.copy(),
        visibility=sample.visibility.copy(),
        ignore_boxes=info.to_input(sample.ignore_boxes).reshape(-1, 4),
        lanes=[info.to_input(lane).reshape(-1, 2) for lane in sample.lanes],
        lane_attrs=[dict(a) for a in sample.lane_attrs],
        lane_mask=_resize_mask(sample.lane_mask, info, 0),
        drivable=_resize_mask(sample.drivable, info, MASK_FILL),
        lane_bits=_resize_mask(sample.lane_bits, info, MASK_FILL),
        labelled=dict(sample.labelled),
        info=info,
        path=sample.path,
        source=sample.source,
    )


def hflip(item: Augmented) -> Augmented:
    """Mirror left-right: boxes, lanes (list reversed, 'left'/'right' attributes swapped) and masks."""
    w = item.image.shape[1]
    boxes = item.boxes.copy()
    boxes[:, [0, 2]] = w - item.boxes[:, [2, 0]]
    ignores = item.ignore_boxes.copy()
    ignores[:, [0, 2]] = w - item.ignore_boxes[:, [2, 0]]
    lanes = []
    for lane in item.lanes[::-1]:
        flipped = lane.copy()
        flipped[:, 0] = w - lane[:, 0]
        lanes.append(flipped)
    swap = {"left": "right", "right": "left"}
    attrs = [{k: swap.get(v, v) if isinstance(v, str) else v for k, v in a.items()} for a in item.lane_attrs[::-1]]
    flip = lambda m: None if m is None else np.ascontiguousarray(m[:, ::-1])  # noqa: E731
    return replace(item, image=flip(item.image), boxes=boxes, ignore_boxes=ignores, lanes=lanes, lane_attrs=attrs,
                   lane_mask=flip(item.lane_mask), drivable=flip(item.drivable), flipped=not item.flipped,
                   lane_bits=flip(item.lane_bits))


class EvalTransform:
    """Letterbox only (what the runtime does at inference)."""

    def __init__(self, imgsz: tuple[int, int]):
        self.imgsz = tuple(imgsz)

    def __call__(self, sample: Sample) -> Augmented:
        return letterbox_sample(sample, self.imgsz)


class TrainTransform:
    """Letterbox + random geometry + flip + photometric augmentation (see module docstring)."""

    def __init__(self, imgsz: tuple[int, int], config: AugmentConfig | None = None):
        import albumentations as A

        self.imgsz = tuple(imgsz)
        self.config = cfg = config or AugmentConfig()
        self.geometric = A.Compose(
            [A.Affine(scale=cfg.scale, translate_percent=(-cfg.translate, cfg.translate), border_mode=cv2.BORDER_CONSTANT,
                      fill=PAD_VALUE, fill_mask=MASK_FILL, p=cfg.affine_p)],
            bbox_params=A.BboxParams(format="pascal_voc", label_fields=["box_ids"], min_area=MIN_BOX_AREA,
                                     min_visibility=MIN_BOX_VISIBILITY, clip=True),
            keypoint_params=A.KeypointParams(format="xy", label_fields=["lane_ids"], remove_invisible=False),
        )
        weather = A.OneOf([
            A.RandomRain(p=1.0), A.RandomFog(fog_coef_range=(0.1, 0.3), p=1.0),
            A.RandomShadow(p=1.0), A.RandomSunFlare(src_radius=max(8, self.imgsz[1] // 6), p=1.0),
        ], p=cfg.weather_p)
        self.photometric = A.Compose([
            A.HueSaturationValue(hue_shift_limit=8, sat_shift_limit=40, val_shift_limit=30, p=cfg.hsv_p),
            A.RandomBrightnessContrast(brightness_limit=0.25, contrast_limit=0.25, p=cfg.brightness_contrast_p),
            A.OneOf([A.Blur(blur_limit=(3, 5)), A.MotionBlur(blur_limit=(3, 7))], p=cfg.blur_p),
            A.GaussNoise(std_range=(0.02, 0.06), p=cfg.noise_p),
            weather,
        ])

    def __call__(self, sample: Sample, rng: random.Random | None = None) -> Augmented:
        """rng: the draw's own generator (the trainer seeds it from seed, epoch and position, so a resumed
        run augments exactly alike whatever the workers); default Python's `random`, seeded per worker."""
        rng = rng or random  # the module-level functions: the same interface as a Random
        self.geometric.set_random_seed(rng.getrandbits(32))
        self.photometric.set_random_seed(rng.getrandbits(32))
        item = self._geometry(letterbox_sample(sample, self.imgsz))
        if rng.random() < self.config.flip_p:
            item = hflip(item)
        item.image = self.photometric(image=item.image)["image"]
        return item

    def _geometry(self, item: Augmented) -> Augmented:
        h, w = self.imgsz
        n = len(item.boxes)
        all_boxes = np.concatenate([item.boxes, item.ignore_boxes]).reshape(-1, 4)
        # clip first: letterboxed boxes sit inside the image, but float error must not trip validation
        all_boxes = np.clip(all_boxes, 0, [w, h, w, h])
        keep = (all_boxes[:, 2] > all_boxes[:, 0]) & (all_boxes[:, 3] > all_boxes[:, 1])
        box_ids = np.flatnonzero(keep)
        points = np.concatenate(item.lanes) if item.lanes else np.zeros((0, 2), np.float32)
        lane_ids = np.concatenate([np.full(len(l), k) for k, l in enumerate(item.lanes)]) if item.lanes else np.zeros(0, int)
        lane_mask = item.lane_mask if item.lane_mask is not None else np.zeros((h, w), np.uint8)
        drivable = item.drivable if item.drivable is not None else np.full((h, w), MASK_FILL, np.uint8)
        masks = [lane_mask, drivable] + ([item.lane_bits] if item.lane_bits is not None else [])
        out = self.geometric(image=item.image, masks=masks, bboxes=all_boxes[keep],
                             box_ids=box_ids, keypoints=points, lane_ids=lane_ids)
        boxes = np.asarray(out["bboxes"], np.float32).reshape(-1, 4)
        ids = np.asarray(out["box_ids"], np.int64)
        is_obj = ids < n
        obj_ids = ids[is_obj]
        kps = np.asarray(out["keypoints"], np.float32).reshape(-1, np.asarray(out["keypoints"]).shape[-1] if len(points) else 2)[:, :2]
        out_lane_ids = np.asarray(out["lane_ids"])
        lanes = [kps[out_lane_ids == k] for k in range(len(item.lanes))]
        new_lane_mask, new_drivable = out["masks"][:2]
        # the fill value 255 is the lane byte mask's background: no remapping needed
        new_bits = np.asarray(out["masks"][2], np.uint8) if item.lane_bits is not None else None
        new_lane_mask = np.where(new_lane_mask == MASK_FILL, 0, new_lane_mask).astype(np.uint8)
        return replace(
            item, image=out["image"], boxes=boxes[is_obj], classes=item.classes[obj_ids], track_ids=item.track_ids[obj_ids],
            visibility=item.visibility[obj_ids], ignore_boxes=boxes[~is_obj], lanes=lanes,
            lane_mask=new_lane_mask if item.lane_mask is not None else None,
            drivable=np.asarray(new_drivable, np.uint8) if item.drivable is not None else None, lane_bits=new_bits,
        )
