"""Runtimes: one small runner interface over TFLite, OpenVINO, ONNX Runtime, TensorRT, Keras.

Polygraphy-style: a runner is built from an artifact (+ its manifest), ``activate()`` loads
it, ``infer(inputs)`` takes the model's normalized input batches and returns the raw output
as float32, ``deactivate()`` frees it. ``load_runner(path)`` picks the runner from the
format table (``edgecolor.formats``).
"""

from edgecolor.runtimes.base import Runner, RuntimeMissing, load_runner

__all__ = ["Runner", "RuntimeMissing", "load_runner"]
