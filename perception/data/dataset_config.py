"""Dataset YAML (datasets/*.yaml): which sources one run mixes, validated on load.

    name: mixed
    sources:
      - type: bdd100k              # a key of perception.data.sources.SOURCE_TYPES
        root: ../data/bdd100k       # a relative root resolves against this YAML's own folder
        splits: {train: train, val: val}   # split -> folder / list file(s) / {annotations, images}
        tasks: [objects, pedestrians, lanes, drivable]   # optional: restrict what this source labels
        classes: {trailer: truck}   # optional: source category -> global class, 'ignore' or null (drop)
        weight: 1.0                 # optional: sampling weight of this source in training

`--data` may also be a directory, taken as a BDD100K-layout root (what `perception synth` writes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from perception.classes import class_index
from perception.config import ConfigBase, ConfigError, read_config_section
from perception.data.errors import ErrorPolicy
from perception.data.sources import SOURCE_TYPES, SourceAdapter, get_source_type
from perception.errors import InputError, MissingFileError
from perception.structures import TASKS

SOURCE_KEYS = {"type", "root", "splits", "tasks", "classes", "weight", "name"}


@dataclass
class SourceConfig(ConfigBase):
    """One source of a dataset YAML, as `_source` parsed and checked it (its errors name the file, the list index
    and the key: `data.yaml: sources[0].tasks: ...`); on the config base for types, `to_dict` and `replace`."""

    SECTION: ClassVar[str] = "source"

    type: str
    root: Path
    splits: dict[str, Any]
    tasks: tuple[str, ...] | None = None
    classes: dict[str, str | None] = field(default_factory=dict)
    weight: float = 1.0
    name: str | None = None


@dataclass
class DatasetConfig(ConfigBase):
    """A dataset YAML (or a BDD100K-layout directory) as the loaders read it: `load_dataset_config`."""

    SECTION: ClassVar[str] = "dataset"

    name: str
    sources: list[SourceConfig]
    path: str = "<directory>"

    def split_names(self) -> set[str]:
        return {s for src in self.sources for s in src.splits}


def _source(entry: Any, where: str, base_dir: Path | None = None) -> SourceConfig:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping with type, root, splits")
    unknown = set(entry) - SOURCE_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(SOURCE_KEYS)}")
    for key in ("type", "root"):
        if key not in entry:
            raise ConfigError(f"{where}.{key}: missing")
    if entry["type"] not in SOURCE_TYPES:
        raise ConfigError(f"{where}.type: {entry['type']!r} is not one of {sorted(SOURCE_TYPES)}")
    splits = entry.get("splits", {"train": "train", "val": "val"})
    if not isinstance(splits, dict) or not splits:
        raise ConfigError(f"{where}.splits: expected a mapping split -> folder / list file(s)")
    tasks = entry.get("tasks")
    if tasks is not None:
        if isinstance(tasks, str):
            tasks = [tasks]
        if not isinstance(tasks, list):
            raise ConfigError(f"{where}.tasks: {tasks!r} is not a list of tasks ({list(TASKS)})")
        supported = SOURCE_TYPES[entry["type"]].supported_tasks
        bad = [t for t in tasks if t not in TASKS]
        if bad:
            raise ConfigError(f"{where}.tasks: unknown task(s) {bad}; tasks are {list(TASKS)}")
        unsupported = [t for t in tasks if t not in supported]
        if unsupported:
            raise ConfigError(f"{where}.tasks: a {entry['type']} source cannot label {unsupported}; it labels {list(supported)}")
        tasks = tuple(tasks)
    classes = entry.get("classes") or {}
    if not isinstance(classes, dict):
        raise ConfigError(f"{where}.classes: expected a mapping source category -> class name, 'ignore' or null")
    for src_name, target in classes.items():
        if target not in (None, "ignore"):
            try:
                class_index(str(target))
            except KeyError:
                raise ConfigError(f"{where}.classes.{src_name}: {target!r} is not a BDD100K class, 'ignore' or null") from None
    try:
        weight = float(entry.get("weight", 1.0))
    except (TypeError, ValueError):
        raise ConfigError(f"{where}.weight: {entry.get('weight')!r} is not a number") from None
    if weight <= 0:
        raise ConfigError(f"{where}.weight: must be > 0")
    root = Path(str(entry["root"])).expanduser()
    if base_dir is not None and not root.is_absolute():
        root = base_dir / root  # a config works from any directory, not only the one it was written in
    return SourceConfig(type=entry["type"], root=root, splits=dict(splits),
                        tasks=tasks, classes=dict(classes), weight=weight, name=entry.get("name"))


def dataset_config_from_dict(data: Any, path: str, base_dir: Path | None = None) -> DatasetConfig:
    """base_dir: the folder relative roots resolve against (the YAML's own); None: the working directory."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    unknown = set(data) - {"name", "sources"}
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {sorted(unknown)}; allowed: name, sources")
    sources = data.get("sources")
    if not isinstance(sources, list) or not sources:
        raise ConfigError(f"{path}: sources: expected a non-empty list")
    parsed = [_source(entry, f"{path}: sources[{i}]", base_dir) for i, entry in enumerate(sources)]
    return DatasetConfig(name=str(data.get("name", Path(path).stem)), sources=parsed, path=path)


def load_dataset_config(path: str | Path) -> DatasetConfig:
    """Read and validate a dataset YAML (flat, or under `dataset:`) with the configs' one YAML reader; errors
    name the file and the key."""
    path = Path(path)
    return dataset_config_from_dict(read_config_section(path, DatasetConfig.SECTION), str(path), path.resolve().parent)


def bdd_directory_config(root: str | Path) -> DatasetConfig:
    """A directory taken as one BDD100K-layout root (e.g. `perception synth` output)."""
    root = Path(root)
    return DatasetConfig(name=root.name or "bdd100k",
                         sources=[SourceConfig(type="bdd100k", root=root, splits={"train": "train", "val": "val", "test": "test"})],
                         path=str(root))


def resolve_data_arg(data: str | Path | DatasetConfig) -> DatasetConfig:
    """`--data` value -> DatasetConfig: a YAML file, a BDD100K-layout directory, or an already-built config."""
    if isinstance(data, DatasetConfig):
        return data
    path = Path(data)
    if path.is_dir():
        return bdd_directory_config(path)
    if path.suffix.lower() in (".yaml", ".yml") or path.is_file():
        return load_dataset_config(path)
    raise MissingFileError(f"{path}: --data must be a dataset YAML or a BDD100K-layout directory")


def build_sources(config: DatasetConfig, split: str, policy: ErrorPolicy, allow_missing_labels: bool = False) -> list[SourceAdapter]:
    """One adapter per source that defines `split`; FileNotFoundError if none does. A task a source's `tasks:`
    lists explicitly but none of whose label files exists is a ConfigError, unless `allow_missing_labels`."""
    sources = []
    for i, src in enumerate(config.sources):
        if split not in src.splits:
            continue
        cls = get_source_type(src.type)
        root = src.root if src.root.is_absolute() else Path.cwd() / src.root
        sources.append(cls(root, split, src.splits[split], tasks=src.tasks, class_map=src.classes, policy=policy,
                           name=src.name or f"{src.type}:{src.root}"))
        missing = sources[-1].missing_tasks
        if src.tasks is not None and missing and not allow_missing_labels:
            raise ConfigError(f"{config.path}: sources[{i}] lists tasks {sorted(missing)} but split '{split}' has no "
                              f"label file for them (looked for {'; '.join(sorted(set(missing.values())))}); fix the "
                              "path, drop them from tasks:, or pass --allow-missing-labels")
    if not sources:
        raise MissingFileError(f"{config.path}: no source defines split '{split}' (splits: {sorted(config.split_names())})")
    return sources


def unlabelled_tasks(sources: list[SourceAdapter], tasks: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Task -> the label files looked for, for each of `tasks` that no source of the split labels."""
    out = {}
    for task in tasks:
        if not any(task in src.tasks and task not in src.missing_tasks for src in sources):
            out[task] = "; ".join(sorted({src.missing_tasks.get(task, f"{src.name}: not a {src.type_name} task")
                                          for src in sources}))
    return out


def require_task_labels(sources: list[SourceAdapter], tasks, where: str, allow: bool = False) -> dict[str, str]:
    """`unlabelled_tasks`, raising a one-line InputError when there are any and `allow` is False: a task trained
    without a single label learns nothing, silently."""
    missing = unlabelled_tasks(sources, tasks)
    if missing and not allow:
        raise InputError(f"{where}: the model trains {', '.join(missing)} but no source of the split labels "
                         f"{'it' if len(missing) == 1 else 'them'} (looked for "
                         f"{'; '.join(sorted(set(missing.values())))}); fix the label folder, train a model without "
                         "those tasks, or pass --allow-missing-labels (then every epoch line warns)")
    return missing
