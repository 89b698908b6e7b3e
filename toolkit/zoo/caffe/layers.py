"""Caffe layer semantics shared by the Keras mapping and the ONNX translation.

Caffe conventions: tensors NCHW; Convolution weights (out, in/group, kh, kw); Deconvolution
weights (in, out/group, kh, kw) (the same transposed-correlation as ONNX ConvTranspose, so no
spatial flip); BatchNorm blobs (mean * s, var * s, [s]) with the moving-average factor s, no
affine part (a Scale layer follows when there is one); eps 1e-5 by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgecolor.zoo.caffe.prototxt import first

CONV_TYPES = ("Convolution", "Deconvolution")


@dataclass(frozen=True)
class ConvGeometry:
    """A Convolution/Deconvolution layer's parameters (pairs are (h, w))."""

    num_output: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    pad: tuple[int, int]
    dilation: tuple[int, int]
    group: int
    bias: bool


def _pair(p: dict, key: str, default: int) -> tuple[int, int]:
    h, w = first(p, f"{key}_h"), first(p, f"{key}_w")
    if h is not None and w is not None:
        return int(h), int(w)
    values = [int(v) for v in p.get(key, [])] or [default]
    return (values[0], values[-1])


def conv_geometry(layer: dict) -> ConvGeometry:
    """A Convolution/Deconvolution layer dict -> its geometry, with Caffe's defaults."""
    p = first(layer, "convolution_param", {})
    kernel = _pair({**p, "kernel": p.get("kernel_size", [])}, "kernel", 1)
    return ConvGeometry(
        num_output=int(first(p, "num_output", 0)),
        kernel=kernel,
        stride=_pair(p, "stride", 1),
        pad=_pair(p, "pad", 0),
        dilation=_pair(p, "dilation", 1),
        group=int(first(p, "group", 1)),
        bias=str(first(p, "bias_term", "true")).lower() != "false",
    )


def batchnorm_eps(layer: dict) -> float:
    """eps of a BatchNorm layer (Caffe default 1e-5)."""
    return float(first(first(layer, "batch_norm_param", {}), "eps", 1e-5))


def batchnorm_stats(blobs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """BatchNorm blobs (mean * s, var * s, [s]) -> (mean, var) float32, divided by s.

    Caffe treats s == 0 as "no statistics yet": its scale factor is then 0, not 1/0.
    """
    s = float(np.ravel(blobs[2])[0]) if len(blobs) > 2 else 1.0
    factor = 0.0 if s == 0 else 1.0 / s
    mean = np.ravel(blobs[0]).astype(np.float32) * factor
    var = np.ravel(blobs[1]).astype(np.float32) * factor
    return mean, var


def scale_filler(layer: dict) -> float | None:
    """The constant filler value of a Scale layer (used when the caffemodel lacks its blob)."""
    filler = first(first(layer, "scale_param", {}), "filler", {})
    if first(filler, "type", "constant") == "constant":
        return float(first(filler, "value", 1.0))
    return None


def conv_weight(blob: np.ndarray, geom: ConvGeometry, in_channels: int, deconv: bool) -> np.ndarray:
    """A weight blob (any legacy shape) -> float32 (out, in, kh, kw) for Convolution or
    (in, out, kh, kw) for Deconvolution; ValueError if its size does not fit."""
    kh, kw = geom.kernel
    if deconv:
        shape = (in_channels, geom.num_output // geom.group, kh, kw)
    else:
        shape = (geom.num_output, in_channels // geom.group, kh, kw)
    if blob.size != int(np.prod(shape)):
        raise ValueError(f"weight blob of {blob.size} values does not fit {shape}")
    return blob.reshape(shape).astype(np.float32)
