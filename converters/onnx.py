"""Keras -> ONNX: FP32, int8 Q/DQ for TensorRT ("int8"), int8 for ONNX Runtime CPU ("int8-cpu").

FP32: tf2onnx from the fixed batch-1 Keras function, onnxsim with static shapes, Keras 3
UpSampling2D chains rewritten as one Resize nearest, ``onnx.checker`` full check. Both int8
flavours start from that FP32 graph and are calibrated by
``onnxruntime.quantization.quantize_static`` on the calibration set's samples; what each
flavour looks like, and why, is in :mod:`edgecolor.converters.qdq`.
"""

from __future__ import annotations

import os
from pathlib import Path

from edgecolor.converters.common import ConvertOptions
from edgecolor.spec import ModelSpec

MIN_OPSET = 17  # the default; an explicit options.opset may go down to LOWEST_OPSET
LOWEST_OPSET = 13  # per-channel Q/DQ; TensorRT 8.2 (Jetson Nano) parses opsets up to 13
PRECISIONS = ("fp32", "int8", "int8-cpu")
_ONNX_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 6: "int32", 7: "int64", 10: "float16"}


def convert(model, spec: ModelSpec, precision: str, out_path: Path,
            options: ConvertOptions) -> dict:
    """Keras model -> ONNX file at ``out_path`` (written atomically) for one precision.

    precision: ``fp32`` | ``int8`` (symmetric Q/DQ for TensorRT explicit quantization) |
    ``int8-cpu`` (Q/DQ tuned for ONNX Runtime's CPU kernels); the int8 flavours need
    ``options.calib`` (a CalibrationSet). ``options.extra``: ``float_layers`` (Keras layer
    names kept in float), ``fold_upsample``/``pad_channels`` (False switches off an int8-cpu
    rewrite, to measure it). Returns manifest fields: ``inputs``/``outputs``
    (name, shape, dtype, quant=None: I/O stays float32), ``opset``, ``layout``,
    ``converter`` (tools and options), ``notes`` (graph rewrites, ops left in float).
    """
    from edgecolor.converters import qdq

    if precision not in PRECISIONS:
        raise ValueError(f"onnx: unknown precision {precision!r}; choose one of: "
                         f"{', '.join(PRECISIONS)}")
    opset = int(options.opset or MIN_OPSET)
    if opset < LOWEST_OPSET:
        raise ValueError(f"onnx: opset {opset} is below {LOWEST_OPSET} (per-channel Q/DQ)")
    if precision != "fp32" and options.calib is None:
        raise ValueError(f"onnx {precision}: needs calibration images (--calib FOLDER)")
    from edgecolor.converters.from_onnx import is_onnx_source

    notes: list[str] = []
    if is_onnx_source(model):  # the user's own ONNX graph (edgecolor.sources)
        from edgecolor.converters.from_onnx import fp32_graph

        proto, notes = fp32_graph(model, opset)
        tool = "onnxsim"
    else:
        proto, tool = exported_fp32(model, spec, opset), "tf2onnx+onnxsim"
    converter = {"name": "edgecolor.converters.onnx", "tool": tool, "opset": opset}
    float_layers = list(options.extra.get("float_layers") or [])
    if precision != "fp32":
        flavour = qdq.TENSORRT if precision == "int8" else qdq.CPU
        exclude = None
        if float_layers and is_onnx_source(model):  # ONNX node names of the source
            from edgecolor.converters.from_onnx import source_exclude_nodes

            exclude = source_exclude_nodes(proto, flavour, float_layers, options.extra)
        elif float_layers:  # Keras layer names -> nodes_to_exclude (converters.float_layers)
            from edgecolor.converters.float_layers import onnx_exclude_nodes

            exclude = onnx_exclude_nodes(proto, flavour, model, spec, float_layers)
        rewrites = {k: bool(options.extra[k]) for k in ("fold_upsample", "pad_channels")
                    if k in options.extra}
        proto, qnotes = qdq.quantize(proto, spec, options.calib, flavour,
                                     method=options.calib_method, nodes_to_exclude=exclude,
                                     **rewrites)
        notes += qnotes
        converter.update(tool=f"{tool}+onnxruntime.quantization",
                         calib_method=options.calib_method, float_layers=float_layers,
                         **flavour.describe())
    _check(proto)
    save_atomic(proto, out_path)
    return {
        "layout": spec.layout,
        "opset": opset,
        "inputs": [tensor_info(v) for v in proto.graph.input],
        "outputs": [tensor_info(v) for v in proto.graph.output],
        "converter": converter,
        "float_layers": float_layers if precision != "fp32" else [],
        "notes": notes,
    }


def exported_fp32(model, spec: ModelSpec, opset: int = MIN_OPSET):
    """:func:`export_fp32`, exported once per model object, weights and opset (the rows of
    a convert run and a budget's candidates share it); each call gets its own copy."""
    import onnx

    from edgecolor.converters.step_cache import CACHE

    cached = CACHE.get("onnx-fp32", model, None, (opset, repr(spec.to_dict())),
                       lambda: export_fp32(model, spec, opset))
    proto = onnx.ModelProto()
    proto.CopyFrom(cached)
    return proto


def export_fp32(model, spec: ModelSpec, opset: int = MIN_OPSET):
    """Keras model + spec -> simplified, checked FP32 ``onnx.ModelProto`` (batch 1, NHWC I/O).

    Graph inputs/outputs carry the spec's names, in the spec's order; every shape is static.
    """
    from edgecolor._tf import import_tf

    import_tf()  # before tf2onnx, which imports TensorFlow itself (keeps its logs quiet)
    import onnx
    import tf2onnx
    from onnxsim import simplify

    from edgecolor.converters.common import input_signature, keras_function
    from edgecolor.converters.onnx_graph import upsample_chains_to_resize

    proto, _ = tf2onnx.convert.from_function(
        keras_function(model, spec), input_signature=input_signature(spec), opset=opset)
    _name_io(proto, spec)
    proto = _simplify(simplify, proto)
    proto = _simplify(simplify, upsample_chains_to_resize(proto))
    proto.producer_name = "edgecolor"
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _simplify(simplify, proto):
    simplified, ok = simplify(proto)
    if not ok:
        raise RuntimeError("onnxsim could not validate the simplified ONNX graph")
    return simplified


def _name_io(proto, spec: ModelSpec) -> None:
    """Rename graph inputs (in order) and the output to the spec's names."""
    graph = proto.graph
    if len(graph.input) != len(spec.inputs) or len(graph.output) != 1:
        raise RuntimeError(f"tf2onnx produced {len(graph.input)} inputs / {len(graph.output)} "
                           f"outputs; the spec has {len(spec.inputs)} / 1")
    renames = {v.name: i.name for v, i in zip(graph.input, spec.inputs, strict=True)}
    renames[graph.output[0].name] = spec.output.name
    renames = {a: b for a, b in renames.items() if a != b}
    if not renames:
        return
    for v in list(graph.input) + list(graph.output) + list(graph.value_info):
        v.name = renames.get(v.name, v.name)
    for node in graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]


def tensor_info(value) -> dict:
    """Graph input/output -> manifest entry {name, shape, dtype, quant} (float I/O: no quant)."""
    tt = value.type.tensor_type
    return {
        "name": value.name,
        "shape": [d.dim_value for d in tt.shape.dim],
        "dtype": _ONNX_DTYPES.get(tt.elem_type, str(tt.elem_type)),
        "quant": None,
    }


def _check(proto) -> None:
    import onnx

    onnx.checker.check_model(proto, full_check=True)


def save_atomic(proto, out_path: str | os.PathLike) -> None:
    """Write an ONNX model to ``out_path`` atomically (temporary file + rename)."""
    from edgecolor.imageio import atomic_write_bytes

    atomic_write_bytes(out_path, proto.SerializeToString())
