"""Colorize a photo with any runner: L from the photo, model inputs from the spec, ab back.

Used by ``edgecolor colorize``, the folder engine, the benchmark's end-to-end timing and the
camera. 8-bit photos take the fast exact path of :mod:`edgecolor.color_u8` (within 1 level
of the float reference); 16-bit and float photos take the float reference of
:mod:`edgecolor.color`. Per photo the full-resolution L is computed once; the model input is
one area resize of it to the model's size (plus the spec's normalization), and the ab is
upsampled once, straight into the final conversion.
"""

from __future__ import annotations

import numpy as np

from edgecolor.color import GrayImage, split_alpha
from edgecolor.color_u8 import lab_to_rgb_u8, lightness_u8, with_alpha


def predict_ab(runner, l_full: np.ndarray) -> np.ndarray:
    """Full-resolution L (H, W) 0..100 -> predicted ab (h, w, 2) at model resolution, Lab units."""
    spec = runner.spec
    return spec.decode(runner.infer(spec.make_inputs(l_full)))


def colorize_array(runner, image: np.ndarray) -> np.ndarray:
    """Decoded photo (gray/RGB/RGBA, 8/16-bit) -> colorized array of the same shape and dtype.

    The photo's own full-resolution L is kept; only ab comes from the model (resized up).
    Gray inputs come back RGB (RGBA with their alpha).
    """
    if image.dtype == np.uint8:
        base, alpha = split_alpha(image)
        l_full = lightness_u8(base)
        return with_alpha(lab_to_rgb_u8(l_full, predict_ab(runner, l_full)), alpha)
    return colorize_array_reference(runner, image)


def colorize_array_reference(runner, image: np.ndarray) -> np.ndarray:
    """The float reference path for any dtype (the path 8-bit photos took before the fast
    path; kept for 16-bit/float photos and for the benchmark's before/after)."""
    gray = GrayImage.from_array(image)
    return gray.with_ab(predict_ab(runner, gray.l))
