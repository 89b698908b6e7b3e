"""Model spec: the one preprocessing function and the output decoders."""

from __future__ import annotations

import numpy as np

from edgecolor.spec import InputSpec, ModelSpec, OutputSpec
from edgecolor.zoo import create_spec


def test_baseline_spec_normalizes_l_to_minus_one_one():
    spec = create_spec("baseline", input_size=32)
    l_full = np.linspace(0, 100, 64 * 48, dtype=np.float32).reshape(64, 48)
    (x,) = spec.make_inputs(l_full)
    assert x.shape == (1, 32, 32, 1) and x.dtype == np.float32
    assert -1.0 <= x.min() < -0.9 and 0.9 < x.max() <= 1.0


def test_multi_input_spec_makes_each_input():
    spec = ModelSpec(
        "two",
        (InputSpec("l", (16, 16), "l/50-1"), InputSpec("rgb", (24, 24), "gray_rgb/127.5-1", 3)),
        OutputSpec("ab"),
    )
    a, b = spec.make_inputs(np.full((40, 40), 50.0, np.float32))
    assert a.shape == (1, 16, 16, 1) and abs(a.mean()) < 1e-6
    assert b.shape == (1, 24, 24, 3)
    assert np.allclose(b[..., 0], b[..., 2])  # gray stacked to 3 channels


def test_decode_ab_tanh_scales_by_128():
    spec = create_spec("baseline")
    y = np.full((1, 4, 4, 2), 0.5, np.float32)
    assert np.allclose(spec.decode(y), 64.0)


def test_decode_rgb_tanh_gives_the_ab_of_that_rgb():
    out = OutputSpec("rgb", "rgb_tanh")
    y = np.zeros((1, 2, 2, 3), np.float32)
    y[..., 0] = 1.0  # RGB (1, 0.5, 0.5) in 0..1
    ab = out.decode(y)
    assert ab.shape == (2, 2, 2) and ab[..., 0].mean() > 20  # reddish: a > 0


def test_spec_round_trips_through_dict():
    spec = create_spec("baseline", input_size=(48, 64))
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    assert spec.with_size((32, 32)).input_size == (32, 32)
