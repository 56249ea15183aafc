import os
import subprocess
import sys

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
    assert message.count("falling back") == sum(name not in active for name in (TENSORRT, CUDA))


FALLBACK_SCRIPT = """
import sys
import onnxruntime as ort
from perception.runtime import create_session
from perception.runtime.session import CUDA
session = create_session(sys.argv[1], providers="cuda", threads=1)
print(CUDA in ort.get_available_providers(), session.get_providers())
"""


def test_a_provider_that_cannot_start_is_reported_although_the_wheel_lists_it(runtime_onnx):
    # No device is visible to this process on any machine, GPU or not: CUDA cannot start, while the
    # onnxruntime-gpu wheel still lists it. The session must say so in one line and run on the CPU.
    env = os.environ | {"CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, "-c", FALLBACK_SCRIPT, str(runtime_onnx)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    listed, active = done.stdout.strip().split(" ", 1)
    if listed != "True":
        pytest.skip("this onnxruntime wheel has no CUDA provider (CPU-only install)")
    assert active == str([CPU])
    lines = done.stderr.strip().splitlines()
    assert lines == [f"perception.runtime: {CUDA} could not be started for {runtime_onnx.name} "
                     f"(missing GPU/driver/libraries); falling back to {CPU}"]


def test_missing_model_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.onnx"):
        create_session(tmp_path / "nothing.onnx")
