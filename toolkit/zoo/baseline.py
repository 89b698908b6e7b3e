"""Model 1 of the seed study: the baseline encoder-decoder CNN.

256x256x1 L in; Conv 32, Conv 32 s2, Conv 64, Conv 64 s2, Conv 128, Up, Conv 64, Up, Conv 32,
Conv 2 tanh (3x3, ReLU, 'same'): 231,682 parameters. Input L/50 - 1 (-1..1, symmetric, good
for int8); output ab = 128 * tanh.

``baseline-bins`` is edgecolor's own variant of it: the same encoder (conv1..conv5), conv6 and
conv7 kept at its quarter resolution (no upsampling), ending in a 1x1 conv to a softmax over
ECCV16's 313 ab bins (output kind ``ab_bins`` at 1/4 size, as ECCV16's, decoded on the host
by annealed mean; the photo's own L keeps the detail). Trained with ECCV16's class-rebalanced
soft-encoded cross-entropy it paints bolder colors than the L2 regression, which averages the
plausible colors of a region into sepia (Zhang et al. 2016, section 2.1).
"""

from __future__ import annotations

from edgecolor.spec import InputSpec, ModelSpec, OutputSpec
from edgecolor.zoo.published import seed_reported
from edgecolor.zoo.registry import register_model

PARAMS = 231_682
BINS_PARAMS = 241_433  # conv1..conv7 (all at 1/4 size after conv4) + the 1x1 conv to 313


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
    spec = baseline_spec(input_size)
    h, w = spec.input_size
    inp = L.Input((h, w, 1), batch_size=batch_size, name="l")
    x = _encoder(L, inp, width)
    x = L.UpSampling2D(name="up1")(x)
    x = _conv(L, 64, width, name="conv6")(x)
    x = L.UpSampling2D(name="up2")(x)
    x = _conv(L, 32, width, name="conv7")(x)
    out = L.Conv2D(2, 3, padding="same", activation="tanh", name="ab")(x)
    return keras.Model(inp, out, name="baseline"), spec


def _channels(n: int, width: float) -> int:
    return max(1, int(round(n * width)))


def _conv(L, n: int, width: float, stride: int = 1, name: str | None = None):
    return L.Conv2D(_channels(n, width), 3, strides=stride, padding="same", activation="relu",
                    name=name)


def _encoder(L, inp, width: float):
    """conv1..conv5 of the baseline (3x3, ReLU, 'same') -> features at 1/4 the input size."""
    x = _conv(L, 32, width, name="conv1")(inp)
    x = _conv(L, 32, width, 2, name="conv2")(x)
    x = _conv(L, 64, width, name="conv3")(x)
    x = _conv(L, 64, width, 2, name="conv4")(x)
    return _conv(L, 128, width, name="conv5")(x)


def baseline_bins_spec(input_size: tuple[int, int] = (256, 256),
                       temperature: float = 0.38) -> ModelSpec:
    """Spec: one input ``l`` (L/50 - 1); output ``ab_bins``, a distribution over the 313 ab
    bins at 1/4 of the input size, decoded by annealed mean at ``temperature``."""
    return ModelSpec(
        name="baseline-bins",
        inputs=(InputSpec("l", tuple(input_size), "l/50-1", 1),),
        output=OutputSpec("ab_bins", "ab_bins", temperature=temperature),
        extra={"output_stride": 4},
    )


@register_model(
    "baseline-bins",
    spec=baseline_bins_spec,
    paper="edgecolor: the seed study's baseline trunk with ECCV16's 313-bin rebalanced "
          "classification head (Zhang, Isola, Efros 2016, arXiv:1603.08511)",
    params=BINS_PARAMS,
    weights="baseline-bins.weights.h5",
)
def baseline_bins(input_size: tuple[int, int] = (256, 256), batch_size: int | None = None,
                  width: float = 1.0, temperature: float = 0.38):
    """-> (keras.Model, ModelSpec). ``width`` scales every hidden layer's channels (not the
    313 bins); ``temperature``: the annealed mean's (0.38 as ECCV16; lower is bolder)."""
    from edgecolor._tf import import_tf

    _, keras = import_tf()
    L = keras.layers
    spec = baseline_bins_spec(input_size, temperature)
    h, w = spec.input_size
    inp = L.Input((h, w, 1), batch_size=batch_size, name="l")
    x = _encoder(L, inp, width)
    x = _conv(L, 64, width, name="conv6")(x)
    x = _conv(L, 32, width, name="conv7")(x)
    out = L.Conv2D(313, 1, activation="softmax", name="ab_bins")(x)
    return keras.Model(inp, out, name="baseline_bins"), spec
