"""The converters' memo of slow steps (``edgecolor.converters.step_cache``): TFLite
calibrates a model once for every float set, the ONNX rows share one tf2onnx export, and
nothing stale is ever reused (real TFLite and tf2onnx conversions of the spiky test model).
"""

from __future__ import annotations

import gc

import numpy as np
import pytest
from test_quant_sensitivity import build_spiky, make_truth_folder

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spiky(tmp_path_factory):
    from edgecolor.calibration import CalibrationSet

    model, spec = build_spiky()
    folder = make_truth_folder(model, spec, tmp_path_factory.mktemp("truth"))
    return model, spec, CalibrationSet.from_folder(folder, spec, size=None, holdout=2)


@pytest.fixture
def cache():
    from edgecolor.converters.step_cache import CACHE

    CACHE.clear()
    hits, misses = CACHE.hits, CACHE.misses
    yield lambda: (CACHE.hits - hits, CACHE.misses - misses)
    CACHE.clear()


def _selective(model, spec, calib, layers, path):
    from edgecolor.converters.common import ConvertOptions
    from edgecolor.converters.tflite import convert

    convert(model, spec, "int8", path, ConvertOptions(calib=calib,
                                                      extra={"float_layers": layers}))
    return path.read_bytes()


def test_tflite_float_sets_of_one_model_share_one_calibration(spiky, cache, tmp_path):
    """Three float sets: one calibration; each artifact is byte for byte what a fresh
    calibration gives; another calibration set and a model changed in place calibrate anew."""
    from edgecolor.calibration import CalibrationSet
    from edgecolor.converters.step_cache import CACHE

    model, spec, calib = spiky
    sets = (["spike"], ["ab"], ["spike", "conv4"])
    shared = [_selective(model, spec, calib, s, tmp_path / f"{i}.tflite")
              for i, s in enumerate(sets)]
    assert cache() == (2, 1)
    assert len({bytes(b) for b in shared}) == 3  # each float set is its own artifact
    for i, s in enumerate(sets):
        CACHE.clear()
        assert _selective(model, spec, calib, s, tmp_path / "fresh.tflite") == shared[i]

    CACHE.clear()
    hits, misses = cache()
    _selective(model, spec, calib, ["ab"], tmp_path / "a.tflite")
    other = CalibrationSet.from_folder(calib.folder, spec, size=None, holdout=3)
    _selective(model, spec, other, ["ab"], tmp_path / "b.tflite")
    assert cache() == (hits, misses + 2)

    changed, _ = build_spiky(seed=1)
    changed.set_weights(model.get_weights())
    before = _selective(changed, spec, calib, ["ab"], tmp_path / "c.tflite")
    k, b = changed.get_layer("conv4").get_weights()
    changed.get_layer("conv4").set_weights([k * 2.0, b])  # in place: same object
    after = _selective(changed, spec, calib, ["ab"], tmp_path / "d.tflite")
    assert cache() == (hits, misses + 4) and before != after


def test_onnx_rows_share_one_export_and_each_gets_its_own_copy(spiky, cache, tmp_path):
    import onnx

    from edgecolor.converters.onnx import export_fp32, exported_fp32

    model, spec, _ = spiky
    first = exported_fp32(model, spec)
    first.graph.node[0].name = "changed by the first caller"
    second = exported_fp32(model, spec)
    assert cache() == (1, 1)
    fresh = export_fp32(model, spec)  # tf2onnx numbers the nodes it makes per process

    def content(proto):
        return ([n.op_type for n in proto.graph.node],
                sorted(onnx.numpy_helper.to_array(t).tobytes() for t in proto.graph.initializer))

    assert content(second) == content(fresh)
    assert second.graph.node[0].name != first.graph.node[0].name
    exported_fp32(model, spec, opset=18)
    assert cache() == (1, 2)


def test_a_freed_model_takes_its_entries_with_it(spiky, cache):
    from edgecolor.converters.step_cache import StepCache

    _, spec, calib = spiky
    steps = StepCache(size=4)
    model, _ = build_spiky(seed=2)
    steps.get("x", model, calib, (), lambda: np.zeros(3))
    steps.get("x", model, None, (), lambda: np.zeros(3))
    assert len(steps) == 2
    del model
    gc.collect()
    assert len(steps) == 0
    others = [build_spiky(seed=3 + i)[0] for i in range(3)]
    for m in others:
        steps.get("x", m, None, (), lambda: 0)
    small = StepCache(size=2)
    for m in others:
        small.get("x", m, None, (), lambda: 0)
    assert len(steps) == 3 and len(small) == 2


def test_the_tflite_ranking_requantizes_the_converters_calibration(spiky, cache, tmp_path):
    """The sensitivity ranking's TFLite backend finds the calibration the budget's float
    sets made; its layer statistics run on the held-out photos it asks for, and the
    calibration samples are back afterwards."""
    from edgecolor.quant.backends import TFLiteBackend

    model, spec, calib = spiky
    converted = _selective(model, spec, calib, ["spike"], tmp_path / "a.tflite")
    backend = TFLiteBackend(model, spec, calib)
    assert cache() == (1, 1)
    assert backend.quantize(["spike"]) == converted
    seen = []
    debug = backend._calibrated.debug_samples
    before = debug.samples
    assert len(before) == len(calib.samples)
    original = debug.__class__.__call__

    def counting(self):
        for sample in original(self):
            seen.append(sample)
            yield sample

    debug.__class__.__call__ = counting
    try:
        stats = backend.layer_stats(calib.holdout)
    finally:
        debug.__class__.__call__ = original
    assert len(seen) == len(calib.holdout) != len(calib.samples)
    assert "spike" in stats and stats["spike"]["rmse/scale"] > 0
    assert debug.samples is before
