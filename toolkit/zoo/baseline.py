"""Model 1 of the seed study: the baseline encoder-decoder CNN.

256x256x1 L in; Conv 32, Conv 32 s2, Conv 64, Conv 64 s2, Conv 128, Up, Conv 64, Up, Conv 32,
Conv 2 tanh (3x3, ReLU, 'same'): 231,682 parameters. Input L/50 - 1 (-1..1, symmetric, good
for int8); output ab = 128 * tanh.
"""

from __future__ import annotations

from edgecolor.spec import InputSpec, ModelSpec, OutputSpec
from edgecolor.zoo.published import seed_reported
from edgecolor.zoo.registry import register_model

PARAMS = 231_682


def baseline_spec(input_size: tuple[int, int] = (256, 256)) -> ModelSpec:
    """Spec: one input ``l`` (L/50 - 1), output ``ab`` (128 * tanh)."""
    return ModelSpec(
        name="baseline",
        inputs=(InputSpec("l", tuple(input_size), "l/50-1", 1),),
        output=OutputSpec("ab", "ab_tanh", scale=128.0),
    )


@register_model(
    "baseline",
    spec=baseline_spec,
    paper="Comparative study of colorization networks, Model 1 (baseline CNN)",
    params=PARAMS,
    reported=seed_reported("baseline"),  # the seed's Table 1 (other hardware)
    weights="baseline.weights.h5",
)
def baseline(input_size: tuple[int, int] = (256, 256), batch_size: int | None = None,
             width: float = 1.0):
    """-> (keras.Model, ModelSpec). ``width`` scales every hidden layer's channels."""
    from edgecolor._tf import import_tf

    _, keras = import_tf()
    L = keras.layers

    def ch(n: int) -> int:
        return max(1, int(round(n * width)))

    spec = baseline_spec(input_size)
    h, w = spec.input_size
    inp = L.Input((h, w, 1), batch_size=batch_size, name="l")

    def conv(n, stride=1, name=None):
        return L.Conv2D(ch(n), 3, strides=stride, padding="same", activation="relu", name=name)

    x = conv(32, name="conv1")(inp)
    x = conv(32, 2, name="conv2")(x)
    x = conv(64, name="conv3")(x)
    x = conv(64, 2, name="conv4")(x)
    x = conv(128, name="conv5")(x)
    x = L.UpSampling2D(name="up1")(x)
    x = conv(64, name="conv6")(x)
    x = L.UpSampling2D(name="up2")(x)
    x = conv(32, name="conv7")(x)
    out = L.Conv2D(2, 3, padding="same", activation="tanh", name="ab")(x)
    return keras.Model(inp, out, name="baseline"), spec
