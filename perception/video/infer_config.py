"""`perception infer`'s settings as data: one field per flag (perception.config.option), checked on construction,
and the pieces the run hands on: the predictor's keyword arguments and the pipeline's config.

Torch-free, like the rest of the video tool: the base install builds `infer`'s parser from these fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from perception.config import ConfigBase, ConfigError, check_at_least, option


@dataclass
class InferConfig(ConfigBase):
    """What `perception infer SOURCE` runs: the model and where it writes, how frames are batched, dropped and
    drawn, where the model runs, how a live source is kept, and (for a manifest of videos) the fleet."""

    model: str = option("", "model.onnx (ONNX Runtime, no torch) or a .pt checkpoint", required=True)
    out: str = option("", "output folder", metavar="DIR", required=True)
    batch: int = option(1, "frames per model call", metavar="N")
    realtime: bool = option(False, "drop frames (counted) to keep up with a live source")
    no_video: bool = option(False, "skip annotated.mp4 / annotated images (JSONL and summary only)")
    save_video: bool = option(False, "images: write one annotated.mp4 of the images instead of annotated images")
    conf: float | None = option(None, "detection score threshold (default: the model's, 0.25 unless set at training "
                                "or export)")
    max_frames: int | None = option(None, "stop after N decoded frames", metavar="N")
    device: str | None = option(None, "cpu or cuda: torch device of a .pt model (default cpu), ONNX Runtime provider "
                                "of an .onnx one (or use --providers)")
    imgsz: tuple[int, int] | None = option(None, "network input size (default: the model's; an .onnx model must be "
                                           "exported --dynamic)")
    providers: str | None = option(None, "ONNX Runtime providers to try, comma separated: tensorrt,cuda,cpu "
                                   "(default: all, in that order)", metavar="LIST")
    threads: int | None = option(None, "ONNX Runtime intra-op threads (default: all cores)")
    trt_cache: str | None = option(None, "TensorRT engine and timing cache folder: the first start builds the engine "
                                   "(minutes), later ones read it (seconds)", metavar="DIR")
    trt_fp16: bool = option(False, "TensorRT: build fp16 engines")
    image_fps: float = option(30.0, "frame rate given to an image sequence")
    reconnect_timeout: float | None = option(None, "camera/stream: seconds without a frame before giving up and "
                                             "finalising the outputs (default: 5 reconnect attempts with backoff, "
                                             "at most 60 s)", metavar="S")
    no_track: bool = option(False, "no track ids, no lane smoothing")
    ray: str | None = option(None, "fleet: spread a manifest's videos over Ray workers; without ADDRESS an embedded "
                             "cluster on this machine, else ray.init's address (auto, ray://head:10001); needs "
                             "perception[fleet]", metavar="ADDRESS", const="local")
    workers: int = option(2, "fleet with --ray: Ray actors, one model session each", metavar="N")
    exist_ok: bool = option(False, "write into --out even when it holds another run's files (else refused)")

    SECTION: ClassVar[str] = "infer"

    def validate(self) -> None:
        check_at_least(self, 1, "batch", "max_frames", "workers")
        if self.reconnect_timeout is not None and not self.reconnect_timeout > 0:
            raise ConfigError(f"infer.reconnect_timeout: {self.reconnect_timeout!r} must be > 0 seconds")

    def predictor_kwargs(self) -> dict[str, Any]:
        """`load_predictor`'s keyword arguments. The video draws and writes lanes as polylines only (no lane masks);
        ONNX Runtime threads must not spin: decode, postprocess and encode run beside them on the same cores."""
        return {"conf_threshold": self.conf, "device": self.device, "lane_masks": False,
                "imgsz": tuple(self.imgsz) if self.imgsz else None, "providers": self.providers,
                "threads": self.threads, "spin": False, "trt_cache_dir": self.trt_cache, "trt_fp16": self.trt_fp16}

    def pipeline(self, images_out: bool = False):
        """The video pipeline's config; `images_out`: an image source written as annotated images (no video),
        and, separate images being no sequence, no track ids carried across them and no lanes smoothed."""
        from perception.video.pipeline import PipelineConfig

        return PipelineConfig(batch_size=self.batch, realtime=self.realtime, max_frames=self.max_frames,
                              write_video=not self.no_video and not images_out,
                              write_images=not self.no_video and images_out, track=not self.no_track and not images_out)
