"""Image quality metrics: one function per metric, two images in, one float out.

Every function takes RGB images as uint8 (H, W, 3) in 0..255 or float (H, W, 3) in 0..1
(both images the same shape; the two kinds may be mixed). MSE, PSNR, colorfulness and
CIEDE2000 need only NumPy (they run on devices and on a converting host without the
``[metrics]`` extra); SSIM needs scikit-image, the ``[metrics]`` extra, imported only when
called.

This module is the one home of PSNR: everything that reports one (the quick check, the
quantization budget, ``bench``, the ARM lane) calls :func:`psnr` or :func:`capped_psnr`.
"""

from __future__ import annotations

import math

import numpy as np

from edgecolor.color import rgb_to_lab

_METRICS_EXTRA = "pip install 'edgecolor[metrics]'"
# dB reported for identical images (PSNR is infinite there), so means and JSON stay finite
PSNR_CAP_DB = 100.0


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


def capped_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """:func:`psnr` in dB capped at PSNR_CAP_DB, so identical images give a finite number."""
    return min(psnr(a, b), PSNR_CAP_DB)


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


def ciede2000_map(lab_a: np.ndarray, lab_b: np.ndarray) -> np.ndarray:
    """Per-pixel CIEDE2000 (Delta E 00) of two Lab arrays (..., 3) -> array (...) of ΔE.

    L 0..100, ab in Lab units; kL = kC = kH = 1. NumPy only (Sharma, Wu & Dalal 2005).
    """
    a = np.asarray(lab_a, np.float64)
    b = np.asarray(lab_b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"Lab arrays differ in shape: {a.shape} vs {b.shape}")
    l1, a1, b1 = a[..., 0], a[..., 1], a[..., 2]
    l2, a2, b2 = b[..., 0], b[..., 1], b[..., 2]
    c_bar = 0.5 * (np.hypot(a1, b1) + np.hypot(a2, b2))
    c7 = c_bar ** 7
    g = 0.5 * (1.0 - np.sqrt(c7 / (c7 + 25.0 ** 7)))
    a1p, a2p = (1.0 + g) * a1, (1.0 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360.0
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360.0
    dl = l2 - l1
    dc = c2p - c1p
    zero = (c1p * c2p) == 0
    dh = h2p - h1p
    dh = np.where(dh > 180.0, dh - 360.0, np.where(dh < -180.0, dh + 360.0, dh))
    dh = np.where(zero, 0.0, dh)
    dhh = 2.0 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh) / 2.0)
    l_bar = 0.5 * (l1 + l2)
    cp_bar = 0.5 * (c1p + c2p)
    hsum = h1p + h2p
    h_bar = np.where(np.abs(h1p - h2p) <= 180.0, 0.5 * hsum,
                     np.where(hsum < 360.0, 0.5 * (hsum + 360.0), 0.5 * (hsum - 360.0)))
    h_bar = np.where(zero, hsum, h_bar)
    t = (1.0 - 0.17 * np.cos(np.radians(h_bar - 30.0)) + 0.24 * np.cos(np.radians(2 * h_bar))
         + 0.32 * np.cos(np.radians(3 * h_bar + 6.0))
         - 0.20 * np.cos(np.radians(4 * h_bar - 63.0)))
    d_theta = 30.0 * np.exp(-(((h_bar - 275.0) / 25.0) ** 2))
    cp7 = cp_bar ** 7
    r_c = 2.0 * np.sqrt(cp7 / (cp7 + 25.0 ** 7))
    l50 = (l_bar - 50.0) ** 2
    s_l = 1.0 + 0.015 * l50 / np.sqrt(20.0 + l50)
    s_c = 1.0 + 0.045 * cp_bar
    s_h = 1.0 + 0.015 * cp_bar * t
    r_t = -np.sin(np.radians(2.0 * d_theta)) * r_c
    tl, tc, th = dl / s_l, dc / s_c, dhh / s_h
    return np.sqrt(np.maximum(tl * tl + tc * tc + th * th + r_t * tc * th, 0.0))


def ciede2000_lab(lab_a: np.ndarray, lab_b: np.ndarray) -> float:
    """Mean CIEDE2000 color difference of two Lab arrays (..., 3) (L 0..100, ab Lab units)."""
    return float(np.mean(ciede2000_map(lab_a, lab_b)))


def ciede2000_pixels(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Two RGB images -> per-pixel CIEDE2000 (H, W) (Lab by :func:`edgecolor.color.rgb_to_lab`)."""
    a, b = _pair(a, b)
    return ciede2000_map(rgb_to_lab(a.astype(np.float32)), rgb_to_lab(b.astype(np.float32)))


def ciede2000(a: np.ndarray, b: np.ndarray) -> float:
    """Mean CIEDE2000 (Delta E 00) of two RGB images (Lab by :func:`edgecolor.color.rgb_to_lab`).

    0 for identical images; about 2.3 is a just-noticeable difference. NumPy only.
    """
    return float(np.mean(ciede2000_pixels(a, b)))
