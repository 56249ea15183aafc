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


@pytest.mark.parametrize("argv, says", [
    (["bench", "--calib-images", "0"], "bench.calibration_images: 0 must be >= 1"),
    (["bench", "--video-frames", "0"], "bench.video_frames: 0 must be >= 1"),
    (["bench", "--batch", "1", "0"], "bench.batches: (1, 0) must be >= 1"),
    (["bench", "--warmup", "-1"], "bench.warmup: -1 must be >= 0"),
    (["bench", "--train", "--steps", "0"], "bench_train.steps: 0 must be >= 1"),
    (["infer", "x.mp4", "--model", "m.onnx", "--batch", "0"], "infer.batch: 0 must be >= 1"),
    (["infer", "x.mp4", "--model", "m.onnx", "--max-frames", "0"], "infer.max_frames: 0 must be >= 1"),
    (["infer", "videos.txt", "--model", "m.onnx", "--ray", "--workers", "0"], "infer.workers: 0 must be >= 1"),
    (["infer", "x.mp4", "--model", "m.onnx", "--reconnect-timeout", "0"],
     "infer.reconnect_timeout: 0.0 must be > 0 seconds"),
])
def test_a_value_out_of_range_is_one_line_in_the_one_style(argv, says, tmp_path, capsys):
    """Every config's range check is config.check_at_least: `section.field: value must be >= n` (the CLI files
    no longer check flags by hand, in two other styles)."""
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    assert _error(capsys) == f"perception {argv[0]}: error: {says}"


def test_the_video_pipeline_config_checks_its_frame_limit():
    from perception.config import ConfigError
    from perception.video.pipeline import PipelineConfig

    with pytest.raises(ConfigError, match=r"^pipeline.max_frames: 0 must be >= 1$"):
        PipelineConfig(max_frames=0)
    with pytest.raises(ConfigError, match=r"^pipeline.batch_size: 0 must be >= 1$"):
        PipelineConfig(batch_size=0)
