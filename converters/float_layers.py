"""Keras layer names <-> backend graph nodes.

Users name layers the way Keras does ("conv3", a nested block "spike"); TFLite, OpenVINO
and ONNX Runtime name tensors and nodes after the traced TensorFlow graph
("model_1/conv3_1/Relu;model_1/conv3_1/convolution"), and OpenVINO's layout transformations
often drop those names altogether. This module maps every backend node to the top-level
Keras layer it came from, so a list of Keras layer names can become a TFLite denylist, an
NNCF ignored scope or ONNX Runtime's ``nodes_to_exclude``. The converters use it to keep
layers in float (the quality budget's float sets, ``--float-layers``); ``edgecolor.quant``
uses it to probe layers one at a time.

Mapping, in order: (1) the graph name scope of each layer (recorded by tracing the model,
because TensorFlow uniquifies scopes: layer "conv2d" may trace as "conv2d_1" and layer
"conv2d_1" as "conv2d_1_2"); (2) for weighted nodes without a usable name, the Keras kernel
with the same values (any transpose) or, failing that, the same size in graph order;
(3) a node still unnamed belongs to the layer of its producer (a ReLU or tanh fused after
a convolution).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgecolor.spec import ModelSpec

# OpenVINO ops whose second input is a weight tensor
_OV_WEIGHTED = {"Convolution", "GroupConvolution", "ConvolutionBackpropData",
                "GroupConvolutionBackpropData", "MatMul"}
# OpenVINO ops that only carry a constant towards a weighted op
_OV_WEIGHT_PATH = {"Convert", "Reshape", "Transpose", "FakeQuantize", "Multiply", "Subtract",
                   "Unsqueeze", "Squeeze"}
_OV_SKIP = {"Parameter", "Result", "Constant"}
# ops a quantizer inserts (not part of any layer)
_TFLITE_SKIP = {"QUANTIZE", "DEQUANTIZE"}


def top_layers(model) -> list:
    """The model's top-level layers that compute something (input layers left out)."""
    return [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]


def layer_names(model) -> list[str]:
    """Names of :func:`top_layers`, in the model's (topological) order."""
    return [layer.name for layer in top_layers(model)]


def layer_scopes(model, spec: ModelSpec) -> dict[str, str]:
    """Keras model -> {graph name scope: layer name} for every top-level layer.

    Traced once with a batch-1 signature: each layer's output tensor name carries the scope
    TensorFlow gave that layer ("model_1/<scope>/Relu:0").
    """
    from edgecolor._tf import import_tf
    from edgecolor.converters.common import input_signature

    tf, keras = import_tf()
    layers = top_layers(model)
    outputs, owners = [], []
    for layer in layers:
        outs = layer.output if isinstance(layer.output, (list, tuple)) else [layer.output]
        outputs += list(outs)
        owners += [layer.name] * len(outs)
    tap = keras.Model(model.inputs, outputs)
    names: list[str] = []

    @tf.function(input_signature=input_signature(spec))
    def trace(*xs):
        ys = tap(list(xs), training=False)
        ys = ys if isinstance(ys, (list, tuple)) else [ys]
        names.extend(y.name for y in ys)
        return ys

    trace.get_concrete_function()
    scopes: dict[str, str] = {}
    for name, owner in zip(names, owners, strict=True):
        segments = name.split(":")[0].split("/")
        if len(segments) > 2:  # model scope / layer scope / op
            scopes.setdefault(segments[1], owner)
    for layer in layers:  # a layer whose output op is not in its scope: its plain name
        if layer.name not in scopes.values():
            scopes.setdefault(layer.name, layer.name)
    return scopes


def layer_of(name: str, scopes: dict[str, str]) -> str | None:
    """Backend tensor/node name -> Keras layer name, or None when the name carries no scope.

    Fused TFLite names ("a;b") are split; the layer scope is the segment after the model's.
    """
    for part in name.split(";"):
        segments = part.split(":")[0].split("/")
        if len(segments) > 1 and segments[1] in scopes:
            return scopes[segments[1]]
    for part in name.split(";"):  # a graph without the model scope (renamed, cut)
        for seg in part.split(":")[0].split("/")[:-1]:
            if seg in scopes:
                return scopes[seg]
    return None


def nodes_for_layers(node_layers: dict[str, str], layers: Iterable[str]) -> list[str]:
    """{node: layer} + layer names -> the nodes of those layers (graph order kept)."""
    wanted = set(layers)
    return [node for node, layer in node_layers.items() if layer in wanted]


def unknown_layers(layers: Iterable[str], node_layers: dict[str, str]) -> list[str]:
    """Names in ``layers`` that own no node of the backend graph (typos, folded layers)."""
    present = set(node_layers.values())
    return [name for name in layers if name not in present]


# ----------------------------------------------------------------------------- TFLite

def _tflite_graph(model_bytes: bytes):
    """An interpreter for reading the op list (tensors not allocated: no delegate rewrites)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - TensorFlow's copy
        from edgecolor._tf import import_tf

        Interpreter = import_tf()[0].lite.Interpreter
    return Interpreter(model_content=model_bytes)


def tflite_node_layers(model_bytes: bytes, scopes: dict[str, str]) -> dict[str, str]:
    """TFLite flatbuffer -> {op output tensor name: Keras layer} (denylist node names)."""
    interp = _tflite_graph(model_bytes)
    tensor_layer: dict[int, str] = {}
    result: dict[str, str] = {}
    inputs = {d["index"] for d in interp.get_input_details()}
    for op in interp._get_ops_details():  # the QuantizationDebugger reads ops the same way
        if op["op_name"] in _TFLITE_SKIP:
            for t in op["outputs"]:
                for i in op["inputs"]:
                    if i in tensor_layer:
                        tensor_layer[t] = tensor_layer[i]
            continue
        names = [interp._get_tensor_details(t, 0)["name"] for t in op["outputs"]]
        layer = next((lay for lay in (layer_of(n, scopes) for n in names) if lay), None)
        if layer is None:  # a graph output ("Identity"): its weights still carry the scope
            consts = [interp._get_tensor_details(i, 0)["name"] for i in op["inputs"]
                      if i >= 0 and i not in tensor_layer and i not in inputs]
            layer = next((lay for lay in (layer_of(n, scopes) for n in consts) if lay), None)
        if layer is None:
            layer = next((tensor_layer[i] for i in op["inputs"] if i in tensor_layer), None)
        if layer is None:
            continue
        for t, n in zip(op["outputs"], names, strict=True):
            tensor_layer[t] = layer
            result[n] = layer
    return result


# ----------------------------------------------------------------------------- ONNX

def onnx_node_layers(proto, scopes: dict[str, str]) -> dict[str, str]:
    """ONNX ModelProto -> {node name: Keras layer} (``nodes_to_exclude`` names)."""
    tensor_layer: dict[str, str] = {}
    result: dict[str, str] = {}
    for node in proto.graph.node:
        layer = layer_of(node.name, scopes) or next(
            (lay for lay in (layer_of(o, scopes) for o in node.output) if lay), None)
        if layer is None:
            layer = next((tensor_layer[i] for i in node.input if i in tensor_layer), None)
        if layer is None:
            continue
        for o in node.output:
            tensor_layer[o] = layer
        if node.name:
            result[node.name] = layer
    return result


# ----------------------------------------------------------------------------- OpenVINO

def _fingerprint(a: np.ndarray) -> np.ndarray:
    return np.sort(np.asarray(a, np.float32).ravel())


def _ov_weight(op) -> np.ndarray | None:
    """The constant weight feeding a weighted OpenVINO op (through converts/reshapes)."""
    node = op.input(1).get_source_output().get_node()
    for _ in range(6):
        kind = node.get_type_name()
        if kind == "Constant":
            return np.asarray(node.get_data())
        if kind not in _OV_WEIGHT_PATH:
            return None
        node = node.input(0).get_source_output().get_node()
    return None


def _keras_kernels(model) -> list[tuple[str, np.ndarray]]:
    """(layer, kernel) for every weight of rank >= 2 of every top-level layer, in order."""
    out = []
    for layer in top_layers(model):
        for w in layer.get_weights():
            if np.ndim(w) >= 2:
                out.append((layer.name, np.asarray(w)))
    return out


def ov_node_layers(ov_model, model, scopes: dict[str, str]) -> dict[str, str]:
    """ov.Model + its Keras model -> {node friendly name: Keras layer} (ignored scope names)."""
    ops = [op for op in ov_model.get_ordered_ops() if op.get_type_name() not in _OV_SKIP]
    result: dict[str, str] = {}
    for op in ops:
        names = [op.get_friendly_name()] + [n for o in op.outputs() for n in o.get_names()]
        layer = next((lay for lay in (layer_of(n, scopes) for n in names) if lay), None)
        if layer:
            result[op.get_friendly_name()] = layer

    kernels = _keras_kernels(model)
    prints = [_fingerprint(k) for _, k in kernels]
    used: set[int] = set()
    pending = []
    for op in ops:
        if op.get_type_name() not in _OV_WEIGHTED or op.get_friendly_name() in result:
            continue
        w = _ov_weight(op)
        if w is None:
            continue
        fp = _fingerprint(w)
        hit = next((i for i, p in enumerate(prints) if i not in used and p.shape == fp.shape
                    and np.allclose(p, fp, rtol=1e-5, atol=1e-7)), None)
        if hit is None:
            pending.append((op, fp.size))
            continue
        used.add(hit)
        result[op.get_friendly_name()] = kernels[hit][0]
    for op, size in pending:  # folded weights (batch norm): same size, graph order
        hit = next((i for i, (_, k) in enumerate(kernels) if i not in used and k.size == size),
                   None)
        if hit is not None:
            used.add(hit)
            result[op.get_friendly_name()] = kernels[hit][0]

    for op in ops:  # activations and layout ops follow their producer
        name = op.get_friendly_name()
        if name in result:
            continue
        for inp in op.inputs():
            src = inp.get_source_output().get_node()
            if src.get_friendly_name() in result and src.get_type_name() not in _OV_SKIP:
                result[name] = result[src.get_friendly_name()]
                break
    return result


def float_nodes(node_layers: dict[str, str], float_layers: Iterable[str], where: str) -> list[str]:
    """Backend node names of ``float_layers``; ValueError naming layers the graph lacks."""
    float_layers = list(float_layers)
    missing = unknown_layers(float_layers, node_layers)
    if missing:
        present = list(dict.fromkeys(node_layers.values()))
        raise ValueError(f"{where}: no layer named {', '.join(missing)} in the graph "
                         f"(float_layers must be Keras layer names: {', '.join(present)})")
    return nodes_for_layers(node_layers, float_layers)


def ov_float_nodes(ov_model, model, spec: ModelSpec, float_layers: Iterable[str]) -> list[str]:
    """OpenVINO node names (NNCF ignored scope) of the Keras layers ``float_layers``; a layer
    OpenVINO fused into what feeds it stays float with that (:func:`with_fused_layers`)."""
    return ov_nodes_of(ov_node_layers(ov_model, model, layer_scopes(model, spec)), model,
                       float_layers)


def ov_nodes_of(node_layers: dict[str, str], model, float_layers: Iterable[str]) -> list[str]:
    """:func:`fused_float_nodes` on an OpenVINO layer map (:func:`ov_node_layers`)."""
    return fused_float_nodes(node_layers, model, float_layers, "openvino")


def fused_float_nodes(node_layers: dict[str, str], model, float_layers: Iterable[str],
                      where: str) -> list[str]:
    """:func:`float_nodes`, each layer with no node of its own (fused by the backend:
    OpenVINO's activations into the convolution before them, TFLite's ADD into the ReLU
    after it) going float with a neighbour of the same set, else with its producers
    (:func:`with_fused_layers`)."""
    present = set(node_layers.values())
    return float_nodes(node_layers, with_fused_layers(model, float_layers, present), where)


def input_layers(layer) -> list[str]:
    """Names of the Keras layers feeding ``layer`` (its first call), in input order."""
    nodes = getattr(layer, "_inbound_nodes", None) or []
    tensors = getattr(nodes[0], "input_tensors", []) if nodes else []
    history = [getattr(t, "_keras_history", None) for t in tensors]
    return [h.operation.name for h in history if h is not None]


def with_fused_layers(model, layers: Iterable[str], present: set[str]) -> list[str]:
    """Keras layer names -> the same, each layer that owns no backend op (``present``: the
    layers that do) replaced by the nearest layers feeding it that own one.

    OpenVINO fuses a BatchNormalization and activation into the convolution before them and
    labels a Concat by its first input (:func:`ov_node_layers`), so Inception-ResNet's
    ``activation_199`` or ``block8_10_mixed`` own no node: keeping their producers float keeps
    them float. A layer next to one of ``layers`` that owns a node is left out instead (TFLite
    labels an ADD with its fused RELU by the activation layer: the join goes float with it).
    A name that is no layer of ``model`` stays, for :func:`float_nodes` to refuse.
    """
    by_name = {layer.name: layer for layer in model.layers}
    layers = list(layers)
    chosen = {n for n in layers if n in present}  # layers of the set that own a node
    feeds = {name: input_layers(layer) for name, layer in by_name.items()}
    readers: dict[str, list[str]] = {}
    for name, inputs in feeds.items():
        for item in inputs:
            readers.setdefault(item, []).append(name)
    out: list[str] = []
    for name in layers:
        if name in present or name not in by_name:
            out.append(name)
            continue
        if chosen.intersection(feeds[name] + readers.get(name, [])):
            continue  # fused with a neighbour that goes float anyway (TFLite: ADD + RELU)
        found, todo, seen = [], list(feeds[name]), {name}
        while todo:
            item = todo.pop(0)
            if item in seen:
                continue
            seen.add(item)
            if item in present:
                found.append(item)
            elif item in by_name:
                todo += feeds[item]
        out += found or [name]
    return list(dict.fromkeys(out))


def tflite_float_nodes(model_bytes: bytes, model, spec: ModelSpec,
                       float_layers: Iterable[str]) -> list[str]:
    """TFLite tensor names (QuantizationDebugOptions denylisted_nodes) of ``float_layers``."""
    nodes = tflite_node_layers(model_bytes, layer_scopes(model, spec))
    return fused_float_nodes(nodes, model, float_layers, "tflite")


def onnx_float_nodes(proto, model, spec: ModelSpec, float_layers: Iterable[str]) -> list[str]:
    """ONNX node names (quantize_static nodes_to_exclude) of ``float_layers``."""
    nodes = onnx_node_layers(proto, layer_scopes(model, spec))
    return fused_float_nodes(nodes, model, float_layers, "onnx")


def still_int8(model_bytes: bytes, nodes: Iterable[str]) -> dict[str, str]:
    """Quantized TFLite flatbuffer + denylisted node names -> {node: op type} for the
    nodes whose op still writes an int8 tensor (the quantizer ignored their denylisting).
    Names the flatbuffer lacks are not reported."""
    # quantizing can rename a tensor by fusing names ("a/conv1" -> "a/conv1;a/conv"):
    # a node matches a tensor when they share one ';'-separated part
    part_node = {part: n for n in nodes for part in n.split(";")}
    interp = _tflite_graph(model_bytes)
    found: dict[str, str] = {}
    for op in interp._get_ops_details():
        if op["op_name"] in _TFLITE_SKIP:
            continue
        for t in op["outputs"]:
            d = interp._get_tensor_details(t, 0)
            node = next((part_node[p] for p in d["name"].split(";") if p in part_node), None)
            if node is not None and np.dtype(d["dtype"]) == np.int8:
                found[node] = op["op_name"]
    return found


def float_op_types(model_bytes: bytes) -> list[str]:
    """Quantized TFLite flatbuffer -> the op types (sorted) that still write a float tensor
    (QUANTIZE/DEQUANTIZE at the graph's edges aside)."""
    interp = _tflite_graph(model_bytes)
    found = set()
    for op in interp._get_ops_details():
        if op["op_name"] in _TFLITE_SKIP:
            continue
        if any(np.dtype(interp._get_tensor_details(t, 0)["dtype"]) == np.float32
               for t in op["outputs"]):
            found.add(op["op_name"])
    return sorted(found)


def tflite_denylisted(debugger, nodes: list[str],
                      node_layers: dict[str, str] | None = None) -> tuple[bytes, list[str]]:
    """A calibrated ``QuantizationDebugger`` + denylisted node names -> (flatbuffer with
    those nodes in float, op types widened to float).

    TFLite's quantizer silently ignores ``denylisted_nodes`` for some op types (TF 2.20:
    TRANSPOSE_CONV stays int8), so the result is checked; an op type whose node stayed int8
    is denylisted by type (``denylisted_ops``: every op of that type runs in float), and
    that widening is returned so the manifest can say so. ValueError when a node is still
    int8 after that (naming its layer when ``node_layers`` is given).
    """
    from edgecolor._tf import import_tf

    tf = import_tf()[0]
    options = tf.lite.experimental.QuantizationDebugOptions
    debugger.options = options(denylisted_nodes=nodes or None)
    data = debugger.get_nondebug_quantized_model()
    ignored = still_int8(data, nodes) if nodes else {}
    if not ignored:
        return data, []
    widened = sorted(set(ignored.values()))
    debugger.options = options(denylisted_nodes=nodes, denylisted_ops=widened)
    data = debugger.get_nondebug_quantized_model()
    left = still_int8(data, nodes)
    if left:
        names = [(node_layers or {}).get(n, n) for n in left]
        raise ValueError(f"tflite: the quantizer keeps {', '.join(dict.fromkeys(names))} in "
                         "int8 even when denylisted by name and by op type; leave it out of "
                         "float_layers or use fp16")
    return data, widened


@dataclass
class DebugSamples:
    """The samples a ``QuantizationDebugger`` runs on in ``run()`` (its ``debug_dataset``):
    the calibration samples unless a caller puts others here (the sensitivity analysis
    reads layer statistics on the held-out photos)."""

    samples: list

    def __call__(self):
        for sample in self.samples:
            yield [np.asarray(x, np.float32) for x in sample]


@dataclass
class CalibratedTFLite:
    """A TFLite graph calibrated once: the debugger that re-quantizes it for any denylist
    (:func:`tflite_denylisted`), {node: Keras layer} of its graph, and the samples its
    ``run()`` uses."""

    debugger: Any
    node_layers: dict[str, str]
    debug_samples: DebugSamples
    model: Any  # the Keras model: layers TFLite fused into a neighbour own no node
    clipped: list = field(default_factory=list)  # quantiles.ClippedRange (quantile method)


def tflite_calibrated(converter, model, spec: ModelSpec, calib) -> CalibratedTFLite:
    """A TFLiteConverter set up for int8 (optimizations + representative dataset) + its
    CalibrationSet -> the calibrated graph (:class:`CalibratedTFLite`).

    TFLite's supported way to keep layers in float: ``QuantizationDebugger(converter=...)``
    calibrates once, then ``QuantizationDebugOptions(denylisted_nodes=...)`` +
    ``get_nondebug_quantized_model()`` quantizes the calibrated model for each denylist.
    Float fallback must be allowed, so the model keeps float32 input/output.
    """
    from edgecolor._tf import import_tf

    tf, _ = import_tf()
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.inference_input_type = tf.float32
    converter.inference_output_type = tf.float32
    samples = DebugSamples(list(calib.samples))
    debugger = tf.lite.experimental.QuantizationDebugger(converter=converter,
                                                         debug_dataset=samples)
    return CalibratedTFLite(debugger, tflite_node_layers(debugger.calibrated_model,
                                                         layer_scopes(model, spec)), samples,
                            model=model)


def tflite_selective_int8(calibrated: CalibratedTFLite, float_layers: Iterable[str]
                          ) -> tuple[bytes, list[str]]:
    """A calibrated graph (:func:`tflite_calibrated`) -> (flatbuffer with ``float_layers``
    (Keras names) left in float, op types that had to be kept float by type, see
    :func:`tflite_denylisted`)."""
    nodes = fused_float_nodes(calibrated.node_layers, calibrated.model, float_layers, "tflite")
    return tflite_denylisted(calibrated.debugger, nodes, calibrated.node_layers)


def onnx_prepared(fp32, flavour, **rewrites):
    """The graph ONNX Runtime's quantizer sees (``qdq.prepare``: the flavour's rewrites,
    every node named): node names for ``nodes_to_exclude`` must come from it."""
    from edgecolor.converters import qdq

    return qdq.prepare(fp32, flavour, **rewrites)[0]


def onnx_exclude_nodes(fp32, flavour, model, spec: ModelSpec,
                       float_layers: Iterable[str], **rewrites) -> list[str]:
    """FP32 ONNX + flavour + Keras model -> ``nodes_to_exclude`` for ``float_layers``.

    rewrites: ``fold_upsample`` / ``pad_channels`` as given to ``qdq.quantize``.
    """
    return onnx_float_nodes(onnx_prepared(fp32, flavour, **rewrites), model, spec,
                                      float_layers)
