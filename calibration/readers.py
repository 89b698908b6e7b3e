"""The same calibration samples in the form each backend's quantizer wants.

TFLite: a ``representative_dataset`` generator; NNCF: an ``nncf.Dataset``; ONNX Runtime: a
``CalibrationDataReader``. All three iterate over ``CalibrationSet.samples`` in order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np


def tflite_representative_dataset(cs) -> Callable[[], Iterator[list[np.ndarray]]]:
    """CalibrationSet -> a callable yielding, per image, the list of input arrays (spec order)."""

    def gen() -> Iterator[list[np.ndarray]]:
        for sample in cs.samples:
            yield [np.asarray(x, np.float32) for x in sample]

    return gen


def nncf_dataset(cs):
    """CalibrationSet -> ``nncf.Dataset`` whose items are the tuple of inputs in spec order.

    OpenVINO's compiled model takes a tuple of arrays matched to its inputs by position, which
    is the order the converters create them in (the spec's).
    """
    import nncf

    return nncf.Dataset(cs.samples, lambda sample: tuple(sample))


def ort_calibration_reader(cs, input_names: list[str]):
    """CalibrationSet + ONNX input names (spec order) -> onnxruntime CalibrationDataReader."""
    from onnxruntime.quantization import CalibrationDataReader

    if len(input_names) != len(cs.spec.inputs):
        raise ValueError(f"model has {len(input_names)} inputs but the spec lists "
                         f"{len(cs.spec.inputs)}")

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(cs.samples)

        def get_next(self):
            sample = next(self._it, None)
            if sample is None:
                return None
            return {n: np.asarray(x, np.float32) for n, x in zip(input_names, sample, strict=True)}

        def rewind(self) -> None:
            self._it = iter(cs.samples)

    return _Reader()
