"""Progress of long work, on stderr: a bar on a terminal, periodic lines in a log.

On a TTY this is click's progress bar. Off a terminal (CI logs, ``nohup``, pipes) a bar is
one line rewritten in place, so instead a plain line is printed at the start, every
``every_s`` seconds and at the end::

    converting: 3/9 (33%), 0.42 /s, ETA 0:14

Use it as a context manager (``update(n)`` per finished step) or wrap an iterable::

    from edgecolor.progress import Progress, track

    with Progress(len(jobs), "converting") as bar:
        for job in jobs:
            run(job)
            bar.update()

    for path in track(paths, "colorizing"):
        ...
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, TypeVar

T = TypeVar("T")
EVERY_S = 10.0  # seconds between progress lines off a terminal


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def rate_eta(done: int, total: int, elapsed_s: float) -> str:
    """-> ``", 0.42 /s, ETA 0:14"`` (or ``", 2 s each, took 0:20"`` when done); "" before the
    first step is done. For verbs that print their own line per step."""
    if not done or elapsed_s <= 0:
        return ""
    rate = done / elapsed_s
    text = f", {rate:.3g} /s" if rate >= 1 else f", {1 / rate:.3g} s each"
    if total and done < total:
        return text + f", ETA {_clock((total - done) / rate)}"
    return text + f", took {_clock(elapsed_s)}"


def progress_line(label: str, done: int, total: int, elapsed_s: float) -> str:
    """-> ``"label: done/total (pct%), rate /s, ETA m:ss"`` (rate and ETA once known)."""
    pct = f" ({100 * done / total:.0f}%)" if total else ""
    return f"{label}: {done}/{total}{pct}{rate_eta(done, total, elapsed_s)}"


class Progress:
    """Progress of ``total`` steps (context manager). ``tty`` None: ask ``stream.isatty()``.

    stream: where to write (default stderr); every_s: seconds between lines off a terminal;
    clock: seconds (monotonic), replaceable for tests.
    """

    def __init__(self, total: int, label: str, stream: IO[str] | None = None,
                 every_s: float = EVERY_S, tty: bool | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.label, self.done = int(total), label, 0
        self.stream = stream if stream is not None else sys.stderr
        self.every_s, self.clock = every_s, clock
        if tty is None:
            isatty = getattr(self.stream, "isatty", None)
            tty = bool(isatty and isatty())
        self.tty = tty
        self._bar = None
        self._start = self._last = 0.0

    def __enter__(self) -> Progress:
        self._start = self._last = self.clock()
        if self.tty:
            import click

            self._bar = click.progressbar(length=self.total, label=self.label,
                                          file=self.stream, show_pos=True, show_eta=True)
            self._bar.__enter__()
        else:
            self._write()
        return self

    def update(self, n: int = 1) -> None:
        """``n`` more steps done."""
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = self.clock()
        if now - self._last >= self.every_s or self.done == self.total:
            self._last = now
            self._write()

    def _write(self) -> None:
        self.stream.write(progress_line(self.label, self.done, self.total,
                                        self.clock() - self._start) + "\n")
        self.stream.flush()

    def __exit__(self, *exc) -> bool:
        if self._bar is not None:
            self._bar.__exit__(*exc)
        elif self.done != self.total and self.done and self._last != self.clock():
            self._write()  # stopped early: say where
        return False


def track(items: Iterable[T], label: str, total: int | None = None, **kw) -> Iterator[T]:
    """Yield ``items`` while showing progress (``total`` default: ``len(items)``); ``kw`` go
    to :class:`Progress`."""
    seq = items if total is not None else list(items)
    with Progress(total if total is not None else len(seq), label, **kw) as bar:
        for item in seq:
            yield item
            bar.update()


_STEP = re.compile(r"^\[(\d+)/(\d+)\] ")


def with_eta(emit: Callable[[str], None],
             clock: Callable[[], float] = time.monotonic) -> Callable[[str], None]:
    """Wrap a line printer: lines that start with ``[i/n] `` (one per finished step, as
    ``bench`` prints them) get the rate and ETA since the wrapper was made; others pass."""
    start = clock()

    def emit_line(line: str) -> None:
        m = _STEP.match(line)
        if m and int(m[1]) > 0:
            eta = rate_eta(int(m[1]), int(m[2]), clock() - start).lstrip(", ")
            line = f"{line} ({eta})" if eta else line
        emit(line)

    return emit_line
