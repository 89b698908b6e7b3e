"""The plain ways a user would run a model without edgecolor, timed beside the artifacts so the
benchmark can state speed-ups as ratios measured in the same run.

Keras ``model.predict`` (FP32, TensorFlow's defaults); OpenCV DNN and a default ONNX Runtime
session on the FP32 ONNX are the existing runners (``opencv``, ``onnxruntime`` with default
threads), so only ``model.predict`` needs a runner here.
"""

from __future__ import annotations

import numpy as np

from edgecolor.runtimes.keras import KerasRunner


class KerasPredictRunner(KerasRunner):
    """The Keras model run the way most scripts do: ``model.predict(x)`` per photo."""

    name = "keras-predict"

    def _activate(self) -> None:
        pass

    def _infer(self, inputs: list[np.ndarray]) -> np.ndarray:
        x = inputs if len(inputs) > 1 else inputs[0]
        return self.model.predict(x, verbose=0, batch_size=1)
