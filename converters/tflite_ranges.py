"""The ``quantile`` calibration method for TFLite int8: min/max ranges clipped afterwards.

TFLite's converter calibrates min/max only. This module runs the graph the converter
calibrated (``QuantizationDebugger.calibrated_model``: float ops with each activation's
min/max recorded) in the TFLite interpreter on the calibration samples, and writes the
mean per-photo quantile ranges (``edgecolor.calibration.quantiles``) in place of min/max
where they are narrower. The graph is then quantized as usual (``mlir_quantize``), so ops
with fixed output ranges (tanh, logistic, softmax) keep theirs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgecolor.calibration.quantiles import ClippedRange, MeanQuantiles
from edgecolor.spec import ModelSpec


def clip_calibrated_ranges(calibrated: bytes, spec: ModelSpec, samples: Sequence
                           ) -> tuple[bytes, list[ClippedRange]]:
    """A calibrated TFLite graph + its calibration samples (input arrays in spec order) ->
    (the same graph with clipped activation ranges, the ranges that changed).

    Only activations are touched (tensors with a recorded min/max and no constant data);
    the graph inputs keep their ranges. Raises ValueError without samples.
    """
    from tensorflow.lite.tools import flatbuffer_utils

    if not len(samples):
        raise ValueError("tflite quantile calibration: no calibration samples")
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(calibrated))
    graph = model.subgraphs[0]
    inputs = set(int(i) for i in graph.inputs)
    targets = {i: t for i, t in enumerate(graph.tensors)
               if i not in inputs and _has_range(t) and not _is_constant(model, t)}
    quantiles = _mean_quantiles(_tapped(model, sorted(targets)), spec, samples,
                                sorted(targets))
    recorded = {str(i): (float(t.quantization.min[0]), float(t.quantization.max[0]))
                for i, t in targets.items()}
    changed = []
    for c in quantiles.clipped(recorded):
        tensor = targets[int(c.tensor)]
        tensor.quantization.min, tensor.quantization.max = [c.clipped[0]], [c.clipped[1]]
        name = tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)
        changed.append(ClippedRange(name, c.calibrated, c.clipped))
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), changed


def _has_range(tensor) -> bool:
    q = tensor.quantization
    return (q is not None and q.min is not None and q.max is not None
            and len(q.min) == 1 and len(q.max) == 1)


def _is_constant(model, tensor) -> bool:
    buffer = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
    return buffer is not None and buffer.data is not None and len(buffer.data) > 0


def _tapped(model, tensors: list[int]) -> bytes:
    """The calibrated graph (flatbuffer object) with ``tensors`` as extra graph outputs, as
    bytes; ``model`` itself is left as it was. Outputs, unlike intermediates, survive the
    XNNPACK delegate (``experimental_preserve_all_tensors`` would need the builtin kernels)."""
    from tensorflow.lite.tools import flatbuffer_utils

    graph = model.subgraphs[0]
    outputs = graph.outputs
    graph.outputs = np.asarray(list(dict.fromkeys([*map(int, outputs), *tensors])), np.int32)
    try:
        return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    finally:
        graph.outputs = outputs


def _mean_quantiles(tapped: bytes, spec: ModelSpec, samples: Sequence,
                    tensors: list[int]) -> MeanQuantiles:
    """Runs the tapped calibrated float graph (:func:`_tapped`) per sample and feeds the
    ``tensors`` (by index) to a :class:`MeanQuantiles`."""
    from edgecolor.runtimes.tflite import make_interpreter, match_inputs

    interp = make_interpreter(model_content=tapped)
    details = match_inputs(interp.get_input_details(), [i.name for i in spec.inputs])
    quantiles = MeanQuantiles()
    for sample in samples:
        for detail, x in zip(details, sample, strict=True):
            interp.set_tensor(detail["index"], np.asarray(x, np.float32))
        interp.invoke()
        for i in tensors:
            quantiles.add(str(i), interp.get_tensor(i))
    return quantiles
