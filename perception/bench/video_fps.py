"""End-to-end FPS of the video tool (`perception infer`'s pipeline) on a file, next to model-only throughput."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from perception.errors import InputError


def video_fps(
    onnx_path: str | Path,
    video: str | Path,
    out_dir: str | Path,
    batch: int,
    provider: str,
    threads: int | None,
    max_frames: int | None = None,
    imgsz: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Run the concurrent video pipeline as `perception infer VIDEO --model ONNX --batch B` does (annotated
    video, JSONL, tracking all on) and return its summary's throughput and per-stage milliseconds."""
    from perception.runtime import OnnxPredictor
    from perception.video.pipeline import PipelineConfig, infer_video
    from perception.video.sources import open_source

    predictor = OnnxPredictor(onnx_path, providers=provider, threads=threads, verbose=False, lane_masks=False,
                              spin=False, imgsz=imgsz)
    source = open_source(str(video))
    config = PipelineConfig(batch_size=batch, max_frames=max_frames)
    summary = infer_video(predictor, source, out_dir, config, model_info={"path": str(onnx_path)})
    if summary["frames"] == 0:
        raise InputError(f"{video}: the video tool decoded no frames")
    return {
        "video": str(video),
        "batch": batch,
        "provider": predictor.providers[0],
        "frames": summary["frames"],
        "wall_s": summary["wall_s"],
        "fps": summary["throughput_fps"],
        "stage_ms_per_frame": summary["stage_ms_per_frame"],
        "out_dir": str(out_dir),
    }
