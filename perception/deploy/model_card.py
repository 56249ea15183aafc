"""The model card of a released checkpoint (`perception release --card`): what the model is, what it was trained
on, where and for how long, how it scores, and the settings that reproduce it - all read from the checkpoint's
own provenance (and an eval summary when given), so the card cannot drift from the weights it describes.

Fields a checkpoint of an older version lacks (the machine, before it was recorded) are said to be unrecorded,
never guessed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# (metric key, label): the trainer's validation and `perception eval`'s headline metrics, in the README's order
VAL_METRICS = (("objects/map50", "objects mAP50"), ("objects/map50_95", "mAP50:95"), ("pedestrians/map50", "ped. AP50"),
               ("pedestrians/mr2", "ped. MR^-2"), ("lanes/f1", "lane pixel F1"), ("lanes/iou", "lane IoU"),
               ("drivable/miou", "drivable mIoU"))
EVAL_METRICS = (("map50", "objects mAP50"), ("map50_95", "mAP50:95"), ("recall50", "recall50"),
                ("ped_ap50_reasonable", "ped. AP50 (reasonable)"), ("mr2_reasonable", "ped. MR^-2 (reasonable)"),
                ("culane_f1", "lane F1 (CULane)"), ("lane_iou", "lane IoU"), ("drivable_miou", "drivable mIoU"))


def write_model_card(weights: str | Path, evaluation: dict[str, Any] | None = None) -> Path:
    """Write the card of the released checkpoint `weights` beside it (NAME.md); evaluation: a `perception eval
    --json` summary of the same model (read_eval_summary). Returns the card's path."""
    from perception.atomic import write_text_atomic
    from perception.engine.checkpoint import load_checkpoint

    card = Path(weights).with_suffix(".md")
    write_text_atomic(card, model_card(load_checkpoint(weights), weights, evaluation))
    return card


def read_eval_summary(path: str | Path) -> dict[str, Any]:
    from perception.errors import InputError, MissingFileError

    if not Path(path).is_file():
        raise MissingFileError(f"{path}: eval summary not found")
    try:
        data = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        raise InputError(f"{path}: not a `perception eval --json` summary (no 'metrics' object)")
    return data


def model_card(released: dict[str, Any], weights_path: str | Path, eval_summary: dict[str, Any] | None = None) -> str:
    """Markdown describing the released checkpoint `released` (as `release_checkpoint` wrote it to weights_path)."""
    from perception.models.factory import saved_model_config

    path = Path(weights_path)
    config = saved_model_config(released["config"], source=str(path))
    origin = released.get("released_from", {})
    lines = [f"# {path.stem}", "", "| | |", "| --- | --- |",
             f"| model | scale {config.scale}, {config.backbone} backbone, {_params(released['model']) / 1e6:.2f} M parameters, "
             f"input {config.imgsz[0]}x{config.imgsz[1]}; heads: {', '.join(config.enabled_tasks)}"
             f"{' (lane markings too)' if config.lane_markings else ''} |",
             f"| file | `{path.name}`, {path.stat().st_size / 2**20:.1f} MB, {origin.get('dtype', 'float32')} "
             f"{origin.get('weights', 'model')} weights of `{origin.get('file', '?')}` |",
             f"| training | {_training(released)} |",
             f"| machine | {_machine(released.get('machine'))} |",
             f"| data | `{(released.get('train_config') or {}).get('data', 'not recorded')}` |", ""]
    lines += _metrics_table("Validation at the saved epoch (the run's own val split)", VAL_METRICS, released.get("metrics") or {})
    if eval_summary is not None:
        meta = eval_summary.get("meta", {})
        title = (f"`perception eval` on {eval_summary['metrics'].get('num_images', '?')} images of `{meta.get('data')}` "
                 f"(split {meta.get('split')}, {meta.get('imgsz', ['?', '?'])[0]}x{meta.get('imgsz', ['?', '?'])[1]})")
        lines += _metrics_table(title, EVAL_METRICS, eval_summary["metrics"])
    lines += ["## Reproduce", "", "The training settings that differ from `perception train`'s defaults (save as YAML, "
              "then `perception train --cfg FILE`):", "", "```yaml", _changed_settings(released.get("train_config") or {}),
              "```", "", f"then `perception release --model RUN/weights/{origin.get('file', 'best.pt')} --out {path.name}"
              f"{' --half' if origin.get('dtype') == 'float16' else ''} --card`.", ""]
    return "\n".join(lines)


def _params(state: dict[str, Any]) -> int:
    return sum(v.numel() for k, v in state.items() if v.is_floating_point() and not k.endswith(("running_mean", "running_var")))


def _training(released: dict[str, Any]) -> str:
    cfg = released.get("train_config") or {}
    seconds = float(released.get("train_seconds") or 0.0)
    return (f"{released.get('step', '?')} steps, {released.get('epoch', '?')} epochs of batch {cfg.get('batch', '?')} at "
            f"{'x'.join(map(str, cfg.get('imgsz', ['?'])))}, {int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min of "
            f"training (validation included), precision {cfg.get('amp', '?')}")


def _machine(machine: dict[str, Any] | None) -> str:
    if not machine:
        return "not recorded in this checkpoint (trained before checkpoints recorded it)"
    device = machine.get("gpu") or machine.get("device")
    flags = " ".join(machine.get("cpu_flags") or [])
    return (f"{device} x {machine.get('processes', 1)}; CPU {machine.get('cpu')} ({machine.get('cores')} cores"
            f"{', ' + flags if flags else ''}); torch {machine.get('torch')}")


def _metrics_table(title: str, keys: tuple[tuple[str, str], ...], metrics: dict[str, Any]) -> list[str]:
    shown = [(label, metrics[key]) for key, label in keys if isinstance(metrics.get(key), (int, float))]
    if not shown:
        return [f"## {title}", "", "not recorded", ""]
    return [f"## {title}", "", "| " + " | ".join(label for label, _ in shown) + " |",
            "| " + " | ".join("---:" for _ in shown) + " |", "| " + " | ".join(f"{v:.3f}" for _, v in shown) + " |", ""]


def _changed_settings(train_config: dict[str, Any]) -> str:
    import yaml

    from perception.engine.train_config import TrainConfig

    defaults = json.loads(json.dumps(TrainConfig().to_dict()))  # tuples as lists, as the checkpoint holds them
    changed = {k: v for k, v in json.loads(json.dumps(train_config)).items()
               if k in defaults and v != defaults[k] and k not in ("out", "exist_ok")}
    return yaml.safe_dump({"train": changed}, sort_keys=False).rstrip()
