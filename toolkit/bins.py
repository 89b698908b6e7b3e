"""The 313 quantized ab bins of Zhang et al. (ECCV 2016): decoding, soft encoding, rebalancing.

Core, not zoo: any model whose contract outputs a distribution over these bins (ECCV16, a
user's own ``bins`` head) is decoded here. Host-side functions (``annealed_mean``,
``soft_encode``, ``compute_priors``) use NumPy only, so a device decoding an ``ab_bins`` output
never needs TensorFlow; ``soft_encoded_loss`` imports it lazily. Units: ab in Lab units;
distributions sum to 1 over the last axis (313 bins).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

BINS_PATH = Path(__file__).parent / "zoo" / "data" / "pts_in_hull.npy"
N_BINS = 313


@functools.lru_cache(maxsize=1)
def _bins() -> np.ndarray:
    bins = np.load(BINS_PATH).astype(np.float32)
    bins.setflags(write=False)
    return bins


def load_bins() -> np.ndarray:
    """-> (313, 2) float32 ab bin centers (a, b in Lab units), the grid of Zhang et al."""
    return _bins().copy()


def annealed_mean(y: np.ndarray, temperature: float = 0.38) -> np.ndarray:
    """Bin distribution (1, h, w, 313) or (h, w, 313) -> ab (h, w, 2) float32, Lab units.

    The annealed mean of Zhang et al.: re-normalize ``p ** (1 / T)`` and take its mean over the
    bin centers. T = 1 is the plain mean, T -> 0 the mode; 0.38 is the paper's choice.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    p = np.asarray(y, np.float32)
    if p.ndim == 4:
        p = p[0]
    if p.shape[-1] != N_BINS:
        raise ValueError(f"expected {N_BINS} bins in the last axis, got shape {p.shape}")
    # log domain: int8 outputs can hold exact zeros, and p ** (1/T) underflows in float32
    logits = np.log(np.maximum(p, 1e-30)) / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    q = np.exp(logits)
    q /= q.sum(axis=-1, keepdims=True)
    return (q @ _bins()).astype(np.float32)


def nearest_bins(ab: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """ab (..., 2) -> (indices, distances), each (..., k): the k nearest bins, nearest first."""
    ab = np.asarray(ab, np.float32)
    d2 = ((ab[..., None, :] - _bins()) ** 2).sum(-1)  # (..., 313)
    idx = np.argpartition(d2, k - 1, axis=-1)[..., :k]
    dk = np.take_along_axis(d2, idx, axis=-1)
    order = np.argsort(dk, axis=-1)
    idx = np.take_along_axis(idx, order, axis=-1)
    return idx, np.sqrt(np.take_along_axis(dk, order, axis=-1))


def soft_encode(ab: np.ndarray, k: int = 5, sigma: float = 5.0) -> np.ndarray:
    """ab (..., 2) -> soft-encoded target (..., 313) float32: k nearest bins, Gaussian weights.

    Each pixel's weights exp(-d^2 / (2 sigma^2)) over its ``k`` nearest bins sum to 1; every
    other bin is 0 (Zhang et al., Sec. 2.1: k = 5, sigma = 5).
    """
    idx, dist = nearest_bins(ab, k)
    w = np.exp(-(dist**2) / (2.0 * sigma**2))
    w /= w.sum(-1, keepdims=True)
    out = np.zeros(idx.shape[:-1] + (N_BINS,), np.float32)
    np.put_along_axis(out, idx, w.astype(np.float32), axis=-1)
    return out


def compute_priors(folder: str | os.PathLike, size: int = 64,
                   max_images: int | None = None) -> np.ndarray:
    """Photos in ``folder`` -> empirical ab prior (313,) float64 summing to 1.

    Each photo is resized to ``size`` px on its longer side and every pixel counts for its
    nearest bin. Use the training photos themselves (never eval photos). Raises ValueError
    naming the folder when it holds no readable photo.
    """
    import cv2

    from edgecolor.color import rgb_to_lab, to_float_rgb
    from edgecolor.imageio import ImageError, list_images, read_rgb

    paths, _ = list_images([str(folder)])
    if max_images:
        paths = paths[:max_images]
    counts = np.zeros(N_BINS, np.float64)
    for p in paths:
        try:
            rgb = read_rgb(p)
        except ImageError:
            continue
        h, w = rgb.shape[:2]
        s = size / max(h, w)
        if s < 1:
            rgb = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))),
                             interpolation=cv2.INTER_AREA)
        ab = rgb_to_lab(to_float_rgb(rgb))[..., 1:].reshape(-1, 2)
        idx, _ = nearest_bins(ab, 1)
        counts += np.bincount(idx[:, 0], minlength=N_BINS)
    if counts.sum() == 0:
        raise ValueError(f"{folder}: no readable photos to compute ab priors from "
                         "(point it at the training images)")
    return counts / counts.sum()


def rebalance_weights(priors: np.ndarray, lam: float = 0.5, sigma: float = 5.0) -> np.ndarray:
    """Empirical prior (313,) -> class-rebalancing weights (313,) float32.

    Zhang et al., Eq. 4: smooth the prior with a Gaussian (``sigma`` in ab units), mix with the
    uniform distribution (``lam``), invert, normalize so the prior-weighted mean weight is 1.
    """
    priors = np.asarray(priors, np.float64)
    bins = _bins().astype(np.float64)
    d2 = ((bins[:, None, :] - bins[None, :, :]) ** 2).sum(-1)
    kernel = np.exp(-d2 / (2.0 * sigma**2))
    smoothed = kernel @ priors
    smoothed /= smoothed.sum()
    w = 1.0 / ((1.0 - lam) * smoothed + lam / N_BINS)
    w /= (smoothed * w).sum()
    return w.astype(np.float32)


def soft_encoded_loss(priors: np.ndarray | None = None, lam: float = 0.5, k: int = 5,
                      sigma: float = 5.0):
    """-> Keras loss ``fn(ab_true, p_pred)`` for models whose output kind is ``ab_bins``.

    ab_true: (B, h, w, 2) target ab in Lab units at the output's resolution; p_pred:
    (B, h, w, 313) predicted distribution (softmax). The loss is the cross-entropy against the
    soft-encoded target (``k`` nearest bins, Gaussian ``sigma``), each pixel weighted by the
    rebalancing weight of its nearest bin (``priors`` from :func:`compute_priors` of the
    training photos; None = no rebalancing), averaged over pixels.
    """
    from edgecolor._tf import import_tf

    tf, _ = import_tf()
    bins = tf.constant(_bins())
    weights = tf.constant(rebalance_weights(priors, lam, sigma) if priors is not None
                          else np.ones(N_BINS, np.float32))

    def loss(ab_true, p_pred):
        ab_true = tf.cast(ab_true, tf.float32)
        d2 = tf.reduce_sum(tf.square(ab_true[..., None, :] - bins), axis=-1)  # (B,h,w,313)
        neg_d2, idx = tf.math.top_k(-d2, k=k)
        w = tf.nn.softmax(neg_d2 / (2.0 * sigma**2), axis=-1)  # Gaussian weights, normalized
        p = tf.clip_by_value(tf.cast(p_pred, tf.float32), 1e-8, 1.0)
        log_p = tf.gather(tf.math.log(p), idx, batch_dims=3)
        ce = -tf.reduce_sum(w * log_p, axis=-1)
        return tf.reduce_mean(ce * tf.gather(weights, idx[..., 0]))

    loss.__name__ = "soft_encoded_loss"
    return loss


def soft_encoded_loss_from_folder(folder: str | os.PathLike, lam: float = 0.5, **kw):
    """Training photo folder -> :func:`soft_encoded_loss` rebalanced by that folder's priors."""
    return soft_encoded_loss(compute_priors(folder), lam=lam, **kw)
