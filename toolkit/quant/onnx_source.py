"""The budget's view of an ONNX source: its quantizable nodes are the layers.

For a Keras model the budget's units are Keras layers; for the user's own ONNX graph
(:class:`edgecolor.sources.Source`) they are the node names of the graph every format reads
(the source simplified by onnxsim: BatchNorm folded into the convolutions, names kept), so
a name the budget keeps in float round-trips to ONNX Runtime's ``nodes_to_exclude``
(:func:`edgecolor.converters.from_onnx.source_exclude_nodes`) and NNCF's ignored scope
(:func:`~edgecolor.converters.from_onnx.ov_source_float_nodes`).

* :func:`unit_names`: the quantizable nodes (Conv, ConvTranspose, MatMul, Gemm), graph order;
* :func:`consumers`: unit -> the units its output reaches through non-quantized ops;
* :func:`tapper`: ONNX Runtime on the graph with each unit's quantized tensor (after a
  fused Relu / Clip) added as an output, for the activation-range and coverage checks;
* :class:`SourceBackend`: selective quantization through the format's real converter,
  for the sensitivity ranking.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from edgecolor.converters.from_onnx import is_onnx_source  # noqa: F401  (the budget's test)

QUANTIZED_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")
# formats whose converters keep a source node in float by its name (TFLite goes through
# onnx2tf, which renames the graph)
SOURCE_FORMATS = ("onnx", "openvino")
FUSED_ACTIVATIONS = ("Relu", "Clip", "LeakyRelu")  # quantized together with their producer


def _graph(source):
    return source.simplified().graph


def unit_names(source) -> list[str]:
    """Node names of the quantizable ops of the simplified source graph, in graph order."""
    return [n.name for n in _graph(source).node if n.op_type in QUANTIZED_OPS and n.name]


def unit_kinds(source) -> dict[str, str]:
    """Unit name -> its ONNX op type (the "kind" column of a sensitivity report)."""
    return {n.name: n.op_type for n in _graph(source).node if n.op_type in QUANTIZED_OPS}


def _readers(graph) -> dict[str, list]:
    users: dict[str, list] = {}
    for node in graph.node:
        for t in node.input:
            users.setdefault(t, []).append(node)
    return users


def consumers(source) -> dict[str, list[str]]:
    """Unit -> the units its output feeds, through any non-quantized ops between them
    (Relu, Add, Concat, Resize, Slice ...); the graph output counts as "out"."""
    graph = _graph(source)
    readers = _readers(graph)
    outputs = {o.name for o in graph.output}
    result: dict[str, list[str]] = {}
    for node in graph.node:
        if node.op_type not in QUANTIZED_OPS:
            continue
        found: list[str] = []
        stack, seen = list(node.output), set()
        while stack:
            t = stack.pop()
            if t in seen:
                continue
            seen.add(t)
            if t in outputs and "out" not in found:
                found.append("out")
            for user in readers.get(t, []):
                if user.op_type in QUANTIZED_OPS:
                    if user.name not in found:
                        found.append(user.name)
                else:
                    stack.extend(user.output)
        result[node.name] = found
    return result


def quantized_tensor(readers: dict[str, list], node) -> str:
    """The tensor int8 stores for ``node``: its output, or that of the activation it is
    fused with when that activation is its only reader (``readers``: tensor -> nodes)."""
    out = node.output[0]
    users = readers.get(out, [])
    if len(users) == 1 and users[0].op_type in FUSED_ACTIVATIONS:
        return users[0].output[0]
    return out


def tapper(source) -> tuple[list[tuple[str, str]], Callable]:
    """-> (taps [(unit, where)], run(sample) -> one array per tap), as the Keras tapper of
    :mod:`edgecolor.quant.risks`: ONNX Runtime runs the simplified graph with every unit's
    quantized tensor as an extra output, 4-D values channels last. ``where`` names the
    tensor."""
    import onnx

    proto = onnx.ModelProto()
    proto.CopyFrom(source.simplified())
    graph = proto.graph
    taps, names = [], []
    existing = {o.name for o in graph.output}
    readers = _readers(graph)
    for node in graph.node:
        if node.op_type not in QUANTIZED_OPS or not node.name:
            continue
        tensor = quantized_tensor(readers, node)
        taps.append((node.name, f"{node.name} ({tensor})"))
        names.append(tensor)
        if tensor not in existing:
            graph.output.append(onnx.ValueInfoProto(name=tensor))
            existing.add(tensor)
    from edgecolor.quant.backends import ort_session

    session = ort_session(proto)
    inputs = [i.name for i in session.get_inputs()]
    nchw = getattr(source.spec, "layout", "NHWC") == "NCHW"

    def run(sample) -> list[np.ndarray]:
        feed = {n: np.ascontiguousarray(x, np.float32) for n, x in zip(inputs, sample,
                                                                        strict=True)}
        values = [np.asarray(v) for v in session.run(names, feed)]
        # the range checks read channels last, as Keras gives them
        return [np.moveaxis(v, 1, -1) if nchw and v.ndim == 4 else v for v in values]

    return taps, run


def structural_risks(source) -> list:
    """The risks visible from the graph alone, as :func:`edgecolor.quant.risks.
    structural_risks` finds them in Keras layers: ConvTranspose and linear Resize between
    int8 tensors, a 313-way Softmax head, a Tanh output. Each names the node."""
    from edgecolor.quant.risks import BINS, TENSORRT_ROWS, Risk

    graph = _graph(source)
    outputs = {o.name for o in graph.output}
    producers = {o: n for n in graph.node for o in n.output}
    risks = []
    for node in graph.node:
        if node.op_type == "ConvTranspose":
            risks.append(Risk(node.name, "conv_transpose", "high",
                              f"{node.name}: ConvTranspose in int8 (TensorRT INT8 "
                              "deconvolution has given wrong output)", rows=TENSORRT_ROWS))
        elif node.op_type == "Resize":
            mode = next((a.s.decode() for a in node.attribute if a.name == "mode"), "nearest")
            linear = mode != "nearest"
            risks.append(Risk(node.name, "resize", "medium" if linear else "info",
                              f"{node.name}: Resize ({mode}) between int8 tensors" + (
                                  " (Q/DQ around linear Resize can be mis-fused)" if linear
                                  else " (nearest copies int8 values: exact)")))
        elif node.op_type == "Softmax" and getattr(source.spec.output, "kind", "") == "ab_bins":
            risks.append(Risk(node.name, "softmax_head", "high",
                              f"{node.name}: {BINS}-way softmax in int8 (probabilities step "
                              "by 1/256; the annealed-mean decode loses color)"))
    # a Tanh at the end (possibly followed by the x110 Mul)
    for out in outputs:
        node = producers.get(out)
        if node is not None and node.op_type == "Mul":
            node = next((producers[i] for i in node.input if i in producers), node)
        if node is not None and node.op_type == "Tanh":
            risks.append(Risk(node.name, "tanh_output", "info",
                              f"{node.name}: tanh output in int8"))
    return risks


class SourceBackend:
    """Selective quantization of an ONNX source on one format, through the format's own
    converter (``float_layers`` = source node names) and its runner: the same artifact a
    budget candidate would be. Interface of :class:`edgecolor.quant.backends.QuantBackend`.
    """

    tool = "the format's converter with float_layers (ONNX node names)"

    def __init__(self, fmt: str, source, spec, calib, precision: str = "int8",
                 method: str = "minmax", extra: dict | None = None) -> None:
        from edgecolor.formats import get_format

        self.format = fmt
        self.fmt = get_format(fmt)
        self.model = source
        self.spec = spec
        self.calib = calib
        self.precision = precision
        self.method = method
        self.extra = dict(extra or {})
        self._tmp = tempfile.TemporaryDirectory(prefix="edgecolor-srcsens-")
        self._count = 0

    def layers(self) -> list[str]:
        """The source's quantizable node names, graph order."""
        return unit_names(self.model)

    def kinds(self) -> dict[str, str]:
        """Unit -> op type."""
        return unit_kinds(self.model)

    def quantize(self, float_layers: Iterable[str] = ()) -> tuple[Path, dict]:
        """-> (artifact path, manifest fields) with ``float_layers`` left in float."""
        from dataclasses import replace

        from edgecolor.converters.common import ConvertOptions

        self._count += 1
        path = Path(self._tmp.name) / f"probe{self._count}{self.fmt.suffix}"
        opts = replace(ConvertOptions(calib=self.calib, calib_method=self.method),
                       extra={**self.extra, "float_layers": list(float_layers)})
        fields = self.fmt.load_converter()(self.model, self.spec, self.precision, path, opts)
        return path, fields

    def infer_fn(self, quantized) -> Callable[[list[np.ndarray]], np.ndarray]:
        """(path, fields) -> ``infer`` on the format's runner (1 thread)."""
        from edgecolor.quant.budget import runner_class

        path, fields = quantized
        runner = runner_class(self.fmt)(path, self.spec, fields, threads=1)
        runner.activate()
        return runner.infer

    def layer_stats(self, samples) -> dict[str, dict[str, float]]:
        """No per-layer tool statistics for source graphs."""
        return {}
