"""Decoding of raw network outputs, shared by evaluation, the ONNX runtime and the video tool.

numpy only (torch tensors accepted where noted), so the torch-free runtime uses exactly this code.
"""

from perception.postprocess.decode import decode_outputs

__all__ = ["decode_outputs"]
