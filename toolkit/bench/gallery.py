"""The pictures of a bench report: per eval photo the original, its gray input, the FP32
colors, each artifact's colors and a CIEDE2000 heat map of artifact vs FP32.

Written into ``<report folder>/report_files/`` (beside report.json), bounded in size: every
picture is a JPEG at most :data:`FULL_SIDE` px on its long side plus a thumbnail of
:data:`THUMB_SIDE` px; an artifact keeps its :data:`MAX_ARTIFACT_PHOTOS` worst photos by ΔE vs
FP32 (the FP32 reference keeps every photo, so each artifact's worst have their FP32 picture).
Photos are ranked by the full-resolution ΔE00 the bench scores (``de_vs_fp32``); the heat map
is the per-pixel ΔE00 (:func:`edgecolor.metrics.ciede2000_pixels`) at the saved size.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edgecolor import metrics
from edgecolor.imageio import atomic_write_bytes

FILES_DIR = "report_files"  # the sibling folder of report.json / report.html
FULL_SIDE = 384  # px, long side of the "full size" pictures
THUMB_SIDE = 128  # px, long side of thumbnails
MAX_ARTIFACT_PHOTOS = 12  # worst photos kept per artifact
MAX_REFERENCE_PHOTOS = 200  # photos kept for the FP32 reference / originals
HEAT_MAX_DE = 10.0  # ΔE00 at the top of the heat map's scale (larger values clip)
# the scale is sqrt(ΔE / HEAT_MAX_DE): int8's typical 0.2-1 ΔE00 shows, 2.3 (just noticeable)
# sits near the middle
HEAT_TICKS = (0.0, 0.5, 1.0, 2.3, 5.0, 10.0)
JPEG_QUALITY = 88

# heat map colors (scale position 0 -> 1): black, purple, red, orange, yellow ("inferno"-like)
HEAT_STOPS = ((0.0, (0, 0, 4)), (0.25, (87, 16, 110)), (0.5, (188, 55, 84)),
              (0.75, (249, 142, 9)), (0.9, (245, 219, 76)), (1.0, (252, 255, 164)))


def slug(name: str) -> str:
    """Artifact / photo name -> a safe file-name part ([A-Za-z0-9._-])."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "x"


def fit(rgb: np.ndarray, side: int) -> np.ndarray:
    """Image (H, W, C) -> the same with its long side at most ``side`` px (area resampling)."""
    h, w = rgb.shape[:2]
    scale = side / max(h, w)
    if scale >= 1.0:
        return rgb
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def heat_rgb(de: np.ndarray, vmax: float = HEAT_MAX_DE) -> np.ndarray:
    """ΔE00 map (H, W) -> uint8 RGB heat map (H, W, 3) on the fixed scale 0..vmax (position
    :func:`heat_position`)."""
    t = heat_position(np.nan_to_num(de.astype(np.float32)), vmax)
    xs = [s[0] for s in HEAT_STOPS]
    out = np.stack([np.interp(t, xs, [s[1][c] for s in HEAT_STOPS]) for c in range(3)], -1)
    return np.round(out).astype(np.uint8)


def heat_position(de, vmax: float = HEAT_MAX_DE):
    """ΔE00 (scalar or array) -> position on the heat scale, sqrt(ΔE / vmax) clipped to 0..1."""
    return np.sqrt(np.clip(np.asarray(de, np.float32) / vmax, 0.0, 1.0))


def heat_css_gradient() -> str:
    """The heat map's scale as a CSS linear-gradient (for the legend)."""
    stops = ", ".join(f"rgb{c} {p * 100:.0f}%" for p, c in HEAT_STOPS)
    return f"linear-gradient(to right, {stops})"


def _write(path: Path, rgb: np.ndarray) -> None:
    img = rgb[..., ::-1] if rgb.ndim == 3 else rgb
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(img),
                           [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 JPEG
        raise ValueError(f"cannot encode {path}")
    atomic_write_bytes(path, buf.tobytes())


def save_pair(folder: Path, stem: str, rgb: np.ndarray, rel: str) -> dict[str, str]:
    """Write ``stem.jpg`` (≤ FULL_SIDE) and ``stem.thumb.jpg`` (≤ THUMB_SIDE) into ``folder``
    -> {"full", "thumb"}: their paths relative to the report folder (``rel`` = the folder's)."""
    full = fit(rgb, FULL_SIDE)
    _write(folder / f"{stem}.jpg", full)
    _write(folder / f"{stem}.thumb.jpg", fit(full, THUMB_SIDE))
    return {"full": f"{rel}/{stem}.jpg", "thumb": f"{rel}/{stem}.thumb.jpg"}


def save_photos(images: dict[str, dict], root: str | Path) -> dict[str, dict]:
    """Eval photos {name: {"path"}} -> their original and gray (L only) pictures in
    ``root/photos/`` -> {name: {"original": {full, thumb}, "gray": {full, thumb}}}; paths are
    relative to root's parent (the report folder). An unreadable photo is left out."""
    from edgecolor.color import combine, lightness
    from edgecolor.imageio import ImageError, read_rgb

    root = Path(root)
    folder, rel = root / "photos", f"{root.name}/photos"
    saved: dict[str, dict] = {}
    for name, info in list(images.items())[:MAX_REFERENCE_PHOTOS]:
        try:
            rgb = fit(read_rgb(info["path"]), FULL_SIDE)
        except (ImageError, OSError):
            continue
        l_full = lightness(rgb)
        gray = combine(l_full, np.zeros((*l_full.shape, 2), np.float32))  # L with ab = 0
        stem = slug(name)
        saved[name] = {"original": save_pair(folder, f"{stem}.orig", rgb, rel),
                       "gray": save_pair(folder, f"{stem}.gray",
                                         np.round(gray * 255.0).astype(np.uint8), rel)}
    return saved


@dataclass
class _Pending:
    name: str
    colors: np.ndarray  # uint8 RGB at ≤ FULL_SIDE
    heat: np.ndarray | None
    de: float | None
    rank: float  # larger = worse


@dataclass
class GallerySaver:
    """Collects one artifact's colorizations in the measuring process, then writes the worst.

    root: the report's ``report_files`` folder; name: this artifact's sub-folder; keep_all:
    keep every photo (the FP32 reference), else the :data:`MAX_ARTIFACT_PHOTOS` worst; heat:
    compute ΔE maps vs the reference outputs when given.
    """

    root: str
    name: str
    keep_all: bool = False
    heat: bool = True
    _pending: list[_Pending] = field(default_factory=list)

    def add(self, photo: str, out: np.ndarray, reference: np.ndarray | None,
            scores: dict | None = None) -> None:
        """One photo's float RGB output (H, W, 3, 0..1), the FP32 one (or None) and its bench
        scores (ranked by de_vs_fp32, else psnr_vs_fp32_db, else psnr_db: worst first)."""
        scores = scores or {}
        colors = fit(np.clip(out, 0.0, 1.0).astype(np.float32), FULL_SIDE)
        heat = None
        if reference is not None and self.heat:
            ref = fit(np.clip(reference, 0.0, 1.0).astype(np.float32), FULL_SIDE)
            heat = heat_rgb(metrics.ciede2000_pixels(colors, ref))
        de = scores.get("de_vs_fp32")
        if de is not None:
            rank = float(de)
        elif scores.get("psnr_vs_fp32_db") is not None:
            rank = -1000.0 - float(scores["psnr_vs_fp32_db"])
        else:
            rank = -1e6 - float(scores.get("psnr_db") or 0.0)
        colors8 = np.round(colors * 255.0).astype(np.uint8)
        self._pending.append(_Pending(photo, colors8, heat, de, rank))

    def finish(self) -> dict:
        """Write the kept photos -> {"dir", "heat_max_de", "n", "kept", "order", "photos":
        {name: {"colors": {full, thumb}, "heat": {full, thumb} | None, "de_vs_fp32"}}}, worst
        first in "order". A folder that cannot be written gives {"error": one line} instead:
        the pictures never fail the artifact's numbers."""
        try:
            return self._write()
        except OSError as e:
            return {"error": f"{self.root}: pictures not saved ({e.strerror or e})"}

    def _write(self) -> dict:
        folder = Path(self.root) / slug(self.name)
        rel = f"{Path(self.root).name}/{slug(self.name)}"
        limit = MAX_REFERENCE_PHOTOS if self.keep_all else MAX_ARTIFACT_PHOTOS
        worst = sorted(self._pending, key=lambda p: -p.rank)[:limit]
        photos = {}
        for p in worst:
            stem = slug(p.name)
            photos[p.name] = {
                "colors": save_pair(folder, f"{stem}.colors", p.colors, rel),
                "heat": (save_pair(folder, f"{stem}.heat", p.heat, rel)
                         if p.heat is not None else None),
                "de_vs_fp32": p.de if p.de is None or math.isfinite(p.de) else None,
            }
        return {"dir": rel, "heat_max_de": HEAT_MAX_DE, "n": len(self._pending),
                "kept": len(photos), "order": [p.name for p in worst], "photos": photos}
