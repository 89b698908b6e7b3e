"""A before/after grid of colorizations for README: one row per photo, columns original,
gray (the photo's own L, ab = 0), then each model as ``edgecolor colorize`` runs it.

    python benchmarks/colorize_grid.py --photos ../shared/datasets/kodak24 --count 5 \\
        --model baseline --model baseline-bins -o benchmarks/results/colorize-grid.png

Photos are taken from an eval-role folder (never trained or calibrated on), the first
``--count`` by file name; each tile is ``--tile`` px high. Needs the development datasets or
any folder of color photos; never run by the tests.
"""

from __future__ import annotations

from pathlib import Path

import click
import cv2
import numpy as np

from edgecolor.color import GrayImage
from edgecolor.imageio import atomic_write_bytes, list_images, read_rgb
from edgecolor.pipeline import predict_ab


def _tile(rgb: np.ndarray, height: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    return cv2.resize(rgb, (round(w * height / h), height), interpolation=cv2.INTER_AREA)


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    out = tile.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 22), (0, 0, 0), -1)
    cv2.putText(out, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                cv2.LINE_AA)
    return out


@click.command()
@click.option("--photos", required=True, type=click.Path(file_okay=False, exists=True))
@click.option("--count", default=5, show_default=True)
@click.option("--model", "models", multiple=True, required=True,
              help="Zoo model (its default weights), repeatable: one column each.")
@click.option("--tile", default=192, show_default=True, help="Tile height in px.")
@click.option("-o", "--out", "out_png", required=True, type=click.Path(dir_okay=False))
def main(photos, count, models, tile, out_png):
    """Write the grid PNG."""
    from edgecolor.runtimes.keras import KerasRunner

    runners = {m: KerasRunner.from_zoo(m) for m in models}
    paths, _ = list_images([photos])
    rows = []
    for i, path in enumerate(sorted(paths)[:count]):
        rgb = read_rgb(path)
        gray = GrayImage.from_array(rgb)
        cells = [("original", rgb), ("gray", gray.with_ab(np.zeros(gray.l.shape + (2,),
                                                                   np.float32)))]
        cells += [(m, gray.with_ab(predict_ab(r, gray.l))) for m, r in runners.items()]
        rows.append(np.hstack([_label(_tile(c, tile), name if i == 0 else "")
                               for name, c in cells]))
    width = max(r.shape[1] for r in rows)
    grid = np.vstack([np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)),
                             constant_values=255) for r in rows])
    ok, png = cv2.imencode(".png", cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    atomic_write_bytes(Path(out_png), png.tobytes())
    click.echo(f"wrote {out_png} ({grid.shape[1]}x{grid.shape[0]})")


if __name__ == "__main__":
    main()
