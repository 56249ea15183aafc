"""Lane-marking vocabulary in one place: the attributes a lane carries, the crossing kinds, and how
BDD100K's labels (laneDirection / laneStyle / laneTypes, or the lane mask's bits) map onto them.

A lane (along the road) has a style (solid/dashed), a colour (white/yellow/other) and a type
(single/double/curb). A crossing marking (BDD100K direction "vertical", or category "crosswalk") is no
lane: it is a crosswalk or a stop line. Torch-free: the ONNX runtime and the video tool use it too.
"""

from __future__ import annotations

from typing import Any

from perception.classes import IGNORE_INDEX

LANE_STYLES = ("solid", "dashed")
LANE_COLORS = ("white", "yellow", "other")
LANE_TYPES = ("single", "double", "curb")
# (attribute name, its values) in the order of the `lane_attr` output's channel groups.
ATTRIBUTE_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("style", LANE_STYLES),
    ("color", LANE_COLORS),
    ("type", LANE_TYPES),
)
NUM_ATTRIBUTE_CHANNELS = sum(len(values) for _, values in ATTRIBUTE_GROUPS)
# Stride of the lane_attr and crossing outputs: the neck's stride-4 level feeds models/marking_head.py; the
# loader builds the marking targets and the decode reads the outputs at it.
MARKING_STRIDE = 4
# Crossing classes of the `crossing` output: channel 0 is background.
CROSSING_CLASSES = ("crosswalk", "stop line")

# BDD100K lane categories (the mask's bits 0-2 index this tuple; bdd100k/label/label.py).
BDD_LANE_CATEGORIES = (
    "crosswalk", "double other", "double white", "double yellow",
    "road curb", "single other", "single white", "single yellow",
)


def is_crossing(attrs: dict[str, Any]) -> str | None:
    """The crossing class of a BDD100K-labelled marking ('crosswalk' or 'stop line'), None for a lane."""
    category = str(attrs.get("category", "")).lower()
    if category == "crosswalk":
        return "crosswalk"
    if str(attrs.get("direction", "parallel")) == "vertical":
        return "stop line"
    return None


def attribute_indices(attrs: dict[str, Any]) -> tuple[int, int, int]:
    """(style, color, type) indices of a lane's BDD100K attributes; IGNORE_INDEX where the label does not say
    (CULane/TuSimple lanes: style 'unknown', category 'lane'; a kerb has no paint colour)."""
    style = str(attrs.get("style", "")).lower()
    category = str(attrs.get("category", "")).lower()
    s = LANE_STYLES.index(style) if style in LANE_STYLES else IGNORE_INDEX
    if category == "road curb":
        return s, IGNORE_INDEX, LANE_TYPES.index("curb")
    parts = category.split()
    if len(parts) == 2 and parts[0] in ("single", "double") and parts[1] in LANE_COLORS:
        return s, LANE_COLORS.index(parts[1]), LANE_TYPES.index(parts[0])
    return s, IGNORE_INDEX, IGNORE_INDEX


def has_marking_labels(attrs_list: list[dict[str, Any]]) -> bool:
    """Whether a source's lanes carry BDD100K marking labels (so crossings are labelled too): every lane's
    category is a BDD100K one. CULane and TuSimple ('lane') do not; a missing label is never a negative."""
    return bool(attrs_list) and all(str(a.get("category", "")).lower() in BDD_LANE_CATEGORIES for a in attrs_list)


def bdd_category(color: str | None, lane_type: str | None) -> str:
    """BDD100K category of a predicted lane ('single white', 'road curb', ...)."""
    if lane_type == "curb":
        return "road curb"
    return f"{lane_type or 'single'} {color or 'white'}"


def bdd_mask_attributes(byte: int) -> dict[str, str]:
    """One BDD100K lane-mask byte (not background) -> {'direction', 'style', 'category'}."""
    return {
        "direction": "vertical" if byte >> 5 & 1 else "parallel",
        "style": "dashed" if byte >> 4 & 1 else "solid",
        "category": BDD_LANE_CATEGORIES[byte & 7],
    }
