"""TensorRT readiness check (static, on real ONNX graphs built with onnx.helper) and the
TensorRT runner (skipped here: no TensorRT, no NVIDIA GPU)."""

from __future__ import annotations

import importlib.util
import shutil

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from edgecolor.converters.trt_check import check_onnx, supported_versions, trt_rules


def _conv_qdq_model(zero_point=0, zp_type=np.int8, axis=0, opset=17, dynamic=False,
                    weight_as_pair=True, extra_nodes=(), extra_inits=(), domains=()):
    """x -> Q/DQ -> Conv(W behind Q/DQ) -> Relu -> y, 1x4x8x8; knobs break one rule each."""
    w = np.random.default_rng(0).normal(size=(8, 4, 3, 3)).astype(np.float32)
    inits = [
        numpy_helper.from_array(w, "W"),
        numpy_helper.from_array(np.array(0.02, np.float32), "x_scale"),
        numpy_helper.from_array(np.array(zero_point, zp_type), "x_zp"),
        numpy_helper.from_array(np.full(8, 0.01, np.float32), "w_scale"),
        numpy_helper.from_array(np.zeros(8, np.int8), "w_zp"),
        *extra_inits,
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zp"], ["xq"], name="q_x"),
        helper.make_node("DequantizeLinear", ["xq", "x_scale", "x_zp"], ["xd"], name="dq_x"),
    ]
    if weight_as_pair:
        nodes += [helper.make_node("QuantizeLinear", ["W", "w_scale", "w_zp"], ["wq"],
                                   name="q_w", axis=axis),
                  helper.make_node("DequantizeLinear", ["wq", "w_scale", "w_zp"], ["wd"],
                                   name="dq_w", axis=axis)]
    else:  # pre-quantized int8 weight behind a DQ only
        inits[0] = numpy_helper.from_array(np.round(w * 100).astype(np.int8), "W")
        nodes.append(helper.make_node("DequantizeLinear", ["W", "w_scale", "w_zp"], ["wd"],
                                      name="dq_w", axis=axis))
    nodes += [helper.make_node("Conv", ["xd", "wd"], ["c"], name="conv", pads=[1, 1, 1, 1]),
              helper.make_node("Relu", ["c"], ["y0"], name="relu"), *extra_nodes]
    last = nodes[-1].output[0]
    shape = ["batch", 4, 8, 8] if dynamic else [1, 4, 8, 8]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(last, TensorProto.FLOAT, None)], inits)
    imports = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    model = helper.make_model(graph, opset_imports=imports)
    out = onnx.shape_inference.infer_shapes(model).graph.output[0]
    if out.type.tensor_type.HasField("shape"):  # the static shape an exporter would write
        model.graph.output[0].CopyFrom(out)
    return model


def _save(model, path):
    onnx.save(model, path)
    return path


def test_clean_qdq_conv_is_ready_on_every_version(tmp_path):
    path = _save(_conv_qdq_model(opset=13), tmp_path / "ok.onnx")
    onnx.checker.check_model(onnx.load(path), full_check=True)
    for version in supported_versions():
        assert check_onnx(path, version) == [], version
    assert any("opset 17" in p for p in
               check_onnx(_save(_conv_qdq_model(), tmp_path / "17.onnx"), "8.2"))


def test_unsupported_and_custom_ops_are_flagged(tmp_path):
    extra = [helper.make_node("NonZero", ["y0"], ["nz"], name="nonzero"),
             helper.make_node("FancyOp", ["y0"], ["y"], name="fancy", domain="com.example")]
    path = _save(_conv_qdq_model(extra_nodes=extra, domains=("com.example",)), tmp_path / "m.onnx")
    p82 = check_onnx(path, "8.2")
    assert any("NonZero" in p and "8.2" in p for p in p82)  # NonZero arrived in 8.5
    assert any("com.example::FancyOp" in p and "plugin" in p for p in p82)
    p86 = check_onnx(path, "8.6")
    assert not any("NonZero" in p for p in p86) and any("FancyOp" in p for p in p86)


def test_asymmetric_or_uint8_qdq_and_wrong_axis_are_flagged(tmp_path):
    asym = check_onnx(_save(_conv_qdq_model(zero_point=3), tmp_path / "a.onnx"), "8.6")
    assert any("zero point [3] != 0" in p for p in asym)
    u8 = check_onnx(_save(_conv_qdq_model(zp_type=np.uint8), tmp_path / "u.onnx"), "8.6")
    assert any("uint8 zero point" in p for p in u8)
    axis = check_onnx(_save(_conv_qdq_model(axis=1), tmp_path / "x.onnx"), "10")
    assert any("axis 1 on a Conv weight" in p and "axis 0" in p for p in axis)


def test_opset_dynamic_shapes_int64_and_prequantized_weights(tmp_path):
    assert any("opset 18" in p for p in
               check_onnx(_save(_conv_qdq_model(opset=18), tmp_path / "o.onnx"), "8.6"))
    assert check_onnx(_save(_conv_qdq_model(opset=18), tmp_path / "o.onnx"), "10") == []
    dyn = check_onnx(_save(_conv_qdq_model(dynamic=True), tmp_path / "d.onnx"), "10")
    assert any("dynamic shape" in p and "'x'" in p for p in dyn)
    big = numpy_helper.from_array(np.array([2**40], np.int64), "big")
    reshape = [helper.make_node("Reshape", ["y0", "shape"], ["r"], name="flat"),
               helper.make_node("Add", ["r", "fbig"], ["y"], name="add"),
               helper.make_node("Cast", ["big"], ["fbig"], name="cast", to=TensorProto.FLOAT)]
    shape = numpy_helper.from_array(np.array([1, -1], np.int64), "shape")
    model = _conv_qdq_model(extra_nodes=reshape, extra_inits=(big, shape))
    path = _save(model, tmp_path / "i.onnx")
    p86 = check_onnx(path, "8.6")
    assert any("'big'" in p and "INT32" in p for p in p86)
    assert not any("'shape'" in p for p in p86)  # small shape constants are fine
    assert not any("INT64" in p for p in check_onnx(path, "10"))  # native INT64 since 9.0
    pre = _save(_conv_qdq_model(weight_as_pair=False), tmp_path / "p.onnx")
    assert any("pre-quantized constant" in p for p in check_onnx(pre, "8.6"))
    assert check_onnx(pre, "10") == []


def test_versions_resolve_and_bad_inputs_are_clear(tmp_path):
    assert trt_rules("10.3")["version"] == "10"
    assert trt_rules("8.6.1")["version"] == "8.6"
    assert trt_rules("8.2")["opset_max"] == 13
    with pytest.raises(ValueError, match="known versions"):
        trt_rules("7.1")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(ValueError, match="junk.onnx"):
        check_onnx(junk, "8.6")
    with pytest.raises(ValueError, match="no such file"):
        check_onnx(tmp_path / "missing.onnx", "8.6")


def test_check_trt_cli_exit_codes(tmp_path):
    from edgecolor.cli import cli

    ok = _save(_conv_qdq_model(), tmp_path / "ok.onnx")
    bad = _save(_conv_qdq_model(zero_point=5), tmp_path / "bad.onnx")
    runner = CliRunner()
    res = runner.invoke(cli, ["check-trt", str(ok), "--trt", "8.6"])
    assert res.exit_code == 0 and "ready for TensorRT 8.6" in res.output
    res = runner.invoke(cli, ["check-trt", str(bad), "--trt", "8.6"])
    assert res.exit_code == 1 and "FAIL" in res.output and "zero point [5]" in res.output
    res = runner.invoke(cli, ["check-trt", str(ok), "--trt", "6.0"])
    assert res.exit_code == 2 and "known versions" in res.output
    assert "Example" in runner.invoke(cli, ["check-trt", "--help"]).output


def test_engine_cache_key_and_location(tmp_path, monkeypatch):
    from edgecolor.runtimes.tensorrt import cache_dir, engine_key

    monkeypatch.setenv("EDGECOLOR_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "trt"
    base = engine_key("8.6.1", "Orin", "a" * 64, ["INT8", "FP16"])
    assert base == engine_key("8.6.1", "Orin", "a" * 64, ["FP16", "INT8"])
    assert len({base, engine_key("10.3.0", "Orin", "a" * 64, ["INT8", "FP16"]),
                engine_key("8.6.1", "Xavier", "a" * 64, ["INT8", "FP16"]),
                engine_key("8.6.1", "Orin", "b" * 64, ["INT8", "FP16"]),
                engine_key("8.6.1", "Orin", "a" * 64, [])}) == 5


def test_tensorrt_runner_is_unavailable_without_tensorrt(tmp_path):
    from edgecolor.manifest import write_manifest
    from edgecolor.runtimes import RuntimeMissing, load_runner
    from edgecolor.runtimes.tensorrt import TensorRTRunner
    from edgecolor.spec import InputSpec, ModelSpec, OutputSpec

    if TensorRTRunner.available():
        pytest.skip("TensorRT is installed here; the missing-runtime path cannot be shown")
    path = _save(_conv_qdq_model(), tmp_path / "m-onnx-int8.onnx")
    spec = ModelSpec("m", (InputSpec("x", (8, 8)),), OutputSpec("y0"))
    write_manifest(path, {"spec": spec.to_dict(), "format": "onnx", "precision": "int8"})
    with pytest.raises(RuntimeMissing, match=r"edgecolor\[onnx\]"):
        load_runner(path, runner="tensorrt")


_NO_TRT = ("TensorRT runner needs the `tensorrt` and cuda-python packages and an NVIDIA GPU; "
           "this machine has neither (the code runs on Jetson / CUDA hosts)")


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is None
                    or shutil.which("nvidia-smi") is None, reason=_NO_TRT)
def test_tensorrt_runner_builds_caches_and_runs_int8(tmp_path, monkeypatch):
    from edgecolor.manifest import write_manifest
    from edgecolor.runtimes.tensorrt import TensorRTRunner
    from edgecolor.spec import InputSpec, ModelSpec, OutputSpec

    monkeypatch.setenv("EDGECOLOR_HOME", str(tmp_path / "home"))
    path = _save(_conv_qdq_model(), tmp_path / "m-onnx-int8.onnx")
    spec = ModelSpec("m", (InputSpec("x", (8, 8), channels=4),), OutputSpec("y0"))
    write_manifest(path, {"spec": spec.to_dict(), "format": "onnx", "precision": "int8"})
    x = np.random.default_rng(0).uniform(-1, 1, (1, 4, 8, 8)).astype(np.float32)
    import onnxruntime as ort

    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"x": x})[0]
    with TensorRTRunner(path, spec, {"precision": "int8"}) as runner:
        got = runner.run(x)
    assert list((tmp_path / "home" / "trt").glob("*.engine"))
    assert np.abs(got - want).max() <= 0.1
