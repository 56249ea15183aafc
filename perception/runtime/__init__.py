"""ONNX Runtime inference: imports numpy, OpenCV, onnxruntime and torch-free perception modules only."""

from perception.runtime.metadata import ModelMetadata, read_metadata
from perception.runtime.onnx_predictor import OnnxPredictor
from perception.runtime.session import create_session, resolve_providers, warm_up

__all__ = ["ModelMetadata", "OnnxPredictor", "create_session", "read_metadata", "resolve_providers", "warm_up"]
