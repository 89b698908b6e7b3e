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
        return body.encode("latin-1", "backslashreplace").decode("unicode_escape")
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

    def message(close: str | None) -> dict:
        nonlocal pos
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
                value = message(_CLOSE[tok])
                msg.setdefault(name, []).append(value)
            elif tok == "[":  # short list form: dim: [1, 2, 3]
                pos += 1
                while toks[pos][1] != "]":
                    if toks[pos][1] != ",":
                        msg.setdefault(name, []).append(_scalar(toks[pos][0], toks[pos][1]))
                    pos += 1
                pos += 1
            elif kind in ("word", "str"):
                value = _scalar(kind, tok)
                pos += 1
                # adjacent string literals concatenate
                while kind == "str" and pos < len(toks) and toks[pos][0] == "str":
                    value += _scalar("str", toks[pos][1])
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


def input_shape(net: dict) -> tuple[int, ...] | None:
    """The network input's shape (N, C, H, W) from an Input layer or the legacy fields."""
    for layer in net_layers(net):
        if first(layer, "type") == "Input":
            shape = first(first(layer, "input_param", {}), "shape", {})
            dims = shape.get("dim", [])
            if dims:
                return tuple(int(d) for d in dims)
    if net.get("input_shape"):
        return tuple(int(d) for d in net["input_shape"][0].get("dim", []))
    if net.get("input_dim"):
        return tuple(int(d) for d in net["input_dim"][:4])
    return None
