"""pix2pix-style U-Net generators on Keras-applications encoders, in LAB and in RGB.

Encoder: MobileNetV2 or DenseNet121 (``weights=None``; ``backbone_weights=PATH`` loads an
ImageNet ``.h5`` you already have, never downloaded), tapped at strides 2, 4, 8, 16 and 32.
Decoder (Isola et al., pix2pix): from the stride-32 features, four blocks of
Conv2DTranspose 4x4 s2 + BatchNorm (+ Dropout 0.5 on the first three) + ReLU, each
concatenated with the encoder tap of the same stride, then a Conv2DTranspose 4x4 s2 to the
input size with tanh. 256x256 by default; sizes must be multiples of 32.

- ``*-lab``: input L/50 - 1 repeated to 3 channels (the ImageNet encoders' stem expects RGB,
  and only a 3-channel stem can take ``backbone_weights``), output ab = 128 * tanh.
- ``*-rgb``: input the gray photo as RGB scaled to -1..1, output RGB in -1..1 of which only
  ab is kept (the photo's own L replaces the predicted one).

``width`` scales the decoder's channels; for MobileNetV2 it is also the encoder's ``alpha``,
for DenseNet121 a width below 1 builds "DenseNet-reduced": the same four dense blocks with
``round(width * (6, 12, 24, 16))`` layers each (at least 1) instead of DenseNet121's (6, 12,
24, 16) — a small stand-in for tests, not DenseNet121.
"""

from __future__ import annotations

import functools

from edgecolor.spec import InputSpec, ModelSpec, OutputSpec
from edgecolor.zoo.koalarization import check_backbone_weights
from edgecolor.zoo.published import seed_reported
from edgecolor.zoo.registry import register_model

DENSENET121_BLOCKS = (6, 12, 24, 16)
MOBILENETV2_TAPS = ("block_1_expand_relu", "block_3_expand_relu", "block_6_expand_relu",
                    "block_13_expand_relu", "block_16_project")
DECODER_FILTERS = (512, 256, 128, 64)  # stride 32->16, 16->8, 8->4, 4->2
# Paper-size (256x256, width 1) parameter counts, counted by tests/test_zoo.py.
PARAMS = {
    ("mobilenetv2", "lab"): 10_124_866,
    ("mobilenetv2", "rgb"): 10_127_427,
    ("densenet121", "lab"): 23_691_586,
    ("densenet121", "rgb"): 23_693_635,
}


def pix2pix_spec(backbone: str, space: str,
                 input_size: tuple[int, int] = (256, 256)) -> ModelSpec:
    """Spec of a pix2pix generator: LAB (L in, ab_tanh out) or RGB (gray RGB in, rgb_tanh out)."""
    name = f"pix2pix-{backbone}-{space}"
    if space == "lab":
        inp = InputSpec("l", tuple(input_size), "l/50-1", 3)
        out = OutputSpec("ab", "ab_tanh", scale=128.0)
    else:
        inp = InputSpec("gray_rgb", tuple(input_size), "gray_rgb/127.5-1", 3)
        out = OutputSpec("rgb", "rgb_tanh")
    return ModelSpec(name=name, inputs=(inp,), output=out)


def _densenet_blocks(width: float) -> tuple[int, ...]:
    if width >= 1.0:
        return DENSENET121_BLOCKS
    return tuple(max(1, int(round(b * width))) for b in DENSENET121_BLOCKS)


def _encoder(keras, backbone: str, inp, width: float, weights):
    """-> (the encoder built on ``inp`` in the same graph, its five tap layer names)."""
    if backbone == "mobilenetv2":
        net = keras.applications.MobileNetV2(input_tensor=inp, alpha=width, include_top=False,
                                             weights=weights)
        return net, MOBILENETV2_TAPS
    blocks = _densenet_blocks(width)
    if blocks == DENSENET121_BLOCKS:
        net = keras.applications.DenseNet121(input_tensor=inp, include_top=False,
                                             weights=weights)
    else:
        if weights:
            raise ValueError("pix2pix: backbone_weights needs the full DenseNet121 (width=1)")
        # Keras exposes the generic DenseNet(blocks) only in its private module
        from keras.src.applications.densenet import DenseNet

        net = DenseNet(list(blocks), include_top=False, weights=None, input_tensor=inp,
                       name="densenet_reduced")
    taps = ("conv1_relu", f"conv2_block{blocks[0]}_concat", f"conv3_block{blocks[1]}_concat",
            f"conv4_block{blocks[2]}_concat", "relu")
    return net, taps


def build_pix2pix(backbone: str, space: str, input_size: tuple[int, int] = (256, 256),
                  batch_size: int | None = None, width: float = 1.0,
                  backbone_weights: str | None = None):
    """-> (keras.Model, ModelSpec) of ``pix2pix-<backbone>-<space>``."""
    from edgecolor._tf import import_tf

    spec = pix2pix_spec(backbone, space, input_size)
    h, w = spec.input_size
    if h % 32 or w % 32:
        raise ValueError(f"{spec.name}: input size {h}x{w} must be a multiple of 32")
    _, keras = import_tf()
    L = keras.layers
    inp = L.Input((h, w, 3), batch_size=batch_size, name=spec.inputs[0].name)
    # input_tensor=: the encoder's layers join this graph (one flat model, no nesting)
    net, tap_names = _encoder(keras, backbone, inp, width,
                              check_backbone_weights(backbone_weights))
    taps = [net.get_layer(n).output for n in tap_names]
    x = taps[-1]
    for i, (filters, skip) in enumerate(zip(DECODER_FILTERS, reversed(taps[:-1]), strict=True)):
        x = L.Conv2DTranspose(max(1, int(round(filters * width))), 4, strides=2, padding="same",
                              use_bias=False, name=f"up{i + 1}_deconv")(x)
        x = L.BatchNormalization(name=f"up{i + 1}_bn")(x)
        if i < 3:
            x = L.Dropout(0.5, name=f"up{i + 1}_dropout")(x)
        x = L.ReLU(name=f"up{i + 1}_relu")(x)
        x = L.Concatenate(name=f"up{i + 1}_skip")([x, skip])
    out_ch = 2 if space == "lab" else 3
    out = L.Conv2DTranspose(out_ch, 4, strides=2, padding="same", activation="tanh",
                            name=spec.output.name)(x)
    return keras.Model(inp, out, name=spec.name.replace("-", "_")), spec


def _register(backbone: str, space: str) -> None:
    name = f"pix2pix-{backbone}-{space}"

    # partials keep the keyword signatures, so the registry knows the valid options
    spec = functools.partial(pix2pix_spec, backbone, space)
    build = functools.partial(build_pix2pix, backbone, space)
    register_model(
        name, spec=spec, params=PARAMS[(backbone, space)],
        reported=seed_reported(name),  # the seed's Table 1 (other hardware)
        paper=f"pix2pix U-Net generator (Isola et al., CVPR 2017) on a {backbone} encoder, "
              f"{space.upper()} color space",
        train_loss="l1",  # pix2pix's reconstruction term
    )(build)


for _backbone in ("mobilenetv2", "densenet121"):
    for _space in ("lab", "rgb"):
        _register(_backbone, _space)
