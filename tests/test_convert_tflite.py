"""TFLite: every precision converts (real TFLiteConverter) and runs (real interpreter)."""

from __future__ import annotations

import numpy as np
import pytest
from checks import colorized_psnr  # noqa: E402

from edgecolor.calibration import CalibrationSet
from edgecolor.color import lightness
from edgecolor.converters.common import ConvertOptions
from edgecolor.imageio import read_rgb
from edgecolor.runtimes.tflite import TFLiteRunner, dequantize, make_interpreter, quantize

pytestmark = pytest.mark.slow
PRECISIONS = ("fp32", "fp16", "dynamic", "int8", "int16x8")
MIN_PSNR = {"fp16": 40.0, "dynamic": 35.0, "int8": 30.0, "int16x8": 40.0}


@pytest.fixture(scope="module")
def artifacts(convert_setup, tmp_path_factory):
    """precision -> (path, manifest fields) for all five precisions."""
    from edgecolor.converters.tflite import convert

    model, spec, cs, *_ = convert_setup
    out = tmp_path_factory.mktemp("tflite")
    made = {}
    for prec in PRECISIONS:
        path = out / f"baseline-tflite-{prec}.tflite"
        made[prec] = path, convert(model, spec, prec, path, ConvertOptions(calib=cs))
    return made


@pytest.mark.parametrize("precision", PRECISIONS)
def test_every_precision_runs_close_to_keras(convert_setup, artifacts, precision):
    _, spec, _, ls, inputs, ref = convert_setup
    path, fields = artifacts[precision]
    with TFLiteRunner(path, spec, fields, threads=1) as runner:
        outs = [runner.infer(x) for x in inputs]
    assert outs[0].shape == (1, 64, 64, 2) and outs[0].dtype == np.float32
    err = max(float(np.max(np.abs(o - r))) for o, r in zip(outs, ref, strict=True))
    if precision == "fp32":
        assert err <= 1e-3
    else:
        assert colorized_psnr(spec, ls, ref, outs) >= MIN_PSNR[precision]
        assert err > 0  # really quantized, not a copy of the float model


def test_full_integer_io_and_sizes(artifacts):
    fp32, _ = artifacts["fp32"]
    path, fields = artifacts["int8"]
    (inp,), (out,) = fields["inputs"], fields["outputs"]
    assert inp["dtype"] == "int8" and out["dtype"] == "int8"
    assert inp["name"] == "l" and inp["shape"] == [1, 64, 64, 1]
    assert 0 < inp["quant"]["scale"] < 0.02 and -128 <= inp["quant"]["zero_point"] <= 127
    assert out["quant"]["scale"] == pytest.approx(1 / 128, rel=0.05)  # tanh range
    assert path.stat().st_size < 0.4 * fp32.stat().st_size
    i16 = artifacts["int16x8"][1]
    assert i16["inputs"][0]["dtype"] == "int16" and i16["inputs"][0]["quant"]["zero_point"] == 0
    assert artifacts["fp16"][1]["inputs"][0]["quant"] is None
    assert artifacts["dynamic"][0].stat().st_size < 0.4 * fp32.stat().st_size


def test_upsampling_exports_as_one_resize(artifacts, convert_setup):
    from edgecolor.converters.common import upsampling_as_resize

    model, _, _, _, inputs, ref = convert_setup
    rewritten = upsampling_as_resize(model)
    assert rewritten is not model
    np.testing.assert_array_equal(rewritten(inputs[0][0]).numpy(), ref[0])  # bit-identical
    interp = make_interpreter(model_path=str(artifacts["int8"][0]))
    ops = [d["op_name"] for d in interp._get_ops_details()]
    assert ops.count("RESIZE_NEAREST_NEIGHBOR") == 2 and "TILE" not in ops


def test_quantize_helpers_clip_and_round_trip():
    d = {"dtype": np.int8, "quantization": (0.01, -3)}
    x = np.array([-5.0, -1.0, 0.0, 0.5, 9.0], np.float32)
    q = quantize(x, d)
    assert q.dtype == np.int8 and q[0] == -128 and q[-1] == 127 and q[2] == -3
    np.testing.assert_allclose(dequantize(q, d)[1:4], x[1:4], atol=0.006)
    f = {"dtype": np.float32, "quantization": (0.0, 0)}
    assert quantize(x, f) is not None and dequantize(x, f).dtype == np.float32


def test_two_input_model_keeps_spec_order(two_input64, calib_dir, eval_images, tmp_path):
    from edgecolor.converters.tflite import convert

    model, spec = two_input64
    cs = CalibrationSet.from_folder(calib_dir, spec, size=None, holdout=0)
    ls = [lightness(read_rgb(p)) for p in eval_images[:3]]
    inputs = [spec.make_inputs(l) for l in ls]
    ref = [model([x[0], x[1]]).numpy() for x in inputs]
    for prec in ("fp32", "int8"):
        path = tmp_path / f"two-tflite-{prec}.tflite"
        fields = convert(model, spec, prec, path, ConvertOptions(calib=cs))
        assert [(t["name"], t["shape"]) for t in fields["inputs"]] == [
            ("l", [1, 64, 64, 1]), ("l_small", [1, 32, 32, 1])]
        with TFLiteRunner(path, spec, fields, threads=1) as runner:
            outs = [runner.infer(x) for x in inputs]
        if prec == "fp32":
            assert max(float(np.max(np.abs(o - r))) for o, r in zip(outs, ref, strict=True)) < 1e-3
        else:
            assert colorized_psnr(spec, ls, ref, outs) >= 30.0


def test_calibrated_precisions_need_data_and_minmax(convert_setup, tmp_path):
    from edgecolor.converters.tflite import convert

    model, spec, cs, *_ = convert_setup
    with pytest.raises(ValueError, match="calibration images"):
        convert(model, spec, "int8", tmp_path / "a.tflite", ConvertOptions())
    with pytest.raises(ValueError, match="minmax"):
        convert(model, spec, "int8", tmp_path / "a.tflite",
                ConvertOptions(calib=cs, calib_method="entropy"))
    with pytest.raises(ValueError, match="unknown precision"):
        convert(model, spec, "int4", tmp_path / "a.tflite", ConvertOptions())
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_float_transposed_conv_really_runs_in_float(calib_dir, tmp_path):
    """TFLite's quantizer ignores ``denylisted_nodes`` for TRANSPOSE_CONV (TF 2.20): a
    transposed convolution asked to stay float must run in float (kept by op type), and the
    manifest must say that every TRANSPOSE_CONV was widened."""
    from edgecolor._tf import import_tf
    from edgecolor.converters.tflite import convert
    from edgecolor.spec import InputSpec, ModelSpec, OutputSpec

    _, keras = import_tf()
    L = keras.layers
    keras.utils.set_random_seed(0)
    spec = ModelSpec("deconv", (InputSpec("l", (32, 32), "l/50-1", 1),),
                     OutputSpec("ab", "ab_tanh", 128.0))
    inp = L.Input((32, 32, 1), batch_size=1, name="l")
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="down")(inp)
    x = L.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu", name="up")(x)
    out = L.Conv2D(2, 1, activation="tanh", name="ab")(x)
    model = keras.Model(inp, out)
    cs = CalibrationSet.from_folder(calib_dir, spec, size=8, holdout=0)
    path = tmp_path / "deconv-int8.tflite"
    fields = convert(model, spec, "int8", path,
                     ConvertOptions(calib=cs, extra={"float_layers": ["up"]}))
    interp = make_interpreter(model_path=str(path))
    kinds = {}
    for op in interp._get_ops_details():
        out_dtype = interp._get_tensor_details(op["outputs"][0], 0)["dtype"]
        kinds.setdefault(op["op_name"], set()).add(np.dtype(out_dtype).name)
    assert kinds["TRANSPOSE_CONV"] == {"float32"}
    assert "int8" in kinds["CONV_2D"]  # the rest is still quantized
    assert fields["converter"]["float_ops"] == ["TRANSPOSE_CONV"]
    assert any("every TRANSPOSE_CONV op runs in float" in n for n in fields["notes"])
