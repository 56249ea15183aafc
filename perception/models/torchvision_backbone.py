"""torchvision backbones (ResNet, MobileNetV3, EfficientNet, RegNet) tapped at strides 4, 8, 16, 32."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from perception.errors import InputError, MissingFileError

# Graph node whose output is the last feature map at each stride.
RETURN_NODES = {
    "resnet18": {"layer1": 4, "layer2": 8, "layer3": 16, "layer4": 32},
    "resnet34": {"layer1": 4, "layer2": 8, "layer3": 16, "layer4": 32},
    "mobilenet_v3_large": {"features.3": 4, "features.6": 8, "features.12": 16, "features.16": 32},
    "efficientnet_b0": {"features.2": 4, "features.3": 8, "features.5": 16, "features.7": 32},
    "regnet_y_400mf": {
        "trunk_output.block1": 4,
        "trunk_output.block2": 8,
        "trunk_output.block3": 16,
        "trunk_output.block4": 32,
    },
}
# A local state-dict file for every torchvision backbone, set without editing the model YAML (offline machines);
# `perception train --backbone-weights PATH` sets it for one run.
WEIGHTS_ENV = "PERCEPTION_BACKBONE_WEIGHTS"
# Keys of the classifier, which a feature extractor does not have.
CLASSIFIER_PREFIXES = ("fc.", "classifier.")


def _is_file(weights: str) -> bool:
    path = Path(weights)
    return path.suffix in (".pt", ".pth", ".bin") or path.exists()


def _load_weights(model: nn.Module, name: str, weights: str) -> None:
    """`weights` is a local state-dict file, or a torchvision enum name such as IMAGENET1K_V1 (downloads)."""
    path = Path(weights)
    if _is_file(weights):
        if not path.is_file():
            raise MissingFileError(f"{path}: backbone weights file not found")
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        state = {k: v for k, v in state.items() if not k.startswith(CLASSIFIER_PREFIXES)}
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith(CLASSIFIER_PREFIXES)]
        if missing or unexpected:
            raise InputError(
                f"{path}: does not match torchvision {name} ({len(missing)} missing keys, e.g. {missing[:2]}; "
                f"{len(unexpected)} unexpected, e.g. {unexpected[:2]})"
            )
        return
    import torchvision

    enum = torchvision.models.get_model_weights(name)
    try:
        weight_enum = enum[weights]
    except KeyError:
        raise InputError(f"backbone_weights: {weights!r} is neither a file nor one of {[w.name for w in enum]}") from None
    try:
        model.load_state_dict(weight_enum.get_state_dict(progress=False))
    except Exception as exc:  # network failures come as many types (URLError, OSError, RuntimeError)
        raise InputError(
            f"backbone_weights {weights}: download of {weight_enum.url} failed ({exc.__class__.__name__}); fetch that "
            f"file where there is internet and pass --backbone-weights FILE (or set {WEIGHTS_ENV}=FILE)"
        ) from None


class TorchvisionBackbone(nn.Module):
    """Wraps a torchvision classifier as a {stride: feature} extractor."""

    def __init__(self, name: str, weights: str | None = None):
        super().__init__()
        import torchvision
        from torchvision.models.feature_extraction import create_feature_extractor

        if name not in RETURN_NODES:
            raise InputError(f"backbone: {name!r} is not one of {sorted(RETURN_NODES)}")
        model = torchvision.models.get_model(name, weights=None)
        if weights and not _is_file(weights):
            weights = os.environ.get(WEIGHTS_ENV) or weights  # a local file instead of the download
        if weights:
            _load_weights(model, name, weights)
        nodes = RETURN_NODES[name]
        self.body = create_feature_extractor(model, return_nodes={k: str(v) for k, v in nodes.items()})
        with torch.no_grad():
            was_training = self.body.training
            self.body.eval()
            probe = self.body(torch.zeros(1, 3, 64, 64))
            self.body.train(was_training)
        self.channels = {int(k): v.shape[1] for k, v in probe.items()}
        for stride, feature in probe.items():
            if 64 // feature.shape[-1] != int(stride):
                raise AssertionError(f"{name}: node for stride {stride} has stride {64 // feature.shape[-1]}")

    def forward(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        return {int(k): v for k, v in self.body(x).items()}
