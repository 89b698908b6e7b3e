"""Calibration coverage (held-out photos beyond the calibration ranges), cross-layer
equalization and bias correction.

The coverage model: a ``gate`` layer (a 3x3 Laplacian, relu) that only fires on fine texture
feeds ``gmix`` and the ``sum`` before the tanh output; ``body`` / ``mix`` / ``crop`` carry
an almost constant signal. The calibration photos are smooth (the gate stays below 0.6),
the held-out photos have a fine checkerboard patch (the gate reaches ~8): int8 calibrated
on the smooth photos clips the gate path on the held-out ones. Both sets span the whole
input range (black to white), so only the texture path is out of range.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecolor.spec import InputSpec, ModelSpec, OutputSpec

pytestmark = pytest.mark.slow

SIZE = 32
LAPLACIAN = np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], np.float32)


def _spec() -> ModelSpec:
    return ModelSpec("gated", (InputSpec("l", (SIZE, SIZE), "l/50-1", 1),),
                     OutputSpec("ab", "ab_tanh", 128.0))


def build_gated():
    """-> (keras.Model, spec): body, mix, crop, gate, gmix, sum, ab (see the module doc)."""
    from edgecolor._tf import import_tf

    _, keras = import_tf()
    L = keras.layers
    inp = L.Input((SIZE, SIZE, 1), batch_size=1, name="l")
    body = L.Conv2D(4, 1, activation="relu", name="body")(inp)
    mix = L.Conv2D(2, 1, name="mix")(body)
    crop = L.Cropping2D(1, name="crop")(mix)
    gate = L.Conv2D(1, 3, activation="relu", name="gate")(inp)  # valid: no border response
    gmix = L.Conv2D(2, 1, name="gmix")(gate)
    total = L.Add(name="sum")([crop, gmix])
    out = L.Activation("tanh", name="ab")(total)
    model = keras.Model(inp, out, name="gated")
    model.get_layer("body").set_weights([np.full((1, 1, 1, 4), 0.3, np.float32),
                                         np.full(4, 2.0, np.float32)])
    mk = np.zeros((1, 1, 4, 2), np.float32)
    mk[..., 0], mk[..., 1] = 0.25, -0.25
    model.get_layer("mix").set_weights([mk, np.zeros(2, np.float32)])
    model.get_layer("gate").set_weights([LAPLACIAN[:, :, None, None],
                                         np.zeros(1, np.float32)])
    model.get_layer("gmix").set_weights([np.array([[[[-0.3, 0.3]]]], np.float32),
                                         np.zeros(2, np.float32)])
    return model, _spec()


def _photos(folder: Path, n: int, texture: bool, seed: int) -> Path:
    """Smooth gray photos stretched to black..white, optionally with a 2 px checkerboard."""
    from edgecolor.imageio import write_image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        small = rng.uniform(0, 255, (4, 4)).astype(np.float32)
        img = cv2.resize(small, (48, 48), interpolation=cv2.INTER_CUBIC)
        img = (img - img.min()) / (img.max() - img.min()) * 255.0
        if texture:
            y, x = rng.integers(0, 30, 2)
            img[y:y + 16, x:x + 16] = ((np.indices((16, 16)).sum(0) // 2) % 2) * 255.0
        write_image(folder / f"p{i}.png", np.repeat(img.round().astype(np.uint8)[..., None],
                                                    3, axis=-1))
    return folder


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    """(model, spec, CalibrationSet: smooth photos calibrate, textured photos held out)."""
    from edgecolor.calibration import CalibrationSet

    model, spec = build_gated()
    root = tmp_path_factory.mktemp("coverage")
    cal = CalibrationSet.from_folder(_photos(root / "smooth", 8, False, 0), spec, size=None,
                                     holdout=0)
    held = CalibrationSet.from_folder(_photos(root / "texture", 3, True, 1), spec, size=None,
                                      holdout=0)
    cal.holdout_paths, cal.holdout = list(held.paths), list(held.samples)
    return model, spec, cal


def test_coverage_flags_the_layers_held_out_photos_push_beyond_calibration(gated):
    from edgecolor.quant.risks import COVERAGE_RATIO, calibration_coverage, coverage_risks

    model, _, cal = gated
    cov = {c.layer: c for c in calibration_coverage(model, cal)}
    gate = cov["gate"]
    # smooth photos: the Laplacian stays below 0.6; the checkerboard drives it to ~8
    assert gate.calib_max < 0.6 and gate.holdout_max > 6.0
    assert gate.ratio > 10 and gate.beyond == gate.photos == 3
    for name in ("body", "mix", "crop", "sum", "ab"):  # the near-constant path: ~1x
        assert cov[name].ratio < COVERAGE_RATIO, (name, cov[name])
    risks = coverage_risks(list(cov.values()))
    assert [r.layer for r in risks] == ["gate", "gmix"] or [r.layer for r in risks] == [
        "gmix", "gate"]
    top = next(r for r in risks if r.layer == "gate")
    assert top.kind == "calibration_coverage" and top.severity == "high"
    assert "3 of 3 held-out photos" in top.detail and "x the calibration max" in top.detail
    assert "--calib-method quantile" in top.detail and "float" in top.detail


def test_coverage_is_empty_without_held_out_photos(gated):
    from edgecolor.quant.risks import calibration_coverage

    model, _, cal = gated
    no_holdout = type(cal)(**{**cal.__dict__, "holdout": [], "holdout_paths": []})
    assert calibration_coverage(model, no_holdout) == []


def test_analyze_shows_the_coverage_risk(gated):
    from edgecolor.quant.report import ranked_table
    from edgecolor.quant.sensitivity import analyze

    model, spec, cal = gated
    report = analyze(model, spec, cal, formats=[("onnx", "int8-cpu")], modes=("all_but",),
                     with_stats=False)
    risk = next(r for r in report.risks if r.kind == "calibration_coverage")
    assert risk.layer in ("gate", "gmix") and risk.value > 10
    assert "calibration_coverage" in ranked_table(report)
    assert "gate: calibration_coverage" in ranked_table(report)


def test_budget_tries_the_coverage_layers_in_float_before_ranking(gated, tmp_path):
    from edgecolor.converters.common import ConvertOptions
    from edgecolor.quant.budget import Budget, BudgetedConversion

    model, spec, cal = gated
    conv = BudgetedConversion("tflite", budget=Budget(min_psnr_fp32=35.0),
                              max_float_fraction=0.45, pareto_png=False)
    fields = conv(model, spec, "int8", tmp_path / "gated-tflite-int8.tflite",
                  ConvertOptions(calib=cal))
    q = fields["quantization"]
    plain = q["attempts"][0]
    assert plain["score"]["psnr_vs_fp32"] < 30  # the gate path clipped on the texture
    assert q["strategy"] == "int8 + float layers (calibration coverage)"
    # the flagged layers and the layer that would re-quantize their output
    assert set(q["float_layers"]) == {"gate", "gmix", "sum"}
    assert q["ranking"] is None  # the sensitivity ranking was never needed
    assert q["validation"]["psnr_vs_fp32"] >= 35.0
    check = q["checks"][0]
    assert check["figure"] == "psnr_vs_fp32" and check["held"] and check["margin"] >= 0
    assert q["coverage"][0]["layer"] in ("gate", "gmix") and q["coverage"][0]["ratio"] > 10
    assert any(r["kind"] == "calibration_coverage" and r["layer"] == "gate"
               and r["action"].startswith("kept in float") for r in fields["risks"])


# ----------------------------------------------------------------------- equalization


def _skewed_chain():
    """conv_a (relu) -> maxpool -> nearest up -> conv_b (leaky relu) -> conv_c: channels of
    conv_a's kernel spread over 1000x."""
    from edgecolor._tf import import_tf

    _, keras = import_tf()
    L = keras.layers
    keras.utils.set_random_seed(3)
    inp = L.Input((16, 16, 1), batch_size=1, name="l")
    x = L.Conv2D(6, 3, padding="same", activation="relu", name="conv_a")(inp)
    x = L.MaxPooling2D(name="pool")(x)
    x = L.UpSampling2D(name="up")(x)
    x = L.Conv2D(5, 3, padding="same", name="conv_b")(x)
    x = L.LeakyReLU(negative_slope=0.1, name="leaky")(x)
    out = L.Conv2D(2, 1, activation="tanh", name="conv_c")(x)
    model = keras.Model(inp, out)
    k, b = model.get_layer("conv_a").get_weights()
    scale = np.logspace(-1.5, 1.5, 6).astype(np.float32)
    model.get_layer("conv_a").set_weights([k * scale, b * scale + 0.05])
    return model


def test_equalization_keeps_the_fp32_function_and_equalizes_channel_ranges():
    from edgecolor.quant.equalize import equalize, relu_chains

    model = _skewed_chain()
    assert relu_chains(model) == [("conv_a", "conv_b"), ("conv_b", "conv_c")]
    eq, record = equalize(model, sweeps=1)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 16, 16, 1)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(eq(x)), np.asarray(model(x)), atol=1e-4)
    assert [layer.name for layer in eq.layers] == [layer.name for layer in model.layers]
    assert record.layers == ["conv_a->conv_b", "conv_b->conv_c"]
    # the first pair is equalized exactly after one sweep: conv_a's per-output-channel
    # ranges equal conv_b's per-input-channel ranges (before the second pair rescales conv_b)
    before = np.abs(model.get_layer("conv_a").get_weights()[0]).max(axis=(0, 1, 2))
    after = np.abs(eq.get_layer("conv_a").get_weights()[0]).max(axis=(0, 1, 2))
    assert before.max() / before.min() > 500 and after.max() / after.min() < 50
    assert record.detail["channel_range_spread_after"] < record.detail[
        "channel_range_spread_before"]
    assert model.get_layer("conv_a").get_weights()[0].max() == pytest.approx(
        before.max(), rel=1e-6)  # the original model is untouched


def test_equalization_on_the_baseline_is_exact(baseline64):
    from edgecolor.quant.equalize import equalize

    model, spec = baseline64
    eq, record = equalize(model)
    assert len(record.layers) == 7  # conv1 -> ... -> ab, through both upsamplings
    x = np.random.default_rng(1).uniform(-1, 1, (1, *spec.input_size, 1)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(eq(x)), np.asarray(model(x)), atol=1e-4)


def test_chains_stop_at_non_homogeneous_layers():
    from edgecolor._tf import import_tf
    from edgecolor.quant.equalize import relu_chains

    _, keras = import_tf()
    L = keras.layers
    inp = L.Input((8, 8, 1), batch_size=1)
    a = L.Conv2D(4, 3, padding="same", activation="sigmoid", name="sig")(inp)
    b = L.Conv2D(4, 3, padding="same", activation="relu", name="r1")(a)
    c = L.ReLU(max_value=6.0, name="relu6")(b)
    d = L.Conv2D(4, 3, padding="same", activation="relu", name="r2")(c)
    e = L.Conv2D(4, 1, activation="relu", name="fan")(d)
    f = L.Add(name="add")([d, e])  # r2 feeds two layers: not a chain
    out = L.Conv2D(2, 1, name="out")(f)
    assert relu_chains(keras.Model(inp, out)) == []


def test_bias_correction_removes_the_mean_shift_of_int8_weights():
    from edgecolor._tf import import_tf
    from edgecolor.quant.equalize import bias_correct, weight_rounding_error

    _, keras = import_tf()
    L = keras.layers
    keras.utils.set_random_seed(5)
    inp = L.Input((8, 8, 3), batch_size=1)
    out = L.Conv2D(4, 1, name="c")(inp)  # 1x1: no padding border, the mean is exact
    model = keras.Model(inp, out)
    rng = np.random.default_rng(0)
    samples = [[rng.normal(2.0, 0.5, (1, 8, 8, 3)).astype(np.float32)] for _ in range(6)]
    fixed, record = bias_correct(model, samples)
    assert record.layers == ["c"] and record.detail["images"] == 6
    k, b = model.get_layer("c").get_weights()
    kq = k + weight_rounding_error(k)
    _, b_fixed = fixed.get_layer("c").get_weights()
    x = np.concatenate([s[0] for s in samples]).reshape(-1, 3)
    fp32 = (x @ k[0, 0] + b).mean(axis=0)
    plain = (x @ kq[0, 0] + b).mean(axis=0)
    corrected = (x @ kq[0, 0] + b_fixed).mean(axis=0)
    assert np.abs(plain - fp32).max() > 1e-4
    assert np.abs(corrected - fp32).max() < 1e-3 * np.abs(plain - fp32).max() + 1e-7
    np.testing.assert_array_equal(fixed.get_layer("c").get_weights()[0], k)  # W unchanged


def test_photo_maxima_batches_photos_and_falls_back_for_batch_one_models(calib_dir,
                                                                        monkeypatch):
    """photo_maxima runs photos MAXIMA_BATCH at a time: the per-photo maxima are those of
    one photo at a time. A graph that refuses a batch (an exported graph with a fixed batch
    of 1: here the tapped model wrapped to refuse, as ONNX Runtime does) gets every photo
    one at a time."""
    from edgecolor._tf import import_tf
    from edgecolor.calibration import CalibrationSet
    from edgecolor.quant import risks

    _, keras = import_tf()
    L = keras.layers
    inp = L.Input((SIZE, SIZE, 1), name="l")  # any batch size
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="c1")(inp)
    out = L.Conv2D(2, 1, activation="tanh", name="ab")(x)
    free = keras.Model(inp, out)
    calib = CalibrationSet.from_folder(calib_dir, _spec(), size=None, holdout=0)
    samples = calib.samples[:6]
    assert len(samples) == 6
    calls: list[int] = []
    real_tapper = risks._tapper
    refuse_batches = False

    def counting_tapper(model):
        taps, run = real_tapper(model)

        def counted(sample):
            calls.append(len(sample[0]))
            if refuse_batches and len(sample[0]) > 1:
                raise ValueError("fixed batch size 1")
            return run(sample)

        return taps, counted

    monkeypatch.setattr(risks, "_tapper", counting_tapper)
    taps, batched = risks.photo_maxima(free, samples)
    assert calls == [4, 2] and batched.shape == (6, len(taps))
    assert np.all(batched[:, 0] > 0)  # real activations, not zeros
    monkeypatch.setattr(risks, "MAXIMA_BATCH", 1)
    calls.clear()
    _, single = risks.photo_maxima(free, samples)
    assert calls == [1] * 6
    np.testing.assert_allclose(batched, single, rtol=1e-5)

    monkeypatch.setattr(risks, "MAXIMA_BATCH", 4)
    calls.clear()
    refuse_batches = True
    _, fallback = risks.photo_maxima(free, samples)
    assert calls == [4] + [1] * 6  # one refused batch, then one photo at a time
    np.testing.assert_allclose(fallback, single, rtol=1e-5)
