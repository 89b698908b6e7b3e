"""Risk checks before quantizing: the layers int8 is known to hurt in colorization models.

Flagged per Keras layer (or block), each with what edgecolor did about it:

* ``conv_transpose``: ConvTranspose in int8 on the TensorRT Q/DQ row (TensorRT INT8
  deconvolution has produced wrong output; the int8-cpu flavour rewrites it into exact phase
  convolutions, TFLite and OpenVINO run it as any convolution), so only that row reports it;
* ``resize``: UpSampling/Resize between int8 tensors (ONNX Runtime has mis-fused Q/DQ around
  linear Resize; nearest only copies values and is exact);
* ``softmax_head``: the 313-way color-bin softmax (int8 probabilities step by 1/256: the
  annealed-mean decode loses saturated colors);
* ``tanh_output``: an ab = scale * tanh output (one int8 step is 2 * scale / 255 ab units);
* ``wide_range``: activations whose max is far above their 99.99th percentile
  (``max/p99.99``), or one channel far above the others (``channel spread``: max channel
  range / 75th-percentile channel range): a per-tensor
  int8 scale set by the outlier leaves the rest of the tensor a few levels;
* ``concat_ranges``: a concatenation of inputs whose ranges differ by more than
  CONCAT_RATIO (every backend gives a concat one int8 scale, so the smaller input keeps a
  few levels; koalarization's fusion concat did this to its encoder features);
* ``ignored_input``: a model input the FP32 output barely depends on (replacing it by its
  per-image mean moves the output by less than IGNORED_RATIO of the output's spread): the
  colors come from the other inputs alone, so their int8 error lands in every pixel and no
  float layer near the output can take it back (our one-epoch koalarization ignores L:
  its colors are a function of the Inception logits only);
* ``calibration_coverage``: layers where the held-out (validation) photos reach more than
  COVERAGE_RATIO times the largest activation of the calibration photos: int8 clips them
  there (koalarization's backbone logits reached +-225..417 on held-out photos, +-28 on the
  calibration photos). The budget keeps these layers in float first.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from edgecolor.converters.float_layers import input_layers, top_layers

WIDE_RATIO = 4.0  # max / p99.99 above this: outliers set the int8 scale
SPREAD_RATIO = 32.0  # max channel range / 75th-percentile channel range above this
CONCAT_RATIO = 16.0  # largest / smallest input range of a concatenation above this
COVERAGE_RATIO = 1.5  # held-out max / calibration max above this: calibration misses them
IGNORED_RATIO = 0.01  # output change / output spread below this: the input is ignored
NORM_SPREAD = 10.0  # BN-after-activation multipliers spread beyond this: int8 rounds them
IGNORED_IMAGES = 4  # calibration photos the ignored-input check runs
COVERAGE_IMAGES = 100  # calibration photos whose maxima the coverage check compares
_TINY = 1e-9
MAX_IMAGES = 16  # calibration images used to measure activation ranges
MAXIMA_BATCH = 4  # photos per tapped forward pass in photo_maxima
VALUES_PER_IMAGE = 100_000  # values sampled per image and tensor for the percentile
BINS = 313
TENSORRT_ROWS = ("onnx:int8",)  # the TensorRT Q/DQ flavour


@dataclass
class Risk:
    """One flagged layer: what was found, how bad, and what edgecolor did about it."""

    layer: str
    kind: str
    severity: str  # "high" | "medium" | "info"
    detail: str
    action: str = "reported"
    value: float | None = None
    rows: tuple[str, ...] = ()  # "format:precision" rows it concerns; () = every row

    def concerns(self, fmt: str, precision: str | None) -> bool:
        """True when the risk applies to artifacts of ``fmt`` at ``precision``."""
        return not self.rows or f"{fmt}:{precision}" in self.rows

    def to_dict(self) -> dict:
        """JSON-ready record."""
        d = asdict(self)
        if isinstance(d["value"], float):
            d["value"] = round(d["value"], 3)
        return d


def _activation_name(layer) -> str:
    act = getattr(layer, "activation", None)
    return getattr(act, "__name__", "") if act is not None else ""


def _last_compute_layer(model):
    layers = top_layers(model)
    return layers[-1] if layers else None


def structural_risks(model, spec) -> list[Risk]:
    """Risks visible from the architecture alone (no data)."""
    risks = []
    last = _last_compute_layer(model)
    for layer in top_layers(model):
        inner = top_layers(layer) if hasattr(layer, "layers") else [layer]
        for sub in inner:
            sub_kind = type(sub).__name__
            where = layer.name if sub is layer else f"{layer.name} ({sub.name})"
            if "Transpose" in sub_kind and "Conv" in sub_kind:
                risks.append(Risk(layer.name, "conv_transpose", "high",
                                  f"{where}: {sub_kind} in int8 (TensorRT INT8 deconvolution "
                                  "has given wrong output)", rows=TENSORRT_ROWS))
            elif sub_kind in ("UpSampling2D", "Resizing", "NearestResize"):
                mode = getattr(sub, "interpolation", "nearest")
                linear = mode != "nearest"
                risks.append(Risk(layer.name, "resize", "medium" if linear else "info",
                                  f"{where}: {sub_kind} ({mode}) between int8 tensors" + (
                                      " (Q/DQ around linear Resize can be mis-fused)"
                                      if linear else " (nearest copies int8 values: exact)")))
            channels = _channels(sub)
            if channels == BINS and (sub_kind == "Softmax" or _activation_name(sub) ==
                                     "softmax"):
                risks.append(Risk(layer.name, "softmax_head", "high",
                                  f"{where}: {BINS}-way softmax in int8 (probabilities step "
                                  "by 1/256; the annealed-mean decode loses color)"))
        if layer is last and _activation_name(layer) == "tanh":
            step = 2.0 * spec.output.scale / 255.0 if spec.output.kind == "ab_tanh" else None
            detail = f"{layer.name}: tanh output in int8"
            if step:
                detail += f" (one step = {step:.2f} ab units)"
            risks.append(Risk(layer.name, "tanh_output", "info", detail, value=step))
    risks += norm_risks(model)
    return risks


def norm_risks(model) -> list[Risk]:
    """A BatchNormalization after a conv's activation (``equalize.norm_pairs``): no
    converter folds it into the conv, and TFLite / ONNX Runtime quantize its per-channel
    multipliers gamma / sqrt(var + eps) as one per-tensor int8 constant (ECCV16's span
    0.001 to 316): medium where they spread over NORM_SPREAD x, else info; value: the
    spread. The ``cle`` fix levels them (``equalize.equalize_norms``)."""
    from edgecolor.quant.equalize import multiplier_spread, norm_multipliers, norm_pairs

    risks = []
    for conv, bn in norm_pairs(model):
        spread = multiplier_spread(norm_multipliers(model.get_layer(bn)))
        risks.append(Risk(bn, "activation_norm", "medium" if spread > NORM_SPREAD else "info",
                          f"{conv} -> {bn}: BatchNormalization after the activation, not "
                          f"foldable: its per-channel multipliers span {spread:.0f}x in one "
                          "int8 tensor; fix: cross-layer equalization into the BN (the "
                          "budget's cle)", value=spread))
    return risks


def _channels(layer) -> int | None:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return None
    return int(shape[-1]) if shape and shape[-1] is not None else None


def _tapper(model):
    """Keras model -> (taps, run): taps = [(layer, where)] for every top-level layer's output
    and, inside nested blocks, every inner layer's output; run(sample) -> one array per tap.
    An ONNX source: every quantizable node's quantized tensor (ONNX Runtime).
    """
    from edgecolor.quant import onnx_source

    if onnx_source.is_onnx_source(model):
        return onnx_source.tapper(model)
    from edgecolor._tf import import_tf

    _, keras = import_tf()
    taps = []  # (layer, where, model-producing-it, input index)
    outer_outputs = []
    for layer in top_layers(model):
        outs = layer.output if isinstance(layer.output, (list, tuple)) else [layer.output]
        for o in outs:
            taps.append((layer.name, layer.name, "outer", len(outer_outputs)))
            outer_outputs.append(o)
    blocks = []
    for layer in top_layers(model):
        inner = top_layers(layer) if isinstance(layer, keras.Model) else []
        if not inner:
            continue
        try:
            sub = keras.Model(layer.inputs, [s.output for s in inner])
            feed = len(outer_outputs)
            outer_outputs.append(layer.input)
        except (AttributeError, ValueError, TypeError):
            continue  # a subclassed block: only its output is tapped
        blocks.append((sub, feed))
        for i, s in enumerate(inner):
            taps.append((layer.name, f"{layer.name} ({s.name})", id(sub), i))
    tap_model = keras.Model(model.inputs, outer_outputs)

    def run(sample) -> list[np.ndarray]:
        outs = [np.asarray(o) for o in tap_model(list(sample), training=False)]
        values = {("outer", i): o for i, o in enumerate(outs)}
        for sub, feed in blocks:
            inner_outs = sub([outs[feed]], training=False)
            inner_outs = inner_outs if isinstance(inner_outs, (list, tuple)) else [inner_outs]
            for i, o in enumerate(inner_outs):
                values[(id(sub), i)] = np.asarray(o)
        return [values[(src, idx)] for _, _, src, idx in taps]

    return [(layer, where) for layer, where, _, _ in taps], run


def activation_ranges(model, samples: list[list[np.ndarray]], seed: int = 0) -> list[dict]:
    """Calibration samples -> per tapped tensor {layer, where, max, p9999, ratio, spread}.

    Taps every top-level layer's output and, inside nested blocks, every inner layer's
    output (a block's inner tensors are where a broken range hides).
    """
    samples = samples[:MAX_IMAGES]
    taps, run = _tapper(model)
    rng = np.random.default_rng(seed)
    acc: dict[int, dict] = {}
    for sample in samples:
        for t, value in enumerate(run(sample)):
            a = np.abs(value.astype(np.float32))
            flat = a.ravel()
            pick = flat if flat.size <= VALUES_PER_IMAGE else rng.choice(
                flat, VALUES_PER_IMAGE, replace=False)
            ch = a.reshape(-1, a.shape[-1]).max(axis=0) if a.ndim >= 2 else a.ravel()
            entry = acc.setdefault(t, {"max": 0.0, "picks": [], "ch": ch})
            entry["max"] = max(entry["max"], float(flat.max()) if flat.size else 0.0)
            entry["picks"].append(pick)
            entry["ch"] = np.maximum(entry["ch"], ch)
    result = []
    for t, (layer, where) in enumerate(taps):
        if t not in acc:
            continue
        entry = acc[t]
        p9999 = float(np.quantile(np.concatenate(entry["picks"]), 0.9999))
        ch = entry["ch"]
        # typical channel: the 75th percentile (ReLU nets have near-dead channels)
        med = float(np.percentile(ch[ch > 0], 75)) if np.any(ch > 0) else 0.0
        result.append({
            "layer": layer, "where": where, "max": entry["max"], "p9999": p9999,
            "ratio": entry["max"] / p9999 if p9999 > 0 else float("inf") if entry["max"] else 1.0,
            "spread": float(ch.max()) / med if med > 0 and ch.size > 1 else 1.0,
        })
    return result


def _maxima(values: list[np.ndarray]) -> list[float]:
    return [float(np.max(np.abs(v))) if v.size else 0.0 for v in values]


def photo_maxima(model, samples: list[list[np.ndarray]]) -> tuple[list[tuple[str, str]],
                                                                  np.ndarray]:
    """Samples -> (taps [(layer, where)], max |activation| per photo and tap: (photos, taps)).

    Photos of one shape run MAXIMA_BATCH at a time (the forward pass is most of the cost:
    about 2x faster on 2 cores); a model that takes one photo at a time (a fixed batch of 1,
    or tapped tensors without a leading batch axis) runs one at a time.
    """
    taps, run = _tapper(model)
    rows: list[list[float]] = []
    batch, i = MAXIMA_BATCH, 0
    while i < len(samples):
        group = samples[i:i + batch]
        shapes = {tuple(np.shape(x) for x in s) for s in group}
        if len(group) > 1 and len(shapes) == 1:
            try:
                values = run([np.concatenate([s[k] for s in group])
                              for k in range(len(group[0]))])
            except Exception:  # noqa: BLE001 - a graph built for batch 1
                values = None
            if values is not None and all(v.ndim and v.shape[0] == len(group) for v in values):
                rows += [_maxima([v[p] for v in values]) for p in range(len(group))]
                i += len(group)
                continue
            batch = 1
        rows.append(_maxima(run(samples[i])))
        i += 1
    return taps, np.asarray(rows, np.float64).reshape(len(rows), len(taps))


@dataclass
class Coverage:
    """Activation ranges of the held-out photos vs the calibration photos, per tapped tensor.

    ratio: held-out max / calibration max (> 1: held-out photos exceed the range int8 was
    calibrated for and are clipped there); beyond: held-out photos above the calibration max.
    """

    layer: str
    where: str
    calib_max: float
    holdout_max: float
    ratio: float
    beyond: int
    photos: int

    def to_dict(self) -> dict:
        """JSON-ready record."""
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def calibration_coverage(model, calib, max_images: int = COVERAGE_IMAGES) -> list[Coverage]:
    """CalibrationSet (with held-out photos) -> :class:`Coverage` per tapped tensor, worst
    ratio first. Uses up to ``max_images`` calibration photos (a larger set can only raise the
    calibration max, so ratios are upper bounds then). Empty without held-out photos.
    """
    if not calib.holdout:
        return []
    used = calib.samples[:max_images]
    taps, both = photo_maxima(model, used + list(calib.holdout))  # one tapped model, one pass
    cal, held = both[:len(used)], both[len(used):]
    cal_max = cal.max(axis=0)
    out = []
    for t, (layer, where) in enumerate(taps):
        hmax = float(held[:, t].max())
        cmax = float(cal_max[t])
        ratio = hmax / cmax if cmax > _TINY else (math.inf if hmax > _TINY else 1.0)
        beyond = int(np.sum(held[:, t] > cmax * (1 + 1e-6) + _TINY))
        out.append(Coverage(layer, where, cmax, hmax, ratio, beyond, len(calib.holdout)))
    return sorted(out, key=lambda c: -c.ratio)


def coverage_risks(coverage: list[Coverage], ratio: float = COVERAGE_RATIO) -> list[Risk]:
    """Coverage -> calibration_coverage risks: one per layer (its worst tensor) whose held-out
    max exceeds the calibration max more than ``ratio`` times, worst first."""
    risks, seen = [], set()
    for c in coverage:
        if c.ratio <= ratio or c.layer in seen:
            continue
        seen.add(c.layer)
        times = "inf" if math.isinf(c.ratio) else f"{c.ratio:.1f}"
        risks.append(Risk(
            c.layer, "calibration_coverage", "high" if c.ratio > 4 * ratio else "medium",
            f"{c.where}: {c.beyond} of {c.photos} held-out photos reach {c.holdout_max:.3g}, "
            f"{times}x the calibration max {c.calib_max:.3g} (int8 clips them there); fixes: "
            "more and more varied calibration photos (--calib), quantile ranges "
            "(--calib-method quantile, convert's default: they clip such photos by design; "
            "check its quick check), or this layer in float",
            value=c.ratio))
    return risks


@dataclass
class InputInfluence:
    """How far the FP32 output moves when one input is flattened to its per-image mean
    (``change``: mean |Δ output|, output units) against the output's own spread (std over
    the photos' outputs); ``ratio`` = change / spread."""

    input: str
    change: float
    spread: float
    ratio: float


def input_influence(model, spec, samples: list[list[np.ndarray]],
                    max_images: int = IGNORED_IMAGES) -> list[InputInfluence]:
    """Keras model + its spec + samples -> one InputInfluence per input (spec order), on the
    first ``max_images`` samples (one forward pass per sample and input)."""
    from edgecolor.quant.validation import keras_infer

    used = samples[:max_images]
    if not used:
        return []
    infer = keras_infer(model, spec)

    def run(xs: list[np.ndarray]) -> np.ndarray:
        return np.asarray(infer(xs), np.float64)

    outs = [run([np.asarray(x, np.float32) for x in s]) for s in used]
    spread = float(np.std(np.stack(outs)))
    result = []
    for k, name in enumerate(inp.name for inp in spec.inputs):
        changes = []
        for sample, out in zip(used, outs, strict=True):
            xs = [np.asarray(x, np.float32) for x in sample]
            xs[k] = np.broadcast_to(xs[k].mean(axis=(1, 2), keepdims=True), xs[k].shape).copy()
            changes.append(float(np.mean(np.abs(run(xs) - out))))
        change = float(np.mean(changes))
        result.append(InputInfluence(name, change, spread,
                                     change / spread if spread > _TINY else 0.0))
    return result


def ignored_input_risks(influence: list[InputInfluence],
                        ratio: float = IGNORED_RATIO) -> list[Risk]:
    """InputInfluence -> ignored_input risks (high): the inputs the output barely uses."""
    return [Risk(
        f.input, "ignored_input", "high",
        f"the FP32 output barely depends on input {f.input!r}: flattening it moves the "
        f"output by {f.change:.2g} on average, {100 * f.ratio:.2g}% of the output's spread "
        f"{f.spread:.2g}; the colors come from the other inputs alone, so their int8 error "
        "reaches every pixel and no float layer near the output takes it back; fix: train "
        "the model until it uses this input (int16x8 or fp16 meanwhile)", value=f.ratio)
        for f in influence if f.ratio < ratio]


def range_risks(ranges: list[dict]) -> list[Risk]:
    """Activation ranges -> wide_range risks (one per tensor over a threshold)."""
    risks = []
    for r in ranges:
        if r["ratio"] > WIDE_RATIO:
            risks.append(Risk(r["layer"], "wide_range", "high" if r["ratio"] > 4 * WIDE_RATIO
                              else "medium",
                              f"{r['where']}: max/p99.99 = {r['ratio']:.1f} (max {r['max']:.3g})",
                              value=r["ratio"]))
        elif r["spread"] > SPREAD_RATIO:
            risks.append(Risk(r["layer"], "wide_range", "high",
                              f"{r['where']}: one channel spans {r['spread']:.0f}x a typical "
                              f"(p75) channel's range (max {r['max']:.3g}): per-tensor int8 leaves "
                              "the other channels a few levels", value=r["spread"]))
    return risks


def concat_risks(model, ranges: list[dict]) -> list[Risk]:
    """Concatenations whose inputs' ranges (max |x| of each producing layer, from
    :func:`activation_ranges`) differ by more than CONCAT_RATIO."""
    peak = {r["layer"]: r["max"] for r in ranges if r["where"] == r["layer"]}
    risks = []
    for layer in top_layers(model):
        if type(layer).__name__ != "Concatenate":
            continue
        maxima = {n: peak[n] for n in input_layers(layer) if peak.get(n, 0) > 0}
        if len(maxima) < 2:
            continue
        low, high = min(maxima, key=maxima.get), max(maxima, key=maxima.get)
        ratio = maxima[high] / maxima[low]
        if ratio > CONCAT_RATIO:
            risks.append(Risk(layer.name, "concat_ranges", "high",
                              f"{layer.name}: joins {low} (max {maxima[low]:.3g}) and {high} "
                              f"(max {maxima[high]:.3g}), {ratio:.0f}x apart: one int8 scale "
                              f"leaves {low} a few levels", value=ratio))
    return risks


def check_risks(model, spec, calib, report=None, ranges: list[dict] | None = None,
                coverage: list[Coverage] | None = None,
                influence: list[InputInfluence] | None = None) -> list[Risk]:
    """Structural + activation-range + calibration-coverage risks; actions from a
    sensitivity report when given.

    ranges: :func:`activation_ranges` on ``calib.samples`` when the caller already has them;
    coverage: :func:`calibration_coverage` likewise (measured when ``calib`` has held-out
    photos and it is None); influence: :func:`input_influence` likewise.
    """
    from edgecolor.quant.onnx_source import is_onnx_source

    if ranges is None:
        ranges = activation_ranges(model, calib.samples)
    if coverage is None:
        coverage = calibration_coverage(model, calib)
    if is_onnx_source(model):  # the graph's own nodes
        from edgecolor.quant.onnx_source import structural_risks as graph_risks

        risks = graph_risks(model) + range_risks(ranges) + coverage_risks(coverage)
    else:
        if influence is None:
            influence = input_influence(model, spec, calib.samples)
        risks = (ignored_input_risks(influence) + structural_risks(model, spec)
                 + range_risks(ranges) + concat_risks(model, ranges)
                 + coverage_risks(coverage))
    if report is not None:
        for risk in risks:
            risk.action = _analysis_action(risk.layer, report)
    return risks


def _analysis_action(layer: str, report) -> str:
    parts = []
    for b in report.backends:
        names = b.ranking()
        if layer in names:
            s = b.layers[names.index(layer)]
            only = f", only-int8 {s.only_psnr:.1f} dB" if s.only_psnr is not None else ""
            parts.append(f"{b.format} rank {names.index(layer) + 1}/{len(names)}{only}")
    return ("sensitivity: " + "; ".join(parts)) if parts else "not in the quantized graph"


def conversion_actions(risks: list[Risk], float_layers: list[str], fmt: str,
                       dpsnr: float | None, max_dpsnr: float | None,
                       precision: str | None = None, ptq: str | None = None,
                       calib_method: str = "minmax") -> list[Risk]:
    """The risks that concern ``fmt``:``precision`` (all when precision is None), each with
    its action filled after a budgeted conversion (what was done about it; ``ptq``: the
    chosen artifact's Keras-side fix, e.g. "cle"; ``calib_method``: its calibration, a
    clipping one such as "quantile" answers wide_range outliers)."""
    risks = [r for r in risks if precision is None or r.concerns(fmt, precision)]
    for risk in risks:
        if risk.kind == "ignored_input":  # an input, not a layer: nothing to keep in float
            risk.action = "reported"
        elif risk.kind == "activation_norm" and "cle" in (ptq or "").split("+"):
            risk.action = f"equalized into the BN (cle) on {fmt}"
        elif risk.layer in float_layers:
            risk.action = f"kept in float on {fmt}"
        elif risk.kind == "wide_range" and calib_method != "minmax":
            risk.action = f"range clipped by {calib_method} calibration on {fmt}"
        elif dpsnr is not None and max_dpsnr is not None:
            risk.action = (f"quantized on {fmt}: validation dPSNR {dpsnr:.2f} dB "
                           f"<= budget {max_dpsnr:g} dB")
        else:
            risk.action = f"quantized on {fmt}"
    return risks
