"""Temporal stability of live colorization: EMA of the predicted ab, reset on a scene cut.

A colorization model sees each frame alone, so sensor noise makes its colors flicker.
The smoother blends each new ab prediction into a running average (weight ``alpha`` for
the new frame); when the scene changes (mean absolute change of a small L thumbnail above
``cut_threshold`` L units) the average restarts, so a cut never smears old colors onto
the new scene. Flicker is the mean absolute ab change between consecutive frames (Lab units).
"""

from __future__ import annotations

import cv2
import numpy as np

# side of the L thumbnail compared for scene cuts: averages sensor noise away, cheap
THUMB = 32


def l_thumbnail(l_full: np.ndarray) -> np.ndarray:
    """Full-resolution L (H, W) 0..100 -> (32, 32) float32 area-averaged thumbnail."""
    return cv2.resize(l_full.astype(np.float32, copy=False), (THUMB, THUMB),
                      interpolation=cv2.INTER_AREA)


def mean_abs_change(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two arrays of the same shape (their units)."""
    return float(np.mean(np.abs(a.astype(np.float32) - b.astype(np.float32))))


class AbSmoother:
    """EMA of ab over frames with scene-cut reset.

    alpha: weight of the newest prediction (0 < alpha <= 1; 1 = no smoothing);
    cut_threshold: mean |dL| of the 32x32 L thumbnail (L units) that counts as a scene cut.
    ``cuts`` counts the resets after the first frame.
    """

    def __init__(self, alpha: float = 0.4, cut_threshold: float = 10.0,
                 enabled: bool = True) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"--smooth-alpha {alpha}: must be in (0, 1] (1 = no smoothing)")
        self.alpha = float(alpha)
        self.cut_threshold = float(cut_threshold)
        self.enabled = enabled
        self.cuts = 0
        self._ab: np.ndarray | None = None
        self._thumb: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the running average (the next frame starts afresh)."""
        self._ab = None
        self._thumb = None

    def __call__(self, l_full: np.ndarray, ab: np.ndarray) -> np.ndarray:
        """Frame's full-res L (H, W) 0..100 + its predicted ab (h, w, 2) -> smoothed ab."""
        if not self.enabled:
            return ab
        thumb = l_thumbnail(l_full)
        cut = (self._ab is None or self._ab.shape != ab.shape
               or mean_abs_change(thumb, self._thumb) > self.cut_threshold)
        if cut:
            if self._ab is not None:
                self.cuts += 1
            self._ab = ab.astype(np.float32, copy=True)
        else:
            self._ab += self.alpha * (ab.astype(np.float32) - self._ab)
        self._thumb = thumb
        return self._ab.copy()


class FlickerMeter:
    """Running flicker: mean absolute ab change between consecutive frames, Lab units."""

    def __init__(self) -> None:
        self._prev: np.ndarray | None = None
        self._total = 0.0
        self.pairs = 0

    def update(self, ab: np.ndarray) -> None:
        """Add the next frame's ab (h, w, 2); frames of another shape restart the pairing."""
        if self._prev is not None and self._prev.shape == ab.shape:
            self._total += mean_abs_change(ab, self._prev)
            self.pairs += 1
        self._prev = ab.astype(np.float32, copy=True)

    @property
    def value(self) -> float:
        """Mean |delta ab| over all consecutive pairs so far (0 before two frames)."""
        return self._total / self.pairs if self.pairs else 0.0


def flicker(ab_frames: list[np.ndarray]) -> float:
    """Sequence of ab (h, w, 2) -> mean absolute ab change between consecutive frames."""
    meter = FlickerMeter()
    for ab in ab_frames:
        meter.update(ab)
    return meter.value
