"""Per-layer quantization sensitivity, in dB, on every backend.

For one backend and the validation split of the calibration images, every Keras layer (or
nested block) gets two numbers, both output PSNR vs the FP32 model's colorization:

* ``only``: only this layer is int8, everything else float (how much damage it does alone);
* ``all_but``: every other layer is int8, this one float (how much keeping it float saves).

Layers are ranked most sensitive first: those whose float copy recovers output PSNR
(``all_but`` above all-int8), largest recovery first, then the rest by lowest ``only``.
The backend's own selective-quantization tool makes the variants (see
:mod:`edgecolor.quant.backends`); this module only loops and collects.

Each variant is a full quantization, so a large model (DenseNet121's U-Net has 400+
layers; NNCF takes about a minute per variant at 256x256 on 2 cores) would take hours.
With ``max_probes`` only that many layers are probed, preselected on the FP32 Keras model
by :func:`preselect` (one forward pass per image); the others are not ranked. The output
head and the joins (:func:`structural`) are always probed: a U-Net's int8 error is often
set where skips join, which activation ranges alone do not show.

A join (Concatenate) is probed as a group, with the layers that write its inputs and those
that read it (:func:`probe_groups`): a skip tensor carries encoder features straight to the
decoder's full-resolution head, and keeping it float takes its producer (its own int8
output), the join and its readers (which re-quantize the joined tensor). On the 10-minute
pix2pix-mobilenetv2-lab, TFLite int8: no one of those four layers in float moves the output
(38.7 dB vs FP32), the four together give 46.8 dB.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from edgecolor.bench.stats import time_calls
from edgecolor.converters.float_layers import layer_scopes, top_layers
from edgecolor.errors import one_line
from edgecolor.quant import MAX_PROBES
from edgecolor.quant.backends import QuantBackend, make_backend
from edgecolor.quant.validation import Score, ValidationSet, Validator, keras_infer

MODES = ("only", "all_but")
JOINS = ("Concatenate",)  # one int8 scale over inputs of different ranges
STREAM_ACTIVATIONS = ("Activation", "ReLU")  # elementwise layers a residual stream runs through
TIE_DB = 0.05  # dB: a smaller all_but recovery counts as none (ranked by ``only``)


@dataclass
class LayerSensitivity:
    """One layer on one backend. PSNR values in dB vs the FP32 model's colorization."""

    layer: str
    kind: str  # Keras class name ("Conv2D", "Sequential" for a block)
    float_set: list[str] = field(default_factory=list)  # kept float by all_but ([] = [layer])
    only_psnr: float | None = None
    all_but_psnr: float | None = None
    all_but_dpsnr: float | None = None  # PSNR loss vs ground truth with this layer float
    stats: dict = field(default_factory=dict)  # the backend tool's layer-wise numbers
    error: str | None = None  # why this layer (group) could not be probed: ranked last

    def unit(self) -> list[str]:
        """The layers kept float together when this one is (its group, or itself)."""
        return self.float_set or [self.layer]

    def to_dict(self) -> dict:
        """JSON-ready record."""
        r = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}
        return r


@dataclass
class BackendSensitivity:
    """All layers of one backend, ranked most sensitive first."""

    format: str
    precision: str
    method: str
    tool: str
    fp32_psnr: float  # FP32 Keras model vs ground truth, dB
    full: Score  # every layer int8
    layers: list[LayerSensitivity]
    seconds: float = 0.0
    layer_count: int = 0  # layers of the model on this backend (probed or not)
    preselected: dict = field(default_factory=dict)  # how the probed layers were chosen
    variants: list = field(default_factory=list)  # timed variants {label, ms, psnr_vs_fp32}

    def pareto(self) -> list[dict]:
        """The timed variants on the latency vs PSNR-vs-FP32 Pareto front, fastest first."""
        from edgecolor.quant.budget import pareto_front

        return pareto_front(self.variants)

    def ranking(self) -> list[str]:
        """Layer names, most sensitive first (a probed group brings its other layers right
        after it, so that a prefix of the ranking keeps the group float together)."""
        return list(dict.fromkeys(n for s in self.layers if s.error is None
                                  for n in s.unit()))

    def to_dict(self) -> dict:
        """JSON-ready record."""
        return {"format": self.format, "precision": self.precision, "method": self.method,
                "tool": self.tool, "fp32_psnr": round(self.fp32_psnr, 3),
                "full_int8": self.full.to_dict(), "seconds": round(self.seconds, 1),
                "layer_count": self.layer_count, "preselected": dict(self.preselected),
                "layers": [s.to_dict() for s in self.layers],
                "variants": [dict(v) for v in self.variants], "pareto": self.pareto()}


def rank(layers: list[LayerSensitivity], full_psnr: float) -> list[LayerSensitivity]:
    """Most sensitive first.

    Layers whose float copy recovers more than TIE_DB of output PSNR (all_but vs the all-int8
    ``full_psnr``) come first, largest gain first; the rest by lowest only-int8 PSNR; layers
    that could not be probed (``error``) last.
    """
    def key(s: LayerSensitivity):
        if s.error is not None:
            return (2, 0.0, 0.0)
        gain = (s.all_but_psnr - full_psnr) if s.all_but_psnr is not None else 0.0
        only = s.only_psnr if s.only_psnr is not None else 1e9
        return (0, -gain, only) if gain > TIE_DB else (1, only, -gain)

    return sorted(layers, key=key)


def structural(model) -> list[str]:
    """Keras model -> the layers a ranking always probes, in priority order: the output head
    (the layers writing the model's outputs), then the joins (:data:`JOINS`) from the last
    to the first (a decoder's joins sit nearest the output; DenseNet's encoder alone has
    dozens of joins, so the order decides which are probed)."""
    from edgecolor.quant.equalize import consumers

    users = consumers(model)
    layers = top_layers(model)
    heads = [layer.name for layer in layers if "out" in users.get(layer.name, [])]
    joins = [layer.name for layer in reversed(layers) if type(layer).__name__ in JOINS]
    return heads + [n for n in joins if n not in heads]


def probe_groups(model) -> dict[str, list[str]]:
    """Keras model -> {join: the layers writing its inputs, the join, the layers reading it}
    in model order (the float set probing a join)."""
    from edgecolor.quant.equalize import consumers

    users = consumers(model)
    order = {name: i for i, name in enumerate(layer.name for layer in top_layers(model))}
    groups = {}
    for layer in top_layers(model):
        if type(layer).__name__ not in JOINS:
            continue
        group = {layer.name} | {u.name for u in users.get(layer.name, []) if u != "out"}
        group |= {name for name, readers in users.items() if name in order
                  and any(u != "out" and u.name == layer.name for u in readers)}
        groups[layer.name] = sorted(group, key=order.get)
    return groups


def structural_groups(model, joins: int) -> list[list[str]]:
    """Keras model -> the float sets worth one conversion each before any ranking, in
    order: the output head, then each of the last ``joins`` joins with the layers around
    it (:func:`probe_groups`). A U-Net's last skip join carries an early encoder tensor
    straight to the full-resolution head: alone, neither it nor the head moves the int8
    output; together they can (pix2pix-mobilenetv2-lab: 38.7 -> 46.8 dB vs FP32)."""
    order = structural(model)
    groups = probe_groups(model)
    heads = [n for n in order if n not in groups]
    return ([heads] if heads else []) + [groups[n] for n in order if n in groups][:joins]


def residual_joins(model) -> list[str]:
    """Keras model -> the joins that add a branch back onto the tensor it branched from
    (ResNet, Inception-ResNet and MobileNetV2 skips), each with the activation layer that
    reads it alone, in model order. A join: a layer with two or more inputs of one shape
    and an output of that shape, one input upstream of another.

    In int8 the skip tensor is re-quantized at every such join, so its error adds up along
    the whole residual stream; kept float, the stream stays exact and only each branch's
    input is int8 (koalarization's 40 Inception-ResNet joins, TensorRT Q/DQ: 30.5 -> 39.9
    dB vs FP32). The activation after a join carries the stream on: where a runtime runs it
    as an op of its own (ONNX Runtime's int8-cpu), an int8 activation would re-quantize the
    stream there. A concatenation (output wider than its inputs) is no residual join.
    """
    from edgecolor.converters.float_layers import input_layers
    from edgecolor.quant.equalize import consumers

    users = consumers(model)
    upstream: dict[str, set[str]] = {}  # layer -> every layer feeding it, directly or not
    out = []
    for layer in top_layers(model):  # topological order: inputs are seen first
        inputs = input_layers(layer)
        upstream[layer.name] = set(inputs).union(*(upstream.get(n, set()) for n in inputs))
        if len(inputs) < 2 or not _same_shapes(layer):
            continue
        if any(a != b and a in upstream.get(b, set()) for a in inputs for b in inputs):
            readers = users.get(layer.name, [])
            out.append(layer.name)
            out += [r.name for r in readers[:1] if len(readers) == 1 and r != "out"
                    and type(r).__name__ in STREAM_ACTIVATIONS]
    return out


def _same_shapes(layer) -> bool:
    """Every input of ``layer``'s first call has its output's shape."""
    nodes = getattr(layer, "_inbound_nodes", None) or []
    if not nodes:
        return False
    shapes = {tuple(t.shape) for t in nodes[0].input_tensors}
    return shapes == {tuple(layer.output.shape)}


def preselect(model, names: list[str], samples: list[list[np.ndarray]], k: int,
              ranges: list[dict] | None = None, always: list[str] | None = None) -> list[str]:
    """The ``k`` layers of ``names`` to probe, in model order: the first ``k`` of ``always``
    (priority order) that are in ``names``, then those whose FP32 activations are hardest
    on per-tensor int8.

    Score of a layer: the largest max/p99.99 ratio or channel spread (largest channel range
    / typical channel range) over its output and, for a nested block, its inner tensors
    (:func:`edgecolor.quant.risks.activation_ranges`, one forward pass per sample). Per-tensor
    int8 spends its 255 steps up to the max, so either number large leaves most values few
    steps. ``ranges``: those measurements when the caller already has them (``samples`` is
    then not used).
    """
    from edgecolor.quant.risks import activation_ranges

    score = dict.fromkeys(names, 0.0)
    for r in ranges if ranges is not None else activation_ranges(model, samples):
        if r["layer"] in score:
            score[r["layer"]] = max(score[r["layer"]], r["ratio"], r["spread"])
    top = set([n for n in dict.fromkeys(always or []) if n in score][:k])
    for n in sorted(names, key=lambda n: -score[n]):
        if len(top) >= k:
            break
        top.add(n)
    return [n for n in names if n in top]


def analyze_backend(backend: QuantBackend, validator: Validator,
                    modes: Iterable[str] = MODES, with_stats: bool = True,
                    progress: Callable[[], None] | None = None,
                    max_probes: int | None = None,
                    ranges: list[dict] | None = None,
                    timing_runs: int = 0,
                    groups: dict[str, list[str]] | None = None,
                    always: list[str] | None = None) -> BackendSensitivity:
    """One backend -> its ranked :class:`BackendSensitivity` on the validation images.

    modes: which variants to measure ("only", "all_but"); ``progress()`` is called after
    each quantized variant (for progress bars); max_probes: probe at most this many layers,
    preselected by :func:`preselect` (None or 0: every layer), from ``ranges`` when given
    (else measured on the validation images); timing_runs: when > 0, the all-int8 and
    every all-but variant are also timed (median ms of that many runs on one photo, the
    backend's 1-thread session) for the latency vs PSNR Pareto front. groups: {layer:
    the layers kept float with it when it is probed} (:func:`probe_groups`); always: layers
    the preselection always probes (:func:`structural`). Cost: 1 + len(modes) x probed
    layers quantizations.
    """
    groups = groups or {}
    variants: list[dict] = []

    def timed(label: str, infer, score) -> None:
        if timing_runs <= 0:
            return
        x = validator.vset.inputs[0]
        ms = statistics.median(time_calls(lambda: infer(x), runs=timing_runs, warmup=1))
        variants.append({"label": f"{backend.format} {label}", "ms": round(ms, 3),
                         "psnr_vs_fp32": round(score.psnr_vs_fp32, 3),
                         "dpsnr": round(score.dpsnr, 3)})

    t0 = time.perf_counter()
    modes = tuple(modes)
    names = backend.layers()
    known = set(names)
    layer_count, preselected = len(names), {}
    if max_probes and len(names) > max_probes:
        names = preselect(backend.model, names, validator.vset.inputs, max_probes, ranges,
                          always)
        preselected = {"by": "joins and output head, then FP32 activation ranges "
                       "(max/p99.99, channel spread)", "probed": len(names), "of": layer_count}
    kinds = (backend.kinds() if hasattr(backend, "kinds") else  # an ONNX source's op types
             {layer.name: type(layer).__name__ for layer in top_layers(backend.model)})
    infer = backend.infer_fn(backend.quantize(()))
    full = validator.score(infer, colors=False)
    timed("all int8", infer, full)
    if progress:
        progress()
    results = []
    for name in names:
        group = [n for n in groups.get(name, [name]) if n in known] or [name]
        s = LayerSensitivity(name, kinds.get(name, "?"), float_set=group if len(group) > 1
                             else [])
        try:
            if "only" in modes:
                others = [n for n in names if n not in group]
                s.only_psnr = validator.score(backend.infer_fn(backend.quantize(others)),
                                              colors=False).psnr_vs_fp32
            if "all_but" in modes:
                infer = backend.infer_fn(backend.quantize(group))
                score = validator.score(infer, colors=False)
                s.all_but_psnr, s.all_but_dpsnr = score.psnr_vs_fp32, score.dpsnr
                timed(f"float [{', '.join(group)}]", infer, score)
        except Exception as e:  # one layer the backend cannot keep float: the rest still rank
            # (TFLite keeps a MAX_POOL_2D int8 whatever its denylist says)
            s.error = one_line(e, 200)
        if progress:  # once per variant, as variant_count() counts; outside the try: a
            for _ in modes:  # progress callback may stop the whole analysis
                progress()
        results.append(s)
    if with_stats:
        stats = backend.layer_stats(validator.vset.inputs)
        for s in results:
            s.stats = stats.get(s.layer, {})
    return BackendSensitivity(backend.format, backend.precision, backend.method, backend.tool,
                              validator.fp32_psnr, full, rank(results, full.psnr_vs_fp32),
                              time.perf_counter() - t0, layer_count, preselected, variants)


def variant_count(n_layers: int, modes: Iterable[str] = MODES,
                  max_probes: int | None = None) -> int:
    """Quantized variants :func:`analyze_backend` makes for ``n_layers`` layers."""
    probed = min(n_layers, max_probes) if max_probes else n_layers
    return 1 + len(tuple(modes)) * probed


@dataclass
class SensitivityReport:
    """Sensitivity of one model on several backends, plus the risk checks."""

    model: str
    input_size: tuple[int, int]
    validation: dict
    calibration: dict
    backends: list[BackendSensitivity]
    risks: list = field(default_factory=list)  # edgecolor.quant.risks.Risk
    errors: dict = field(default_factory=dict)  # format -> one-line reason it was skipped

    def to_dict(self) -> dict:
        """JSON-ready record (what ``edgecolor analyze`` writes)."""
        return {"model": self.model, "input_size": list(self.input_size),
                "validation": self.validation, "calibration": self.calibration,
                "backends": [b.to_dict() for b in self.backends],
                "risks": [r.to_dict() for r in self.risks], "errors": dict(self.errors)}


def analyze(model, spec, calib, model_name: str | None = None,
            formats: Iterable[tuple[str, str]] = (("tflite", "int8"),),
            modes: Iterable[str] = MODES, with_stats: bool = True,
            progress: Callable[[], None] | None = None,
            on_backend: Callable[[str], None] | None = None,
            max_probes: int | None = MAX_PROBES,
            timing_runs: int = 0, method: str = "minmax") -> SensitivityReport:
    """Keras model (or an ONNX source: its node names are the layers) + CalibrationSet ->
    :class:`SensitivityReport` over ``formats``.

    formats: (format, precision) pairs, e.g. ("onnx", "int8-cpu"). The calibration set's
    held-out images are the validation split. A backend that fails is recorded in
    ``errors`` (one line) and the others go on. Risk checks run once on the Keras model.
    max_probes, timing_runs: see :func:`analyze_backend`. method: calibration method
    (``edgecolor.formats.CALIB_METHODS``); a format without it falls back to minmax.
    ValueError for an unknown method.
    """
    from edgecolor.formats import CALIB_METHODS, get_format

    if method not in CALIB_METHODS:
        raise ValueError(f"unknown calibration method {method!r}; choose one of: "
                         f"{', '.join(CALIB_METHODS)}")
    from edgecolor.quant import onnx_source as src
    from edgecolor.quant.risks import activation_ranges, check_risks

    foreign = src.is_onnx_source(model)  # units: the graph's node names; reference: ORT
    vset = ValidationSet.from_calibration(calib)
    validator = Validator(vset, model.reference().infer if foreign else
                          keras_infer(model, spec), colors=False)
    scopes = None if foreign else layer_scopes(model, spec)
    ranges = activation_ranges(model, calib.samples)  # once: preselection and risk checks
    report = SensitivityReport(model_name or spec.name, spec.input_size, vset.info(),
                               calib.info(), [])
    for fmt, precision in formats:
        if on_backend:
            on_backend(f"{fmt}:{precision}")
        # a method the format lacks falls back to minmax
        used = get_format(fmt).resolve_method(method, precision) or "minmax"
        try:
            if foreign:
                if fmt not in src.SOURCE_FORMATS:
                    raise ValueError(f"{fmt} converts ONNX sources through onnx2tf, which "
                                     "renames the graph: no node name to keep in float")
                backend = src.SourceBackend(fmt, model, spec, calib, precision, used)
            else:
                backend = make_backend(fmt, model, spec, calib, precision, used, scopes)
            report.backends.append(analyze_backend(
                backend, validator, modes, with_stats, progress, max_probes, ranges,
                timing_runs, groups=None if foreign else probe_groups(model),
                always=None if foreign else structural(model)))
        except Exception as e:  # one backend failing must not stop the others
            text = str(e).strip().splitlines()
            report.errors[f"{fmt}:{precision}"] = f"{type(e).__name__}: {text[0] if text else ''}"
    report.risks = check_risks(model, spec, calib, report, ranges)
    return report
