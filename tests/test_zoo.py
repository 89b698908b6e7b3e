"""The model zoo: paper configurations, small instances, specs, and the 313-bin machinery."""

from __future__ import annotations

import numpy as np
import pytest

from edgecolor.bins import (
    N_BINS,
    annealed_mean,
    compute_priors,
    load_bins,
    nearest_bins,
    rebalance_weights,
    soft_encode,
    soft_encoded_loss,
)
from edgecolor.spec import OutputSpec
from edgecolor.zoo import create_model, create_spec, get_model_info, list_models

NEW_MODELS = ("koalarization", "eccv16", "pix2pix-mobilenetv2-lab", "pix2pix-mobilenetv2-rgb",
              "pix2pix-densenet121-lab", "pix2pix-densenet121-rgb")

# Small instances for tests: (create_model keywords, expected output (h, w, channels)).
SMALL = {
    "koalarization": (dict(input_size=64, width=0.25, backbone="tiny", backbone_size=64),
                      (64, 64, 2)),
    "eccv16": (dict(input_size=32, width=0.125), (8, 8, 2)),
    "pix2pix-mobilenetv2-lab": (dict(input_size=64, width=0.35), (64, 64, 2)),
    "pix2pix-mobilenetv2-rgb": (dict(input_size=64, width=0.35), (64, 64, 3)),
    "pix2pix-densenet121-lab": (dict(input_size=64, width=0.1), (64, 64, 2)),
    "pix2pix-densenet121-rgb": (dict(input_size=64, width=0.1), (64, 64, 3)),
}

# Parameter counts of the paper-size configurations (weights=None), as counted by Keras.
PAPER_PARAMS = {
    "eccv16": 32_236_324,  # official deploy net incl. BN stats, 313 scales, 313x2 bin centers
    "koalarization": 62_447_530,  # 6,573,794 own + Inception-ResNet-v2 55,873,736
    "pix2pix-mobilenetv2-lab": 10_124_866,
    "pix2pix-mobilenetv2-rgb": 10_127_427,
    "pix2pix-densenet121-lab": 23_691_586,
    "pix2pix-densenet121-rgb": 23_693_635,
}


@pytest.fixture(scope="module")
def photo_l(eval_images):
    """L (0..100) of a real bundled photo."""
    from edgecolor.color import GrayImage
    from edgecolor.imageio import read_image

    return GrayImage.from_array(read_image(eval_images[2])).l


@pytest.fixture(scope="module")
def small_models():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = create_model(name, weights=None, batch_size=1, **SMALL[name][0])
        return cache[name]

    return get


def test_registry_has_the_whole_zoo():
    assert set(NEW_MODELS) | {"baseline"} <= set(list_models())
    for name in NEW_MODELS:
        info = get_model_info(name)
        assert info.paper and info.params == PAPER_PARAMS[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", NEW_MODELS)
def test_paper_configuration_parameter_count(name):
    model, spec = create_model(name, weights=None)
    assert model.count_params() == PAPER_PARAMS[name]
    assert [tuple(x.shape[1:]) for x in model.inputs] == [(*i.size, i.channels)
                                                        for i in spec.inputs]
    assert spec == create_spec(name)  # the TF-free spec is the builder's spec


@pytest.mark.parametrize("name", NEW_MODELS)
def test_small_instance_runs_and_decodes_to_ab(name, small_models, photo_l, eval_images):
    from edgecolor.color import GrayImage
    from edgecolor.imageio import read_image
    from edgecolor.pipeline import colorize_array
    from edgecolor.runtimes.keras import KerasRunner

    model, spec = small_models(name)
    runner = KerasRunner.from_model(model, spec)
    xs = spec.make_inputs(photo_l)
    assert [x.shape for x in xs] == [(1, *i.size, i.channels) for i in spec.inputs]
    y = runner.infer(xs)
    assert y.shape == (1, *SMALL[name][1])
    ab = spec.decode(y)
    assert ab.shape == (*SMALL[name][1][:2], 2) and np.isfinite(ab).all()
    assert np.abs(ab).max() <= 128.0
    image = read_image(eval_images[2])
    out = colorize_array(runner, image)
    assert out.shape == image.shape and out.dtype == image.dtype
    # the photo's own lightness is kept
    assert np.abs(GrayImage.from_array(out).l - photo_l).mean() < 2.0


def test_eccv16_keras_layers_carry_the_caffe_names(small_models):
    model, spec = small_models("eccv16")
    names = {layer.name for layer in model.layers}
    assert {"bw_conv1_1", "conv1_2", "conv1_2norm", "conv5_1", "conv8_1", "conv8_313",
            "conv8_313_rh", "class8_313_rh", "class8_ab"} <= names
    assert model.get_layer("conv5_1").dilation_rate == (2, 2)
    assert spec.inputs[0].norm == "l-50" and spec.output.kind == "ab"
    bins = model.get_layer("class8_ab").get_weights()[0]
    assert np.array_equal(bins[0, 0], load_bins())


def test_eccv16_bins_head_decodes_like_the_graph(small_models, photo_l):
    from edgecolor.runtimes.keras import KerasRunner
    from edgecolor.zoo.eccv16 import RH_SCALE, switch_head

    model, spec = small_models("eccv16")
    rng = np.random.default_rng(3)
    model.get_layer("conv8_313").set_weights(  # sharper logits than the default init
        [w * 20 + rng.normal(0, 0.1, w.shape) for w in model.get_layer("conv8_313").get_weights()])
    bins_model, bins_spec = switch_head(model, "bins")
    assert bins_spec.output.kind == "ab_bins" and bins_spec.output.temperature == 0.38
    xs = spec.make_inputs(photo_l)
    p = KerasRunner.from_model(bins_model, bins_spec).infer(xs)
    assert p.shape == (1, 8, 8, N_BINS) and np.allclose(p.sum(-1), 1.0, atol=1e-4)
    ab_graph = spec.decode(KerasRunner.from_model(model, spec).infer(xs))
    assert np.max(np.abs(annealed_mean(p, 1.0 / RH_SCALE) - ab_graph)) < 1e-3
    # the spec's default T = 0.38 is the paper's, within a fraction of an ab unit of 1/2.606
    assert np.max(np.abs(bins_spec.decode(p) - ab_graph)) < 1.0


# --- the 313 bins ----------------------------------------------------------------------------

@pytest.mark.parametrize("temperature", [0.38, 1.0, 0.05])
def test_annealed_mean_of_one_hot_is_that_bin(temperature):
    bins = load_bins()
    y = np.zeros((1, 3, 4, N_BINS), np.float32)
    picks = np.array([[0, 17, 156, 312], [5, 99, 200, 250], [1, 2, 3, 4]])
    for i in range(3):
        for j in range(4):
            y[0, i, j, picks[i, j]] = 1.0
    ab = annealed_mean(y, temperature)
    assert ab.shape == (3, 4, 2)
    assert np.allclose(ab, bins[picks], atol=1e-3)


def test_annealed_mean_at_t1_is_the_plain_mean_and_sharpens_below(rng):
    bins = load_bins()
    p = rng.dirichlet(np.ones(N_BINS), size=(2, 2))
    np.put_along_axis(p, rng.integers(0, N_BINS, (2, 2, 1)), 0.05, axis=-1)  # a clear mode
    p = (p / p.sum(-1, keepdims=True)).astype(np.float32)
    assert np.allclose(annealed_mean(p, 1.0), p @ bins, atol=1e-3)
    mode = bins[p.argmax(-1)]
    assert np.allclose(annealed_mean(p, 0.01), mode, atol=1e-2)


def test_soft_encoding_spreads_over_five_nearest_bins_summing_to_one(rng):
    ab = rng.uniform(-80, 80, (6, 7, 2)).astype(np.float32)
    z = soft_encode(ab)
    assert z.shape == (6, 7, N_BINS)
    assert np.allclose(z.sum(-1), 1.0, atol=1e-6)
    assert ((z > 0).sum(-1) == 5).all()
    idx, dist = nearest_bins(ab, 5)
    assert np.array_equal(z.argmax(-1), idx[..., 0])  # the nearest bin weighs most
    assert (np.diff(dist, axis=-1) >= 0).all()


def test_soft_encoded_loss_is_rebalanced_cross_entropy(rng):
    ab = rng.uniform(-60, 60, (2, 4, 4, 2)).astype(np.float32)
    target = soft_encode(ab)
    pred = rng.dirichlet(np.ones(N_BINS), size=(2, 4, 4)).astype(np.float32)
    priors = rng.dirichlet(np.ones(N_BINS))
    weights = rebalance_weights(priors)
    nearest = nearest_bins(ab, 1)[0][..., 0]
    expected = np.mean(-(target * np.log(pred)).sum(-1) * weights[nearest])
    loss = soft_encoded_loss(priors)
    assert float(loss(ab, pred)) == pytest.approx(expected, rel=1e-4)
    # predicting the soft target itself scores better than a uniform guess
    uniform = np.full_like(pred, 1.0 / N_BINS)
    assert float(loss(ab, np.maximum(target, 1e-6))) < float(loss(ab, uniform))


def test_priors_from_training_photos_and_rebalancing(tmp_path):
    from edgecolor.imageio import write_image

    red = np.zeros((40, 40, 3), np.uint8)
    red[..., 0] = 220
    blue = np.zeros((40, 40, 3), np.uint8)
    blue[:, :20, 2] = 200  # half blue, half black
    write_image(tmp_path / "red.png", red)
    write_image(tmp_path / "blue.png", blue)
    priors = compute_priors(tmp_path)
    assert priors.shape == (N_BINS,) and priors.sum() == pytest.approx(1.0)
    assert np.count_nonzero(priors) == 3  # red, blue and the gray bin of black
    assert priors.max() == pytest.approx(0.5)  # all of red.png's pixels in one bin
    w = rebalance_weights(priors)
    assert float((w * _smoothed(priors)).sum()) == pytest.approx(1.0, rel=1e-4)
    assert w[priors.argmax()] < w[np.argmin(priors)]  # common colors weigh less than rare ones


def _smoothed(priors, sigma=5.0):
    bins = load_bins().astype(np.float64)
    d2 = ((bins[:, None] - bins[None]) ** 2).sum(-1)
    s = np.exp(-d2 / (2 * sigma**2)) @ priors
    return s / s.sum()


def test_priors_from_a_folder_without_photos_names_it(tmp_path):
    with pytest.raises(ValueError, match=str(tmp_path)):
        compute_priors(tmp_path)


# --- specs -----------------------------------------------------------------------------------

def test_koalarization_makes_both_inputs_from_one_l():
    spec = create_spec("koalarization")
    assert [i.name for i in spec.inputs] == ["l", "l_rgb299"]
    for value, expected in ((0.0, -1.0), (100.0, 1.0)):
        l_in, rgb_in = spec.make_inputs(np.full((90, 120), value, np.float32))
        assert l_in.shape == (1, 224, 224, 1) and rgb_in.shape == (1, 299, 299, 3)
        assert np.allclose(l_in, expected, atol=1e-4) and np.allclose(rgb_in, expected, atol=1e-3)
    l_in, rgb_in = spec.make_inputs(np.full((90, 120), 50.0, np.float32))
    # mid-gray: L 50 is sRGB ~0.466, i.e. -0.068 after /127.5 - 1 (not L/50 - 1 = 0)
    assert abs(l_in.mean()) < 1e-5 and rgb_in.mean() == pytest.approx(-0.068, abs=0.01)
    assert create_spec("koalarization", input_size=64).inputs[1].size == (299, 299)


def test_pix2pix_lab_feeds_l_on_three_channels_and_rgb_feeds_gray_rgb():
    lab, rgb = create_spec("pix2pix-densenet121-lab"), create_spec("pix2pix-mobilenetv2-rgb")
    assert (lab.inputs[0].norm, lab.inputs[0].channels, lab.output.kind) == ("l/50-1", 3,
                                                                             "ab_tanh")
    assert (rgb.inputs[0].norm, rgb.inputs[0].channels, rgb.output.kind) == (
        "gray_rgb/127.5-1", 3, "rgb_tanh")
    (x,) = lab.make_inputs(np.linspace(0, 100, 300 * 300, dtype=np.float32).reshape(300, 300))
    assert x.shape == (1, 256, 256, 3) and np.array_equal(x[..., 0], x[..., 2])


@pytest.mark.parametrize("rgb", [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.2, 0.5, 0.8)])
def test_rgb_output_decodes_to_the_ab_of_that_rgb(rgb):
    from skimage.color import rgb2lab

    y = np.broadcast_to(np.array(rgb, np.float32) * 2 - 1, (1, 3, 3, 3))
    ab = OutputSpec("rgb", "rgb_tanh").decode(y)
    expected = rgb2lab(np.array(rgb, np.float64)[None, None])[0, 0, 1:]
    assert np.allclose(ab, expected, atol=0.05)


# --- options and bad input ---------------------------------------------------------------------

@pytest.mark.parametrize("name", ["koalarization", "pix2pix-mobilenetv2-lab"])
def test_backbone_weights_are_never_downloaded(name):
    with pytest.raises(ValueError, match="never downloads"):
        create_model(name, weights=None, backbone_weights="imagenet")


def test_backbone_weights_file_is_loaded_into_the_encoder(tmp_path):
    import keras

    donor = keras.applications.MobileNetV2(input_shape=(64, 64, 3), alpha=0.35,
                                           include_top=False, weights=None)
    rng = np.random.default_rng(1)
    donor.set_weights([rng.normal(0, 0.1, w.shape).astype(np.float32)
                       for w in donor.get_weights()])
    path = tmp_path / "mobilenet.weights.h5"
    donor.save_weights(path)
    model, _ = create_model("pix2pix-mobilenetv2-lab", input_size=64, width=0.35, weights=None,
                            backbone_weights=path)
    for layer in ("Conv1", "block_16_project"):
        for a, b in zip(model.get_layer(layer).get_weights(),
                        donor.get_layer(layer).get_weights(), strict=True):
            assert np.array_equal(a, b)


@pytest.mark.parametrize("name,kw", [("pix2pix-mobilenetv2-rgb", dict(input_size=100)),
                                     ("koalarization", dict(input_size=60, backbone="tiny"))])
def test_sizes_the_network_cannot_take_are_refused(name, kw):
    with pytest.raises(ValueError, match="multiple of"):
        create_model(name, weights=None, **kw)


def test_eccv16_unknown_head_is_refused():
    with pytest.raises(ValueError, match="head"):
        create_spec("eccv16", head="softmax")


@pytest.mark.parametrize("saved,loaded", [("concat", "split"), ("split", "concat")])
def test_koalarization_fusions_are_one_function_and_share_weight_files(saved, loaded,
                                                                       tmp_path, rng):
    """The split fusion (1x1 conv on the encoder + Dense on the embedding, added) is the
    paper's concat + 1x1 conv cut in two: same parameters, same output, same weight files."""
    from edgecolor.zoo.koalarization import switch_fusion

    kw = dict(input_size=64, width=0.25, backbone="tiny", backbone_size=64, weights=None)
    src, spec = create_model("koalarization", fusion=saved, **kw)
    names = {layer.name for layer in src.layers}
    assert ("fusion_concat" in names) == (saved == "concat")
    xs = [rng.uniform(-1, 1, (1, 64, 64, 1)).astype(np.float32),
          rng.uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32)]
    want = src.predict(xs, verbose=0)
    assert np.abs(want).max() > 1e-3
    twin, _ = switch_fusion(src)
    assert twin.count_params() == src.count_params()
    assert np.abs(twin.predict(xs, verbose=0) - want).max() < 1e-5
    path = tmp_path / f"{saved}.weights.h5"
    src.save_weights(path)
    dst, _ = create_model("koalarization", fusion=loaded, **{**kw, "weights": path})
    assert np.abs(dst.predict(xs, verbose=0) - want).max() < 1e-5
    with pytest.raises(ValueError, match="fusion"):
        create_model("koalarization", fusion="sum", **kw)


def test_koalarization_weight_copy_pairs_auto_named_layers_in_order(rng):
    # Inception-ResNet-v2's layers are auto-named ("conv2d_17"): a second build in the same
    # session gets other numbers, so the fusion switch pairs them by order
    import keras

    from edgecolor.zoo.koalarization import _copy_weights

    def build():
        inp = keras.Input((8, 8, 1))
        x = keras.layers.Conv2D(4, 3, padding="same")(inp)
        x = keras.layers.Conv2D(4, 3, padding="same")(x)
        return keras.Model(inp, keras.layers.Conv2D(2, 1, name="head")(x))

    src, dst = build(), build()
    assert {la.name for la in src.layers[1:3]}.isdisjoint(la.name for la in dst.layers[1:3])
    x = rng.uniform(-1, 1, (1, 8, 8, 1)).astype(np.float32)
    _copy_weights(src, dst, skip=set())
    assert np.array_equal(src.predict(x, verbose=0), dst.predict(x, verbose=0))


@pytest.mark.parametrize("saved,loaded", [("bins", "ab"), ("ab", "bins")])
def test_eccv16_weights_of_either_head_load_into_either(saved, loaded, photo_l, tmp_path):
    """Training saves the "bins" head (its loss needs the distribution), import-caffe the "ab"
    head; either file gives the same colors under either head."""
    from edgecolor.runtimes.keras import KerasRunner

    src, src_spec = create_model("eccv16", input_size=32, width=0.125, weights=None,
                                 head=saved)
    path = tmp_path / f"{saved}.weights.h5"
    src.save_weights(path)
    dst, dst_spec = create_model("eccv16", input_size=32, width=0.125, weights=path,
                                 head=loaded)
    x = src_spec.make_inputs(photo_l)
    ab_src = src_spec.decode(KerasRunner.from_model(src, src_spec).infer(x))
    ab_dst = dst_spec.decode(KerasRunner.from_model(dst, dst_spec).infer(x))
    # host annealed mean at T = 0.38 vs the graph's 1/2.606: well under one ab unit
    assert np.max(np.abs(ab_src - ab_dst)) < 1.0
    assert np.array_equal(src.get_layer("conv8_313").get_weights()[0],
                          dst.get_layer("conv8_313").get_weights()[0])


def test_eccv16_trains_its_bins_head_and_pix2pix_trains_with_l1():
    from edgecolor.train.losses import loss_rule
    from edgecolor.zoo import get_model_info

    info = get_model_info("eccv16")
    assert info.train_options == {"head": "bins"}
    spec = create_spec("eccv16", **info.train_options)
    assert "soft-encoded cross-entropy" in loss_rule(spec, info.train_loss).describe
    for name in ("pix2pix-mobilenetv2-lab", "pix2pix-densenet121-rgb"):
        rule = loss_rule(create_spec(name), get_model_info(name).train_loss)
        assert rule.loss == "mae" and rule.describe.startswith("L1")
    with pytest.raises(ValueError, match="does not apply"):
        loss_rule(create_spec("eccv16", head="bins"), "l1")
