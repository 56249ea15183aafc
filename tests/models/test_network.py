import numpy as np
import onnxruntime as ort
import pytest
import torch

from perception.config import TASKS, ConfigError, ModelConfig
from perception.models import build_model, load_model
from perception.postprocess.boxes import anchor_points


def _config(**kw) -> ModelConfig:
    return ModelConfig(scale="n", **kw)


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    return build_model(_config()).eval()


@pytest.mark.parametrize("imgsz", [(128, 256), (192, 320), (256, 256)])
def test_output_shapes_follow_input_size(small_model, imgsz):
    h, w = imgsz
    cfg = small_model.config
    with torch.no_grad():
        out = small_model(torch.randn(2, 3, h, w))
    n_obj = len(anchor_points(imgsz, cfg.object_strides)[0])
    n_ped = len(anchor_points(imgsz, cfg.pedestrian_strides)[0])
    assert out["obj_reg"].shape == (2, n_obj, 4)
    assert out["obj_cls"].shape == (2, n_obj, len(cfg.object_classes))
    assert out["ped_reg"].shape == (2, n_ped, 4)
    assert out["ped_cls"].shape == (2, n_ped, len(cfg.pedestrian_classes))
    assert out["lane"].shape == (2, cfg.lane_slots + 2, h, w)
    assert out["drivable"].shape == (2, 3, h, w)
    assert list(out) == small_model.output_names


def test_every_head_sends_gradient_to_the_encoder():
    torch.manual_seed(0)
    model = build_model(_config()).train()
    x = torch.randn(2, 3, 128, 192)
    for name in model.output_names:
        model.zero_grad()
        model(x)[name].float().pow(2).mean().backward()
        stem_grad = model.backbone.stem.conv.weight.grad
        assert stem_grad is not None and stem_grad.abs().sum() > 0, name


@pytest.mark.parametrize("enabled", [("objects",), ("lanes", "drivable"), ("pedestrians", "lanes")])
def test_heads_switch_off(enabled):
    model = build_model(_config(heads={t: t in enabled for t in TASKS})).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 128, 128))
    expected = {"objects": ["obj_reg", "obj_cls"], "pedestrians": ["ped_reg", "ped_cls"], "lanes": ["lane", "lane_attr", "crossing"], "drivable": ["drivable"]}
    assert sorted(out) == sorted(n for t in enabled for n in expected[t])
    disabled = [t for t in TASKS if t not in enabled]
    attrs = {"objects": "object_head", "pedestrians": "pedestrian_head", "lanes": "lane_head", "drivable": "drivable_head"}
    assert all(getattr(model, attrs[t]) is None for t in disabled)


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="imgsz"):
        ModelConfig(imgsz=(100, 200))
    with pytest.raises(ConfigError, match="heads"):
        ModelConfig(heads={t: False for t in TASKS})
    with pytest.raises(ConfigError, match="overlap"):
        ModelConfig(object_classes=(0, 2))


def test_fused_batchnorm_keeps_outputs(small_model):
    torch.manual_seed(1)
    model = build_model(_config()).train()
    # Non-trivial running statistics, as after training.
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(2, 3, 128, 128) * 2 + 0.5)
    model.eval()
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        before = model(x)
        after = model.fuse()(x)
    for name in before:
        torch.testing.assert_close(after[name], before[name], atol=1e-4, rtol=1e-4)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())


def test_onnx_export_matches_pytorch(tmp_path, small_model):
    x = torch.randn(1, 3, 128, 256)
    path = tmp_path / "net.onnx"
    torch.onnx.export(
        small_model, (x,), str(path), input_names=["images"], output_names=small_model.output_names, opset_version=17,
        dynamo=False,
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"images": x.numpy()})
    with torch.no_grad():
        ref = small_model(x)
    for name, value in zip(small_model.output_names, got):
        np.testing.assert_allclose(value, ref[name].numpy(), atol=1e-4, rtol=0)


def test_torchvision_backbone_with_local_weights(tmp_path):
    import torchvision

    reference = torchvision.models.resnet18(weights=None)
    weights = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), weights)
    model = build_model(_config(backbone="resnet18", backbone_weights=str(weights))).eval()
    body = model.backbone.body
    torch.testing.assert_close(body.conv1.weight, reference.conv1.weight)
    with torch.no_grad():
        out = model(torch.randn(1, 3, 128, 128))
    assert out["lane"].shape[-2:] == (128, 128)


def test_backbone_weights_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        build_model(_config(backbone="resnet18", backbone_weights=str(tmp_path / "missing.pth")))
    wrong = tmp_path / "wrong.pth"
    torch.save({"not_a_layer.weight": torch.zeros(1)}, wrong)
    with pytest.raises(ValueError, match="wrong.pth"):
        build_model(_config(backbone="resnet18", backbone_weights=str(wrong)))


def test_load_model_from_checkpoint_prefers_ema(tmp_path):
    torch.manual_seed(0)
    model = build_model(_config())
    ema = build_model(_config())
    path = tmp_path / "ckpt.pt"
    torch.save({"model": model.state_dict(), "ema": ema.state_dict(), "config": model.config.to_dict()}, path)
    loaded, config = load_model(path)
    assert config == model.config
    torch.testing.assert_close(loaded.backbone.stem.conv.weight, ema.backbone.stem.conv.weight)
    with pytest.raises(ValueError, match="not a perception checkpoint"):
        torch.save({"weights": 1}, tmp_path / "other.pt")
        load_model(tmp_path / "other.pt")


def test_one_head_spec_drives_network_outputs_and_decode():
    """The detection heads' prefixes, classes and strides come from ModelConfig.detection_heads alone."""
    from perception.postprocess import decode_outputs
    from perception.preprocess import LetterboxInfo

    config = ModelConfig(scale="n", imgsz=(64, 96), heads={"objects": False, "pedestrians": True, "lanes": False,
                                                           "drivable": False}, pedestrian_strides=(8, 16))
    (spec,) = config.detection_heads
    assert (spec.task, spec.reg, spec.cls, spec.strides) == ("pedestrians", "ped_reg", "ped_cls", (8, 16))
    model = build_model(config).eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 64, 96))
    assert list(out) == model.output_names == ["ped_reg", "ped_cls"]
    assert out["ped_cls"].shape == (1, 8 * 12 + 4 * 6, len(spec.classes))
    info = LetterboxInfo(scale=1.0, pad_x=0, pad_y=0, orig_size=(64, 96), input_size=(64, 96))
    (result,) = decode_outputs({k: v.numpy() for k, v in out.items()}, config, [info], conf_threshold=1e-6)
    assert len(result.objects.boxes) == 0 and set(result.pedestrians.classes.tolist()) <= set(spec.classes)
