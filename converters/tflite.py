"""Keras -> TFLite: fp32, fp16, dynamic-range, full-integer int8 and int16x8.

Starts from the frozen batch-1 function (variables folded, nearest upsampling as one resize
op). int8 is full-integer with int8 input/output tensors; int16x8 has int16 activations
(and int16 I/O) with int8 weights. Both are calibrated on the CalibrationSet's samples
(TFLite's converter calibrates min/max only).
"""

from __future__ import annotations

from pathlib import Path

from edgecolor.calibration.quantiles import clipping_note
from edgecolor.converters.common import ConvertOptions, frozen_function, upsampling_as_resize
from edgecolor.imageio import atomic_write_bytes
from edgecolor.spec import ModelSpec

PRECISIONS = ("fp32", "fp16", "dynamic", "int8", "int16x8")
CALIBRATED = ("int8", "int16x8")


def convert(model, spec: ModelSpec, precision: str, out_path: Path,
            options: ConvertOptions) -> dict:
    """Keras model -> ``.tflite`` at ``out_path`` (atomic) -> manifest fields.

    precision: fp32 | fp16 | dynamic | int8 | int16x8 (the last two need ``options.calib``,
    a CalibrationSet, and ``options.calib_method`` "minmax"). Returns ``inputs``/``outputs``
    (name, shape, dtype, quant {scale, zero_point} or None) in spec order, ``layout``,
    ``converter`` and ``notes``.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"tflite: unknown precision {precision!r} ({', '.join(PRECISIONS)})")
    if precision in CALIBRATED:
        if options.calib is None:
            raise ValueError(f"tflite {precision}: needs calibration images (--calib DIR)")
        from edgecolor.formats import get_format

        allowed = get_format("tflite").methods_for(precision)  # the one table of methods
        if options.calib_method not in allowed:
            raise ValueError(f"tflite {precision}: calibration method "
                             f"{options.calib_method!r} is not supported (TFLite {precision} "
                             f"calibrates {' or '.join(allowed)}); use --calib-method "
                             f"{allowed[0]}")
    from edgecolor.converters.from_onnx import is_onnx_source

    if is_onnx_source(model):  # the user's own ONNX graph, through onnx2tf
        return _convert_onnx_source(model, spec, precision, out_path, options)
    from edgecolor._tf import quiet_converter

    rewrite = options.extra.get("upsampling_as_resize", True)
    float_layers = list(options.extra.get("float_layers") or []) if precision == "int8" else []
    float_ops: list[str] = []  # op types TFLite could only keep float by type
    clipped = precision == "int8" and options.calib_method == "quantile"
    notes: list[str] = []
    with quiet_converter():
        # calibrated once per model and calibration set: each float set re-quantizes it
        calibrated = calibrated_int8(model, spec, options) if clipped or float_layers else None
        if clipped:
            notes.append(clipping_note(calibrated.clipped))
        if float_layers:  # selective int8: QuantizationDebugger denylist (converters.float_layers)
            from edgecolor.converters.float_layers import tflite_selective_int8

            # layer names are looked up on the user's model
            data, float_ops = tflite_selective_int8(calibrated, float_layers)
        elif clipped:
            data = int8_from_calibrated(calibrated)
        else:
            data = _converter(model, spec, precision, options).convert()
    inputs, outputs = tensor_details(data, spec)
    atomic_write_bytes(out_path, data)
    return {
        "layout": spec.layout,
        "inputs": inputs,
        "outputs": outputs,
        "converter": {"name": "edgecolor.converters.tflite", "tool": "tf.lite.TFLiteConverter",
                      "optimizations": _describe(precision),
                      "calibration": ("quantile (min/max clipped to mean per-photo "
                                      "quantiles, edgecolor.converters.tflite_ranges)"
                                      if clipped else "minmax"),
                      "graph": "frozen, batch 1" + (
                          ", nearest upsampling as RESIZE_NEAREST_NEIGHBOR" if rewrite else ""),
                      "float_layers": float_layers,
                      **({"float_ops": float_ops} if float_ops else {})},
        "float_layers": float_layers,
        "notes": notes + (["selective int8: float I/O, denylisted layers run in float"]
                          if float_layers else []) + [
            f"every {op} op runs in float: TFLite's quantizer keeps {op} int8 when it is "
            "denylisted by name" for op in float_ops],
    }


def calibrated_int8(model, spec: ModelSpec, options: ConvertOptions):
    """Keras model + int8 options (calibration set and method, ``upsampling_as_resize``) ->
    its graph calibrated for selective int8 (``float_layers.CalibratedTFLite``), calibrated
    once per model, weights, calibration set and method (``step_cache``): the budget's float
    sets and the sensitivity ranking re-quantize the same calibration. With the quantile
    method its activation ranges are clipped (``tflite_ranges``)."""
    from edgecolor._tf import quiet_converter
    from edgecolor.converters.float_layers import tflite_calibrated
    from edgecolor.converters.step_cache import CACHE
    from edgecolor.converters.tflite_ranges import clip_calibrated_ranges

    def calibrate():
        with quiet_converter():
            calibrated = tflite_calibrated(_converter(model, spec, "int8", options), model,
                                           spec, options.calib)
        if options.calib_method == "quantile":
            # the debugger quantizes whatever graph this attribute holds
            debugger = calibrated.debugger
            debugger.calibrated_model, calibrated.clipped = clip_calibrated_ranges(
                debugger.calibrated_model, spec, options.calib.samples)
        return calibrated

    return CACHE.get("tflite-calibrated", model, options.calib,
                     (options.extra.get("upsampling_as_resize", True), options.calib_method),
                     calibrate)


def int8_from_calibrated(calibrated) -> bytes:
    """A calibrated graph (:func:`calibrated_int8`) -> int8 flatbuffer with int8 I/O, every
    op quantized as ``TFLITE_BUILTINS_INT8`` would (ValueError naming the ops left float)."""
    from edgecolor._tf import import_tf, quiet_converter
    from edgecolor.converters.float_layers import float_op_types

    tf, _ = import_tf()
    from tensorflow.lite.python import convert as tflite_convert  # the debugger's quantizer

    with quiet_converter():
        data = tflite_convert.mlir_quantize(calibrated.debugger.calibrated_model,
                                            input_data_type=tf.int8, output_data_type=tf.int8)
    left = float_op_types(data)
    if left:
        raise ValueError(f"tflite int8: {', '.join(left)} stayed float after quantizing the "
                         "clipped ranges; use --calib-method minmax")
    return data


def _converter(model, spec: ModelSpec, precision: str, options: ConvertOptions):
    """A TFLiteConverter on the frozen batch-1 function (nearest upsampling as one resize op
    unless ``options.extra["upsampling_as_resize"]`` is False), set up for ``precision``."""
    from edgecolor._tf import import_tf

    tf, _ = import_tf()
    rewrite = options.extra.get("upsampling_as_resize", True)
    fn = frozen_function(upsampling_as_resize(model) if rewrite else model, spec)
    conv = tf.lite.TFLiteConverter.from_concrete_functions([fn])
    _configure(conv, tf, precision, options)
    return conv


def _convert_onnx_source(source, spec: ModelSpec, precision: str, out_path: Path,
                         options: ConvertOptions) -> dict:
    """ONNX source -> ``.tflite`` via onnx2tf (NHWC tensors; ``tensor_layout`` tells the
    runner to transpose from/to the contract's layout)."""
    from edgecolor.converters.from_onnx import tflite_from_onnx

    if options.extra.get("float_layers"):
        raise ValueError("tflite: layers kept in float are not supported for ONNX sources "
                         "(onnx2tf renames the graph); use the onnx or openvino rows")
    if precision in CALIBRATED and options.calib_method != "minmax":
        raise ValueError(f"tflite {precision}: an ONNX source is calibrated by onnx2tf, "
                         "min/max only; use --calib-method minmax")
    data, record = tflite_from_onnx(source, spec, precision, options)
    inputs, outputs = tensor_details(data, spec)
    atomic_write_bytes(out_path, data)
    return {
        "layout": spec.layout,
        "tensor_layout": "NHWC",
        "inputs": inputs,
        "outputs": outputs,
        "converter": {"name": "edgecolor.converters.tflite", **record,
                      "optimizations": _describe(precision), "float_layers": []},
        "float_layers": [],
        "notes": ["onnx2tf: NHWC tensors (the runner transposes the contract's NCHW)"]
        if spec.layout == "NCHW" else [],
    }


def _configure(conv, tf, precision: str, options: ConvertOptions) -> None:
    """Set the converter's optimization flags for a precision."""
    from edgecolor.calibration import tflite_representative_dataset

    if precision == "fp32":
        return
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision == "fp16":
        conv.target_spec.supported_types = [tf.float16]
    elif precision == "int8":
        conv.representative_dataset = tflite_representative_dataset(options.calib)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    elif precision == "int16x8":
        conv.representative_dataset = tflite_representative_dataset(options.calib)
        conv.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        conv.inference_input_type = tf.int16
        conv.inference_output_type = tf.int16


def _describe(precision: str) -> str:
    return {
        "fp32": "none",
        "fp16": "Optimize.DEFAULT, float16 weights",
        "dynamic": "Optimize.DEFAULT (int8 weights, float activations)",
        "int8": "Optimize.DEFAULT, TFLITE_BUILTINS_INT8, int8 I/O",
        "int16x8": "Optimize.DEFAULT, int16 activations / int8 weights, int16 I/O",
    }[precision]


def tensor_details(data: bytes, spec: ModelSpec) -> tuple[list[dict], list[dict]]:
    """Flatbuffer bytes -> (inputs in spec order, outputs) as manifest tensor records."""
    from edgecolor.runtimes.tflite import make_interpreter, match_inputs

    interp = make_interpreter(model_content=data)
    ins = match_inputs(interp.get_input_details(), [i.name for i in spec.inputs])
    return [_record(d) for d in ins], [_record(d) for d in interp.get_output_details()]


def _record(d: dict) -> dict:
    scale, zero_point = d["quantization"]
    quant = {"scale": float(scale), "zero_point": int(zero_point)} if scale else None
    return {"name": d["name"], "shape": [int(s) for s in d["shape"]],
            "dtype": d["dtype"].__name__, "quant": quant}

