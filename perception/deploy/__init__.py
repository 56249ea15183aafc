"""ONNX export, parity checks, FP16/INT8 conversion and in-graph NMS (needs torch; the runtime does not)."""
