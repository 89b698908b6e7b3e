"""Caffe ``.caffemodel`` files (a binary NetParameter): read layers and blobs, and write them.

Fields used (caffe.proto): NetParameter.name = 1, .layers = 2 (V1LayerParameter, legacy),
.layer = 100 (LayerParameter); LayerParameter name = 1, type = 2, blobs = 7;
V1LayerParameter name = 4, type = 5 (enum), blobs = 6; BlobProto num/channels/height/width =
1-4 (legacy 4-D shape), data = 5 (packed float), double_data = 8, shape = 7 (BlobShape,
dim = 1 packed int64).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecolor import protowire as wire

# V1LayerParameter.LayerType values of the layer kinds this package handles
V1_TYPES = {4: "Convolution", 39: "Deconvolution", 18: "ReLU", 20: "Softmax", 36: "Silence",
            14: "InnerProduct", 17: "Pooling", 3: "Concat", 6: "Dropout", 25: "Eltwise",
            5: "Data", 23: "TanH", 19: "Sigmoid", 22: "Split"}


MAX_BYTES = 4 << 30  # the official ECCV16 release is 129 MB
MAX_DIM = 1 << 31


class CaffeFormatError(ValueError):
    """A file that is not a readable caffemodel; the message names the file and the fix."""


@dataclass
class CaffeLayer:
    """One layer of a caffemodel: its name, type and parameter blobs (float32 arrays)."""

    name: str
    type: str
    blobs: list[np.ndarray] = field(default_factory=list)


def _read_blob(data) -> np.ndarray:
    dims: list[int] = []
    legacy = {1: 0, 2: 0, 3: 0, 4: 0}
    chunks: list[np.ndarray] = []
    for f, wt, v in wire.iter_fields(data):
        if f == 7 and wt == wire.LEN:  # BlobShape
            for f2, wt2, v2 in wire.iter_fields(v):
                if f2 == 1:
                    dims += wire.unpack_varints(wt2, v2)
        elif f == 5 and wt in (wire.LEN, wire.I32):
            chunks.append(wire.unpack_floats(v, "<f4"))
        elif f == 8 and wt in (wire.LEN, wire.I64):
            chunks.append(wire.unpack_floats(v, "<f8").astype(np.float32))
        elif f in legacy and wt == wire.VARINT:
            legacy[f] = v
    values = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if not dims and any(legacy.values()):
        dims = [legacy[1], legacy[2], legacy[3], legacy[4]]
    if any(d < 0 or d > MAX_DIM for d in dims):  # varints are unsigned: -1 is 2**64 - 1
        raise wire.WireError(f"blob shape {dims[:8]} has a dim outside 0..{MAX_DIM}")
    if dims and math.prod(dims) == values.size:  # exact (no int64 overflow)
        return values.reshape(dims)
    return values


def _read_layer(data, legacy: bool) -> CaffeLayer:
    name_f, type_f, blobs_f = (4, 5, 6) if legacy else (1, 2, 7)
    name, ltype, blobs = "", "", []
    for f, wt, v in wire.iter_fields(data):
        if f == name_f and wt == wire.LEN:
            name = bytes(v).decode("utf-8", "replace")
        elif f == type_f and wt == (wire.VARINT if legacy else wire.LEN):
            ltype = V1_TYPES.get(v, f"V1:{v}") if legacy else bytes(v).decode()
        elif f == blobs_f and wt == wire.LEN:
            blobs.append(_read_blob(v))
    return CaffeLayer(name, ltype, blobs)


def parse_caffemodel(data: bytes) -> list[CaffeLayer]:
    """caffemodel bytes -> its layers in file order (wire.WireError if not a NetParameter)."""
    layers = []
    for f, wt, v in wire.iter_fields(data):
        if f == 100 and wt == wire.LEN:
            layers.append(_read_layer(v, legacy=False))
        elif f == 2 and wt == wire.LEN:
            layers.append(_read_layer(v, legacy=True))
    return layers


def read_caffemodel(path: str | os.PathLike) -> list[CaffeLayer]:
    """Path of a ``.caffemodel`` -> its layers; CaffeFormatError naming the file if unreadable."""
    p = Path(path)
    if not p.is_file():
        raise CaffeFormatError(f"{p}: no such file (check the .caffemodel path)")
    if p.stat().st_size > MAX_BYTES:
        raise CaffeFormatError(f"{p}: {p.stat().st_size >> 30} GiB is larger than any Caffe "
                               "colorization model; pass the .caffemodel weights file")
    try:
        layers = parse_caffemodel(p.read_bytes())
    except (wire.WireError, UnicodeDecodeError) as e:
        raise CaffeFormatError(f"{p}: not a Caffe binary model ({e}); pass the .caffemodel "
                               "weights file, not the .prototxt") from e
    if not layers:
        raise CaffeFormatError(f"{p}: holds no layers; pass the .caffemodel weights file")
    return layers


def encode_blob(array: np.ndarray) -> bytes:
    """float array -> BlobProto bytes (``shape`` + packed float ``data``)."""
    a = np.asarray(array, np.float32)
    shape = wire.field_packed_varints(1, a.shape)
    return wire.field_bytes(7, shape) + wire.field_packed_floats(5, a.ravel())


def encode_caffemodel(layers: list[CaffeLayer], name: str = "") -> bytes:
    """Layers -> NetParameter bytes (``layer`` field 100), readable by Caffe and OpenCV 4."""
    out = [wire.field_bytes(1, name)] if name else []
    for layer in layers:
        body = wire.field_bytes(1, layer.name) + wire.field_bytes(2, layer.type)
        body += b"".join(wire.field_bytes(7, encode_blob(b)) for b in layer.blobs)
        out.append(wire.field_bytes(100, body))
    return b"".join(out)


def write_caffemodel(path: str | os.PathLike, layers: list[CaffeLayer], name: str = "") -> None:
    """Write layers as a ``.caffemodel`` atomically."""
    from edgecolor.imageio import atomic_write_bytes

    atomic_write_bytes(path, encode_caffemodel(layers, name))
