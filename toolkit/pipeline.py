"""Colorize a photo with any runner: L from the photo, model inputs from the spec, ab back.

Used by ``edgecolor colorize``, the benchmark's end-to-end timing and the camera.
"""

from __future__ import annotations

import numpy as np

from edgecolor.color import GrayImage


def predict_ab(runner, l_full: np.ndarray) -> np.ndarray:
    """Full-resolution L (H, W) 0..100 -> predicted ab (h, w, 2) at model resolution, Lab units."""
    spec = runner.spec
    return spec.decode(runner.infer(spec.make_inputs(l_full)))


def colorize_array(runner, image: np.ndarray) -> np.ndarray:
    """Decoded photo (gray/RGB/RGBA, 8/16-bit) -> colorized array of the same shape and dtype.

    The photo's own full-resolution L is kept; only ab comes from the model (resized up).
    """
    gray = GrayImage.from_array(image)
    return gray.with_ab(predict_ab(runner, gray.l))
