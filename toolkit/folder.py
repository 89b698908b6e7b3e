"""Colorize many photos with decode, inference and encode overlapped.

Three stages per photo: *prepare* (read + decode, full-resolution L, the model inputs) and
*finish* (ab upsample + Lab -> sRGB, encode, atomic write) run on a thread pool (OpenCV's
decode/encode/convert release the GIL), while the runner's ``infer`` runs on the calling
thread, one photo at a time, in order (runners need not be thread-safe). A bounded window
of photos is in flight, so memory stays a few photos deep whatever the folder's size.

Where a runner runs a batch faster (``batch_gain`` > 1: OpenVINO), up to ``batch`` prepared
photos go to one ``infer_batch`` call instead, still in order; a batch that fails is re-run
one photo at a time, so only the photo that really fails is reported (and when every photo
of it runs fine alone, the rest of the run goes one photo at a time: batching is what fails).

Guarantees (the same as the one-at-a-time loop): outputs keep the input's name, format,
size and bit depth; every file is written atomically (a temp file + rename: never a
half-written output); an existing output is skipped unless ``overwrite`` (and of two inputs
with the same name, the first is written, the second skipped); a file that fails
(unreadable, truncated, a runner error on it) is reported and the rest go on.
"""

from __future__ import annotations

import errno
import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecolor.bands import pipelined
from edgecolor.color import GrayImage, split_alpha
from edgecolor.color_u8 import lab_to_rgb_u8, lightness_u8, with_alpha
from edgecolor.errors import one_line
from edgecolor.imageio import ImageError, read_image, write_image

DONE, SKIPPED, FAILED, NOT_TRIED = "done", "skipped", "failed", "not tried"


@dataclass
class FileResult:
    """What happened to one input: status done/skipped/failed/not tried, the output path,
    and for a skip or failure the one line to print (``skipped: ...`` / ``error: ...``,
    naming the file). ``fatal``: the run cannot go on (disk full), so files not yet started
    are left "not tried"."""

    source: Path
    target: Path
    status: str
    message: str = ""
    fatal: bool = False


@dataclass
class FolderReport:
    """A finished run: every file's result in input order, and the wall time (s)."""

    results: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        """Number of files with this status."""
        return sum(r.status == status for r in self.results)

    @property
    def images_per_s(self) -> float:
        """Colorized images per second of wall time (0 when none)."""
        done = self.count(DONE)
        return done / self.seconds if self.seconds > 0 and done else 0.0


@dataclass
class _Prepared:
    """A decoded photo ready for the runner: its inputs and what the finish stage needs."""

    inputs: list[np.ndarray]
    l_full: np.ndarray | None = None  # 8-bit photos: fast path
    alpha: np.ndarray | None = None
    gray: GrayImage | None = None  # 16-bit / float photos: the float reference


class _StageError(Exception):
    """A failure in one stage of one file: the printed line and whether the run must stop."""

    def __init__(self, line: str, fatal: bool = False) -> None:
        super().__init__(line)
        self.line, self.fatal = line, fatal


def _colorize_failure(src: Path, e: BaseException) -> _StageError:
    if isinstance(e, MemoryError):
        return _StageError(f"error: {src}: too large to colorize in this machine's memory "
                           "(lower its resolution)")
    return _StageError(f"error: {src}: cannot colorize it ({one_line(e)})")


def _prepare(runner, path: Path) -> _Prepared:
    try:
        image = read_image(path)
    except ImageError as e:
        raise _StageError(f"error: {e}") from e
    except MemoryError as e:
        raise _StageError(f"error: {path}: too large to decode in this machine's memory "
                          "(lower its resolution)") from e
    try:
        return _inputs(runner, image)
    except Exception as e:
        raise _colorize_failure(path, e) from e


def _inputs(runner, image: np.ndarray) -> _Prepared:
    if image.dtype == np.uint8:
        base, alpha = split_alpha(image)
        l_full = lightness_u8(base)
        return _Prepared(runner.spec.make_inputs(l_full), l_full=l_full, alpha=alpha)
    gray = GrayImage.from_array(image)
    return _Prepared(runner.spec.make_inputs(gray.l), gray=gray)


def _finish(prep: _Prepared, ab: np.ndarray, source: Path, target: Path) -> None:
    try:
        if prep.gray is not None:
            out = prep.gray.with_ab(ab)
        else:
            out = with_alpha(lab_to_rgb_u8(prep.l_full, ab), prep.alpha)
    except Exception as e:
        raise _colorize_failure(source, e) from e
    try:
        write_image(target, out)
    except ImageError as e:
        raise _StageError(f"error: {target}: {e}") from e
    except OSError as e:
        full = e.errno in (errno.ENOSPC, errno.EDQUOT)
        why = "disk full" if full else (e.strerror or type(e).__name__)
        fix = "free space or pass another -o folder" if full else "check the -o folder"
        raise _StageError(f"error: {target}: cannot write ({why}); nothing half-written is "
                          f"left; {fix}", fatal=full) from e


def _failure(source: Path, e: BaseException) -> _StageError:
    return e if isinstance(e, _StageError) else _colorize_failure(source, e)


def _infer_group(runner, inputs: list[list[np.ndarray]]) -> list[np.ndarray] | None:
    """Several photos' inputs -> their raw outputs from one ``infer_batch`` call, or None
    when the batch failed (or the runner returned something else than one output of batch
    1 per photo): the caller then runs them one at a time."""
    infer_batch = getattr(runner, "infer_batch", None)
    if infer_batch is None:  # a duck-typed runner with ``infer`` only
        return None
    try:
        raws = list(infer_batch(inputs))
    except Exception:  # noqa: BLE001 - which photo failed is found one at a time
        return None
    if len(raws) != len(inputs) or any(np.ndim(r) == 0 or np.shape(r)[0] != 1 for r in raws):
        return None
    return raws


def default_workers() -> int:
    """Threads for the prepare/finish stages: the CPU count, at least 2, at most 8."""
    return max(2, min(8, os.cpu_count() or 2))


def colorize_files(runner, paths: Iterable[Path], out_dir: str | os.PathLike,
                   overwrite: bool = False, workers: int | None = None,
                   on_result: Callable[[FileResult], None] | None = None,
                   progress: Callable[[int, int], None] | None = None,
                   batch: int | None = None) -> FolderReport:
    """Colorize ``paths`` into ``out_dir`` (same file names) with stages overlapped.

    runner: any edgecolor runner (``spec``, ``infer``), called from this thread only;
    overwrite: replace existing outputs (else they are skipped); workers: pool threads
    (default :func:`default_workers`); on_result(FileResult): called as each file ends
    (any order); progress(finished, total): called after each file; batch: photos per
    inference call (default: the runner's ``batch_gain``, 1 where it has none; 1 runs
    ``infer`` one photo at a time; N > 1 takes up to N photos already being decoded, in
    order, to one ``runner.infer_batch``, and keeps at least 2N photos in flight).
    -> FolderReport with the results in input order. A file's failure is its own (one
    line naming it; a failed batch is re-run one photo at a time); a write that finds the
    disk full stops the run: files not yet started are "not tried".
    """
    paths = [Path(p) for p in paths]
    out = Path(out_dir)
    workers = workers or default_workers()
    batch = int(getattr(runner, "batch_gain", 1) or 1) if batch is None else int(batch)
    if batch < 1:
        raise ValueError(f"batch must be 1 or more photos per inference call, not {batch}")
    report = FolderReport([FileResult(p, out / p.name, "") for p in paths])
    t0 = time.perf_counter()
    finished = 0

    stop = False

    def settle(i: int, status: str, message: str = "", fatal: bool = False) -> None:
        nonlocal finished, stop
        r = report.results[i]
        r.status, r.message, r.fatal = status, message, fatal
        stop = stop or fatal
        finished += 1
        if on_result is not None:
            on_result(r)
        if progress is not None:
            progress(finished, len(paths))

    todo = []
    first_of: dict[Path, Path] = {}  # target -> the input that writes it in this run
    for i, r in enumerate(report.results):
        if r.target in first_of:  # two inputs of the same name: the first one wins
            settle(i, SKIPPED, f"skipped: {r.source}: {first_of[r.target]} of the same name "
                   f"goes to {r.target} in this run (rename one)")
        elif r.target.exists() and not overwrite:
            settle(i, SKIPPED, f"skipped: {r.target} exists (use --overwrite to replace it)")
        else:
            first_of[r.target] = r.source
            todo.append(i)
    out.mkdir(parents=True, exist_ok=True)

    window = max(2 * workers, 2 * batch)  # photos decoded ahead of the runner
    # the stages share the cores: frames stay whole (edgecolor.bands)
    with pipelined(), ThreadPoolExecutor(workers, thread_name_prefix="edgecolor-folder") as pool:
        prepared: deque[tuple[int, Future]] = deque()
        writing: deque[tuple[int, Future]] = deque()
        queue = deque(todo)

        def drain_writes(block: bool) -> None:
            while writing and (block or writing[0][1].done() or len(writing) > window):
                i, fut = writing.popleft()
                try:
                    fut.result()
                    settle(i, DONE)
                except Exception as e:  # one bad file never stops the rest
                    err = _failure(report.results[i].source, e)
                    settle(i, FAILED, err.line, err.fatal)

        while queue or prepared:
            while queue and len(prepared) < window and not stop:
                i = queue.popleft()
                prepared.append((i, pool.submit(_prepare, runner, report.results[i].source)))
            if not prepared:  # stopped: the disk is full
                break
            # up to `batch` photos already submitted, in order (never waits for more);
            # batch 1: one photo, one ``infer``
            group = [prepared.popleft() for _ in range(min(batch, len(prepared)))]
            ready: list[tuple[int, _Prepared]] = []
            for i, fut in group:
                try:
                    ready.append((i, fut.result()))
                except Exception as e:  # a file that does not decode is just not in the batch
                    err = _failure(report.results[i].source, e)
                    settle(i, FAILED, err.line, err.fatal)
            raws = (_infer_group(runner, [prep.inputs for _, prep in ready])
                    if len(ready) > 1 else None)
            alone_ok = True
            for k, (i, prep) in enumerate(ready):
                src = report.results[i].source
                try:
                    raw = raws[k] if raws is not None else runner.infer(prep.inputs)
                except Exception as e:
                    alone_ok = False
                    err = _failure(src, e)
                    settle(i, FAILED, err.line, err.fatal)
                    continue
                try:
                    ab = runner.spec.decode(raw)
                except Exception as e:
                    err = _failure(src, e)
                    settle(i, FAILED, err.line, err.fatal)
                    continue
                writing.append((i, pool.submit(_finish, prep, ab, src,
                                               report.results[i].target)))
            if raws is None and len(ready) > 1 and alone_ok:
                batch = 1  # the batch failed where every photo runs alone: stop batching
            drain_writes(block=False)
        drain_writes(block=True)
        for i in queue:
            report.results[i].status = NOT_TRIED
    report.seconds = time.perf_counter() - t0
    return report
