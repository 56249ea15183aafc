"""FP16 ONNX for GPU providers (CUDA, TensorRT).

Uses `convert_float_to_float16` from `onnxruntime.transformers.float16`: onnxruntime's vendored copy of
onnxconverter-common's converter, so no extra package. (onnxconverter-common 1.16 from PyPI fails on this graph:
its `remove_unnecessary_cast_node` raises "The downstream node of the second cast node should be graph output"
when an output comes straight out of a Cast; the onnxruntime copy handles it.) Inputs and
outputs stay float32 (`keep_io_types`) so the runtime feeds the same arrays to every precision; ops that lose
accuracy or have no FP16 kernels (NonMaxSuppression, TopK, Range, ...) stay FP32 behind Cast nodes via the
converter's default block list. ONNX Runtime's CPU provider lacks FP16 kernels for most ops, so an FP16 file is
meant for CUDA/TensorRT; for TensorRT one can also keep the FP32 file and set trt_fp16 (export/README.md).
"""

from __future__ import annotations

from pathlib import Path

import onnx

from perception.deploy.export import save_onnx_atomically
from perception.errors import InputError, MissingFileError


def _converter():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from onnxruntime.transformers import float16
    return float16


def convert_to_fp16(src: str | Path, dst: str | Path) -> Path:
    """Write an FP16-weight copy of `src` to `dst` (float32 I/O, metadata kept, precision=fp16)."""
    src = Path(src)
    if not src.is_file():
        raise MissingFileError(f"{src}: ONNX model not found")
    model = onnx.load(str(src))
    import warnings

    with warnings.catch_warnings():
        # Per-constant "truncated to 1e-07" warnings: tiny weights flush to FP16's range, as intended.
        warnings.simplefilter("ignore")
        half = _converter().convert_float_to_float16(model, keep_io_types=True)
    _set_precision(half, "fp16")
    _sort_topologically(half.graph)
    onnx.checker.check_model(half)
    return save_onnx_atomically(half, dst)


def _sort_topologically(graph: onnx.GraphProto) -> None:
    """The converter appends its input Casts at the end of the node list; ONNX requires producers first."""
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(name in available for name in n.input)]
        if not ready:
            raise InputError("fp16 conversion produced a graph with a cycle or a missing input")
        for node in ready:
            available.update(node.output)
        ordered += ready
        pending = [n for n in pending if not any(n is r for r in ready)]
    del graph.node[:]
    graph.node.extend(ordered)


def _set_precision(model: onnx.ModelProto, precision: str) -> None:
    from perception.runtime.metadata import KEY_PRECISION

    for prop in model.metadata_props:
        if prop.key == KEY_PRECISION:
            prop.value = precision
            return
    entry = model.metadata_props.add()
    entry.key, entry.value = KEY_PRECISION, precision
