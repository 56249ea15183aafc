"""Fleet footage: `perception infer` over a manifest of videos writes per-video outputs exactly as the
single-video tool does, reports and skips a corrupt video, skips complete videos on a rerun, and spreads
the videos over Ray actors with --ray."""

from __future__ import annotations

import json

import pytest
from video_fixtures import write_clip

from perception.cli.main import main
from perception.video.outputs import read_predictions


@pytest.fixture(scope="module")
def tiny_onnx(tiny_checkpoint, tmp_path_factory):
    pytest.importorskip("onnxruntime")
    from perception.deploy.export import export_onnx, load_export_model

    return export_onnx(load_export_model(weights=tiny_checkpoint), tmp_path_factory.mktemp("onnx") / "tiny.onnx",
                       simplify=False)


@pytest.fixture
def clips(tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    write_clip(folder / "a.mp4", 6)
    write_clip(folder / "b.mp4", 5)
    (folder / "broken.mp4").write_bytes((folder / "a.mp4").read_bytes()[:1500])  # no index: cannot open
    return folder


def _without_latency(records):
    return [{k: v for k, v in r.items() if k != "latency_ms"} for r in records]


def test_manifest_runs_locally_like_the_single_video_tool_and_resumes(tiny_onnx, clips, tmp_path, capsys):
    manifest = tmp_path / "fleet.txt"
    manifest.write_text("# drive 1\nclips/a.mp4\n\nclips/broken.mp4\nclips/b.mp4\n")
    out = tmp_path / "fleet"
    assert main(["infer", str(manifest), "--model", str(tiny_onnx), "--out", str(out)]) == 1  # a video failed
    err = capsys.readouterr().err
    assert "broken.mp4" in err and "cannot open video" in err
    summary = json.loads((out / "fleet.json").read_text())
    assert [(p["video"].split("/")[-1], p["status"]) for p in summary["per_video"]] == [
        ("a.mp4", "done"), ("broken.mp4", "failed"), ("b.mp4", "done")]
    assert summary["frames"] == 11 and summary["backend"] == "local"

    single = tmp_path / "single"
    assert main(["infer", str(clips / "a.mp4"), "--model", str(tiny_onnx), "--out", str(single)]) == 0
    assert sorted(p.name for p in (out / "a").iterdir()) == sorted(p.name for p in single.iterdir())
    assert _without_latency(read_predictions(out / "a" / "predictions.jsonl")) == _without_latency(
        read_predictions(single / "predictions.jsonl"))

    (out / "b" / "summary.json").unlink()  # as if killed while writing b
    assert main(["infer", str(manifest), "--model", str(tiny_onnx), "--out", str(out)]) == 1
    statuses = [p["status"] for p in json.loads((out / "fleet.json").read_text())["per_video"]]
    assert statuses == ["skipped", "failed", "done"]


@pytest.mark.slow
def test_ray_two_workers_three_clips_one_corrupt(tiny_onnx, clips, tmp_path, capsys):
    pytest.importorskip("ray")
    out = tmp_path / "fleet"
    argv = ["infer", str(clips / "*.mp4"), "--model", str(tiny_onnx), "--out", str(out), "--providers", "cuda", "--ray",
            "--workers", "2"]
    assert main(argv) == 1
    summary = json.loads((out / "fleet.json").read_text())
    # Each actor says where its session runs; one whose CUDA provider could not start says so on the driver's
    # stderr (its own stderr never reaches the driver: log_to_driver=False).
    assert len(summary["workers"]) == 2 and all(w["runs_on"] for w in summary["workers"])
    err = capsys.readouterr().err
    for worker in summary["workers"]:
        if worker["runs_on"][0] != "CUDAExecutionProvider":
            assert "CUDAExecutionProvider could not be started" in err and "(Ray actor)" in err
            assert "num_gpus" not in worker["resources"]  # this cluster has no GPU to ask for
    by_name = {p["video"].split("/")[-1]: p for p in summary["per_video"]}
    assert {n: p["status"] for n, p in by_name.items()} == {"a.mp4": "done", "b.mp4": "done", "broken.mp4": "failed"}
    assert "cannot open video" in by_name["broken.mp4"]["error"]
    assert len({p["worker"] for p in summary["per_video"]}) == 2  # two actors, each holding its own session
    assert len(read_predictions(out / "a" / "predictions.jsonl")) == 6
    assert json.loads((out / "b" / "summary.json").read_text())["frames"] == 5
    # A rerun (here without Ray: same outputs, same rule) skips both complete videos.
    assert main(argv[:-3]) == 1
    assert json.loads((out / "fleet.json").read_text())["skipped"] == 2


def test_ray_actors_ask_for_the_gpu_their_model_needs():
    from perception.errors import InputError
    from perception.video.fleet import actor_resources

    # a .pt model on CUDA: each of 2 actors gets half of the one GPU (without num_gpus Ray hides every GPU)
    assert actor_resources("m.pt", {"device": "cuda"}, workers=2, cluster_gpus=1) == {"num_cpus": 1, "num_gpus": 0.5}
    assert actor_resources("m.pt", {"device": None}, workers=2, cluster_gpus=4) == {"num_cpus": 1}
    with pytest.raises(InputError, match="the Ray cluster has no GPU for m.pt"):
        actor_resources("m.pt", {"device": "cuda"}, workers=1, cluster_gpus=0)
    # .onnx: a GPU when one of its providers is a GPU one (the default order too) and the cluster has one
    assert actor_resources("m.onnx", {"providers": None}, workers=2, cluster_gpus=4) == {"num_cpus": 1, "num_gpus": 1.0}
    assert actor_resources("m.onnx", {"providers": "tensorrt,cuda"}, workers=4, cluster_gpus=2) == {"num_cpus": 1, "num_gpus": 0.5}
    assert actor_resources("m.onnx", {"providers": "cpu"}, workers=2, cluster_gpus=4) == {"num_cpus": 1}
    # no GPU in the cluster: ONNX Runtime falls back to the CPU, and the actor reports that line
    assert actor_resources("m.onnx", {"device": "cuda"}, workers=3, cluster_gpus=0) == {"num_cpus": 1}


def test_fleet_config_is_a_config_like_every_other():
    """On ConfigBase: checked on construction in the one range-check style, plain data out and back in."""
    from perception.config import ConfigError
    from perception.video.fleet import FleetConfig
    from perception.video.pipeline import PipelineConfig

    config = FleetConfig(model="m.onnx", predictor_kwargs={"threads": 2}, pipeline=PipelineConfig(batch_size=2),
                         workers=3)
    assert config.to_dict()["pipeline"]["batch_size"] == 2
    assert FleetConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match=r"^fleet.workers: 0 must be >= 1$"):
        FleetConfig(model="m.onnx", workers=0)
    with pytest.raises(ConfigError, match=r"pipeline.batch_size: 0 must be >= 1"):
        FleetConfig.from_dict({"model": "m.onnx", "pipeline": {"batch_size": 0}})
