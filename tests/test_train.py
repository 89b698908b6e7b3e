"""edgecolor train: the loss falls, checkpoints + card are written, resume continues,
broken photos are skipped, multi-input specs train. Tiny photos cut from the bundled samples."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgecolor.imageio import read_rgb, write_image
from edgecolor.samples import sample_images
from edgecolor.spec import OUTPUT_KINDS, InputSpec, ModelSpec, OutputSpec
from edgecolor.train import data, losses
from edgecolor.zoo import create_model, register_model

pytestmark = pytest.mark.slow
CROP = 32
WIDTH = ["--option", "width=0.25"]  # a quarter of the baseline's channels: fast on 2 cores


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory) -> Path:
    """8 color photos 48..64 px cut from the bundled calib samples."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(1)
    for i in range(8):
        src = read_rgb(sample_images("calib")[i % 6])
        side = int(rng.integers(48, 65))
        y, x = (int(v) for v in rng.integers(0, min(src.shape[:2]) - side, 2))
        write_image(folder / f"photo{i}.png", src[y:y + side, x:x + side])
    return folder


@pytest.fixture(scope="module")
def broken_dir(tmp_path_factory, photo_dir) -> Path:
    """The 8 photos plus a file that is not an image."""
    folder = tmp_path_factory.mktemp("with_broken")
    for p in photo_dir.iterdir():
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG \xff\xd9")
    return folder


def _train(args: list[str]):
    from edgecolor.cli import cli

    return CliRunner().invoke(cli, ["train", *args])


def test_every_output_kind_has_a_loss_rule():
    assert set(losses.LOSS_RULES) == set(OUTPUT_KINDS)
    assert all(rule.target in losses.TARGETS for rule in losses.LOSS_RULES.values())


def test_training_steps_lower_the_loss_on_a_fixed_batch(photo_dir):
    from edgecolor._tf import import_tf

    _, keras = import_tf()
    keras.utils.set_random_seed(0)
    model, spec = create_model("baseline", input_size=CROP, weights=None, width=0.25)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=losses.keras_loss(spec))
    photos = data.load_photos(str(photo_dir), data.list_photos(photo_dir), 2 * CROP)
    x, y = next(data.batches(photos, spec, CROP, 8, losses.target_fn(spec), (CROP, CROP), 0))
    assert x[0].shape == (8, CROP, CROP, 1) and y.shape == (8, CROP, CROP, 2)
    assert -1.0 <= x[0].min() < x[0].max() <= 1.0  # L/50 - 1, as at inference
    before = float(model.evaluate(x[0], y, verbose=0))
    for _ in range(25):
        model.train_on_batch(x[0], y)
    after = float(model.evaluate(x[0], y, verbose=0))
    assert after < 0.5 * before, (before, after)  # measured: 0.032 -> 0.0044


def test_train_one_epoch_skips_broken_photo_and_writes_card(tmp_path, broken_dir):
    out = tmp_path / "run"
    res = _train(["--images", str(broken_dir), "--epochs", "1", "--imgsz", str(CROP),
                  "--batch", "4", "--out", str(out), *WIDTH])
    assert res.exit_code == 0, res.output
    warnings = [line for line in res.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "broken.jpg" in warnings[0] and "skipped" in warnings[0]
    for name in ("best.weights.h5", "last.weights.h5", "last.optimizer.npz", "state.json",
                 "card.json", "card.md"):
        assert (out / name).is_file(), name
    card = json.loads((out / "card.json").read_text())
    assert card["model"] == "baseline" and card["status"] == "done"
    assert card["data"]["train"]["images"] + card["data"]["val"]["images"] == 8
    assert card["data"]["val"]["images"] == 1  # 5% of 9 files, at least one
    assert len(card["data"]["train"]["skipped"]) + len(card["data"]["val"]["skipped"]) == 1
    assert card["training"]["epochs_done"] == 1 and card["training"]["crop"] == CROP
    assert card["training"]["wall_time_s"] > 0
    assert card["input_size"] == [256, 256] and card["best_epoch"] == 1
    assert any("fully convolutional" in n for n in card["notes"])
    (h,) = card["history"]
    assert h["epoch"] == 1 and 5.0 < h["val_psnr"] < 60.0 and 0 < h["val_mse"] < 0.2
    assert card["machine"]["cores"] >= 1
    assert "--imgsz 32" in card["command"]
    assert "Training history" in (out / "card.md").read_text()
    # the best weights load into the model at its working size (fully convolutional)
    model, _ = create_model("baseline", input_size=64, weights=str(out / "best.weights.h5"),
                            width=0.25)
    assert model.count_params() == card["params"]


def test_resume_continues_from_the_saved_epoch(tmp_path, photo_dir):
    out = tmp_path / "run"
    common = ["--images", str(photo_dir), "--imgsz", str(CROP), "--batch", "4",
              "--out", str(out), *WIDTH]
    assert _train(["--epochs", "1", *common]).exit_code == 0
    first = np.load(out / "last.optimizer.npz")["0"]  # Adam's iteration counter
    w1 = (out / "last.weights.h5").read_bytes()

    again = _train(["--epochs", "2", *common])  # the folder holds a run: refuse, keep it
    assert again.exit_code != 0 and "--resume" in again.output
    assert (out / "last.weights.h5").read_bytes() == w1

    res = _train(["--epochs", "2", "--resume", *common])
    assert res.exit_code == 0, res.output
    assert "epoch 2/2" in res.output and "epoch 1/2" not in res.output
    state = json.loads((out / "state.json").read_text())
    assert state["epoch"] == 2 and [h["epoch"] for h in state["history"]] == [1, 2]
    steps = json.loads((out / "card.json").read_text())["training"]["steps_per_epoch"]
    assert int(first) == steps
    assert int(np.load(out / "last.optimizer.npz")["0"]) == 2 * steps  # optimizer restored
    assert (out / "last.weights.h5").read_bytes() != w1


def test_resume_without_a_run_is_a_clear_error(tmp_path, photo_dir):
    res = _train(["--images", str(photo_dir), "--epochs", "1", "--out", str(tmp_path / "none"),
                  "--resume"])
    assert res.exit_code != 0
    assert "no checkpoint to resume" in res.output and len(res.output.splitlines()) == 1


def test_missing_image_folder_is_a_clear_error(tmp_path):
    res = _train(["--images", str(tmp_path / "nope"), "--epochs", "1",
                  "--out", str(tmp_path / "run")])
    assert res.exit_code != 0 and "nope: no such folder" in res.output
    assert not (tmp_path / "run").exists()


def _two_input_spec(input_size=(CROP, CROP), **_) -> ModelSpec:
    return ModelSpec("two-input-test",
                     (InputSpec("l", tuple(input_size), "l/50-1", 1),
                      InputSpec("global", (16, 16), "gray_rgb/127.5-1", 3)),
                     OutputSpec("rgb", "rgb_tanh"))


def _two_input_model(input_size=(CROP, CROP), batch_size=None, **_):
    """A small real network fusing a full-size L branch with a fixed-size global branch."""
    from edgecolor._tf import import_tf

    _, keras = import_tf()
    L = keras.layers
    spec = _two_input_spec(input_size)
    h, w = spec.input_size
    a = L.Input((h, w, 1), batch_size=batch_size, name="l")
    g = L.Input((16, 16, 3), batch_size=batch_size, name="global")
    feat = L.GlobalAveragePooling2D()(L.Conv2D(4, 3, activation="relu")(g))
    x = L.Conv2D(8, 3, padding="same", activation="relu")(a)
    x = L.Concatenate()([x, L.UpSampling2D((h, w))(L.Reshape((1, 1, 4))(feat))])
    out = L.Conv2D(3, 3, padding="same", activation="tanh")(x)
    return keras.Model([a, g], out), spec


@pytest.fixture
def two_input_model():
    """The two-input test model, registered only while a test uses it."""
    from edgecolor.zoo import registry

    register_model("two-input-test", spec=_two_input_spec, paper="test only")(_two_input_model)
    yield "two-input-test"
    registry._REGISTRY.pop("two-input-test", None)


def test_multi_input_model_trains_with_l1_on_rgb(tmp_path, photo_dir, two_input_model):
    out = tmp_path / "run"
    res = _train(["--model", two_input_model, "--images", str(photo_dir), "--epochs", "1",
                  "--imgsz", str(CROP), "--batch", "4", "--out", str(out)])
    assert res.exit_code == 0, res.output
    card = json.loads((out / "card.json").read_text())
    assert card["training"]["loss"].startswith("L1 on RGB")
    assert math.isfinite(card["history"][0]["val_psnr"])
    assert card["history"][0]["loss"] < 2.0  # L1 of tanh outputs is at most 2


def test_ab_bins_loss_comes_from_the_zoo_rebalanced_by_training_photos(photo_dir):
    from edgecolor._tf import import_tf

    tf, _ = import_tf()
    spec = ModelSpec("bins", (InputSpec("l", (8, 8)),), OutputSpec("p", "ab_bins"))
    loss = losses.keras_loss(spec, str(photo_dir))
    ab = np.zeros((1, 4, 4, 2), np.float32)
    uniform = np.full((1, 4, 4, 313), 1 / 313, np.float32)
    value = float(loss(tf.constant(ab), tf.constant(uniform)))
    assert math.isfinite(value) and value > 0


def test_bundled_weight_sets_load_by_name():
    from edgecolor.zoo.registry import WEIGHTS_DIR

    if not (WEIGHTS_DIR / "baseline-faces.weights.h5").is_file():
        pytest.skip("the faces weight set is not bundled in this checkout")
    faces, _ = create_model("baseline", input_size=64, weights="faces")
    default, _ = create_model("baseline", input_size=64)
    assert not np.allclose(faces.get_weights()[0], default.get_weights()[0])
    with pytest.raises(ValueError, match="bundled sets: default, faces"):
        create_model("baseline", input_size=64, weights="cats")


@pytest.mark.parametrize("stem,sets", [("baseline", {"kodak24", "mcmaster18", "urban100"}),
                                       ("baseline-bins", {"kodak24", "mcmaster18", "urban100"}),
                                       ("baseline-faces", {"faces"})])
def test_bundled_cards_state_their_eval_numbers(stem, sets):
    from edgecolor.train.card import read_card
    from edgecolor.zoo.registry import WEIGHTS_DIR

    if not (WEIGHTS_DIR / f"{stem}.card.json").is_file():
        pytest.skip(f"{stem} is not bundled in this checkout")
    card = read_card(WEIGHTS_DIR / f"{stem}.card.json")
    assert (WEIGHTS_DIR / card["weights"]).is_file()
    assert set(card["eval"]["sets"]) == sets
    for r in card["eval"]["sets"].values():
        assert 10 < r["psnr"] < 50 and 10 < r["gray"]["psnr"] < 50 and r["images"] > 0
    assert "eval_weights.py" in card["eval"]["command"]
    assert card["best_epoch"] in [h["epoch"] for h in card["history"]]


def test_card_shows_raw_rgb_psnr_only_for_rgb_models():
    from edgecolor.train.card import render_markdown

    row = {"images": 3, "mse": 0.01, "psnr": 22.5, "ssim": 0.9, "colorfulness": 20.0,
           "ciede2000": 8.0, "gray": {"psnr": 22.0, "ciede2000": 9.0}}
    lab = render_markdown({"model": "m", "eval": {"sets": {"kodak24": row}, "overall": row}})
    rgb_row = dict(row, psnr_raw_rgb=17.25)
    rgb = render_markdown({"model": "m", "eval": {"sets": {"kodak24": rgb_row},
                                                  "overall": rgb_row}})
    assert "raw RGB PSNR" not in lab
    assert "raw RGB PSNR (dB) |" in rgb
    assert rgb.count("| 17.25 |") == 2  # the set row and the overall row


def test_precise_bn_replaces_moving_statistics_by_the_batch_average(rng):
    from edgecolor._tf import import_tf
    from edgecolor.train.bn import reestimate_batchnorm

    _, keras = import_tf()
    inp = keras.Input((4, 4, 3))
    model = keras.Model(inp, keras.layers.BatchNormalization(name="bn")(inp))
    batches = [(rng.normal(5.0 + k, 2.0, (8, 4, 4, 3)).astype(np.float32), None)
               for k in range(4)]
    bn_layer = model.get_layer("bn")
    assert np.allclose(bn_layer.moving_mean.numpy(), 0.0)  # Keras starts at (0, 1)
    assert reestimate_batchnorm(model, iter(batches), 3) == 3
    expected = np.mean([b[0].mean(axis=(0, 1, 2)) for b in batches[:3]], axis=0)
    assert np.allclose(bn_layer.moving_mean.numpy(), expected, atol=1e-4)
    assert bn_layer.momentum == 0.99  # restored
    plain = keras.Model(inp, keras.layers.Conv2D(2, 1)(inp))
    assert reestimate_batchnorm(plain, iter(batches), 3) == 0


def test_resume_with_other_builder_options_names_the_fix(tmp_path, photo_dir):
    # a koalarization run from before fusion=split became the default, resumed without
    # its options: the weights convert, Adam's slots cannot (Keras would skip them with only
    # a warning), so it stops with a one-line error
    out = tmp_path / "run"
    common = ["--model", "koalarization", "--images", str(photo_dir), "--imgsz", "32",
              "--batch", "4", "--out", str(out), "--option", "backbone=tiny",
              "--option", "backbone_size=32", "--option", "width=0.25"]
    first = _train(["--epochs", "1", "--option", "fusion=concat", *common])
    assert first.exit_code == 0, first.output
    res = _train(["--epochs", "2", "--resume", *common])
    assert res.exit_code != 0
    assert "optimizer state does not fit" in res.output and "fusion=concat" in res.output
    *_, last = res.output.strip().splitlines()  # progress lines, then the error in one line
    assert last.startswith("error:") and "fusion=concat" in last
    assert json.loads((out / "state.json").read_text())["epoch"] == 1  # the run is kept


def test_koalarization_trains_around_a_frozen_backbone(tmp_path, photo_dir):
    # the paper's recipe: the classifier stays as loaded, encoder/fusion/decoder fit
    kw = dict(backbone="tiny", backbone_size=32, width=0.25, input_size=32)
    start, _ = create_model("koalarization", weights=None, **kw)
    init = tmp_path / "init.weights.h5"
    start.save_weights(init)
    out = tmp_path / "run"
    res = _train(["--model", "koalarization", "--images", str(photo_dir), "--imgsz", "32",
                  "--batch", "4", "--epochs", "1", "--out", str(out), "--weights-init",
                  str(init), "--option", "backbone=tiny", "--option", "backbone_size=32",
                  "--option", "width=0.25", "--option", "freeze_backbone=true"])
    assert res.exit_code == 0, res.output
    trained, _ = create_model("koalarization", weights=str(out / "last.weights.h5"), **kw)
    for name in ("tiny_conv1", "tiny_conv2", "tiny_logits"):  # the backbone: untouched
        for a, b in zip(start.get_layer(name).get_weights(),
                        trained.get_layer(name).get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    for name in ("enc1", "fusion_conv", "fusion_embed", "dec_ab"):  # the rest: trained
        assert not np.array_equal(start.get_layer(name).get_weights()[0],
                                  trained.get_layer(name).get_weights()[0]), name
    frozen, _ = create_model("koalarization", weights=None, freeze_backbone=True, **kw)
    assert {w.path.split("/")[0] for w in frozen.trainable_weights}.isdisjoint(
        {"tiny_conv1", "tiny_conv2", "tiny_logits"})
    with pytest.raises(ValueError, match="freeze_backbone must be true or false"):
        create_model("koalarization", weights=None, freeze_backbone="no", **kw)


def test_extra_images_train_only_and_l_jitter_leaves_the_target(tmp_path, photo_dir):
    """--extra-images adds training photos (never validation ones); --l-jitter changes the
    input L only. baseline-bins trains its 313-bin head at 1/4 of the crop."""
    extra = tmp_path / "faces"
    extra.mkdir()
    for i, p in enumerate(sorted(photo_dir.iterdir())[:4]):
        write_image(extra / f"face{i}.png", read_rgb(p)[::-1])
    out = tmp_path / "run"
    res = _train(["--model", "baseline-bins", "--images", str(photo_dir), "--epochs", "1",
                  "--imgsz", str(CROP), "--batch", "4", "--out", str(out), *WIDTH,
                  "--extra-images", str(extra), "--l-jitter", "0.1"])
    assert res.exit_code == 0, res.output
    card = json.loads((out / "card.json").read_text())
    assert card["data"]["val"]["images"] == 1 and card["data"]["train"]["images"] == 7 + 4
    assert card["data"]["train"]["extra_folders"] == [str(extra)]
    assert not any(n.startswith("face") for n in card["data"]["val"]["held_out"])
    assert "jitter +-10%" in card["training"]["augment"]
    assert "313 ab bins" in card["training"]["loss"]
    model, spec = create_model("baseline-bins", input_size=64, width=0.25,
                               weights=str(out / "best.weights.h5"))
    assert model.output_shape == (None, 16, 16, 313) and spec.output.kind == "ab_bins"

    rgb = read_rgb(sorted(photo_dir.iterdir())[0])[:CROP, :CROP]
    target = losses.target_fn(spec)
    x0, y0 = data.make_example(spec, rgb, target, (8, 8))
    x1, y1 = data.make_example(spec, rgb, target, (8, 8), 0.1, np.random.default_rng(3))
    assert np.array_equal(y0, y1) and not np.allclose(x0[0], x1[0])
    assert -1.0 <= x1[0].min() and x1[0].max() <= 1.0  # L/50 - 1 of an L kept in 0..100


def test_select_by_colorfulness_keeps_the_most_colorful_epoch(tmp_path, photo_dir):
    out = tmp_path / "run"
    common = ["--images", str(photo_dir), "--imgsz", str(CROP), "--batch", "4",
              "--out", str(out), "--select-by", "colorfulness", *WIDTH]
    res = _train(["--epochs", "3", *common])
    assert res.exit_code == 0, res.output
    card = json.loads((out / "card.json").read_text())
    colors = [h["val_colorfulness"] for h in card["history"]]
    assert len(colors) == 3 and all(c >= 0 for c in colors)
    assert card["best_epoch"] == 1 + int(np.argmax(colors))
    assert card["selected_by"].startswith("colorfulness")
    assert "val colorfulness" in (out / "card.md").read_text()
    # the saved best was picked by colorfulness: resuming by PSNR is refused in one line
    again = _train(["--epochs", "4", "--resume", *[a for a in common if a != "colorfulness"
                                                   and a != "--select-by"]])
    assert again.exit_code != 0
    assert "picked by colorfulness; resume with --select-by colorfulness" in again.output
    assert len(again.output.strip().splitlines()) == 1
