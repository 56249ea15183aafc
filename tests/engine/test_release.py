"""`perception release`: a real training checkpoint reduced to its EMA weights, config and provenance; the
released file loads like the checkpoint and predicts the same (exactly in float32, within fp16 rounding with
--half)."""

from __future__ import annotations

import json

import pytest
import torch

from perception.cli.main import main
from perception.engine import TrainConfig, Trainer
from perception.engine.checkpoint import load_checkpoint
from perception.models.factory import load_model

from engine_sizes import TINY_IMGSZ


@pytest.fixture(scope="module")
def trained(tiny_synthetic, tmp_path_factory):
    out = tmp_path_factory.mktemp("release_run")
    cfg = TrainConfig(data=str(tiny_synthetic), model="n", imgsz=TINY_IMGSZ, epochs=1, batch=2, workers=0, device="cpu",
                      out=str(out), max_steps=3, warmup_steps_min=1, lr=3e-3)
    Trainer(cfg, progress=False).fit()
    return out / "weights" / "last.pt"


def _outputs(path):
    model, _ = load_model(path)
    torch.manual_seed(0)
    with torch.no_grad():
        return model(torch.rand(2, 3, *TINY_IMGSZ))


def test_release_keeps_the_ema_weights_and_provenance_and_drops_the_training_state(trained, tmp_path):
    dst = tmp_path / "released.pt"
    assert main(["release", "--model", str(trained), "--out", str(dst), "--json", str(tmp_path / "r.json")]) == 0
    source, released = load_checkpoint(trained), load_checkpoint(dst)
    assert set(released) == {"model", "config", "released_from", "epoch", "step", "train_seconds", "metrics", "train_config",
                             "machine"}
    assert released["released_from"] == {"file": "last.pt", "weights": "ema", "dtype": "float32"}
    assert released["step"] == source["step"] == 3 and released["metrics"] == source["metrics"]
    # the EMA weights, not the raw ones (they differ after 3 steps), bit for bit
    assert any(not torch.equal(source["ema"][k], source["model"][k]) for k in source["ema"] if source["ema"][k].is_floating_point())
    assert all(torch.equal(released["model"][k], source["ema"][k]) for k in source["ema"])
    for a, b in zip(_outputs(trained).values(), _outputs(dst).values()):
        assert torch.equal(a, b)
    summary = json.loads((tmp_path / "r.json").read_text())
    assert summary["weights"] == "ema" and summary["out_mb"] < summary["source_mb"] / 2  # no optimizer, no raw copy


def test_half_release_is_float16_and_predicts_within_its_rounding(trained, tmp_path):
    dst = tmp_path / "half.pt"
    assert main(["release", "--model", str(trained), "--out", str(dst), "--half"]) == 0
    state = load_checkpoint(dst)["model"]
    floats = [v for v in state.values() if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float16 for v in floats)
    assert all(not v.is_floating_point() for v in state.values() if v.dtype != torch.float16)  # counters stay ints
    full, half = _outputs(trained), _outputs(dst)
    for key in full:
        # fp16 keeps 11 significant bits (relative rounding 2^-11 = 4.9e-4 per weight); through ~20 layers the
        # errors add up to a few thousandths of the outputs' scale - 1 % of it is the bound
        scale = full[key].abs().max().clamp(min=1.0)
        assert (full[key] - half[key]).abs().max() <= 0.01 * scale, key


def test_model_card_says_what_the_checkpoint_and_the_eval_say(trained, tiny_synthetic, tmp_path):
    import yaml

    from perception.bench.machine import cpu_model
    from perception.engine.train_config import TrainConfig

    eval_json = tmp_path / "eval.json"
    assert main(["eval", "--model", str(trained), "--data", str(tiny_synthetic), "--out", str(tmp_path / "eval"),
                 "--worst", "0", "--json", str(eval_json)]) == 0
    dst = tmp_path / "synthetic_n.pt"
    assert main(["release", "--model", str(trained), "--out", str(dst), "--half", "--card", "--eval", str(eval_json)]) == 0
    card = (tmp_path / "synthetic_n.md").read_text()
    assert card.startswith("# synthetic_n\n")
    assert "3 steps, 1 epochs of batch 2 at 64x128" in card and "float16 ema weights of `last.pt`" in card
    assert f"cpu x 1; CPU {cpu_model()}" in card  # the machine the checkpoint recorded
    evaluated = json.loads(eval_json.read_text())["metrics"]
    assert f"`perception eval` on {evaluated['num_images']} images of `{tiny_synthetic}`" in card
    assert f"| {evaluated['drivable_miou']:.3f} |" in card
    # the YAML block, fed back as a train config, is the run's settings
    block = card.split("```yaml\n")[1].split("```")[0]
    settings = yaml.safe_load(block)["train"]
    assert settings["max_steps"] == 3 and settings["model"] == "n" and "out" not in settings
    rebuilt = TrainConfig(**settings)
    saved = load_checkpoint(trained)["train_config"]
    assert all(getattr(rebuilt, k) == (tuple(v) if isinstance(v, list) else v) for k, v in saved.items()
               if k not in ("out", "exist_ok"))


def test_a_bad_eval_summary_is_one_line(trained, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"rows": []}')
    assert main(["release", "--model", str(trained), "--out", str(tmp_path / "y.pt"), "--eval", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a `perception eval --json` summary" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "y.pt").exists()  # refused before anything was written


def test_release_refuses_to_overwrite_its_source_and_names_bad_files(trained, tmp_path, capsys):
    assert main(["release", "--model", str(trained), "--out", str(trained)]) == 2
    assert "would overwrite its own source" in capsys.readouterr().err
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    assert main(["release", "--model", str(junk), "--out", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert str(junk) in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.pt").exists()
