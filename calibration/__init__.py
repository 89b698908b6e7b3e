"""Calibration data: image folders -> the model's normalized input tensors, deterministically.

The same samples feed every backend (TFLite representative_dataset, NNCF Dataset, ONNX
Runtime CalibrationDataReader); the set's size, digest and method go into each manifest.
"""

from edgecolor.calibration.ahash import average_hash, hamming
from edgecolor.calibration.dataset import CalibrationSet
from edgecolor.calibration.readers import (
    calibration_stride,
    nncf_dataset,
    ort_calibration_reader,
    tflite_representative_dataset,
)

__all__ = [
    "CalibrationSet",
    "average_hash",
    "calibration_stride",
    "hamming",
    "nncf_dataset",
    "ort_calibration_reader",
    "tflite_representative_dataset",
]
