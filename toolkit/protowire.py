"""Protocol Buffers wire format, decoded and encoded by hand (no protobuf runtime, no codegen).

A message is a sequence of (field number, wire type, value): varint (0), 64-bit (1),
length-delimited (2: bytes, strings, sub-messages, packed repeated numbers) and 32-bit (5).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import numpy as np

VARINT, I64, LEN, I32 = 0, 1, 2, 5


class WireError(ValueError):
    """Bytes that are not a valid protobuf message."""


def read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    """-> (value, next position) of the base-128 varint at ``pos``."""
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise WireError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint longer than 10 bytes")


def iter_fields(data: bytes | memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """Message bytes -> (field number, wire type, value) in order.

    value: int for varints, a memoryview of the payload for length-delimited fields, the raw
    4/8 bytes (memoryview) for fixed-width fields.
    """
    buf = memoryview(data)
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = read_varint(buf, pos)
        field, wtype = key >> 3, key & 7
        if wtype == VARINT:
            value, pos = read_varint(buf, pos)
        elif wtype == LEN:
            n, pos = read_varint(buf, pos)
            if pos + n > end:
                raise WireError(f"field {field}: length {n} runs past the end")
            value, pos = buf[pos:pos + n], pos + n
        elif wtype == I32:
            value, pos = buf[pos:pos + 4], pos + 4
        elif wtype == I64:
            value, pos = buf[pos:pos + 8], pos + 8
        else:
            raise WireError(f"field {field}: unsupported wire type {wtype}")
        if pos > end:
            raise WireError(f"field {field}: truncated")
        yield field, wtype, value


def unpack_floats(value, dtype: str = "<f4") -> np.ndarray:
    """The payload of a packed (LEN) or single fixed-width float field -> float array;
    WireError when its length is not a whole number of values."""
    size = np.dtype(dtype).itemsize
    if len(value) % size:
        raise WireError(f"packed {np.dtype(dtype).name} field of {len(value)} bytes (not a "
                        f"multiple of {size})")
    return np.frombuffer(value, dtype=dtype).copy()


def unpack_varints(wtype: int, value) -> list[int]:
    """A packed (LEN) or single varint field -> list of ints."""
    if wtype == VARINT:
        return [value]
    out, pos, buf = [], 0, memoryview(value)
    while pos < len(buf):
        v, pos = read_varint(buf, pos)
        out.append(v)
    return out


# --- encoding -----------------------------------------------------------------------------

def varint(value: int) -> bytes:
    """Non-negative int (or negative int64, two's complement) -> varint bytes."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(field: int, wtype: int) -> bytes:
    """Field number + wire type -> the key varint."""
    return varint((field << 3) | wtype)


def field_varint(field: int, value: int) -> bytes:
    """An int/bool/enum field."""
    return key(field, VARINT) + varint(int(value))


def field_bytes(field: int, payload: bytes | str) -> bytes:
    """A string, bytes or sub-message field."""
    if isinstance(payload, str):
        payload = payload.encode()
    return key(field, LEN) + varint(len(payload)) + payload


def field_float(field: int, value: float) -> bytes:
    """A single float (fixed32) field."""
    return key(field, I32) + struct.pack("<f", value)


def field_packed_varints(field: int, values) -> bytes:
    """A packed repeated int field."""
    return field_bytes(field, b"".join(varint(int(v)) for v in values))


def field_packed_floats(field: int, values: np.ndarray, dtype: str = "<f4") -> bytes:
    """A packed repeated float (``<f4``) or double (``<f8``) field."""
    return field_bytes(field, np.ascontiguousarray(values, dtype=dtype).tobytes())
