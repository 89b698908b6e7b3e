"""The runner interface every backend implements, and ``load_runner``."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from edgecolor.spec import ModelSpec


class RuntimeMissing(RuntimeError):
    """The runtime a runner needs is not installed; the message names the pip extra."""


class Runner(ABC):
    """Runs one model artifact.

    ``spec`` is the model spec, ``manifest`` the artifact's manifest (empty for the Keras
    reference). Subclasses implement ``_activate``, ``_infer`` and optionally
    ``_deactivate``; quantized I/O (scale, zero point) is handled inside ``_infer``.
    """

    name = "runner"

    def __init__(self, path: str | os.PathLike | None, spec: ModelSpec,
                 manifest: dict | None = None, threads: int | None = None,
                 device: str = "CPU") -> None:
        self.path = Path(path) if path is not None else None
        self.spec = spec
        self.manifest = manifest or {}
        self.threads = threads
        self.device = device
        self.active = False

    def activate(self) -> None:
        """Load / compile the artifact (idempotent)."""
        if not self.active:
            self._activate()
            self.active = True

    def deactivate(self) -> None:
        """Release the loaded model."""
        if self.active:
            self._deactivate()
            self.active = False

    def infer(self, inputs: list[np.ndarray]) -> np.ndarray:
        """Normalized input batches (float32, one per spec input, in order) -> raw output."""
        if not self.active:
            self.activate()
        return np.asarray(self._infer(inputs), dtype=np.float32)

    def run(self, *xs: np.ndarray) -> np.ndarray:
        """``infer`` with the inputs as positional arguments."""
        return self.infer(list(xs))

    @abstractmethod
    def _activate(self) -> None: ...

    @abstractmethod
    def _infer(self, inputs: list[np.ndarray]) -> np.ndarray: ...

    def _deactivate(self) -> None:
        pass

    def __enter__(self) -> Runner:
        self.activate()
        return self

    def __exit__(self, *exc) -> None:
        self.deactivate()


def load_runner(path: str | os.PathLike, runner: str | None = None, threads: int | None = None,
                device: str = "CPU", verify: bool = True) -> Runner:
    """Artifact path -> a runner for it (not yet activated).

    The runner is the first of the format's runners whose runtime is installed, or
    ``runner`` when given. Raises ManifestError (bad/mismatching manifest) or
    RuntimeMissing (no runtime installed; names the pip extra).
    """
    from edgecolor.formats import format_of_path, load_runner_class
    from edgecolor.manifest import load_manifest

    fmt = format_of_path(str(path))
    manifest = load_manifest(path, verify=verify)
    spec = ModelSpec.from_dict(manifest["spec"])
    names = (runner,) if runner else fmt.runners
    missing = []
    for name in names:
        cls = load_runner_class(name)
        if cls.available():
            return cls(path, spec, manifest, threads=threads, device=device)
        missing.append(name)
    raise RuntimeMissing(
        f"{path}: no runtime for {fmt.name} installed (tried {', '.join(missing)}); "
        f"pip install 'edgecolor[{fmt.extra}]'"
    )
