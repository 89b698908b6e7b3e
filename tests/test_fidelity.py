"""edgecolor.fidelity: one scoring function (PSNR / ΔE00 / colorfulness vs FP32, ΔPSNR vs the
photos, bootstrap intervals), and the places that must use it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgecolor import fidelity, metrics


def _photo(seed: int, shape=(40, 56, 3)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.1, 0.9, shape).astype(np.float32)


def test_identical_colorizations_score_the_cap_and_zero_de():
    ref = _photo(0)
    row = fidelity.image_fidelity(ref, ref, truth=_photo(1))
    assert row["psnr_vs_fp32"] == metrics.PSNR_CAP_DB
    assert row["de_mean"] == 0.0 and row["de_p99"] == 0.0
    assert row["colorfulness_change"] == 0.0 and row["dpsnr"] == 0.0


def test_image_figures_match_the_metrics_module():
    ref, truth = _photo(0), _photo(1)
    out = np.clip(ref + np.float32(0.02), 0, 1)
    row = fidelity.image_fidelity(out, ref, truth)
    assert row["psnr_vs_fp32"] == pytest.approx(metrics.psnr(out, ref))
    assert row["de_mean"] == pytest.approx(metrics.ciede2000(out, ref))
    de = metrics.ciede2000_pixels(out, ref)
    assert row["de_p99"] == pytest.approx(np.percentile(de, 99)) and row["de_p99"] > row["de_mean"]
    assert row["dpsnr"] == pytest.approx(metrics.psnr(ref, truth) - metrics.psnr(out, truth))
    # PSNR 20*log10(1/0.02) = 34 dB for a uniform shift of 0.02 (5.1 levels)
    assert 33.0 < row["psnr_vs_fp32"] < 35.0


def test_ciede2000_numpy_matches_scikit_image():
    sk_color = pytest.importorskip("skimage.color")
    rng = np.random.default_rng(3)
    a = np.stack([rng.uniform(0, 100, 5000), rng.uniform(-90, 90, 5000),
                  rng.uniform(-90, 90, 5000)], -1)
    b = a + rng.normal(0, 4, a.shape)
    b[:50, 1:] = 0.0  # achromatic pixels: the hue special cases
    np.testing.assert_allclose(metrics.ciede2000_map(a, b), sk_color.deltaE_ciede2000(a, b),
                               atol=1e-9)


def test_duller_colors_give_a_negative_colorfulness_change():
    ref = _photo(2)
    gray = ref.mean(axis=-1, keepdims=True)
    dull = (gray + 0.5 * (ref - gray)).astype(np.float32)
    assert fidelity.image_fidelity(dull, ref)["colorfulness_change"] < -5.0


def test_bootstrap_interval_brackets_the_mean_and_shrinks_with_more_photos():
    rng = np.random.default_rng(0)
    few = fidelity.bootstrap(rng.normal(40, 3, 5))
    many = fidelity.bootstrap(rng.normal(40, 3, 200))
    for est in (few, many):
        assert est.lo <= est.mean <= est.hi
    assert (many.hi - many.lo) < 0.5 * (few.hi - few.lo)
    assert 39.0 < many.lo and many.hi < 41.0  # 95% CI of the mean: about ±0.4 dB
    one = fidelity.bootstrap([42.0])
    assert one.lo == one.hi == one.mean == 42.0 and one.n == 1
    assert fidelity.bootstrap([math.inf, 1.0, 3.0]).mean == 2.0  # non-finite left out
    values = list(rng.normal(40, 3, 5))
    assert fidelity.bootstrap(values, seed=1) == fidelity.bootstrap(values, seed=1)  # seeded


def test_score_images_summarizes_every_figure_with_an_interval():
    refs = [_photo(i) for i in range(4)]
    truths = [_photo(10 + i) for i in range(4)]
    outs = [np.clip(r + np.float32(0.01 * (i + 1)), 0, 1) for i, r in enumerate(refs)]
    fid = fidelity.score_images(outs, refs, truths, names=[f"p{i}" for i in range(4)])
    assert fid.images == 4 and [r["image"] for r in fid.per_image] == ["p0", "p1", "p2", "p3"]
    per = [r["psnr_vs_fp32"] for r in fid.per_image]
    assert fid.psnr_vs_fp32.mean == pytest.approx(np.mean(per))
    assert fid.psnr_vs_fp32.lo < fid.psnr_vs_fp32.mean < fid.psnr_vs_fp32.hi
    d = fid.to_dict()
    assert set(d) >= {"psnr_vs_fp32", "de_mean", "de_p99", "colorfulness_change", "dpsnr"}
    assert "dB vs FP32" in fid.line()
    psnr_only = fidelity.score_images(outs, refs, colors=False)
    assert psnr_only.de_mean is None and psnr_only.dpsnr is None


def test_scorer_colorizes_at_full_resolution(baseline64, eval_images):
    """The photos are 256 px, the model 64 px: the FP32 reference is at the photo's size."""
    from edgecolor.runtimes.keras import KerasRunner

    model, spec = baseline64
    photos = fidelity.PhotoSet(eval_images[:2], spec)
    runner = KerasRunner.from_model(model, spec)
    scorer = fidelity.FidelityScorer(photos, runner.infer)
    assert scorer.reference_images[0].shape == photos.truth[0].shape
    assert scorer.reference_images[0].shape[:2] != tuple(spec.input_size)
    assert len(scorer.reference_outputs) == 2
    same = scorer.score(runner.infer)
    assert same.psnr_vs_fp32.mean == metrics.PSNR_CAP_DB and same.dpsnr.mean == 0.0

    def noisy(xs):
        y = runner.infer(xs)
        return y + np.random.default_rng(0).normal(0, 0.02, y.shape).astype(np.float32)

    worse = scorer.score(noisy)
    assert worse.psnr_vs_fp32.mean < 60 and worse.de_mean.mean > 0


def test_one_psnr_implementation():
    """PSNR and its cap live in metrics.py; the others delegate to it."""
    from pathlib import Path

    import edgecolor
    from edgecolor.bench import quality
    from edgecolor.devices.emulate import agreement
    from edgecolor.quant import validation

    assert quality.PSNR_CAP_DB is metrics.PSNR_CAP_DB or quality.PSNR_CAP_DB == 100.0
    assert quality.capped_psnr is metrics.capped_psnr
    assert agreement.PSNR_CAP_DB == validation.PSNR_CAP == metrics.PSNR_CAP_DB
    root = Path(edgecolor.__file__).resolve().parent.parent
    for rel in ("converters/run.py", "devices/emulate/agreement.py", "toolkit/bench/quality.py",
                "toolkit/quant/validation.py", "toolkit/fidelity.py"):
        text = (root / rel).read_text()
        assert "log10(" not in text, f"{rel} computes a PSNR itself"
        assert "PSNR_CAP_DB = 100" not in text and "PSNR_CAP = 100" not in text


def test_quick_check_scores_at_full_resolution_with_the_one_scorer(colorful_baseline64,
                                                                   calib_dir, tmp_path):
    """convert's quick check: the same numbers edgecolor.fidelity gives for the artifact on
    the held-out photos at their own size (the model runs at 64 px)."""
    import json

    from edgecolor.converters.run import convert_all
    from edgecolor.fidelity import FidelityScorer, PhotoSet
    from edgecolor.runtimes import load_runner
    from edgecolor.runtimes.keras import KerasRunner

    model, spec, weights = colorful_baseline64
    (res,) = convert_all("baseline", "x86-cpu", formats=["tflite"], precisions=["dynamic"],
                         calib=calib_dir, out_dir=tmp_path, weights=weights, imgsz=64)
    assert res.ok, res.error
    check = json.loads(res.path.with_suffix(".json").read_text())["quick_check"]
    assert check["resolution"] == "full" and check["fidelity"]["images"] == check["images"]
    from edgecolor.calibration import CalibrationSet

    held = CalibrationSet.from_folder(calib_dir, spec, size=200).holdout_paths
    photos = PhotoSet(held, spec)
    assert photos.truth[0].shape[0] > 64
    scorer = FidelityScorer(photos, KerasRunner.from_model(model, spec).infer)
    with load_runner(res.path) as runner:
        fid = scorer.score(runner.infer)
    assert check["psnr_db"] == pytest.approx(fid.psnr_vs_fp32.mean, abs=1e-6)
    assert check["fidelity"]["de_mean"]["mean"] == pytest.approx(fid.de_mean.mean, abs=1e-3)
    assert "dpsnr" in check["fidelity"] and 30 < check["psnr_db"] < 100
