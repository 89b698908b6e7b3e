"""Perceptual average hash (aHash) of a photo: spots the same image resized or recompressed.

Recorded per calibration image in each manifest so that a later evaluation can prove it did
not measure quality on images the model was calibrated on.
"""

from __future__ import annotations

import cv2
import numpy as np


def average_hash(rgb_or_gray: np.ndarray) -> str:
    """Image (H, W) gray or (H, W, 3|4) RGB(A), any dtype -> 64-bit aHash as 16 hex chars.

    The image is reduced to 8x8 gray (area average); each bit says whether a cell is
    brighter than the mean. Robust to resizing and JPEG recompression.
    """
    img = np.asarray(rgb_or_gray)
    if img.ndim == 3 and img.shape[-1] == 4:
        img = img[..., :3]
    img = img.astype(np.float32)
    gray = img.mean(axis=-1) if img.ndim == 3 else img
    small = cv2.resize(gray, (8, 8), interpolation=cv2.INTER_AREA)
    bits = (small > small.mean()).ravel()
    value = 0
    for b in bits:
        value = (value << 1) | int(b)
    return f"{value:016x}"


def hamming(a: str, b: str) -> int:
    """Number of differing bits between two hex hashes of equal length (0 = same image)."""
    if len(a) != len(b):
        raise ValueError(f"hashes differ in length: {a!r} vs {b!r}")
    return bin(int(a, 16) ^ int(b, 16)).count("1")
