"""Scoring a quantized model on the validation images: PSNR vs ground truth and vs FP32.

The validation images are the calibration folder's held-out split
(``CalibrationSet.holdout_paths``): never used to calibrate. Each image is colorized the way
users see it (the photo's own full-resolution L, predicted ab resized up) and compared with
the original color photo (ground truth) and with the FP32 Keras model's colorization, by
:mod:`edgecolor.fidelity` (the one scoring function: PSNR vs FP32, ΔE00 mean / p99 vs FP32,
colorfulness change, ΔPSNR vs the photos, each with a bootstrap interval over the photos).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecolor.fidelity import Fidelity, FidelityScorer, PhotoSet
from edgecolor.metrics import PSNR_CAP_DB, capped_psnr
from edgecolor.spec import ModelSpec

PSNR_CAP = PSNR_CAP_DB  # kept for callers of the old name

Infer = Callable[[list[np.ndarray]], np.ndarray]


@dataclass
class Score:
    """Validation result of one model variant (dB and ΔE00 units, means over the images).

    psnr: vs ground truth; psnr_vs_fp32: vs the FP32 model's colorization; dpsnr: the FP32
    model's PSNR minus ``psnr`` (the quality the quantization cost); de_mean / de_p99: mean
    and 99th-percentile CIEDE2000 vs the FP32 colorization; colorfulness_change: vs FP32's
    (None when scored without colors). ci: figure -> [lo, hi] bootstrap interval (95%).
    """

    psnr: float
    psnr_vs_fp32: float
    dpsnr: float
    de_mean: float | None = None
    de_p99: float | None = None
    colorfulness_change: float | None = None
    ci: dict = field(default_factory=dict)

    @classmethod
    def from_fidelity(cls, fid: Fidelity) -> Score:
        """A :class:`edgecolor.fidelity.Fidelity` (with ground truth) -> Score."""
        ci = {}
        for name in ("psnr_vs_fp32", "dpsnr", "de_mean", "de_p99", "colorfulness_change"):
            est = getattr(fid, name)
            if est is not None:
                ci[name] = [est.lo, est.hi]
        return cls(psnr=fid.value("psnr"), psnr_vs_fp32=fid.value("psnr_vs_fp32"),
                   dpsnr=fid.value("dpsnr"), de_mean=fid.value("de_mean"),
                   de_p99=fid.value("de_p99"),
                   colorfulness_change=fid.value("colorfulness_change"), ci=ci)

    def to_dict(self) -> dict:
        """JSON-ready dict, rounded to 0.001 (figures not measured are left out)."""
        d = {k: round(v, 3) for k, v in (("psnr", self.psnr),
                                          ("psnr_vs_fp32", self.psnr_vs_fp32),
                                          ("dpsnr", self.dpsnr), ("de_mean", self.de_mean),
                                          ("de_p99", self.de_p99),
                                          ("colorfulness_change", self.colorfulness_change))
             if v is not None}
        if self.ci:
            d["ci95"] = {k: [round(lo, 3), round(hi, 3)] for k, (lo, hi) in self.ci.items()}
        return d


class ValidationSet(PhotoSet):
    """Validation photos of one model spec: ground truth RGB, full-res L, network inputs."""

    def __init__(self, paths: list[Path], spec: ModelSpec) -> None:
        if not paths:
            raise ValueError("no validation images: the calibration folder needs at least 2 "
                             "images (one is held out to validate the quantized model)")
        super().__init__(paths, spec)

    @classmethod
    def from_calibration(cls, calib) -> ValidationSet:
        """The held-out split of a CalibrationSet."""
        return cls(list(calib.holdout_paths), calib.spec)


def mean_psnr(images: list[np.ndarray], references: list[np.ndarray]) -> float:
    """Mean per-image PSNR in dB (identical images count as PSNR_CAP_DB)."""
    values = [capped_psnr(a, b) for a, b in zip(images, references, strict=True)]
    return float(np.mean(values)) if values else math.nan


class Validator:
    """Scores model variants against the ground truth and the FP32 reference.

    reference: the FP32 model's ``infer`` (Keras); its colorizations are computed once.
    colors: also measure ΔE00 and colorfulness (off for sensitivity probes: PSNR only).
    """

    def __init__(self, vset: ValidationSet, reference: Infer, colors: bool = True) -> None:
        self.vset = vset
        self.scorer = FidelityScorer(vset, reference)
        self.reference_images = self.scorer.reference_images
        self.fp32_psnr = self.scorer.fp32_psnr
        self.colors = colors
        self.last: Fidelity | None = None  # the full result of the latest score()

    def score(self, infer: Infer, decode: Callable | None = None,
              colors: bool | None = None) -> Score:
        """A variant's ``infer`` (and ``decode`` when its output differs) -> its :class:`Score`.

        colors: override the validator's ``colors`` for this call.
        """
        self.last = self.scorer.score(infer, decode,
                                      self.colors if colors is None else colors)
        return Score.from_fidelity(self.last)


def keras_infer(model, spec: ModelSpec) -> Infer:
    """A Keras model -> ``infer`` (list of input batches -> raw output, float32)."""
    from edgecolor.runtimes.keras import KerasRunner

    return KerasRunner.from_model(model, spec).infer
