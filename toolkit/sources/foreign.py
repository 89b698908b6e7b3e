"""Foreign colorizers written with ``onnx.helper`` the way PyTorch exports them.

Used by the tests and ``benchmarks/own_model.py`` (no downloads, no torch): NCHW, node names
like ``/model1/model1.0/Conv``, dynamic batch/H/W, BatchNormalization left unfolded,
``Slice`` with step 2 for subsampling, ``ConvTranspose`` 4x4 stride 2 pad 1, skip ``Add``s,
bilinear ``Resize`` x4, ``Tanh`` x 110 (or a 313-bin ``Softmax`` head), and raw L 0..100 in
(normalized inside the graph as Zhang et al.'s PyTorch models do: (L - 50) / 100).
Weights are random but deterministic (``seed``); the graphs are not trained colorizers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

INT64_MAX = 2**63 - 1


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list = []
        self.inits: list = []

    def const(self, name: str, value) -> str:
        from onnx import numpy_helper

        arr = np.asarray(value)
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def node(self, op: str, inputs: list[str], name: str, **attrs) -> str:
        from onnx import helper

        out = f"{name}_output_0"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        return out

    def conv(self, x: str, cin: int, cout: int, scope: str, k: int = 3, bias: bool = True) -> str:
        std = np.sqrt(2.0 / (cin * k * k))
        w = self.const(f"{scope}.weight", self.rng.normal(0, std, (cout, cin, k, k)))
        ins = [x, w] + ([self.const(f"{scope}.bias",
                                    self.rng.normal(0, 0.05, cout))] if bias else [])
        return self.node("Conv", ins, f"/{scope.replace('.', '/')}/Conv",
                         kernel_shape=[k, k], pads=[k // 2] * 4, strides=[1, 1],
                         dilations=[1, 1], group=1)

    def bn(self, x: str, c: int, scope: str) -> str:
        r = self.rng
        ins = [x, self.const(f"{scope}.weight", r.uniform(0.8, 1.2, c)),
               self.const(f"{scope}.bias", r.normal(0, 0.1, c)),
               self.const(f"{scope}.running_mean", r.normal(0, 0.1, c)),
               self.const(f"{scope}.running_var", r.uniform(0.5, 1.5, c))]
        return self.node("BatchNormalization", ins,
                         f"/{scope.replace('.', '/')}/BatchNormalization", epsilon=1e-5,
                         momentum=0.9)

    def cbr(self, x: str, cin: int, cout: int, block: str) -> str:
        y = self.conv(x, cin, cout, f"{block}.0", bias=False)
        y = self.bn(y, cout, f"{block}.1")
        return self.node("Relu", [y], f"/{block.replace('.', '/')}.2/Relu")

    def subsample(self, x: str, scope: str) -> str:
        """x[:, :, ::2, ::2] as torch.onnx exports it."""
        return self.node("Slice", [x, self.const(f"{scope}_starts", np.array([0, 0])),
                                   self.const(f"{scope}_ends", np.array([INT64_MAX] * 2)),
                                   self.const(f"{scope}_axes", np.array([2, 3])),
                                   self.const(f"{scope}_steps", np.array([2, 2]))],
                         f"/{scope}/Slice")


def unet_colorizer(width: int = 8, head: str = "ab", seed: int = 0, opset: int = 17,
                   normalize: bool = True, out_channels: int = 2, spike: float | None = None):
    """A small PyTorch-style U-Net colorizer as an ``onnx.ModelProto``.

    Input ``input_l`` (N, 1, H, W) raw L 0..100, H and W multiples of 8, all three dims
    dynamic. head ``ab``: output ``ab`` (N, 2, H, W) = 110 * tanh(...), Lab units, after a
    bilinear x4 Resize; ``bins``: output ``bins`` (N, 313, H/4, W/4), a softmax over the
    ECCV16 bins. ``width``: channels of the first block (8: ~30 k parameters; 96: a few
    million). normalize False drops the in-graph (L - 50) / 100 (the input scaling can then
    not be read from the graph); out_channels changes the ab head's channel count (a graph
    that fits no contract, for tests).

    spike: a deliberately broken layer for budget tests. Channel 0 of block model2's output
    is scaled by ``spike`` (its BatchNorm scale and shift) and model3's conv divides it back
    (ReLU commutes with a positive scale), so the FP32 function is unchanged but one
    per-tensor int8 scale must span a range ``spike`` times the rest: plain int8 loses the
    other channels there unless ``/model3/model3/0/Conv`` (which reads it) stays in float.
    """
    from onnx import TensorProto, checker, helper

    b = _Builder(seed)
    c = width
    x = "input_l"
    if normalize:
        x = b.node("Sub", [x, b.const("l_cent", np.array(50.0, np.float32))], "/normalize_l/Sub")
        x = b.node("Div", [x, b.const("l_norm", np.array(100.0, np.float32))],
                   "/normalize_l/Div")
    e1 = b.cbr(x, 1, c, "model1.model1")            # H
    e2 = b.cbr(b.subsample(e1, "model1/sub"), c, 2 * c, "model2.model2")  # H/2
    e3 = b.cbr(b.subsample(e2, "model2/sub"), 2 * c, 4 * c, "model3.model3")  # H/4
    d = b.subsample(e3, "model3/sub")                 # H/8
    m = b.cbr(d, 4 * c, 4 * c, "model4.model4")
    m = b.node("Add", [m, d], "/model4/Add")          # residual
    std = np.sqrt(2.0 / (4 * c * 16))
    up = b.node("ConvTranspose", [m, b.const("model8.model8.0.weight",
                                             b.rng.normal(0, std, (4 * c, 4 * c, 4, 4))),
                                  b.const("model8.model8.0.bias", b.rng.normal(0, 0.05, 4 * c))],
                "/model8/model8.0/ConvTranspose", kernel_shape=[4, 4], strides=[2, 2],
                pads=[1, 1, 1, 1], dilations=[1, 1], group=1)   # H/4
    up = b.node("Relu", [up], "/model8/model8.1/Relu")
    up = b.node("Add", [up, e3], "/model8/Add")       # skip
    y = b.cbr(up, 4 * c, 2 * c, "model9.model9")
    if head == "ab":
        y = b.conv(y, 2 * c, out_channels, "model_out", k=1)
        y = b.node("Resize", [y, "", b.const("upsample4_scales",
                                             np.array([1, 1, 4, 4], np.float32))],
                   "/upsample4/Resize", mode="linear",
                   coordinate_transformation_mode="pytorch_half_pixel",
                   nearest_mode="floor", cubic_coeff_a=-0.75)
        y = b.node("Tanh", [y], "/Tanh")
        out_name, out_shape = "ab", ["batch", out_channels, "height", "width"]
        b.nodes.append(helper.make_node("Mul", [y, b.const("ab_norm", np.array(
            110.0, np.float32))], [out_name], name="/unnormalize_ab/Mul"))
    elif head == "bins":
        y = b.conv(y, 2 * c, 313, "model_bins", k=1)
        out_name, out_shape = "bins", ["batch", 313, "h4", "w4"]
        b.nodes.append(helper.make_node("Softmax", [y], [out_name], name="/softmax/Softmax",
                                        axis=1))
    else:
        raise ValueError(f"head must be 'ab' or 'bins', got {head!r}")
    if spike:
        _spike(b, spike)
    graph = helper.make_graph(
        b.nodes, "torch_jit",
        [helper.make_tensor_value_info("input_l", TensorProto.FLOAT,
                                       ["batch", 1, "height", "width"])],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, out_shape)],
        initializer=b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="pytorch", producer_version="2.5.0")
    model.ir_version = 8
    checker.check_model(model)
    return model


SPIKED_NODE = "/model3/model3/0/Conv"  # the consumer of the spiked tensor (see ``spike``)


def _spike(b: _Builder, factor: float) -> None:
    from onnx import numpy_helper

    def scale(name: str, fn) -> None:
        i = next(k for k, t in enumerate(b.inits) if t.name == name)
        arr = fn(numpy_helper.to_array(b.inits[i]).copy())
        b.inits[i] = numpy_helper.from_array(arr.astype(np.float32), name)

    def first(a, f):
        a[0] *= f
        return a

    def first_in(a, f):
        a[:, 0] *= f
        return a

    scale("model2.model2.1.weight", lambda a: first(a, factor))
    scale("model2.model2.1.bias", lambda a: first(a, factor))
    scale("model3.model3.0.weight", lambda a: first_in(a, 1.0 / factor))


def save(model, path: str | Path) -> Path:
    """Write an ``onnx.ModelProto`` to ``path`` -> the path."""
    path = Path(path)
    path.write_bytes(model.SerializeToString())
    return path


def parameter_count(model) -> int:
    """Number of float weights in the graph's initializers."""
    from onnx import numpy_helper

    return int(sum(numpy_helper.to_array(t).size for t in model.graph.initializer
                   if t.data_type == 1))
