"""What every source adapter shares: the `SourceAdapter` interface and label checks.

An adapter indexes one dataset split cheaply (file names and parsed label JSON), and `load(i)` reads the
image and builds a `perception.structures.Sample` at the image's original resolution. Problems go
through an `ErrorPolicy` (strict raises, lenient counts a skip).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable

import cv2
import numpy as np

from perception.classes import BDD100K_CLASSES, class_index
from perception.data.errors import ErrorPolicy, LabelError
from perception.errors import MissingFileError
from perception.imageio import decode_rgb
from perception.structures import TASKS, Sample

IGNORE_REGION = "ignore"  # a class-mapping target (as written in a dataset YAML): the region becomes an ignore box
DROP = None  # a class-mapping target: the label is not used (documented, counted in stats, not an error)
MIN_BOX_SIDE = 1.0  # pixels; thinner boxes are degenerate


class SourceAdapter:
    """Base class of a dataset format adapter.

    Subclasses set `type_name`, `supported_tasks`, `default_class_map` and implement `_index()` (returns
    a list of item records) and `_load(record) -> Sample`.
    """

    type_name = "base"
    supported_tasks: tuple[str, ...] = TASKS
    # Source category name (lower case) -> global class name, IGNORE_REGION, or DROP.
    default_class_map: dict[str, str | None] = {}

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        split_spec: Any = None,
        tasks: Iterable[str] | None = None,
        class_map: dict[str, str | None] | None = None,
        policy: ErrorPolicy | None = None,
        name: str | None = None,
    ):
        self.root = Path(root)
        self.split = split
        self.split_spec = split_spec if split_spec is not None else split
        self.tasks = tuple(t for t in (tasks or self.supported_tasks) if t in self.supported_tasks)
        self.class_map = {k.lower(): v for k, v in {**self.default_class_map, **(class_map or {})}.items()}
        self.policy = policy or ErrorPolicy(strict=True)
        self.name = name or self.type_name
        self.dropped_categories: dict[str, int] = {}
        # task -> the label file(s) looked for, for tasks of this source without any (set by the adapter)
        self.missing_tasks: dict[str, str] = {}
        if not self.root.is_dir():
            raise MissingFileError(f"{self.root}: {self.type_name} root folder not found")
        self.records: list[Any] = self._index()

    def __len__(self) -> int:
        return len(self.records)

    def load(self, i: int) -> Sample:
        """The i-th Sample at original resolution; raises LabelError for an unusable image."""
        sample = self._load(self.records[i])
        sample.source = self.name
        # A task this source is not configured for is never claimed as labelled.
        sample.labelled = {t: bool(sample.labelled.get(t)) and t in self.tasks for t in TASKS}
        return sample

    def keep_labelled(self, records: Iterable[Any], has_labels: Callable[[Any], bool]) -> list[Any]:
        """The records that carry any label; images alone are left out, counted in `unlabelled_images` and in
        the policy's `left_out` (every command prints it)."""
        records = list(records)
        kept = [r for r in records if has_labels(r)]
        self.unlabelled_images = len(records) - len(kept)
        self.policy.note_left_out("images without labels", self.unlabelled_images, f"{self.name} {self.split}")
        return kept

    def labelled_classes(self) -> frozenset[int] | None:
        """Global classes this source labels where it labels the task; None for all of them. A class it
        does not label must not train as background on its images (COCO has no rider)."""
        return None

    def _index(self) -> list[Any]:
        raise NotImplementedError

    def _load(self, record: Any) -> Sample:
        raise NotImplementedError

    # --- helpers shared by the adapters ---------------------------------------------------------

    def map_category(self, category: str, path: str, item: str) -> int | str | None:
        """Global class index, IGNORE_REGION, or DROP for a source category; unknown -> LabelError."""
        key = str(category).strip().lower()
        if key in self.class_map:
            target = self.class_map[key]
            if target is DROP:
                self.dropped_categories[key] = self.dropped_categories.get(key, 0) + 1
                return DROP
            if target == IGNORE_REGION:
                return IGNORE_REGION
            return class_index(target)
        try:
            return class_index(key)
        except KeyError:
            raise LabelError(
                path, f"unknown category {category!r} (known: {', '.join(BDD100K_CLASSES)}; map it under 'classes:')",
                kind="unknown_category", item=item,
            ) from None


def read_image(path: str | Path) -> np.ndarray:
    """RGB uint8 (H, W, 3); LabelError (kind missing_image / unreadable_image) when it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise LabelError(str(path), "image file not found", kind="missing_image")
    image = decode_rgb(path)
    if image is None:
        raise LabelError(str(path), "image cannot be decoded (corrupt or not an image)", kind="unreadable_image")
    return image


def read_mask(path: str | Path, shape: tuple[int, int]) -> np.ndarray:
    """Single-channel uint8 label PNG of the given (H, W); LabelError if unreadable or the wrong size."""
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise LabelError(str(path), "mask cannot be decoded", kind="unreadable_mask")
    if mask.ndim == 3:
        mask = mask[..., 0]
    if mask.shape != tuple(shape):
        raise LabelError(str(path), f"mask size {mask.shape[::-1]} differs from image size {tuple(shape)[::-1]} (W, H)",
                         kind="mask_size")
    return mask.astype(np.uint8)


def check_box(box: Iterable[float], width: int, height: int, path: str, item: str) -> np.ndarray:
    """Clip an xyxy box (pixels) to the image; LabelError if not finite, degenerate or fully outside."""
    b = np.asarray(list(box), np.float64)
    if b.shape != (4,) or not np.all(np.isfinite(b)):
        raise LabelError(path, f"box {b.tolist()} is not 4 finite numbers", kind="bad_box", item=item)
    x1, y1, x2, y2 = b
    if x2 - x1 < MIN_BOX_SIDE or y2 - y1 < MIN_BOX_SIDE:
        raise LabelError(path, f"degenerate box {np.round(b, 1).tolist()} (x2 <= x1 or y2 <= y1)", kind="degenerate_box", item=item)
    clipped = np.array([np.clip(x1, 0, width), np.clip(y1, 0, height), np.clip(x2, 0, width), np.clip(y2, 0, height)])
    if clipped[2] - clipped[0] < MIN_BOX_SIDE or clipped[3] - clipped[1] < MIN_BOX_SIDE:
        raise LabelError(path, f"box {np.round(b, 1).tolist()} lies outside the {width}x{height} image", kind="box_outside", item=item)
    return clipped.astype(np.float32)


def poly2d_points(vertices: Any, types: str | None, path: str, item: str, min_points: int = 2, samples: int = 8) -> np.ndarray:
    """Scalabel poly2d -> dense (K, 2) float32 points. 'C' vertices are cubic Bezier control points.

    Scalabel writes a curve segment as L C C L (start, two controls, end); such segments are sampled at
    `samples` points so lanes drawn from BDD100K follow the annotated curve, not its control polygon.
    """
    try:
        pts = np.asarray(vertices, np.float64).reshape(-1, 2)
    except (TypeError, ValueError):
        raise LabelError(path, "poly2d vertices are not a list of [x, y] pairs", kind="bad_polygon", item=item) from None
    if not np.all(np.isfinite(pts)):
        raise LabelError(path, "poly2d has non-finite vertices", kind="bad_polygon", item=item)
    types = types or "L" * len(pts)
    if len(types) != len(pts):
        types = "L" * len(pts)
    out: list[np.ndarray] = [pts[:1]]
    i = 0
    while i < len(pts) - 1:
        if types[i + 1] == "C" and i + 3 < len(pts) and types[i + 2] == "C":
            p0, c1, c2, p3 = pts[i], pts[i + 1], pts[i + 2], pts[i + 3]
            t = np.linspace(0, 1, samples + 1)[1:, None]
            curve = (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * c1 + 3 * (1 - t) * t**2 * c2 + t**3 * p3
            out.append(curve)
            i += 3
        else:
            out.append(pts[i + 1 : i + 2])
            i += 1
    dense = np.concatenate(out).astype(np.float32)
    distinct = np.unique(np.round(dense, 2), axis=0)
    if len(distinct) < min_points:
        raise LabelError(path, f"degenerate polygon ({len(distinct)} distinct vertices)", kind="degenerate_polygon", item=item)
    return dense


def empty_sample(image: np.ndarray, path: str) -> Sample:
    return Sample(image=image, path=str(path))
