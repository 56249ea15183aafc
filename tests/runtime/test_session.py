import onnxruntime as ort
import pytest

from perception.runtime import create_session, resolve_providers
from perception.runtime.session import CPU, CUDA, TENSORRT


def test_resolve_providers_orders_and_appends_cpu():
    assert resolve_providers(None) == [TENSORRT, CUDA, CPU]
    assert resolve_providers("cuda") == [CUDA, CPU]
    assert resolve_providers(["trt", "cpu"]) == [TENSORRT, CPU]
    with pytest.raises(ValueError, match="unknown ONNX Runtime provider 'tpu'"):
        resolve_providers("tpu")


def test_gpu_providers_fall_back_by_creating_the_session(runtime_onnx, capsys):
    session = create_session(runtime_onnx, providers="auto", threads=2)
    active = session.get_providers()
    message = capsys.readouterr().err
    # The fallback is decided by what the created session runs, not by get_available_providers().
    for name in (TENSORRT, CUDA):
        if name in active:
            assert name not in message
        else:
            assert f"{name} could not be started" in message and "falling back to" in message
    assert active[-1] == CPU
    if CUDA not in active:  # this machine: no GPU, yet onnxruntime-gpu lists both GPU providers
        assert CUDA in ort.get_available_providers() or CUDA not in message
        assert message.count("falling back") == 2 - (TENSORRT in active)


def test_missing_model_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.onnx"):
        create_session(tmp_path / "nothing.onnx")
