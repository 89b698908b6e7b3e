"""Per-backend glue: quantize with chosen Keras layers kept in float, run the result.

Each backend uses its own tool for selective quantization and for layer-wise error numbers:

* TFLite: ``tf.lite.experimental.QuantizationDebugger`` calibrates once; every variant is
  ``debugger.options = QuantizationDebugOptions(denylisted_nodes=...)`` then
  ``get_nondebug_quantized_model()``; layer statistics are the debugger's own
  (RMSE / scale per quantized tensor, ~0.29 is ideal rounding noise).
* OpenVINO: ``nncf.quantize(..., ignored_scope=nncf.IgnoredScope(names=...))`` through the
  converter's ``quantize`` (same graph, same range estimator as the shipped IR).
* ONNX: the converter's Q/DQ ``quantize`` with ONNX Runtime's ``nodes_to_exclude``; layer
  statistics from ``onnxruntime.quantization.qdq_loss_debug`` (activation SQNR, dB).

A backend is built once per (model, calibration set, precision, method); ``quantize`` then
returns an in-memory model and ``infer_fn`` a function running it (float32 in and out).
"""

from __future__ import annotations

import csv
import io
import math
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from edgecolor._tf import quiet_converter
from edgecolor.converters import float_layers as layer_map
from edgecolor.converters.float_layers import onnx_prepared
from edgecolor.spec import ModelSpec

Infer = Callable[[list[np.ndarray]], np.ndarray]


def ort_session(proto, threads: int = 1):
    """``onnx.ModelProto`` -> a quiet ONNX Runtime CPU session (``threads`` intra-op)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(proto.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])


class QuantBackend:
    """Selective quantization of one model on one backend (subclasses per format).

    ``node_layers``: backend node name -> Keras layer; ``layers()``: the Keras layers that
    own nodes (the units of sensitivity analysis and of ``float_layers``), Keras order.
    """

    format = ""
    tool = ""

    def __init__(self, model, spec: ModelSpec, calib, precision: str = "int8",
                 method: str = "minmax", scopes: dict[str, str] | None = None) -> None:
        self.model = model
        self.spec = spec
        self.calib = calib
        self.precision = precision
        self.method = method
        self.scopes = scopes if scopes is not None else layer_map.layer_scopes(model, spec)
        self.node_layers: dict[str, str] = {}

    def layers(self) -> list[str]:
        """Keras layers with at least one node in this backend's graph, in Keras order."""
        present = set(self.node_layers.values())
        return [n for n in layer_map.layer_names(self.model) if n in present]

    def nodes_for(self, float_layers: Iterable[str]) -> list[str]:
        """Backend node names of ``float_layers``; ValueError naming unknown layers."""
        return layer_map.float_nodes(self.node_layers, float_layers, self.format)

    def quantize(self, float_layers: Iterable[str] = ()):
        """-> the quantized model (in memory) with ``float_layers`` left in float."""
        raise NotImplementedError

    def infer_fn(self, quantized) -> Infer:
        """A quantized model -> ``infer`` (list of float32 input batches -> raw output)."""
        raise NotImplementedError

    def layer_stats(self, samples: list[list[np.ndarray]]) -> dict[str, dict[str, float]]:
        """The backend tool's per-layer error numbers on ``samples`` (layer -> {stat: value})."""
        return {}


class TFLiteBackend(QuantBackend):
    """TFLite int8 via the QuantizationDebugger (float I/O; denylisted ops run in float)."""

    format = "tflite"
    tool = "tf.lite.experimental.QuantizationDebugger (denylisted_nodes)"

    def __init__(self, model, spec, calib, precision="int8", method="minmax", scopes=None):
        super().__init__(model, spec, calib, precision, method, scopes)
        from edgecolor._tf import import_tf
        from edgecolor.converters.common import ConvertOptions
        from edgecolor.converters.tflite import calibrated_int8
        from edgecolor.formats import get_format

        methods = get_format("tflite").methods_for("int8")
        if precision != "int8" or method not in methods:
            raise ValueError(f"tflite sensitivity: int8 with {' or '.join(methods)} "
                             "calibration only")

        tf, _ = import_tf()
        self._tf = tf
        # calibrated once (shared with the converter's float sets); every variant
        # re-quantizes the calibrated model
        self._calibrated = calibrated_int8(model, spec, ConvertOptions(calib=calib,
                                                                       calib_method=method))
        self._debugger = self._calibrated.debugger
        self.node_layers = self._calibrated.node_layers

    def quantize(self, float_layers=()):
        nodes = self.nodes_for(float_layers)
        with quiet_converter():
            return layer_map.tflite_denylisted(self._debugger, nodes, self.node_layers)[0]

    def infer_fn(self, quantized: bytes) -> Infer:
        from edgecolor.runtimes.tflite import dequantize, make_interpreter, match_inputs
        from edgecolor.runtimes.tflite import quantize as quantize_input

        interp = make_interpreter(model_content=quantized, num_threads=1)
        ins = match_inputs(interp.get_input_details(), [i.name for i in self.spec.inputs])
        out = interp.get_output_details()[0]

        def infer(xs: list[np.ndarray]) -> np.ndarray:
            for x, d in zip(xs, ins, strict=True):
                interp.set_tensor(d["index"], quantize_input(x, d))
            interp.invoke()
            return dequantize(interp.get_tensor(out["index"]), out)

        return infer

    def layer_stats(self, samples):
        debug = self._calibrated.debug_samples
        calibration, debug.samples = debug.samples, [list(s) for s in samples]
        try:
            with quiet_converter():
                self._debugger.options = self._tf.lite.experimental.QuantizationDebugOptions()
                self._debugger.run()
                dump = io.StringIO()
                self._debugger.layer_statistics_dump(dump)
        finally:
            debug.samples = calibration
        stats: dict[str, dict[str, float]] = {}
        for row in csv.DictReader(io.StringIO(dump.getvalue())):
            name = row["tensor_name"]
            layer = self.node_layers.get(name) or layer_map.layer_of(name, self.scopes)
            scale = float(row["scale"] or 0)
            if layer is None or scale <= 0:
                continue
            ratio = math.sqrt(max(float(row["mean_squared_error"]), 0.0)) / scale
            entry = stats.setdefault(layer, {"rmse/scale": 0.0})
            entry["rmse/scale"] = max(entry["rmse/scale"], round(ratio, 3))
        return stats


class OpenVINOBackend(QuantBackend):
    """OpenVINO int8 via NNCF post-training quantization with an ignored scope."""

    format = "openvino"
    tool = "nncf.quantize (ignored_scope=nncf.IgnoredScope(names=...))"

    def __init__(self, model, spec, calib, precision="int8", method="minmax", scopes=None,
                 advanced: dict | None = None):
        super().__init__(model, spec, calib, precision, method, scopes)
        if precision != "int8":
            raise ValueError("openvino sensitivity: int8 only")
        from edgecolor.converters import openvino as ov_convert

        self._convert = ov_convert
        self.advanced = dict(advanced or {})
        self._float = ov_convert.to_ov_model(model, spec)
        self.node_layers = layer_map.ov_node_layers(self._float, model, self.scopes)

    def nodes_for(self, float_layers: Iterable[str]) -> list[str]:
        """As the converter's: a layer OpenVINO fused into its producers goes float with them."""
        return layer_map.ov_nodes_of(self.node_layers, self.model, float_layers)

    def quantize(self, float_layers=()):
        nodes = self.nodes_for(float_layers)
        return self._convert.quantize(self._float.clone(), self.calib, self.method,
                                      ignored_names=nodes, advanced=self.advanced)

    def infer_fn(self, quantized) -> Infer:
        import openvino as ov

        compiled = ov.Core().compile_model(quantized, "CPU")
        ports = self._convert.ordered_inputs(quantized, self.spec)
        names = [p.get_any_name() for p in ports]

        def infer(xs: list[np.ndarray]) -> np.ndarray:
            result = compiled(dict(zip(names, xs, strict=True)))
            return np.asarray(result[compiled.output(0)], np.float32)

        return infer


class ONNXBackend(QuantBackend):
    """ONNX Q/DQ via onnxruntime.quantization (the converter's flavour) + nodes_to_exclude."""

    format = "onnx"
    tool = "onnxruntime.quantization.quantize_static (nodes_to_exclude) + qdq_loss_debug"

    def __init__(self, model, spec, calib, precision="int8", method="minmax", scopes=None,
                 opset: int | None = None):
        super().__init__(model, spec, calib, precision, method, scopes)
        from edgecolor.converters import onnx as onnx_convert
        from edgecolor.converters import qdq

        if precision not in ("int8", "int8-cpu"):
            raise ValueError("onnx sensitivity: int8 or int8-cpu only")
        self._qdq = qdq
        self.flavour = qdq.TENSORRT if precision == "int8" else qdq.CPU
        self._fp32 = onnx_convert.exported_fp32(model, spec, opset or onnx_convert.MIN_OPSET)
        self._prepared = onnx_prepared(self._fp32, self.flavour)
        self.node_layers = layer_map.onnx_node_layers(self._prepared, self.scopes)


    def quantize(self, float_layers=()):
        nodes = self.nodes_for(float_layers)
        quantized, _ = self._qdq.quantize(self._fp32, self.spec, self.calib, self.flavour,
                                          method=self.method, nodes_to_exclude=nodes)
        return quantized

    def infer_fn(self, quantized) -> Infer:
        session = ort_session(quantized)
        names = [i.name for i in session.get_inputs()]
        out = session.get_outputs()[0].name

        def infer(xs: list[np.ndarray]) -> np.ndarray:
            feed = {n: np.ascontiguousarray(x, np.float32) for n, x in zip(names, xs,
                                                                            strict=True)}
            return session.run([out], feed)[0]

        return infer

    def layer_stats(self, samples):
        import onnx
        from onnxruntime.quantization import qdq_loss_debug as dbg

        from edgecolor.calibration.readers import ort_calibration_reader

        class _Samples:  # the reader only needs .samples and .spec
            def __init__(self, spec, items):
                self.spec, self.samples = spec, items

        quantized = self.quantize(())
        names = [i.name for i in self._prepared.graph.input]
        with tempfile.TemporaryDirectory(prefix="edgecolor-qdqdebug-") as tmp:
            acts = {}
            for label, proto in (("float", self._prepared), ("qdq", quantized)):
                src, aug = Path(tmp) / f"{label}.onnx", Path(tmp) / f"{label}.aug.onnx"
                onnx.save(proto, src)
                dbg.modify_model_output_intermediate_tensors(src, aug)
                reader = ort_calibration_reader(_Samples(self.spec, samples), names)
                acts[label] = dbg.collect_activations(str(aug), reader)
        matched = dbg.create_activation_matching(acts["qdq"], acts["float"])
        errors = dbg.compute_activation_error(matched)
        producers = {o: n.name for n in self._prepared.graph.node for o in n.output}
        stats: dict[str, dict[str, float]] = {}
        for tensor, err in errors.items():
            layer = self.node_layers.get(producers.get(tensor, ""))
            value = err.get("xmodel_err")
            if layer is None or value is None or not np.isfinite(value):
                continue
            entry = stats.setdefault(layer, {"act_sqnr_db": math.inf})
            entry["act_sqnr_db"] = min(entry["act_sqnr_db"], round(float(value), 2))
        return stats


BACKENDS: dict[str, type[QuantBackend]] = {
    "tflite": TFLiteBackend,
    "openvino": OpenVINOBackend,
    "onnx": ONNXBackend,
}


def make_backend(fmt: str, model, spec: ModelSpec, calib, precision: str = "int8",
                 method: str = "minmax", scopes: dict[str, str] | None = None,
                 **kw) -> QuantBackend:
    """Format name -> its :class:`QuantBackend` (ValueError for a format without one)."""
    if fmt not in BACKENDS:
        raise ValueError(f"no sensitivity analysis for format {fmt!r}; choose one of: "
                         f"{', '.join(BACKENDS)}")
    return BACKENDS[fmt](model, spec, calib, precision, method, scopes, **kw)
