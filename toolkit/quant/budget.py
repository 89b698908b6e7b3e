"""Budgeted int8 conversion: meet a fidelity budget with the fastest artifact, on every format.

The budget (:class:`Budget`) bounds what a user sees, measured by :mod:`edgecolor.fidelity`
on the validation split of the calibration images (never calibrated on), at full resolution:

* ``min_psnr_fp32``: PSNR of the int8 colorization vs the FP32 model's own, dB (default from
  the device profile: 40);
* ``max_de``: mean CIEDE2000 vs the FP32 colorization;
* ``max_dpsnr``: ΔPSNR = PSNR(FP32 vs the photos) − PSNR(int8 vs the photos), dB;
* ``min_speedup`` (optional, ``--min-speedup``): the least speed of the candidate vs the
  same runtime's FP32 artifact (×, median latency, timed round-robin with it on this host).
  A candidate that keeps the colors but misses it is not within budget, and the search goes
  on (TFLite's int16x8 runs on reference kernels: 0.05× FP32 on x86). Without it, a chosen
  artifact slower than FP32 is still flagged in the summary and the manifest.

Candidates are tried in cost order, in tiers; the search stops after the first tier that
produced a candidate within budget, then every scored candidate is timed (round-robin with
the same runtime's FP32 artifact) and the *fastest* one within budget is kept:

1. plain int8 (the requested calibration method);
2. Keras-side PTQ fixes (:mod:`edgecolor.quant.equalize`): cross-layer equalization
   (ReLU chains, and conv -> ReLU -> BatchNormalization activations), then equalization +
   bias correction (TFLite, ONNX Runtime), each only where it can change the model (ReLU
   chains or conv -> BN pairs to equalize; weight rounding that uses a real share of the
   budget, for bias correction); OpenVINO: the Keras equalization first where the model
   has conv -> ReLU -> BN pairs (NNCF's does not reach them), then NNCF's channel
   alignment + full bias correction; then the format's other calibration methods
   (minmax / quantile / percentile / entropy, :attr:`Format.calib_methods` order),
   plain: one conversion each, every layer int8 (on
   OpenVINO before the tier-4 structural candidates and NNCF's algorithms); then, on every
   format, AdaRound-style learned rounding (:mod:`edgecolor.quant.adaround`, minutes)
   where round-to-nearest weights alone use a real share of the budget
   (:data:`ROUNDING_MARGIN_DB`, :data:`ROUNDING_SHARE`);
3. layers the calibration-coverage check flags (held-out photos exceed their calibration
   range, :func:`edgecolor.quant.risks.calibration_coverage`) in float with the layers they
   feed (:func:`coverage_sets`), worst first; for ONNX sources then likewise the nodes whose
   FP32 range per-tensor int8 cannot hold (wide_range risks);
4. Keras models: the output head in float, then with the decoder's last joins (a join
   with the layers writing and reading it; :data:`STRUCTURAL_JOINS`), one conversion each
   (:func:`edgecolor.quant.sensitivity.structural_groups`; on OpenVINO before tier 2,
   whose NNCF algorithms cost minutes on a large model); then every residual join in float
   (:func:`edgecolor.quant.sensitivity.residual_joins`, one conversion, up to
   ``max_float_fraction`` of the layers), kept as the start of the later float sets where
   it gains :data:`RESIDUAL_GAIN_DB`; then
   the most sensitive layers in float, one more at a time, ranked by
   :mod:`edgecolor.quant.sensitivity` on the same backend (on the best of tiers 1-2), up
   to ``max_float_fraction`` of the layers and MAX_FLOAT_TRIALS candidates (TFLite
   denylist, NNCF ignored scope, ONNX Runtime nodes_to_exclude); a model with more than
   MAX_PROBES layers probes its joins and output head, then the layers with the most
   outlying FP32 ranges, up to MAX_PROBES; a join is probed (and ranked) together with the
   layers it feeds;
5. the best of the format's other calibration methods (tier 2) with the same float layers;
6. TFLite: int16x8 (int16 activations, int8 weights);
7. only with ``qat_minutes`` (``--qat MINUTES``) and a Keras model: a short
   quantization-aware fine-tune (:mod:`edgecolor.quant.qat`: self-distillation towards the
   original FP32 output with fake-quantized weights and activations, on the training photos
   ``--qat-images``, default the calibration photos), then the same int8 conversion.

Every candidate is scored against the *original* FP32 model's colorization (the
validator's reference is computed from the model given, before any Keras-side change), so
a fine-tuned model is judged by how close it stays to the model the user trained.

Every candidate is a real artifact from the format's converter, scored by its real runner.
The manifest records the budget and which figure held by how much, the strategy, the layers
kept in float, every attempt with its latency, and the Pareto front (latency vs PSNR vs
FP32) of what was tried, also drawn as ``<artifact>.pareto.png``.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from edgecolor.bench.stats import time_round_robin
from edgecolor.converters.float_layers import layer_names
from edgecolor.errors import one_line
from edgecolor.formats import Format, get_format, load_runner_class
from edgecolor.quant import MAX_PROBES
from edgecolor.quant import onnx_source as src
from edgecolor.quant.validation import Score, ValidationSet, Validator, keras_infer

BUDGETED = ("int8", "int8-cpu")  # precisions a fidelity budget applies to
MAX_FLOAT_FRACTION = 0.2
MAX_FLOAT_TRIALS = 8  # float-layer candidates per tier (each a full conversion)
STRUCTURAL = "int8 + float layers (output head, last joins)"
RESIDUAL = "int8 + float layers (residual joins)"
STRUCTURAL_JOINS = 2  # joins nearest the output the structural candidates add
RESIDUAL_GAIN_DB = 1.0  # the residual joins stay float for later sets when they gain this
TIMING_RUNS = 15
NNCF_ADVANCED = {"channel_alignment": True, "bias_correction": "full"}
NNCF_BIAS_ONLY = {"channel_alignment": False, "bias_correction": "full"}
KERAS_PTQ = ("cle", "cle+bc")  # Keras-side fixes the budget tries, cheapest first
# AdaRound is tried (after KERAS_PTQ) when round-to-nearest weights alone score within
# ROUNDING_MARGIN_DB of the PSNR floor, or use over ROUNDING_SHARE of the dPSNR / dE00 bound
ROUNDING_MARGIN_DB = 6.0
ROUNDING_SHARE = 0.5
RANKING = "layer ranking"  # the strategy name of a failed sensitivity ranking (no artifact)
PARETO_SUFFIX = ".pareto.png"


class BudgetError(RuntimeError):
    """No strategy met the budget; the one-line message lists every attempt and the fix."""

    whole_line = True  # its one line lists every attempt: reports keep it uncut

    def __init__(self, message: str, attempts: list[Attempt]) -> None:
        super().__init__(message)
        self.attempts = attempts


def _bound(value: float | None, option: str, unit: str) -> float | None:
    if value is None:
        return None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{option} must be a number of {unit} >= 0 (got {value})")
    return float(value)


@dataclass(frozen=True)
class Budget:
    """What a budgeted int8 artifact must keep (None: not bounded; at least one fidelity
    bound is set).

    max_dpsnr: dB vs the photos; min_psnr_fp32: dB vs the FP32 colorization; max_de: mean
    CIEDE2000 vs the FP32 colorization (means over the validation photos); min_speedup:
    least speed vs the same runtime's FP32 artifact (×). confident: each fidelity bound must
    hold for the whole 95% bootstrap interval over the validation photos (its lower end for
    PSNR vs FP32, its upper end for ΔPSNR and ΔE00), not only for the mean: a budget decided
    on 20 photos then leaves room for the photos it did not see.
    """

    max_dpsnr: float | None = None
    min_psnr_fp32: float | None = None
    max_de: float | None = None
    min_speedup: float | None = None
    confident: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_dpsnr", _bound(self.max_dpsnr, "--max-dpsnr", "dB"))
        object.__setattr__(self, "min_psnr_fp32",
                           _bound(self.min_psnr_fp32, "--min-psnr-fp32", "dB"))
        object.__setattr__(self, "max_de", _bound(self.max_de, "--max-de", "dE00 units"))
        object.__setattr__(self, "min_speedup",
                           _bound(self.min_speedup, "--min-speedup", "times FP32 speed"))
        if self.max_dpsnr is None and self.min_psnr_fp32 is None and self.max_de is None:
            raise ValueError("a budget needs --max-dpsnr, --min-psnr-fp32 or --max-de")

    def checks(self, score: Score, speedup: float | None = None) -> list[dict]:
        """Each bound -> {figure, limit, value, held, margin} (margin > 0: room left);
        ``confident``: value is the interval's end the bound is judged by, with ``basis``
        "ci95" and the ``mean`` beside it. speedup: the candidate's speed vs FP32 (×), for
        ``min_speedup``."""
        out = []
        for figure, limit, value, upper in (
                ("dpsnr", self.max_dpsnr, score.dpsnr, True),
                ("psnr_vs_fp32", self.min_psnr_fp32, score.psnr_vs_fp32, False),
                ("de_mean", self.max_de, score.de_mean, True),
                ("speedup", self.min_speedup, speedup, False)):
            if limit is None:
                continue
            extra = {}
            if self.confident and figure != "speedup":
                # no interval (one photo, or a figure not bootstrapped): not confident
                lo, hi = score.ci.get(figure, (None, None))
                extra = {"basis": "ci95", "mean": None if value is None else round(value, 3)}
                value = hi if upper else lo
            if value is None:
                out.append({"figure": figure, "limit": limit, "value": None, "held": False,
                            "margin": None, **extra})
                continue
            margin = (limit - value) if upper else (value - limit)
            out.append({"figure": figure, "limit": limit, "value": round(value, 3),
                        "held": margin >= -1e-9, "margin": round(margin, 3), **extra})
        return out

    def holds(self, score: Score | None, speedup: float | None = None) -> bool:
        """True when ``score`` (and ``speedup``, × FP32) meets every bound."""
        return score is not None and all(c["held"] for c in self.checks(score, speedup))

    def fidelity_holds(self, score: Score | None) -> bool:
        """True when ``score`` meets every bound but the speed floor."""
        return score is not None and all(c["held"] for c in self.checks(score)
                                         if c["figure"] != "speedup")

    def text(self) -> str:
        """"dPSNR <= 0.3 dB, PSNR vs FP32 >= 40 dB"-style."""
        parts = []
        if self.max_dpsnr is not None:
            parts.append(f"dPSNR <= {self.max_dpsnr:g} dB")
        if self.min_psnr_fp32 is not None:
            parts.append(f"PSNR vs FP32 >= {self.min_psnr_fp32:g} dB")
        if self.max_de is not None:
            parts.append(f"dE00 vs FP32 <= {self.max_de:g}")
        if self.min_speedup is not None:
            parts.append(f"speed >= {self.min_speedup:g}x FP32")
        return ", ".join(parts) + (" over the 95% interval" if self.confident else "")

    def to_dict(self) -> dict:
        """JSON-ready record."""
        return {"max_dpsnr": self.max_dpsnr, "min_psnr_fp32": self.min_psnr_fp32,
                "max_de": self.max_de, "min_speedup": self.min_speedup,
                "confident": self.confident}


_FIGURE_TEXT = {"dpsnr": ("dPSNR", " dB"), "psnr_vs_fp32": ("PSNR vs FP32", " dB"),
                "de_mean": ("dE00 vs FP32", ""), "speedup": ("speed", "x FP32")}
_AT_LEAST = ("psnr_vs_fp32", "speedup")  # figures bounded from below


def checks_text(checks: list[dict]) -> str:
    """Budget checks -> "PSNR vs FP32 45.1 dB >= 40 (+5.1); dPSNR 0.02 dB <= 0.3 (+0.28)"."""
    parts = []
    for c in checks:
        name, unit = _FIGURE_TEXT[c["figure"]]
        op = ">=" if c["figure"] in _AT_LEAST else "<="
        if c["value"] is None:
            parts.append(f"{name} not measured" + (" over a 95% interval" if c.get("basis")
                                                   else ""))
            continue
        verdict = f"{c['margin']:+.2f}" if c["held"] else f"MISSED by {-c['margin']:.2f}"
        if c.get("basis") == "ci95":
            end = "lower" if c["figure"] in _AT_LEAST else "upper"
            name = f"{name} ({end} end of the 95% interval; mean {c['mean']:.2f})"
        parts.append(f"{name} {c['value']:.2f}{unit} {op} "
                     f"{c['limit']:g} ({verdict})")
    return "; ".join(parts)


@dataclass
class Attempt:
    """One candidate artifact, its validation score and its latency."""

    strategy: str
    precision: str
    calib_method: str
    float_layers: list[str]
    score: Score | None = None
    error: str | None = None
    extra: dict = field(default_factory=dict)
    path: Path | None = None
    fields: dict = field(default_factory=dict)
    ptq: str | None = None  # Keras-side fix applied first ("cle", "cle+bc", "qat")
    records: list = field(default_factory=list)  # what that fix did (its records)
    ms: float | None = None  # median latency, same runner settings as the FP32 artifact
    tier: int = 0
    speedup: float | None = None  # × FP32 speed, timed in the search (only with min_speedup)

    def within(self, budget: Budget | float) -> bool:
        """True when it scored within ``budget`` (a number: a ΔPSNR budget in dB)."""
        if not isinstance(budget, Budget):
            budget = Budget(max_dpsnr=budget)
        return budget.holds(self.score, self.speedup)

    def label(self) -> str:
        """"int8 minmax + float [spike]"-style name."""
        text = f"{self.strategy} ({self.precision}, {self.calib_method})"
        if self.float_layers:
            text += f" + float [{short_layer_list(self.float_layers)}]"
        return text

    def short(self) -> str:
        """Compact name for one-line messages: "int8/percentile+CLE+float[spike]"."""
        text = self.precision
        if self.calib_method != "minmax":
            text += f"/{self.calib_method}"
        if self.ptq:
            text += "+" + self.ptq.upper()
        if self.extra.get("nncf"):
            text += "+CLE/BC" if self.extra["nncf"].get("channel_alignment") else "+BC"
        if self.float_layers:
            text += f"+float[{short_layer_list(self.float_layers, ',')}]"
        return text

    def line(self) -> str:
        """Compact one-line result: "int8+float[spike] 0.52/38.1" (ΔPSNR dB / PSNR vs FP32
        dB, + ΔE00 when measured) or "... failed (reason)"."""
        if self.score is None:
            name = RANKING if self.strategy == RANKING else self.short()
            return f"{name} failed ({self.error})"
        s = self.score
        text = f"{self.short()} {s.dpsnr:.2f}/{s.psnr_vs_fp32:.1f}"
        if s.de_mean is not None:
            text += f"/{s.de_mean:.2f}"
        if self.speedup is not None:
            text += f" at {self.speedup:.2f}x FP32"
        return text

    def to_dict(self) -> dict:
        """JSON-ready record (no paths: candidates are deleted)."""
        return {"strategy": self.strategy, "precision": self.precision,
                "calib_method": self.calib_method, "float_layers": list(self.float_layers),
                "ptq": self.ptq, "extra": dict(self.extra), "error": self.error,
                "tier": self.tier, "ms": None if self.ms is None else round(self.ms, 3),
                "speedup": None if self.speedup is None else round(self.speedup, 2),
                "score": self.score.to_dict() if self.score else None,
                **({"ptq_records": list(self.records)} if self.records else {})}


def short_layer_list(layers: list[str], sep: str = ", ", shown: int = 6) -> str:
    """Layer names for a one-line label: a long float set (koalarization's 79 residual
    layers) as its first ``shown`` names and the count; the manifest keeps them all."""
    if len(layers) <= shown + 1:
        return sep.join(layers)
    return sep.join(layers[:shown]) + f"{sep}... {len(layers)} layers"


def runner_class(fmt: Format):
    """The first of the format's runner classes whose runtime is installed."""
    for name in fmt.runners:
        cls = load_runner_class(name)
        if cls.available():
            return cls
    raise RuntimeError(f"no runtime for {fmt.name} installed; pip install "
                       f"'edgecolor[{fmt.extra}]'")


def round_robin_ms(runners: dict, inputs: list[np.ndarray], runs: int) -> dict[str, float]:
    """Activated runners (name -> runner) -> median latency in ms each, timed round-robin in
    one process (3 untimed runs each first) so that load changes hit all of them alike."""
    for r in runners.values():
        for _ in range(3):
            r.infer(inputs)
    times = time_round_robin({k: (lambda r=r: r.infer(inputs)) for k, r in runners.items()},
                             runs)
    return {k: statistics.median(v) for k, v in times.items()}


def pareto_front(points: list[dict]) -> list[dict]:
    """Points {ms, psnr_vs_fp32, ...} -> the non-dominated ones (no other point is both
    faster-or-equal and closer-or-equal to FP32, strictly better in one), fastest first."""
    pts = [p for p in points if p.get("ms") is not None and p.get("psnr_vs_fp32") is not None]
    front = []
    for p in pts:
        dominated = any(q is not p and q["ms"] <= p["ms"] and
                        q["psnr_vs_fp32"] >= p["psnr_vs_fp32"] and
                        (q["ms"] < p["ms"] or q["psnr_vs_fp32"] > p["psnr_vs_fp32"])
                        for q in pts)
        if not dominated:
            front.append(p)
    return sorted(front, key=lambda p: p["ms"])


def units(model) -> list[str]:
    """The names the budget keeps in float: Keras layers, or an ONNX source's quantizable
    node names (:mod:`edgecolor.quant.onnx_source`)."""
    return src.unit_names(model) if src.is_onnx_source(model) else layer_names(model)


def _consumer_names(model) -> dict[str, list[str]]:
    if src.is_onnx_source(model):
        return src.consumers(model)
    from edgecolor.quant.equalize import consumers

    return {k: [u if u == "out" else u.name for u in v] for k, v in consumers(model).items()}


def _has_norm_pairs(model) -> bool:
    """True where ``cle`` equalizes conv -> ReLU -> BatchNormalization activations."""
    from edgecolor.quant.equalize import norm_pairs

    return bool(norm_pairs(model))


def coverage_sets(model, flagged: list[str], limit: int) -> list[list[str]]:
    """Coverage-flagged layers (worst first) -> float-layer sets to try: the k worst with the
    layers they feed (a quantized consumer re-quantizes its input with the calibrated range,
    so the flagged tensor must stay float up to its next float-tolerant layer), k = 1, 2, ...;
    sets over ``limit`` layers are left out. ``model``: Keras, or an ONNX source."""
    users = _consumer_names(model)
    known = set(units(model))
    sets, current = [], []
    for name in [n for n in flagged if n in known]:
        for layer in [name] + [u for u in users.get(name, []) if u != "out"]:
            if layer in known and layer not in current:
                current.append(layer)
        if len(current) > limit:
            break
        if not sets or sets[-1] != current:
            sets.append(list(current))
    return sets


def _move(src: Path, dst: Path, fmt: Format) -> None:
    """Candidate files -> the artifact path (sidecars first, each os.replace is atomic)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    for suffix in fmt.sidecars:
        os.replace(src.with_suffix(suffix), dst.with_suffix(suffix))
    os.replace(src, dst)


def pareto_path(artifact: Path) -> Path:
    """``dir/m-tflite-int8.tflite`` -> ``dir/m-tflite-int8.pareto.png``."""
    return artifact.with_name(artifact.stem + PARETO_SUFFIX)


class SearchTimeout(Exception):
    """The search's wall-clock limit (``search_minutes``) ran out before the next candidate."""


@dataclass
class SharedEvidence:
    """What a budgeted search measures on the FP32 model and the calibration set, whatever
    the format: the validator (the FP32 colorizations of the held-out photos), activation
    ranges, calibration coverage, the Keras-side PTQ models and the weight-only rounding
    score. One per convert run: every budgeted row of the same model and calibration set
    reuses them instead of measuring again. Bound to one (model, calibration set) pair: a
    search on another pair starts it afresh."""

    validator: Validator | None = None
    ranges: list[dict] | None = None  # FP32 activation ranges on the calibration set
    coverage: list | None = None  # held-out vs calibration ranges
    influence: list | None = None  # how much the FP32 output uses each input
    models: dict[str, tuple] = field(default_factory=dict)  # ptq method -> (model, records)
    weight_only: Score | None = None  # round-to-nearest weights, float activations
    owner: tuple[int, int] | None = None  # id() of the model and calibration set

    def bind(self, model, calib) -> None:
        """Keep what was measured for this model and calibration set; forget the rest."""
        owner = (id(model), id(calib))
        if self.owner is not None and self.owner != owner:
            self.validator, self.ranges, self.coverage = None, None, None
            self.influence = None
            self.models, self.weight_only = {}, None
        self.owner = owner


class BudgetedConversion:
    """Runs the strategy loop for one artifact (see the module docstring).

    max_dpsnr / min_psnr_fp32 / max_de: the :class:`Budget` (or pass ``budget``);
    validator: scores candidates (built from ``options.calib``'s held-out images when None);
    progress(text): called before each candidate; ptq: the Keras-side fixes to try
    (default KERAS_PTQ; () for none); pareto_png: draw the front beside the artifact;
    adaround: try learned rounding after them where weight rounding matters; qat_minutes:
    wall-clock minutes of the quantization-aware fine-tune tried last (None / 0: never);
    qat_images: its training photo folder (None: the calibration photos); shared: the
    :class:`SharedEvidence` of the convert run (None: this search's own); search_minutes:
    wall-clock limit of the search (None: none): once spent, no new candidate (or ranking
    probe) starts; plain int8 always runs, and the fastest candidate within budget so far
    is kept, else the row fails saying where the search stopped.
    """

    def __init__(self, fmt: Format | str, max_dpsnr: float | None = None,
                 max_float_fraction: float = MAX_FLOAT_FRACTION,
                 validator: Validator | None = None,
                 progress: Callable[[str], None] | None = None,
                 timing_runs: int = TIMING_RUNS, min_psnr_fp32: float | None = None,
                 max_de: float | None = None, budget: Budget | None = None,
                 ptq: tuple[str, ...] = KERAS_PTQ, pareto_png: bool = True,
                 adaround: bool = True, qat_minutes: float | None = None,
                 qat_images: str | Path | None = None,
                 shared: SharedEvidence | None = None,
                 search_minutes: float | None = None) -> None:
        self.fmt = get_format(fmt) if isinstance(fmt, str) else fmt
        self.budget = budget or Budget(max_dpsnr, min_psnr_fp32, max_de)
        self.max_dpsnr = self.budget.max_dpsnr
        self.max_float_fraction = max_float_fraction
        self.shared = shared or SharedEvidence()
        self.search_minutes = search_minutes
        self._deadline: float | None = None  # time.monotonic() when the search must stop
        self.stopped = False  # the search ran out of search_minutes
        self.validator = validator
        self.progress = progress
        self.timing_runs = timing_runs
        self.ptq = tuple(ptq)
        self.pareto_png = pareto_png
        self.ranking: list[str] | None = None
        self.layer_count = 0
        self.adaround = adaround
        self.qat_minutes = qat_minutes or None
        self.qat_images = qat_images
        self._fp32: tuple[Path, dict] | None = None  # the same runtime's FP32 artifact
        self._fp32_runner = None  # activated while the search times candidates

    def _activation_ranges(self, model, calib) -> list[dict]:
        """Measured once: the ranking's preselection and the risk checks both use them."""
        from edgecolor.quant.risks import activation_ranges

        if self.shared.ranges is None:
            self.shared.ranges = activation_ranges(model, calib.samples)
        return self.shared.ranges

    def _input_influence(self, model, spec, calib) -> list:
        """Measured once: the manifest's risks and a failed budget's reason use it (Keras
        models; an ONNX source's inputs are not checked)."""
        from edgecolor.quant.risks import input_influence

        if self.shared.influence is None:
            self.shared.influence = ([] if src.is_onnx_source(model) else input_influence(
                model, spec, calib.samples))
        return self.shared.influence

    def _calibration_coverage(self, model, calib) -> list:
        """Measured once: candidates (tier 3) and the manifest's risks both use it."""
        from edgecolor.quant.risks import calibration_coverage

        if self.shared.coverage is None:
            self.shared.coverage = calibration_coverage(model, calib)
        return self.shared.coverage

    def _ptq_model(self, model, method: str | None, calib):
        """(model, records) with the Keras-side fix ``method`` applied (cached)."""
        if method is None:
            return model, []
        models = self.shared.models
        if method == "qat" and method not in models:
            models[method] = self._qat_model(model, calib)
        if method not in models:
            from edgecolor.quant.equalize import apply

            m, records = apply(model, method, calib.samples)
            models[method] = (m, [r.to_dict() for r in records])
        return models[method]

    def _qat_model(self, model, calib) -> tuple:
        """(fine-tuned copy, [record]): :func:`edgecolor.quant.qat.qat_finetune` for
        ``qat_minutes`` on the QAT photos (never the held-out validation photos), with the
        8-bit activation ranges of the calibration photos."""
        from edgecolor.quant.qat import load_training_samples, qat_finetune

        if self.qat_images is not None:
            samples, paths = load_training_samples(self.qat_images, calib.spec,
                                                   exclude=list(calib.holdout_paths))
            folder, role = str(self.qat_images), "training photos (--qat-images)"
        else:
            samples, paths = calib.samples, list(calib.paths)
            folder, role = str(calib.folder), "calibration photos (no --qat-images)"
        tuned, record = qat_finetune(model, samples, self.qat_minutes,
                                     range_samples=calib.samples, progress=self.progress)
        record["detail"].update(folder=folder, role=role, image_files=len(paths))
        return tuned, [record]

    def __call__(self, model, spec, precision: str, out_path: Path, options) -> dict:
        """Converter signature: writes the chosen artifact at ``out_path`` -> manifest fields.

        Raises BudgetError (attempts listed) when nothing meets the budget.
        """
        out_path = Path(out_path)
        if options.calib is None:
            raise ValueError(f"{self.fmt.name} {precision}: a fidelity budget needs "
                             "calibration images with a held-out split (--calib DIR)")
        self.shared.bind(model, options.calib)
        if self.validator is None:
            self.validator = self.shared.validator
        if self.validator is None:  # the reference: Keras, or ONNX Runtime on the source
            reference = (model.reference().infer if src.is_onnx_source(model)
                         else keras_infer(model, spec))
            self.validator = Validator(ValidationSet.from_calibration(options.calib),
                                       reference)
            self.shared.validator = self.validator
        out_path.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{out_path.stem}.budget.", dir=out_path.parent))
        self._deadline = (time.monotonic() + 60.0 * self.search_minutes
                          if self.search_minutes else None)
        self.stopped = False
        try:
            attempts: list[Attempt] = []
            try:
                self._search(model, spec, precision, options, work, attempts)
            except SearchTimeout:
                self.stopped = True
            passing = [a for a in attempts if a.within(self.budget)]
            if not passing:
                raise BudgetError(self._failure(precision, attempts,
                                                self._ignored(model, spec, options.calib)),
                                  attempts)
            speed = self._time(model, spec, options, work, attempts)
            timed = [a for a in passing if a.ms is not None]
            chosen = min(timed, key=lambda a: a.ms) if timed else passing[0]
            _move(chosen.path, out_path, self.fmt)
            return self._fields(options, precision, chosen, attempts, speed, model, spec,
                                out_path)
        finally:
            if self._fp32_runner is not None:
                with contextlib.suppress(Exception):
                    self._fp32_runner.deactivate()
                self._fp32_runner = None
            self._fp32 = None
            shutil.rmtree(work, ignore_errors=True)

    # -- the strategy loop ------------------------------------------------------------------

    def _search(self, model, spec, precision, options, work, attempts) -> None:
        tried: set[tuple] = set()
        budget = self.budget

        def trial(strategy, prec, method, float_layers, extra=None, ptq=None,
                  tier=0) -> Attempt | None:
            key = (prec, method, tuple(float_layers), ptq, repr(extra))
            if key in tried:
                return None
            if attempts:  # plain int8 always runs
                self._check_deadline()
            tried.add(key)
            a = Attempt(strategy, prec, method, list(float_layers), extra=dict(extra or {}),
                        ptq=ptq, tier=tier)
            if self.progress:
                self.progress(a.label() + (f" after {ptq}" if ptq else ""))
            a.path = work / f"candidate{len(attempts)}{self.fmt.suffix}"
            opts = replace(options, calib_method=method,
                           extra={**options.extra, "float_layers": list(float_layers),
                                  **a.extra})
            try:
                m, records = self._ptq_model(model, ptq, options.calib)
                a.records = list(records)
                a.fields = self.fmt.load_converter()(m, spec, prec, a.path, opts)
                if records:
                    a.fields["ptq"] = records
                runner = runner_class(self.fmt)(a.path, spec, a.fields,
                                                 threads=options.threads)
                with runner:
                    a.score = self.validator.score(runner.infer)
                    if budget.min_speedup is not None and budget.fidelity_holds(a.score):
                        a.speedup = self._speedup(runner, model, spec, options, work)
            except Exception as e:  # a failing candidate is an attempt, not a crash
                a.error = one_line(e, 200)
            attempts.append(a)
            return a

        def met() -> bool:
            return any(a.within(budget) for a in attempts)

        def floats(tier, strategy, groups, method, ptq, extra=None) -> None:
            """Float-layer sets groups[0], groups[0] + groups[1], ... (a probed group, e.g.
            a join with the layers around it, joins whole) until one is within budget, at
            most limit() layers and MAX_FLOAT_TRIALS candidates; each on top of the residual
            joins where keeping those float beat every earlier candidate (admitted by
            residual_stream's own cap)."""
            current: list[str] = list(kept_float)
            trials = 0
            for group in groups:
                current += [n for n in group if n not in current]
                if len(current) - len(kept_float) > limit():
                    return
                a = trial(strategy, precision, method, list(current), extra, ptq, tier)
                if a is not None and a.within(budget):
                    return
                trials += 1
                if trials >= MAX_FLOAT_TRIALS:
                    return

        def fraction() -> int:
            count = self.layer_count or len(units(model))
            return max(1, math.floor(self.max_float_fraction * count))

        def limit() -> int:
            return min(MAX_FLOAT_TRIALS, fraction())

        kept_float: list[str] = []  # float layers every later float set starts from

        def residual_stream() -> None:
            """Every residual join float (:func:`~edgecolor.quant.sensitivity.residual_joins`),
            one conversion: an int8 skip tensor is re-quantized at each join, so its error
            adds up along the stream, which no handful of ranked layers takes back
            (koalarization's 40 joins, TensorRT Q/DQ: 30.5 -> 39.9 dB vs FP32). Joins are
            elementwise adds: float, they cost memory traffic, not multiply-adds; the timing
            decides among the candidates within budget. Kept as the start of later float
            sets where it beats every candidate so far."""
            from edgecolor.quant.sensitivity import residual_joins

            joins = [] if foreign else residual_joins(model)
            if not joins or len(joins) > fraction():
                return
            a = trial(RESIDUAL, precision, method, joins, base.extra or None, base.ptq, 4)
            if a is not None and a.score and (base.score is None or a.score.psnr_vs_fp32
                                               > base.score.psnr_vs_fp32 + RESIDUAL_GAIN_DB):
                kept_float[:] = joins

        method = options.calib_method
        plain = trial("int8", precision, method, [], tier=1)
        if met():
            return
        # tier 2: Keras-side PTQ fixes (TFLite, ONNX Runtime) / NNCF's (OpenVINO)
        base = plain
        foreign = src.is_onnx_source(model)  # no Keras model to equalize or round
        from edgecolor.quant.sensitivity import structural_groups

        structural_first = self.fmt.name == "openvino" and not foreign
        calibrations: list[Attempt] = []

        def other_calibrations() -> None:
            """The format's other calibration methods, plain: one conversion each with every
            layer int8, so cheaper in both search time and speed than any float layer
            (eccv16's TensorRT Q/DQ on its held-out photos: 35.4 dB vs FP32 with minmax,
            45.4 with percentile; koalarization's TFLite int8 on its quick check: 26.5 with
            minmax, 40.1 with quantile)."""
            for m in self.fmt.methods_for(precision):
                if m != method and not met():
                    a = trial(f"int8, {m} calibration", precision, m, [], tier=2)
                    if a is not None:
                        calibrations.append(a)

        def adopt_best_calibration() -> None:
            """Float layers added on the best calibration: where another method beats every
            candidate so far, later tiers use it (koalarization's TFLite int8 on its quick
            check: 26.5 dB vs FP32 with minmax, 40.1 with quantile; float layers on top of
            minmax started 13.6 dB behind)."""
            nonlocal base, method
            scored = [a for a in calibrations if a.score]
            best = max(scored, key=lambda a: a.score.psnr_vs_fp32, default=None)
            if best is not None and best.calib_method != method and (
                    base.score is None or best.score.psnr_vs_fp32 > base.score.psnr_vs_fp32):
                base, method = best, best.calib_method

        keras_first = []
        if structural_first and "cle" in self.ptq and _has_norm_pairs(model):
            # NNCF's channel alignment does not reach a BN after the ReLU (eccv16's seven);
            # equalizing into it is one conversion and keeps every layer int8
            keras_first.append(trial("int8 + cle", precision, method, [], ptq="cle", tier=2))
            if met():
                return
        if self.fmt.name == "openvino":  # one conversion each, before NNCF's minutes
            other_calibrations()
            if met():
                return
        if structural_first:
            adopt_best_calibration()
            # NNCF's channel alignment + full bias correction re-runs the model layer by
            # layer: about 7 of the 10 minutes of pix2pix-densenet121-lab's OpenVINO row
            # (27.3 -> 27.4 dB), where the head in float is one conversion (50.5 dB).
            # Cost order puts the tier-4 structural candidates first on OpenVINO.
            floats(4, STRUCTURAL, structural_groups(model, STRUCTURAL_JOINS), method, None)
            if met():
                return
            residual_stream()
            if met():
                return
        if self.fmt.name == "openvino":
            candidates = keras_first + [trial("int8, channel alignment + bias correction",
                                              precision, method, [], {"nncf": NNCF_ADVANCED},
                                              tier=2)]
            if candidates[-1] is not None and candidates[-1].error:
                # NNCF 3.4's channel alignment can fail where bias correction alone runs
                # (pix2pix-mobilenetv2-lab: KeyError in its Tensor.astype(np.float32))
                candidates.append(trial("int8, bias correction", precision, method, [],
                                        {"nncf": NNCF_BIAS_ONLY}, tier=2))
        else:
            candidates = [trial(f"int8 + {p}", precision, method, [], ptq=p, tier=2)
                          for p in (() if foreign else self._keras_fixes(model, spec))]
            other_calibrations()
        if not met() and self.adaround and not foreign and self._rounding_matters(model, spec):
            # learned rounding (edgecolor.quant.adaround): minutes of Keras work, one
            # conversion; kept only where weight rounding is a real part of the error
            candidates.append(trial("int8 + adaround", precision, method, [], ptq="adaround",
                                    tier=2))
        for a in candidates:
            if a is not None and a.score and (base.score is None or
                                              a.score.psnr_vs_fp32 > base.score.psnr_vs_fp32):
                base = a
        adopt_best_calibration()
        if met():
            return
        # tier 3: layers the held-out photos push beyond their calibration range
        from edgecolor.quant.risks import coverage_risks, range_risks

        flagged = [r.layer for r in coverage_risks(
            self._calibration_coverage(model, options.calib))]
        for layers in coverage_sets(model, flagged, limit()):
            a = trial("int8 + float layers (calibration coverage)", precision, method, layers,
                      base.extra or None, base.ptq, 3)
            if a is not None and a.within(budget):
                break
        if met():
            return
        if foreign:
            # an ONNX unit is one node, and a tensor between two nodes stays int8 while
            # either is (int8-cpu: the consumer reads its producer's int8 output), so a
            # tensor whose range int8 cannot hold needs its producer and readers in float:
            # one-node probes of the ranking below cannot find it (a Keras block can)
            wide = list(dict.fromkeys(r.layer for r in range_risks(
                self._activation_ranges(model, options.calib))))
            for layers in coverage_sets(model, wide, limit()):
                a = trial("int8 + float layers (activation range)", precision, method,
                          layers, base.extra or None, base.ptq, 3)
                if a is not None and a.within(budget):
                    break
            if met():
                return
        # tier 4: the output head, then with the decoder's last joins, in float (one
        # conversion each) before the minutes of probes a ranking costs; then the most
        # sensitive layers in float
        if not foreign and not structural_first:
            floats(4, STRUCTURAL, structural_groups(model, STRUCTURAL_JOINS), method,
                   base.ptq, base.extra or None)
            if met():
                return
            residual_stream()
            if met():
                return
        try:
            ranking = self._rank(model, spec, precision, options, method)
        except SearchTimeout:
            raise
        except Exception as e:  # no ranking: the strategies without float layers still run
            attempts.append(Attempt(RANKING, precision, method, [], error=one_line(e, 200)))
            ranking = []  # float groups, most sensitive first
        floats(4, "int8 + float layers", ranking, method, base.ptq, base.extra or None)
        if met():
            return
        # tier 5: the best of the other calibration methods (tier 2) with float layers
        scored = sorted((a for a in calibrations if a.score),
                        key=lambda a: -a.score.psnr_vs_fp32)
        for best in scored[:1]:
            if best.calib_method != method and (
                    plain.score is None or best.score.psnr_vs_fp32 > plain.score.psnr_vs_fp32):
                floats(5, "int8 + float layers", ranking, best.calib_method, None)
        if met():
            return
        if "int16x8" in self.fmt.precisions:
            trial("int16x8", "int16x8", "minmax", [], tier=6)
        if met():
            return
        # tier 7: a short quantization-aware fine-tune (minutes of Keras training), then
        # the same int8 conversion; scored vs the original FP32 model like every candidate
        if self.qat_minutes and not foreign:
            trial("int8 + qat", precision, method, [], ptq="qat", tier=7)

    def _keras_fixes(self, model, spec) -> list[str]:
        """The PTQ fixes of ``self.ptq`` that can change this model's int8 output, each cut
        to its parts that can (duplicates dropped): equalization only where the model has
        ReLU chains or conv -> BN pairs to rescale (pix2pix-mobilenetv2's ReLU6 chains have
        none: its "cle" model is the original), bias correction only where round-to-nearest
        weights use a real share of the budget (:meth:`_rounding_matters`; it corrects the
        mean shift of the weights' rounding and nothing else). Each skipped fix saved a
        conversion that scored exactly like plain int8 (38.76 dB vs FP32 on TFLite, 33.98 on
        the Q/DQ row)."""
        from edgecolor.quant.equalize import relu_chains

        useful = {"cle": lambda: bool(relu_chains(model) or _has_norm_pairs(model)),
                  "bc": lambda: self._rounding_matters(model, spec)}
        known: dict[str, bool] = {}
        fixes: list[str] = []
        for method in self.ptq:
            parts = []
            for part in method.split("+"):
                if part not in known:
                    known[part] = useful[part]() if part in useful else True
                if known[part]:
                    parts.append(part)
            kept = "+".join(parts)
            if kept and kept not in fixes:
                fixes.append(kept)
        return fixes

    def _check_deadline(self) -> None:
        """SearchTimeout once ``search_minutes`` are spent."""
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise SearchTimeout

    def _rounding_matters(self, model, spec) -> bool:
        """True when round-to-nearest int8 weights alone (activations float, scored on the
        validation photos) use over ROUNDING_SHARE of a bound: only then can learned
        rounding move the int8 artifact much."""
        from edgecolor.quant.adaround import round_nearest
        from edgecolor.quant.equalize import _copy

        if self.shared.weight_only is None:
            rounded = _copy(model)
            for layer in rounded.layers:
                w = layer.get_weights()
                if type(layer).__name__ == "Conv2D" and w:
                    layer.set_weights([round_nearest(w[0]), *w[1:]])
            self.shared.weight_only = self.validator.score(keras_infer(rounded, spec))
        s, b = self.shared.weight_only, self.budget
        return bool((b.min_psnr_fp32 is not None
                     and s.psnr_vs_fp32 < b.min_psnr_fp32 + ROUNDING_MARGIN_DB)
                    or (b.max_dpsnr is not None and s.dpsnr > ROUNDING_SHARE * b.max_dpsnr)
                    or (b.max_de is not None and s.de_mean is not None
                        and s.de_mean > ROUNDING_SHARE * b.max_de))

    def _rank(self, model, spec, precision, options, method: str) -> list[list[str]]:
        """Float groups (a layer, or a join with the layers around it) most worth keeping in
        float first (all-but-one sensitivity on this backend, calibrated with ``method``)."""
        from edgecolor.quant.backends import make_backend
        from edgecolor.quant.sensitivity import analyze_backend, probe_groups, structural

        if self.progress:
            self.progress(f"ranking layers on {self.fmt.name}")
        if src.is_onnx_source(model):
            backend = src.SourceBackend(self.fmt.name, model, spec, options.calib, precision,
                                        method)
        else:
            backend = make_backend(self.fmt.name, model, spec, options.calib, precision,
                                   method)
        foreign = src.is_onnx_source(model)
        result = analyze_backend(backend, self.validator, modes=("all_but",), with_stats=False,
                                 progress=self._check_deadline,
                                 max_probes=MAX_PROBES,
                                 ranges=self._activation_ranges(model, options.calib),
                                 groups=None if foreign else probe_groups(model),
                                 always=None if foreign else structural(model))
        self.layer_count = result.layer_count
        self.ranking = result.ranking()
        return [s.unit() for s in result.layers if s.error is None]

    # -- reporting ---------------------------------------------------------------------------

    def _ignored(self, model, spec, calib) -> list:
        """The ignored_input risks of the model (none when measuring them fails)."""
        from edgecolor.quant.risks import ignored_input_risks

        try:
            return ignored_input_risks(self._input_influence(model, spec, calib))
        except Exception:  # noqa: BLE001 - the reason is a hint; the failure stands without it
            return []

    def _failure(self, precision: str, attempts: list[Attempt], ignored: list = ()) -> str:
        n = len(self.validator.vset)
        slow = [a for a in attempts if self.budget.fidelity_holds(a.score)]
        why = (f"{len(slow)} candidate{'s' if len(slow) != 1 else ''} kept the colors but "
               f"ran below {self.budget.min_speedup:g}x FP32 speed (lower --min-speedup, or "
               "use fp16/fp32). " if slow else "")
        for risk in ignored:
            why += (f"The FP32 output barely uses input {risk.layer!r} (flattening it moves the "
                    f"output {100 * risk.value:.2g}% of its spread): the other inputs' int8 "
                    "error reaches every pixel; train the model until it uses it. ")
        if self.stopped:
            why += (f"The search stopped after {self.search_minutes:g} min (--search-minutes; "
                    "raise it to try the remaining tiers). ")
        return (f"{self.fmt.name} {precision}: budget {self.budget.text()} not met "
                f"({n} validation image{'s' if n != 1 else ''}, <= "
                f"{self.max_float_fraction:.0%} of layers float). {why}Fix: loosen the budget "
                "(--max-dpsnr, --min-psnr-fp32, --max-de), --calib more deployment images, or "
                "use fp16/fp32. Tried (dPSNR dB/PSNR vs FP32 dB/dE00): "
                + ", ".join(a.line() for a in attempts))

    def _fp32_artifact(self, model, spec, options, work) -> tuple[Path, dict]:
        """The same runtime's FP32 artifact (converted once per conversion)."""
        if self._fp32 is None:
            path = work / f"fp32{self.fmt.suffix}"
            fields = self.fmt.load_converter()(model, spec, "fp32", path,
                                               replace(options, calib=None, extra={}))
            self._fp32 = path, fields
        return self._fp32

    def _speedup(self, runner, model, spec, options, work) -> float | None:
        """An activated candidate runner -> its speed vs the FP32 artifact (×; median
        latencies, timed round-robin with it); None when timing fails (the speed floor
        then counts as missed)."""
        try:
            if self._fp32_runner is None:
                path, fields = self._fp32_artifact(model, spec, options, work)
                fp32 = runner_class(self.fmt)(path, spec, fields, threads=options.threads)
                fp32.activate()
                self._fp32_runner = fp32
            ms = round_robin_ms({"fp32": self._fp32_runner, "candidate": runner},
                                self.validator.vset.inputs[0], self.timing_runs)
            return ms["fp32"] / ms["candidate"]
        except Exception:  # noqa: BLE001 - reported as "speed not measured"
            return None

    def _time(self, model, spec, options, work, attempts: list[Attempt]) -> dict:
        """Median latency of every scored candidate and of the same runtime's FP32 artifact
        (round-robin, one process) -> the speed record; sets each attempt's ``ms``."""
        scored = [a for a in attempts if a.score is not None and a.path is not None]
        runners: dict = {}
        try:
            fp32, fields = self._fp32_artifact(model, spec, options, work)
            cls = runner_class(self.fmt)
            runners["fp32"] = cls(fp32, spec, fields, threads=options.threads)
            for i, a in enumerate(scored):
                runners[i] = cls(a.path, spec, a.fields, threads=options.threads)
            for r in runners.values():
                r.activate()
            ms = round_robin_ms(runners, self.validator.vset.inputs[0], self.timing_runs)
        except Exception as e:  # timing is informative; never fails the conversion
            return {"error": one_line(e, 200)}
        finally:
            for r in runners.values():
                with contextlib.suppress(Exception):
                    r.deactivate()
        for i, a in enumerate(scored):
            a.ms = ms[i]
        return {"fp32_ms": round(ms["fp32"], 3), "runs": self.timing_runs,
                "threads": options.threads, "runner": cls.name}

    def _fields(self, options, precision: str, chosen: Attempt, attempts, speed, model,
                spec, out_path: Path) -> dict:
        from edgecolor.quant.risks import check_risks, conversion_actions

        score = chosen.score
        risks = conversion_actions(
            check_risks(model, spec, options.calib,
                        ranges=self._activation_ranges(model, options.calib),
                        coverage=self._calibration_coverage(model, options.calib),
                        influence=self._input_influence(model, spec, options.calib)),
            chosen.float_layers, self.fmt.name, score.dpsnr, self.max_dpsnr, precision,
            chosen.ptq, chosen.calib_method)
        if "fp32_ms" in speed and chosen.ms:
            speed = {**speed, "ms": round(chosen.ms, 3),
                     "speedup_vs_fp32": round(speed["fp32_ms"] / chosen.ms, 2)}
        points = [{"label": a.short(), "ms": a.ms, "psnr_vs_fp32": a.score.psnr_vs_fp32,
                   "dpsnr": a.score.dpsnr, "within": a.within(self.budget),
                   "chosen": a is chosen} for a in attempts if a.score is not None]
        front = pareto_front(points)
        warning = speed_warning(speed.get("speedup_vs_fp32"))
        if warning:
            speed = {**speed, "warning": warning}
        record = {
            "budget": self.budget.to_dict(),
            "max_dpsnr": self.max_dpsnr,
            "checks": self.budget.checks(score, chosen.speedup),
            "strategy": chosen.strategy,
            "precision": chosen.precision,
            "calib_method": chosen.calib_method,
            "ptq": chosen.ptq,
            "float_layers": list(chosen.float_layers),
            # the float layers' own denominator (Keras layers, or an ONNX source's nodes);
            # a ranking counts what its backend probes (koalarization's TFLite: 355 of 803)
            "layers": len(units(model)),
            "ranked_layers": self.layer_count or None,
            "max_float_fraction": self.max_float_fraction,
            "validation": {**self.validator.vset.info(),
                           "psnr_fp32": round(self.validator.fp32_psnr, 3),
                           **score.to_dict()},
            "speed": speed,
            "search": {"minutes_limit": self.search_minutes, "stopped": self.stopped},
            "chosen_by": "fastest within budget" if sum(
                p["within"] for p in points) > 1 else "only candidate within budget",
            "ranking": self.ranking,
            "coverage": [c.to_dict() for c in (self.shared.coverage or [])[:8]],
            "attempts": [a.to_dict() for a in attempts],
            "pareto": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in p.items()}
                       for p in front],
        }
        if self.pareto_png and points:
            from edgecolor.quant.report import pareto_chart

            try:
                png = pareto_chart(points, front, pareto_path(out_path),
                                   f"{spec.name} {self.fmt.name} {precision}",
                                   speed.get("fp32_ms"), self.budget.min_psnr_fp32)
                record["pareto_png"] = png.name
            except Exception as e:  # the chart is informative; never fails the conversion
                record["pareto_png_error"] = one_line(e, 200)
        fields = dict(chosen.fields)
        fields["float_layers"] = list(chosen.float_layers)
        fields["quantization"] = record
        fields["risks"] = [r.to_dict() for r in risks]
        if chosen.precision != precision:  # int16x8 instead of int8: the manifest says so
            fields["precision"] = chosen.precision
            fields["requested_precision"] = precision
        fields["calibration"] = {**options.calib.info(), "method": chosen.calib_method}
        notes = list(fields.get("notes", []))
        notes.append(summary_note(record))
        fields["notes"] = notes
        return fields


def speed_warning(speedup: float | None) -> str | None:
    """Speed of the chosen artifact vs the same runtime's FP32 (×) -> the warning a user
    must see when it is slower (None when it is not, or was not measured)."""
    if speedup is None or speedup >= 1.0:
        return None
    return (f"slower than the same runtime's FP32 artifact ({speedup:.2f}x): fp16/fp32 "
            "would be faster; --min-speedup 1 refuses such candidates")


def summary_note(record: dict) -> str:
    """The one-line budget result the convert summary shows: which bound held by how much."""
    v = record["validation"]
    floats = record["float_layers"]
    speed = record.get("speed") or {}
    text = (f"budget met by {record['strategy']}: "
            f"{checks_text(record.get('checks') or [])} ({v['images']} val. images); "
            f"float layers: {short_layer_list(floats) or 'none'}")
    if speed.get("speedup_vs_fp32"):
        text += f"; {speed['speedup_vs_fp32']:.2f}x FP32 speed"
    if speed.get("warning"):
        text += f"; ⚠ {speed['warning']}"
    search = record.get("search") or {}
    if search.get("stopped"):
        text += (f"; search stopped after {search['minutes_limit']:g} min "
                 "(--search-minutes): a later tier may have found a faster artifact")
    return text


def budgeted_converter(fmt: Format | str, max_dpsnr: float | None = None,
                       **kw) -> BudgetedConversion:
    """A converter-signature callable that meets the budget (see :class:`BudgetedConversion`:
    ``max_dpsnr``, ``min_psnr_fp32``, ``max_de``, ...)."""
    return BudgetedConversion(fmt, max_dpsnr, **kw)
