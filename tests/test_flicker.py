"""Flicker on video (edgecolor.bench.flicker): mean frame-to-frame CIEDE2000 of the output on
static regions, raw and with the camera's ab smoothing, on clips generated here (MJPEG AVI
written and read back by OpenCV, a real codec)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecolor.bench.flicker import (
    FlickerError,
    clip_flicker,
    flicker_table,
    pair_flicker,
    read_clip,
    static_mask,
)
from edgecolor.color import lightness
from edgecolor.imageio import read_rgb
from edgecolor.samples import sample_images

CLIP_SIZE = 96
SQUARE = (10, 30)  # rows of the moving square


def make_clip(path: Path, frames: int = 16, noise: float = 4.0, square: bool = True,
              cut_at: int | None = None, seed: int = 0) -> Path:
    """A color MJPEG clip of a still photo with sensor-like noise (σ in 8-bit levels), a white
    square moving 3 px per frame over rows 10..30, and optionally a cut to another photo."""
    rng = np.random.default_rng(seed)
    photos = [cv2.resize(read_rgb(p), (CLIP_SIZE, CLIP_SIZE), interpolation=cv2.INTER_AREA)
              for p in sample_images("eval")[:2]]
    writer = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"),
                             10.0, (CLIP_SIZE, CLIP_SIZE))
    for t in range(frames):
        photo = photos[1 if cut_at is not None and t >= cut_at else 0]
        f = photo.astype(np.float32) + rng.normal(0.0, noise, photo.shape)
        if square:
            x = 4 + 3 * t
            f[SQUARE[0]:SQUARE[1], x:x + 20] = 255.0
        writer.write(np.clip(f, 0, 255).astype(np.uint8)[..., ::-1])
    writer.release()
    return path


@pytest.fixture(scope="module")
def runner(colorful_baseline64):
    """The colorful 64x64 baseline as a Keras runner."""
    from edgecolor.runtimes.keras import KerasRunner

    model, spec, _ = colorful_baseline64
    r = KerasRunner.from_model(model, spec)
    r.activate()
    return r


def test_static_mask_excludes_the_moving_square_not_the_noise(tmp_path):
    frames = read_clip(make_clip(tmp_path / "c.avi", frames=3))
    assert len(frames) == 3 and frames[0].shape == (CLIP_SIZE, CLIP_SIZE, 3)
    mask = static_mask(lightness(frames[0]), lightness(frames[1]))
    band = mask[SQUARE[0] + 3:SQUARE[1] - 3]  # the square's rows: its edges moved
    rest = mask[SQUARE[1] + 5:]
    assert rest.mean() > 0.5  # noise of σ 4 levels is not motion after 5x5 averaging
    assert band.mean() < rest.mean() - 0.05
    assert static_mask(lightness(frames[0]), lightness(frames[0])).all()


def test_identical_frames_have_zero_flicker_and_noise_has_some(runner, tmp_path):
    still = read_clip(make_clip(tmp_path / "still.avi", frames=2, noise=0.0, square=False))
    same = clip_flicker(runner, [still[0]] * 4)
    assert same.raw == [0.0, 0.0, 0.0] and same.smoothed == [0.0, 0.0, 0.0]
    assert same.static == [1.0, 1.0, 1.0]

    noisy = clip_flicker(runner, read_clip(make_clip(tmp_path / "n.avi", frames=12, noise=6.0)))
    assert noisy.frames == 12 and len(noisy.raw) == 11
    assert noisy.mean_raw > 0.05
    # the EMA averages the per-frame noise of the prediction away
    assert noisy.mean_smoothed < 0.9 * noisy.mean_raw
    d = noisy.to_dict()
    assert d["mean_raw"] == pytest.approx(noisy.mean_raw, abs=1e-4)
    assert len(d["raw"]) == len(d["smoothed"]) == 11 and 0.3 < d["static_fraction"] <= 1.0


def test_a_scene_cut_has_no_static_region(runner, tmp_path):
    frames = read_clip(make_clip(tmp_path / "cut.avi", frames=6, cut_at=3, square=False))
    series = clip_flicker(runner, frames)
    cut = series.static.index(min(series.static))
    assert cut == 2  # frames 2 -> 3
    assert series.static[cut] < 0.2
    mask = static_mask(lightness(frames[2]), lightness(frames[3]))
    if mask.mean() < 0.01:
        assert series.raw[cut] is None
    ab = np.zeros((8, 8, 2), np.float32)
    l_full = lightness(frames[0])
    assert pair_flicker(l_full, ab, ab + 5.0, np.zeros(l_full.shape, bool)) is None
    assert pair_flicker(l_full, ab, ab, np.ones(l_full.shape, bool)) == 0.0
    assert pair_flicker(l_full, ab, ab + 5.0, np.ones(l_full.shape, bool)) > 1.0


def test_unreadable_clips_fail_with_one_line_naming_the_file(tmp_path):
    with pytest.raises(FlickerError, match=r"nope\.avi: no such video file"):
        read_clip(tmp_path / "nope.avi")
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(FlickerError, match="junk.avi") as e:
        read_clip(junk)
    assert "\n" not in str(e.value)
    one = make_clip(tmp_path / "one.avi", frames=1)
    with pytest.raises(FlickerError, match="at least 2"):
        read_clip(one)


def test_flicker_table_ratios_to_the_fp32_reference():
    ref = {"artifact": "m (Keras FP32 reference)", "status": "ok",
           "flicker": {"mean_raw": 0.5, "mean_smoothed": 0.25}}
    report = {"references": [{"row": ref, "artifacts": ["a.tflite", "b.tflite"]}],
              "rows": [{"artifact": "a.tflite", "status": "ok",
                        "flicker": {"mean_raw": 1.0, "mean_smoothed": 0.4}},
                       {"artifact": "b.tflite", "status": "ok",
                        "flicker": {"error": "clip.avi: 1 readable frame(s)"}}]}
    text = flicker_table(report)
    lines = text.splitlines()
    assert len(lines) == 4
    assert lines[2].split()[-3:] == ["1.000", "0.400", "2.00"]
    assert "❌ clip.avi" in lines[3]
    assert flicker_table({"rows": [{"artifact": "x", "status": "ok"}]}) == ""
