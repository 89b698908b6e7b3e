"""Color space: sRGB <-> CIE Lab (D65) in float32, grayscale in, colorized out.

Units everywhere: L in 0..100, a/b in Lab units (about -128..127), RGB float in 0..1.
OpenCV's float32 ``cvtColor`` does the conversions (sRGB gamma + D65 white point).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB float (H, W, 3) in 0..1 -> Lab float32 (H, W, 3): L 0..100, a/b in Lab units."""
    rgb = np.ascontiguousarray(rgb, dtype=np.float32)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """Lab float (H, W, 3) -> sRGB float32 (H, W, 3) clipped to 0..1."""
    lab = np.ascontiguousarray(lab, dtype=np.float32)
    return np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), 0.0, 1.0)


def to_float_rgb(image: np.ndarray) -> np.ndarray:
    """Any 8/16-bit or float image, gray (H, W) or (H, W, 1|3) RGB, -> float32 RGB 0..1.

    Alpha must already be split off (see :func:`split_alpha`).
    """
    if image.dtype == np.uint8:
        x = image.astype(np.float32) / 255.0
    elif image.dtype == np.uint16:
        x = image.astype(np.float32) / 65535.0
    else:
        x = np.clip(image.astype(np.float32), 0.0, 1.0)
    if x.ndim == 2:
        x = x[..., None]
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    return x


def split_alpha(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(H, W, 4) RGBA -> (RGB, alpha); any other image -> (image, None)."""
    if image.ndim == 3 and image.shape[-1] == 4:
        return image[..., :3], image[..., 3]
    if image.ndim == 3 and image.shape[-1] == 2:  # gray + alpha
        return image[..., :1], image[..., 1]
    return image, None


def lightness(image: np.ndarray) -> np.ndarray:
    """L channel (H, W) float32 in 0..100 of any image (gray, gray-looking RGB, color RGB).

    A color image gives its own lightness: colorizing it discards its chroma.
    """
    return rgb_to_lab(to_float_rgb(image))[..., 0]


def resize_ab(ab: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Predicted ab (h, w, 2) at model resolution -> (H, W, 2) at the image size (bilinear)."""
    h, w = size_hw
    if ab.shape[:2] == (h, w):
        return ab.astype(np.float32, copy=False)
    return cv2.resize(ab.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def combine(l_full: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """Full-resolution L (H, W) + ab at any resolution (h, w, 2) -> sRGB float32 (H, W, 3) 0..1."""
    ab_full = resize_ab(ab, l_full.shape[:2])
    lab = np.concatenate([l_full[..., None].astype(np.float32), ab_full], axis=-1)
    return lab_to_rgb(lab)


def chroma(rgb: np.ndarray) -> float:
    """Mean chroma sqrt(a^2 + b^2) of an RGB image (float 0..1 or uint8), in Lab units."""
    lab = rgb_to_lab(to_float_rgb(rgb))
    return float(np.mean(np.hypot(lab[..., 1], lab[..., 2])))


@dataclass
class GrayImage:
    """A photo prepared for colorization: its L at full resolution and what to restore after."""

    l: np.ndarray  # (H, W) float32, 0..100
    alpha: np.ndarray | None
    dtype: np.dtype

    @classmethod
    def from_array(cls, image: np.ndarray) -> GrayImage:
        """Image array as decoded (RGB order; gray, RGB or RGBA; 8/16-bit) -> GrayImage."""
        base, alpha = split_alpha(image)
        return cls(l=lightness(base), alpha=alpha, dtype=image.dtype)

    def with_ab(self, ab: np.ndarray) -> np.ndarray:
        """Recombine with predicted ab -> array in the input's dtype, RGB(A) order."""
        rgb = combine(self.l, ab)
        if self.dtype == np.uint16:
            out = np.round(rgb * 65535.0).astype(np.uint16)
        elif self.dtype == np.uint8:
            out = np.round(rgb * 255.0).astype(np.uint8)
        else:
            out = rgb
        if self.alpha is not None:
            out = np.concatenate([out, self.alpha[..., None].astype(out.dtype)], axis=-1)
        return out
