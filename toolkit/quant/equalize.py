"""Keras-side post-training fixes applied before any converter: cross-layer equalization and
bias correction (what NNCF does for OpenVINO, here for TFLite and ONNX Runtime too).

* :func:`equalize` — cross-layer equalization (Nagel et al., "Data-Free Quantization",
  2019) for ReLU chains: for consecutive convolutions conv_a -> (ReLU / LeakyReLU / nearest
  upsampling / max-pool / zero-pad / dropout)* -> conv_b, output channel i of conv_a
  (kernel and bias) is divided by s_i and input channel i of conv_b's kernel multiplied by
  s_i, with s_i = sqrt(r_a,i / r_b,i) (r: max |weight| of that channel), so both kernels'
  channel ranges become sqrt(r_a,i * r_b,i). Every layer in between is positively
  homogeneous (f(x / s) = f(x) / s for s > 0), so the FP32 function is unchanged (exact up
  to float rounding); the activation between them has its channels rescaled the same way.
  Repeated over the chain a few times (each conv is the b of one pair and the a of the next).
* :func:`equalize_norms` — equalization into a following BatchNormalization (``cle`` runs
  it after :func:`equalize`): for conv -> (ReLU / ...)* -> BatchNormalization (a BN after
  the activation, as in the ECCV16 Caffe network, which no converter folds into the conv),
  TFLite and ONNX Runtime quantize the BN as a per-channel multiply whose constant is one
  per-tensor int8 tensor; ECCV16's multipliers span 0.001 to 316 (1/sqrt(eps) on channels
  that never fire), so most channels' multipliers round to a few int8 steps or to zero.
  Output channel i of the conv is multiplied by s_i = |m_i| / median |m| (m_i: the BN's
  multiplier gamma_i / sqrt(var_i + eps)) and the BN divides it out again (its mean times
  s_i, its gamma or variance rescaled), so every multiplier becomes the median (exact in
  int8) and the FP32 function is unchanged. The conv's output channels then span what the
  BN's output spans anyway. eccv16 at 256x256, TFLite int8 vs FP32 on 41 eval photos
  (``benchmarks/quant_table.py``): plain 34.9 dB, equalized 42.5. Levelling the conv's
  channel maxima instead, tried first, reached 39.9 dB on the held-out photos (43.7 this
  way): the rounded multipliers were the larger loss.
* :func:`bias_correct` — weight-rounding bias correction: for every convolution / dense
  layer with a bias, the int8 weights the runtime will use (symmetric per output channel,
  ±127) shift the expected output by (W_q - W) · E[x]; E[x] is the per-channel mean of the
  layer's input on the calibration photos, and the bias absorbs the shift (border effects of
  'same' padding are ignored). The converter then rounds the same W to the same W_q.

Both return a new Keras model (same layer names, so float-layer lists still apply) and a
record for the manifest. Converter-side only (TensorFlow).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgecolor.converters.float_layers import top_layers

SWEEPS = 4  # equalization passes over the chain
WEIGHT_LEVELS = 127  # symmetric int8 weights: -127..127
BC_IMAGES = 32  # calibration photos used for the input means
_EPS = 1e-12
NORM_SCALE_CAP = 1e6  # bound of s_i and 1 / s_i in the norm equalization (float32 headroom)
# layers between two convolutions that commute with a positive per-channel scale
_HOMOGENEOUS = {"ReLU", "LeakyReLU", "MaxPooling2D", "ZeroPadding2D", "Dropout",
                "SpatialDropout2D", "Identity"}


@dataclass
class Transform:
    """What a Keras-side fix changed (manifest record)."""

    name: str  # "cle" | "norm equalization" | "bias correction"
    layers: list[str] = field(default_factory=list)  # pairs "a->b" or corrected layers
    detail: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready record."""
        return {"name": self.name, "layers": list(self.layers), "detail": dict(self.detail)}


def _copy(model):
    """A new model with the same architecture, names and weights."""
    from edgecolor._tf import import_tf

    _, keras = import_tf()
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def _is_conv(layer) -> bool:
    return type(layer).__name__ == "Conv2D" and getattr(layer, "groups", 1) == 1


def _activation(layer) -> str:
    act = getattr(layer, "activation", None)
    return getattr(act, "__name__", "") if act is not None else "linear"


def _homogeneous(layer) -> bool:
    kind = type(layer).__name__
    if kind == "ReLU":
        return (getattr(layer, "max_value", None) is None
                and float(getattr(layer, "threshold", 0.0) or 0.0) == 0.0)
    if kind == "UpSampling2D":
        return getattr(layer, "interpolation", "nearest") in ("nearest", "bilinear")
    if kind == "Activation":
        return _activation(layer) in ("relu", "linear")
    return kind in _HOMOGENEOUS


def consumers(model) -> dict[str, list]:
    """Layer name -> the top-level layers its output feeds (model outputs count as 'out')."""
    layers = {layer.name: layer for layer in model.layers}
    users: dict[str, list] = {name: [] for name in layers}
    for layer in top_layers(model):
        for node in getattr(layer, "_inbound_nodes", [])[:1]:
            for t in getattr(node, "input_tensors", []):
                hist = getattr(t, "_keras_history", None)
                if hist is not None and hist.operation.name in users:
                    users[hist.operation.name].append(layer)
    for t in model.outputs:
        users[t._keras_history.operation.name].append("out")
    return users


def relu_chains(model) -> list[tuple[str, str]]:
    """(conv_a, conv_b) pairs that can be equalized exactly (see the module doc)."""
    users = consumers(model)
    pairs = []
    for layer in top_layers(model):
        if not _is_conv(layer) or _activation(layer) not in ("relu", "linear"):
            continue
        cur = layer
        while True:
            nxt = users.get(cur.name, [])
            if len(nxt) != 1 or nxt[0] == "out":
                break
            cur = nxt[0]
            if _is_conv(cur):
                pairs.append((layer.name, cur.name))
                break
            if not _homogeneous(cur):
                break
    return pairs


def norm_pairs(model) -> list[tuple[str, str]]:
    """(conv, BatchNormalization) pairs with only positively homogeneous layers between, at
    least one activation among them (a BN right after a linear conv is folded into it by
    every converter: nothing to equalize) and no other reader of the conv's output: what
    :func:`equalize_norms` rescales."""
    users = consumers(model)
    pairs = []
    for layer in top_layers(model):
        if not _is_conv(layer) or _activation(layer) not in ("relu", "linear"):
            continue
        cur, unfoldable = layer, _activation(layer) == "relu"
        while True:
            nxt = users.get(cur.name, [])
            if len(nxt) != 1 or nxt[0] == "out":
                break
            cur = nxt[0]
            if type(cur).__name__ == "BatchNormalization":
                if unfoldable and getattr(cur, "axis", -1) in (-1, 3):
                    pairs.append((layer.name, cur.name))
                break
            if not _homogeneous(cur):
                break
            unfoldable = True
    return pairs


def norm_multipliers(bn) -> np.ndarray:
    """A Keras BatchNormalization -> its per-channel multiplier gamma / sqrt(var + eps)."""
    weights = bn.get_weights()
    var = weights[-1].astype(np.float64)
    gamma = weights[0].astype(np.float64) if bn.scale else np.ones(var.shape)
    return gamma / np.sqrt(var + bn.epsilon)


def _norm_scales(bn_scale: np.ndarray) -> np.ndarray:
    """s_i (see :func:`equalize_norms`) from the BN's per-channel multiplier
    gamma / sqrt(var + eps): the multiplier's size over its median (1 where it is 0)."""
    size = np.abs(bn_scale)
    live = size > _EPS
    if not live.any():
        return np.ones_like(size)
    s = np.where(live, size / float(np.median(size[live])), 1.0)
    return np.clip(s, 1.0 / NORM_SCALE_CAP, NORM_SCALE_CAP)


def multiplier_spread(values: np.ndarray) -> float:
    """Per-channel multipliers -> largest / smallest nonzero magnitude (1.0 when none)."""
    size = np.abs(values[np.abs(values) > _EPS])
    return float(size.max() / size.min()) if size.size else 1.0


def equalize_norms(model) -> tuple[object, Transform]:
    """Keras model -> (copy with every :func:`norm_pairs` pair equalized, Transform); the
    FP32 output is unchanged (see the module doc). A model without such pairs comes back as
    a copy with an empty record."""
    eq = _copy(model)
    pairs = norm_pairs(eq)
    spread: dict[str, list[float]] = {}
    for a_name, n_name in pairs:
        conv, bn = eq.get_layer(a_name), eq.get_layer(n_name)
        wa, wn = conv.get_weights(), bn.get_weights()
        mean_i, var_i = len(wn) - 2, len(wn) - 1  # [gamma], [beta], moving mean, variance
        mean, var = wn[mean_i].astype(np.float64), wn[var_i].astype(np.float64)
        gamma = wn[0].astype(np.float64) if bn.scale else np.ones(mean.shape)
        multiplier = norm_multipliers(bn)
        s = _norm_scales(multiplier)
        wa[0] = (wa[0] * s).astype(wa[0].dtype)
        if len(wa) > 1:
            wa[1] = (wa[1] * s).astype(wa[1].dtype)
        wn[mean_i] = (mean * s).astype(wn[mean_i].dtype)
        if bn.scale:
            wn[0] = (gamma / s).astype(wn[0].dtype)
        else:  # (s x - s mean) / sqrt(s^2 (var + eps)) = (x - mean) / sqrt(var + eps)
            wn[var_i] = (s * s * (var + bn.epsilon) - bn.epsilon).astype(wn[var_i].dtype)
        conv.set_weights(wa)
        bn.set_weights(wn)
        spread[f"{a_name}->{n_name}"] = [round(multiplier_spread(multiplier), 2),
                                         round(multiplier_spread(multiplier / s), 2)]
    return eq, Transform("norm equalization", list(spread),
                         {"multiplier_spread_before_after": spread})


def equalize(model, sweeps: int = SWEEPS) -> tuple[object, Transform]:
    """Keras model -> (equalized copy, Transform) — cross-layer equalization of its ReLU
    chains; the FP32 output is unchanged. A model without such pairs comes back as a copy
    with an empty record.
    """
    eq = _copy(model)
    pairs = relu_chains(eq)
    before = _range_spread(eq, pairs)
    for _ in range(sweeps):
        for a_name, b_name in pairs:
            a, b = eq.get_layer(a_name), eq.get_layer(b_name)
            wa = a.get_weights()
            wb = b.get_weights()
            ka, kb = wa[0], wb[0]  # (kh, kw, cin, cout)
            ra = np.abs(ka).max(axis=(0, 1, 2))
            rb = np.abs(kb).max(axis=(0, 1, 3))
            if ra.shape != rb.shape:
                continue
            ok = (ra > _EPS) & (rb > _EPS)
            s = np.ones_like(ra)
            s[ok] = np.sqrt(ra[ok] / rb[ok])
            wa[0] = (ka / s).astype(ka.dtype)
            if len(wa) > 1:
                wa[1] = (wa[1] / s).astype(wa[1].dtype)
            wb[0] = (kb * s[None, None, :, None]).astype(kb.dtype)
            a.set_weights(wa)
            b.set_weights(wb)
    after = _range_spread(eq, pairs)
    return eq, Transform("cle", [f"{a}->{b}" for a, b in pairs],
                         {"sweeps": sweeps, "channel_range_spread_before": before,
                          "channel_range_spread_after": after})


def _range_spread(model, pairs) -> float | None:
    """Mean over the equalized kernels of max/median per-output-channel |weight| range."""
    names = sorted({n for p in pairs for n in p})
    values = []
    for n in names:
        k = model.get_layer(n).get_weights()[0]
        r = np.abs(k).max(axis=(0, 1, 2))
        med = float(np.median(r))
        if med > 0:
            values.append(float(r.max()) / med)
    return round(float(np.mean(values)), 3) if values else None


def weight_rounding_error(kernel: np.ndarray) -> np.ndarray:
    """Kernel (..., cout) -> W_q - W for symmetric per-output-channel int8 (±127)."""
    flat = kernel.reshape(-1, kernel.shape[-1])
    scale = np.abs(flat).max(axis=0) / WEIGHT_LEVELS
    scale = np.where(scale > 0, scale, 1.0)
    q = np.clip(np.round(flat / scale), -WEIGHT_LEVELS, WEIGHT_LEVELS) * scale
    return (q - flat).reshape(kernel.shape)


def bias_correct(model, samples: list[list[np.ndarray]],
                 max_images: int = BC_IMAGES) -> tuple[object, Transform]:
    """Keras model + calibration samples -> (corrected copy, Transform): every Conv2D
    (groups 1) and Dense layer with a bias gets b - (W_q - W) · E[x] (see the module doc).
    """
    from edgecolor._tf import import_tf

    _, keras = import_tf()
    fixed = _copy(model)
    targets = [layer for layer in top_layers(fixed)
               if (_is_conv(layer) or type(layer).__name__ == "Dense")
               and getattr(layer, "use_bias", False)]
    if not targets or not samples:
        return fixed, Transform("bias correction")
    tap = keras.Model(fixed.inputs, [layer.input for layer in targets])
    sums = None
    used = samples[:max_images]
    for sample in used:
        outs = tap(list(sample), training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        means = [np.asarray(o, np.float64).reshape(-1, o.shape[-1]).mean(axis=0) for o in outs]
        sums = means if sums is None else [s + m for s, m in zip(sums, means, strict=True)]
    shifts = {}
    for layer, total in zip(targets, sums, strict=True):
        kernel, bias = layer.get_weights()[:2]
        mean_x = total / len(used)
        err = weight_rounding_error(kernel.astype(np.float64))
        delta = np.tensordot(err, mean_x, axes=([err.ndim - 2], [0]))  # (kh, kw, cout)
        delta = delta.reshape(-1, kernel.shape[-1]).sum(axis=0)
        rest = layer.get_weights()[2:]
        layer.set_weights([kernel, (bias - delta).astype(bias.dtype), *rest])
        shifts[layer.name] = round(float(np.abs(delta).max()), 6)
    return fixed, Transform("bias correction", list(shifts),
                           {"images": len(used), "max_bias_shift": shifts})


METHODS = ("cle", "bc", "cle+bc", "adaround")  # adaround: edgecolor.quant.adaround


def apply(model, method: str, samples: list[list[np.ndarray]]) -> tuple[object, list[Transform]]:
    """``method`` in METHODS -> (transformed copy, records); ValueError for another name.

    ``cle`` is :func:`equalize` then, where the model has :func:`norm_pairs`,
    :func:`equalize_norms` (both data-free).

    ``adaround`` learns the int8 rounding of every Conv2D kernel on ``samples``
    (:func:`edgecolor.quant.adaround.adaround`, a few minutes on 2 cores)."""
    if method not in METHODS:
        raise ValueError(f"unknown PTQ method {method!r}; choose one of: {', '.join(METHODS)}")
    records = []
    if "cle" in method.split("+"):
        model, rec = equalize(model)
        records.append(rec)
        if norm_pairs(model):
            model, rec = equalize_norms(model)
            records.append(rec)
    if "bc" in method.split("+"):
        model, rec = bias_correct(model, samples)
        records.append(rec)
    if "adaround" in method.split("+"):
        from edgecolor.quant.adaround import adaround

        model, rec = adaround(model, samples)
        records.append(rec)
    return model, records
