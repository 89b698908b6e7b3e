"""Memo of the slow steps a conversion repeats with the same result.

A fidelity budget (``edgecolor.quant.budget``) converts one Keras model several times with
different layers kept in float; a convert run exports the same model for two ONNX rows.
TFLite recalibrates each time (about 30 s for pix2pix-mobilenetv2-lab at 256x256 on 80
photos, 2 cores) and tf2onnx re-exports (about 7 s), with the same result every time. The
converters ask this cache instead.

An entry belongs to one model object and one calibration set object (weak references: an
entry whose model or calibration set was freed is dropped) and to a digest of the model's
weights, so a model changed in place (training, a Keras-side PTQ fix applied to it) misses.
The cache keeps the :data:`SIZE` most recent entries (an ONNX graph or a calibrated TFLite
model of a large network is hundreds of MB).
"""

from __future__ import annotations

import hashlib
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

SIZE = 2

T = TypeVar("T")


def weights_digest(model) -> str:
    """Keras model -> hex digest of every weight's bytes (its variables, in order)."""
    h = hashlib.blake2b(digest_size=16)
    for w in model.weights:
        a = np.ascontiguousarray(np.asarray(w))
        h.update(str((a.shape, a.dtype)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


@dataclass
class _Entry:
    model: weakref.ref
    calib: weakref.ref | None  # None: a step without calibration
    value: Any

    def alive(self) -> bool:
        return self.model() is not None and (self.calib is None or self.calib() is not None)

    def owned_by(self, model, calib) -> bool:
        return self.model() is model and (
            self.calib() is calib if self.calib is not None else calib is None)


class StepCache:
    """``get(step, model, calib, key, build)``: ``build()``'s result, computed once per
    (step, model object, its weights, calibration set object, key)."""

    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[tuple, _Entry] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, step: str, model, calib, key: tuple, build: Callable[[], T]) -> T:
        """The memoized ``build()`` for this step, model, calibration set and ``key``
        (hashable: what else the result depends on, e.g. the opset)."""
        self._drop_dead()
        full = (step, id(model), weights_digest(model), id(calib), key)
        entry = self._entries.get(full)
        if entry is not None and entry.owned_by(model, calib):
            self._entries.move_to_end(full)
            self.hits += 1
            return entry.value
        value = build()
        self.misses += 1
        self._entries[full] = _Entry(weakref.ref(model),
                                     None if calib is None else weakref.ref(calib), value)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()

    def __len__(self) -> int:
        self._drop_dead()
        return len(self._entries)

    def _drop_dead(self) -> None:
        for k in [k for k, e in self._entries.items() if not e.alive()]:
            del self._entries[k]


CACHE = StepCache()
