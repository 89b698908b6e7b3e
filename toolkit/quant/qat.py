"""A short quantization-aware fine-tune (QAT) of the Keras model, by self-distillation.

The last resort of the int8 fidelity budget (:mod:`edgecolor.quant.budget`, ``--qat
MINUTES``): where post-training fixes cannot bring the int8 colorization close enough to
the FP32 one, the float weights are fine-tuned for a few minutes so that the *int8* model
reproduces the *original* FP32 model's output:

* target: the original FP32 model's own raw output on the same inputs (self-distillation,
  no labels), loss: mean squared error in raw output units;
* forward pass with fake quantization, the grids the converters use: every Conv2D /
  DepthwiseConv2D / Conv2DTranspose / Dense kernel symmetric int8 per output channel
  (scale max|W_c| / 127, round to nearest, :func:`edgecolor.quant.adaround.round_nearest`'s
  grid), with a straight-through estimator; a convolution whose output only a
  BatchNormalization reads is quantized on the *folded* kernel's grid (W * gamma /
  sqrt(var + eps), what the converters quantize after folding the BN in), read live from
  the BN's variables; the tensor int8 holds after each of those layers (after its
  activation; after the BN it folds into and a ReLU / Activation layer that alone reads
  it, as the converters fuse them: :func:`quant_points`) per-tensor 8-bit over its range
  on the calibration photos, measured once on the FP32 model and fixed
  (``tf.quantization.fake_quant_with_min_max_vars``: zero-gradient outside the range);
* Adam with a small learning rate, steps of ``batch`` photos (gradients accumulated over
  batch-1 passes, the converters' input shape), until ``minutes`` of wall clock are spent.

The returned model is a plain Keras model of the original architecture (same layer names,
classes and weight shapes, new float weights; no custom layer), so every converter and
safe-mode loading take it as they take the original. The input model is not modified.
Converter-side only (TensorFlow, imported lazily through :mod:`edgecolor._tf`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

LEVELS = 127  # symmetric int8 weights (adaround.LEVELS, equalize.WEIGHT_LEVELS)
LR = 3e-5  # Adam learning rate
BATCH = 4  # photos per step (batch-1 passes, gradients accumulated)
RANGE_IMAGES = 32  # calibration photos whose FP32 activations set the fixed ranges
EVAL_IMAGES = 8  # photos the distillation loss before / after is measured on
MAX_IMAGES = 256  # training photos loaded (--qat-images)
# layers whose kernel and output are fake-quantized
KINDS = ("Conv2D", "DepthwiseConv2D", "Conv2DTranspose", "Dense")
FUSED_ACTIVATIONS = ("ReLU", "Activation")  # separate layers the converters fuse into a conv


def channel_axes(layer) -> tuple[int, ...]:
    """The axes of a layer's kernel that index its output channels: the last, but
    Conv2DTranspose keeps (kh, kw, cout, cin) (its converted weights are quantized along
    cout) and DepthwiseConv2D (kh, kw, cin, multiplier) (output channel cin * m + j)."""
    kind = type(layer).__name__
    return (-2,) if kind == "Conv2DTranspose" else (-2, -1) if kind == "DepthwiseConv2D" \
        else (-1,)


def targets(model) -> list:
    """The model's top-level Conv2D / DepthwiseConv2D / Conv2DTranspose / Dense layers
    (with a kernel; grouped convolutions left out)."""
    from edgecolor.converters.float_layers import top_layers

    return [layer for layer in top_layers(model)
            if type(layer).__name__ in KINDS and getattr(layer, "groups", 1) == 1]


def folded_norms(model) -> dict[str, object]:
    """{target layer name: the BatchNormalization (over the channel axis) that alone reads
    its output}: the converters fold that BN into the kernel before quantizing it."""
    from edgecolor.quant.equalize import consumers

    users = consumers(model)
    folds = {}
    for layer in targets(model):
        readers = users.get(layer.name, [])
        if len(readers) == 1 and type(readers[0]).__name__ == "BatchNormalization" and \
                readers[0].axis in (-1, len(layer.output.shape) - 1):
            folds[layer.name] = readers[0]
    return folds


def quant_points(model) -> dict[str, str]:
    """{target layer name: the layer whose output int8 holds}: the layer itself, or the BN
    it folds into, then a ReLU / Activation layer that alone reads that (fused by the
    converters)."""
    from edgecolor.quant.equalize import consumers

    users = consumers(model)
    folds = folded_norms(model)
    points = {}
    for layer in targets(model):
        point = folds.get(layer.name, layer)
        readers = users.get(point.name, [])
        if len(readers) == 1 and type(readers[0]).__name__ in FUSED_ACTIVATIONS:
            point = readers[0]
        points[layer.name] = point.name
    return points


def _fake_kernel(tf, kernel, axes: tuple[int, ...], norm=None):
    """Symmetric per-output-channel int8 fake quantization with a straight-through
    estimator (forward: the int8 grid; backward: identity). ``norm``: the BatchNormalization
    folded into this kernel: the grid is the folded kernel's, mapped back (W = q(W f) / f)."""
    rank = len(kernel.shape)
    axes = tuple(a % rank for a in axes)
    fold = None
    if norm is not None:
        gamma = norm.gamma if norm.scale else 1.0
        fold = tf.reshape(gamma * tf.math.rsqrt(norm.moving_variance + norm.epsilon),
                          [kernel.shape[i] if i in axes else 1 for i in range(rank)])
        fold = tf.where(tf.abs(fold) > 0, fold, tf.ones_like(fold))
    folded = kernel if fold is None else kernel * fold
    reduce = [i for i in range(rank) if i not in axes]
    scale = tf.reduce_max(tf.abs(folded), axis=reduce, keepdims=True) / LEVELS
    scale = tf.where(scale > 0, scale, tf.ones_like(scale))
    q = tf.clip_by_value(tf.round(folded / scale), -LEVELS, LEVELS) * scale
    if fold is not None:
        q = q / fold
    return kernel + tf.stop_gradient(q - kernel)


def _fq_model(work, ranges: dict[str, tuple[float, float]]):
    """``work`` (a trainable copy) -> a model over the same weight variables whose target
    layers see fake-quantized kernels and whose outputs are fake-quantized per tensor.

    Built as a second functional graph over ``work``'s own layers: each target layer's
    kernel is read through a per-instance property (STE), the outputs are fake-quantized by
    a weightless wrapper layer. Only used for training; never returned."""
    from edgecolor._tf import import_tf

    tf, keras = import_tf()

    class _ActFQ(keras.layers.Layer):
        def __init__(self, lo: float, hi: float, **kw):
            super().__init__(**kw)
            self.lo, self.hi = float(lo), float(hi)

        def call(self, x):
            return tf.quantization.fake_quant_with_min_max_vars(
                x, tf.constant(self.lo), tf.constant(self.hi), num_bits=8)

    # the kernel property of each target layer returns the fake-quantized kernel
    # (Conv2D / Dense: Keras' own property over ``_kernel``; Conv2DTranspose: a plain
    # attribute, which a class property shadows); the folded BN is bound in the property,
    # not set on the layer (Keras would track it as the layer's sublayer)
    folds = folded_norms(work)
    for layer in targets(work):
        base = type(layer)
        own = getattr(base, "kernel", None)

        def raw(self, own=own):
            return own.fget(self) if isinstance(own, property) else self.__dict__["kernel"]

        layer.__class__ = type(f"_FQ{base.__name__}", (base,), {
            "kernel": property(lambda self, raw=raw, axes=channel_axes(layer),
                               norm=folds.get(layer.name):
                               _fake_kernel(tf, raw(self), axes, norm))})

    def call_function(layer, *args, **kwargs):
        out = layer(*args, **kwargs)
        if layer.name in ranges:
            lo, hi = ranges[layer.name]
            out = _ActFQ(lo, hi, name=f"{layer.name}_actfq")(out)
        return out

    return keras.models.clone_model(work, clone_function=lambda layer: layer,
                                    call_function=call_function)


def activation_ranges(model, samples: list[list[np.ndarray]]) -> dict[str, tuple[float, float]]:
    """{layer name: FP32 output range (min, max; raw activation units)} of every quant point
    (:func:`quant_points`) on ``samples``, widened to include 0 (the 8-bit grid holds zero
    exactly)."""
    from edgecolor._tf import import_tf

    _, keras = import_tf()
    layers = [model.get_layer(name) for name in dict.fromkeys(quant_points(model).values())]
    ins = model.inputs if len(model.inputs) > 1 else model.inputs[0]
    tap = keras.Model(ins, [layer.output for layer in layers])
    lo = {layer.name: 0.0 for layer in layers}
    hi = {layer.name: 0.0 for layer in layers}
    for sample in samples:
        outs = tap(sample[0] if len(sample) == 1 else list(sample), training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        for layer, y in zip(layers, outs, strict=True):
            y = np.asarray(y)
            lo[layer.name] = min(lo[layer.name], float(y.min()))
            hi[layer.name] = max(hi[layer.name], float(y.max()))
    return {k: (lo[k], hi[k] if hi[k] > lo[k] else lo[k] + 1e-6) for k in lo}


def load_training_samples(folder: str | Path, spec, limit: int = MAX_IMAGES, seed: int = 0,
                          exclude: list[Path] | None = None) -> tuple[list, list[Path]]:
    """Training photos -> (model inputs per photo as ``spec.make_inputs`` makes them, their
    paths): up to ``limit`` images of ``folder``, shuffled with ``seed``; ``exclude``
    (e.g. the budget's held-out validation photos) is left out. Unreadable images are
    skipped. ValueError for a folder without usable images."""
    from edgecolor.calibration.dataset import list_calibration_images
    from edgecolor.color import lightness
    from edgecolor.imageio import ImageError, read_rgb

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: QAT image folder not found (--qat-images DIR)")
    skip = {Path(p).resolve() for p in exclude or ()}
    files = [p for p in list_calibration_images(folder) if p.resolve() not in skip]
    order = np.random.default_rng(seed).permutation(len(files))
    samples, used = [], []
    for i in order:
        if len(samples) >= limit:
            break
        try:
            rgb = read_rgb(files[i])
        except ImageError:
            continue
        samples.append(spec.make_inputs(lightness(rgb)))
        used.append(files[i])
    if not samples:
        raise ValueError(f"{folder}: no readable images for QAT (--qat-images DIR)")
    return samples, used


def qat_finetune(model, samples: list[list[np.ndarray]], minutes: float,
                 range_samples: list[list[np.ndarray]] | None = None, lr: float = LR,
                 batch: int = BATCH, seed: int = 0,
                 progress: Callable[[str], None] | None = None) -> tuple[object, dict]:
    """Quantization-aware fine-tune of ``model`` for ``minutes`` of wall clock.

    samples: training inputs, per photo one NHWC batch-1 float32 array per model input
    (``spec.make_inputs``); range_samples: photos whose FP32 activations fix the 8-bit
    ranges (default: ``samples``); lr: Adam's learning rate; batch: photos per step;
    progress(text): called about every 10 s. Returns (plain Keras model of the original
    architecture with the tuned float weights, record): the record holds minutes, seconds,
    steps, images, the distillation loss (MSE of the fake-quantized model's raw output vs
    the original FP32 output, raw output units squared) before and after on the first
    EVAL_IMAGES range photos (training photos without ``range_samples``), and how far the
    tuned FP32 output moved from the original.
    """
    from edgecolor._tf import import_tf
    from edgecolor.quant.equalize import _copy

    if not (isinstance(minutes, (int, float)) and math.isfinite(minutes) and minutes > 0):
        raise ValueError(f"QAT minutes must be a number > 0 (got {minutes!r})")
    if not samples:
        raise ValueError("QAT needs training photos (none given)")
    tf, keras = import_tf()
    t0 = time.perf_counter()
    deadline = t0 + 60.0 * minutes
    layers = targets(model)
    if not layers:
        raise ValueError("QAT: the model has no Conv2D / DepthwiseConv2D / Conv2DTranspose / "
                         "Dense layer")
    ranges = activation_ranges(model, (range_samples or samples)[:RANGE_IMAGES])
    work = _copy(model)
    fq = _fq_model(work, ranges)
    n_in = len(samples[0])

    def _inputs(sample):
        return [tf.constant(np.asarray(x, np.float32)) for x in sample]

    def _feed(xs):  # a single-input model takes its tensor, not a list
        return xs[0] if len(xs) == 1 else list(xs)

    def fp32(sample):  # the original model's own raw output: the distillation target
        return tf.constant(np.asarray(model(_feed(_inputs(sample)), training=False),
                                      np.float32))

    reference: dict[int, object] = {}

    def target(i: int):
        if i not in reference:
            reference[i] = fp32(samples[i])
        return reference[i]

    # measured on the range (calibration) photos when given: not the ones trained on
    evals = list((range_samples or samples)[:EVAL_IMAGES])
    eval_targets = [fp32(sample) for sample in evals]

    def distill(net) -> float:
        return float(np.mean([float(tf.reduce_mean(tf.square(
            net(_feed(_inputs(sample)), training=False) - y)))
            for sample, y in zip(evals, eval_targets, strict=True)]))

    before = distill(fq)
    variables = list(fq.trainable_variables)
    opt = keras.optimizers.Adam(learning_rate=lr)

    @tf.function(reduce_retracing=True)
    def step(xs, ys):
        grads = [tf.zeros_like(v) for v in variables]
        total = 0.0
        for k in range(batch):
            with tf.GradientTape() as tape:
                y = fq(_feed(xs[k * n_in:(k + 1) * n_in]), training=False)
                loss = tf.reduce_mean(tf.square(y - ys[k]))
            g = tape.gradient(loss, variables)
            grads = [a + (tf.zeros_like(v) if b is None else b)
                     for a, b, v in zip(grads, g, variables, strict=True)]
            total += loss
        opt.apply_gradients([(g / batch, v) for g, v in zip(grads, variables, strict=True)])
        return total / batch

    rng = np.random.default_rng(seed)
    steps, last, losses = 0, time.perf_counter(), []
    span = max(1e-9, deadline - time.perf_counter())
    while (now := time.perf_counter()) < deadline:
        # cosine decay over the wall-clock budget: the last steps barely move the weights
        opt.learning_rate.assign(lr * 0.5 * (1 + math.cos(math.pi * (1 - (deadline - now)
                                                                      / span))))
        idx = rng.integers(0, len(samples), batch)
        xs = [x for i in idx for x in _inputs(samples[i])]
        ys = [target(int(i)) for i in idx]
        losses.append(float(step(xs, ys)))
        steps += 1
        if progress and time.perf_counter() - last > 10:
            last = time.perf_counter()
            progress(f"qat step {steps}, loss {np.mean(losses[-20:]):.3g}, "
                     f"{max(0.0, deadline - last):.0f} s left")
    after = distill(fq)
    tuned = _copy(model)  # plain layers of the original classes
    for layer in tuned.layers:
        if layer.weights:
            layer.set_weights(work.get_layer(layer.name).get_weights())
    drift = distill(tuned)
    return tuned, {
        "name": "qat", "layers": [layer.name for layer in layers],
        "detail": {
            "minutes": minutes, "seconds": round(time.perf_counter() - t0, 1),
            "steps": steps, "batch": batch, "lr": lr, "lr_schedule": "cosine",
            "images": len(samples),
            "range_images": len((range_samples or samples)[:RANGE_IMAGES]),
            "eval_images": len(evals),
            "eval_on": "range photos" if range_samples else "training photos",
            "distill_mse_before": float(f"{before:.4g}"),
            "distill_mse_after": float(f"{after:.4g}"),
            "fp32_drift_mse": float(f"{drift:.4g}"),
            "train_loss_last": (float(f"{np.mean(losses[-20:]):.4g}") if losses else None),
            "weights": "int8 per output channel, symmetric, STE",
            "folded_norms": sorted(folded_norms(model)),
            "activations": "8-bit per tensor after each layer (after its folded BN and "
                           "fused activation), fixed FP32 calibration ranges"}}
