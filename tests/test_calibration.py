"""Calibration sets: deterministic sampling, held-out images apart, bad images skipped, aHash."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from edgecolor.calibration import (
    CalibrationSet,
    average_hash,
    hamming,
    ort_calibration_reader,
    tflite_representative_dataset,
)
from edgecolor.imageio import read_rgb
from edgecolor.spec import InputSpec, ModelSpec, OutputSpec
from edgecolor.zoo import create_spec


@pytest.fixture(scope="module")
def spec64() -> ModelSpec:
    return create_spec("baseline", 64)


@pytest.fixture()
def photo_dir(tmp_path, calib_dir, eval_dir):
    """12 real photos (bundled calib + eval) in one folder."""
    for p in list(calib_dir.glob("*.jpg")) + list(eval_dir.glob("*.jpg")):
        shutil.copy(p, tmp_path / p.name)
    return tmp_path


def test_sampling_is_seeded_and_holdout_is_apart(photo_dir, spec64):
    a = CalibrationSet.from_folder(photo_dir, spec64, size=None, seed=0, holdout=3)
    b = CalibrationSet.from_folder(photo_dir, spec64, size=None, seed=0, holdout=3)
    c = CalibrationSet.from_folder(photo_dir, spec64, size=None, seed=1, holdout=3)
    assert a.paths == b.paths and a.digest == b.digest
    assert a.holdout_paths != c.holdout_paths  # another seed, another split
    assert len(a.paths) == 9 and len(a.holdout_paths) == 3
    assert not set(a.paths) & set(a.holdout_paths)
    assert len(a.samples) == 9 and len(a.holdout) == 3
    x = a.samples[0][0]
    assert x.shape == (1, 64, 64, 1) and x.dtype == np.float32
    assert -1.0 <= x.min() < x.max() <= 1.0  # L/50 - 1


def test_size_fraction_and_digest(photo_dir, spec64):
    cs = CalibrationSet.from_folder(photo_dir, spec64, size=4, holdout=0.25)
    assert len(cs.holdout_paths) == 3 and len(cs.paths) == 4
    bigger = CalibrationSet.from_folder(photo_dir, spec64, size=5, holdout=0.25)
    assert bigger.digest != cs.digest
    info = cs.info()
    assert info["size"] == 4 and info["holdout"] == 3 and info["seed"] == 0
    # the method belongs to the conversion (ConvertOptions.calib_method), not the photos
    assert "method" not in info and len(info["digest"]) == 64
    assert len(info["image_ahash"]) == 4 and all(len(h) == 16 for h in info["image_ahash"])


def test_unreadable_images_are_skipped_with_a_warning(photo_dir, spec64, capsys):
    (photo_dir / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (photo_dir / "notes.png").write_bytes(b"hello")
    cs = CalibrationSet.from_folder(photo_dir, spec64, size=None, holdout=0)
    assert len(cs.paths) == 12 and len(cs.skipped) == 2
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "notes.png" in err and "skipped" in err


def test_default_is_the_bundled_samples_with_a_warning(spec64, capsys):
    cs = CalibrationSet.from_folder(None, spec64)
    assert len(cs.paths) + len(cs.holdout_paths) == 6
    assert ">= 100 images" in capsys.readouterr().err


def test_bad_requests_name_the_problem(tmp_path, spec64):
    with pytest.raises(ValueError, match="not found"):
        CalibrationSet.from_folder(tmp_path / "nope", spec64)
    with pytest.raises(ValueError, match="no images"):
        CalibrationSet.from_folder(tmp_path, spec64)


def test_two_input_spec_gets_one_array_per_input(calib_dir):
    spec = ModelSpec("two", (InputSpec("l", (64, 64), "l/50-1"),
                             InputSpec("l_small", (32, 48), "l/100", channels=3)),
                     OutputSpec("ab"))
    cs = CalibrationSet.from_folder(calib_dir, spec, size=3)
    assert [x.shape for x in cs.samples[0]] == [(1, 64, 64, 1), (1, 32, 48, 3)]
    assert 0.0 <= cs.samples[0][1].min() and cs.samples[0][1].max() <= 1.0
    batches = list(tflite_representative_dataset(cs)())
    assert len(batches) == 3 and all(len(b) == 2 for b in batches)
    reader = ort_calibration_reader(cs, ["in_a", "in_b"])
    first = reader.get_next()
    assert set(first) == {"in_a", "in_b"} and first["in_b"].shape == (1, 32, 48, 3)
    assert reader.get_next() is not None and reader.get_next() is not None
    assert reader.get_next() is None
    reader.rewind()
    np.testing.assert_array_equal(reader.get_next()["in_a"], first["in_a"])
    with pytest.raises(ValueError, match="2"):
        ort_calibration_reader(cs, ["only_one"])


def test_nncf_dataset_serves_the_same_samples(calib_dir, spec64):
    from edgecolor.calibration import nncf_dataset

    cs = CalibrationSet.from_folder(calib_dir, spec64, size=3)
    items = list(nncf_dataset(cs).get_inference_data())
    assert len(items) == 3
    np.testing.assert_array_equal(items[1][0], cs.samples[1][0])


def test_average_hash_survives_resize_and_recompression(eval_images):
    rgb = read_rgb(eval_images[0])
    h = average_hash(rgb)
    assert len(h) == 16 and int(h, 16) > 0
    small = cv2.resize(rgb, (rgb.shape[1] // 3, rgb.shape[0] // 3), interpolation=cv2.INTER_AREA)
    ok, jpg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 40])
    recompressed = cv2.imdecode(jpg, cv2.IMREAD_UNCHANGED)
    assert hamming(h, average_hash(recompressed)) <= 4
    assert hamming(h, average_hash(rgb.mean(axis=-1))) <= 4  # gray version
    others = [hamming(h, average_hash(read_rgb(p))) for p in eval_images[1:]]
    assert min(others) >= 10
    with pytest.raises(ValueError):
        hamming("ab", "abc")
