"""Caffe files without Caffe: the wire-format and prototxt parsers, the ECCV16 weight mapping,
the Keras export and a Caffe-to-ONNX translation (for OpenCV DNN, which dropped Caffe in 5.0).

Nothing here imports TensorFlow at module level; ``import_caffe`` builds the Keras model.
"""

from edgecolor.zoo.caffe.caffemodel import (
    CaffeFormatError,
    CaffeLayer,
    encode_caffemodel,
    parse_caffemodel,
    read_caffemodel,
    write_caffemodel,
)
from edgecolor.zoo.caffe.keras_export import import_caffe, save_keras
from edgecolor.zoo.caffe.mapping import (
    CaffeImportError,
    colorization_blobs,
    eccv16_config,
    set_eccv16_weights,
)
from edgecolor.zoo.caffe.onnx_export import caffe_to_onnx
from edgecolor.zoo.caffe.prototxt import PrototxtError, parse_prototxt, read_prototxt

__all__ = [
    "CaffeFormatError",
    "CaffeImportError",
    "CaffeLayer",
    "PrototxtError",
    "caffe_to_onnx",
    "colorization_blobs",
    "eccv16_config",
    "encode_caffemodel",
    "import_caffe",
    "parse_caffemodel",
    "parse_prototxt",
    "read_caffemodel",
    "read_prototxt",
    "save_keras",
    "set_eccv16_weights",
    "write_caffemodel",
]
