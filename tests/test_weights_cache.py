"""The weights cache: heavy zoo models' trained weights live in $EDGECOLOR_HOME/weights,
``edgecolor train --install`` puts them there, ``create_model(name)`` loads them. Real
training of pix2pix-mobilenetv2-lab (the smallest heavy model) on 4 tiny photos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgecolor.imageio import read_rgb, write_image
from edgecolor.samples import sample_images
from edgecolor.zoo.registry import WEIGHTS_DIR, default_weights, weights_cache_dir

HEAVY = "pix2pix-mobilenetv2-lab"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("EDGECOLOR_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def photos(tmp_path) -> Path:
    """4 color photos, 40 px crops of the bundled calib samples."""
    folder = tmp_path / "photos"
    for i, src in enumerate(sample_images("calib")[:4]):
        write_image(folder / f"p{i}.png", read_rgb(src)[10 * i:10 * i + 40, :40])
    return folder


def _cli(args: list[str]):
    from edgecolor.cli import cli

    return CliRunner().invoke(cli, args)


def test_cache_dir_follows_edgecolor_home(home, monkeypatch, tmp_path):
    assert weights_cache_dir() == home / "weights"
    monkeypatch.delenv("EDGECOLOR_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert weights_cache_dir() == tmp_path / "user" / ".cache" / "edgecolor" / "weights"


def test_bundled_weights_win_and_heavy_models_have_none_until_cached(home):
    assert default_weights("baseline") == WEIGHTS_DIR / "baseline.weights.h5"
    assert default_weights(HEAVY) is None
    cached = home / "weights" / "baseline.weights.h5"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not used")  # a cache file never shadows bundled weights
    assert default_weights("baseline") == WEIGHTS_DIR / "baseline.weights.h5"


@pytest.mark.parametrize("model,extra,why", [
    ("baseline", [], "ships bundled weights"),
    (HEAVY, ["--option", "width=0.5"], "width=0.5"),
])
def test_install_refuses_before_training(home, photos, tmp_path, model, extra, why):
    out = tmp_path / "run"
    res = _cli(["train", "--model", model, "--images", str(photos), "--epochs", "1",
                "--out", str(out), "--install", *extra])
    assert res.exit_code != 0
    assert why in res.output and len(res.output.strip().splitlines()) == 1
    assert not out.exists() and not (home / "weights").exists()


@pytest.mark.slow
def test_train_install_then_create_model_loads_the_cached_weights(home, photos, tmp_path):
    from edgecolor.zoo import create_model

    out = tmp_path / "run"
    res = _cli(["train", "--model", HEAVY, "--images", str(photos), "--epochs", "1",
                "--imgsz", "32", "--batch", "4", "--val-split", "0", "--max-minutes", "30",
                "--out", str(out), "--install"])
    assert res.exit_code == 0, res.output
    weights = home / "weights" / f"{HEAVY}.weights.h5"
    assert f"installed: {weights}" in res.output
    assert weights.read_bytes() == (out / "best.weights.h5").read_bytes()
    card = json.loads((home / "weights" / f"{HEAVY}.card.json").read_text())
    assert card["weights"] == weights.name and card["training"]["max_minutes"] == 30
    assert card["training"]["epochs_done"] == 1 and card["data"]["train"]["images"] == 4
    assert "--install" in card["command"]
    assert (home / "weights" / f"{HEAVY}.card.md").read_text().startswith("# Model card")
    assert default_weights(HEAVY) == weights

    loaded, _ = create_model(HEAVY, input_size=32)
    trained, _ = create_model(HEAVY, input_size=32, weights=out / "best.weights.h5")
    fresh, _ = create_model(HEAVY, input_size=32, weights=None)
    pairs = list(zip(loaded.get_weights(), trained.get_weights(), fresh.get_weights(),
                     strict=True))
    assert all(np.array_equal(a, b) for a, b, _ in pairs)
    assert not all(np.array_equal(a, c) for a, _, c in pairs)


@pytest.mark.slow
def test_gan_training_resumes_with_its_discriminator(home, photos, tmp_path):
    """``--gan`` (pix2pix's PatchGAN term) on a small pix2pix: the generator is what is saved
    and validated; the discriminator and its optimizer are checkpointed for --resume."""
    out = tmp_path / "run"
    args = ["train", "--model", HEAVY, "--images", str(photos), "--imgsz", "32", "--batch",
            "2", "--val-split", "0", "--out", str(out), "--option", "width=0.35", "--gan"]
    res = _cli([*args, "--epochs", "1"])
    assert res.exit_code == 0, res.output
    assert (out / "last.disc.weights.h5").is_file() and (out / "last.disc_optimizer.npz").is_file()
    disc_before = (out / "last.disc.weights.h5").read_bytes()
    res = _cli([*args, "--epochs", "2", "--resume"])
    assert res.exit_code == 0, res.output
    card = json.loads((out / "card.json").read_text())
    assert [h["epoch"] for h in card["history"]] == [1, 2]
    assert all(np.isfinite(h["d_loss"]) and h["d_loss"] > 0 for h in card["history"])
    assert "PatchGAN" in card["training"]["loss"] and card["training"]["loss"].startswith("L1")
    assert (out / "last.disc.weights.h5").read_bytes() != disc_before  # D trained on


def test_gan_refuses_models_that_are_not_image_to_image(photos, tmp_path):
    res = _cli(["train", "--model", "eccv16", "--images", str(photos), "--epochs", "1",
                "--out", str(tmp_path / "run"), "--gan"])
    assert res.exit_code != 0
    assert "--gan needs an image-to-image generator" in res.output
    assert len(res.output.strip().splitlines()) == 1 and not (tmp_path / "run").exists()
