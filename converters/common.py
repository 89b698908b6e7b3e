"""What every converter shares: the options it receives and the fixed-shape Keras function.

Every converter starts from the Keras model and its spec with a fixed batch of 1 and the
spec's input sizes. A frozen graph (variables folded into constants) avoids two known
pitfalls: Keras 3 UpSampling2D exporting as tile/reshape with unknown dims when the batch is
dynamic, and SavedModels capturing resource variables, which break TFLite int8 calibration
(READ_VARIABLE) and OpenVINO's TensorFlow frontend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgecolor.spec import ModelSpec


@dataclass
class ConvertOptions:
    """Options a converter may use (the format table says which ones each format accepts).

    calib: an ``edgecolor.calibration.CalibrationSet`` (None for precisions without
    calibration); calib_method: minmax | percentile | entropy; threads: converter threads;
    opset: ONNX opset; extra: format-specific knobs.
    """

    calib: Any = None
    calib_method: str = "minmax"
    threads: int | None = None
    opset: int = 17
    extra: dict = field(default_factory=dict)


def input_signature(spec: ModelSpec) -> list:
    """tf.TensorSpec per spec input: batch 1, NHWC, float32, named as in the spec."""
    from edgecolor._tf import import_tf

    tf, _ = import_tf()
    return [
        tf.TensorSpec((1, *inp.size, inp.channels), tf.float32, name=inp.name)
        for inp in spec.inputs
    ]


def keras_function(model, spec: ModelSpec):
    """Keras model -> tf.function with a fixed batch-1 signature, output named by the spec."""
    from edgecolor._tf import import_tf

    tf, _ = import_tf()
    out_name = spec.output.name

    @tf.function(input_signature=input_signature(spec))
    def fn(*xs):
        y = model(list(xs) if len(xs) > 1 else xs[0], training=False)
        return {out_name: y}

    return fn


def frozen_function(model, spec: ModelSpec):
    """Keras model -> concrete function with variables folded into constants (batch 1)."""
    from edgecolor._tf import import_tf

    import_tf()
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    return convert_variables_to_constants_v2(keras_function(model, spec).get_concrete_function())
