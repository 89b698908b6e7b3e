"""The runner interface every backend implements, and ``load_runner``."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
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
    # device used when the caller names none ("AUTO" for ONNX Runtime: its GPU providers
    # where installed, then the CPU one)
    default_device = "CPU"
    # photos per inference call the folder engine uses by default for this runner
    # (``colorize --batch``): 1 = batching gains nothing here, ``infer_batch`` just loops
    batch_gain: int = 1

    def __init__(self, path: str | os.PathLike | None, spec: ModelSpec,
                 manifest: dict | None = None, threads: int | None = None,
                 device: str | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.spec = spec
        self.manifest = manifest or {}
        self.threads = threads
        self.device = device or self.default_device
        self.active = False
        # why this runner runs the artifact (set by load_runner; reports print it)
        self.choice: RunnerChoice | None = None

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

    def infer_batch(self, batches: list[list[np.ndarray]]) -> list[np.ndarray]:
        """Several photos in one call -> one raw output per photo, in order.

        ``batches[k]`` is photo k's inputs exactly as :meth:`infer` takes them (float32, one
        array per spec input, each of shape (1, H, W, C), leading batch dim 1); the result's
        element k is what ``infer(batches[k])`` returns (float32, leading batch dim 1). This
        default loops over ``infer``; runners that run a batch faster (``batch_gain`` > 1)
        override it. Raises like ``infer`` (a failure may be any photo's: callers that need
        to know which retry them one at a time).
        """
        return [self.infer(inputs) for inputs in batches]

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


@dataclass(frozen=True)
class RunnerChoice:
    """Which runner runs an artifact and why (a report row and ``info`` print it)."""

    runner: str
    reason: str
    tried: tuple[str, ...] = ()  # runners preferred over it whose runtime is not installed


def runner_order(fmt_runners: tuple[str, ...], manifest: dict) -> tuple[tuple[str, ...], str]:
    """The runners to try for an artifact, preferred first, and where that order comes from.

    The artifact's target profile (``manifest["target"]["runtimes"]``, recorded at conversion)
    decides first: a Jetson artifact tries TensorRT before ONNX Runtime. Runners of the
    format the profile does not name follow in the format table's order.
    """
    target = manifest.get("target") if isinstance(manifest, dict) else None
    profile_runtimes = target.get("runtimes") if isinstance(target, dict) else None
    if not isinstance(profile_runtimes, list) or not profile_runtimes:
        return tuple(fmt_runners), "the format table's order"
    first = [r for r in profile_runtimes if r in fmt_runners]
    rest = [r for r in fmt_runners if r not in first]
    return tuple(first + rest), f"{target.get('name', 'the target')} profile's runtime order"


def load_runner(path: str | os.PathLike, runner: str | None = None, threads: int | None = None,
                device: str | None = None, verify: bool = True) -> Runner:
    """Artifact path -> a runner for it (not yet activated), its ``choice`` saying why.

    The runner is the first installed one in the artifact's target profile's runtime order
    (then the format table's), or ``runner`` when given. ``device`` None: the runner's own
    default (ONNX Runtime: TensorRT/CUDA providers where installed, then CPU). Raises
    ManifestError (bad/mismatching manifest) or RuntimeMissing (no runtime installed; names
    the pip extra).
    """
    from edgecolor.formats import format_of_path, load_runner_class
    from edgecolor.manifest import load_manifest

    fmt = format_of_path(str(path))
    manifest = load_manifest(path, verify=verify)
    spec = ModelSpec.from_dict(manifest["spec"])
    names, source = ((runner,), "asked for (--runner)") if runner else runner_order(
        fmt.runners, manifest)
    missing = []
    for name in names:
        cls = load_runner_class(name)
        if cls.available():
            chosen = cls(path, spec, manifest, threads=threads, device=device)
            reason = source if not missing else (
                f"{source}; {', '.join(missing)} not installed here")
            chosen.choice = RunnerChoice(name, reason, tuple(missing))
            return chosen
        missing.append(name)
    raise RuntimeMissing(
        f"{path}: no runtime for {fmt.name} installed (tried {', '.join(missing)}); "
        f"pip install 'edgecolor[{fmt.extra}]'"
    )
