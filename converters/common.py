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
    calibration); calib_method: minmax | quantile | percentile | entropy (the format's row
    says which it runs; a converter does as told, so minmax here: ``convert`` picks each
    row's ``Format.default_method``); threads: converter threads; opset: ONNX opset; extra:
    format-specific knobs.
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


def upsampling_as_resize(model):
    """Keras model -> the same function with nearest ``UpSampling2D`` as one resize op.

    Keras 3 exports nearest UpSampling2D as Unsqueeze/Tile/Transpose/Reshape chains. Int8
    backends cannot carry quantized tensors through that chain (OpenVINO leaves the following
    convolution in float), and the chain itself costs memory copies. ResizeNearestNeighbor
    (half-pixel centers, integer factors) gives bit-identical results and maps to TFLite
    RESIZE_NEAREST_NEIGHBOR and OpenVINO Interpolate. Weights are shared, not copied; a model
    without such layers (or that cannot be cloned) is returned unchanged.
    """
    from edgecolor._tf import import_tf

    tf, keras = import_tf()

    def is_nearest_up(layer) -> bool:
        return (isinstance(layer, keras.layers.UpSampling2D)
                and layer.interpolation == "nearest"
                and layer.data_format == "channels_last")

    if not any(is_nearest_up(layer) for layer in model.layers):
        return model

    class NearestResize(keras.layers.Layer):
        def __init__(self, factor, **kw):
            super().__init__(**kw)
            self.factor = tuple(factor)

        def call(self, x):
            size = (x.shape[1] * self.factor[0], x.shape[2] * self.factor[1])
            return tf.compat.v1.image.resize_nearest_neighbor(
                x, size, align_corners=False, half_pixel_centers=True)

        def compute_output_shape(self, s):
            return (s[0], s[1] * self.factor[0], s[2] * self.factor[1], s[3])

    def swap(layer):
        return NearestResize(layer.size, name=layer.name) if is_nearest_up(layer) else layer

    try:
        return keras.models.clone_model(model, clone_function=swap)
    except (ValueError, TypeError):  # subclassed models cannot be cloned layer by layer
        return model
