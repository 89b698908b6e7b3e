"""``edgecolor colorize``: colorize photos with a zoo model or a converted artifact."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("colorize")
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for the colorized images (same names, same format, same size).")
@click.option("--model", default="baseline", show_default=True, help="Zoo model name.")
@click.option("--weights", type=click.Path(dir_okay=False),
              help="Weights file (.weights.h5 or .keras); default: the bundled weights.")
@click.option("--artifact", type=click.Path(dir_okay=False),
              help="Run a converted artifact (.tflite/.xml/.onnx) instead of the Keras model.")
@click.option("--imgsz", type=int, help="Model input size (square); default: the model's own.")
@click.option("--threads", type=int, help="Inference threads (artifact runners).")
@click.option("--overwrite", is_flag=True, help="Replace output files that already exist.")
def command(inputs, out_dir, model, weights, artifact, imgsz, threads, overwrite):
    """Colorize grayscale photos: files, folders or globs.

    The photo's own full-resolution lightness is kept; the model predicts the color (ab),
    resized to the photo's size. Unreadable files are reported one line each and skipped
    (exit 1 if any failed); existing outputs are kept unless --overwrite.

    \b
    Example:
      edgecolor colorize old_photos/ scan.png -o out/
      edgecolor colorize 'shots/*.jpg' -o out/ --artifact art/baseline-tflite-int8.tflite
    """
    from edgecolor.imageio import ImageError, list_images, read_image, write_image
    from edgecolor.pipeline import colorize_array

    paths, errors = list_images(inputs)
    for e in errors:
        click.echo(f"error: {e}", err=True)
    out = Path(out_dir)
    runner = _make_runner(model, weights, artifact, imgsz, threads)
    failed = len(errors)
    done = 0
    with click.progressbar(paths, label="colorizing", file=sys.stderr,
                           show_pos=True) if len(paths) > 3 else _nullbar(paths) as bar:
        for p in bar:
            target = out / p.name
            if target.exists() and not overwrite:
                click.echo(f"skipped: {target} exists (use --overwrite to replace it)", err=True)
                failed += 1
                continue
            try:
                write_image(target, colorize_array(runner, read_image(p)))
                done += 1
            except ImageError as e:
                click.echo(f"error: {e}", err=True)
                failed += 1
    click.echo(f"{done} colorized into {out}/" + (f", {failed} failed" if failed else ""))
    sys.exit(1 if failed else 0)


class _nullbar:
    def __init__(self, items):
        self.items = items

    def __enter__(self):
        return self.items

    def __exit__(self, *exc):
        return False


def _make_runner(model, weights, artifact, imgsz, threads):
    """-> a runner, or exit 2 with a one-line reason."""
    try:
        if artifact:
            from edgecolor.runtimes import load_runner

            return load_runner(artifact, threads=threads)
        from edgecolor.runtimes.keras import KerasRunner

        return KerasRunner.from_zoo(model, weights=weights or "default", input_size=imgsz)
    except (ValueError, RuntimeError) as e:
        raise click.ClickException(str(e).splitlines()[0]) from e
