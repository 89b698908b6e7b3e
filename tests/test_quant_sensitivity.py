"""Per-layer sensitivity, layer mapping, risk checks and `edgecolor analyze`.

The test model is baseline-like (64x64, 8 channels) with a block "spike" of two 1x1
convolutions: the first multiplies channel 0 by GAIN, the second divides it back. The FP32
function is unchanged, but a per-tensor int8 scale on the tensor between them is set by
channel 0 and flattens every other channel: the one layer int8 cannot take.

Ground truth for the validation images is generated (see :func:`make_truth_folder`): on
natural photos a random-weight model is worse than a gray image, so quantization noise can
move its PSNR either way; with the FP32 colorization plus seeded color noise as the truth,
FP32 has a meaningful PSNR and quantization error lowers it.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecolor.spec import InputSpec, ModelSpec, OutputSpec

pytestmark = pytest.mark.slow

GAIN = 1000.0
SIZE = 64


def spiky_spec(input_size=(SIZE, SIZE), **_) -> ModelSpec:
    """Spec of the test models: baseline-like input/output."""
    return ModelSpec("spiky", (InputSpec("l", tuple(input_size), "l/50-1", 1),),
                     OutputSpec("ab", "ab_tanh", 128.0))


def build_spiky(input_size=(SIZE, SIZE), spikes: int = 1, gain: float = GAIN, width: int = 8,
                seed: int = 0, **_):
    """-> (keras.Model, spec): conv1, conv2, spike, conv3, [spike2], up1, conv4, ab."""
    from edgecolor._tf import import_tf

    _, keras = import_tf()
    L = keras.layers
    keras.utils.set_random_seed(seed)
    spec = spiky_spec(input_size)
    h, w = spec.input_size
    c = width

    def block(channels: int, name: str):
        return keras.Sequential([L.Conv2D(channels, 1, activation="relu", name=f"{name}_up"),
                                 L.Conv2D(channels, 1, name=f"{name}_down")], name=name)

    inp = L.Input((h, w, 1), batch_size=1, name="l")
    x = L.Conv2D(c, 3, padding="same", activation="relu", name="conv1")(inp)
    x = L.Conv2D(c, 3, strides=2, padding="same", activation="relu", name="conv2")(x)
    blocks = [block(c, "spike")]
    x = blocks[0](x)
    x = L.Conv2D(2 * c, 3, padding="same", activation="relu", name="conv3")(x)
    if spikes > 1:
        blocks.append(block(2 * c, "spike2"))
        x = blocks[1](x)
    x = L.UpSampling2D(name="up1")(x)
    x = L.Conv2D(c, 3, padding="same", activation="relu", name="conv4")(x)
    out = L.Conv2D(2, 3, padding="same", activation="tanh", name="ab")(x)
    model = keras.Model(inp, out, name="spiky")
    for blk in blocks:
        n = blk.layers[0].get_weights()[1].shape[0]
        up = np.eye(n, dtype=np.float32)[None, None].copy()
        down = up.copy()
        up[..., 0, 0] *= gain
        down[..., 0, 0] /= gain
        blk.layers[0].set_weights([up, np.zeros(n, np.float32)])
        blk.layers[1].set_weights([down, np.zeros(n, np.float32)])
    k, b = model.get_layer("ab").get_weights()
    model.get_layer("ab").set_weights([k * 3.0, b])  # visible colors (|ab| ~ 5)
    return model, spec


def make_truth_folder(model, spec, folder: Path, size: int = 96, noise: float = 4.0,
                      seed: int = 0) -> Path:
    """PNG ground truth: each bundled calibration photo's L (resized to ``size``) with the
    FP32 model's ab plus seeded Gaussian noise of ``noise`` ab units."""
    from edgecolor.color import combine, lightness
    from edgecolor.imageio import read_rgb, write_image
    from edgecolor.samples import sample_images

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for p in sample_images("calib"):
        rgb = cv2.resize(read_rgb(p), (size, size), interpolation=cv2.INTER_AREA)
        l_full = lightness(rgb)
        ab = spec.decode(model(spec.make_inputs(l_full)[0], training=False).numpy())
        ab = cv2.resize(ab, (size, size), interpolation=cv2.INTER_LINEAR)
        ab = ab + rng.normal(0.0, noise, ab.shape).astype(np.float32)
        write_image(folder / f"{p.stem}.png", np.round(combine(l_full, ab) * 255).astype(np.uint8))
    return folder


def register_test_model(name: str, spikes: int, gain: float):
    """Register a spiky builder in the zoo (CLI tests); returns a function that removes it."""
    from edgecolor.zoo import register_model, registry

    register_model(name, spec=spiky_spec)(
        lambda input_size=(SIZE, SIZE), batch_size=None, **_: build_spiky(
            input_size, spikes=spikes, gain=gain))
    return lambda: registry._REGISTRY.pop(name, None)


@pytest.fixture(scope="module")
def spiky(tmp_path_factory):
    """(model, spec, CalibrationSet with 2 held-out images, truth folder)."""
    from edgecolor.calibration import CalibrationSet

    model, spec = build_spiky()
    folder = make_truth_folder(model, spec, tmp_path_factory.mktemp("truth"))
    return model, spec, CalibrationSet.from_folder(folder, spec, size=None, holdout=2), folder


@pytest.fixture(scope="module")
def validator(spiky):
    from edgecolor.quant.validation import ValidationSet, Validator, keras_infer

    model, spec, calib, _ = spiky
    return Validator(ValidationSet.from_calibration(calib), keras_infer(model, spec))


LAYERS = ["conv1", "conv2", "spike", "conv3", "up1", "conv4", "ab"]


def test_layer_scopes_name_every_keras_layer(spiky):
    from edgecolor.converters.float_layers import layer_of, layer_scopes

    model, spec, _, _ = spiky
    scopes = layer_scopes(model, spec)
    assert sorted(set(scopes.values())) == sorted(LAYERS)
    # fused TFLite names and nested blocks map to the top-level layer
    spike_scope = next(k for k, v in scopes.items() if v == "spike")
    assert layer_of(f"spiky_1/{spike_scope}/spike_up_1/Relu;spiky_1/{spike_scope}/x",
                    scopes) == "spike"
    assert layer_of("Identity", scopes) is None


@pytest.mark.parametrize("fmt,precision", [("tflite", "int8"), ("onnx", "int8-cpu")])
def test_sensitivity_ranks_the_range_broken_block_first(spiky, validator, fmt, precision):
    from edgecolor.quant.backends import make_backend
    from edgecolor.quant.sensitivity import analyze_backend

    model, spec, calib, _ = spiky
    backend = make_backend(fmt, model, spec, calib, precision)
    # the block's two convolutions are both mapped to it
    assert len(backend.nodes_for(["spike"])) >= 2
    result = analyze_backend(backend, validator)
    by_name = {s.layer: s for s in result.layers}
    assert result.ranking()[0] == "spike"
    spike = by_name["spike"]
    others = [s for s in result.layers if s.layer != "spike"]
    # alone, the block costs >= 15 dB more than any other layer; keeping it float recovers it
    assert spike.only_psnr + 15 < min(s.only_psnr for s in others)
    assert spike.all_but_psnr > result.full.psnr_vs_fp32 + 15
    assert result.full.dpsnr > 1.0 and spike.all_but_dpsnr < 0.3
    # the backend's own layer-wise tool points at the same block
    if fmt == "tflite":
        assert spike.stats["rmse/scale"] > 2 * max(s.stats.get("rmse/scale", 0) for s in others)
    else:
        assert spike.stats["act_sqnr_db"] + 10 < by_name["conv1"].stats["act_sqnr_db"]


def test_large_models_probe_only_the_preselected_layers(spiky, validator):
    # each probe is a full quantization: a 400-layer DenseNet U-Net would take hours, so
    # only max_probes layers are probed, chosen from the FP32 activation ranges
    from edgecolor.quant.backends import make_backend
    from edgecolor.quant.sensitivity import analyze_backend, preselect, variant_count

    model, spec, calib, _ = spiky
    assert preselect(model, LAYERS, validator.vset.inputs, 1) == ["spike"]
    backend = make_backend("tflite", model, spec, calib, "int8")
    result = analyze_backend(backend, validator, modes=("all_but",), max_probes=2)
    assert result.layer_count == len(LAYERS) and len(result.layers) == 2
    assert result.preselected["probed"] == 2 and result.preselected["of"] == len(LAYERS)
    assert result.ranking()[0] == "spike"
    assert result.layers[0].all_but_psnr > result.full.psnr_vs_fp32 + 15
    assert variant_count(len(LAYERS), ("all_but",), max_probes=2) == 3


def test_risks_flag_the_broken_range_and_the_architecture(spiky):
    from edgecolor.quant.risks import SPREAD_RATIO, check_risks

    model, spec, calib, _ = spiky
    risks = check_risks(model, spec, calib)
    wide = [r for r in risks if r.kind == "wide_range"]
    assert {r.layer for r in wide} == {"spike"}
    assert wide[0].severity == "high" and wide[0].value > SPREAD_RATIO
    assert "spike_up" in wide[0].detail
    kinds = {(r.layer, r.kind) for r in risks}
    assert ("up1", "resize") in kinds and ("ab", "tanh_output") in kinds
    tanh = next(r for r in risks if r.kind == "tanh_output")
    assert tanh.value == pytest.approx(2 * 128 / 255, abs=1e-3)


def test_structural_risks_flag_conv_transpose_and_313_softmax():
    from edgecolor._tf import import_tf
    from edgecolor.quant.risks import structural_risks

    _, keras = import_tf()
    L = keras.layers
    inp = L.Input((16, 16, 1), batch_size=1)
    x = L.Conv2DTranspose(4, 3, strides=2, padding="same", name="deconv")(inp)
    x = L.UpSampling2D(interpolation="bilinear", name="up")(x)
    x = L.Conv2D(313, 1, activation="softmax", name="bins")(x)
    model = keras.Model(inp, x)
    spec = ModelSpec("m", (InputSpec("l", (16, 16), "l-50", 1),),
                     OutputSpec("ab", "ab_bins"))
    risks = structural_risks(model, spec)
    found = {(r.layer, r.kind, r.severity) for r in risks}
    assert ("deconv", "conv_transpose", "high") in found
    assert ("up", "resize", "medium") in found  # bilinear: Q/DQ fusion risk
    assert ("bins", "softmax_head", "high") in found
    # the deconvolution risk is TensorRT's: a TFLite or int8-cpu artifact does not report it
    from edgecolor.quant.risks import conversion_actions

    for fmt, precision, reported in [("onnx", "int8", True), ("onnx", "int8-cpu", False),
                                     ("tflite", "int8", False), ("openvino", "int8", False)]:
        kinds = {r.kind for r in conversion_actions(risks, [], fmt, 0.0, 0.1, precision)}
        assert ("conv_transpose" in kinds) == reported and "softmax_head" in kinds


@pytest.fixture(scope="module")
def registered(spiky, tmp_path_factory):
    """The spiky model in the zoo as "spiky-test", its weights saved to a file."""
    model, _, _, folder = spiky
    weights = tmp_path_factory.mktemp("w") / "spiky.weights.h5"
    model.save_weights(weights)
    remove = register_test_model("spiky-test", spikes=1, gain=GAIN)
    yield weights, folder
    remove()


def test_analyze_cli_writes_ranked_table_json_and_chart(registered, tmp_path):
    from click.testing import CliRunner

    from edgecolor.cli import cli

    weights, folder = registered
    out = tmp_path / "analysis"
    result = CliRunner().invoke(cli, [
        "analyze", "--model", "spiky-test", "--weights", str(weights), "--imgsz", str(SIZE),
        "--calib", str(folder), "--holdout", "2", "--format", "tflite", "-o", str(out)])
    assert result.exit_code == 0, result.output
    table = [line.split() for line in result.output.splitlines()]
    assert ["1", "spike", "Sequential"] == next(r[:3] for r in table if r[:1] == ["1"])
    data = json.loads((out / "spiky-test-sensitivity.json").read_text())
    (backend,) = data["backends"]
    assert [s["layer"] for s in backend["layers"]][0] == "spike"
    assert data["validation"]["images"] == 2
    assert any(r["kind"] == "wide_range" and "rank 1/" in r["action"] for r in data["risks"])
    png = cv2.imread(str(out / "spiky-test-sensitivity.png"))
    assert png is not None and png.shape[1] == 960
    # the spike's bar (tflite color) is the long one: > 300 px of it on one row
    blue = np.all(png == (180, 110, 30), axis=-1)
    assert blue.sum(axis=1).max() > 300
    # every all-int8 / all-but variant timed; the Pareto front holds the most faithful one
    variants = backend["variants"]
    assert len(variants) == 1 + len(backend["layers"]) and all(v["ms"] > 0 for v in variants)
    best = max(variants, key=lambda v: v["psnr_vs_fp32"])
    assert best["label"] == "tflite float [spike]" and best in backend["pareto"]
    assert "Pareto front, latency vs PSNR vs FP32" in result.output
    pareto = cv2.imread(str(out / "spiky-test-pareto.png"))
    assert pareto is not None and pareto.shape[:2] == (440, 720)


def test_analyze_cli_rejects_an_unknown_format(tmp_path):
    from click.testing import CliRunner

    from edgecolor.cli import cli

    result = CliRunner().invoke(cli, ["analyze", "--format", "tensorrt", "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert "tflite, openvino, onnx" in result.output


def test_concat_of_far_apart_ranges_is_flagged(rng):
    # koalarization's fusion: encoder features (0..0.05) joined with logits (±2.6)
    from edgecolor._tf import import_tf
    from edgecolor.quant.risks import activation_ranges, concat_risks

    _, keras = import_tf()
    L = keras.layers
    inp = L.Input((8, 8, 1), batch_size=1)
    small = L.Conv2D(4, 1, name="small", kernel_initializer=keras.initializers.Constant(0.01))(inp)
    big = L.Conv2D(4, 1, name="big", kernel_initializer=keras.initializers.Constant(1.0))(inp)
    near = L.Conv2D(4, 1, name="near", kernel_initializer=keras.initializers.Constant(0.5))(inp)
    out = L.Concatenate(name="far")([small, big])
    out2 = L.Concatenate(name="close")([big, near])
    model = keras.Model(inp, [out, out2])
    samples = [[rng.uniform(-1, 1, (1, 8, 8, 1)).astype(np.float32)] for _ in range(2)]
    risks = concat_risks(model, activation_ranges(model, samples))
    assert [(r.layer, r.kind, r.severity) for r in risks] == [("far", "concat_ranges", "high")]
    assert risks[0].value == pytest.approx(100, rel=0.01) and "small" in risks[0].detail


def build_joined(seed: int = 0):
    """A small U-Net-like model: two branches (``skip``, ``wide``) joined by a Concatenate
    (``join``) read by ``head``; -> (keras.Model, spec)."""
    from edgecolor._tf import import_tf

    _, keras = import_tf()
    L = keras.layers
    keras.utils.set_random_seed(seed)
    spec = spiky_spec()
    inp = L.Input((SIZE, SIZE, 1), batch_size=1, name="l")
    x = L.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inp)
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv2")(x)
    a = L.Conv2D(8, 1, activation="relu", name="skip")(x)
    b = L.Conv2D(8, 1, activation="relu", name="wide")(x)
    j = L.Concatenate(name="join")([a, b])
    h = L.Conv2D(8, 1, activation="relu", name="head")(j)
    h = L.UpSampling2D(name="up1")(h)
    out = L.Conv2D(2, 3, padding="same", activation="tanh", name="ab")(h)
    return keras.Model(inp, out, name="joined"), spec


def test_joins_and_output_head_are_always_probed_and_grouped(calib_dir):
    """A large model's ranking probes only MAX_PROBES layers: the joins and the output head
    are always among them (a U-Net's int8 error sits where skips join, which activation
    ranges do not show), and a join is probed with the layers that read it."""
    from edgecolor.calibration import CalibrationSet
    from edgecolor.quant.sensitivity import (
        BackendSensitivity,
        LayerSensitivity,
        preselect,
        probe_groups,
        structural,
    )
    from edgecolor.quant.validation import Score

    model, spec = build_joined()
    assert structural(model) == ["ab", "join"]  # head first, then joins from the output back
    assert probe_groups(model) == {"join": ["skip", "wide", "join", "head"]}
    names = ["conv1", "conv2", "skip", "wide", "join", "head", "up1", "ab"]
    calib = CalibrationSet.from_folder(calib_dir, spec, size=4, holdout=0)
    picked = preselect(model, names, calib.samples, 3, always=structural(model))
    assert len(picked) == 3 and {"join", "ab"} <= set(picked)
    assert preselect(model, names, calib.samples, 1, always=structural(model)) == ["ab"]
    assert picked == [n for n in names if n in picked]  # model order
    plain = preselect(model, names, calib.samples, 3)
    assert "join" not in plain or "ab" not in plain  # ranges alone miss one of them
    # a probed group ranks as one: a prefix of the ranking keeps the join and its reader
    full = Score(psnr=20.0, psnr_vs_fp32=35.0, dpsnr=1.0)
    group = ["skip", "wide", "join", "head"]
    layers = [LayerSensitivity("join", "Concatenate", group, all_but_psnr=45.0),
              LayerSensitivity("ab", "Conv2D", all_but_psnr=36.0)]
    ranked = BackendSensitivity("tflite", "int8", "minmax", "t", 20.0, full, layers)
    assert ranked.ranking() == [*group, "ab"]
    # edgecolor analyze names the group on the join's row
    from edgecolor.quant.report import ranked_table
    from edgecolor.quant.sensitivity import SensitivityReport

    text = ranked_table(SensitivityReport("joined", (SIZE, SIZE), {"images": 2}, {}, [ranked]))
    row = next(line for line in text.splitlines() if " join " in line)
    assert "join (+ skip, wide, head)" in row and "45.0" in row


def test_a_layer_the_backend_cannot_keep_float_is_not_probed_and_the_rest_still_rank(
        calib_dir):
    """TFLite keeps MAX_POOL_2D int8 whatever its denylist says (the converter refuses such
    a float set): that probe is recorded as not probed and ranked last, out of the ranking
    the budget uses; every other layer is still probed (koalarization's ranking died on
    its last max pooling before)."""
    from edgecolor._tf import import_tf
    from edgecolor.calibration import CalibrationSet
    from edgecolor.quant.backends import make_backend
    from edgecolor.quant.report import ranked_table
    from edgecolor.quant.sensitivity import SensitivityReport, analyze_backend
    from edgecolor.quant.validation import ValidationSet, Validator, keras_infer

    _, keras = import_tf()
    L = keras.layers
    keras.utils.set_random_seed(0)
    spec = spiky_spec()
    inp = L.Input((SIZE, SIZE, 1), batch_size=1, name="l")
    x = L.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inp)
    x = L.MaxPooling2D(name="pool")(x)
    x = L.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
    x = L.UpSampling2D(name="up1")(x)
    out = L.Conv2D(2, 3, padding="same", activation="tanh", name="ab")(x)
    model = keras.Model(inp, out)
    calib = CalibrationSet.from_folder(calib_dir, spec, size=None, holdout=2)
    validator = Validator(ValidationSet.from_calibration(calib), keras_infer(model, spec))
    result = analyze_backend(make_backend("tflite", model, spec, calib, "int8"), validator,
                             modes=("all_but",))
    assert [s.layer for s in result.layers][-1] == "pool"
    pool = result.layers[-1]
    assert "keeps pool in int8" in pool.error and pool.all_but_psnr is None
    assert all(s.error is None and s.all_but_psnr is not None for s in result.layers[:-1])
    assert sorted(result.ranking()) == ["ab", "conv1", "conv2", "up1"]
    text = ranked_table(SensitivityReport("pooled", (SIZE, SIZE), {"images": 2}, {},
                                          [result]))
    assert "not probed: ValueError: tflite: the quantizer keeps pool" in text


def test_residual_joins_are_the_adds_onto_their_own_branch_point():
    """A skip that adds a branch back onto the tensor it branched from is a residual join
    (Add or a custom layer alike, with the activation reading it); a concatenation and an
    add of two sibling branches are not."""
    from edgecolor._tf import import_tf
    from edgecolor.quant.sensitivity import residual_joins

    _, keras = import_tf()
    L = keras.layers
    inp = L.Input((SIZE, SIZE, 1), batch_size=1, name="l")
    x = L.Conv2D(8, 3, padding="same", activation="relu", name="stem")(inp)
    r = L.Conv2D(8, 3, padding="same", name="branch1")(x)
    x = L.Activation("relu", name="res1_ac")(L.Add(name="res1")([x, r]))
    r = L.Conv2D(8, 1, name="branch2")(L.Conv2D(8, 1, activation="relu", name="pre2")(x))
    x = L.Add(name="res2")([r, x])  # skip second, no activation (MobileNetV2's blocks)
    a = L.Conv2D(8, 1, name="sib_a")(x)
    b = L.Conv2D(8, 1, name="sib_b")(x)
    s = L.Add(name="siblings")([a, b])  # neither input feeds the other
    c = L.Concatenate(name="concat")([s, x])  # skip, but wider: no residual join
    out = L.Conv2D(2, 3, padding="same", activation="tanh", name="ab")(c)
    model = keras.Model(inp, out)
    assert residual_joins(model) == ["res1", "res1_ac", "res2"]
