"""Scoring a quantized model on the validation images: PSNR vs ground truth and vs FP32.

The validation images are the calibration folder's held-out split
(``CalibrationSet.holdout_paths``): never used to calibrate. Each image is colorized the way
users see it (the photo's own full-resolution L, predicted ab resized up) and compared with
the original color photo (ground truth) and with the FP32 Keras model's colorization.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgecolor.color import combine, lightness
from edgecolor.imageio import read_rgb
from edgecolor.metrics import psnr
from edgecolor.spec import ModelSpec

PSNR_CAP = 100.0  # dB reported for identical images (PSNR is infinite there)

Infer = Callable[[list[np.ndarray]], np.ndarray]


@dataclass
class Score:
    """Validation result of one model variant (all in dB, means over the images).

    psnr: vs ground truth; psnr_vs_fp32: vs the FP32 model's colorization; dpsnr: the FP32
    model's PSNR minus ``psnr`` (the quality the quantization cost).
    """

    psnr: float
    psnr_vs_fp32: float
    dpsnr: float

    def to_dict(self) -> dict:
        """JSON-ready dict, rounded to 0.001 dB."""
        return {k: round(v, 3) for k, v in asdict(self).items()}


class ValidationSet:
    """Validation photos of one model spec: ground truth RGB, full-res L, network inputs."""

    def __init__(self, paths: list[Path], spec: ModelSpec) -> None:
        if not paths:
            raise ValueError("no validation images: the calibration folder needs at least 2 "
                             "images (one is held out to validate the quantized model)")
        self.paths = [Path(p) for p in paths]
        self.spec = spec
        self.truth = [read_rgb(p).astype(np.float32) / 255.0 for p in self.paths]
        self.lightness = [lightness(rgb) for rgb in self.truth]
        self.inputs = [spec.make_inputs(l_full) for l_full in self.lightness]

    @classmethod
    def from_calibration(cls, calib) -> ValidationSet:
        """The held-out split of a CalibrationSet."""
        return cls(list(calib.holdout_paths), calib.spec)

    def __len__(self) -> int:
        return len(self.paths)

    def colorize(self, infer: Infer, decode: Callable | None = None) -> list[np.ndarray]:
        """Run ``infer`` on every image -> colorized RGB float32 (H, W, 3) 0..1, full res.

        decode: raw output -> ab (default: this spec's; another head's spec decodes its own).
        """
        decode = decode or self.spec.decode
        return [combine(l_full, decode(infer(xs)))
                for l_full, xs in zip(self.lightness, self.inputs, strict=True)]

    def info(self) -> dict:
        """Manifest record: how many images and their file names."""
        return {"images": len(self.paths), "files": [p.name for p in self.paths]}


def mean_psnr(images: list[np.ndarray], references: list[np.ndarray]) -> float:
    """Mean per-image PSNR in dB (identical images count as PSNR_CAP)."""
    values = [min(psnr(a, b), PSNR_CAP) for a, b in zip(images, references, strict=True)]
    return float(np.mean(values)) if values else math.nan


class Validator:
    """Scores model variants against the ground truth and the FP32 reference.

    reference: the FP32 model's ``infer`` (Keras); its colorizations are computed once.
    """

    def __init__(self, vset: ValidationSet, reference: Infer) -> None:
        self.vset = vset
        self.reference_images = vset.colorize(reference)
        self.fp32_psnr = mean_psnr(self.reference_images, vset.truth)

    def score(self, infer: Infer, decode: Callable | None = None) -> Score:
        """A variant's ``infer`` (and ``decode`` when its output differs) -> its :class:`Score`."""
        images = self.vset.colorize(infer, decode)
        value = mean_psnr(images, self.vset.truth)
        return Score(psnr=value, psnr_vs_fp32=mean_psnr(images, self.reference_images),
                     dpsnr=self.fp32_psnr - value)


def keras_infer(model, spec: ModelSpec) -> Infer:
    """A Keras model -> ``infer`` (list of input batches -> raw output, float32)."""
    from edgecolor.runtimes.keras import KerasRunner

    return KerasRunner.from_model(model, spec).infer
