"""Model configuration as data: one dataclass, validated on load, saved with every run and checkpoint."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from perception.classes import BDD100K_CLASSES, OBJECT_CLASSES, PEDESTRIAN_CLASSES, TASKS
from perception.config_types import check_field_types
from perception.errors import InputError, MissingFileError
from perception.thresholds import NMS_IOU, PREDICT_CONF, PREDICT_MAX_DETECTIONS

# Choices of the train config that the CLI offers; here, torch-free, so that building the parser of every
# subcommand works in the base (runtime-only) install. The losses, the balancers and engine/transfer.py check
# against these same tuples (tests/package/test_defaults_once.py).
BALANCING_MODES = ("fixed", "uncertainty", "dwa", "gradnorm", "pcgrad")
FREEZE_MODES = ("none", "backbone", "encoder")
CLS_LOSSES = ("bce", "focal")
BOX_LOSSES = ("ciou", "giou")
LANE_BINARY_LOSSES = ("focal", "wbce")

# The network input (H, W) every model, dataset, generator and benchmark defaults to: BDD100K's 720x1280 frames
# at half size, rounded to a multiple of the largest stride (32).
DEFAULT_IMGSZ = (384, 640)
# Input normalisation of every model (the torchvision backbones were trained with it): RGB in [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# width multiplier, depth multiplier per named scale (YOLO-style); `s` is the default.
SCALES = {
    "n": (0.1875, 0.33),
    "s": (0.3125, 0.33),
    "m": (0.5, 0.67),
}

BACKBONES = (
    "csp",
    "resnet18",
    "resnet34",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "regnet_y_400mf",
)


class ConfigError(InputError):
    """A configuration value is missing or invalid; the message names the field."""


def option(default: Any = dataclasses.MISSING, help: str = "", *, choices: tuple | None = None,
           flag: str | None = None, metavar: str | None = None, default_factory: Any = dataclasses.MISSING,
           required: bool = False, const: Any = None) -> Any:
    """A config field that carries its command-line flag: help text, allowed values (checked by `validate` too),
    and the flag's name where it is not `--field-name`; `required`: the flag must be given; `const`: the value of
    the flag given without one (`--ray` alone). Fields with help become flags (cli.common)."""
    metadata = {"help": help, "choices": choices, "flag": flag, "metavar": metavar, "required": required,
                "const": const}
    return field(default=default, default_factory=default_factory, metadata=metadata)


def check_choices(config: Any) -> None:
    """ConfigError for a field whose value is not one of its `option(choices=...)`."""
    for f in dataclasses.fields(config):
        allowed = f.metadata.get("choices")
        if allowed and getattr(config, f.name) not in allowed:
            raise ConfigError(f"{config.SECTION}.{f.name}: {getattr(config, f.name)!r} is not one of {list(allowed)}")


def check_at_least(config: Any, minimum: float, *names: str) -> None:
    """ConfigError `SECTION.name: value must be >= minimum` for the first named field below `minimum`: the one
    range check of every config (a tuple or list field: each of its values, and it must not be empty; None: unset)."""
    for name in names:
        value = getattr(config, name)
        values = list(value) if isinstance(value, (tuple, list)) else [value]
        if value is not None and (not values or any(v < minimum for v in values)):
            raise ConfigError(f"{config.SECTION}.{name}: {value!r} must be >= {minimum}")


class ConfigBase:
    """What every config dataclass shares: validated on construction (`validate`, also after `replace`), plain
    data out (`to_dict`: lists, not tuples, so YAML, JSON and weights_only checkpoints accept it), checked data
    in (`from_dict` refuses unknown keys, `load` reads a YAML's `SECTION:`), errors that name the source.

    A small dataclass base rather than pydantic: the base (runtime) install is torch-free and pydantic-free,
    and the configs' checks are cross-field rules a validator would still hand-write.
    """

    SECTION: ClassVar[str] = "config"
    # Old field name -> new one: files written before a rename (checkpoints, ONNX metadata, YAMLs) still load.
    RENAMED_FIELDS: ClassVar[dict[str, str]] = {}

    def __post_init__(self) -> None:
        # every field against its declared type first (one message for a wrong type in any config), then the
        # config's own rules
        check_field_types(self, self.SECTION, ConfigError)
        self.validate()

    def validate(self) -> None:
        """Normalise types and raise ConfigError naming `SECTION.field` for a bad value (override)."""

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    def replace(self, **changes: Any):
        """A copy with `changes`, validated again."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config"):
        data = {cls.RENAMED_FIELDS.get(key, key): value for key, value in data.items()}
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"{source}: unknown {cls.SECTION} field(s) {sorted(unknown)}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:  # ConfigError is a ValueError: prefix the source once
            raise ConfigError(f"{source}: {exc}") from None

    @classmethod
    def load(cls, path: str | Path):
        """Read a YAML (`SECTION:` mapping or a flat one); errors name the file."""
        return cls.from_dict(read_config_section(path, cls.SECTION), source=str(path))


@dataclass(frozen=True)
class DetectionHeadSpec:
    """One anchor-free detection head as every stage reads it: the network, its loss, the decode, the in-graph
    NMS and the ONNX runtime (which rebuilds it from the model's `perception_config` metadata).

    Outputs `{prefix}_reg` (B, A, 4) box distances in stride units and `{prefix}_cls` (B, A, len(classes))
    logits, channel k scoring global class `classes[k]`; the A anchor points run over `strides` in order
    (postprocess.boxes.anchor_points). `module` is the network attribute holding it (its state-dict prefix).
    """

    task: str
    prefix: str
    classes: tuple[int, ...]
    strides: tuple[int, ...]
    module: str

    @property
    def reg(self) -> str:
        return f"{self.prefix}_reg"

    @property
    def cls(self) -> str:
        return f"{self.prefix}_cls"


@dataclass
class ModelConfig(ConfigBase):
    SECTION: ClassVar[str] = "model"
    RENAMED_FIELDS: ClassVar[dict[str, str]] = {"lane_attributes": "lane_markings"}

    scale: str = "s"
    backbone: str = "csp"
    # None, a local file holding a state dict, or a torchvision weights enum name (IMAGENET1K_V1).
    backbone_weights: str | None = None
    imgsz: tuple[int, int] = DEFAULT_IMGSZ
    heads: dict[str, bool] = field(default_factory=lambda: {t: True for t in TASKS})
    object_classes: tuple[int, ...] = OBJECT_CLASSES
    pedestrian_classes: tuple[int, ...] = PEDESTRIAN_CLASSES
    object_strides: tuple[int, ...] = (8, 16, 32)
    pedestrian_strides: tuple[int, ...] = (4, 8, 16)
    lane_slots: int = 6
    # Lane-marking head: style/colour/type per lane and crossing markings (perception.models.marking_head).
    # Checkpoints saved before it existed load with it off (perception.models.factory.load_model).
    lane_markings: bool = True
    activation: str = "relu"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    # Postprocess defaults, stored with the model so every runtime decodes alike (perception.thresholds: the
    # predict side; evaluation decodes with EvalConfig's).
    conf_threshold: float = PREDICT_CONF
    iou_threshold: float = NMS_IOU
    max_detections: int = PREDICT_MAX_DETECTIONS
    lane_threshold: float = 0.5
    lane_min_rows: int = 6

    def validate(self) -> None:
        self.imgsz = tuple(int(v) for v in self.imgsz)
        self.object_classes = tuple(int(c) for c in self.object_classes)
        self.pedestrian_classes = tuple(int(c) for c in self.pedestrian_classes)
        self.object_strides = tuple(int(s) for s in self.object_strides)
        self.pedestrian_strides = tuple(int(s) for s in self.pedestrian_strides)
        self.mean = tuple(float(v) for v in self.mean)
        self.std = tuple(float(v) for v in self.std)
        self.heads = {t: bool(self.heads.get(t, False)) for t in TASKS} | {
            k: v for k, v in self.heads.items() if k not in TASKS
        }
        if self.scale not in SCALES:
            raise ConfigError(f"model.scale: {self.scale!r} is not one of {sorted(SCALES)}")
        if self.backbone not in BACKBONES:
            raise ConfigError(f"model.backbone: {self.backbone!r} is not one of {list(BACKBONES)}")
        if len(self.imgsz) != 2 or any(v <= 0 or v % 32 for v in self.imgsz):
            raise ConfigError(f"model.imgsz: {self.imgsz} must be two positive multiples of 32 (H W)")
        unknown = set(self.heads) - set(TASKS)
        if unknown:
            raise ConfigError(f"model.heads: unknown task(s) {sorted(unknown)}; tasks are {list(TASKS)}")
        if not any(self.heads.values()):
            raise ConfigError("model.heads: at least one head must be enabled")
        for name in ("object_classes", "pedestrian_classes"):
            bad = [c for c in getattr(self, name) if not 0 <= c < len(BDD100K_CLASSES)]
            if bad:
                raise ConfigError(f"model.{name}: class indices {bad} are outside 0..{len(BDD100K_CLASSES) - 1}")
        if set(self.object_classes) & set(self.pedestrian_classes):
            raise ConfigError("model.object_classes and model.pedestrian_classes overlap; a class belongs to one head")
        for name in ("object_strides", "pedestrian_strides"):
            bad = [s for s in getattr(self, name) if s not in (4, 8, 16, 32)]
            if bad or not getattr(self, name):
                raise ConfigError(f"model.{name}: {getattr(self, name)} must be a non-empty subset of 4, 8, 16, 32")
        # Lane targets travel as uint8 with 255 = ignore: slot ids 1..K+1 must stay below it.
        if not 2 <= self.lane_slots <= 252 or self.lane_slots % 2:
            raise ConfigError(f"model.lane_slots: {self.lane_slots} must be an even number from 2 to 252")
        if self.activation not in ("relu", "silu"):
            raise ConfigError(f"model.activation: {self.activation!r} must be 'relu' or 'silu'")

    @property
    def width(self) -> float:
        return SCALES[self.scale][0]

    @property
    def depth(self) -> float:
        return SCALES[self.scale][1]

    @property
    def enabled_tasks(self) -> list[str]:
        return [t for t in TASKS if self.heads.get(t)]

    @property
    def all_detection_heads(self) -> tuple[DetectionHeadSpec, ...]:
        """Both detection heads, enabled or not, objects first: the one description of prefixes, classes, strides."""
        return (
            DetectionHeadSpec("objects", "obj", self.object_classes, self.object_strides, "object_head"),
            DetectionHeadSpec("pedestrians", "ped", self.pedestrian_classes, self.pedestrian_strides, "pedestrian_head"),
        )

    @property
    def detection_heads(self) -> tuple[DetectionHeadSpec, ...]:
        """The enabled detection heads (those the network builds and outputs), objects first."""
        return tuple(spec for spec in self.all_detection_heads if self.heads.get(spec.task))

    @property
    def lane_channels(self) -> int:
        return self.lane_slots + 2


def read_config_section(path: str | Path, section: str) -> dict[str, Any]:
    """The `section:` mapping of a config YAML, or the whole file when it is a flat mapping; errors name the file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: {section} config not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data.get(section, data)


def load_model_config(path: str | Path) -> ModelConfig:
    """Read a model YAML (`model:` section or a flat mapping) with errors that name the file."""
    return ModelConfig.load(path)
