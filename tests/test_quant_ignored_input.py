"""The ignored-input check: a model whose output barely uses one of its inputs (our
one-epoch koalarization ignores L, its colors come from the Inception logits alone) is
flagged, and a budget it cannot meet says so (real Keras and TFLite runs)."""

from __future__ import annotations

import pytest

from edgecolor.spec import InputSpec, ModelSpec, OutputSpec

pytestmark = pytest.mark.slow

SIZE = 32


def _two_inputs(weight_l: float):
    """-> (model, spec): ab = 128 * tanh(conv(l) * weight_l + conv(side)); both inputs are
    the photo's L (side at half size, upsampled)."""
    from edgecolor._tf import import_tf

    _, keras = import_tf()
    keras.utils.set_random_seed(0)
    L = keras.layers
    spec = ModelSpec("twoin", (InputSpec("l", (SIZE, SIZE), "l/50-1", 1),
                               InputSpec("side", (SIZE // 2, SIZE // 2), "l/50-1", 1)),
                     OutputSpec("ab", "ab_tanh", 128.0))
    l_in = L.Input((SIZE, SIZE, 1), batch_size=1, name="l")
    side = L.Input((SIZE // 2, SIZE // 2, 1), batch_size=1, name="side")
    a = L.Conv2D(2, 3, padding="same", name="from_l")(l_in)
    a = L.Rescaling(weight_l, name="l_weight")(a)
    b = L.UpSampling2D(name="side_up")(L.Conv2D(2, 3, padding="same", name="from_side")(side))
    out = L.Activation("tanh", name="ab")(L.Add(name="sum")([a, b]))
    return keras.Model([l_in, side], out, name="twoin"), spec


@pytest.fixture(scope="module")
def calib(tmp_path_factory):
    from edgecolor.calibration import CalibrationSet
    from edgecolor.samples import CALIB_DIR

    _, spec = _two_inputs(1.0)
    return CalibrationSet.from_folder(CALIB_DIR, spec, size=None, holdout=2)


def test_an_input_the_output_barely_uses_is_flagged(calib):
    from edgecolor.quant.risks import IGNORED_RATIO, ignored_input_risks, input_influence

    ignored, spec = _two_inputs(1e-5)
    used, _ = _two_inputs(1.0)
    names = [i.name for i in spec.inputs]
    weak = input_influence(ignored, spec, calib.samples)
    both = input_influence(used, spec, calib.samples)
    assert [f.input for f in weak] == names
    assert weak[0].ratio < IGNORED_RATIO < weak[1].ratio
    assert both[0].ratio > 10 * IGNORED_RATIO and both[1].ratio > 10 * IGNORED_RATIO
    risks = ignored_input_risks(weak)
    assert [(r.layer, r.kind, r.severity) for r in risks] == [("l", "ignored_input", "high")]
    assert "'l'" in risks[0].detail and "\n" not in risks[0].detail
    assert ignored_input_risks(both) == []


def test_a_failed_budget_names_the_ignored_input(calib, tmp_path):
    from edgecolor.converters.common import ConvertOptions
    from edgecolor.quant.budget import Budget, BudgetedConversion, BudgetError

    model, spec = _two_inputs(1e-5)
    conv = BudgetedConversion("tflite", budget=Budget(min_psnr_fp32=200.0), adaround=False,
                              pareto_png=False, search_minutes=1e-4)
    with pytest.raises(BudgetError) as err:
        conv(model, spec, "int8", tmp_path / "twoin.tflite", ConvertOptions(calib=calib))
    message = str(err.value)
    assert "barely uses input 'l'" in message and "\n" not in message
    assert [a.strategy for a in err.value.attempts] == ["int8"]
    assert not list(tmp_path.iterdir())  # nothing half-written
    # a model that uses both inputs fails the same budget without that reason
    used, _ = _two_inputs(1.0)
    conv = BudgetedConversion("tflite", budget=Budget(min_psnr_fp32=200.0), adaround=False,
                              pareto_png=False, search_minutes=1e-4)
    with pytest.raises(BudgetError) as err:
        conv(used, spec, "int8", tmp_path / "used.tflite", ConvertOptions(calib=calib))
    assert "barely uses" not in str(err.value)
