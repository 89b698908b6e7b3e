"""Check on converted artifacts that AdaRound kernels stay on each converter's int8 grid.

Baseline at 64x64, AdaRound with 30 iterations (the grid, not the quality, is checked), then
TFLite int8, ONNX int8 (TensorRT Q/DQ), ONNX int8-cpu and OpenVINO int8; every 4-D int8
weight tensor is matched to a Keras layer by its non-zero integers ("exact": the converter
kept AdaRound's integers; a number: the smallest max difference; None: no layer of that size,
e.g. ONNX Runtime CPU's 2x2 phase convolutions that fold an upsample into the next conv).

Usage (development): python benchmarks/adaround_grid.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "bsd100"


def main() -> None:
    import onnx
    import openvino as ov
    from ai_edge_litert.interpreter import Interpreter
    from onnx import numpy_helper

    from edgecolor.calibration import CalibrationSet
    from edgecolor.converters.common import ConvertOptions
    from edgecolor.formats import get_format
    from edgecolor.quant.adaround import adaround, grid_scale
    from edgecolor.zoo import create_model

    model, spec = create_model("baseline", input_size=64, batch_size=1)
    cs = CalibrationSet.from_folder(SHARED, spec, size=8, holdout=0.25)
    rounded, _ = adaround(model, cs.samples, iters=30)
    ints = {layer.name: np.round(layer.get_weights()[0] / grid_scale(layer.get_weights()[0]))
            for layer in rounded.layers if layer.get_weights()}

    def match(w: np.ndarray):
        b = np.sort(w.ravel()[w.ravel() != 0])
        best = None
        for name, i in ints.items():
            a = np.sort(i.ravel()[i.ravel() != 0])
            if a.size == b.size:
                d = int(np.abs(a - b).max())
                if d == 0:
                    return name, "exact"
                best = (name, d) if best is None or d < best[1] else best
        return best

    tmp = Path(tempfile.mkdtemp())
    opts = ConvertOptions(calib=cs, calib_method="minmax")
    get_format("tflite").load_converter()(rounded, spec, "int8", tmp / "a.tflite", opts)
    interp = Interpreter(model_path=str(tmp / "a.tflite"))
    for d in interp.get_tensor_details():
        if d["dtype"] == np.int8 and len(d["shape"]) == 4:
            try:
                w = interp.get_tensor(d["index"])
            except ValueError:
                continue
            print("tflite", list(d["shape"]), match(w.astype(int)))
    for prec in ("int8", "int8-cpu"):
        get_format("onnx").load_converter()(rounded, spec, prec, tmp / f"{prec}.onnx", opts)
        graph = onnx.load(str(tmp / f"{prec}.onnx")).graph
        inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        for n in graph.node:
            x = inits.get(n.input[0])
            if n.op_type not in ("QuantizeLinear", "DequantizeLinear") or x is None \
                    or x.ndim != 4:
                continue
            if x.dtype == np.float32 and n.op_type == "QuantizeLinear":
                q = x / inits[n.input[1]].reshape(-1, 1, 1, 1)
                print("onnx", prec, x.shape, "off grid", float(np.abs(q - np.round(q)).max()),
                      match(np.round(q)))
            elif x.dtype == np.int8:
                print("onnx", prec, x.shape, match(x.astype(int)))
    get_format("openvino").load_converter()(rounded, spec, "int8", tmp / "a.xml", opts)
    for op in ov.Core().read_model(str(tmp / "a.xml")).get_ordered_ops():
        if op.get_type_name() == "Constant" and op.get_element_type() == ov.Type.i8 \
                and len(op.get_output_shape(0)) == 4:
            print("openvino", list(op.get_output_shape(0)), match(op.get_data().astype(int)))


if __name__ == "__main__":
    main()
