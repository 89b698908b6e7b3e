"""Budgeted int8 conversion: meet a PSNR budget with the least float, on every format.

The budget is on quality: ΔPSNR = PSNR(FP32 vs ground truth) − PSNR(int8 vs ground truth),
in dB, on the validation split of the calibration images (never calibrated on). Strategy,
cheapest first; the first artifact within budget is kept:

1. plain int8 (the requested calibration method);
2. the most sensitive layers in float, one more at a time, ranked by
   :mod:`edgecolor.quant.sensitivity` on the same backend, up to ``max_float_fraction`` of
   the layers and MAX_FLOAT_TRIALS candidates (TFLite denylist, NNCF ignored scope, ONNX
   Runtime nodes_to_exclude); a model with more than MAX_PROBES layers ranks only the
   MAX_PROBES layers with the most outlying FP32 ranges, so the search stays minutes long;
3. the format's other calibration methods (minmax / percentile / entropy), plain and then
   with the same float layers, best validation PSNR first;
4. OpenVINO: NNCF channel alignment (cross-layer equalization) + full bias correction;
5. TFLite: int16x8 (int16 activations, int8 weights).

Every candidate is a real artifact from the format's converter, scored by its real runner.
The manifest records the strategy, the layers kept in float, the validation PSNR reached,
every attempt and the quick latency ratio vs the same runtime's FP32 artifact.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import shutil
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from edgecolor.bench.stats import time_calls
from edgecolor.converters.float_layers import layer_names
from edgecolor.errors import one_line
from edgecolor.formats import Format, get_format, load_runner_class
from edgecolor.quant import MAX_PROBES
from edgecolor.quant.validation import Score, ValidationSet, Validator, keras_infer

BUDGETED = ("int8", "int8-cpu")  # precisions a PSNR budget applies to
MAX_FLOAT_FRACTION = 0.2
MAX_FLOAT_TRIALS = 8  # float-layer candidates per calibration method (each a full conversion)
TIMING_RUNS = 15
NNCF_ADVANCED = {"channel_alignment": True, "bias_correction": "full"}
RANKING = "layer ranking"  # the strategy name of a failed sensitivity ranking (no artifact)


class BudgetError(RuntimeError):
    """No strategy met the budget; the one-line message lists every attempt and the fix."""

    def __init__(self, message: str, attempts: list[Attempt]) -> None:
        super().__init__(message)
        self.attempts = attempts


@dataclass
class Attempt:
    """One candidate artifact and its validation score."""

    strategy: str
    precision: str
    calib_method: str
    float_layers: list[str]
    score: Score | None = None
    error: str | None = None
    extra: dict = field(default_factory=dict)
    path: Path | None = None
    fields: dict = field(default_factory=dict)

    def within(self, max_dpsnr: float) -> bool:
        """True when it scored and its ΔPSNR is at most ``max_dpsnr``."""
        return self.score is not None and self.score.dpsnr <= max_dpsnr + 1e-9

    def label(self) -> str:
        """"int8 minmax + float [spike]"-style name."""
        text = f"{self.strategy} ({self.precision}, {self.calib_method})"
        if self.float_layers:
            text += f" + float [{', '.join(self.float_layers)}]"
        return text

    def short(self) -> str:
        """Compact name for one-line messages: "int8/percentile+float[spike]"."""
        text = self.precision
        if self.calib_method != "minmax":
            text += f"/{self.calib_method}"
        if self.extra.get("nncf"):
            text += "+CLE/BC"
        if self.float_layers:
            text += f"+float[{','.join(self.float_layers)}]"
        return text

    def line(self) -> str:
        """Compact one-line result: "int8+float[spike] 0.52" (dB) or "... failed"."""
        if self.score is None:
            name = RANKING if self.strategy == RANKING else self.short()
            return f"{name} failed ({self.error})"
        return f"{self.short()} {self.score.dpsnr:.2f}"

    def to_dict(self) -> dict:
        """JSON-ready record (no paths: candidates are deleted)."""
        return {"strategy": self.strategy, "precision": self.precision,
                "calib_method": self.calib_method, "float_layers": list(self.float_layers),
                "extra": dict(self.extra), "error": self.error,
                "score": self.score.to_dict() if self.score else None}


def runner_class(fmt: Format):
    """The first of the format's runner classes whose runtime is installed."""
    for name in fmt.runners:
        cls = load_runner_class(name)
        if cls.available():
            return cls
    raise RuntimeError(f"no runtime for {fmt.name} installed; pip install "
                       f"'edgecolor[{fmt.extra}]'")


def _median_ms(runner, inputs: list[np.ndarray], runs: int) -> float:
    """Median inference time of ``runner`` on ``inputs`` in ms (3 untimed runs first)."""
    with runner:
        return statistics.median(time_calls(lambda: runner.infer(inputs), runs=runs, warmup=3))


def _move(src: Path, dst: Path, fmt: Format) -> None:
    """Candidate files -> the artifact path (sidecars first, each os.replace is atomic)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    for suffix in fmt.sidecars:
        os.replace(src.with_suffix(suffix), dst.with_suffix(suffix))
    os.replace(src, dst)


class BudgetedConversion:
    """Runs the strategy loop for one artifact (see the module docstring).

    validator: scores candidates (built from ``options.calib``'s held-out images when None);
    progress(text): called before each candidate.
    """

    def __init__(self, fmt: Format | str, max_dpsnr: float,
                 max_float_fraction: float = MAX_FLOAT_FRACTION,
                 validator: Validator | None = None,
                 progress: Callable[[str], None] | None = None,
                 timing_runs: int = TIMING_RUNS) -> None:
        self.fmt = get_format(fmt) if isinstance(fmt, str) else fmt
        if not math.isfinite(max_dpsnr) or max_dpsnr < 0:
            raise ValueError(f"--max-dpsnr must be a number of dB >= 0 (got {max_dpsnr})")
        self.max_dpsnr = float(max_dpsnr)
        self.max_float_fraction = max_float_fraction
        self.validator = validator
        self.progress = progress
        self.timing_runs = timing_runs
        self.ranking: list[str] | None = None
        self.layer_count = 0
        self._ranges: list[dict] | None = None  # FP32 activation ranges on the calibration set

    def _activation_ranges(self, model, calib) -> list[dict]:
        """Measured once: the ranking's preselection and the risk checks both use them."""
        from edgecolor.quant.risks import activation_ranges

        if self._ranges is None:
            self._ranges = activation_ranges(model, calib.samples)
        return self._ranges

    def __call__(self, model, spec, precision: str, out_path: Path, options) -> dict:
        """Converter signature: writes the chosen artifact at ``out_path`` -> manifest fields.

        Raises BudgetError (attempts listed) when nothing meets the budget.
        """
        out_path = Path(out_path)
        if options.calib is None:
            raise ValueError(f"{self.fmt.name} {precision}: a PSNR budget needs calibration "
                             "images with a held-out split (--calib DIR)")
        if self.validator is None:
            self.validator = Validator(ValidationSet.from_calibration(options.calib),
                                       keras_infer(model, spec))
        out_path.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{out_path.stem}.budget.", dir=out_path.parent))
        try:
            attempts: list[Attempt] = []
            chosen = self._search(model, spec, precision, options, work, attempts)
            if chosen is None:
                raise BudgetError(self._failure(precision, attempts), attempts)
            speed = self._speed(model, spec, options, work, chosen)
            _move(chosen.path, out_path, self.fmt)
            return self._fields(options, precision, chosen, attempts, speed, model, spec)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    # -- the strategy loop ------------------------------------------------------------------

    def _search(self, model, spec, precision, options, work, attempts) -> Attempt | None:
        def trial(strategy, prec, method, float_layers, extra=None) -> Attempt:
            a = Attempt(strategy, prec, method, list(float_layers), extra=dict(extra or {}))
            if self.progress:
                self.progress(a.label())
            a.path = work / f"candidate{len(attempts)}{self.fmt.suffix}"
            opts = replace(options, calib_method=method,
                           extra={**options.extra, "float_layers": list(float_layers),
                                  **a.extra})
            try:
                with contextlib.redirect_stdout(io.StringIO()):  # ORT calibrators print()
                    a.fields = self.fmt.load_converter()(model, spec, prec, a.path, opts)
                runner = runner_class(self.fmt)(a.path, spec, a.fields,
                                                 threads=options.threads)
                with runner:
                    a.score = self.validator.score(runner.infer)
            except Exception as e:  # a failing candidate is an attempt, not a crash
                a.error = one_line(e, 200)
            attempts.append(a)
            return a

        method = options.calib_method
        plain = trial("int8", precision, method, [])
        if plain.within(self.max_dpsnr):
            return plain
        try:
            ranking = self._rank(model, spec, precision, options)
        except Exception as e:  # no ranking: the strategies without float layers still run
            attempts.append(Attempt(RANKING, precision, method, [],
                                    error=one_line(e, 200)))
            ranking = []
        limit = min(MAX_FLOAT_TRIALS,
                    max(1, math.floor(self.max_float_fraction * self.layer_count)))
        for k in range(1, min(limit, len(ranking)) + 1):
            a = trial("int8 + float layers", precision, method, ranking[:k])
            if a.within(self.max_dpsnr):
                return a

        others = [m for m in self.fmt.calib_methods if m != method]
        tried = [trial(f"int8, {m} calibration", precision, m, []) for m in others]
        for a in tried:
            if a.within(self.max_dpsnr):
                return a
        scored = sorted((a for a in tried if a.score), key=lambda a: -a.score.psnr)
        for base in scored[:1]:
            if plain.score is not None and base.score.psnr <= plain.score.psnr:
                break  # no better than the first method: its float layers already failed
            for k in range(1, min(limit, len(ranking)) + 1):
                a = trial("int8 + float layers", precision, base.calib_method, ranking[:k])
                if a.within(self.max_dpsnr):
                    return a

        if self.fmt.name == "openvino":
            a = trial("int8, channel alignment + bias correction", precision, method, [],
                      {"nncf": NNCF_ADVANCED})
            if a.within(self.max_dpsnr):
                return a
        if "int16x8" in self.fmt.precisions:
            a = trial("int16x8", "int16x8", "minmax", [])
            if a.within(self.max_dpsnr):
                return a
        return None

    def _rank(self, model, spec, precision, options) -> list[str]:
        """Layers most worth keeping in float first (all-but-one sensitivity on this backend)."""
        from edgecolor.quant.backends import make_backend
        from edgecolor.quant.sensitivity import analyze_backend

        if self.progress:
            self.progress(f"ranking layers on {self.fmt.name}")
        method = options.calib_method if self.fmt.name != "tflite" else "minmax"
        backend = make_backend(self.fmt.name, model, spec, options.calib, precision, method)
        result = analyze_backend(backend, self.validator, modes=("all_but",), with_stats=False,
                                 max_probes=MAX_PROBES,
                                 ranges=self._activation_ranges(model, options.calib))
        self.layer_count = result.layer_count
        self.ranking = result.ranking()
        return self.ranking

    # -- reporting ---------------------------------------------------------------------------

    def _failure(self, precision: str, attempts: list[Attempt]) -> str:
        n = len(self.validator.vset)
        return (f"{self.fmt.name} {precision}: dPSNR budget {self.max_dpsnr:g} dB not met "
                f"({n} validation image{'s' if n != 1 else ''}, <= "
                f"{self.max_float_fraction:.0%} of layers float); tried (dPSNR dB): "
                + ", ".join(a.line() for a in attempts) +
                ". Fix: raise --max-dpsnr, --calib more deployment images, or use fp16/fp32")

    def _speed(self, model, spec, options, work, chosen: Attempt) -> dict:
        """Median latency of the chosen artifact and of the same runtime's FP32 artifact."""
        fp32 = work / f"fp32{self.fmt.suffix}"
        try:
            fields = self.fmt.load_converter()(model, spec, "fp32", fp32,
                                               replace(options, calib=None, extra={}))
            cls = runner_class(self.fmt)
            inputs = self.validator.vset.inputs[0]
            q_ms = _median_ms(cls(chosen.path, spec, chosen.fields, threads=options.threads),
                              inputs, self.timing_runs)
            f_ms = _median_ms(cls(fp32, spec, fields, threads=options.threads), inputs,
                              self.timing_runs)
        except Exception as e:  # timing is informative; never fails the conversion
            return {"error": one_line(e, 200)}
        return {"fp32_ms": round(f_ms, 3), "ms": round(q_ms, 3),
                "speedup_vs_fp32": round(f_ms / q_ms, 2) if q_ms > 0 else None,
                "runs": self.timing_runs, "threads": options.threads,
                "runner": cls.name}

    def _fields(self, options, precision: str, chosen: Attempt, attempts, speed, model,
                spec) -> dict:
        from edgecolor.quant.risks import check_risks, conversion_actions

        score = chosen.score
        risks = conversion_actions(
            check_risks(model, spec, options.calib,
                        ranges=self._activation_ranges(model, options.calib)),
            chosen.float_layers, self.fmt.name, score.dpsnr, self.max_dpsnr)
        record = {
            "max_dpsnr": self.max_dpsnr,
            "strategy": chosen.strategy,
            "precision": chosen.precision,
            "calib_method": chosen.calib_method,
            "float_layers": list(chosen.float_layers),
            "layers": self.layer_count or len(layer_names(model)),
            "max_float_fraction": self.max_float_fraction,
            "validation": {**self.validator.vset.info(),
                           "psnr_fp32": round(self.validator.fp32_psnr, 3),
                           **score.to_dict()},
            "speed": speed,
            "ranking": self.ranking,
            "attempts": [a.to_dict() for a in attempts],
        }
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


def summary_note(record: dict) -> str:
    """The one-line budget result the convert summary shows."""
    v = record["validation"]
    floats = record["float_layers"]
    speed = record.get("speed") or {}
    text = (f"budget {record['max_dpsnr']:g} dB met by {record['strategy']}: "
            f"dPSNR {v['dpsnr']:.2f} dB ({v['psnr_vs_fp32']:.1f} dB vs FP32, "
            f"{v['images']} val. images); float layers: {', '.join(floats) or 'none'}")
    if speed.get("speedup_vs_fp32"):
        text += f"; {speed['speedup_vs_fp32']:.2f}x FP32 speed"
    return text


def budgeted_converter(fmt: Format | str, max_dpsnr: float, **kw) -> BudgetedConversion:
    """A converter-signature callable that meets ``max_dpsnr`` (see :class:`BudgetedConversion`)."""
    return BudgetedConversion(fmt, max_dpsnr, **kw)
