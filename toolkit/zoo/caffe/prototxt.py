"""Caffe ``.prototxt`` files (Protocol Buffers text format) parsed into plain dicts.

A message becomes ``{field: [value, ...]}`` (every field a list, since any may repeat); a value
is an int, float, str (strings unquoted, enum names and true/false as written) or a nested
message dict. ``first(msg, key, default)`` reads a singular field.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_TOKEN = re.compile(
    r"""(?P<ws>\s+)|(?P<comment>\#[^\n]*)|(?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')"""
    r"""|(?P<punct>[{}:<>;,\[\]])|(?P<word>[^\s{}:<>;,\#\[\]"']+)"""
)
_CLOSE = {"{": "}", "<": ">"}
MAX_DEPTH = 64  # blocks inside blocks; a real net nests 3-4 deep
MAX_BYTES = 64 << 20
MAX_DIM = 16384  # an input side (pixels) larger than this is not a photo model's


class PrototxtError(ValueError):
    """Text that is not a valid prototxt; the message names the file, the line and the fix."""


def _tokens(text: str, source: str) -> list[tuple[str, str, int]]:
    out, pos, line = [], 0, 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise PrototxtError(f"{source}:{line}: unexpected character {text[pos]!r}")
        kind = m.lastgroup
        if kind not in ("ws", "comment"):
            out.append((kind, m.group(), line))
        line += m.group().count("\n")
        pos = m.end()
    return out


def _scalar(kind: str, tok: str):
    if kind == "str":
        body = tok[1:-1]
        try:
            return body.encode("latin-1", "backslashreplace").decode("unicode_escape")
        except UnicodeDecodeError as e:
            raise ValueError(f"bad escape in string {tok[:40]!r} ({e.reason})") from e
    try:
        return int(tok, 0)
    except ValueError:
        pass
    try:
        return float(tok)
    except ValueError:
        return tok  # enum name, true/false


def parse_prototxt(text: str, source: str = "<prototxt>") -> dict:
    """Prototxt text -> message dict; PrototxtError naming ``source`` and the line if invalid."""
    toks = _tokens(text, source)
    pos = 0

    def scalar(kind: str, tok: str, line: int):
        try:
            return _scalar(kind, tok)
        except ValueError as e:
            raise PrototxtError(f"{source}:{line}: {e}; fix the string") from e

    def message(close: str | None, depth: int = 0) -> dict:
        nonlocal pos
        if depth > MAX_DEPTH:
            raise PrototxtError(f"{source}:{toks[pos - 1][2]}: blocks nested more than "
                                f"{MAX_DEPTH} deep; not a Caffe net definition")
        msg: dict = {}
        while True:
            if pos >= len(toks):
                if close is None:
                    return msg
                raise PrototxtError(f"{source}: end of file inside a block (missing {close!r})")
            kind, tok, line = toks[pos]
            if close is not None and tok == close:
                pos += 1
                return msg
            if kind != "word":
                raise PrototxtError(f"{source}:{line}: expected a field name, got {tok!r}")
            name = tok
            pos += 1
            if pos < len(toks) and toks[pos][1] == ":":
                pos += 1
            if pos >= len(toks):
                raise PrototxtError(f"{source}:{line}: field {name!r} has no value")
            kind, tok, line = toks[pos]
            if tok in _CLOSE:
                pos += 1
                value = message(_CLOSE[tok], depth + 1)
                msg.setdefault(name, []).append(value)
            elif tok == "[":  # short list form: dim: [1, 2, 3]
                pos += 1
                while pos < len(toks) and toks[pos][1] != "]":
                    k2, t2, l2 = toks[pos]
                    if t2 != ",":
                        if k2 not in ("word", "str"):
                            raise PrototxtError(f"{source}:{l2}: field {name!r}: unexpected "
                                                f"{t2!r} inside [...]")
                        msg.setdefault(name, []).append(scalar(k2, t2, l2))
                    pos += 1
                if pos >= len(toks):
                    raise PrototxtError(f"{source}:{line}: field {name!r}: list never closed "
                                        "(missing ']')")
                pos += 1
            elif kind in ("word", "str"):
                value = scalar(kind, tok, line)
                pos += 1
                # adjacent string literals concatenate
                while kind == "str" and pos < len(toks) and toks[pos][0] == "str":
                    value += scalar("str", toks[pos][1], toks[pos][2])
                    pos += 1
                msg.setdefault(name, []).append(value)
            else:
                raise PrototxtError(f"{source}:{line}: field {name!r}: unexpected {tok!r}")
            if pos < len(toks) and toks[pos][1] in (";", ","):
                pos += 1

    return message(None)


def read_prototxt(path: str | os.PathLike) -> dict:
    """Path of a ``.prototxt`` -> message dict; PrototxtError naming the file if unreadable."""
    p = Path(path)
    if not p.is_file():
        raise PrototxtError(f"{p}: no such file (check the .prototxt path)")
    if p.stat().st_size > MAX_BYTES:
        raise PrototxtError(f"{p}: {p.stat().st_size >> 20} MiB is no net definition (is it "
                            "the .caffemodel? pass the deploy .prototxt first)")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise PrototxtError(f"{p}: not a text prototxt (is it the .caffemodel? pass the "
                            "deploy .prototxt first, then the .caffemodel)") from e
    return parse_prototxt(text, str(p))


def first(msg: dict, key: str, default=None):
    """The first value of field ``key`` of a message dict, or ``default``."""
    values = msg.get(key)
    return values[0] if values else default


def net_layers(net: dict) -> list[dict]:
    """The layer messages of a NetParameter dict (``layer``, or legacy ``layers``), in order."""
    return net.get("layer") or net.get("layers") or []


def _dims(values, source: str) -> tuple[int, ...]:
    dims = []
    for d in values:
        if isinstance(d, bool) or not isinstance(d, int):
            raise PrototxtError(f"{source}: input dim {d!r} is not an integer; fix the "
                                "input shape")
        if d < 1 or d > MAX_DIM:
            raise PrototxtError(f"{source}: input dim {d} is outside 1..{MAX_DIM}; fix the "
                                "input shape (e.g. dim: 1 dim: 1 dim: 224 dim: 224)")
        dims.append(d)
    return tuple(dims)


def _message(value, what: str, source: str) -> dict:
    if not isinstance(value, dict):
        raise PrototxtError(f"{source}: {what} is {value!r}, expected a {{ ... }} block")
    return value


def input_shape(net: dict, source: str = "<prototxt>") -> tuple[int, ...] | None:
    """The network input's shape (N, C, H, W) from an Input layer or the legacy fields.

    PrototxtError (naming ``source``) for a dim that is not an integer in 1..MAX_DIM.
    """
    for layer in net_layers(net):
        layer = _message(layer, "a layer", source)
        if first(layer, "type") == "Input":
            param = _message(first(layer, "input_param", {}), "input_param", source)
            shape = _message(first(param, "shape", {}), "input_param.shape", source)
            dims = shape.get("dim", [])
            if dims:
                return _dims(dims, source)
    if net.get("input_shape"):
        shape = _message(net["input_shape"][0], "input_shape", source)
        return _dims(shape.get("dim", []), source)
    if net.get("input_dim"):
        return _dims(net["input_dim"][:4], source)
    return None
