"""Converters: Keras model + spec -> TFLite, OpenVINO IR, ONNX artifacts, each with a manifest.

One module per format (``tflite``, ``openvino``, ``onnx``), each exposing
``convert(model, spec, precision, out_path, options) -> dict`` as named in the format table
(``edgecolor.formats``). Needs the ``[convert]`` extra (TensorFlow and the converters).
"""
