"""Int8 Q/DQ ONNX: the two flavours, how they are quantized, and the rules they must obey.

``int8`` (TensorRT explicit quantization): symmetric int8 (zero point 0) for weights and
activations, per-channel weights on the output-channel axis (0 for Conv/Gemm(transB),
1 for ConvTranspose/MatMul), per-tensor activations, Q/DQ only at the inputs of
Conv/ConvTranspose/Gemm/MatMul and both inputs of Add (where TensorRT fuses them), none on the
graph output. Weights stay float behind a Q/DQ pair and biases stay float: TensorRT 8.x
rejects a DequantizeLinear of an int8 constant and has no int32 Q/DQ.

``int8-cpu`` (ONNX Runtime CPU EP). Profiling the baseline at 256x256 showed why the naive
Q/DQ model (default ``quantize_static``) is barely faster than FP32, and what fixes it:

* int8 Resize (nearest) runs a generic per-element kernel: ~20% of the int8 time. The
  upsample is folded into the next convolution as four 2x2 phase convolutions plus an NHWC
  pixel shuffle (2.25x fewer multiply-adds too): :func:`~.onnx_graph.fold_upsample_into_conv`.
* MLAS's fast symmetric int8 convolution needs input channels % 4 == 0 and >= 16 output
  channels; the 1-channel input conv and the 2-channel ab conv fell back to im2col + GEMM and
  ran slower than FP32. Zero channels fix that: :func:`~.onnx_graph.pad_conv_channels`.
* Every op's output is quantized too, so ONNX Runtime fuses DQ -> op -> Q into QLinearConv /
  QLinearConcat and runs them in NHWC end to end; Relu folds into the output range. Two
  exceptions keep quality: the graph output stays float, and so do Softmax and the op making
  its logits (:func:`softmax_logit_nodes`).
* u8 activations (asymmetric) with s8 per-channel symmetric weights: the U8S8 kernels of
  x86 (VNNI) and ARM; no reduce_range (on pre-VNNI AVX2 x86, u8*s8 pair sums can
  saturate: ONNX Runtime's docs advise reduce_range there).
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgecolor.calibration.quantiles import clipping_note

# ops that own weights, and the weight input index + channel axis TensorRT expects
WEIGHT_OPS = {"Conv": (1, 0), "ConvTranspose": (1, 1), "Gemm": (1, None), "MatMul": (1, 1)}
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
# method -> onnxruntime's calibrator; "quantile" is min/max with each activation's range
# overridden by its mean per-photo quantiles (edgecolor.calibration.quantiles)
CALIBRATION_METHODS = {"minmax": "MinMax", "percentile": "Percentile", "entropy": "Entropy",
                       "quantile": "MinMax"}


@dataclass(frozen=True)
class Flavour:
    """How one int8 ONNX flavour is quantized (see the module docstring for why)."""

    name: str
    activation_type: str  # "int8" | "uint8"
    activation_symmetric: bool
    op_types: tuple[str, ...] | None  # ops whose inputs get Q/DQ; None: all ORT supports
    quantize_outputs: bool  # Q/DQ on the outputs of quantized ops too
    quantize_bias: bool  # int32 bias behind a DQ
    weights_as_qdq_pair: bool  # float weight -> Q -> DQ (else int8 weight -> DQ)
    cpu_rewrites: bool  # fold upsamples into phase convs, pad channels for MLAS

    def describe(self) -> dict:
        """Manifest record of the flavour's settings."""
        d = asdict(self)
        d["flavour"] = d.pop("name")
        d["weights"] = "int8 symmetric per-channel"
        return d


TENSORRT = Flavour("tensorrt", "int8", True, ("Conv", "ConvTranspose", "Gemm", "MatMul", "Add"),
                   quantize_outputs=False, quantize_bias=False, weights_as_qdq_pair=True,
                   cpu_rewrites=False)
CPU = Flavour("onnxruntime-cpu", "uint8", False, None, quantize_outputs=True,
              quantize_bias=True, weights_as_qdq_pair=False, cpu_rewrites=True)


def prepare(fp32, flavour: Flavour, fold_upsample: bool = True, pad_channels: bool = True):
    """FP32 ``onnx.ModelProto`` -> (copy with the flavour's rewrites, notes): the graph
    ONNX Runtime's quantizer sees (``nodes_to_exclude`` names come from it)."""
    import onnx

    from edgecolor.converters import onnx_graph

    model = onnx.ModelProto()
    model.CopyFrom(fp32)
    notes: list[str] = []
    if flavour.cpu_rewrites and fold_upsample:
        model, folded = onnx_graph.fold_upsample_into_conv(model)
        notes += folded
    if flavour.cpu_rewrites:  # exact, and ONNX Runtime has no int8 ConvTranspose
        model, phased = onnx_graph.conv_transpose_to_phase_convs(model)
        notes += phased
    if flavour.cpu_rewrites and pad_channels:
        model, padded = onnx_graph.pad_conv_channels(model)
        notes += padded
    taken = {n.name for n in model.graph.node}
    for i, node in enumerate(model.graph.node):  # nodes_to_exclude works by name
        if not node.name:
            node.name = next(f"{node.op_type}_{i}_{k}" for k in range(len(taken) + 1)
                             if f"{node.op_type}_{i}_{k}" not in taken)
            taken.add(node.name)
    onnx.checker.check_model(model)
    return model, notes


def softmax_logit_nodes(model) -> list[str]:
    """Softmax nodes and the single-use producers of their input: kept in float when every
    op output is quantized (CPU flavour), because u8 logits distort exp(): a 0.15 logit step
    is a 15% probability error (ECCV16's 313-bin head lost >1 ab unit that way)."""
    producers = {o: n for n in model.graph.node for o in n.output}
    consumers = _consumers(model.graph)
    names = []
    for node in model.graph.node:
        if node.op_type != "Softmax":
            continue
        names.append(node.name)
        src = producers.get(node.input[0])
        if src is not None and src.op_type not in QDQ_OPS and \
                len(consumers.get(node.input[0], [])) == 1:
            names.append(src.name)
    return names


def quantize(fp32, spec, calib, flavour: Flavour, method: str = "minmax",
             nodes_to_exclude: list[str] | None = None, fold_upsample: bool = True,
             pad_channels: bool = True):
    """FP32 ``onnx.ModelProto`` -> (int8 Q/DQ ModelProto, notes) calibrated on ``calib``.

    calib: a CalibrationSet (its samples in spec order feed ONNX Runtime's calibrator);
    method: minmax | percentile | entropy | quantile (min/max clipped to mean per-photo
    quantiles); nodes_to_exclude: node names (of the graph after the flavour's rewrites, see
    :func:`prepare`) left in float; fold_upsample / pad_channels switch the CPU flavour's
    rewrites (off only to measure what they bring).
    The TensorRT flavour is post-processed and validated against its rules (RuntimeError
    naming the violations if any remain).
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from edgecolor.calibration import calibration_stride, ort_calibration_reader

    if method not in CALIBRATION_METHODS:
        raise ValueError(f"unknown calibration method {method!r}; choose one of: "
                         f"{', '.join(CALIBRATION_METHODS)}")
    model, notes = prepare(fp32, flavour, fold_upsample, pad_channels)
    qtype = {"int8": QuantType.QInt8, "uint8": QuantType.QUInt8}
    extra = {
        "ActivationSymmetric": flavour.activation_symmetric,
        "WeightSymmetric": True,
        "QuantizeBias": flavour.quantize_bias,
        "AddQDQPairToWeight": flavour.weights_as_qdq_pair,
        "DedicatedQDQPair": not flavour.quantize_outputs,
    }
    if method in ("percentile", "entropy"):  # histograms: one slice at a time (memory)
        extra["CalibStridedMinMax"] = calibration_stride(len(calib.samples))
    input_names = [i.name for i in model.graph.input]
    if method == "quantile":
        clipped = quantile_ranges(model, calib, input_names)
        extra["TensorQuantOverrides"] = {
            c.tensor: [{"rmin": np.array(c.clipped[0], np.float32),
                         "rmax": np.array(c.clipped[1], np.float32)}]
            for c in clipped}
        notes.append(clipping_note(clipped))
    if not flavour.quantize_outputs:
        extra["OpTypesToExcludeOutputQuantization"] = list(flavour.op_types or ())
    exclude = list(nodes_to_exclude or [])
    if flavour.quantize_outputs:
        guarded = [n for n in softmax_logit_nodes(model) if n not in exclude]
        exclude += guarded
        if guarded:
            notes.append(f"kept in float (softmax and its logits): {', '.join(guarded)}")
    with tempfile.TemporaryDirectory(prefix="edgecolor-qdq-") as tmp, _quiet_logging():
        out = Path(tmp) / "model.int8.onnx"
        quantize_static(
            model, out, ort_calibration_reader(calib, input_names),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(flavour.op_types) if flavour.op_types else None,
            per_channel=True, reduce_range=False,
            activation_type=qtype[flavour.activation_type], weight_type=QuantType.QInt8,
            calibrate_method=getattr(CalibrationMethod, CALIBRATION_METHODS[method]),
            nodes_to_exclude=exclude, extra_options=extra)
        quantized = onnx.load(out)
    quantized = strip_output_qdq(quantized)  # the output stays float in both flavours
    if flavour is TENSORRT:
        problems = structure_problems(quantized, float_nodes=exclude)
        if problems:
            raise RuntimeError("int8 (TensorRT) Q/DQ rules violated: " + "; ".join(problems))
    del quantized.graph.value_info[:]
    floats = float_ops(quantized, flavour.quantize_outputs)
    if floats:
        label = ("ops without Q/DQ inputs (TensorRT fuses or runs them in FP16/FP32)"
                 if flavour is TENSORRT else "ops left in float")
        notes.append(f"{label}: {', '.join(floats)}")
    return quantized, notes


# (prepared graph sha1, calibration digest, samples) -> quantile_ranges(): the budget's
# float sets and the ranking's probes quantize one graph many times (a koalarization pass:
# minutes)
_QUANTILE_RANGES: dict[tuple[str, str, int], list] = {}
_QUANTILE_RANGES_KEPT = 4


def quantile_ranges(model, calib, input_names: list[str]) -> list:
    """Prepared FP32 graph + CalibrationSet -> the activations whose mean per-photo quantile
    range (``calibration.quantiles``) is narrower than min/max (``ClippedRange`` records,
    by tensor name). Every float node output is read, one photo at a time; the result is
    kept for the same graph and calibration set."""
    import hashlib

    key = (hashlib.sha1(model.SerializeToString()).hexdigest(), calib.digest,
           len(calib.samples))
    if key not in _QUANTILE_RANGES:
        while len(_QUANTILE_RANGES) >= _QUANTILE_RANGES_KEPT:
            _QUANTILE_RANGES.pop(next(iter(_QUANTILE_RANGES)))
        _QUANTILE_RANGES[key] = _measure_quantile_ranges(model, calib, input_names)
    return _QUANTILE_RANGES[key]


def _measure_quantile_ranges(model, calib, input_names: list[str]) -> list:
    import onnx
    import onnxruntime as ort

    from edgecolor.calibration.quantiles import MeanQuantiles

    inferred = onnx.shape_inference.infer_shapes(model)
    floats = {v.name for v in [*inferred.graph.value_info, *inferred.graph.output]
              if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT}
    tensors = list(dict.fromkeys(o for n in model.graph.node for o in n.output if o in floats))
    tapped = onnx.ModelProto()
    tapped.CopyFrom(model)
    known = {o.name for o in tapped.graph.output}
    tapped.graph.output.extend(onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None)
                               for t in tensors if t not in known)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep names
    session = ort.InferenceSession(tapped.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    quantiles = MeanQuantiles()
    for sample in calib.samples:
        feed = {n: np.asarray(x, np.float32) for n, x in zip(input_names, sample, strict=True)}
        for name, values in zip(tensors, session.run(tensors, feed), strict=True):
            quantiles.add(name, values)
    return quantiles.clipped()


@contextlib.contextmanager
def _quiet_logging():
    """onnxruntime.quantization logs advice through the root logger and its histogram
    calibrators print() their progress; keep the CLI quiet."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logging.disable(previous)


# --- post-processing ---------------------------------------------------------------------

def strip_output_qdq(model):
    """Remove a Q -> DQ pair that produces a graph output (TensorRT: no Q/DQ on the output)."""
    graph = model.graph
    producers = {o: n for n in graph.node for o in n.output}
    consumers = _consumers(graph)
    drop = set()
    for out in graph.output:
        dq = producers.get(out.name)
        q = producers.get(dq.input[0]) if dq is not None and dq.op_type == QDQ_OPS[1] else None
        if q is None or q.op_type != QDQ_OPS[0] or len(consumers.get(q.output[0], [])) != 1:
            continue
        source = q.input[0]
        src_node = producers.get(source)
        if src_node is None or source in {o.name for o in graph.output}:
            continue
        src_node.output[:] = [out.name if o == source else o for o in src_node.output]
        for node in consumers.get(source, []):
            node.input[:] = [out.name if i == source else i for i in node.input]
        drop.update({id(q), id(dq)})
    if drop:
        kept = [n for n in graph.node if id(n) not in drop]
        del graph.node[:]
        graph.node.extend(kept)
    return model


# --- validation ---------------------------------------------------------------------------

def structure_problems(model, float_nodes: Iterable[str] = ()) -> list[str]:
    """Every way the model breaks the TensorRT Q/DQ rules: :func:`qdq_problems` (what
    TensorRT would reject) plus :func:`placement_problems` (what it would not fuse);
    ``float_nodes``: node names deliberately left in float (``nodes_to_exclude``)."""
    return qdq_problems(model) + placement_problems(model, float_nodes)


def qdq_problems(model, types: tuple[str, ...] = ("int8",)) -> list[str]:
    """Q/DQ nodes TensorRT would reject; one line each (empty list: all fine).

    Zero points must be given, of an allowed type (``types``) and 0; scales positive;
    activations per-tensor; per-channel weight scales on the output-channel axis with one
    scale per channel (axis 0 for Conv, 1 for ConvTranspose).
    """
    graph = model.graph
    consts = constants(graph)
    consumers = _consumers(graph)
    producers = {o: n for n in graph.node for o in n.output}
    problems = []
    for node in graph.node:
        if node.op_type not in QDQ_OPS:
            continue
        where = f"{node.op_type} {node.name or node.output[0]!r}"
        zp = consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if zp is None:
            problems.append(f"{where}: no zero point (defaults to uint8; TensorRT needs int8 0)")
        else:
            if _dtype_name(zp.dtype) not in types:
                problems.append(f"{where}: {zp.dtype} zero point (TensorRT quantizes to "
                                f"{'/'.join(types)})")
            if np.any(zp != 0):
                problems.append(f"{where}: zero point {zp.ravel()[:4].tolist()} != 0 "
                                "(TensorRT quantization is symmetric)")
        scale = consts.get(node.input[1])
        if scale is None:
            continue  # computed scales: nothing static to check
        if np.any(~np.isfinite(scale)) or np.any(scale <= 0):
            problems.append(f"{where}: scale must be finite and > 0")
        if scale.size > 1:
            problems += _per_channel_problems(node, scale, consts, consumers, producers,
                                              where)
    return problems


def _per_channel_problems(node, scale, consts, consumers, producers, where) -> list[str]:
    """A per-channel Q/DQ must sit on a weight, on its output-channel axis."""
    axis = _attr(node, "axis", 1)
    use = _weight_use(node, consts, consumers, producers)
    if use is None:
        source = node.input[0]
        q = producers.get(source)
        const = source in consts or (q is not None and q.input[0] in consts)
        what = "a constant that is not a weight (bias?)" if const else "an activation"
        return [f"{where}: per-channel scale on {what} (TensorRT: weights only)"]
    op, weight_shape, want_axis = use
    problems = []
    rank = len(weight_shape) if weight_shape else None
    if rank and axis < 0:
        axis += rank
    if want_axis is not None and axis != want_axis:
        problems.append(f"{where}: per-channel axis {axis} on a {op} weight; TensorRT needs "
                        f"axis {want_axis} (output channels)")
    if weight_shape and 0 <= axis < len(weight_shape) and weight_shape[axis] != scale.size:
        problems.append(f"{where}: {scale.size} scales for {weight_shape[axis]} channels")
    return problems


def _weight_use(qdq_node, consts, consumers, producers):
    """(op, weight shape, wanted axis) when ``qdq_node`` quantizes a weight, else None.

    A weight is a constant behind a DQ, or behind a Q -> DQ pair (float weights).
    """
    if qdq_node.op_type == QDQ_OPS[0]:
        q = qdq_node
        dq = next((n for n in consumers.get(q.output[0], []) if n.op_type == QDQ_OPS[1]), None)
    else:
        dq = qdq_node
        q = producers.get(dq.input[0])
        q = q if q is not None and q.op_type == QDQ_OPS[0] else None
    source = q.input[0] if q is not None else dq.input[0] if dq is not None else None
    if dq is None or source not in consts:
        return None  # weights are constants; anything else is an activation
    shape = list(consts[source].shape)
    for user in consumers.get(dq.output[0], []):
        if user.op_type in WEIGHT_OPS and list(user.input).index(dq.output[0]) == 1:
            _, axis = WEIGHT_OPS[user.op_type]
            if user.op_type == "Gemm":
                axis = 0 if _attr(user, "transB", 0) else 1
            return user.op_type, shape, axis
    return None


def placement_problems(model, float_nodes: Iterable[str] = ()) -> list[str]:
    """Q/DQ placement that keeps TensorRT from fusing: a graph output produced by Q/DQ, or an
    Add with an unquantized activation input (TensorRT then runs it in float).

    An Add named in ``float_nodes`` was kept in float on purpose (a quality budget or a
    sensitivity probe); one of its inputs may still come through a DQ that it shares with
    a quantized consumer, which TensorRT accepts, so it is not a problem."""
    float_nodes = set(float_nodes)
    graph = model.graph
    producers = {o: n for n in graph.node for o in n.output}
    consts = constants(graph)
    problems = []
    for out in graph.output:
        p = producers.get(out.name)
        if p is not None and p.op_type in QDQ_OPS:
            problems.append(f"graph output {out.name!r} comes from {p.op_type} "
                            "(no Q/DQ on the final output)")
    for node in graph.node:
        if node.op_type != "Add" or node.name in float_nodes:
            continue
        acts = [i for i in node.input if i not in consts]
        if len(acts) == 2:
            for i in acts:
                p = producers.get(i)
                if p is None or p.op_type != QDQ_OPS[1]:
                    problems.append(f"Add {node.name or node.output[0]!r}: input {i!r} is "
                                    "not quantized (both residual inputs need Q/DQ)")
    return problems


def float_ops(model, needs_output_q: bool) -> list[str]:
    """Op types (with counts) that will run in float: ops not fed by DQ, or, when
    ``needs_output_q`` (ONNX Runtime's QLinear fusion), whose output is not quantized."""
    graph = model.graph
    producers = {o: n for n in graph.node for o in n.output}
    consumers = _consumers(graph)
    consts = constants(graph)
    counts: dict[str, int] = {}
    for node in graph.node:
        if node.op_type in QDQ_OPS or node.op_type == "Constant":
            continue
        acts = [i for i in node.input if i and i not in consts]
        fed = bool(acts) and all(
            producers.get(i) is not None and producers[i].op_type == QDQ_OPS[1] for i in acts)
        if fed and needs_output_q:
            fed = all(any(c.op_type == QDQ_OPS[0] for c in consumers.get(o, []))
                      for o in node.output)
        if not fed:
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return [f"{op} x{n}" for op, n in sorted(counts.items())]


# --- small helpers ------------------------------------------------------------------------

def constants(graph) -> dict[str, np.ndarray]:
    """Tensor name -> value for initializers and Constant node outputs."""
    from onnx import helper, numpy_helper

    out = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    out[node.output[0]] = numpy_helper.to_array(helper.get_attribute_value(a))
    return out


def _consumers(graph) -> dict[str, list]:
    out: dict[str, list] = {}
    for node in graph.node:
        for i in node.input:
            out.setdefault(i, []).append(node)
    return out


def _attr(node, name: str, default=None):
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _dtype_name(dtype) -> str:
    return np.dtype(dtype).name
