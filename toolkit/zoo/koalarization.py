"""Baldassarre, Morín & Rodés-Guirao, "Deep Koalarization" (2017): CNN + Inception-ResNet-v2.

Two inputs made from one L: ``l`` (224x224, L/50 - 1) feeds an encoder (Conv 64 s2, 128,
128 s2, 256, 256 s2, 512, 512, 256; 3x3 ReLU 'same'); ``l_rgb299`` (the gray photo as RGB at
299x299, x/127.5 - 1, Inception's own preprocessing) feeds Inception-ResNet-v2, whose 1000-d
pre-softmax output is repeated over the encoder's 28x28 grid and concatenated (fusion);
Conv 256 1x1, then the decoder Conv 128, Up, Conv 64, Conv 64, Up, Conv 32, Conv 2 tanh, Up;
ab = 128 * tanh.

Fusion: ``fusion="split"`` (default) computes the fusion conv as its two halves,
W·[x; e] = W_x·x + W_e·e: a 1x1 conv on the encoder features plus a Dense on the embedding,
repeated over the grid and added. Same function, same parameters, and weight files of either
form load into either (:func:`load_any_fusion`); ``fusion="concat"`` builds the paper's graph
literally. Why split: every int8 backend gives a concat one scale, and the concat joins
encoder features (0..0.05 after our 10-minute training) with logits (±2.6), which leaves the
encoder a few levels (``edgecolor.quant.risks`` flags it as ``concat_ranges``); split, each
half gets its own scale, and the embedding half runs once per image instead of at each of
the 784 grid cells. (It did not rescue our one-epoch weights' int8 artifacts, 15.5 dB vs FP32
either way on held-out bsd100 photos: that Inception's logits reach ±417 on some photos,
far outside any calibrated range, and every quantized artifact clips them.)

The backbone is built with ``weights=None``; ``backbone_weights=PATH`` loads a Keras
Inception-ResNet-v2 ``.h5`` you already have (nothing is downloaded), and
``freeze_backbone=True`` keeps it as it is while ``edgecolor train`` fits the rest (the
paper's recipe: the classifier stays ImageNet's; its BatchNorms keep their statistics).
``backbone="tiny"``
swaps in a small stand-in (two convs, global pooling, Dense 1000) for tests and quick
experiments; it is not the paper's network.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgecolor.spec import InputSpec, ModelSpec, OutputSpec
from edgecolor.zoo.published import seed_reported
from edgecolor.zoo.registry import register_model

# encoder + fusion + decoder 6,573,794 + Inception-ResNet-v2 with its 1000-way top 55,873,736
PARAMS = 62_447_530
BACKBONES = ("inception_resnet_v2", "tiny")
FUSIONS = ("split", "concat")
EMBEDDING = 1000


def koalarization_spec(input_size: tuple[int, int] = (224, 224),
                       backbone_size: int = 299) -> ModelSpec:
    """Spec: inputs ``l`` (L/50 - 1) and ``l_rgb299`` (gray RGB/127.5 - 1, 3 channels)."""
    return ModelSpec(
        name="koalarization",
        inputs=(
            InputSpec("l", tuple(input_size), "l/50-1", 1),
            InputSpec("l_rgb299", (backbone_size, backbone_size), "gray_rgb/127.5-1", 3),
        ),
        output=OutputSpec("ab", "ab_tanh", scale=128.0),
    )


def check_backbone_weights(path) -> str | None:
    """None or an existing local file path -> its str; ValueError otherwise (never downloads)."""
    if path is None:
        return None
    if not Path(path).is_file():
        raise ValueError(f"{path}: backbone weights file not found (give a local Keras .h5; "
                         "edgecolor never downloads weights)")
    return str(path)


def _tiny_backbone(keras, inp, width: float):
    L = keras.layers
    x = L.Conv2D(max(4, int(32 * width)), 3, strides=2, padding="same", activation="relu",
                 name="tiny_conv1")(inp)
    x = L.Conv2D(max(4, int(64 * width)), 3, strides=2, padding="same", activation="relu",
                 name="tiny_conv2")(x)
    x = L.GlobalAveragePooling2D(name="tiny_pool")(x)
    return L.Dense(EMBEDDING, name="tiny_logits")(x)


def _fusion_of(model) -> str:
    return "concat" if "fusion_concat" in {layer.name for layer in model.layers} else "split"


def _copy_weights(src, dst, skip: set[str]) -> None:
    """Copy layer weights by name, and the auto-named ones (Inception's "conv2d_17", which
    depend on how many models the session built) in layer order."""
    src_names = {layer.name for layer in src.layers}
    dst_names = {layer.name for layer in dst.layers}
    unnamed_src = [la for la in src.layers if la.weights and la.name not in skip | dst_names]
    unnamed_dst = [la for la in dst.layers if la.weights and la.name not in skip | src_names]
    for layer in dst.layers:
        if layer.weights and layer.name not in skip and layer.name in src_names:
            layer.set_weights(src.get_layer(layer.name).get_weights())
    for a, b in zip(unnamed_src, unnamed_dst, strict=True):
        b.set_weights(a.get_weights())


def _transfer(src, dst) -> None:
    """Copy the weights of koalarization ``src`` into ``dst`` built with the other fusion: the
    fusion conv's kernel is split at the encoder's channel count (or joined back)."""
    _copy_weights(src, dst, skip={"fusion_conv", "fusion_embed"})
    kernel, bias = src.get_layer("fusion_conv").get_weights()
    if _fusion_of(dst) == "split":  # (1, 1, enc + 1000, n) -> (1, 1, enc, n) and (1000, n)
        enc = src.get_layer("enc8").filters
        dst.get_layer("fusion_conv").set_weights([kernel[:, :, :enc], bias])
        dst.get_layer("fusion_embed").set_weights([kernel[0, 0, enc:]])
    else:
        (embed,) = src.get_layer("fusion_embed").get_weights()
        joined = np.concatenate([kernel, embed[None, None]], axis=2)
        dst.get_layer("fusion_conv").set_weights([joined, bias])


def switch_fusion(model):
    """A koalarization Keras model -> the same function built with the other fusion (same
    sizes and backbone), weights transferred. Returns (keras.Model, ModelSpec)."""
    names = {layer.name for layer in model.layers}
    l_in, rgb_in = model.inputs
    new, spec = koalarization(
        input_size=tuple(l_in.shape[1:3]), batch_size=l_in.shape[0],
        width=model.get_layer("enc1").filters / 64,
        backbone="tiny" if "tiny_logits" in names else "inception_resnet_v2",
        backbone_size=rgb_in.shape[1],
        fusion="split" if _fusion_of(model) == "concat" else "concat")
    _transfer(model, new)
    return new, spec


def load_any_fusion(model, path) -> None:
    """Load a koalarization weights file saved from either fusion into ``model``."""
    import warnings

    from edgecolor.zoo.registry import load_weights

    with warnings.catch_warnings():  # Keras notes the other form's layers it skips
        warnings.simplefilter("ignore", UserWarning)
        try:
            load_weights(model, path)
            return
        except ValueError:
            twin, _ = switch_fusion(model)
            load_weights(twin, path)  # raises the one-line error if the file fits neither
    _transfer(twin, model)


@register_model(
    "koalarization",
    spec=koalarization_spec,
    paper="Baldassarre, Morin, Rodes-Guirao: Deep Koalarization: Image Colorization using "
          "CNNs and Inception-ResNet-v2 (arXiv:1712.03400)",
    params=PARAMS,
    reported=seed_reported("koalarization"),  # the seed's Table 1 (other hardware)
    load=load_any_fusion,
)
def koalarization(input_size: tuple[int, int] = (224, 224), batch_size: int | None = None,
                  width: float = 1.0, backbone: str = "inception_resnet_v2",
                  backbone_size: int = 299, backbone_weights: str | None = None,
                  fusion: str = "split", freeze_backbone: bool = False):
    """-> (keras.Model, ModelSpec). ``width`` scales encoder/decoder channels (not the 1000-d);
    ``fusion``: "split" or "concat" (see the module docstring); ``freeze_backbone``: the
    backbone's layers are not trainable (same weights file either way)."""
    from edgecolor._tf import import_tf

    if backbone not in BACKBONES:
        raise ValueError(f"koalarization: unknown backbone {backbone!r}; choose one of "
                         f"{BACKBONES}")
    if fusion not in FUSIONS:
        raise ValueError(f"koalarization: unknown fusion {fusion!r}; choose one of {FUSIONS}")
    if not isinstance(freeze_backbone, bool):
        raise ValueError(f"koalarization: freeze_backbone must be true or false, not "
                         f"{freeze_backbone!r}")
    spec = koalarization_spec(input_size, backbone_size)
    h, w = spec.input_size
    if h % 8 or w % 8:
        raise ValueError(f"koalarization: input size {h}x{w} must be a multiple of 8")
    _, keras = import_tf()
    L = keras.layers

    def conv(n, stride=1, k=3, act="relu", name=None):
        return L.Conv2D(max(1, int(round(n * width))), k, strides=stride, padding="same",
                        activation=act, name=name)

    l_in = L.Input((h, w, 1), batch_size=batch_size, name="l")
    rgb_in = L.Input((backbone_size, backbone_size, 3), batch_size=batch_size, name="l_rgb299")

    x = l_in
    for i, (n, s) in enumerate([(64, 2), (128, 1), (128, 2), (256, 1), (256, 2), (512, 1),
                                (512, 1), (256, 1)], 1):
        x = conv(n, s, name=f"enc{i}")(x)

    if backbone == "tiny":
        if backbone_weights:
            raise ValueError("koalarization: backbone_weights needs backbone='inception_resnet_v2'")
        embed = _tiny_backbone(keras, rgb_in, width)
    else:
        # input_tensor=: the backbone's layers join this graph (one flat model, no nesting)
        embed = keras.applications.InceptionResNetV2(
            include_top=True, weights=check_backbone_weights(backbone_weights),
            input_tensor=rgb_in, classifier_activation=None).output  # (B, 1000) pre-softmax
    gh, gw = h // 8, w // 8
    if fusion == "concat":
        fused = L.RepeatVector(gh * gw, name="fusion_repeat")(embed)
        fused = L.Reshape((gh, gw, EMBEDDING), name="fusion_grid")(fused)
        x = L.Concatenate(axis=-1, name="fusion_concat")([x, fused])
        x = conv(256, k=1, name="fusion_conv")(x)
    else:
        x = conv(256, k=1, act=None, name="fusion_conv")(x)  # encoder half, with the bias
        e = L.Dense(x.shape[-1], use_bias=False, name="fusion_embed")(embed)
        # tiled, not broadcast: TensorFlow turns an Add of a (1, 1, C) tensor into a second
        # BiasAdd, which tf2onnx folds into the conv as a fourth input (invalid ONNX)
        e = L.RepeatVector(gh * gw, name="fusion_repeat")(e)
        e = L.Reshape((gh, gw, x.shape[-1]), name="fusion_grid")(e)
        x = L.ReLU(name="fusion_relu")(L.Add(name="fusion_add")([x, e]))

    x = conv(128, name="dec1")(x)
    x = L.UpSampling2D(name="dec_up1")(x)
    x = conv(64, name="dec2")(x)
    x = conv(64, name="dec3")(x)
    x = L.UpSampling2D(name="dec_up2")(x)
    x = conv(32, name="dec4")(x)
    x = L.Conv2D(2, 3, padding="same", activation="tanh", name="dec_ab")(x)
    out = L.UpSampling2D(name="ab")(x)
    if freeze_backbone:  # the layers from the backbone's input to its logits, either backbone
        for layer in keras.Model(rgb_in, embed).layers:
            layer.trainable = False
    return keras.Model([l_in, rgb_in], out, name="koalarization"), spec

