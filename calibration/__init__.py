"""Calibration data: image folders -> the model's normalized input tensors, deterministically.

The same samples feed every backend (TFLite representative_dataset, NNCF Dataset, ONNX
Runtime CalibrationDataReader); the set's size, digest and method go into each manifest.
"""
