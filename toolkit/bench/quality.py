"""Quality of an artifact on eval photos: vs the color original and vs the FP32 reference.

Per photo: ground truth = the color original (8-bit RGB), input = its L. The artifact's
colorization is scored with MSE (RGB 0..1), PSNR (dB, 8-bit RGB), SSIM, colorfulness and
CIEDE2000 against the ground truth. Against the FP32 reference: PSNR(artifact, FP32) on the
unrounded float outputs, and dPSNR = PSNR_fp32 - PSNR_artifact (both vs ground truth; > 0
means quantization lost quality). Also guards the eval set against calibration images.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecolor import metrics
from edgecolor.color import GrayImage, combine
from edgecolor.pipeline import predict_ab

# Identical outputs have infinite PSNR; capped so means and JSON stay finite (one constant:
# edgecolor.metrics).
PSNR_CAP_DB = metrics.PSNR_CAP_DB
# aHash bits that may differ for the same photo resized / recompressed (measured: 0-2).
AHASH_MAX_BITS = 2
# mean |difference| (0..255) of 32x32 gray versions below which two files are one picture
# (recompressed copies: ~1-3; different photos with colliding aHashes measured >= 36)
SAME_PICTURE_MAX_DIFF = 10.0

# metric -> True when larger is better (decides which image is the worst)
METRICS_HIGHER_BETTER = {
    "mse": False,
    "psnr_db": True,
    "ssim": True,
    "colorfulness": True,
    "ciede2000": False,
    "psnr_vs_fp32_db": True,
    "dpsnr_db": False,
    # vs the FP32 colorization (edgecolor.fidelity): CIEDE2000 mean / p99, colorfulness change
    "de_vs_fp32": False,
    "de_p99_vs_fp32": False,
    "colorfulness_change": True,
}


def colorize_float(runner, rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> the runner's colorization as float32 RGB 0..1 at full size."""
    gray = GrayImage.from_array(rgb)
    return combine(gray.l, predict_ab(runner, gray.l))


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Float RGB 0..1 -> uint8 (rounded, as a saved colorization is)."""
    return np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)


capped_psnr = metrics.capped_psnr  # PSNR in dB capped at PSNR_CAP_DB (one implementation)


def fp32_scores(output: np.ndarray, reference: np.ndarray, full: bool = True) -> dict:
    """The artifact's and the FP32 reference's colorizations (float RGB 0..1, full size) ->
    psnr_vs_fp32_db and, when ``full``, de_vs_fp32 / de_p99_vs_fp32 (CIEDE2000) and
    colorfulness_change, by :func:`edgecolor.fidelity.image_fidelity` (the one scorer).
    """
    from edgecolor.fidelity import image_fidelity

    row = image_fidelity(output, reference, colors=full)
    out = {"psnr_vs_fp32_db": row["psnr_vs_fp32"]}
    if full:
        out.update(de_vs_fp32=row["de_mean"], de_p99_vs_fp32=row["de_p99"],
                   colorfulness_change=row["colorfulness_change"])
    return out


def have_skimage() -> bool:
    """True when scikit-image (SSIM, CIEDE2000; the ``[metrics]`` extra) is installed."""
    import importlib.util

    return importlib.util.find_spec("skimage") is not None


def image_scores(truth: np.ndarray, output: np.ndarray,
                 full: bool = True) -> dict[str, float | None]:
    """Ground truth and colorization (RGB uint8) -> mse, psnr_db, ssim, colorfulness, ciede2000.

    ssim and ciede2000 (scikit-image, about a second per 500 px photo) are None when ``full``
    is False or on a device without scikit-image; the others need NumPy only.
    """
    full = full and have_skimage()
    return {
        "mse": metrics.mse(truth, output),
        "psnr_db": capped_psnr(truth, output),
        "ssim": metrics.ssim(truth, output) if full else None,
        "colorfulness": metrics.colorfulness(output),
        "ciede2000": metrics.ciede2000(truth, output) if full else None,
    }


def add_reference(per_image: list[dict], reference: list[dict]) -> list[dict]:
    """Per-image scores + the FP32 reference's per-image scores (same images, same order)
    -> scores with ``dpsnr_db`` = PSNR_fp32 - PSNR_artifact added (psnr_vs_fp32_db is
    computed where both outputs exist, in the measuring process).
    """
    ref = {r["image"]: r for r in reference}
    out = []
    for row in per_image:
        row = dict(row)
        if row["image"] in ref:
            row["dpsnr_db"] = ref[row["image"]]["psnr_db"] - row["psnr_db"]
        out.append(row)
    return out


def summarize_quality(per_image: list[dict]) -> dict:
    """Per-image score dicts (with "image") -> means over the set + the worst image per metric.

    -> {"n_images", <metric>: mean, ..., "worst": {<metric>: {"image", "value"}},
    "ci95": {<metric>: [lo, hi]}} (95% bootstrap interval over the photos for PSNR, ΔPSNR,
    PSNR and ΔE00 vs FP32); metrics missing from some images are averaged over the images
    that have them.
    """
    summary: dict = {"n_images": len(per_image), "worst": {}}
    for name, higher_better in METRICS_HIGHER_BETTER.items():
        rows = [r for r in per_image if r.get(name) is not None and math.isfinite(r[name])]
        if not rows:
            continue
        summary[name] = float(np.mean([r[name] for r in rows]))
        pick = min if higher_better else max
        worst = pick(rows, key=lambda r, k=name: r[k])
        summary["worst"][name] = {"image": worst["image"], "value": worst[name]}
    from edgecolor.fidelity import bootstrap

    ci = {}
    for name in ("psnr_db", "psnr_vs_fp32_db", "dpsnr_db", "de_vs_fp32"):
        values = [r[name] for r in per_image if r.get(name) is not None]
        if len(values) > 1:
            est = bootstrap(values)
            ci[name] = [est.lo, est.hi]
    if ci:
        summary["ci95"] = ci  # bootstrap over the photos (edgecolor.fidelity)
    return summary


@dataclass(frozen=True)
class Overlap:
    """An eval photo that matches a calibration photo of an artifact."""

    image: str  # eval file name
    artifact: str  # artifact whose calibration included it
    how: str  # "sha256" | "digest" | "ahash (N bits)"


def image_sha256(path: str | Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _small_gray(path: str | Path) -> np.ndarray:
    """A photo as 32x32 gray float (area average): enough to tell two photos apart."""
    import cv2

    from edgecolor.imageio import read_rgb

    rgb = read_rgb(path).astype(np.float32)
    return cv2.resize(rgb.mean(axis=-1), (32, 32), interpolation=cv2.INTER_AREA)


def same_picture(a: str | Path, b: str | Path, max_mean_diff: float = SAME_PICTURE_MAX_DIFF
                 ) -> bool:
    """True when two photo files show the same picture (resized / recompressed copies):
    mean absolute difference of their 32x32 gray versions <= ``max_mean_diff`` (0..255).
    """
    return float(np.mean(np.abs(_small_gray(a) - _small_gray(b)))) <= max_mean_diff


class _CalibFolder:
    """The calibration photos still on disk (the manifest's folder), indexed by aHash, so that
    an aHash match can be confirmed by looking at both pictures."""

    def __init__(self) -> None:
        self._index: dict[str, list[tuple[str, Path]] | None] = {}

    def photos(self, folder: str | None) -> list[tuple[str, Path]] | None:
        """[(aHash, path)] of the folder's photos; None when the folder is not here."""
        if not folder:
            return None
        if folder not in self._index:
            from edgecolor.calibration.ahash import average_hash
            from edgecolor.imageio import IMAGE_SUFFIXES, ImageError, read_rgb

            root = Path(folder)
            if not root.is_dir():
                self._index[folder] = None
            else:
                found = []
                for p in sorted(root.iterdir()):
                    if p.suffix.lower() in IMAGE_SUFFIXES:
                        try:
                            found.append((average_hash(read_rgb(p)), p))
                        except ImageError:
                            continue
                self._index[folder] = found
        return self._index[folder]


def calibration_overlap(images: dict[str, dict], manifests: dict[str, dict],
                        max_bits: int = AHASH_MAX_BITS) -> list[Overlap]:
    """Which eval photos were used to calibrate which artifacts.

    images: eval name -> {"sha256", "ahash", "path" (optional)}; manifests: artifact name ->
    manifest. A photo matches when its sha256 is in calibration["image_sha256"] (when
    recorded), when the whole eval set has the calibration digest, or when its aHash is within
    ``max_bits`` of a calibration photo's (same photo resized or recompressed). An aHash match
    is confirmed by comparing the pictures when the calibration folder is on this machine
    (8x8 hashes of different photos with the same layout can collide); otherwise it counts.
    """
    from edgecolor.calibration.ahash import hamming

    eval_digest = hashlib.sha256(
        "".join(sorted(v["sha256"] for v in images.values())).encode()).hexdigest()
    folders = _CalibFolder()
    found: list[Overlap] = []
    for artifact, manifest in manifests.items():
        calib = manifest.get("calibration") or {}
        shas = set(calib.get("image_sha256") or [])
        hashes = list(calib.get("image_ahash") or [])
        for name, info in images.items():
            if info["sha256"] in shas:
                found.append(Overlap(name, artifact, "sha256"))
            elif calib.get("digest") == eval_digest:
                found.append(Overlap(name, artifact, "digest"))
            elif hashes:
                bits = min(hamming(info["ahash"], h) for h in hashes)
                if bits > max_bits:
                    continue
                on_disk = folders.photos(calib.get("folder")) if info.get("path") else None
                if on_disk is None:
                    found.append(Overlap(name, artifact, f"ahash ({bits} bits)"))
                    continue
                close = [p for h, p in on_disk if h in hashes
                         and hamming(info["ahash"], h) <= max_bits]
                if any(same_picture(info["path"], p) for p in close):
                    found.append(Overlap(name, artifact, f"ahash ({bits} bits), same picture"))
    return found
