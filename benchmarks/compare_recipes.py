"""Compare training recipes (one `edgecolor train` run each) on the same photos.

For every run folder: its card (model, loss, augmentation, epochs, minutes), then its best
weights scored as ``edgecolor colorize`` colorizes (whole photo at the working size, the
photo's own L at full resolution), against the gray rendering (own L, ab = 0):

* on the run's validation split (photos of the train role the run held out; what a recipe
  is chosen by), and
* on the eval role (kodak24, mcmaster18, urban100: never trained on, calibrated on or used to
  choose), the numbers reported.

Writes a markdown table (and JSON) with PSNR, mean CIEDE2000, colorfulness (Hasler &
Suesstrunk) and its share of the originals'. Needs the development datasets; never run by
the tests.

    python benchmarks/compare_recipes.py runs/l2 runs/l1gan runs/bins runs/bins-aug \\
        -o benchmarks/results/recipes-x86-cpu.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_weights import DEFAULT_DATA, EVAL_SETS, evaluate, score_photo  # noqa: E402

from edgecolor.imageio import atomic_write_bytes, read_rgb  # noqa: E402


def _runner(run: Path, card: dict, imgsz: int | None, temperature: float | None = None):
    from edgecolor.runtimes.keras import KerasRunner

    kw = dict(card.get("builder_options") or {})
    if temperature is not None:
        kw["temperature"] = temperature
    return KerasRunner.from_zoo(card["model"], weights=str(run / "best.weights.h5"),
                                input_size=imgsz, **kw)


def _val_scores(runner, card: dict) -> dict:
    """Means over the run's held-out training photos (model and gray floor)."""
    folder = Path(card["data"]["val"]["folder"])
    if not folder.is_absolute():
        folder = Path.cwd() / folder
    rows, gray, truth = [], [], []
    for name in card["data"]["val"]["held_out"]:
        m, g, c = score_photo(runner, read_rgb(folder / name))
        rows.append(m)
        gray.append(g)
        truth.append(c)
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("psnr", "ciede2000",
                                                               "colorfulness")}
    return {"images": len(rows), **mean,
            "gray": {k: float(np.mean([r[k] for r in gray])) for k in ("psnr", "ciede2000")},
            "colorfulness_truth": float(np.mean(truth))}


def _recipe(card: dict) -> str:
    t = card["training"]
    extra = card["data"]["train"].get("extra_folders") or []
    text = f"{card['model']}: {t['loss']}"
    if extra:
        text += f"; + {', '.join(Path(e).name for e in extra)}"
    if "jitter" in t.get("augment", ""):
        text += "; L jitter"
    return text


def _row(name: str, card: dict, part: dict) -> str:
    t = card["training"]
    share = 100 * part["colorfulness"] / part["colorfulness_truth"]
    return (f"| {name} | {_recipe(card)} | {t.get('epochs_done', '?')} | "
            f"{t.get('wall_time_s', 0) / 60:.1f} | {part['psnr']:.2f} | "
            f"{part['psnr'] - part['gray']['psnr']:+.2f} | {part['ciede2000']:.2f} | "
            f"{part['ciede2000'] - part['gray']['ciede2000']:+.2f} | "
            f"{part['colorfulness']:.1f} | {share:.0f}% |")


HEAD = ("| run | recipe | epochs | min | PSNR dB | vs gray | dE00 | vs gray | colorfulness "
        "| of originals |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")


@click.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True))
@click.option("--data", "data_dir", default=str(DEFAULT_DATA), show_default=True,
              type=click.Path(file_okay=False))
@click.option("--imgsz", type=int, help="Working size; default: the model's own.")
@click.option("--temperature", "temperatures", multiple=True, type=float,
              help="313-bin models: also score at this annealed-mean temperature "
                   "(repeatable; the model's own 0.38 is always scored).")
@click.option("--limit", type=int, help="At most N photos per eval set (the first N).")
@click.option("--val-only", is_flag=True, help="Score the validation splits only (no eval role).")
@click.option("-o", "--out", "out_md", required=True, type=click.Path(dir_okay=False))
def main(runs, data_dir, imgsz, temperatures, limit, val_only, out_md):
    """Score each training run on its validation split and on the eval role."""
    folders = {s: Path(data_dir) / s for s in EVAL_SETS}
    results = {}
    for run in map(Path, runs):
        card = json.loads((run / "card.json").read_text())
        bins = card["spec"]["output"]["kind"] == "ab_bins"
        for t in (None, *(temperatures if bins else ())):
            name = run.name + (f" T={t:g}" if t is not None else "")
            runner = _runner(run, card, imgsz, t)
            results[name] = {"card": card, "val": _val_scores(runner, card),
                             "eval": None if val_only else evaluate(runner, folders,
                                                                    limit)["overall"]}
            click.echo(f"{name}: val {results[name]['val']['psnr']:.2f} dB", err=True)
    lines = ["## Validation split (train role, held out by each run; recipes are chosen here)",
             "", HEAD]
    lines += [_row(n, r["card"], r["val"]) for n, r in results.items()]
    if not val_only:
        lines += ["", "## Eval role (kodak24, mcmaster18, urban100; never trained on or "
                  "chosen by)" + (f": the first {limit} photos of each" if limit else ""), "",
                  HEAD]
        lines += [_row(n, r["card"], r["eval"]) for n, r in results.items()]
    out = Path(out_md)
    atomic_write_bytes(out, ("\n".join(lines) + "\n").encode())
    atomic_write_bytes(out.with_suffix(".json"), json.dumps(
        {n: {"val": r["val"], "eval": r["eval"], "recipe": _recipe(r["card"]),
             "training": r["card"]["training"]} for n, r in results.items()},
        indent=1).encode())
    click.echo("\n".join(lines))


if __name__ == "__main__":
    main()
