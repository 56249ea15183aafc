"""A training run never writes over another: the default folder moves on to runs/train2, a named one is refused,
--exist-ok starts afresh there, and a folder another process holds is refused (perception.out_dir)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from perception.engine import TrainConfig, Trainer
from perception.errors import InputError

from engine_sizes import TINY_IMGSZ

REPO = Path(__file__).resolve().parents[2]


def _config(data, **kw):
    base = dict(data=str(data), model="n", imgsz=TINY_IMGSZ, epochs=1, batch=2, workers=0, device="cpu", save_period=0,
                warmup_steps_min=1, max_val_batches=1)
    return TrainConfig(**(base | kw))


def _epochs(run: Path) -> list[str]:
    with (run / "results.csv").open(newline="") as handle:
        return [row["epoch"] for row in csv.DictReader(handle)]


def test_default_folder_moves_on_and_a_named_one_is_refused_or_restarted(tiny_synthetic, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    first = Trainer(_config(tiny_synthetic, epochs=2), progress=False).fit()
    assert first["out"] == "runs/train" and _epochs(tmp_path / "runs/train") == ["1", "2"]
    second = Trainer(_config(tiny_synthetic), progress=False).fit()
    assert second["out"] == "runs/train2" and "writing runs/train2" in capsys.readouterr().err
    assert _epochs(tmp_path / "runs/train") == ["1", "2"]  # the first run's files are untouched
    assert _epochs(tmp_path / "runs/train2") == ["1"]

    named = tmp_path / "runs/train"
    with pytest.raises(InputError, match="already holds files of another run") as info:
        Trainer(_config(tiny_synthetic, out=str(named)), progress=False).fit()
    assert "\n" not in str(info.value)

    # --exist-ok: a new run in the old folder starts its results and curves afresh (no epochs 1, 2, then 1)
    again = Trainer(_config(tiny_synthetic, out=str(named), exist_ok=True), progress=False).fit()
    assert again["out"] == str(named) and _epochs(named) == ["1"]
    assert len(list((named / "tensorboard").glob("events.out.tfevents.*"))) == 1
    assert not (named / ".perception.lock").exists()  # released at the end


HOLDER = textwrap.dedent("""
    import sys
    from perception.out_dir import FolderClaim
    FolderClaim(sys.argv[1], "train").acquire()
    print("held", flush=True)
    sys.stdin.read()
""")


def test_a_second_training_process_is_refused_while_the_first_holds_the_folder(tiny_synthetic, tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "held"
        second = subprocess.run([sys.executable, "-m", "perception.cli.main", "train", "--data", str(tiny_synthetic),
                                 "--model", "n", "--imgsz", *map(str, TINY_IMGSZ), "--epochs", "1", "--batch", "2",
                                 "--workers", "0", "--device", "cpu", "--out", str(out), "--exist-ok", "--quiet"],
                                cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    finally:
        holder.communicate("")
    assert second.returncode == 2, second.stderr[-2000:]
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and str(out) in lines[0] and f"pid {holder.pid}" in lines[0] and "perception train" in lines[0]
    assert not (out / "weights").exists()  # it wrote nothing
