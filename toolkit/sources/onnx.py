"""ONNX model sources: read, validate, fix dynamic dims, settle the contract.

Opset 11 and newer, NCHW or NHWC, static or dynamic dims. Every node must be a standard
ONNX op (an unknown or custom-domain op is refused, naming op and node). The batch is fixed
to 1 and dynamic H/W to the working size; the fixed graph is run once by ONNX Runtime
(which proves the size works) and is the FP32 reference of every artifact.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgecolor.contract import Contract, ContractError
from edgecolor.sources import DEFAULT_SIZE, Source, SourceError, sha256_path
from edgecolor.sources.infer import GraphFacts, check_stated, infer

MIN_OPSET = 11
_AFFINE = ("Sub", "Add", "Mul", "Div")
_TRAILING = ("Mul", "Div", "Tanh", "Sigmoid", "Softmax", "Relu", "Clip")


def read_onnx(path: Path):
    """File -> checked ``onnx.ModelProto``; SourceError (one line) for a truncated or
    corrupt file, an opset below 11 or an op that is not standard ONNX."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        proto = onnx.load(str(path))
    except (DecodeError, ValueError, RuntimeError, OSError) as e:
        raise SourceError(f"{path}: not a readable ONNX file (truncated or corrupt: "
                          f"{str(e).splitlines()[0] if str(e) else type(e).__name__}); "
                          "re-export it") from e
    if not proto.graph.node:
        raise SourceError(f"{path}: an empty or truncated ONNX file (no graph nodes); "
                          "re-export it")
    opset = onnx_opset(proto)
    if opset is None or opset < MIN_OPSET:
        raise SourceError(f"{path}: ONNX opset {opset} is below {MIN_OPSET}; re-export with "
                          f"opset_version >= {MIN_OPSET}")
    for node in proto.graph.node:
        if not onnx.defs.has(node.op_type, node.domain or ""):
            where = f"{node.domain}." if node.domain else ""
            raise SourceError(f"{path}: unknown op {where}{node.op_type!r} (node "
                              f"{node.name or node.output[0]!r}); edgecolor converts standard "
                              f"ONNX ops (opset >= {MIN_OPSET}): re-export without it")
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as e:
        raise SourceError(f"{path}: invalid ONNX graph ({str(e).splitlines()[0]}); "
                          "re-export it") from e
    return proto


def onnx_opset(proto) -> int | None:
    """The default-domain opset of a model."""
    for imp in proto.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return int(imp.version)
    return None


def graph_inputs(proto) -> list:
    """Graph inputs that are not initializers."""
    inits = {i.name for i in proto.graph.initializer}
    return [v for v in proto.graph.input if v.name not in inits]


def _dims(value) -> list:
    dims = []
    for d in value.type.tensor_type.shape.dim:
        dims.append(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?"))
    return dims


def input_layout(path: Path, name: str, dims: list) -> str:
    """NCHW | NHWC of an image input from where its 1 or 3 channels sit."""
    if len(dims) != 4:
        raise SourceError(f"{path}: input {name!r} has dims {dims}; a colorizer input is "
                          "4-D (N, C, H, W) or (N, H, W, C)")
    c_first, c_last = dims[1] in (1, 3), dims[3] in (1, 3)
    if c_first and not (c_last and isinstance(dims[1], int) and isinstance(dims[3], int)):
        return "NCHW"
    if c_last and not c_first:
        return "NHWC"
    raise SourceError(f"{path}: input {name!r} dims {dims}: the channel axis (1 or 3 "
                      "channels) cannot be told; state layout with --io")


def fixed_shape(path: Path, proto, layout: str, size: tuple[int, int] | None,
                default_size: int | None):
    """Copy of ``proto`` with batch 1 and H/W fixed -> (proto, (H, W), notes)."""
    import onnx

    fixed = onnx.ModelProto()
    fixed.CopyFrom(proto)
    notes = []
    h_ax, w_ax, c_ax = (2, 3, 1) if layout == "NCHW" else (1, 2, 3)
    first = _dims(graph_inputs(fixed)[0])
    static = [first[a] for a in (h_ax, w_ax)]
    if all(isinstance(s, int) and s > 0 for s in static):
        if size is not None and tuple(size) != tuple(static):
            raise SourceError(
                f"{path}: input {graph_inputs(fixed)[0].name!r} has static dims {first}; "
                f"--imgsz {size[0]} cannot change H/W {static[0]}x{static[1]}: drop --imgsz "
                "(or re-export with dynamic H/W)")
        hw = tuple(static)
    else:
        hw = tuple(size) if size is not None else (default_size or DEFAULT_SIZE,) * 2
        notes.append(f"dynamic H/W fixed to {hw[0]}x{hw[1]}")
    for value in graph_inputs(fixed):
        dims = _dims(value)
        if len(dims) != 4:
            raise SourceError(f"{path}: input {value.name!r} has dims {dims}; every input "
                              "must be 4-D in the image's layout")
        if not isinstance(dims[c_ax], int) or dims[c_ax] <= 0:
            raise SourceError(f"{path}: input {value.name!r} dims {dims}: a dynamic channel "
                              "count cannot be fixed; re-export with a static one")
        want = [1, 0, 0, 0]
        want[c_ax], want[h_ax], want[w_ax] = dims[c_ax], hw[0], hw[1]
        for d, (old, new) in zip(value.type.tensor_type.shape.dim, zip(dims, want,
                                                                         strict=True),
                                 strict=True):
            if isinstance(old, int) and old > 0 and old != new:
                raise SourceError(f"{path}: input {value.name!r} dims {dims} cannot be "
                                  f"fixed to {want}; re-export with batch 1 or dynamic dims")
            d.Clear()
            d.dim_value = new
    if any(not isinstance(d, int) for d in first[:1]):
        notes.append("dynamic batch fixed to 1")
    for out in fixed.graph.output:  # let shape inference recompute them
        out.type.tensor_type.ClearField("shape")
    del fixed.graph.value_info[:]
    return fixed, hw, notes


def simplify(proto, path: Path | str = "model"):
    """Fixed-shape ONNX -> onnxsim-simplified, checked ModelProto (BatchNorm folded into
    convs, shape arithmetic folded); RuntimeError naming the file when onnxsim fails."""
    import onnx
    from onnxsim import simplify as onnxsim

    try:
        simplified, ok = onnxsim(proto)
    except Exception as e:  # onnxsim raises plain RuntimeErrors of several kinds
        raise RuntimeError(f"{path}: onnxsim failed ({str(e).splitlines()[0][:160]})") from e
    if not ok:
        raise RuntimeError(f"{path}: onnxsim could not validate the simplified graph")
    onnx.checker.check_model(simplified)
    return simplified


def _consts(proto) -> dict:
    from onnx import numpy_helper

    found = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    for node in proto.graph.node:
        if node.op_type == "Constant" and node.attribute:
            at = node.attribute[0]
            if at.name == "value":
                found[node.output[0]] = numpy_helper.to_array(at.t)
            elif at.name == "value_float":
                found[node.output[0]] = np.float32(at.f)
    return found


def _scalar(consts: dict, name: str) -> float | None:
    arr = consts.get(name)
    if arr is None or arr.size != 1:
        return None
    return float(arr.reshape(()))


def leading_affine(proto, input_name: str) -> tuple[float, float] | None:
    """(a, b) of the scalar Sub/Add/Mul/Div chain applied first to ``input_name``."""
    consts = _consts(proto)
    consumers: dict[str, list] = {}
    for node in proto.graph.node:
        for i in node.input:
            consumers.setdefault(i, []).append(node)
    a, b, x, seen = 1.0, 0.0, input_name, 0
    while True:
        users = consumers.get(x, [])
        if len(users) != 1 or users[0].op_type not in _AFFINE or users[0].input[0] != x:
            break
        node = users[0]
        c = _scalar(consts, node.input[1])
        if c is None or (node.op_type == "Div" and c == 0):
            break
        if node.op_type == "Sub":
            b -= c
        elif node.op_type == "Add":
            b += c
        elif node.op_type == "Mul":
            a, b = a * c, b * c
        else:
            a, b = a / c, b / c
        x, seen = node.output[0], seen + 1
    return (a, b) if seen else None


def trailing_ops(proto, output_name: str, depth: int = 3) -> list[tuple[str, float | None]]:
    """Ops ending the graph at ``output_name``, last first: [("Mul", 110.0), ("Tanh", None)]."""
    consts = _consts(proto)
    producers = {o: n for n in proto.graph.node for o in n.output}
    found, x = [], output_name
    while len(found) < depth and x in producers:
        node = producers[x]
        if node.op_type not in _TRAILING:
            break
        value = None
        if node.op_type in ("Mul", "Div"):
            a, b = (_scalar(consts, i) for i in node.input[:2])
            value = b if b is not None else (a if node.op_type == "Mul" else None)
            x = node.input[0] if b is not None else node.input[1]
        else:
            x = node.input[0]
        found.append((node.op_type, value))
    return found


def _session(proto, path: Path, hw: tuple[int, int]):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(proto.SerializeToString(), opts,
                                    providers=["CPUExecutionProvider"])
    except Exception as e:  # ORT's own exception types
        raise SourceError(f"{path}: the graph does not run at {hw[0]}x{hw[1]} (ONNX Runtime: "
                          f"{str(e).splitlines()[0][:200]}); pass --imgsz with a size it "
                          "accepts (e.g. a multiple of 32)") from e


def _run(sess, feed: dict, path: Path, hw: tuple[int, int]) -> np.ndarray:
    try:
        return sess.run(None, feed)[0]
    except Exception as e:  # noqa: BLE001 - ORT raises its own types
        raise SourceError(f"{path}: the graph does not run at {hw[0]}x{hw[1]} "
                          f"({str(e).splitlines()[0][:160]}); pass --imgsz with a size it "
                          "accepts (e.g. a multiple of 32)") from e


def _probe_photos(probe_images) -> list[np.ndarray]:
    """L (0..100) of the probe photos (default: three of the bundled samples)."""
    from edgecolor.color import lightness
    from edgecolor.imageio import read_rgb

    if probe_images is None:
        from edgecolor.calibration.dataset import list_calibration_images
        from edgecolor.samples import CALIB_DIR

        probe_images = list_calibration_images(CALIB_DIR)[:3]
    return [lightness(read_rgb(p)) for p in probe_images]


def load_onnx(path: Path, stated: Contract | None, size, default_size,
              probe_images) -> Source:
    """ONNX file -> Source (see :func:`edgecolor.sources.load_source`)."""
    proto = read_onnx(path)
    inputs = graph_inputs(proto)
    if not inputs:
        raise SourceError(f"{path}: the graph has no inputs")
    if len(proto.graph.output) != 1:
        raise SourceError(f"{path}: the graph has {len(proto.graph.output)} outputs "
                          f"({', '.join(o.name for o in proto.graph.output)}); a colorizer "
                          "has one (ab, RGB or 313 bins): re-export with that one only")
    first = inputs[0]
    layout = stated.layout if stated is not None else input_layout(path, first.name,
                                                                    _dims(first))
    fixed, hw, notes = fixed_shape(path, proto, layout, size, default_size)
    sess = _session(fixed, path, hw)
    feeds = {v.name: np.zeros([d.dim_value for d in v.type.tensor_type.shape.dim], np.float32)
             for v in graph_inputs(fixed)}
    y = _run(sess, feeds, path, hw)
    out_shape = fixed.graph.output[0].type.tensor_type.shape
    for n in y.shape:  # the fixed graph's output shape, as ONNX Runtime computed it
        out_shape.dim.add().dim_value = int(n)
    c_ax = 1 if layout == "NCHW" else 3
    out_name = proto.graph.output[0].name
    facts = GraphFacts(layout, [v.name for v in inputs],
                       [int(feeds[v.name].shape[c_ax]) for v in inputs], out_name,
                       list(y.shape), leading_affine(proto, first.name),
                       trailing_ops(proto, out_name))
    photos = _probe_photos(probe_images)

    def probe(contract: Contract) -> list[np.ndarray]:
        spec = contract.to_spec(path.stem, facts.input_names, out_name, hw)
        return [spec.decode(_run(sess, dict(zip(facts.input_names, spec.make_inputs(l),
                                                strict=True)), path, hw)) for l in photos]

    if stated is not None:
        contract = check_stated(stated, facts)
    else:
        contract = infer(facts, probe)
    try:
        spec = contract.to_spec(path.stem, facts.input_names, out_name, hw)
    except ContractError as e:
        raise SourceError(f"{path}: {e}") from e
    return Source(path, "onnx", path.stem, sha256_path(path), onnx_opset(proto), contract,
                  spec, fixed, notes)
