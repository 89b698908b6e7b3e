"""A Caffe net (prototxt + blobs) -> an equivalent ONNX model, encoded by hand.

OpenCV 5 removed its Caffe importer ("use ONNX-converted models"); this translation keeps
Caffe's own layout (NCHW, OIHW conv weights, (in, out, kh, kw) deconv weights — ONNX uses the
same ones), so the ONNX graph computes exactly what Caffe does, with no transposes. It needs
neither Caffe, protobuf nor the ``onnx`` package, so a device can run the official files with
OpenCV alone. Layer types: Input, Convolution, Deconvolution, ReLU, BatchNorm, Scale, Softmax,
Silence (the ECCV16 colorization network uses nothing else).
"""

from __future__ import annotations

import numpy as np

from edgecolor import protowire as wire
from edgecolor.zoo.caffe.layers import (
    batchnorm_eps,
    batchnorm_stats,
    conv_geometry,
    conv_weight,
)
from edgecolor.zoo.caffe.prototxt import first, input_shape, net_layers

OPSET = 13
IR_VERSION = 8
_FLOAT = 1  # TensorProto.FLOAT
_ATTR_FLOAT, _ATTR_INT, _ATTR_INTS = 1, 2, 7


def _tensor(name: str, array: np.ndarray) -> bytes:
    a = np.ascontiguousarray(array, dtype="<f4")
    body = b"".join(wire.field_varint(1, d) for d in a.shape)
    body += wire.field_varint(2, _FLOAT) + wire.field_bytes(8, name)
    return body + wire.field_bytes(9, a.tobytes())


def _attr(name: str, value) -> bytes:
    body = wire.field_bytes(1, name)
    if isinstance(value, float):
        return body + wire.field_float(2, value) + wire.field_varint(20, _ATTR_FLOAT)
    if isinstance(value, int):
        return body + wire.field_varint(3, value) + wire.field_varint(20, _ATTR_INT)
    return (body + b"".join(wire.field_varint(8, v) for v in value)
            + wire.field_varint(20, _ATTR_INTS))


def _node(op: str, inputs: list[str], outputs: list[str], name: str, **attrs) -> bytes:
    body = b"".join(wire.field_bytes(1, i) for i in inputs)
    body += b"".join(wire.field_bytes(2, o) for o in outputs)
    body += wire.field_bytes(3, name) + wire.field_bytes(4, op)
    body += b"".join(wire.field_bytes(5, _attr(k, v)) for k, v in attrs.items())
    return body


def _value_info(name: str, dims: tuple[int, ...] | None) -> bytes:
    tensor = wire.field_varint(1, _FLOAT)
    if dims is not None:
        shape = b"".join(wire.field_bytes(1, wire.field_varint(1, d)) for d in dims)
        tensor += wire.field_bytes(2, shape)
    return wire.field_bytes(1, name) + wire.field_bytes(2, wire.field_bytes(1, tensor))


def _conv_size(n: int, axis: int, deconv: bool, g) -> int:
    """Caffe's output size along one spatial axis."""
    k, s, p, d = g.kernel[axis], g.stride[axis], g.pad[axis], g.dilation[axis]
    if deconv:
        return s * (n - 1) + d * (k - 1) + 1 - 2 * p
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def caffe_to_onnx(net: dict, blobs: dict[str, list[np.ndarray]],
                  source: str = "<prototxt>") -> bytes:
    """Prototxt dict + {layer name: blobs} -> serialized ONNX ModelProto (opset 13, NCHW).

    The graph input is the Input layer's top with its declared shape; the output is the blob
    the Silence layer swallows (or the last layer's top), named after that Caffe blob.
    ValueError naming ``source`` for a layer type it does not translate.
    """
    shape = input_shape(net)
    if not shape:
        raise ValueError(f"{source}: no input shape (needs an Input layer or input_dim)")
    nodes: list[bytes] = []
    inits: list[bytes] = []
    current: dict[str, str] = {}  # caffe blob name -> current onnx tensor name
    shapes: dict[str, tuple[int, int, int]] = {}  # onnx tensor name -> (C, H, W)
    in_name = None
    out_blob = None

    for layer in net_layers(net):
        name, ltype = first(layer, "name"), first(layer, "type")
        bottoms = [current.get(b, b) for b in layer.get("bottom", [])]
        top = first(layer, "top")
        out = name  # layer names are unique: every layer's output gets its own tensor
        got = blobs.get(name, [])
        if ltype == "Input" or (ltype is None and in_name is None):
            in_name = top
            current[top] = top
            shapes[top] = (int(shape[1]), int(shape[2]), int(shape[3]))
            continue
        if ltype == "Silence":
            out_blob = layer.get("bottom", [None])[0]
            continue
        x = bottoms[0]
        c_in, h, w = shapes[x]
        shapes[out] = (c_in, h, w)  # shape-preserving layers; convolutions override below
        if ltype in ("Convolution", "Deconvolution"):
            g = conv_geometry(layer)
            deconv = ltype == "Deconvolution"
            inits.append(_tensor(f"{name}/W", conv_weight(got[0], g, c_in, deconv)))
            inputs = [x, f"{name}/W"]
            if g.bias and len(got) > 1:  # a missing bias blob is zeros (OpenCV does the same)
                inits.append(_tensor(f"{name}/B", np.ravel(got[1])))
                inputs.append(f"{name}/B")
            nodes.append(_node("ConvTranspose" if deconv else "Conv", inputs, [out], name,
                               kernel_shape=list(g.kernel), strides=list(g.stride),
                               pads=[*g.pad, *g.pad], dilations=list(g.dilation),
                               group=g.group))
            shapes[out] = (g.num_output, _conv_size(h, 0, deconv, g), _conv_size(w, 1, deconv, g))
        elif ltype == "ReLU":
            slope = float(first(first(layer, "relu_param", {}), "negative_slope", 0.0))
            if slope:
                nodes.append(_node("LeakyRelu", [x], [out], name, alpha=slope))
            else:
                nodes.append(_node("Relu", [x], [out], name))
        elif ltype == "BatchNorm":
            mean, var = batchnorm_stats(got)
            for suffix, value in (("scale", np.ones_like(mean)), ("bias", np.zeros_like(mean)),
                                  ("mean", mean), ("var", var)):
                inits.append(_tensor(f"{name}/{suffix}", value))
            nodes.append(_node("BatchNormalization",
                               [x] + [f"{name}/{s}" for s in ("scale", "bias", "mean", "var")],
                               [out], name, epsilon=batchnorm_eps(layer)))
        elif ltype == "Scale":
            scale = np.ravel(got[0]).astype(np.float32)
            inits.append(_tensor(f"{name}/scale", scale.reshape(1, -1, 1, 1)))
            has_bias = len(got) > 1
            mul_out = f"{name}/mul" if has_bias else out
            nodes.append(_node("Mul", [x, f"{name}/scale"], [mul_out], f"{name}/mul"))
            if has_bias:
                inits.append(_tensor(f"{name}/bias", np.ravel(got[1]).reshape(1, -1, 1, 1)))
                nodes.append(_node("Add", [mul_out, f"{name}/bias"], [out], name))
        elif ltype == "Softmax":
            axis = int(first(first(layer, "softmax_param", {}), "axis", 1))
            nodes.append(_node("Softmax", [x], [out], name, axis=axis))
        else:
            raise ValueError(f"{source}: layer {name!r} of type {ltype} is not supported by the "
                             "Caffe-to-ONNX translation")
        current[top] = out
    if in_name is None:
        raise ValueError(f"{source}: no Input layer")
    final = current[out_blob] if out_blob else out
    graph = b"".join(wire.field_bytes(1, n) for n in nodes)
    graph += wire.field_bytes(2, first(net, "name", "caffe"))
    graph += b"".join(wire.field_bytes(5, t) for t in inits)
    graph += wire.field_bytes(11, _value_info(in_name, tuple(int(d) for d in shape)))
    graph += wire.field_bytes(12, _value_info(final, (int(shape[0]), *shapes[final])))
    opset = wire.field_varint(2, OPSET)
    model = wire.field_varint(1, IR_VERSION) + wire.field_bytes(2, "edgecolor")
    return model + wire.field_bytes(7, graph) + wire.field_bytes(8, opset)
