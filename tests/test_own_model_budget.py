"""The int8 fidelity budget on the user's own ONNX graph: its units are the graph's node
names, and a deliberately broken layer is kept in float by that name on every backend that
reads the source graph (ONNX Runtime's TensorRT Q/DQ and int8-cpu flavours, OpenVINO/NNCF).

The broken layer (``unet_colorizer(spike=1000)``): channel 0 of block model2's output is
1000x the others and model3's conv divides it back, so FP32 is unchanged while a per-tensor
int8 scale over that tensor wipes out the other channels (plain int8 ~20 dB vs FP32).
TFLite rows are converted through onnx2tf, which renames the graph: they stay plain int8
and say so (checked in test_own_model_formats' x86 conversion).
"""

from __future__ import annotations

import importlib.util
import json

import pytest
from click.testing import CliRunner

from edgecolor.cli import cli
from edgecolor.sources.foreign import SPIKED_NODE, save, unet_colorizer

NEEDS = ("onnxruntime", "onnxsim", "openvino", "nncf")
pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in NEEDS),
    reason="needs the convert extra (" + ", ".join(NEEDS) + ")")


@pytest.fixture(scope="module")
def spiked(tmp_path_factory):
    from edgecolor.calibration import CalibrationSet
    from edgecolor.samples import CALIB_DIR
    from edgecolor.sources import load_source

    path = save(unet_colorizer(8, spike=1000.0), tmp_path_factory.mktemp("spiked") / "sp.onnx")
    src = load_source(path, imgsz=64)
    return path, src, CalibrationSet.from_folder(CALIB_DIR, src.spec, size=20)


def _float_nodes_onnx(path, source_nodes: list[str]) -> set[str]:
    """Source nodes whose built Conv(s) read a float weight (no DequantizeLinear)."""
    import onnx

    graph = onnx.load(str(path)).graph
    producers = {o: n for n in graph.node for o in n.output}
    found = set()
    for name in source_nodes:
        built = [n for n in graph.node if n.op_type == "Conv" and (
            n.name == name or n.name.startswith(f"{name}"))]
        if built and all(producers.get(b.input[1]) is None for b in built):
            found.add(name)
    return found


def _ov_input_kind(xml_path, node: str) -> str:
    """Type of the IR layer feeding the data input (port 0) of the Convolution made from
    source ``node``."""
    import xml.etree.ElementTree as ET

    root = ET.parse(xml_path).getroot()
    layers = {la.get("id"): la for la in root.iter("layer")}
    conv = next(la for la in layers.values() if la.get("type") == "Convolution"
                and la.get("name", "").startswith(node))
    port0 = conv.find("input").findall("port")[0].get("id")
    edge = next(e for e in root.iter("edge") if e.get("to-layer") == conv.get("id")
                and e.get("to-port") == port0)
    return layers[edge.get("from-layer")].get("type")


@pytest.mark.parametrize("fmt,precision", [("onnx", "int8"), ("onnx", "int8-cpu"),
                                           ("openvino", "int8")])
def test_budget_keeps_the_broken_node_float_by_its_onnx_name(spiked, fmt, precision,
                                                             tmp_path):
    from edgecolor.converters.common import ConvertOptions
    from edgecolor.formats import get_format
    from edgecolor.quant.budget import Budget, BudgetedConversion
    from edgecolor.quant.onnx_source import unit_names

    path, src, cs = spiked
    out = tmp_path / get_format(fmt).artifact_name("sp", precision)
    # 7 units: 30% lets the int8-cpu flavour keep the spiked tensor's producer and reader
    conv = BudgetedConversion(fmt, budget=Budget(max_dpsnr=0.3, min_psnr_fp32=40),
                              max_float_fraction=0.3, pareto_png=False)
    fields = conv(src, src.spec, precision, out, ConvertOptions(calib=cs))
    q = fields["quantization"]
    plain = q["attempts"][0]
    assert plain["float_layers"] == [] and plain["score"]["psnr_vs_fp32"] < 30
    assert SPIKED_NODE in fields["float_layers"], q["attempts"]
    assert set(fields["float_layers"]) <= set(unit_names(src))
    assert len(fields["float_layers"]) <= 2
    assert q["validation"]["psnr_vs_fp32"] >= 40 and q["validation"]["dpsnr"] <= 0.3
    assert q["layers"] == len(unit_names(src)) == 7
    assert out.is_file()
    if fmt == "onnx":  # the artifact on disk really runs that node in float
        assert SPIKED_NODE in _float_nodes_onnx(out, [SPIKED_NODE])
    else:  # NNCF put no FakeQuantize on the node's input; plain int8 does
        from edgecolor.converters import openvino as ov_conv

        assert _ov_input_kind(out, SPIKED_NODE) != "FakeQuantize"
        plain_xml = tmp_path / "plain.xml"
        ov_conv.convert(src, src.spec, precision, plain_xml, ConvertOptions(calib=cs))
        assert _ov_input_kind(plain_xml, SPIKED_NODE) == "FakeQuantize"
    if precision == "int8-cpu":  # the reader alone cannot help here: its producer too
        assert "/model2/model2/0/Conv" in fields["float_layers"]
        assert q["strategy"] == "int8 + float layers (activation range)"
    assert any(r["kind"] == "wide_range" and r["layer"] == "/model2/model2/0/Conv"
               for r in fields["risks"])


def test_cli_default_budget_on_an_onnx_source(spiked, tmp_path):
    """`convert --model file.onnx` applies the device profile's budget to the onnx int8 row
    (no bound given); a bound nothing can meet fails the row, never silently ignored."""
    path, _, _ = spiked
    out = tmp_path / "art"
    r = CliRunner().invoke(cli, ["convert", "--model", str(path), "--format", "onnx",
                                 "--precision", "int8", "--imgsz", "64", "-o", str(out)])
    assert r.exit_code == 0, r.output
    m = json.loads((out / "sp-onnx-int8.json").read_text())
    assert m["quick_check"]["ok"] and SPIKED_NODE in m["float_layers"]
    assert m["quantization"]["budget"]["min_psnr_fp32"] == 40
    bad = tmp_path / "bad"
    r = CliRunner().invoke(cli, ["convert", "--model", str(path), "--format", "onnx",
                                 "--precision", "int8", "--imgsz", "64", "-o", str(bad),
                                 "--min-psnr-fp32", "200"])
    assert r.exit_code != 0
    assert "budget" in r.output and "PSNR vs FP32 >= 200 dB not met" in r.output
    assert not (bad / "sp-onnx-int8.onnx").exists()


def test_analyze_ranks_an_onnx_sources_nodes_by_name(spiked, tmp_path):
    """`analyze --model file.onnx`: the units are the graph's node names; with the spiked
    tensor's reader in float the TensorRT Q/DQ flavour gets back to FP32, so it ranks first;
    the wide range is flagged on its producer, the structural risks on their nodes; a TFLite
    backend is refused with the reason."""
    path, src, _ = spiked
    r = CliRunner().invoke(cli, ["analyze", "--model", str(path), "--imgsz", "64",
                                 "--format", "onnx:int8", "--format", "tflite:int8",
                                 "--timing-runs", "0", "-o", str(tmp_path)])
    assert r.exit_code == 1, r.output  # one backend could not be analyzed
    report = json.loads((tmp_path / "sp-sensitivity.json").read_text())
    (backend,) = report["backends"]
    layers = [entry["layer"] for entry in backend["layers"]]
    assert layers[0] == SPIKED_NODE
    assert {entry["kind"] for entry in backend["layers"]} <= {"Conv", "ConvTranspose"}
    assert "onnx2tf" in report["errors"]["tflite:int8"]
    assert any(k["kind"] == "wide_range" and k["layer"] == "/model2/model2/0/Conv"
               for k in report["risks"])
    kinds = {k["layer"]: k["kind"] for k in report["risks"]}  # read from the graph's ops
    assert kinds["/model8/model8.0/ConvTranspose"] == "conv_transpose"
    assert kinds["/upsample4/Resize"] == "resize" and kinds["/Tanh"] == "tanh_output"
