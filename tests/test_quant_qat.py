"""Quantization-aware fine-tuning (edgecolor.quant.qat, ``--qat MINUTES``): a plain model
closer to FP32 once int8, tried by the budget last and scored vs the original FP32 model."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from edgecolor.cli import cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny(calib_dir):
    """(model, spec, CalibrationSet): a seeded, width-reduced baseline at 32 px whose output
    has color (last convolution x20), and the bundled photos (2 held out)."""
    from edgecolor._tf import import_tf
    from edgecolor.calibration import CalibrationSet
    from edgecolor.zoo import create_model

    _, keras = import_tf()
    keras.utils.set_random_seed(0)
    model, spec = create_model("baseline", input_size=32, batch_size=1, weights=None,
                               width=0.25)
    kernel, bias = model.get_layer("ab").get_weights()
    model.get_layer("ab").set_weights([kernel * 20.0, bias])
    return model, spec, CalibrationSet.from_folder(calib_dir, spec, size=None, holdout=2)


def test_qat_lowers_the_distillation_loss_and_returns_a_plain_model(tiny, tmp_path):
    from edgecolor._tf import import_tf
    from edgecolor.quant.qat import qat_finetune

    _, keras = import_tf()
    model, _, calib = tiny
    before = [w.copy() for w in model.get_weights()]
    tuned, record = qat_finetune(model, calib.samples, 0.2, lr=1e-4)
    d = record["detail"]
    assert record["name"] == "qat" and record["layers"][-1] == "ab"
    assert d["steps"] > 10 and d["images"] == len(calib.samples) and d["minutes"] == 0.2
    assert 11 <= d["seconds"] <= 120  # wall-clock bounded (12 s + the loss evaluations)
    # the fake-quantized (int8) model is closer to the original FP32 output than before
    assert d["distill_mse_after"] < 0.9 * d["distill_mse_before"], d
    # the input model is untouched; the result is the same plain architecture
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert [(type(a).__name__, a.name) for a in tuned.layers] == \
        [(type(b).__name__, b.name) for b in model.layers]
    assert all(type(layer).__module__.startswith("keras.") for layer in tuned.layers)
    assert [w.shape for w in tuned.get_weights()] == [w.shape for w in before]
    assert any(not np.array_equal(a, b) for a, b in zip(before, tuned.get_weights(),
                                                        strict=True))
    path = tmp_path / "tuned.keras"
    tuned.save(path)
    keras.models.load_model(path, safe_mode=True)  # no custom layer to deserialize


def test_budget_tries_qat_last_and_scores_it_vs_the_original_fp32(tiny, tmp_path):
    from edgecolor.converters.common import ConvertOptions
    from edgecolor.metrics import PSNR_CAP_DB
    from edgecolor.quant.budget import BudgetedConversion, BudgetError
    from edgecolor.quant.validation import keras_infer

    model, spec, calib = tiny
    out = tmp_path / "tiny-tflite-int8.tflite"
    conv = BudgetedConversion("tflite", min_psnr_fp32=200, ptq=(), adaround=False,
                              max_float_fraction=0.15, timing_runs=2, qat_minutes=0.1)
    with pytest.raises(BudgetError) as err:
        conv(model, spec, "int8", out, ConvertOptions(calib=calib))
    attempts = err.value.attempts
    tiers = [a.tier for a in attempts]
    assert tiers == sorted(tiers) and tiers[-1] == 7  # cost order; QAT last, once
    qat = attempts[-1]
    assert qat.strategy == "int8 + qat" and qat.ptq == "qat" and qat.error is None
    assert [a.ptq for a in attempts].count("qat") == 1
    assert "int16x8" in [a.precision for a in attempts[:-1]]  # every cheaper tier first
    assert qat.line() in str(err.value) and "int8+QAT " in str(err.value)
    rec = qat.to_dict()["ptq_records"][0]["detail"]
    assert rec["minutes"] == 0.1 and rec["steps"] > 0 and rec["images"] == len(calib.samples)
    assert rec["distill_mse_before"] > 0 and rec["distill_mse_after"] > 0
    assert rec["role"].startswith("calibration photos")
    # the reference is the ORIGINAL FP32 model: it scores as identical, the tuned one not
    tuned = conv.shared.models["qat"][0]
    assert conv.validator.score(keras_infer(model, spec)).psnr_vs_fp32 >= PSNR_CAP_DB - 1e-6
    drift = conv.validator.score(keras_infer(tuned, spec)).psnr_vs_fp32
    assert drift < PSNR_CAP_DB - 1
    assert qat.score is not None and qat.score.psnr_vs_fp32 < PSNR_CAP_DB
    # without --qat the same search never fine-tunes; a budget met early never reaches it
    again = BudgetedConversion("tflite", min_psnr_fp32=200, ptq=(), adaround=False,
                               max_float_fraction=0.15, timing_runs=2,
                               validator=conv.validator)
    with pytest.raises(BudgetError) as err:
        again(model, spec, "int8", tmp_path / "b" / out.name, ConvertOptions(calib=calib))
    assert "qat" not in [a.ptq for a in err.value.attempts]
    assert err.value.attempts[-1].precision == "int16x8"
    easy = BudgetedConversion("tflite", min_psnr_fp32=1, ptq=(), adaround=False,
                              timing_runs=2, qat_minutes=0.1, validator=conv.validator)
    fields = easy(model, spec, "int8", tmp_path / "c" / out.name, ConvertOptions(calib=calib))
    assert [a["strategy"] for a in fields["quantization"]["attempts"]] == ["int8"]


def test_qat_simulates_the_folded_batchnorm_grid_and_the_fused_activation(calib_dir):
    """A convolution that only a BatchNormalization reads is quantized by the converters
    after the BN is folded in: QAT fake-quantizes that folded kernel (W * gamma /
    sqrt(var + eps)) per output channel, depthwise included, and measures the 8-bit range
    where int8 holds the tensor, after the BN and the ReLU fused into the convolution."""
    from edgecolor._tf import import_tf
    from edgecolor.calibration import CalibrationSet
    from edgecolor.quant.equalize import _copy
    from edgecolor.quant.qat import (
        LEVELS,
        _fq_model,
        activation_ranges,
        folded_norms,
        qat_finetune,
        quant_points,
    )
    from edgecolor.quant.risks import _TINY
    from edgecolor.zoo import create_model

    _, keras = import_tf()
    keras.utils.set_random_seed(1)
    L = keras.layers
    inp = L.Input((16, 16, 1), batch_size=1)
    x = L.Conv2D(6, 3, padding="same", use_bias=False, name="conv")(inp)
    x = L.BatchNormalization(name="conv_bn")(x)
    x = L.ReLU(6.0, name="conv_relu")(x)
    x = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, use_bias=False,
                          name="dw")(x)
    x = L.BatchNormalization(name="dw_bn")(x)
    x = L.ReLU(6.0, name="dw_relu")(x)
    out = L.Conv2D(2, 1, activation="tanh", name="ab")(x)
    model = keras.Model(inp, out)
    rng = np.random.default_rng(0)
    for bn in ("conv_bn", "dw_bn"):  # stats far from 1: an unfolded grid is off
        layer = model.get_layer(bn)
        n = layer.gamma.shape[0]
        layer.set_weights([rng.uniform(-3, 3, n), rng.normal(0, 1, n),
                           rng.normal(0, 1, n), rng.uniform(0.01, 10, n)])
    assert {k: v.name for k, v in folded_norms(model).items()} == {"conv": "conv_bn",
                                                                    "dw": "dw_bn"}
    assert quant_points(model) == {"conv": "conv_relu", "dw": "dw_relu", "ab": "ab"}
    _, spec = create_model("baseline", input_size=16, batch_size=1, weights=None, width=0.25)
    calib = CalibrationSet.from_folder(calib_dir, spec, size=None, holdout=0)
    ranges = activation_ranges(model, calib.samples[:2])
    assert set(ranges) == {"conv_relu", "dw_relu", "ab"} and ranges["conv_relu"][0] == 0.0
    work = _copy(model)  # _fq_model turns its model's layers into fake-quantizing ones
    fq = _fq_model(work, ranges)
    for name in ("conv", "dw"):
        layer, bn = work.get_layer(name), work.get_layer(f"{name}_bn")
        gamma, _, _, var = (np.asarray(w) for w in bn.get_weights())
        fold = gamma / np.sqrt(var + bn.epsilon)
        kernel = np.asarray(layer.kernel)  # the fake-quantized kernel
        folded = kernel * fold.reshape(kernel.shape[2:] if name == "dw" else (-1,))
        channels = folded.reshape(-1, fold.size)  # kernel dims, then output channels
        steps = channels / (np.abs(channels).max(axis=0) / LEVELS + _TINY)
        np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)  # on the folded grid
    assert any(layer.name == "conv_relu_actfq" for layer in fq.layers)
    tuned, record = qat_finetune(model, calib.samples, 0.05)
    assert record["detail"]["folded_norms"] == ["conv", "dw"] and record["layers"] == [
        "conv", "dw", "ab"]
    assert [type(a).__name__ for a in tuned.layers] == [type(b).__name__
                                                        for b in model.layers]


def _refusal(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: --qat"), result.output
    return errors[0]


def test_cli_refuses_bad_qat_requests_with_one_line(tmp_path):
    out = tmp_path / "out"
    common = ("--target", "x86-cpu", "--format", "tflite", "--precision", "int8", "-o", out)
    assert "number >= 0" in _refusal("convert", *common, "--qat", "-1")
    onnx = tmp_path / "mine.onnx"
    onnx.write_bytes(b"")
    assert "ONNX source" in _refusal("convert", "--model", onnx, *common, "--qat", "1")
    assert "folder not found" in _refusal("convert", *common, "--qat", "1", "--qat-images",
                                          tmp_path / "missing")
    assert "number >= 0" in _refusal("benchmark", "--target", "x86-cpu", "--format",
                                     "tflite", "-o", out, "--qat", "-1")
    assert not out.exists()


def test_python_callers_get_the_same_qat_rules(tmp_path):
    from edgecolor.converters.request import ConvertRequest, ConvertRequestError

    def refused(**kw):
        with pytest.raises(ConvertRequestError) as e:
            ConvertRequest("baseline", "x86-cpu", formats=["tflite"], **kw).resolve()
        assert "\n" not in str(e.value)
        return str(e.value)

    assert "number >= 0" in refused(qat=float("nan"))
    assert "give --qat" in refused(qat_images=tmp_path)
    assert "drop --no-budget" in refused(qat=1, budget=False)
    req = ConvertRequest("baseline", "x86-cpu", formats=["tflite"], qat=0.5,
                         qat_images=tmp_path).resolve()
    assert req.qat == 0.5 and req.rows
    assert ConvertRequest("baseline", "x86-cpu", formats=["tflite"], qat=0).resolve().rows
