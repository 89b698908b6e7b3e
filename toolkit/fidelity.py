"""Fidelity of an artifact to its FP32 model: one scoring function for every report.

A quantized (or otherwise converted) colorizer is judged against the FP32 model's *own*
colorization, at each photo's full resolution (the photo's L, predicted ab resized up: what
a user sees), not only against the original photo: int8 can paint visibly different colors
while its PSNR against the photo barely moves. Per photo:

* ``psnr_vs_fp32``: PSNR (dB, 8-bit RGB, capped at ``metrics.PSNR_CAP_DB``) of the artifact's
  colorization vs the FP32 one;
* ``de_mean`` / ``de_p99``: mean and 99th percentile over the pixels of CIEDE2000 (ΔE00)
  vs the FP32 colorization (about 2.3 is a just-noticeable difference);
* ``colorfulness_change``: Hasler-Süsstrunk colorfulness of the artifact's colorization
  minus the FP32 one's (< 0: duller colors);
* with the original photo: ``psnr`` vs the photo, ``fp32_psnr`` (FP32 vs the photo) and
  ``dpsnr`` = fp32_psnr - psnr (> 0: the conversion lost quality vs the photo).

Over a photo set each figure is the mean over photos with a percentile bootstrap confidence
interval (resampling photos), so a decision taken on 20 photos says how sure it is.

Used by the quick check (``converters/run.py``), the quantization budget
(``edgecolor.quant``), ``bench`` and the ARM lane. NumPy and OpenCV only (runs on devices).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecolor import metrics
from edgecolor.color import combine, lightness

BOOTSTRAP = 1000  # resamples of the photo set for a confidence interval
LEVEL = 0.95  # confidence level of the intervals
DE_PERCENTILE = 99.0
# per-photo figures, in report order; True when larger is better
FIGURES = {"psnr_vs_fp32": True, "de_mean": False, "de_p99": False,
           "colorfulness_change": True, "psnr": True, "fp32_psnr": True, "dpsnr": False}

Infer = Callable[[list[np.ndarray]], np.ndarray]


@dataclass(frozen=True)
class Estimate:
    """Mean of one figure over the photos and its bootstrap interval (lo, hi), same units."""

    mean: float
    lo: float
    hi: float
    n: int

    def to_dict(self, digits: int = 3) -> dict:
        """JSON-ready {mean, lo, hi, n} (rounded)."""
        return {"mean": round(self.mean, digits), "lo": round(self.lo, digits),
                "hi": round(self.hi, digits), "n": self.n}

    def text(self, spec: str = ".2f") -> str:
        """"41.23 [40.10, 42.00]"-style."""
        return f"{self.mean:{spec}} [{self.lo:{spec}}, {self.hi:{spec}}]"


def bootstrap(values: Sequence[float], resamples: int = BOOTSTRAP, level: float = LEVEL,
              seed: int = 0) -> Estimate:
    """Per-photo values -> :class:`Estimate`: their mean and a percentile bootstrap interval.

    Photos are resampled with replacement ``resamples`` times (seeded: reports repeat); one
    photo gives lo = hi = its value. Non-finite values are left out.
    """
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], np.float64)
    if x.size == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if x.size == 1:
        return Estimate(mean, mean, mean, 1)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, (resamples, x.size))].mean(axis=1)
    tail = 100.0 * (1.0 - level) / 2.0
    lo, hi = np.percentile(means, [tail, 100.0 - tail])
    return Estimate(mean, float(lo), float(hi), int(x.size))


def image_fidelity(output: np.ndarray, fp32: np.ndarray, truth: np.ndarray | None = None,
                   colors: bool = True) -> dict[str, float]:
    """One photo: the artifact's and the FP32 model's colorizations (RGB, float 0..1 or
    uint8, same shape), optionally the original photo -> {figure: value} (see module doc).

    colors False: skip ΔE00 and colorfulness (PSNR only: sensitivity probes, devices).
    """
    row = {"psnr_vs_fp32": metrics.capped_psnr(output, fp32)}
    if colors:
        de = metrics.ciede2000_pixels(output, fp32)
        row["de_mean"] = float(de.mean())
        row["de_p99"] = float(np.percentile(de, DE_PERCENTILE))
        row["colorfulness_change"] = metrics.colorfulness(output) - metrics.colorfulness(fp32)
    if truth is not None:
        row["psnr"] = metrics.capped_psnr(output, truth)
        row["fp32_psnr"] = metrics.capped_psnr(fp32, truth)
        row["dpsnr"] = row["fp32_psnr"] - row["psnr"]
    return row


@dataclass
class Fidelity:
    """Fidelity over a photo set: one :class:`Estimate` per figure (absent figures: None)."""

    images: int
    psnr_vs_fp32: Estimate
    de_mean: Estimate | None = None
    de_p99: Estimate | None = None
    colorfulness_change: Estimate | None = None
    psnr: Estimate | None = None
    fp32_psnr: Estimate | None = None
    dpsnr: Estimate | None = None
    per_image: list[dict] = field(default_factory=list, repr=False)

    def value(self, name: str) -> float | None:
        """The mean of figure ``name`` (None when not measured)."""
        est = getattr(self, name, None)
        return None if est is None else est.mean

    def to_dict(self, per_image: bool = False) -> dict:
        """JSON-ready {images, <figure>: {mean, lo, hi, n}, ...} (+ per-image rows)."""
        d: dict = {"images": self.images, "level": LEVEL}
        for name in FIGURES:
            est = getattr(self, name)
            if est is not None:
                d[name] = est.to_dict()
        if per_image:
            d["per_image"] = [{k: (round(v, 4) if isinstance(v, float) else v)
                               for k, v in r.items()} for r in self.per_image]
        return d

    def line(self) -> str:
        """One line: "PSNR vs FP32 41.2 dB [40.1, 42.0], ΔE00 0.45 (p99 2.1), dPSNR 0.02"."""
        parts = [f"{self.psnr_vs_fp32.mean:.1f} dB vs FP32 "
                 f"[{self.psnr_vs_fp32.lo:.1f}, {self.psnr_vs_fp32.hi:.1f}]"]
        if self.de_mean is not None:
            parts.append(f"dE00 {self.de_mean.mean:.2f} (p99 {self.de_p99.mean:.1f})")
        if self.dpsnr is not None:
            parts.append(f"dPSNR {self.dpsnr.mean:.2f} dB")
        return ", ".join(parts)


def summarize(per_image: list[dict], seed: int = 0) -> Fidelity:
    """Per-photo rows of :func:`image_fidelity` -> :class:`Fidelity` with bootstrap intervals."""
    est = {}
    for name in FIGURES:
        values = [r[name] for r in per_image if name in r]
        est[name] = bootstrap(values, seed=seed) if values else None
    if est["psnr_vs_fp32"] is None:
        est["psnr_vs_fp32"] = Estimate(math.nan, math.nan, math.nan, 0)
    return Fidelity(images=len(per_image), per_image=list(per_image), **est)


def score_images(outputs: Sequence[np.ndarray], fp32: Sequence[np.ndarray],
                 truths: Sequence[np.ndarray] | None = None, colors: bool = True,
                 names: Sequence[str] | None = None) -> Fidelity:
    """Colorizations of the artifact and of the FP32 model (one per photo, full resolution),
    optionally the original photos -> :class:`Fidelity`. THE scoring function.
    """
    truths = list(truths) if truths is not None else [None] * len(outputs)
    rows = []
    for i, (out, ref, truth) in enumerate(zip(outputs, fp32, truths, strict=True)):
        row = image_fidelity(out, ref, truth, colors)
        if names is not None:
            row = {"image": names[i], **row}
        rows.append(row)
    return summarize(rows)


class PhotoSet:
    """Photos scored at full resolution: originals (RGB 0..1), full-res L, network inputs.

    paths: color photos; spec: the model spec (its ``make_inputs``). Unreadable photos
    raise ImageError (callers choose the photos).
    """

    def __init__(self, paths: Sequence[str | Path], spec) -> None:
        from edgecolor.imageio import read_rgb

        self.paths = [Path(p) for p in paths]
        self.spec = spec
        self.truth = [read_rgb(p).astype(np.float32) / 255.0 for p in self.paths]
        self.lightness = [lightness(rgb) for rgb in self.truth]
        self.inputs = [spec.make_inputs(l_full) for l_full in self.lightness]

    def __len__(self) -> int:
        return len(self.paths)

    def colorize(self, infer: Infer, decode: Callable | None = None) -> list[np.ndarray]:
        """Run ``infer`` on every photo -> colorized RGB float32 (H, W, 3) 0..1, full res.

        decode: raw output -> ab (default: this spec's; another head's spec decodes its own).
        """
        decode = decode or self.spec.decode
        return [combine(l_full, decode(infer(xs)))
                for l_full, xs in zip(self.lightness, self.inputs, strict=True)]

    def info(self) -> dict:
        """Manifest record: how many photos and their file names."""
        return {"images": len(self.paths), "files": [p.name for p in self.paths]}


class FidelityScorer:
    """Scores artifacts of one model on a :class:`PhotoSet` against the FP32 reference.

    reference: the FP32 model's ``infer`` (Keras, or an FP32 artifact's runner); its
    colorizations are computed once.
    """

    def __init__(self, photos: PhotoSet, reference: Infer,
                 reference_decode: Callable | None = None) -> None:
        self.photos = photos
        self.reference_outputs: list[np.ndarray] = []  # raw FP32 outputs, one per photo

        def infer(xs: list[np.ndarray]) -> np.ndarray:
            y = reference(xs)
            self.reference_outputs.append(y)
            return y

        self.reference_images = photos.colorize(infer, reference_decode)
        self._fp32_psnr = [metrics.capped_psnr(r, t)
                           for r, t in zip(self.reference_images, photos.truth, strict=True)]

    @property
    def fp32_psnr(self) -> float:
        """Mean PSNR (dB) of the FP32 colorizations vs the original photos."""
        return float(np.mean(self._fp32_psnr)) if self._fp32_psnr else math.nan

    def score(self, infer: Infer, decode: Callable | None = None,
              colors: bool = True) -> Fidelity:
        """An artifact's ``infer`` (+ ``decode`` when its output differs) -> :class:`Fidelity`."""
        images = self.photos.colorize(infer, decode)
        return score_images(images, self.reference_images, self.photos.truth, colors,
                            [p.name for p in self.photos.paths])
