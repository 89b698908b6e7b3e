"""The one table of artifact formats.

Every row says what a format is called, its file suffix(es), the precisions edgecolor
produces for it, which of those need calibration, the converter that makes it, the runners
that run it (in preference order), which CLI options it accepts and the pip extra that
installs its runtime. The CLI's choices, the converters' dispatch and the benchmark's rows
all read this table: nothing else lists format names.

Converters and runners are named as "module:attribute" and imported only when used, so a
device without TensorFlow can read the table.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    """One artifact format (a row of the table)."""

    name: str
    suffix: str
    precisions: tuple[str, ...]
    calibrated: tuple[str, ...]  # precisions that need calibration data
    converter: str  # "module:function" (model, spec, precision, out_path, options) -> dict
    runners: tuple[str, ...]  # runner names (keys of RUNNERS), preferred first
    args: tuple[str, ...]  # CLI options this format accepts
    extra: str  # pip extra that installs its runtime
    sidecars: tuple[str, ...] = ()  # other files that belong to one artifact (".bin")
    calib_methods: tuple[str, ...] = ("minmax",)
    minmax_only: tuple[str, ...] = ()  # calibrated precisions that take min/max ranges only
    calib_aliases: tuple[tuple[str, str], ...] = ()  # (accepted name, the method it runs)

    def artifact_name(self, model: str, precision: str) -> str:
        """File name of an artifact: ``<model>-<format>-<precision><suffix>``."""
        return f"{model}-{self.name}-{precision}{self.suffix}"

    def methods_for(self, precision: str) -> tuple[str, ...]:
        """Calibration methods this format offers for one calibrated precision."""
        return ("minmax",) if precision in self.minmax_only else self.calib_methods

    def resolve_method(self, method: str, precision: str) -> str | None:
        """A requested calibration method -> the one this format runs for ``precision``
        (aliases resolved), or None when it has no such method."""
        method = dict(self.calib_aliases).get(method, method)
        return method if method in self.methods_for(precision) else None

    def default_method(self, precision: str) -> str:
        """The calibration method of a row when none is asked for: DEFAULT_CALIB_METHOD
        where this format has it for ``precision``, else minmax."""
        return self.resolve_method(DEFAULT_CALIB_METHOD, precision) or "minmax"

    def load_converter(self):
        """Import and return the converter function."""
        return _load(self.converter)


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            name="tflite",
            suffix=".tflite",
            precisions=("fp32", "fp16", "dynamic", "int8", "int16x8"),
            calibrated=("int8", "int16x8"),
            converter="edgecolor.converters.tflite:convert",
            runners=("tflite",),
            args=("imgsz", "calib", "calib_size", "calib_method", "threads"),
            extra="tflite",
            # quantile: the converter's min/max clipped afterwards (converters.tflite_ranges)
            calib_methods=("minmax", "quantile"),
            minmax_only=("int16x8",),
        ),
        Format(
            name="openvino",
            suffix=".xml",
            sidecars=(".bin",),
            precisions=("fp32", "fp16", "int8"),
            calibrated=("int8",),
            converter="edgecolor.converters.openvino:convert",
            runners=("openvino",),
            args=("imgsz", "calib", "calib_size", "calib_method", "threads", "device"),
            extra="openvino",
            # NNCF's MEAN_QUANTILE, the rule of the others' "quantile"
            calib_methods=("minmax", "quantile"),
            calib_aliases=(("percentile", "quantile"),),
        ),
        Format(
            name="onnx",
            suffix=".onnx",
            # int8: symmetric Q/DQ for TensorRT explicit quantization;
            # int8-cpu: Q/DQ tuned for ONNX Runtime's x86/ARM CPU kernels.
            precisions=("fp32", "int8", "int8-cpu"),
            calibrated=("int8", "int8-cpu"),
            converter="edgecolor.converters.onnx:convert",
            runners=("onnxruntime", "tensorrt"),
            args=("imgsz", "calib", "calib_size", "calib_method", "threads", "opset"),
            extra="onnx",
            calib_methods=("minmax", "quantile", "percentile", "entropy"),
        ),
    )
}

# runner name -> "module:class"; every class follows edgecolor.runtimes.base.Runner.
RUNNERS: dict[str, str] = {
    "tflite": "edgecolor.runtimes.tflite:TFLiteRunner",
    "openvino": "edgecolor.runtimes.openvino:OpenVINORunner",
    "onnxruntime": "edgecolor.runtimes.onnxruntime:ONNXRuntimeRunner",
    "tensorrt": "edgecolor.runtimes.tensorrt:TensorRTRunner",
    "keras": "edgecolor.runtimes.keras:KerasRunner",
    "opencv": "edgecolor.runtimes.opencv_dnn:OpenCVDNNRunner",
}


# the calibration method of int8 rows unless one is asked for: mean per-photo quantile
# ranges were ahead of min/max on 20 of 24 zoo int8 rows (3.8-20.4 dB vs FP32), behind on
# the small baseline CNN's four while far above 40 dB
# (benchmarks/results/calib-methods-x86-cpu.md)
DEFAULT_CALIB_METHOD = "quantile"

# every calibration method some format offers (its row says which it takes): the one list
CALIB_METHODS: tuple[str, ...] = tuple(dict.fromkeys(
    m for f in FORMATS.values() for m in (*f.calib_methods, *dict(f.calib_aliases))))


def _load(ref: str):
    module, attr = ref.split(":")
    return getattr(importlib.import_module(module), attr)


def get_format(name: str) -> Format:
    """Row for ``name``; ValueError naming the choices if unknown."""
    if name not in FORMATS:
        raise ValueError(f"unknown format {name!r}; choose one of: {', '.join(FORMATS)}")
    return FORMATS[name]


def format_of_path(path: str) -> Format:
    """The format whose suffix the artifact path has; ValueError if none."""
    for f in FORMATS.values():
        if str(path).endswith(f.suffix):
            return f
    raise ValueError(f"{path}: not an artifact edgecolor knows (suffixes: "
                     f"{', '.join(f.suffix for f in FORMATS.values())})")


def load_runner_class(name: str):
    """Import and return the runner class registered as ``name``."""
    if name not in RUNNERS:
        raise ValueError(f"unknown runner {name!r}; choose one of: {', '.join(RUNNERS)}")
    return _load(RUNNERS[name])


def all_rows() -> list[tuple[str, str]]:
    """Every (format, precision) pair, in table order."""
    return [(f.name, p) for f in FORMATS.values() for p in f.precisions]
