"""Images in, images out: `perception infer` on a folder or glob writes each annotated image under its own
name and size plus the JSONL; `--save-video` still makes one video of them."""

from __future__ import annotations

import cv2
from video_fixtures import read_video_frames, synthetic_frame_bgr

from perception.cli.main import main
from perception.video.outputs import read_predictions


def _images(folder, sizes):
    folder.mkdir()
    for i, (h, w) in enumerate(sizes):
        ext = "png" if i % 2 else "jpg"
        cv2.imwrite(str(folder / f"cam{i}.{ext}"), cv2.resize(synthetic_frame_bgr(i), (w, h)))
    return folder


def test_image_folder_writes_annotated_images_with_same_names_and_sizes(tiny_checkpoint, tmp_path):
    sizes = [(240, 320), (180, 400), (300, 200)]
    folder = _images(tmp_path / "in", sizes)
    out = tmp_path / "run"
    assert main(["infer", str(folder / "cam*"), "--model", str(tiny_checkpoint), "--out", str(out), "--batch", "2"]) == 0
    names = ["cam0.jpg", "cam1.png", "cam2.jpg"]
    assert sorted(p.name for p in out.iterdir()) == sorted(names + ["predictions.jsonl", "summary.json"])
    for name, (h, w) in zip(names, sizes):
        annotated = cv2.imread(str(out / name))
        assert annotated.shape == (h, w, 3)
        assert (annotated != cv2.imread(str(folder / name))).any()  # drawn on, not copied
    records = read_predictions(out / "predictions.jsonl")
    assert [r["image"] for r in records] == names
    assert all(o.get("track_id") is None for r in records for o in r["objects"])  # stills are not a sequence


def test_save_video_keeps_one_video_and_out_cannot_be_the_input_folder(tiny_checkpoint, tmp_path, capsys):
    folder = _images(tmp_path / "in", [(240, 320), (240, 320)])
    out = tmp_path / "run"
    assert main(["infer", str(folder), "--model", str(tiny_checkpoint), "--out", str(out), "--save-video"]) == 0
    assert len(read_video_frames(out / "annotated.mp4")) == 2
    assert not (out / "cam0.jpg").exists()
    assert main(["infer", str(folder), "--model", str(tiny_checkpoint), "--out", str(folder)]) == 2
    assert "--out" in capsys.readouterr().err
    assert cv2.imread(str(folder / "cam0.jpg")).shape == (240, 320, 3)  # the input untouched
