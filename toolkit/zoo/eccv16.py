"""Zhang, Isola & Efros, "Colorful Image Colorization" (ECCV 2016), layer for layer.

The network of the official deploy definition (``data/colorization_deploy_v2.prototxt``): eight
conv blocks on L - 50 at 224x224 (ReLU, then a BatchNorm without affine after blocks 1-7;
blocks 5-6 dilated by 2; conv8_1 a 4x4 stride-2 deconvolution), ``conv8_313`` logits over the
313 ab bins, ``conv8_313_rh`` scaling them by 2.606 (= 1/T, annealing T = 0.38), softmax, and
``class8_ab`` (a fixed 1x1 conv whose weights are the bin centers) -> ab at 1/4 of the input
size (56x56 for 224). Keras layer names equal the Caffe layer names, so the Caffe importer
maps blobs by name.

Upsampling ab to the photo's size happens on the host (``color.combine``, bilinear), as in the
authors' demo: the exported graph stays the Caffe graph and its output 16x smaller.

Heads: ``head="ab"`` (default) decodes in the graph (output kind ``ab``); ``head="bins"`` stops
at softmax(conv8_313) (output kind ``ab_bins``) and the host takes the annealed mean at
``temperature`` (``edgecolor.bins.annealed_mean``); ``soft_encoded_loss`` trains it.
"""

from __future__ import annotations

import numpy as np

from edgecolor.spec import InputSpec, ModelSpec, OutputSpec
from edgecolor.zoo.published import seed_reported
from edgecolor.zoo.registry import register_model

# conv weights and biases 32,230,393 + BatchNorm moving mean/var 4,992 + the 313 conv8_313_rh
# scales + the 313x2 class8_ab bin centers (OMZ's colorization-v2: "32.24 M")
PARAMS = 32_236_324
RH_SCALE = 2.606  # conv8_313_rh: 1 / T of the annealed mean baked into the deploy graph
BN_EPS = 1e-5  # Caffe BatchNorm default

# (caffe layer name, filters, kernel, stride, dilation) in graph order; filters of every layer
# but conv8_313 (313 bins) scale with ``width``.
CONVS = (
    ("bw_conv1_1", 64, 3, 1, 1), ("conv1_2", 64, 3, 2, 1),
    ("conv2_1", 128, 3, 1, 1), ("conv2_2", 128, 3, 2, 1),
    ("conv3_1", 256, 3, 1, 1), ("conv3_2", 256, 3, 1, 1), ("conv3_3", 256, 3, 2, 1),
    ("conv4_1", 512, 3, 1, 1), ("conv4_2", 512, 3, 1, 1), ("conv4_3", 512, 3, 1, 1),
    ("conv5_1", 512, 3, 1, 2), ("conv5_2", 512, 3, 1, 2), ("conv5_3", 512, 3, 1, 2),
    ("conv6_1", 512, 3, 1, 2), ("conv6_2", 512, 3, 1, 2), ("conv6_3", 512, 3, 1, 2),
    ("conv7_1", 512, 3, 1, 1), ("conv7_2", 512, 3, 1, 1), ("conv7_3", 512, 3, 1, 1),
    ("conv8_1", 256, 4, 2, 1),  # Deconvolution (pad 1): doubles the size
    ("conv8_2", 256, 3, 1, 1), ("conv8_3", 256, 3, 1, 1),
    ("conv8_313", 313, 1, 1, 1),
)
DECONVS = ("conv8_1",)
# BatchNorm layer -> the conv it follows (after that conv's ReLU)
NORMS = {"conv1_2": "conv1_2norm", "conv2_2": "conv2_2norm", "conv3_3": "conv3_3norm",
         "conv4_3": "conv4_3norm", "conv5_3": "conv5_3norm", "conv6_3": "conv6_3norm",
         "conv7_3": "conv7_3norm"}
HEADS = ("ab", "bins")


def channels(width: float = 1.0) -> dict[str, int]:
    """Caffe layer name -> number of output channels at ``width`` (conv8_313 stays 313)."""
    out = {}
    for name, filters, *_ in CONVS:
        out[name] = filters if name == "conv8_313" else max(1, int(round(filters * width)))
    return out


def eccv16_spec(input_size: tuple[int, int] = (224, 224), head: str = "ab",
                temperature: float = 0.38) -> ModelSpec:
    """Spec: input ``data_l`` (L - 50); output ab at 1/4 size (``ab``) or 313 bins (``ab_bins``)."""
    if head not in HEADS:
        raise ValueError(f"eccv16: unknown head {head!r}; choose one of {HEADS}")
    output = (OutputSpec("class8_ab", "ab") if head == "ab"
              else OutputSpec("class8_313", "ab_bins", temperature=temperature))
    return ModelSpec(
        name="eccv16",
        inputs=(InputSpec("data_l", tuple(input_size), "l-50", 1),),
        output=output,
        # "variant": artifacts of the bins head are named eccv16-bins-*
        extra={"head": head, "output_stride": 4, **({"variant": "bins"} if head != "ab" else {})},
    )


def load_any_head(model, path) -> None:
    """Load an eccv16 weights file saved from either head ("ab": import-caffe; "bins":
    training, whose loss needs the distribution) into ``model`` of either head."""
    import warnings

    from edgecolor.zoo.registry import load_weights

    try:
        with warnings.catch_warnings():  # Keras warns about the other head's extra layers
            warnings.simplefilter("ignore", UserWarning)
            load_weights(model, path)
        return
    except ValueError:
        names = {layer.name for layer in model.layers}
        twin, _ = switch_head(model, "bins" if "class8_ab" in names else "ab")
        load_weights(twin, path)  # raises the one-line error if the file fits neither head
    twin_names = {layer.name for layer in twin.layers}
    for layer in model.layers:  # conv8_313_rh / class8_ab keep their constants
        if layer.weights and layer.name in twin_names:
            layer.set_weights(twin.get_layer(layer.name).get_weights())


@register_model(
    "eccv16",
    load=load_any_head,
    train_options={"head": "bins"},  # the paper's loss is over the 313-bin distribution
    spec=eccv16_spec,
    paper="Zhang, Isola, Efros: Colorful Image Colorization, ECCV 2016 (arXiv:1603.08511)",
    params=PARAMS,
    reported={
        **seed_reported("eccv16"),  # the seed study's conclusion (other hardware)
        # paper abstract: AMT "colorization Turing test", share of trials that fooled people
        "amt_fooled_pct": 32,
        # OpenVINO Open Model Zoo colorization-v2 (same network and weights), first 2,000
        # ImageNet validation images
        "omz_psnr_db": 26.99,
        "omz_ssim": 0.90,
    },
)
def eccv16(input_size: tuple[int, int] = (224, 224), batch_size: int | None = None,
           width: float = 1.0, head: str = "ab", temperature: float = 0.38):
    """-> (keras.Model, ModelSpec). ``width`` scales every conv's channels (not the 313 bins)."""
    from edgecolor._tf import import_tf
    from edgecolor.bins import load_bins

    _, keras = import_tf()
    L = keras.layers
    spec = eccv16_spec(input_size, head, temperature)
    ch = channels(width)
    h, w = spec.input_size
    inp = L.Input((h, w, 1), batch_size=batch_size, name="data_l")
    x = inp
    for name, _, k, stride, dil in CONVS:
        relu = None if name == "conv8_313" else "relu"
        if name in DECONVS:
            # "same" crops 1 px on each side for k=4, s=2: Caffe's pad 1
            x = L.Conv2DTranspose(ch[name], k, strides=stride, padding="same",
                                  activation=relu, name=name)(x)
        elif stride > 1:
            # Caffe pads 1 px on every side; TF "same" would pad only bottom/right here
            x = L.ZeroPadding2D(k // 2, name=f"{name}_pad")(x)
            x = L.Conv2D(ch[name], k, strides=stride, padding="valid", activation=relu,
                         name=name)(x)
        else:
            x = L.Conv2D(ch[name], k, padding="same", dilation_rate=dil, activation=relu,
                         name=name)(x)
        if name in NORMS:
            x = L.BatchNormalization(center=False, scale=False, epsilon=BN_EPS,
                                     momentum=0.999, name=NORMS[name])(x)
    if head == "bins":
        out = L.Softmax(axis=-1, name="class8_313")(x)
        return keras.Model(inp, out, name="eccv16"), spec
    rh = L.DepthwiseConv2D(1, use_bias=False, trainable=False, name="conv8_313_rh")
    x = L.Softmax(axis=-1, name="class8_313_rh")(rh(x))
    ab = L.Conv2D(2, 1, use_bias=False, trainable=False, name="class8_ab")
    out = ab(x)
    rh.set_weights([np.full((1, 1, 313, 1), RH_SCALE, np.float32)])
    ab.set_weights([load_bins()[None, None]])  # (1, 1, 313 in, 2 out)
    return keras.Model(inp, out, name="eccv16"), spec


def switch_head(model, head: str, temperature: float = 0.38):
    """An eccv16 Keras model -> the same weights under the other head (``"ab"`` or ``"bins"``).

    Weights are copied layer by layer by name; ``conv8_313_rh``/``class8_ab`` take their
    constants. Returns (keras.Model, ModelSpec).
    """
    shape = tuple(model.inputs[0].shape[1:3])
    width = model.get_layer("bw_conv1_1").filters / 64
    new, spec = eccv16(input_size=shape, batch_size=model.inputs[0].shape[0], width=width,
                       head=head, temperature=temperature)
    for layer in new.layers:
        if layer.weights and layer.name not in ("conv8_313_rh", "class8_ab"):
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return new, spec
