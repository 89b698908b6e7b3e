"""Timing statistics: a list of per-run times (ms) -> mean, median, p90, p99, min, max, std, FPS.

Percentiles interpolate linearly between the two nearest ranks (NumPy's default "linear"
method); std is the sample standard deviation (n - 1), 0 for a single run. FPS = 1000 /
median, so one slow outlier does not move it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class TimingStats:
    """Summary of n timed runs; every time in ms."""

    n: int
    mean: float
    median: float
    p90: float
    p99: float
    min: float
    max: float
    std: float

    @property
    def fps(self) -> float:
        """Frames per second at the median time (1000 / median ms); inf for a 0 ms median."""
        return 1000.0 / self.median if self.median > 0 else math.inf

    def to_dict(self) -> dict:
        """JSON-ready dict: the fields plus ``fps``."""
        return {**asdict(self), "fps": self.fps}


def summarize(times_ms: Sequence[float]) -> TimingStats:
    """Per-run times in ms (at least one) -> :class:`TimingStats`.

    Raises ValueError for an empty list or a negative / non-finite time.
    """
    t = np.asarray(list(times_ms), dtype=np.float64)
    if t.size == 0:
        raise ValueError("no timed runs to summarize (use --runs >= 1)")
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError("timings must be finite and >= 0 ms")
    return TimingStats(
        n=int(t.size),
        mean=float(t.mean()),
        median=float(np.median(t)),
        p90=float(np.percentile(t, 90)),
        p99=float(np.percentile(t, 99)),
        min=float(t.min()),
        max=float(t.max()),
        std=float(t.std(ddof=1)) if t.size > 1 else 0.0,
    )


def time_calls(fn: Callable[[], object], runs: int = 20, warmup: int = 3,
               seconds: float | None = None, min_runs: int = 3,
               budget_s: float | None = None) -> list[float]:
    """Call ``fn()`` ``warmup`` times untimed, then time it -> per-call times in ms.

    runs: number of timed calls; seconds: when given, keep timing calls until this many
    seconds have passed instead of a fixed count (at least ``min_runs`` calls). budget_s:
    a cap for slow models: stop early once the timed calls took this long (still at least
    ``min_runs``), and stop warming up after a quarter of it. Uses ``time.perf_counter_ns``.
    """
    start = time.perf_counter()
    for _ in range(max(0, warmup)):
        if budget_s is not None and time.perf_counter() - start > budget_s / 4:
            break
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while True:
        elapsed = time.perf_counter() - start
        if len(times) >= min_runs or (seconds is None and len(times) >= runs):
            if seconds is not None and elapsed >= seconds:
                break
            if seconds is None and len(times) >= runs:
                break
            if budget_s is not None and elapsed >= budget_s:
                break
        t0 = time.perf_counter_ns()
        fn()
        times.append((time.perf_counter_ns() - t0) / 1e6)
    return times


def time_round_robin(fns: dict[str, Callable[[], object]], runs: int) -> dict[str, list[float]]:
    """Time several callables interleaved, one call of each per round -> name: times in ms.

    Interleaving makes load from other processes hit every candidate alike, so the ratios
    between them hold even on a busy machine. No warm-up: callers warm up first.
    """
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1000)
    return times


def time_once(fn: Callable[[], object]) -> tuple[object, float]:
    """Call ``fn()`` once -> (its result, elapsed ms)."""
    start = time.perf_counter_ns()
    result = fn()
    return result, (time.perf_counter_ns() - start) / 1e6
