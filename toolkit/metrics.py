"""Image quality metrics: one function per metric, two images in, one float out.

Every function takes RGB images as uint8 (H, W, 3) in 0..255 or float (H, W, 3) in 0..1
(both images the same shape; the two kinds may be mixed). MSE, PSNR and colorfulness need
only NumPy (they run on devices); SSIM and CIEDE2000 need scikit-image, the ``[metrics]``
extra, imported only when called.
"""

from __future__ import annotations

import math

import numpy as np

from edgecolor.color import rgb_to_lab

_METRICS_EXTRA = "pip install 'edgecolor[metrics]'"


def _float01(img: np.ndarray) -> np.ndarray:
    """uint8 0..255 or float 0..1 -> float64 0..1."""
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img.astype(np.float64) / 255.0
    if img.dtype == np.uint16:
        return img.astype(np.float64) / 65535.0
    return img.astype(np.float64)


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = _float01(a), _float01(b)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape} (resize one first)")
    return a, b


def _skimage(module: str):
    import importlib

    try:
        return importlib.import_module(f"skimage.{module}")
    except ImportError as e:
        raise RuntimeError(f"scikit-image is not installed: {_METRICS_EXTRA}") from e


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error of two RGB images, computed on RGB in 0..1 (result in 0..1)."""
    a, b = _pair(a, b)
    return float(np.mean((a - b) ** 2))


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB on 8-bit RGB (float inputs are scaled by 255).

    Identical images give ``math.inf``: callers format it (e.g. as "inf").
    """
    a, b = _pair(a, b)
    err = float(np.mean((a * 255.0 - b * 255.0) ** 2))
    if err == 0.0:
        return math.inf
    return 10.0 * math.log10(peak * peak / err)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean structural similarity (scikit-image, per RGB channel, data range 1) in -1..1.

    Both sides must be at least 7 px (the SSIM window). Needs the ``[metrics]`` extra.
    """
    a, b = _pair(a, b)
    sk_metrics = _skimage("metrics")
    return float(sk_metrics.structural_similarity(a, b, channel_axis=-1, data_range=1.0))


def colorfulness(img: np.ndarray) -> float:
    """Hasler & Suesstrunk (2003) colorfulness of one RGB image, on the 8-bit scale.

    M = sqrt(std(rg)^2 + std(yb)^2) + 0.3 * sqrt(mean(rg)^2 + mean(yb)^2) with rg = R - G,
    yb = (R + G) / 2 - B. A gray image gives 0; typical photos 20..110.
    """
    x = _float01(img) * 255.0
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    sigma = math.hypot(float(np.std(rg)), float(np.std(yb)))
    mu = math.hypot(float(np.mean(rg)), float(np.mean(yb)))
    return sigma + 0.3 * mu


def ciede2000_lab(lab_a: np.ndarray, lab_b: np.ndarray) -> float:
    """Mean CIEDE2000 color difference of two Lab arrays (..., 3) (L 0..100, ab Lab units)."""
    sk_color = _skimage("color")
    lab_a = np.asarray(lab_a, np.float64)
    lab_b = np.asarray(lab_b, np.float64)
    return float(np.mean(sk_color.deltaE_ciede2000(lab_a, lab_b)))


def ciede2000(a: np.ndarray, b: np.ndarray) -> float:
    """Mean CIEDE2000 (Delta E 00) of two RGB images (Lab by :func:`edgecolor.color.rgb_to_lab`).

    0 for identical images; about 2.3 is a just-noticeable difference. Needs ``[metrics]``.
    """
    a, b = _pair(a, b)
    return ciede2000_lab(rgb_to_lab(a.astype(np.float32)), rgb_to_lab(b.astype(np.float32)))
