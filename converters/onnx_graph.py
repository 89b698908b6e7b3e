"""ONNX graph rewrites that keep the maths and change the kernels a runtime picks.

* :func:`upsample_chains_to_resize` (every ONNX flavour): Keras 3 UpSampling2D exports as
  Unsqueeze/Tile/Transpose/Reshape chains over 5-D tensors; one Resize nearest says the same.
* :func:`fold_upsample_into_conv`, :func:`conv_transpose_to_phase_convs` and
  :func:`pad_conv_channels` (the ``int8-cpu`` flavour):
  they steer ONNX Runtime's x86/ARM int8 CPU kernels onto their fast paths (see
  :mod:`edgecolor.converters.qdq` for why).

Each rewrite returns the model unchanged where its pattern does not match exactly.
"""

from __future__ import annotations

import numpy as np

# ops that only move data; a chain of them between two computing ops may be a nearest upsample
MOVE_OPS = {"Unsqueeze", "Tile", "Transpose", "Reshape", "Expand", "Squeeze", "Identity"}
# elementwise activations that commute with a pixel shuffle (attributes and constant inputs kept)
_SHUFFLE_SAFE_ACTIVATIONS = {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "HardSigmoid"}


class _Graph:
    """Lookup tables over one ``onnx.GraphProto`` (rebuilt after each rewrite)."""

    def __init__(self, model) -> None:
        import onnx

        self.model = model
        self.graph = model.graph
        self.inits = {t.name: t for t in self.graph.initializer}
        self.producers = {o: n for n in self.graph.node for o in n.output}
        self.consumers: dict[str, list] = {}
        for n in self.graph.node:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
        self.outputs = {o.name for o in self.graph.output}
        inferred = onnx.shape_inference.infer_shapes(model)
        self.shapes = static_shapes(inferred)
        self._names = {n for node in self.graph.node for n in (*node.input, *node.output)}
        self._names |= set(self.inits)

    def array(self, name: str) -> np.ndarray | None:
        from onnx import numpy_helper

        t = self.inits.get(name)
        return None if t is None else numpy_helper.to_array(t)

    def unique(self, base: str) -> str:
        name, k = base, 0
        while name in self._names:
            k += 1
            name = f"{base}_{k}"
        self._names.add(name)
        return name

    def const(self, base: str, values, dtype=np.int64) -> str:
        """Add an initializer; return its (unique) name."""
        from onnx import numpy_helper

        name = self.unique(base)
        self.graph.initializer.append(numpy_helper.from_array(np.asarray(values, dtype), name))
        return name


def attr(node, name: str, default=None):
    """Value of a node attribute (strings decoded), or ``default``."""
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            v = helper.get_attribute_value(a)
            return v.decode() if isinstance(v, bytes) else v
    return default


def static_shapes(model) -> dict[str, list[int]]:
    """Tensor name -> static shape for every value whose shape is fully known."""
    out = {}
    g = model.graph
    for v in list(g.input) + list(g.value_info) + list(g.output):
        dims = v.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") for d in dims):
            out[v.name] = [d.dim_value for d in dims]
    for t in g.initializer:
        out[t.name] = list(t.dims)
    return out


def _replace_nodes(model, replacements: dict[int, list], drop: set[int]) -> None:
    """Rebuild the node list: node id -> new nodes in its place; ids in ``drop`` removed."""
    nodes = []
    for node in model.graph.node:
        if id(node) in replacements:
            nodes.extend(replacements[id(node)])
        elif id(node) not in drop:
            nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    del model.graph.value_info[:]  # stale after a rewrite; shape inference recomputes it
    used = {i for node in nodes for i in node.input} | {o.name for o in model.graph.output}
    kept = [t for t in model.graph.initializer if t.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)


# --- Tile chains -> Resize ------------------------------------------------------------------

def upsample_chains_to_resize(model):
    """Replace data-movement chains that compute a nearest-neighbour upsample by one Resize.

    A chain qualifies when its output shape is its input shape times integer factors and
    running it on random data equals ``np.repeat`` along those axes (checked numerically with
    the ONNX reference evaluator, so a look-alike chain that permutes data is never replaced).
    """
    from onnx import helper

    g = _Graph(model)
    replacements, drop = {}, set()
    for node in g.graph.node:
        if node.op_type not in MOVE_OPS or id(node) in drop:
            continue
        start = node.input[0]
        prev = g.producers.get(start)
        if prev is not None and prev.op_type in MOVE_OPS:
            continue  # not the head of a chain
        chain = _chain_from(g, node)
        for end in range(len(chain), 0, -1):
            sub = chain[:end]
            out = sub[-1].output[0]
            factors = _repeat_factors(g.shapes.get(start), g.shapes.get(out))
            if factors and _computes_repeat(model, sub, start, g.shapes[start], factors):
                scales = g.const(f"{out}__scales", factors, np.float32)
                replacements[id(sub[-1])] = [helper.make_node(
                    "Resize", [start, "", scales], [out], name=g.unique(f"{out}__resize"),
                    mode="nearest", coordinate_transformation_mode="asymmetric",
                    nearest_mode="floor")]
                drop.update(id(n) for n in sub[:-1])
                break
    if replacements:
        _replace_nodes(model, replacements, drop)
    return model


def _chain_from(g: _Graph, node) -> list:
    """The linear run of data-movement nodes starting at ``node`` (other inputs constant)."""
    chain = []
    while node is not None and node.op_type in MOVE_OPS:
        if any(i and i not in g.inits for i in node.input[1:]):
            break
        chain.append(node)
        out = node.output[0]
        nxt = g.consumers.get(out, [])
        if out in g.outputs or len(nxt) != 1:
            break
        node = nxt[0]
    return chain


def _repeat_factors(src: list[int] | None, dst: list[int] | None) -> list[float] | None:
    """Per-axis integer factors when ``dst`` is ``src`` scaled up on some axes, else None."""
    if not src or not dst or len(src) != len(dst) or len(src) < 3:
        return None
    factors = []
    for a, b in zip(src, dst, strict=True):
        if a <= 0 or b % a:
            return None
        factors.append(b // a)
    return [float(f) for f in factors] if max(factors) > 1 else None


def _computes_repeat(model, chain: list, start: str, shape: list[int], factors) -> bool:
    """Run the chain on random data; True if it equals np.repeat by ``factors``."""
    from onnx import helper
    from onnx.reference import ReferenceEvaluator

    used = {i for n in chain for i in n.input[1:]}
    inits = [t for t in model.graph.initializer if t.name in used]
    graph = helper.make_graph(
        list(chain), "chain", [helper.make_tensor_value_info(start, 1, shape)],
        [helper.make_tensor_value_info(chain[-1].output[0], 1, None)], inits)
    sub = helper.make_model(graph, opset_imports=list(model.opset_import))
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    try:
        (y,) = ReferenceEvaluator(sub).run(None, {start: x})
    except Exception:  # a chain the evaluator cannot run is simply not rewritten
        return False
    want = x
    for axis, f in enumerate(factors):
        want = np.repeat(want, int(f), axis=axis)
    return y.shape == want.shape and np.array_equal(y, want)


# --- Resize + Conv -> phase convolutions + pixel shuffle -----------------------------------

def fold_upsample_into_conv(model) -> tuple[object, list[str]]:
    """Nearest upsample by ``s`` followed by a stride-1 'same' Conv -> s*s small Convs on the
    low-resolution input, interleaved by a pixel shuffle. Returns (model, notes).

    Each output phase (a, b) of the upsampled convolution only ever reads a few low-res
    pixels, so its kernel folds to at most ceil(k/s)+1 taps per axis: for 2x upsampling and
    3x3 kernels, four 2x2 convolutions do the work of one 3x3 at full resolution, 2.25x
    fewer multiply-adds, and the int8 Resize kernel (slow in ONNX Runtime) disappears. The
    shuffle is written in NHWC (Transpose/Reshape), so ONNX Runtime's NHWC int8 convolutions
    feed it without layout changes. Exact in float.
    """
    from onnx import helper

    g = _Graph(model)
    replacements, drop, notes = {}, set(), []
    for rs in g.graph.node:
        match = _upsample_conv_match(g, rs)
        if match is None:
            continue
        conv, act, (sh, sw) = match
        x = rs.input[0]
        n, _, h, w = g.shapes[x]
        weight = g.array(conv.input[1])
        bias = g.array(conv.input[2]) if len(conv.input) > 2 and conv.input[2] else None
        cout = weight.shape[0]
        pads = list(attr(conv, "pads", [0, 0, 0, 0]))
        final = (act or conv).output[0]
        nodes, phases = [], []
        for a in range(sh):
            for b in range(sw):
                wp, kpads = _phase_kernel(weight, a, b, sh, sw, pads)
                name = g.unique(f"{conv.output[0]}__phase{a}{b}")
                nodes.append(_phase_conv(g, x, name, wp, kpads, bias))
                if act is not None:
                    act_out = g.unique(f"{name}_{act.op_type.lower()}")
                    nodes.append(helper.make_node(
                        act.op_type, [name, *act.input[1:]], [act_out], name=act_out,
                        **{at.name: helper.get_attribute_value(at) for at in act.attribute}))
                    name = act_out
                phases.append(name)
        nodes += _pixel_shuffle_nhwc(g, phases, final, n, h, w, sh, sw, cout)
        replacements[id(rs)] = nodes
        drop.update({id(conv)} | ({id(act)} if act is not None else set()))
        notes.append(f"{conv.name or conv.output[0]}: {sh}x{sw} nearest upsample folded into "
                     f"{sh * sw} phase convolutions")
    if replacements:
        _replace_nodes(model, replacements, drop)
    return model, notes


def _upsample_conv_match(g: _Graph, rs):
    """(conv, activation or None, (sh, sw)) when ``rs`` is a foldable Resize, else None."""
    if rs.op_type != "Resize" or attr(rs, "mode", "nearest") != "nearest":
        return None
    if attr(rs, "coordinate_transformation_mode", "half_pixel") != "asymmetric" or \
            attr(rs, "nearest_mode", "round_prefer_floor") != "floor":
        return None
    scales = g.array(rs.input[2]) if len(rs.input) > 2 else None
    shape = g.shapes.get(rs.input[0])
    if scales is None or shape is None or len(shape) != 4 or len(scales) != 4:
        return None
    if list(scales[:2]) != [1, 1] or any(s != int(s) or s < 1 for s in scales[2:]):
        return None
    users = g.consumers.get(rs.output[0], [])
    if len(users) != 1 or users[0].op_type != "Conv" or rs.output[0] in g.outputs:
        return None
    conv = users[0]
    weight = g.array(conv.input[1])
    if weight is None or weight.ndim != 4 or conv.input[0] != rs.output[0]:
        return None
    if len(conv.input) > 2 and conv.input[2] and g.array(conv.input[2]) is None:
        return None
    if attr(conv, "group", 1) != 1 or attr(conv, "auto_pad", "NOTSET") != "NOTSET":
        return None
    if any(v != 1 for v in attr(conv, "strides", [1, 1])) or \
            any(v != 1 for v in attr(conv, "dilations", [1, 1])):
        return None
    kh, kw = weight.shape[2:]
    pads = list(attr(conv, "pads", [0, 0, 0, 0]))
    if pads[0] + pads[2] != kh - 1 or pads[1] + pads[3] != kw - 1:
        return None  # only 'same' convolutions keep the upsampled size
    act = None
    after = g.consumers.get(conv.output[0], [])
    if (conv.output[0] not in g.outputs and len(after) == 1
            and after[0].op_type in _SHUFFLE_SAFE_ACTIVATIONS
            and all(i in g.inits for i in after[0].input[1:] if i)):
        act = after[0]
    sh, sw = int(scales[2]), int(scales[3])
    for s, k, p in ((sh, kh, pads[0]), (sw, kw, pads[1])):
        for a in range(s):
            offsets = _phase_offsets(a, s, k, p)
            if offsets[0] > 0 or offsets[-1] < 0:
                return None  # would need a negative pad
    return conv, act, (sh, sw)


def _phase_offsets(a: int, s: int, k: int, pad: int) -> list[int]:
    """Low-res row offset read by each of the k taps of output phase ``a`` (upsample ``s``)."""
    return [(a + t - pad) // s for t in range(k)]


def _phase_kernel(weight: np.ndarray, a: int, b: int, sh: int, sw: int, pads: list[int]):
    """Fold a k x k kernel into the small kernel of output phase (a, b); -> (W', pads')."""
    _, _, kh, kw = weight.shape
    oy = _phase_offsets(a, sh, kh, pads[0])
    ox = _phase_offsets(b, sw, kw, pads[1])
    wp = np.zeros(weight.shape[:2] + (oy[-1] - oy[0] + 1, ox[-1] - ox[0] + 1), weight.dtype)
    for ty in range(kh):
        for tx in range(kw):
            wp[:, :, oy[ty] - oy[0], ox[tx] - ox[0]] += weight[:, :, ty, tx]
    # zero padding of the upsampled image is zero padding of the low-res one: same borders
    return wp, [-oy[0], -ox[0], oy[-1], ox[-1]]


def _phase_conv(g: _Graph, x: str, name: str, weight: np.ndarray, pads: list[int],
                bias: np.ndarray | None):
    """One phase's Conv node on ``x`` (its weight and bias become initializers)."""
    from onnx import helper

    ins = [x, g.const(f"{name}_W", weight, weight.dtype)]
    if bias is not None:
        ins.append(g.const(f"{name}_B", bias, bias.dtype))
    return helper.make_node("Conv", ins, [name], name=name,
                            kernel_shape=list(weight.shape[2:]), pads=pads)


def _pixel_shuffle_nhwc(g: _Graph, phases: list[str], out: str, n: int, h: int, w: int,
                        sh: int, sw: int, c: int) -> list:
    """Nodes interleaving phase outputs (a, b) into ``out`` (N, C, sh*H, sw*W)."""
    from onnx import helper

    def t(name):
        return g.unique(f"{out}__{name}")

    cat, nhwc, split, moved, merged = t("cat"), t("nhwc"), t("split"), t("moved"), t("merged")
    return [
        helper.make_node("Concat", phases, [cat], name=cat, axis=1),
        helper.make_node("Transpose", [cat], [nhwc], name=nhwc, perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", [nhwc, g.const(t("s1"), [n, h, w, sh, sw, c])], [split],
                         name=split),
        helper.make_node("Transpose", [split], [moved], name=moved, perm=[0, 1, 3, 2, 4, 5]),
        helper.make_node("Reshape", [moved, g.const(t("s2"), [n, h * sh, w * sw, c])],
                         [merged], name=merged),
        helper.make_node("Transpose", [merged], [out], name=t("nchw"), perm=[0, 3, 1, 2]),
    ]


# --- ConvTranspose -> phase convolutions ----------------------------------------------------

def conv_transpose_to_phase_convs(model) -> tuple[object, list[str]]:
    """A transposed convolution whose output is exactly ``s`` times its input (kernel minus
    pads = stride, e.g. pix2pix's 4x4 stride 2 'same') -> s*s small Convs on its input,
    interleaved by a pixel shuffle. Returns (model, notes).

    Output row ``s*i + a`` only reads input rows ``i + offset`` through the taps
    ``t = a + pad - s*offset``, so each phase (a, b) is an ordinary convolution (2x2 for
    pix2pix) with the same multiply-adds as the transposed one. ONNX Runtime has no int8
    ConvTranspose kernel: it runs in float between a DequantizeLinear and a QuantizeLinear,
    and on the pix2pix U-Nets that was 74-76% of the time in FP32 and int8 alike; the phase
    convolutions run in int8. Exact in float.
    """

    g = _Graph(model)
    replacements, notes = {}, []
    for node in g.graph.node:
        match = _conv_transpose_match(g, node)
        if match is None:
            continue
        (sh, sw), pads = match
        x = node.input[0]
        n, _, h, w = g.shapes[x]
        weight = g.array(node.input[1])  # (Cin, Cout, kh, kw)
        bias = g.array(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        cout = weight.shape[1]
        nodes, phases = [], []
        for a in range(sh):
            for b in range(sw):
                wp, kpads = _transposed_phase_kernel(weight, a, b, sh, sw, pads)
                name = g.unique(f"{node.output[0]}__phase{a}{b}")
                nodes.append(_phase_conv(g, x, name, wp, kpads, bias))
                phases.append(name)
        nodes += _pixel_shuffle_nhwc(g, phases, node.output[0], n, h, w, sh, sw, cout)
        replacements[id(node)] = nodes
        notes.append(f"{node.name or node.output[0]}: ConvTranspose {weight.shape[2]}x"
                     f"{weight.shape[3]} stride {sh}x{sw} -> {sh * sw} phase convolutions")
    if replacements:
        _replace_nodes(model, replacements, set())
    return model, notes


def _conv_transpose_match(g: _Graph, node):
    """((sh, sw), pads) when ``node`` is a rewritable ConvTranspose, else None."""
    if node.op_type != "ConvTranspose":
        return None
    weight = g.array(node.input[1]) if len(node.input) > 1 else None
    shape = g.shapes.get(node.input[0])
    if weight is None or weight.ndim != 4 or shape is None or len(shape) != 4:
        return None
    if len(node.input) > 2 and node.input[2] and g.array(node.input[2]) is None:
        return None
    if attr(node, "group", 1) != 1 or attr(node, "auto_pad", "NOTSET") != "NOTSET":
        return None
    if attr(node, "output_shape") is not None or any(attr(node, "output_padding", [0, 0])):
        return None
    if any(v != 1 for v in attr(node, "dilations", [1, 1])):
        return None
    sh, sw = attr(node, "strides", [1, 1])
    pads = list(attr(node, "pads", [0, 0, 0, 0]))
    kh, kw = weight.shape[2:]
    if kh - pads[0] - pads[2] != sh or kw - pads[1] - pads[3] != sw:
        return None  # the output is not exactly stride x input
    for s, k, p in ((sh, kh, pads[0]), (sw, kw, pads[1])):
        for a in range(s):
            offsets = _transposed_offsets(a, s, k, p)
            if not offsets or offsets[0] > 0 or offsets[-1] < 0:
                return None  # would need a negative pad
    return (sh, sw), pads


def _transposed_offsets(a: int, s: int, k: int, pad: int) -> list[int]:
    """Input row offsets read by output phase ``a`` of a transposed conv (ascending)."""
    return sorted((a + pad - t) // s for t in range(k) if (a + pad - t) % s == 0)


def _transposed_phase_kernel(weight: np.ndarray, a: int, b: int, sh: int, sw: int,
                             pads: list[int]):
    """ConvTranspose kernel (Cin, Cout, kh, kw) -> Conv kernel (Cout, Cin, h', w') and pads of
    output phase (a, b)."""
    _, _, kh, kw = weight.shape
    oy = _transposed_offsets(a, sh, kh, pads[0])
    ox = _transposed_offsets(b, sw, kw, pads[1])
    wp = np.zeros((weight.shape[1], weight.shape[0], oy[-1] - oy[0] + 1, ox[-1] - ox[0] + 1),
                  weight.dtype)
    for y in oy:
        for x in ox:
            ty, tx = a + pads[0] - sh * y, b + pads[1] - sw * x
            wp[:, :, y - oy[0], x - ox[0]] = weight[:, :, ty, tx].T
    return wp, [-oy[0], -ox[0], oy[-1], ox[-1]]


# --- channel padding for ONNX Runtime's symmetric int8 convolution --------------------------

def pad_conv_channels(model, in_multiple: int = 4, out_min: int = 16,
                      out_multiple: int = 8) -> tuple[object, list[str]]:
    """Zero-pad Conv input/output channels to counts MLAS's int8 "ConvSym" kernels accept.

    ONNX Runtime's fast x86/ARM int8 convolution needs input channels divisible by 4 and at
    least 16 output channels (a multiple of 8); other convolutions fall back to im2col +
    GEMM, which for a 1-channel input or a 2-channel output runs slower in int8 than FP32.
    Padding adds zero weights (and a Pad before / a Slice after); results are unchanged.
    A ReLU-like activation that is the conv's only consumer moves before the Slice: ONNX
    Runtime's quantizer folds an activation into the conv's output range only when the two
    are adjacent, and with the Slice between them it quantized the pre-activation output
    (a test model's edge channel: -454..3.6, leaving 2 levels for the values the ReLU keeps).
    Returns (model, notes).
    """
    from onnx import helper

    g = _Graph(model)
    replacements, notes, moved = {}, [], set()
    for conv in g.graph.node:
        weight = g.array(conv.input[1]) if conv.op_type == "Conv" else None
        if weight is None or weight.ndim != 4 or attr(conv, "group", 1) != 1:
            continue
        cout, cin = weight.shape[:2]
        new_in = -(-cin // in_multiple) * in_multiple
        new_out = max(out_min, -(-cout // out_multiple) * out_multiple)
        if (new_in, new_out) == (cin, cout):
            continue
        if new_in != cin and len(g.shapes.get(conv.input[0], [])) != 4:
            continue
        nodes = []
        padded = np.zeros((new_out, new_in) + weight.shape[2:], weight.dtype)
        padded[:cout, :cin] = weight
        inputs = list(conv.input)
        inputs[1] = g.const(f"{conv.input[1]}__padded", padded, weight.dtype)
        if new_in != cin:
            x_pad = g.unique(f"{conv.input[0]}__cpad")
            pads = g.const(f"{x_pad}_pads", [0, 0, 0, 0, 0, new_in - cin, 0, 0])
            nodes.append(helper.make_node("Pad", [conv.input[0], pads], [x_pad], name=x_pad))
            inputs[0] = x_pad
        if len(inputs) > 2 and inputs[2] and new_out != cout:
            bias = g.array(inputs[2])
            inputs[2] = g.const(f"{inputs[2]}__padded",
                                np.concatenate([bias, np.zeros(new_out - cout, bias.dtype)]),
                                bias.dtype)
        out = conv.output[0]
        wide = g.unique(f"{out}__wide") if new_out != cout else out
        new_conv = helper.make_node("Conv", inputs, [wide], name=conv.name or wide)
        new_conv.attribute.extend(conv.attribute)
        nodes.append(new_conv)
        if new_out != cout:
            act = _sole_activation(g, out)
            if act is not None:
                wide_act = g.unique(f"{act.output[0]}__wide")
                moved_act = helper.make_node(act.op_type, [wide, *act.input[1:]], [wide_act],
                                             name=act.name or wide_act)
                moved_act.attribute.extend(act.attribute)
                nodes.append(moved_act)
                moved.add(id(act))
                wide, out = wide_act, act.output[0]
            nodes.append(helper.make_node(
                "Slice", [wide, g.const(f"{out}__st", [0]), g.const(f"{out}__en", [cout]),
                          g.const(f"{out}__ax", [1])], [out], name=g.unique(f"{out}__slice")))
        replacements[id(conv)] = nodes
        notes.append(f"{conv.name or out}: channels padded {cin}->{new_in} in, "
                     f"{cout}->{new_out} out")
    if replacements:
        _replace_nodes(model, replacements, moved)
    return model, notes


def _sole_activation(g: _Graph, tensor: str):
    """The Relu / Clip / LeakyRelu that is ``tensor``'s only consumer (its other inputs
    constants), or None."""
    consumers = g.consumers.get(tensor, [])
    if tensor in g.outputs or len(consumers) != 1:
        return None
    act = consumers[0]
    if act.op_type not in ("Relu", "Clip", "LeakyRelu") or act.input[0] != tensor:
        return None
    if any(i and i not in g.inits for i in act.input[1:]):
        return None
    return act
