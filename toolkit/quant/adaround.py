"""AdaRound-style learned rounding of int8 weights (Nagel et al., "Up or Down? Adaptive
Rounding for Post-Training Quantization", 2020), on the Keras model, before any converter.

Every converter here quantizes convolution kernels the same way: symmetric, per output
channel, int8 in -127..127, scale s_c = max|W_c| / 127 (TFLite's per-axis weights;
ONNX Runtime ``quantize_static(per_channel=True, WeightSymmetric=True)``, whose symmetric
int8 range is ±127; NNCF's narrow-range symmetric weights for OpenVINO). Round-to-nearest on
that grid is what they do; AdaRound instead chooses, per weight, floor or ceil so that the
layer's *output* on the calibration photos stays closest to FP32:

    W~ = s * clip(floor(W / s) + h(V), -127, 127),  h(V) = clip(sigmoid(V) (zeta - gamma)
    + gamma, 0, 1), zeta = 1.1, gamma = -0.1

V is learned with Adam on || act(conv(x^, W~) + b) - act(conv(x, W) + b) ||^2 (x: the
layer's input in the FP32 model, x^: in the model whose earlier layers are already rounded)
plus lambda * sum(1 - |2 h(V) - 1|^beta), beta annealed from 20 to 2 after a warm-up, which
drives every h to 0 or 1. The rounded kernels are written back: they lie exactly on the
grid (the max-|W| element of each channel is kept, so the converter recomputes the same
scale) and each converter's own rounding keeps them.

Layer by layer, on random crops of a few calibration photos' feature maps ('valid'
convolutions, so no padding border enters the loss). Conv2D (groups 1) only; a Conv2D
followed by BatchNormalization is skipped (the converter folds the BN into the kernel, which
moves it off the grid). Converter-side only (TensorFlow).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from edgecolor.converters.float_layers import top_layers

LEVELS = 127  # symmetric int8 weights: -LEVELS..LEVELS (equalize.WEIGHT_LEVELS)
ZETA, GAMMA = 1.1, -0.1  # rectified sigmoid stretch
ITERS = 300  # Adam steps per layer
LR = 1e-2
REG = 0.01  # lambda of the rounding regularizer
BETA = (20.0, 2.0)  # annealed from, to
WARMUP = 0.2  # fraction of ITERS with the reconstruction loss alone
IMAGES = 8  # calibration photos whose feature maps are cropped
CROPS = 8  # crops per photo
CROP = 32  # output pixels per crop side
BATCH = 8  # crops per step
_EPS = 1e-12


@dataclass
class LayerRounding:
    """One layer's result: MSE of its output vs FP32 on the crops (activation units^2)."""

    layer: str
    mse_nearest: float
    mse_adaround: float
    changed: float  # fraction of weights rounded the other way than round-to-nearest
    seconds: float

    def to_dict(self) -> dict:
        """JSON-ready record."""
        return {"layer": self.layer, "mse_nearest": float(f"{self.mse_nearest:.4g}"),
                "mse_adaround": float(f"{self.mse_adaround:.4g}"),
                "changed": round(self.changed, 4), "seconds": round(self.seconds, 1)}


@dataclass
class AdaRoundRecord:
    """What :func:`adaround` changed (manifest record, as equalize.Transform)."""

    name: str = "adaround"
    layers: list[str] = field(default_factory=list)
    detail: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready record."""
        return {"name": self.name, "layers": list(self.layers), "detail": dict(self.detail)}


def grid_scale(kernel: np.ndarray, levels: int = LEVELS) -> np.ndarray:
    """Kernel (..., cout) -> per-output-channel scale max|W_c| / levels (1 for a zero
    channel)."""
    flat = np.abs(kernel.reshape(-1, kernel.shape[-1])).max(axis=0) / levels
    return np.where(flat > 0, flat, 1.0)


def round_nearest(kernel: np.ndarray, levels: int = LEVELS) -> np.ndarray:
    """Kernel -> the converters' round-to-nearest int8 kernel, dequantized (float32)."""
    s = grid_scale(kernel, levels)
    return (np.clip(np.round(kernel / s), -levels, levels) * s).astype(np.float32)


def grid_offsets(kernel: np.ndarray, levels: int = LEVELS) -> np.ndarray:
    """Kernel -> max |W / s - round(W / s)| (0 for a kernel on the int8 grid, up to float
    rounding), with s recomputed from the kernel as a converter does."""
    q = kernel / grid_scale(kernel, levels)
    return np.abs(q - np.round(q)).max()


def _act(name: str, tf):
    return {"relu": tf.nn.relu, "tanh": tf.tanh, "sigmoid": tf.sigmoid,
            "linear": lambda t: t}.get(name)


def round_conv(kernel: np.ndarray, bias: np.ndarray | None, x_q: np.ndarray,
               x_fp: np.ndarray, strides: tuple[int, int] = (1, 1),
               dilations: tuple[int, int] = (1, 1), activation: str = "linear",
               iters: int = ITERS, lr: float = LR, reg: float = REG, batch: int = BATCH,
               seed: int = 0, levels: int = LEVELS) -> tuple[np.ndarray, dict]:
    """Learn the rounding of one Conv2D kernel (kh, kw, cin, cout).

    x_q / x_fp: input crops (N, h, w, cin) in the rounded / FP32 model, same places;
    activation: the layer's own (relu, tanh, sigmoid, linear). Returns (rounded kernel on
    the grid, float32; {"mse_nearest", "mse_adaround", "changed"}: MSE of the layer's
    output on all crops, fraction of weights rounded unlike round-to-nearest).
    """
    from edgecolor._tf import import_tf

    tf, _ = import_tf()
    act = _act(activation, tf)
    if act is None:
        raise ValueError(f"adaround: unsupported activation {activation!r}")
    kernel = kernel.astype(np.float32)
    s = grid_scale(kernel, levels).astype(np.float32)
    w = kernel / s
    floor = np.floor(w)
    frac = np.clip(w - floor, 1e-4, 1 - 1e-4)
    # h(V) = frac at the start: V = -log((zeta - gamma) / (frac - gamma) - 1)
    v0 = -np.log((ZETA - GAMMA) / (frac - GAMMA) - 1.0)
    # the max-|W| element of each channel stays at +-levels (the converter's scale)
    flat = np.abs(w).reshape(-1, w.shape[-1])
    fixed = np.zeros(flat.shape, bool)
    fixed[flat.argmax(axis=0), np.arange(flat.shape[1])] = True
    fixed = fixed.reshape(w.shape)
    nearest_q = np.clip(np.round(w), -levels, levels)
    b = np.zeros(kernel.shape[-1], np.float32) if bias is None else bias.astype(np.float32)
    conv_kw = {"strides": (1, *strides, 1), "padding": "VALID",
               "dilations": (1, *dilations, 1)}

    def out(x, k):
        return act(tf.nn.conv2d(x, k, **conv_kw) + b)

    xq_all = tf.constant(x_q.astype(np.float32))
    target = out(tf.constant(x_fp.astype(np.float32)), tf.constant(kernel))
    V = tf.Variable(v0.astype(np.float32))
    floor_t, s_t = tf.constant(floor, tf.float32), tf.constant(s)
    fixed_t, nearest_t = tf.constant(fixed), tf.constant(nearest_q, tf.float32)
    opt = tf.keras.optimizers.Adam(learning_rate=lr)

    def soft(v):
        return tf.clip_by_value(tf.sigmoid(v) * (ZETA - GAMMA) + GAMMA, 0.0, 1.0)

    def qkernel(h):
        q = tf.clip_by_value(floor_t + h, -levels, levels)
        return tf.where(fixed_t, nearest_t, q) * s_t

    @tf.function
    def step(xq, tgt, beta, lam):
        with tf.GradientTape() as tape:
            h = soft(V)
            rec = tf.reduce_mean(tf.reduce_sum(tf.square(out(xq, qkernel(h)) - tgt), -1))
            rnd = tf.reduce_sum(1.0 - tf.pow(tf.abs(2.0 * h - 1.0), beta))
            loss = rec + lam * rnd
        opt.apply_gradients([(tape.gradient(loss, V), V)])
        return rec

    rng = np.random.default_rng(seed)
    n = int(x_q.shape[0])
    warm = int(WARMUP * iters)
    for i in range(iters):
        idx = rng.choice(n, size=min(batch, n), replace=False)
        if i < warm:
            beta, lam = BETA[0], 0.0
        else:
            t = (i - warm) / max(1, iters - warm)
            beta, lam = BETA[1] + (BETA[0] - BETA[1]) * (1 - t), reg
        step(tf.gather(xq_all, idx), tf.gather(target, idx), tf.constant(beta, tf.float32),
             tf.constant(lam, tf.float32))
    hard = (V.numpy() >= 0).astype(np.float32)
    q = np.where(fixed, nearest_q, np.clip(floor + hard, -levels, levels))
    rounded = (q * s).astype(np.float32)

    def mse(k):
        return float(tf.reduce_mean(tf.reduce_sum(tf.square(out(xq_all, tf.constant(k))
                                                            - target), -1)))

    return rounded, {"mse_nearest": mse(nearest_q.astype(np.float32) * s),
                     "mse_adaround": mse(rounded),
                     "changed": float(np.mean(q != nearest_q))}


def _targets(model) -> list:
    """Conv2D layers (groups 1, no BatchNormalization after) whose rounding is learned."""
    from edgecolor.quant.equalize import _is_conv, consumers

    users = consumers(model)
    return [layer for layer in top_layers(model) if _is_conv(layer)
            and not any(u != "out" and type(u).__name__ == "BatchNormalization"
                        for u in users.get(layer.name, []))]


def _crops(a: np.ndarray, b: np.ndarray, size: int, step: int, rng,
           count: int) -> tuple[np.ndarray, np.ndarray]:
    """Same-place random crops (count, size, size, C) of two (1, H, W, C) maps; crop
    offsets are multiples of the stride ``step``; ``size`` is clipped to the map."""
    _, h, w, _ = a.shape
    sh, sw = min(size, h), min(size, w)
    ys = rng.integers(0, (h - sh) // step + 1, count) * step
    xs = rng.integers(0, (w - sw) // step + 1, count) * step
    return (np.stack([a[0, y:y + sh, x:x + sw] for y, x in zip(ys, xs, strict=True)]),
            np.stack([b[0, y:y + sh, x:x + sw] for y, x in zip(ys, xs, strict=True)]))


def adaround(model, samples: list[list[np.ndarray]], iters: int = ITERS,
             images: int = IMAGES, crops: int = CROPS, crop: int = CROP, seed: int = 0,
             layers: list[str] | None = None,
             progress=None) -> tuple[object, AdaRoundRecord]:
    """Keras model + calibration samples (per photo, one NHWC batch-1 array per input) ->
    (copy with learned-rounding kernels on the int8 grid, record).

    layers: restrict to these Conv2D names (default: every eligible one, in model order);
    progress(text) is called per layer. The biases and every other weight are unchanged.
    """
    from edgecolor._tf import import_tf
    from edgecolor.quant.equalize import _activation, _copy

    _, keras = import_tf()
    fp32 = model
    work = _copy(model)
    used = samples[:images]
    rng = np.random.default_rng(seed)
    results: list[LayerRounding] = []
    skipped = []
    for layer in _targets(work):
        if layers is not None and layer.name not in layers:
            continue
        act = _activation(layer)
        if act not in ("relu", "tanh", "sigmoid", "linear"):
            skipped.append(f"{layer.name} (activation {act})")
            continue
        t0 = time.perf_counter()
        if progress:
            progress(f"adaround {layer.name}")
        tap_fp = keras.Model(fp32.inputs, fp32.get_layer(layer.name).input)
        tap_q = keras.Model(work.inputs, layer.input)
        kernel, *rest = layer.get_weights()
        kh = kernel.shape[0]
        stride = tuple(int(v) for v in layer.strides)
        dil = tuple(int(v) for v in layer.dilation_rate)
        span = (crop - 1) * stride[0] + (kh - 1) * dil[0] + 1
        xs_q, xs_fp = [], []
        for sample in used:
            a = np.asarray(tap_q(list(sample), training=False))
            f = np.asarray(tap_fp(list(sample), training=False))
            cq, cf = _crops(a, f, span, stride[0], rng, crops)
            xs_q.append(cq)
            xs_fp.append(cf)
        bias = rest[0] if getattr(layer, "use_bias", False) and rest else None
        rounded, info = round_conv(kernel, bias, np.concatenate(xs_q), np.concatenate(xs_fp),
                                   stride, dil, act, iters=iters, seed=seed)
        layer.set_weights([rounded.astype(kernel.dtype), *rest])
        results.append(LayerRounding(layer.name, info["mse_nearest"], info["mse_adaround"],
                                     info["changed"], time.perf_counter() - t0))
    return work, AdaRoundRecord(layers=[r.layer for r in results], detail={
        "iters": iters, "images": len(used), "crops": len(used) * crops, "crop": crop,
        "levels": LEVELS, "skipped": skipped, "per_layer": [r.to_dict() for r in results]})
