"""TFLite runner: ai-edge-litert, else tflite_runtime, else TensorFlow's tf.lite.

XNNPACK (the interpreter's default CPU delegate) runs float and int8 models; int8/int16 input
and output tensors are quantized/dequantized here from the tensor details (scale, zero
point), so callers always pass and receive float32.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np

from edgecolor.runtimes.base import Runner, RuntimeMissing

_BACKENDS = ("ai_edge_litert", "tflite_runtime", "tensorflow")


def _interpreter_class():
    """The first installed Interpreter class (ai-edge-litert preferred)."""
    if importlib.util.find_spec("ai_edge_litert") is not None:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    if importlib.util.find_spec("tflite_runtime") is not None:
        from tflite_runtime.interpreter import Interpreter

        return Interpreter
    if importlib.util.find_spec("tensorflow") is not None:
        from edgecolor._tf import import_tf

        tf, _ = import_tf()
        return tf.lite.Interpreter
    raise RuntimeMissing("no TFLite runtime installed; pip install 'edgecolor[tflite]'")


def make_interpreter(model_path: str | None = None, model_content: bytes | None = None,
                     num_threads: int | None = None):
    """A TFLite Interpreter (tensors allocated) for a file or flatbuffer bytes."""
    from edgecolor._tf import stderr_silenced  # (no TensorFlow import)

    cls = _interpreter_class()
    kw = {"model_path": model_path} if model_path else {"model_content": model_content}
    with stderr_silenced():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
        interp = cls(**kw, num_threads=num_threads)
        interp.allocate_tensors()
    return interp


def _plain(name: str) -> str:
    """Tensor name without the converter's decorations ("serving_default_l:0" -> "l")."""
    name = name.split(":")[0]
    return name.removeprefix("serving_default_")


def match_inputs(details: list[dict], names: list[str]) -> list[dict]:
    """Interpreter input details reordered to ``names`` (spec order), matched by name.

    Falls back to the interpreter's order when the names cannot all be matched.
    """
    if len(details) != len(names):
        raise ValueError(f"the model has {len(details)} inputs, the spec {len(names)}")
    by_name = {}
    for d in details:
        by_name[d["name"]] = d
        by_name.setdefault(_plain(d["name"]), d)
    if all(n in by_name for n in names):
        return [by_name[n] for n in names]
    return list(details)


def quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    """Float32 array -> the tensor's dtype, using its (scale, zero_point) when quantized."""
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = detail["quantization"]
    if dtype.kind == "f" or not scale:
        return np.asarray(x, dtype)
    info = np.iinfo(dtype)
    q = np.round(np.asarray(x, np.float32) / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(y: np.ndarray, detail: dict) -> np.ndarray:
    """Tensor value -> float32 (scale * (q - zero_point) when quantized)."""
    scale, zero_point = detail["quantization"]
    if np.dtype(detail["dtype"]).kind == "f" or not scale:
        return np.asarray(y, np.float32)
    return (y.astype(np.float32) - zero_point) * np.float32(scale)


class TFLiteRunner(Runner):
    """Runs a ``.tflite`` artifact; ``threads`` defaults to all CPU cores."""

    name = "tflite"

    @staticmethod
    def available() -> bool:
        """True when ai-edge-litert, tflite_runtime or TensorFlow is installed."""
        return any(importlib.util.find_spec(m) is not None for m in _BACKENDS)

    def _activate(self) -> None:
        threads = self.threads or os.cpu_count() or 1
        self._interp = make_interpreter(model_path=str(self.path), num_threads=threads)
        names = [rec["name"] for rec in self.manifest.get("inputs", [])] or [
            i.name for i in self.spec.inputs]
        self._inputs = match_inputs(self._interp.get_input_details(), names)
        self._output = self._interp.get_output_details()[0]

    def _infer(self, inputs: list[np.ndarray]) -> np.ndarray:
        if len(inputs) != len(self._inputs):
            raise ValueError(f"{self.path}: expected {len(self._inputs)} inputs, "
                             f"got {len(inputs)}")
        # an NCHW contract converted to NHWC tensors (onnx2tf): transpose in and out
        nchw = self.spec.layout == "NCHW" and self.manifest.get("tensor_layout") == "NHWC"
        for x, d in zip(inputs, self._inputs, strict=True):
            if nchw:
                x = np.ascontiguousarray(np.asarray(x).transpose(0, 2, 3, 1))
            self._interp.set_tensor(d["index"], quantize(x, d))
        self._interp.invoke()
        y = dequantize(self._interp.get_tensor(self._output["index"]), self._output)
        return np.ascontiguousarray(y.transpose(0, 3, 1, 2)) if nchw and y.ndim == 4 else y

    def _deactivate(self) -> None:
        self._interp = None
