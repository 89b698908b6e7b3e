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
        # __len__ and set_range let onnxruntime's quantize_static feed the calibrator one
        # slice at a time (its "CalibStridedMinMax" option): the histogram calibrators
        # (percentile, entropy) otherwise hold every intermediate tensor of every sample
        # in memory at once (ECCV16 at 256x256 with 80 photos: killed for memory on 23 GB).
        def __init__(self) -> None:
            self._samples = cs.samples
            self._it = iter(self._samples)

        def __len__(self) -> int:
            return len(cs.samples)

        def set_range(self, start_index: int, end_index: int) -> None:
            self._samples = cs.samples[start_index:end_index]
            self._it = iter(self._samples)

        def get_next(self):
            sample = next(self._it, None)
            if sample is None:
                return None
            return {n: np.asarray(x, np.float32) for n, x in zip(input_names, sample, strict=True)}

        def rewind(self) -> None:
            self._it = iter(self._samples)

    return _Reader()


def calibration_stride(n_samples: int, most: int = 8) -> int:
    """Samples per slice for a streamed histogram calibration: the largest divisor of
    ``n_samples`` not above ``most`` (onnxruntime requires equal slices)."""
    return max(d for d in range(1, max(1, min(most, n_samples)) + 1) if n_samples % d == 0)
