"""Model 1 of the seed: the baseline CNN."""

from __future__ import annotations

import numpy as np
import pytest

from edgecolor.zoo import create_model, get_model_info, list_models


def test_baseline_has_the_papers_parameter_count():
    model, spec = create_model("baseline", weights=None)
    assert model.count_params() == 231_682 == get_model_info("baseline").params
    assert spec.input_size == (256, 256)
    assert model.output_shape == (None, 256, 256, 2)


def test_baseline_output_is_bounded_ab(baseline64, rng):
    model, spec = baseline64
    y = model(rng.uniform(-1, 1, (1, 64, 64, 1)).astype(np.float32)).numpy()
    ab = spec.decode(y)
    assert ab.shape == (64, 64, 2) and np.abs(ab).max() <= 128.0


def test_unknown_model_names_the_choices():
    with pytest.raises(ValueError, match="baseline"):
        create_model("no-such-model")
    assert "baseline" in list_models()


def test_weights_that_do_not_fit_give_a_clear_error(tmp_path):
    small, _ = create_model("baseline", input_size=32, weights=None, width=0.5)
    path = tmp_path / "half.weights.h5"
    small.save_weights(path)
    with pytest.raises(ValueError, match="half.weights.h5"):
        create_model("baseline", input_size=32, weights=path)


def test_a_file_that_is_not_keras_weights_is_named(tmp_path):
    path = tmp_path / "notes.weights.h5"
    path.write_text("not weights\n")
    with pytest.raises(ValueError, match="notes.weights.h5: not a Keras weights file"):
        create_model("baseline", input_size=32, weights=path)
