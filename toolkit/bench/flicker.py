"""Temporal stability on video: how much an artifact's colors flicker where the scene is still.

For each pair of consecutive frames of a clip, the static region is where the input's L does
not change (|5x5-averaged ΔL| below :data:`STATIC_DL` L units, so sensor noise does not count
as motion); the pair's flicker is the mean CIEDE2000 (ΔE00) between the two outputs' colors on
that region, both taken with the newer frame's L (the output's L is the input's, so only the
ab the model predicts, and the smoothing changes, can flicker). Measured with and without the
camera's ab smoothing (:class:`edgecolor.camera.smoothing.AbSmoother`, the settings
``edgecolor camera`` uses), for the FP32 reference and for each artifact, each in its
measuring process. Quantization can add flicker that single photos never show. Frames are read
with OpenCV, at most :data:`MAX_FRAMES`, scaled to at most :data:`MAX_SIDE` px; frames of
another size (a broken frame) are skipped, never fatal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edgecolor import metrics
from edgecolor.camera.smoothing import AbSmoother
from edgecolor.color import lightness, resize_ab

STATIC_DL = 1.5  # L units: a pixel whose 5x5-averaged L changes less than this is static
MIN_STATIC_FRACTION = 0.01  # a pair with fewer static pixels (a scene cut) has no value
MAX_FRAMES = 120
MAX_SIDE = 320  # px


class FlickerError(ValueError):
    """The clip cannot be read; the one-line message names the file and the fix."""


@dataclass
class FlickerSeries:
    """One runner on one clip: flicker (mean ΔE00 on static pixels) per consecutive frame pair,
    without (``raw``) and with (``smoothed``) the ab smoothing; None where a pair has no static
    region. ``static`` is each pair's static fraction (0..1)."""

    clip: str
    frames: int
    size: tuple[int, int]  # (width, height) measured at
    alpha: float  # the smoother's weight of the newest frame
    raw: list[float | None] = field(default_factory=list)
    smoothed: list[float | None] = field(default_factory=list)
    static: list[float] = field(default_factory=list)

    @staticmethod
    def _mean(values: list[float | None]) -> float | None:
        vals = [v for v in values if v is not None and math.isfinite(v)]
        return float(np.mean(vals)) if vals else None

    @property
    def mean_raw(self) -> float | None:
        """Mean flicker over the clip without smoothing (ΔE00), None without static pairs."""
        return self._mean(self.raw)

    @property
    def mean_smoothed(self) -> float | None:
        """Mean flicker over the clip with the smoothing (ΔE00)."""
        return self._mean(self.smoothed)

    def to_dict(self) -> dict:
        """JSON-ready: clip, frames, size, alpha, mean_raw, mean_smoothed, static_fraction and
        the per-pair series (4 decimals)."""
        def r(v):
            return None if v is None else round(float(v), 4)

        return {"clip": self.clip, "frames": self.frames, "size": list(self.size),
                "alpha": self.alpha, "static_dl": STATIC_DL, "mean_raw": r(self.mean_raw),
                "mean_smoothed": r(self.mean_smoothed),
                "static_fraction": r(np.mean(self.static)) if self.static else None,
                "raw": [r(v) for v in self.raw], "smoothed": [r(v) for v in self.smoothed]}


def read_clip(path: str | Path, max_frames: int = MAX_FRAMES,
              max_side: int = MAX_SIDE) -> list[np.ndarray]:
    """Video file -> its first ``max_frames`` frames as RGB uint8, long side ≤ ``max_side``.

    Frames whose size differs from the first are skipped. Raises :class:`FlickerError` when
    the file is missing, cannot be opened or has fewer than two frames.
    """
    p = Path(path)
    if not p.is_file():
        raise FlickerError(f"{p}: no such video file (pass --video CLIP, e.g. one "
                           "`edgecolor camera --record` wrote)")
    cap = cv2.VideoCapture(str(p))
    frames: list[np.ndarray] = []
    try:
        if not cap.isOpened():
            raise FlickerError(f"{p}: OpenCV cannot open this video (pass an .avi/.mp4 clip)")
        while len(frames) < max_frames:
            ok, bgr = cap.read()
            if not ok or bgr is None:
                break
            if bgr.ndim != 3 or bgr.shape[2] != 3:
                continue
            h, w = bgr.shape[:2]
            scale = min(1.0, max_side / max(h, w))
            if scale < 1.0:
                bgr = cv2.resize(bgr, (max(1, round(w * scale)), max(1, round(h * scale))),
                                 interpolation=cv2.INTER_AREA)
            if frames and bgr.shape != frames[0].shape:
                continue
            frames.append(np.ascontiguousarray(bgr[..., ::-1]))
    finally:
        cap.release()
    if len(frames) < 2:
        raise FlickerError(f"{p}: {len(frames)} readable frame(s); flicker needs at least 2")
    return frames


def static_mask(l_prev: np.ndarray, l_cur: np.ndarray, threshold: float = STATIC_DL
                ) -> np.ndarray:
    """Two frames' L (H, W) 0..100 -> bool mask of static pixels (|5x5-averaged ΔL| <
    ``threshold`` L units: zero-mean noise averages out, an edge that moved does not)."""
    dl = cv2.blur(l_cur.astype(np.float32) - l_prev.astype(np.float32), (5, 5))
    return np.abs(dl) < threshold


def pair_flicker(l_cur: np.ndarray, ab_prev: np.ndarray, ab_cur: np.ndarray,
                 mask: np.ndarray) -> float | None:
    """The newer frame's L (H, W), the two frames' predicted ab (any resolution, Lab units)
    and the static mask -> mean ΔE00 between Lab(L, ab_prev) and Lab(L, ab_cur) on the mask;
    None when fewer than MIN_STATIC_FRACTION of the pixels are static."""
    if mask.mean() < MIN_STATIC_FRACTION:
        return None
    size = l_cur.shape[:2]
    l3 = l_cur.astype(np.float32)[..., None]
    de = metrics.ciede2000_map(np.concatenate([l3, resize_ab(ab_prev, size)], -1),
                               np.concatenate([l3, resize_ab(ab_cur, size)], -1))
    return float(de[mask].mean())


def clip_flicker(runner, frames: list[np.ndarray], clip: str = "",
                 smoother: AbSmoother | None = None) -> FlickerSeries:
    """An active runner and RGB uint8 frames -> :class:`FlickerSeries` (raw and smoothed).

    Each frame's own L is kept (as in ``edgecolor camera``); only ab comes from the model.
    """
    smoother = smoother or AbSmoother()
    h, w = frames[0].shape[:2]
    series = FlickerSeries(clip=clip, frames=len(frames), size=(w, h), alpha=smoother.alpha)
    spec = runner.spec
    prev = None
    for rgb in frames:
        l_full = lightness(rgb)
        ab = spec.decode(runner.infer(spec.make_inputs(l_full)))
        cur = (l_full, ab, smoother(l_full, ab))
        if prev is not None:
            mask = static_mask(prev[0], l_full)
            series.static.append(float(mask.mean()))
            series.raw.append(pair_flicker(l_full, prev[1], ab, mask))
            series.smoothed.append(pair_flicker(l_full, prev[2], cur[2], mask))
        prev = cur
    return series


def measure_clip(runner, path: str | Path) -> FlickerSeries:
    """Read ``path`` (see :func:`read_clip`) and measure the runner's flicker on it."""
    return clip_flicker(runner, read_clip(path), clip=Path(path).name)


def flicker_table(report: dict) -> str:
    """The report's flicker figures as aligned text ("" when no row has one): per row mean
    ΔE00 on static regions without / with smoothing, and the artifact's raw flicker as a
    multiple of its FP32 reference's."""
    rows = [r for r in _rows_with_reference(report) if r.get("flicker")]
    if not rows:
        return ""
    ref_raw = {}
    for ref in report.get("references", []):
        fl = (ref.get("row") or {}).get("flicker") or {}
        for name in ref.get("artifacts", []):
            ref_raw[name] = fl.get("mean_raw")
    lines = [f"{'Flicker (ΔE00, static regions)':<34} {'raw':>7} {'smoothed':>9} {'× FP32':>7}"]
    for r in rows:
        fl = r["flicker"]
        if fl.get("error"):
            lines.append(f"{r['artifact']:<34} ❌ {fl['error']}")
            continue
        base = ref_raw.get(r["artifact"])
        ratio = (f"{fl['mean_raw'] / base:.2f}" if base and fl.get("mean_raw") is not None
                 else "—")
        lines.append(f"{r['artifact']:<34} {_num(fl.get('mean_raw')):>7} "
                     f"{_num(fl.get('mean_smoothed')):>9} {ratio:>7}")
    return "\n".join(lines)


def _num(v) -> str:
    return "—" if v is None else f"{v:.3f}"


def _rows_with_reference(report: dict) -> list[dict]:
    refs = [ref["row"] for ref in report.get("references", []) if ref.get("row")]
    return refs + [r for r in report.get("rows", []) if r.get("status") == "ok"]
