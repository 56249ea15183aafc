import os
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest

from perception.runtime import create_session, resolve_providers
from perception.runtime.session import (
    CPU,
    CUDA,
    TENSORRT,
    DeviceBinding,
    binding_device,
    provider_entries,
    trt_profile_shapes,
)


def test_resolve_providers_orders_and_appends_cpu():
    assert resolve_providers(None) == [TENSORRT, CUDA, CPU]
    assert resolve_providers("cuda") == [CUDA, CPU]
    # TensorRT hands what it cannot run to the GPU, not straight to the CPU
    assert resolve_providers("tensorrt") == [TENSORRT, CUDA, CPU]
    assert resolve_providers(["trt", "cpu"]) == [TENSORRT, CUDA, CPU]
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


@pytest.fixture(scope="module")
def dynamic_batch_onnx(runtime_model, tmp_path_factory):
    from perception.deploy.export import export_onnx

    return export_onnx(runtime_model, tmp_path_factory.mktemp("dynamic") / "tiny_dyn.onnx", simplify=False)


def test_tensorrt_profile_covers_a_dynamic_batch(dynamic_batch_onnx, runtime_onnx):
    assert trt_profile_shapes(dynamic_batch_onnx, max_batch=8) == {
        "trt_profile_min_shapes": "images:1x3x128x256",
        "trt_profile_opt_shapes": "images:8x3x128x256",
        "trt_profile_max_shapes": "images:8x3x128x256",
    }
    assert trt_profile_shapes(runtime_onnx) == {}  # a fixed batch of 2: TensorRT needs no profile


def test_tensorrt_options_reach_its_provider_entry(dynamic_batch_onnx, tmp_path):
    profile = trt_profile_shapes(dynamic_batch_onnx, max_batch=4)
    entries = provider_entries([TENSORRT, CUDA, CPU], tmp_path / "engines", True, profile)
    (name, options), *rest = entries
    assert name == TENSORRT and rest == [CUDA, CPU]
    assert options["trt_fp16_enable"] is True and options["trt_engine_cache_enable"] is True
    assert options["trt_engine_cache_path"] == str(tmp_path / "engines") and (tmp_path / "engines").is_dir()
    assert options["trt_profile_max_shapes"] == "images:4x3x128x256"


def test_io_binding_runs_on_the_sessions_device():
    assert binding_device([CUDA, CPU], {CUDA: {"device_id": "1"}, CPU: {}}) == ("cuda", 1)
    assert binding_device([TENSORRT, CUDA, CPU], {TENSORRT: {"device_id": "2"}}) == ("cuda", 2)
    assert binding_device([CPU], {CPU: {}}) == ("cpu", 0)


def test_io_binding_reuses_its_input_buffer_and_matches_run(runtime_onnx):
    session = create_session(runtime_onnx, providers="cpu", threads=2)
    binding = DeviceBinding(session)
    rng = np.random.default_rng(0)
    buffers = []
    for _ in range(2):
        x = rng.standard_normal((2, 3, 128, 256)).astype(np.float32)
        for got, want in zip(binding.run({"images": x}), session.run(None, {"images": x})):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
        buffers.append(binding.buffers["images"][1])
    assert buffers[0] is buffers[1]  # overwritten in place, not allocated per call


def test_trt_flags_reach_the_session_from_infer(runtime_onnx, runtime_frames, tmp_path):
    import cv2

    from perception.cli.main import main

    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), runtime_frames[0][:, :, ::-1])
    cache = tmp_path / "trt"
    argv = ["infer", str(images), "--model", str(runtime_onnx), "--out", str(tmp_path / "out"), "--providers", "tensorrt",
            "--trt-cache", str(cache), "--trt-fp16", "--threads", "1", "--no-video"]
    assert main(argv) == 0
    assert cache.is_dir()  # the TensorRT entry got the cache folder (whether or not TensorRT could start here)
