"""OpenVINO IR: FP32 / FP16 / INT8 (NNCF) convert for real and run on the CPU plugin."""

from __future__ import annotations

import platform

import numpy as np
import pytest
from checks import colorized_psnr  # noqa: E402

from edgecolor.calibration import CalibrationSet
from edgecolor.color import lightness
from edgecolor.converters.common import ConvertOptions
from edgecolor.imageio import read_rgb
from edgecolor.runtimes.openvino import OpenVINORunner

pytestmark = pytest.mark.slow
PRECISIONS = ("fp32", "fp16", "int8")


@pytest.fixture(scope="module")
def artifacts(convert_setup, tmp_path_factory):
    from edgecolor.converters.openvino import convert

    model, spec, cs, *_ = convert_setup
    out = tmp_path_factory.mktemp("openvino")
    made = {}
    for prec in PRECISIONS:
        path = out / f"baseline-openvino-{prec}.xml"
        made[prec] = path, convert(model, spec, prec, path, ConvertOptions(calib=cs))
    return made


@pytest.mark.parametrize("precision", PRECISIONS)
def test_every_precision_runs_close_to_keras(convert_setup, artifacts, precision):
    _, spec, _, ls, inputs, ref = convert_setup
    path, fields = artifacts[precision]
    assert path.with_suffix(".bin").is_file()
    with OpenVINORunner(path, spec, fields, threads=1) as runner:
        outs = [runner.infer(x) for x in inputs]
    assert outs[0].shape == (1, 64, 64, 2)
    err = max(float(np.max(np.abs(o - r))) for o, r in zip(outs, ref, strict=True))
    if precision == "fp32":
        assert err <= 1e-3
    else:
        assert colorized_psnr(spec, ls, ref, outs) >= (30.0 if precision == "int8" else 40.0)
        assert err > 0


def test_fp32_really_runs_in_fp32(convert_setup, artifacts):
    """Without the hint, AMX/BF16 CPUs run an FP32 IR in bf16."""
    import openvino as ov

    _, spec, *_ = convert_setup
    path, fields = artifacts["fp32"]
    assert fields["inference_precision"] == "f32"
    with OpenVINORunner(path, spec, fields, threads=1) as runner:
        assert runner._compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32
        assert runner._compiled.get_property("PERFORMANCE_HINT") == "LATENCY"
    assert artifacts["int8"][1]["inference_precision"] is None


def test_int8_ir_quantizes_every_convolution(artifacts):
    """Upsampling is one Interpolate, so no convolution is left in float behind a Tile chain."""
    import openvino as ov

    path, _ = artifacts["int8"]
    model = ov.Core().read_model(str(path))
    types = [op.get_type_name() for op in model.get_ordered_ops()]
    assert "Tile" not in types and types.count("Interpolate") == 2
    convs = [op for op in model.get_ordered_ops() if op.get_type_name() == "Convolution"]
    assert len(convs) == 8
    for conv in convs:  # activations reach every convolution through a FakeQuantize
        node = conv.input_value(0).get_node()
        while node.get_type_name() in ("Transpose", "Reshape", "Interpolate", "Relu"):
            node = node.input_value(0).get_node()
        assert node.get_type_name() == "FakeQuantize", conv.get_friendly_name()
    fp32 = artifacts["fp32"][0].with_suffix(".bin").stat().st_size
    assert path.with_suffix(".bin").stat().st_size < 0.4 * fp32
    assert artifacts["fp16"][0].with_suffix(".bin").stat().st_size < 0.6 * fp32


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="int8 kernel names are those of the x86 CPU plugin")
def test_int8_runs_int8_kernels_on_x86(convert_setup, artifacts):
    import openvino as ov

    _, spec, _, _, inputs, _ = convert_setup
    path, fields = artifacts["int8"]
    runner = OpenVINORunner(path, spec, fields, threads=1)
    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(path)), "CPU",
                                  dict(runner.compile_config(), PERF_COUNT=True))
    req = compiled.create_infer_request()
    req.infer(list(inputs[0]))
    kernels = [p.exec_type for p in req.profiling_info if p.node_type == "Convolution"]
    assert len(kernels) == 8 and all("i8" in k.lower() for k in kernels), kernels


def test_percentile_calibration_and_unsupported_method(convert_setup, tmp_path):
    from edgecolor.converters.openvino import convert

    model, spec, cs, ls, inputs, ref = convert_setup
    path = tmp_path / "p.xml"
    fields = convert(model, spec, "int8", path, ConvertOptions(calib=cs,
                                                               calib_method="percentile"))
    assert fields["converter"]["range_estimator"] == "MEAN_QUANTILE"
    with OpenVINORunner(path, spec, fields, threads=1) as runner:
        assert colorized_psnr(spec, ls, ref, [runner.infer(x) for x in inputs]) >= 30.0
    with pytest.raises(ValueError, match="entropy"):
        convert(model, spec, "int8", tmp_path / "e.xml",
                ConvertOptions(calib=cs, calib_method="entropy"))
    with pytest.raises(ValueError, match="calibration images"):
        convert(model, spec, "int8", tmp_path / "e.xml", ConvertOptions())
    assert not (tmp_path / "e.xml").exists() and not (tmp_path / "e.bin").exists()


def test_two_input_model(two_input64, calib_dir, eval_images, tmp_path):
    from edgecolor.converters.openvino import convert

    model, spec = two_input64
    cs = CalibrationSet.from_folder(calib_dir, spec, size=None, holdout=0)
    ls = [lightness(read_rgb(p)) for p in eval_images[:3]]
    inputs = [spec.make_inputs(l) for l in ls]
    ref = [model([x[0], x[1]]).numpy() for x in inputs]
    for prec in ("fp32", "int8"):
        path = tmp_path / f"two-openvino-{prec}.xml"
        fields = convert(model, spec, prec, path, ConvertOptions(calib=cs))
        assert [t["shape"] for t in fields["inputs"]] == [[1, 64, 64, 1], [1, 32, 32, 1]]
        with OpenVINORunner(path, spec, fields, threads=1) as runner:
            outs = [runner.infer(x) for x in inputs]
        if prec == "fp32":
            assert max(float(np.max(np.abs(o - r))) for o, r in zip(outs, ref, strict=True)) < 1e-3
        else:
            assert colorized_psnr(spec, ls, ref, outs) >= 30.0


def test_missing_device_is_a_clear_error(convert_setup, artifacts):
    _, spec, *_ = convert_setup
    path, fields = artifacts["fp16"]
    runner = OpenVINORunner(path, spec, fields, device="NPU")
    import openvino as ov

    if any(d.startswith("NPU") for d in ov.Core().available_devices):
        pytest.skip("this host has an NPU")
    with pytest.raises(ValueError, match="NPU.*not present"):
        runner.activate()
