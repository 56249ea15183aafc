"""A config value of the wrong type is one line naming the file, `section.key`, the value and what it should be:
the train YAML, a model YAML, a dataset YAML and the flags (perception.config_types, checked in ConfigBase)."""

from __future__ import annotations

import pytest

from perception.cli.main import main


def _error(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_train_yaml_value_of_the_wrong_type_names_file_key_value_and_type(tmp_path, capsys):
    cfg = tmp_path / "train.yaml"
    cfg.write_text("train:\n  batch: many\n")
    assert main(["train", "--cfg", str(cfg), "--out", str(tmp_path / "run")]) == 2
    assert _error(capsys) == f"perception train: error: {cfg}: train.batch: 'many' is not an int"
    cfg.write_text("train:\n  imgsz: [64, wide]\n  lr: 2e-3\n")  # 2e-3 (a string to PyYAML) is still a number
    assert main(["train", "--cfg", str(cfg), "--out", str(tmp_path / "run")]) == 2
    assert _error(capsys) == f"perception train: error: {cfg}: train.imgsz: [64, 'wide'] is not a list of 2 ints"
    cfg.write_text("train:\n  ema: sometimes\n")
    assert main(["train", "--cfg", str(cfg), "--out", str(tmp_path / "run")]) == 2
    assert _error(capsys) == f"perception train: error: {cfg}: train.ema: 'sometimes' is not true or false"
    cfg.write_text("train:\n  balancing: magic\n")
    assert main(["train", "--cfg", str(cfg), "--out", str(tmp_path / "run")]) == 2
    assert "train.balancing: 'magic' is not one of ['fixed'" in _error(capsys)


def test_model_yaml_value_of_the_wrong_type_names_the_file_and_key(tmp_path, capsys):
    model = tmp_path / "model.yaml"
    model.write_text("model:\n  scale: n\n  lane_slots: six\n")
    assert main(["export", "--model", str(model), "--out", str(tmp_path / "m.onnx")]) == 2
    assert _error(capsys) == f"perception export: error: {model}: model.lane_slots: 'six' is not an int"


def test_dataset_yaml_value_of_the_wrong_type_names_the_file_and_key(tmp_path, capsys):
    data = tmp_path / "data.yaml"
    data.write_text("sources:\n  - type: bdd100k\n    root: x\n    tasks: 5\n")
    assert main(["data", "check", "--data", str(data)]) == 2
    assert _error(capsys) == (f"perception data: error: {data}: sources[0].tasks: 5 is not a list of tasks "
                              "(['objects', 'pedestrians', 'lanes', 'drivable'])")
    data.write_text("sources:\n  - type: bdd100k\n    root: x\n    weight: heavy\n")
    assert main(["data", "check", "--data", str(data)]) == 2
    assert _error(capsys) == f"perception data: error: {data}: sources[0].weight: 'heavy' is not a number"


@pytest.mark.parametrize("argv, says", [
    (["train", "--batch", "many"], "argument --batch: invalid int value: 'many'"),
    (["train", "--balancing", "magic"], "argument --balancing: invalid choice: 'magic'"),
    (["infer", "x.mp4", "--model", "m.onnx", "--out", "o", "--batch", "two"], "argument --batch: invalid int value: 'two'"),
])
def test_a_flag_of_the_wrong_type_names_the_flag_value_and_type(argv, says, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and says in capsys.readouterr().err
