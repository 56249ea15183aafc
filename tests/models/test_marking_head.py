"""The lane-marking head: outputs, its cost budget, and checkpoints saved before it existed."""

import numpy as np
import torch

from perception.config import ModelConfig
from perception.loading import load_predictor
from perception.models import build_model, load_model
from perception.models.summary import model_summary


def test_outputs_at_stride_four_and_switch_off():
    model = build_model(ModelConfig(scale="n", imgsz=(128, 192))).eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 128, 192))
    assert out["lane_attr"].shape == (1, 8, 32, 48) and out["crossing"].shape == (1, 3, 32, 48)
    assert model.output_names[model.output_names.index("lane") + 1 : model.output_names.index("lane") + 3] == ["lane_attr", "crossing"]
    plain = build_model(ModelConfig(scale="n", imgsz=(128, 192), lane_markings=False))
    assert "lane_attr" not in plain.output_names and "crossing" not in plain.output_names


def test_head_costs_at_most_five_percent_of_the_default_model():
    # Every part is convolutional, so the share is the same at 384x640 (perception info: 7.191 -> 7.338 GFLOPs,
    # +2.0%) as at this 40x smaller input, which keeps the test fast.
    with_head = model_summary(build_model(ModelConfig()), (64, 96))
    without = model_summary(build_model(ModelConfig(lane_markings=False)), (64, 96))
    added = with_head["total"]["gflops"] - without["total"]["gflops"]
    assert 0 < added <= 0.05 * without["total"]["gflops"]
    assert abs(with_head["parts"]["lane markings"]["gflops"] - added) < 1e-9


def test_checkpoint_from_before_the_head_loads_without_it(tmp_path):
    config = ModelConfig(scale="n", imgsz=(64, 96), lane_markings=False)
    model = build_model(config)
    old = config.to_dict()
    del old["lane_markings"]
    torch.save({"model": model.state_dict(), "ema": None, "config": old}, tmp_path / "old.pt")
    loaded, cfg = load_model(tmp_path / "old.pt")
    assert cfg.lane_markings is False and loaded.lane_attr_head is None
    # ...and still gives the binary lane mask that eval scores: argmax of its lane logits != background.
    predictor = load_predictor(tmp_path / "old.pt")
    image = np.random.default_rng(0).integers(0, 255, (64, 96, 3), np.uint8)
    result = predictor.predict([image])[0]
    batch, _ = predictor.preprocess([image])
    lane_logits = predictor.infer(batch)["lane"][0]
    np.testing.assert_array_equal(result.lane_mask, (lane_logits.argmax(0) != 0).astype(np.uint8))


def test_a_config_saved_under_the_fields_old_name_loads_under_the_new_one():
    # Checkpoints and ONNX metadata written while the field was called lane_attributes.
    for value in (False, True):
        old = {k: v for k, v in ModelConfig(scale="n").to_dict().items() if k != "lane_markings"} | {"lane_attributes": value}
        assert ModelConfig.from_dict(old).lane_markings is value
