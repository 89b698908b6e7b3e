"""Map the blobs of an ECCV16 colorization caffemodel onto the zoo's Keras ``eccv16``.

Layers are matched by name (the Keras layers carry the Caffe names). Conversions: conv
weights OIHW -> HWIO; deconv weights (in, out, kh, kw) -> Keras Conv2DTranspose
(kh, kw, out, in) — the same transpose and no spatial flip, both being the transpose of a
cross-correlation (tests/test_caffe_import.py proves it against OpenCV DNN); BatchNorm stats
divided by their scale-factor blob; ``conv8_313_rh`` and ``class8_ab`` filled from the
prototxt's Scale filler and the 313 bin centers when the caffemodel lacks them (the official
release does).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgecolor.zoo.caffe.caffemodel import CaffeLayer
from edgecolor.zoo.caffe.layers import (
    batchnorm_eps,
    batchnorm_stats,
    conv_geometry,
    conv_weight,
    scale_filler,
)
from edgecolor.zoo.caffe.prototxt import first, input_shape, net_layers


class CaffeImportError(ValueError):
    """A prototxt/caffemodel that does not fit the network; the message names file and fix."""


@dataclass(frozen=True)
class Eccv16Config:
    """What the prototxt says about the zoo's eccv16: channel width and input size (H, W)."""

    width: float
    input_size: tuple[int, int]


def _layer_dicts(net: dict) -> dict[str, dict]:
    return {first(layer, "name"): layer for layer in net_layers(net)}


def eccv16_config(net: dict, source: str = "<prototxt>") -> Eccv16Config:
    """Check a prototxt dict is the ECCV16 topology -> its width and input size.

    Every conv of ``edgecolor.zoo.eccv16.CONVS`` must be there with the official kernel,
    stride, dilation and pad, channels all scaled by one width (conv1 / 64), plus the seven
    BatchNorms, the Scale, the Softmax and ``class8_ab``. CaffeImportError names the first
    mismatch.
    """
    from edgecolor.zoo.eccv16 import CONVS, DECONVS, NORMS, channels

    layers = _layer_dicts(net)

    def fail(msg: str):
        raise CaffeImportError(f"{source}: {msg}; this importer maps the ECCV16 colorization "
                               "network (colorization_deploy_v2.prototxt and reduced-width "
                               "variants of it)")

    first_conv = layers.get("bw_conv1_1")
    if first_conv is None:
        fail("no layer 'bw_conv1_1'")
    width = conv_geometry(first_conv).num_output / 64
    expected = channels(width)
    for name, _, k, stride, dil in CONVS:
        layer = layers.get(name)
        if layer is None:
            fail(f"no layer {name!r}")
        want_type = "Deconvolution" if name in DECONVS else "Convolution"
        if first(layer, "type") != want_type:
            fail(f"layer {name!r} is {first(layer, 'type')}, expected {want_type}")
        g = conv_geometry(layer)
        pad = 1 if name in DECONVS else dil * (k // 2)
        got = (g.kernel, g.stride, g.dilation, g.pad, g.group)
        want = ((k, k), (stride, stride), (dil, dil), (pad, pad), 1)
        if got != want:
            fail(f"layer {name!r} has kernel/stride/dilation/pad/group {got}, expected {want}")
        if g.num_output != expected[name]:
            fail(f"layer {name!r} has {g.num_output} outputs, expected {expected[name]} "
                 f"(width {width:g} from bw_conv1_1)")
    for norm in NORMS.values():
        if first(layers.get(norm, {}), "type") != "BatchNorm":
            fail(f"no BatchNorm layer {norm!r}")
    for name, ltype in (("conv8_313_rh", "Scale"), ("class8_313_rh", "Softmax"),
                        ("class8_ab", "Convolution")):
        if first(layers.get(name, {}), "type") != ltype:
            fail(f"no {ltype} layer {name!r}")
    shape = input_shape(net, source)
    if not shape or len(shape) != 4 or shape[1] != 1:
        fail(f"input shape {shape} is not (1, 1, H, W)")
    return Eccv16Config(width=width, input_size=(int(shape[2]), int(shape[3])))


def colorization_blobs(net: dict, caffe_layers: list[CaffeLayer]) -> dict[str, list[np.ndarray]]:
    """Layer name -> blobs, with ``conv8_313_rh`` and ``class8_ab`` supplied when missing.

    As in OpenCV's colorization sample: the Scale gets its prototxt filler value (2.606) for
    each of the 313 channels, ``class8_ab`` the bin centers as a (2, 313, 1, 1) kernel.
    """
    from edgecolor.bins import load_bins

    blobs = {layer.name: list(layer.blobs) for layer in caffe_layers if layer.blobs}
    layers = _layer_dicts(net)
    if "conv8_313_rh" in layers and not blobs.get("conv8_313_rh"):
        value = scale_filler(layers["conv8_313_rh"])
        blobs["conv8_313_rh"] = [np.full((313,), 1.0 if value is None else value, np.float32)]
    if "class8_ab" in layers and not blobs.get("class8_ab"):
        blobs["class8_ab"] = [load_bins().T.reshape(2, 313, 1, 1).copy()]
    return blobs


def set_eccv16_weights(model, net: dict, caffe_layers: list[CaffeLayer],
                       source: str = "<caffemodel>") -> dict[str, str]:
    """Copy every blob onto the Keras eccv16 ``model`` -> {layer name: what was done}.

    CaffeImportError names the layer when a blob is missing or does not fit.
    """
    from edgecolor.zoo.eccv16 import CONVS, DECONVS, NORMS

    layers = _layer_dicts(net)
    blobs = colorization_blobs(net, caffe_layers)
    supplied = {n for n in ("conv8_313_rh", "class8_ab")
                if not any(c.name == n and c.blobs for c in caffe_layers)}
    done: dict[str, str] = {}

    def need(name: str, count: int) -> list[np.ndarray]:
        got = blobs.get(name, [])
        if len(got) < count:
            raise CaffeImportError(f"{source}: layer {name!r} has {len(got)} blobs, expected "
                                   f"{count} (is this the caffemodel of this prototxt?)")
        return got

    try:
        for name, *_ in CONVS:
            klayer = model.get_layer(name)
            kernel_shape = tuple(klayer.kernel.shape)
            deconv = name in DECONVS
            in_ch = kernel_shape[3] if deconv else kernel_shape[2]
            g = conv_geometry(layers[name])
            got = need(name, 2 if g.bias else 1)
            w = conv_weight(got[0], g, in_ch, deconv)
            bias = (np.ravel(got[1]).astype(np.float32) if g.bias
                    else np.zeros(g.num_output, np.float32))
            # OIHW -> HWIO; deconv (in, out, kh, kw) -> (kh, kw, out, in): same axes order
            klayer.set_weights([w.transpose(2, 3, 1, 0), bias])
            done[name] = "deconvolution" if deconv else "convolution"
        for norm in NORMS.values():
            mean, var = batchnorm_stats(need(norm, 2))
            klayer = model.get_layer(norm)
            klayer.epsilon = batchnorm_eps(layers[norm])
            klayer.set_weights([mean, var])
            done[norm] = "batchnorm"
        if "conv8_313_rh" in [layer.name for layer in model.layers]:
            scale = np.ravel(need("conv8_313_rh", 1)[0]).astype(np.float32)
            scale = np.broadcast_to(scale, (313,)) if scale.size in (1, 313) else scale
            model.get_layer("conv8_313_rh").set_weights([np.reshape(scale, (1, 1, 313, 1))])
            done["conv8_313_rh"] = "scale" + (" (prototxt filler)" if "conv8_313_rh" in supplied
                                              else "")
            ab = need("class8_ab", 1)
            if len(ab) > 1 and np.any(np.ravel(ab[1])):
                raise CaffeImportError(f"{source}: class8_ab has a non-zero bias; the decode "
                                       "layer must be the plain 313-bin mean")
            w = conv_weight(ab[0], conv_geometry(layers["class8_ab"]), 313, False)
            model.get_layer("class8_ab").set_weights([w.transpose(2, 3, 1, 0)])
            done["class8_ab"] = "bin centers" + (" (pts_in_hull)" if "class8_ab" in supplied
                                                 else "")
    except ValueError as e:
        if isinstance(e, CaffeImportError):
            raise
        raise CaffeImportError(f"{source}: {e} (is this the caffemodel of this prototxt?)") from e
    return done
