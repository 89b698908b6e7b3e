"""``edgecolor colorize``: colorize photos with a zoo model or a converted artifact."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from edgecolor.errors import one_line

EXIT_SOME_FAILED = 1
EXIT_REFUSED = 2


def ready_runner(runner, label: str):
    """Activate ``runner`` and run it once on a flat gray input at its own size -> the
    runner, ready. A runner that cannot load or run (a corrupt artifact whose hashes match)
    or returns no usable ab raises ValueError, one line naming ``label`` and the fix."""
    import numpy as np

    stage = "load"
    try:
        runner.activate()
        stage = "first inference"
        h, w = runner.spec.input_size
        ab = runner.spec.decode(runner.infer(runner.spec.make_inputs(
            np.full((h, w), 50.0, np.float32))))
    except (click.exceptions.Exit, SystemExit, KeyboardInterrupt):
        raise
    except BaseException as e:  # noqa: BLE001 - runtimes raise anything on a broken file
        raise ValueError(f"{label}: cannot run it ({stage}: {one_line(e)}); re-run "
                         "`edgecolor convert` (or pass another --artifact/--weights)") from e
    if ab.ndim != 3 or ab.shape[-1] != 2 or not np.isfinite(ab).all():
        raise ValueError(f"{label}: its output is not usable ab (shape {tuple(ab.shape)}"
                         f"{', not finite' if ab.size and not np.isfinite(ab).all() else ''}); "
                         "re-run `edgecolor convert`")
    return runner


# the bundled general-photo model with the most color on the eval role (issue 21: the
# baseline's L2 weights paint sepia; benchmarks/results/recipes-x86-cpu.md)
DEFAULT_MODEL = "baseline-bins"


@click.command("colorize")
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for the colorized images (same names, same format, same size).")
@click.option("--model", default=DEFAULT_MODEL, show_default=True,
              help="Zoo model name, or your own model (.onnx/.keras/.h5 or SavedModel "
                   "folder); default: the bundled model that colorizes best (its card: "
                   "toolkit/zoo/weights/baseline-bins.card.md).")
@click.option("--io", "io", metavar="PRESET|FILE.toml",
              help="Contract of your own --model (see `edgecolor convert --help`).")
@click.option("--weights", type=click.Path(dir_okay=False),
              help="Weights file (.weights.h5 or .keras); default: the bundled weights.")
@click.option("--artifact", type=click.Path(dir_okay=False),
              help="Run a converted artifact (.tflite/.xml/.onnx) instead of the Keras model.")
@click.option("--imgsz", type=int, help="Model input size (square); default: the model's own.")
@click.option("--threads", type=int, help="Inference threads (artifact runners).")
@click.option("--batch", type=click.IntRange(min=1), metavar="N",
              help="Photos per inference call. Default: the runner's own: 4 for OpenVINO "
                   "artifacts (the IR reshaped to batch N; a folder of 200 photos ran "
                   "3-8% faster than at 1 on a 2-core Xeon); 1 for the others (TFLite, "
                   "ONNX Runtime, Keras), which run one photo at a time whatever N is.")
@click.option("--overwrite", is_flag=True, help="Replace output files that already exist.")
@click.option("--random-weights", is_flag=True,
              help="Run a model (or artifact) without trained weights anyway (speed only).")
def command(inputs, out_dir, model, io, weights, artifact, imgsz, threads, batch, overwrite,
            random_weights):
    """Colorize grayscale photos: files, folders or globs.

    The photo's own full-resolution lightness is kept; the model predicts the color (ab),
    resized to the photo's size. Unreadable files are reported one line each and skipped
    (exit 1 if any failed); existing outputs are kept and counted as skipped unless
    --overwrite. Photos above EDGECOLOR_MAX_PIXELS (default 50 MP) are refused before
    decoding. Exit 2: the model/artifact cannot run (nothing is written).

    \b
    Example:
      edgecolor colorize old_photos/ scan.png -o out/
      edgecolor colorize 'shots/*.jpg' -o out/ --artifact art/baseline-tflite-int8.tflite
    """
    from edgecolor.imageio import list_images

    paths, errors = list_images(inputs)
    for e in errors:
        click.echo(f"error: {e}", err=True)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        _refuse(f"-o {out}: is a file; give a folder for the colorized images")
    if not paths:
        _refuse("no photos to colorize (give image files, folders or globs)")
    from edgecolor.zoo.registry import random_weights_refusal

    refusal = None if random_weights else random_weights_refusal(model, weights, artifact)
    if refusal:  # no silent random colors: say how to get trained weights
        _refuse(refusal)
    runner = _make_runner(model, weights, artifact, imgsz, threads, io)
    counts = {"done": 0, "skipped": 0, "failed": len(errors)}
    # decode / inference / encode overlapped (edgecolor.folder); one line per failed file,
    # a full disk stops the run
    from edgecolor.folder import NOT_TRIED, colorize_files
    from edgecolor.progress import Progress

    with Progress(len(paths), "colorizing") if len(paths) > 3 else _nullbar(None) as bar:
        report = colorize_files(
            runner, paths, out, overwrite=overwrite, batch=batch,
            on_result=lambda r: r.message and click.echo(r.message, err=True),
            progress=(lambda done, total: bar.update()) if bar is not None else None)
    for r in report.results:
        if r.status != NOT_TRIED:
            counts[r.status] += 1
    stopped = report.count(NOT_TRIED)
    click.echo(summary_line(counts, out, stopped))
    sys.exit(EXIT_SOME_FAILED if counts["failed"] or stopped else 0)


def summary_line(counts: dict, out: Path, stopped: int = 0) -> str:
    """{"done", "skipped", "failed"} counts -> the closing line, e.g.
    ``3 colorized into out/, 2 skipped (exist), 1 failed``."""
    line = f"{counts['done']} colorized into {out}/"
    if counts.get("skipped"):
        line += f", {counts['skipped']} skipped (exist)"
    if counts.get("failed"):
        line += f", {counts['failed']} failed"
    if stopped:
        line += f", {stopped} not tried (stopped: disk full)"
    return line


def _refuse(line: str):
    click.echo(f"error: {line}", err=True)
    sys.exit(EXIT_REFUSED)


class _nullbar:
    def __init__(self, items):
        self.items = items

    def __enter__(self):
        return self.items

    def __exit__(self, *exc):
        return False


def _make_runner(model, weights, artifact, imgsz, threads, io=None):
    """-> a runner, loaded and run once (:func:`ready_runner`), or exit 2 with one line.

    ``model`` may be the user's own model file: its source runner (ONNX Runtime on the
    graph, or Keras) with its contract (``io``, else inferred)."""
    from edgecolor.sources import is_model_path

    try:
        if not artifact and is_model_path(model):
            from edgecolor.sources import load_source

            source = load_source(model, io=io, imgsz=imgsz,
                                 log=lambda line: click.echo(line, err=True))
            return ready_runner(source.reference(threads=threads), str(model))
        if io is not None:
            raise ValueError("--io states the contract of your own --model file; drop it")
        if artifact:
            from edgecolor.runtimes import load_runner

            if not Path(artifact).is_file():
                raise ValueError(f"--artifact {artifact}: no such file (check the path)")
            runner, label = load_runner(artifact, threads=threads), str(artifact)
        else:
            from edgecolor.runtimes.keras import KerasRunner

            runner = KerasRunner.from_zoo(model, weights=weights or "default",
                                          input_size=imgsz)
            label = str(weights) if weights else f"model {model}"
        return ready_runner(runner, label)
    except (ValueError, RuntimeError, OSError) as e:
        _refuse((str(e).strip().splitlines() or [type(e).__name__])[0])
