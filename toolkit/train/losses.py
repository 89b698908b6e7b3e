"""The training loss of each output kind, and the target each loss compares against.

One table, keyed by :data:`edgecolor.spec.OUTPUT_KINDS`. A target maker gets the crop at
the network's output size as RGB float 0..1 and as Lab, and returns the array the network
output is compared with. Losses are Keras loss names or a "module:function" factory looked up
only when that kind is trained: ``factory(train_folder) -> loss(y_true, y_pred)`` (``ab_bins``
uses the zoo's soft-encoding loss, class-rebalanced by the training photos' ab priors).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgecolor.spec import ModelSpec


@dataclass(frozen=True)
class LossRule:
    """How one output kind is trained: what the target is, which loss compares it."""

    target: str  # key of TARGETS
    loss: str  # Keras loss name, "scaled_mse", or "module:factory" (factory(train_folder))
    describe: str  # one line for the model card


# name -> (rgb01 (h, w, 3), lab (h, w, 3), output scale) -> target (h, w, C)
TARGETS: dict[str, Callable[[np.ndarray, np.ndarray, float], np.ndarray]] = {
    "ab_over_scale": lambda rgb, lab, scale: lab[..., 1:] / scale,  # the tanh range
    "ab": lambda rgb, lab, scale: lab[..., 1:],  # Lab units
    "rgb_tanh": lambda rgb, lab, scale: rgb * 2.0 - 1.0,  # -1..1
    "rgb": lambda rgb, lab, scale: rgb,  # 0..1 (a user model's sigmoid RGB head)
}

LOSS_RULES: dict[str, LossRule] = {
    "ab_tanh": LossRule("ab_over_scale", "mse", "MSE on normalized ab (ab / scale)"),
    "ab": LossRule("ab", "scaled_mse", "MSE on ab / scale (output in Lab units)"),
    "rgb_tanh": LossRule("rgb_tanh", "mae", "L1 on RGB in -1..1 (targets from the color photo)"),
    "rgb": LossRule("rgb", "mae", "L1 on RGB in 0..1 (targets from the color photo)"),
    "ab_bins": LossRule("ab", "edgecolor.bins:soft_encoded_loss_from_folder",
                        "soft-encoded cross-entropy over the 313 ab bins, rebalanced by the "
                        "training photos' ab priors (targets: ab)"),
}


# the regression kinds under an explicit norm (``edgecolor train --loss``; pix2pix: l1)
NORM_RULES: dict[tuple[str, str], LossRule] = {
    ("ab_tanh", "l1"): LossRule("ab_over_scale", "mae",
                                "L1 on normalized ab (ab / scale), as pix2pix"),
    ("ab_tanh", "l2"): LOSS_RULES["ab_tanh"],
    ("rgb_tanh", "l1"): LOSS_RULES["rgb_tanh"],
    ("rgb_tanh", "l2"): LossRule("rgb_tanh", "mse", "MSE on RGB in -1..1"),
    ("ab", "l2"): LOSS_RULES["ab"],
}
NORMS = ("l1", "l2")


def loss_rule(spec: ModelSpec, norm: str | None = None) -> LossRule:
    """The rule for the spec's output kind, under ``norm`` ("l1" | "l2"; None: the kind's
    default); ValueError naming what trains instead."""
    kind = spec.output.kind
    if kind not in LOSS_RULES:
        raise ValueError(f"no training loss for output kind {kind!r}; "
                         f"trainable kinds: {', '.join(LOSS_RULES)}")
    if norm is None:
        return LOSS_RULES[kind]
    if (kind, norm) not in NORM_RULES:
        choices = [n for k, n in NORM_RULES if k == kind]
        raise ValueError(f"--loss {norm} does not apply to output kind {kind!r} "
                         f"({'choose ' + ' or '.join(choices) if choices else 'leave --loss out'})")
    return NORM_RULES[(kind, norm)]


def target_fn(spec: ModelSpec, norm: str | None = None
              ) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """-> ``f(rgb01, lab) -> target`` for the spec's output kind."""
    make = TARGETS[loss_rule(spec, norm).target]
    scale = float(spec.output.scale)
    return lambda rgb, lab: make(rgb, lab, scale)


def keras_loss(spec: ModelSpec, train_folder: str | None = None, norm: str | None = None):
    """-> the loss to pass to ``model.compile`` (a Keras name or a callable).

    ``train_folder`` (the training photos) goes to "module:factory" losses.
    """
    name = loss_rule(spec, norm).loss
    if name == "scaled_mse":
        inv = 1.0 / float(spec.output.scale) ** 2

        def scaled_mse(y_true, y_pred):
            from edgecolor._tf import import_tf

            _, keras = import_tf()
            return keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1) * inv

        return scaled_mse
    if ":" not in name:
        return name
    module, attr = name.split(":")
    try:
        factory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"output kind {spec.output.kind!r} trains with {name}, which is not "
                         f"available ({e}); update edgecolor") from e
    return factory(train_folder)
