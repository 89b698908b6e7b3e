"""Would this ONNX model build on TensorRT X? A static check, no TensorRT or GPU needed.

Checks, against ``data/trt_onnx_ops.toml`` (TensorRT's ONNX parser support per version):
every op is in the version's supported list (custom-domain ops need a plugin), the ai.onnx
opset is in range, graph inputs/outputs have static shapes, INT64 constants fit INT32 where
TensorRT 8.x casts them, and Q/DQ is what TensorRT's explicit quantization accepts (int8,
zero point 0, per-channel only on weights along the output-channel axis, no DequantizeLinear
of pre-quantized constants on 8.x). Device profiles call :func:`check_onnx` after conversion.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data" / "trt_onnx_ops.toml"
_STANDARD_DOMAINS = ("", "ai.onnx")
_INT32 = np.iinfo(np.int32)


def _load_toml(path: Path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    with open(path, "rb") as f:
        return tomllib.load(f)


@lru_cache(maxsize=1)
def _table() -> dict:
    return _load_toml(DATA)


def supported_versions() -> list[str]:
    """TensorRT versions the table knows ("8.2", "8.5", "8.6", "10")."""
    return list(_table()["trt"])


def trt_rules(version: str) -> dict:
    """Rules of a TensorRT version: exact key, else major.minor, else major ("10.3" -> "10").

    Raises ValueError naming the known versions.
    """
    table = _table()["trt"]
    parts = str(version).strip().split(".")
    for key in (".".join(parts), ".".join(parts[:2]), parts[0]):
        if key in table:
            return dict(table[key], version=key)
    raise ValueError(f"no TensorRT {version} support table; known versions: "
                     f"{', '.join(table)} (edit {DATA.name} to add one)")


def check_onnx(path: str | os.PathLike, trt_version: str) -> list[str]:
    """ONNX file + TensorRT version -> one line per kind of thing that would fail (empty:
    ready); the same failure on many nodes is one line with the count
    (:func:`group_problems`).

    Raises ValueError for a file that is not a readable ONNX model or an unknown version.
    """
    import onnx

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file (pass an .onnx model)")
    try:
        model = onnx.load(path)
    except Exception as e:  # protobuf raises several types for non-ONNX bytes
        raise ValueError(f"{path}: not a readable ONNX model ({type(e).__name__}); "
                         "pass an .onnx file made by `edgecolor convert --format onnx`") from e
    if not model.graph.node:
        raise ValueError(f"{path}: not a readable ONNX model (empty graph)")
    return group_problems(check_model(model, trt_version))


_NODE_LINE = re.compile(r"^(?P<op>[A-Za-z]+) (?P<name>'[^']*'|\"[^\"]*\"): (?P<why>.+)$")


def group_problems(problems: list[str]) -> list[str]:
    """Per-node lines ``"QuantizeLinear 'x': uint8 zero point (...)"`` -> one line per
    reason that repeats: ``"uint8 zero point (...): 61 QuantizeLinear nodes, e.g. 'x'"`` (ops
    counted apart when several share it), in order of first appearance; a reason of one node
    and lines about the graph stay as they are.
    """
    groups: dict[str, list[tuple[str, str]]] = {}
    order: list[tuple[str, str]] = []  # ("line", text) | ("group", reason)
    for line in problems:
        m = _NODE_LINE.match(line)
        if not m:
            order.append(("line", line))
            continue
        if m["why"] not in groups:
            groups[m["why"]] = []
            order.append(("group", m["why"]))
        groups[m["why"]].append((m["op"], m["name"]))
    out = []
    for kind, text in order:
        if kind == "line":
            out.append(text)
            continue
        nodes = groups[text]
        if len(nodes) == 1:
            out.append(f"{nodes[0][0]} {nodes[0][1]}: {text}")
            continue
        ops: dict[str, int] = {}
        for op, _ in nodes:
            ops[op] = ops.get(op, 0) + 1
        counted = " + ".join(f"{n} {op}" for op, n in ops.items())
        out.append(f"{text}: {counted} nodes, e.g. {nodes[0][1]}")
    return out


def cpu_flavour_hint(path: str | os.PathLike) -> str | None:
    """-> a line naming the TensorRT artifact when ``path`` is edgecolor's ``int8-cpu`` ONNX
    (ONNX Runtime's CPU flavour: uint8 activations, which TensorRT refuses), else None.
    Known by the manifest's precision, else by the file name."""
    path = Path(path)
    precision = None
    try:
        from edgecolor.manifest import load_manifest

        precision = load_manifest(path, verify=False).get("precision")
    except Exception:  # no manifest / not edgecolor's: fall back to the name
        pass
    if precision != "int8-cpu" and not path.name.endswith("-onnx-int8-cpu.onnx"):
        return None
    twin = path.name.replace("-int8-cpu.onnx", "-int8.onnx")
    return (f"{path.name} is edgecolor's int8-cpu artifact (ONNX Runtime on CPUs, uint8 "
            f"activations): it is not meant for TensorRT; the TensorRT one is {twin} "
            "(`edgecolor convert --format onnx --precision int8`)")


def check_model(model, trt_version: str) -> list[str]:
    """``onnx.ModelProto`` + TensorRT version -> problems (see :func:`check_onnx`)."""
    from edgecolor.converters.qdq import constants, qdq_problems

    rules = trt_rules(trt_version)
    ver = rules["version"]
    problems = _opset_problems(model, rules, ver)
    problems += _op_problems(model, rules, ver)
    problems += _shape_problems(model)
    consts = constants(model.graph)
    if rules["int64"] == "cast":
        problems += _int64_problems(model, consts, ver)
    problems += qdq_problems(model, types=tuple(rules["qdq_types"]))
    if not rules["qdq_constant_input"]:
        problems += [
            f"DequantizeLinear {n.name or n.output[0]!r}: pre-quantized constant input "
            f"(TensorRT {ver} needs float weights behind Q/DQ)"
            for n in model.graph.node
            if n.op_type == "DequantizeLinear" and n.input[0] in consts
        ]
    return problems


def _opset_problems(model, rules: dict, ver: str) -> list[str]:
    lo, hi = rules["opset_min"], rules["opset_max"]
    return [
        f"opset {imp.version} outside TensorRT {ver}'s range {lo}..{hi} "
        "(re-export with --opset in range)"
        for imp in model.opset_import
        if imp.domain in _STANDARD_DOMAINS and not lo <= imp.version <= hi
    ]


def _op_problems(model, rules: dict, ver: str) -> list[str]:
    supported = set(rules["ops"])
    missing: dict[str, list[str]] = {}
    for node in model.graph.node:
        if node.domain not in _STANDARD_DOMAINS:
            key = f"custom op {node.domain}::{node.op_type} (needs a TensorRT plugin)"
        elif node.op_type not in supported:
            key = f"op {node.op_type} not supported by TensorRT {ver}'s ONNX parser"
        else:
            continue
        missing.setdefault(key, []).append(node.name or node.output[0])
    return [f"{key}: {len(names)} node(s), e.g. {names[0]!r}" for key, names in missing.items()]


def _shape_problems(model) -> list[str]:
    problems = []
    for kind, values in (("input", model.graph.input), ("output", model.graph.output)):
        for v in values:
            dims = v.type.tensor_type.shape.dim
            if not dims or any(not d.HasField("dim_value") or d.dim_value <= 0 for d in dims):
                shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                         for d in dims]
                problems.append(f"graph {kind} {v.name!r} has a dynamic shape {shape} "
                                "(export with a fixed --imgsz and batch 1)")
    return problems


def _int64_problems(model, consts: dict, ver: str) -> list[str]:
    table = _table().get("int64_clamp_ok", {})
    uses: dict[str, list[tuple[str, int]]] = {}
    for node in model.graph.node:
        for k, name in enumerate(node.input):
            uses.setdefault(name, []).append((node.op_type, k))
    problems = []
    for name, value in consts.items():
        if value.dtype != np.int64 or value.size == 0:
            continue
        if value.min() >= _INT32.min and value.max() <= _INT32.max:
            continue
        if all(k in table.get(op, []) for op, k in uses.get(name, [])):
            continue
        problems.append(f"INT64 constant {name!r} holds values beyond INT32; TensorRT {ver} "
                        "casts INT64 to INT32 and would clamp them")
    return problems
