"""Keras -> OpenVINO IR (.xml + .bin): FP32, FP16 (compressed weights), INT8 (NNCF PTQ).

The IR is made from the frozen batch-1 graph with nearest upsampling as one resize op: NNCF
then quantizes every convolution (with Keras 3's Tile/Reshape upsampling chains the
convolutions after them stayed in float, which made INT8 barely faster than FP32). INT8 is
``nncf.quantize`` on the ov.Model with an ``nncf.Dataset`` of the calibration samples.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
from pathlib import Path

from edgecolor.converters.common import ConvertOptions, frozen_function, upsampling_as_resize
from edgecolor.spec import ModelSpec

PRECISIONS = ("fp32", "fp16", "int8")
# --calib-method -> NNCF activation range estimator; MEAN_QUANTILE is the rule the other
# formats' "quantile" follows (edgecolor.calibration.quantiles); "percentile" is its old name
RANGE_ESTIMATORS = {"minmax": "MINMAX", "quantile": "MEAN_QUANTILE",
                    "percentile": "MEAN_QUANTILE"}


def convert(model, spec: ModelSpec, precision: str, out_path: Path,
            options: ConvertOptions) -> dict:
    """Keras model -> IR ``out_path`` (.xml) + ``.bin`` sidecar (atomic) -> manifest fields.

    precision: fp32 | fp16 | int8 (needs ``options.calib``; ``options.calib_method`` minmax
    or quantile, alias percentile). Returns ``inputs``/``outputs`` (name, shape, dtype, quant
    None) in spec order, ``layout``, ``inference_precision`` (the CPU hint the runner sets:
    "f32" for fp32, None = the plugin's default), ``converter`` and ``notes``.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"openvino: unknown precision {precision!r} ({', '.join(PRECISIONS)})")
    if precision == "int8":
        if options.calib is None:
            raise ValueError("openvino int8: needs calibration images (--calib DIR)")
        if options.calib_method not in RANGE_ESTIMATORS:
            raise ValueError(f"openvino int8: calibration method {options.calib_method!r} is "
                             f"not supported by NNCF here; use one of "
                             f"{', '.join(RANGE_ESTIMATORS)}")
    import openvino as ov

    from edgecolor.converters.from_onnx import is_onnx_source, ov_from_onnx

    rewrite = options.extra.get("upsampling_as_resize", True)
    if is_onnx_source(model):  # the user's own ONNX graph, read by OpenVINO directly
        ov_model = ov_from_onnx(model)
        converter = {"name": "edgecolor.converters.openvino", "tool": "openvino.convert_model",
                     "graph": "source ONNX (onnxsim), batch 1"}
    else:
        ov_model = to_ov_model(model, spec, rewrite)
        converter = {"name": "edgecolor.converters.openvino", "tool": "openvino.convert_model",
                     "graph": "frozen, batch 1" + (
                         ", nearest upsampling as Interpolate" if rewrite else "")}
    float_layers = list(options.extra.get("float_layers") or [])
    if precision == "int8":
        ignored = None
        if float_layers and is_onnx_source(model):  # ONNX node names of the source
            from edgecolor.converters.from_onnx import ov_source_float_nodes

            ignored = ov_source_float_nodes(ov_model, model, float_layers)
        elif float_layers:  # Keras layer names -> NNCF ignored scope (converters.float_layers)
            from edgecolor.converters.float_layers import ov_float_nodes

            ignored = ov_float_nodes(ov_model, model, spec, float_layers)
        ov_model = quantize(ov_model, options.calib, options.calib_method, ignored,
                            options.extra.get("nncf"))
        converter.update(tool="openvino.convert_model+nncf.quantize",
                         calib_method=options.calib_method,
                         range_estimator=RANGE_ESTIMATORS[options.calib_method],
                         float_layers=float_layers, nncf=options.extra.get("nncf") or {})
    save_atomic(ov, ov_model, out_path, compress_to_fp16=precision == "fp16")
    inputs = [_record(p) for p in ordered_inputs(ov_model, spec)]
    return {
        "layout": spec.layout,
        "inputs": inputs,
        "outputs": [_record(o) for o in ov_model.outputs],
        "inference_precision": "f32" if precision == "fp32" else None,
        "converter": converter,
        "float_layers": float_layers if precision == "int8" else [],
        "notes": [],
    }


def to_ov_model(model, spec: ModelSpec, resize_upsampling: bool = True):
    """Keras model -> ov.Model from the frozen batch-1 graph (NHWC inputs as in the spec).

    resize_upsampling False keeps Keras' own UpSampling2D export (for comparisons only).
    """
    import openvino as ov

    if resize_upsampling:
        model = upsampling_as_resize(model)
    fn = frozen_function(model, spec)
    return ov.convert_model(fn.graph.as_graph_def())


def quantize(ov_model, calib, method: str = "minmax", ignored_names: list[str] | None = None,
             advanced: dict | None = None):
    """ov.Model + CalibrationSet -> INT8 ov.Model (NNCF post-training quantization).

    ignored_names: OpenVINO node names NNCF leaves in float (``nncf.IgnoredScope``);
    advanced: {"channel_alignment": bool, "bias_correction": "fast"|"full"} (edgecolor.quant
    tries these when plain int8 misses its PSNR budget).
    """
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    from edgecolor.calibration import nncf_dataset

    estimator = getattr(RangeEstimatorParametersSet, RANGE_ESTIMATORS[method])
    advanced = advanced or {}
    scope = nncf.IgnoredScope(names=list(ignored_names), validate=False) if ignored_names \
        else None
    with _nncf_quiet():
        return nncf.quantize(
            ov_model, nncf_dataset(calib), subset_size=len(calib.samples),
            fast_bias_correction=advanced.get("bias_correction", "fast") == "fast",
            ignored_scope=scope,
            advanced_parameters=AdvancedQuantizationParameters(
                activations_range_estimator_params=estimator,
                disable_channel_alignment=not advanced.get("channel_alignment", False)))


@contextlib.contextmanager
def _nncf_quiet():
    """NNCF logs INFO lines and draws rich progress bars (on stdout); keep only its errors."""
    import nncf

    logger = logging.getLogger("nncf")
    level = logger.level
    nncf.set_log_level(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        nncf.set_log_level(level or logging.INFO)


def _plain(name: str) -> str:
    return name.split(":")[0]


def ordered_inputs(ov_model, spec: ModelSpec) -> list:
    """The ov.Model's inputs in spec order (matched by tensor name; else the model's order)."""
    ports = list(ov_model.inputs)
    if len(ports) != len(spec.inputs):
        raise ValueError(f"openvino: the IR has {len(ports)} inputs, the spec "
                         f"{len(spec.inputs)}")
    by_name = {}
    for p in ports:
        for n in p.get_names():
            by_name.setdefault(_plain(n), p)
    names = [i.name for i in spec.inputs]
    if all(n in by_name for n in names):
        return [by_name[n] for n in names]
    return ports


def _record(port) -> dict:
    return {"name": port.get_any_name(), "shape": [int(d) for d in port.get_shape()],
            "dtype": port.get_element_type().to_dtype().name, "quant": None}


def save_atomic(ov, ov_model, out_path: Path, compress_to_fp16: bool) -> None:
    """Write ``.xml`` + ``.bin`` to a temp folder beside ``out_path``, then rename both.

    The .bin is renamed first so the .xml (what users open) never points at a missing file.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out_path.stem}.", dir=out_path.parent) as tmp:
        xml = Path(tmp) / out_path.name
        ov.save_model(ov_model, str(xml), compress_to_fp16=compress_to_fp16)
        os.replace(xml.with_suffix(".bin"), out_path.with_suffix(".bin"))
        os.replace(xml, out_path)
