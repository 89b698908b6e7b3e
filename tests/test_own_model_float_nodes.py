"""Every weighted node of a PyTorch-style ONNX U-Net, named in float_layers by its ONNX node
name, stays float in the built int8 graph of both ONNX flavours (TensorRT Q/DQ and
``int8-cpu``): the node (or, for a ConvTranspose, each of its phase convolutions) keeps a
float weight initializer instead of a DequantizeLinear, and is not named in vain (a name
the rewritten graph lost would be silently ignored by ONNX Runtime's nodes_to_exclude)."""

from __future__ import annotations

import importlib.util

import pytest

from edgecolor.sources.foreign import save, unet_colorizer

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("onnxruntime", "onnxsim")),
    reason="needs the convert extra (onnxruntime, onnxsim)")

WEIGHTED = ("Conv", "ConvTranspose")


@pytest.mark.parametrize("precision", ["int8", "int8-cpu"])
def test_every_weighted_node_excluded_by_name_keeps_float_weights(precision, tmp_path):
    import onnx

    from edgecolor.calibration import CalibrationSet
    from edgecolor.converters import onnx as onnx_conv
    from edgecolor.converters.common import ConvertOptions
    from edgecolor.samples import CALIB_DIR
    from edgecolor.sources import load_source

    src = load_source(save(unet_colorizer(8), tmp_path / "u.onnx"), imgsz=32)
    cs = CalibrationSet.from_folder(CALIB_DIR, src.spec, size=4)
    nodes = [n for n in src.simplified().graph.node if n.op_type in WEIGHTED]
    assert len(nodes) >= 7
    names = [n.name for n in nodes]
    path = tmp_path / f"u-{precision}.onnx"
    onnx_conv.convert(src, src.spec, precision, path,
                      ConvertOptions(calib=cs, extra={"float_layers": names}))
    graph = onnx.load(str(path)).graph
    producers = {o: n for n in graph.node for o in n.output}
    inits = {i.name for i in graph.initializer}
    for node in nodes:
        outs = set(node.output)
        built = [n for n in graph.node if n.op_type in WEIGHTED and (
            n.name == node.name or set(n.output) & outs
            or any(n.name.startswith(f"{o}__") for o in outs))]
        assert built, (precision, node.name, "lost in the built graph")
        for b in built:
            w = producers.get(b.input[1])
            assert w is None and b.input[1] in inits, (precision, node.name, b.name)
    # and the same graph without float layers quantizes those weights
    plain = tmp_path / f"u-{precision}-plain.onnx"
    onnx_conv.convert(src, src.spec, precision, plain, ConvertOptions(calib=cs))
    g = onnx.load(str(plain)).graph
    prod = {o: n for n in g.node for o in n.output}
    assert all(prod.get(n.input[1]) is not None and prod[n.input[1]].op_type ==
               "DequantizeLinear" for n in g.node if n.op_type == "Conv")
