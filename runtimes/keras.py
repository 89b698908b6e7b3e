"""The FP32 reference: the Keras model itself (needs TensorFlow)."""

from __future__ import annotations

import importlib.util

import numpy as np

from edgecolor.runtimes.base import Runner


class KerasRunner(Runner):
    """Runs an in-memory Keras model; ``path`` is unused. Build with :meth:`from_model`."""

    name = "keras"

    @staticmethod
    def available() -> bool:
        """True when TensorFlow is importable."""
        return importlib.util.find_spec("tensorflow") is not None

    @classmethod
    def from_model(cls, model, spec, threads: int | None = None) -> KerasRunner:
        """Wrap a built Keras model and its spec."""
        r = cls(None, spec, threads=threads)
        r.model = model
        return r

    @classmethod
    def from_zoo(cls, name: str, weights="default", **kw) -> KerasRunner:
        """Build a zoo model (``create_model`` keywords) and wrap it."""
        from edgecolor.zoo import create_model

        model, spec = create_model(name, weights=weights, **kw)
        return cls.from_model(model, spec)

    def _activate(self) -> None:
        import tensorflow as tf

        model = self.model

        @tf.function(reduce_retracing=True)
        def fn(*xs):
            return model(list(xs) if len(xs) > 1 else xs[0], training=False)

        self._fn = fn

    def _infer(self, inputs: list[np.ndarray]) -> np.ndarray:
        return self._fn(*inputs).numpy()
