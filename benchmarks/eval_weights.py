"""Evaluate a model's weights on the eval-role photo sets and write the numbers into its card.

Each photo is colorized as ``edgecolor colorize`` does: the whole photo's L squashed to the
model's working size, predicted ab resized back to full resolution and recombined with the
photo's own L. Against the original color photo: MSE (RGB 0..1), PSNR (dB, 8-bit), SSIM,
colorfulness of the result (Hasler & Suesstrunk) and mean CIEDE2000. The floor to beat is
the photo's own L with ab = 0 (a gray rendering), reported beside it.

Usage (the bundled baseline card's numbers):

    python benchmarks/eval_weights.py --model baseline \\
        --card toolkit/zoo/weights/baseline.card.json

``--bundle RUN_DIR`` first copies a training run's best weights and card into
toolkit/zoo/weights (``<model>[-<variant>].weights.h5`` + ``.card.json/.md``).
Needs the development datasets (../shared/datasets); never run by the tests.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import click
import numpy as np

from edgecolor import metrics
from edgecolor.color import GrayImage
from edgecolor.imageio import ImageError, list_images, read_rgb
from edgecolor.pipeline import predict_ab
from edgecolor.train import card as cards
from edgecolor.zoo.registry import WEIGHTS_DIR

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
EVAL_SETS = ("kodak24", "mcmaster18", "urban100")
COLUMNS = ("mse", "psnr", "ssim", "colorfulness", "ciede2000")
RAW_RGB_NOTE = ("raw RGB PSNR: the model's own RGB output (its predicted L included) resized to "
                "the photo and scored directly, as the seed scored its RGB models; every other "
                "column keeps the photo's own L and uses only the ab of the prediction.")


def raw_rgb_psnr(runner, gray: GrayImage, rgb: np.ndarray) -> float | None:
    """PSNR (dB) of an RGB-output model's own RGB (its predicted L too), resized to the photo;
    None for models that predict ab. The seed scored RGB models this way."""
    import cv2

    if runner.spec.output.kind != "rgb_tanh":
        return None
    y = np.asarray(runner.infer(runner.spec.make_inputs(gray.l)))[0]
    own = np.clip((y + 1.0) * 127.5, 0, 255).astype(np.float32)
    own = cv2.resize(own, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    return metrics.psnr(np.round(own).astype(np.uint8), rgb)


def score_photo(runner, rgb: np.ndarray) -> tuple[dict, dict, float]:
    """RGB uint8 photo -> (model scores, gray-floor scores, colorfulness of the original)."""
    gray = GrayImage.from_array(rgb)
    out = gray.with_ab(predict_ab(runner, gray.l))
    floor = gray.with_ab(np.zeros(gray.l.shape + (2,), np.float32))
    model = {"mse": metrics.mse(out, rgb), "psnr": metrics.psnr(out, rgb),
             "ssim": metrics.ssim(out, rgb), "colorfulness": metrics.colorfulness(out),
             "ciede2000": metrics.ciede2000(out, rgb)}
    raw = raw_rgb_psnr(runner, gray, rgb)
    if raw is not None:
        model["psnr_raw_rgb"] = raw
    flat = {"mse": metrics.mse(floor, rgb), "psnr": metrics.psnr(floor, rgb),
            "ssim": metrics.ssim(floor, rgb), "colorfulness": metrics.colorfulness(floor),
            "ciede2000": metrics.ciede2000(floor, rgb)}
    return model, flat, metrics.colorfulness(rgb)


def _mean(rows: list[dict]) -> dict:
    keys = COLUMNS + (("psnr_raw_rgb",) if rows and "psnr_raw_rgb" in rows[0] else ())
    return {k: float(np.mean([r[k] for r in rows])) for k in keys}


def evaluate(runner, folders: dict[str, Path], limit: int | None = None,
             files: slice = slice(None)) -> dict:
    """{set name: folder} -> {"sets": {name: means + "gray" means + images}, "overall": ...}.

    ``files`` picks a slice of each set's sorted files (a held-out split), ``limit`` caps it.
    """
    result: dict = {"sets": {}}
    all_model, all_gray, all_truth = [], [], []
    for name, folder in folders.items():
        paths, errors = list_images([str(folder)])
        if errors:
            raise click.ClickException(f"{errors[0]} (point --data at the datasets folder)")
        paths = paths[files][:limit] if limit else paths[files]
        rows_m, rows_g, truth = [], [], []
        with click.progressbar(paths, label=f"{name:<11}", file=sys.stderr) as bar:
            for p in bar:
                try:
                    rgb = read_rgb(p)
                except ImageError as e:
                    click.echo(f"warning: {e}; skipped", err=True)
                    continue
                m, g, c = score_photo(runner, rgb)
                rows_m.append(m)
                rows_g.append(g)
                truth.append(c)
        result["sets"][name] = {"images": len(rows_m), **_mean(rows_m), "gray": _mean(rows_g),
                                "colorfulness_truth": float(np.mean(truth))}
        all_model += rows_m
        all_gray += rows_g
        all_truth += truth
    result["overall"] = {"images": len(all_model), **_mean(all_model), "gray": _mean(all_gray),
                         "colorfulness_truth": float(np.mean(all_truth))}
    return result


def bundle(run_dir: Path, model: str, variant: str | None) -> Path:
    """Copy ``run_dir``'s best weights and card into zoo/weights -> the card's JSON path."""
    stem = model + (f"-{variant}" if variant else "")
    text = (run_dir / "card.json").read_text()
    # the datasets live beside the project: record them as the README names them
    card = json.loads(text.replace(str(DEFAULT_DATA.resolve()), "../shared/datasets"))
    card["weights"] = f"{stem}.weights.h5"
    card["title"] = stem
    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    tmp = WEIGHTS_DIR / f".{stem}.tmp.weights.h5"
    shutil.copyfile(run_dir / "best.weights.h5", tmp)
    tmp.replace(WEIGHTS_DIR / f"{stem}.weights.h5")
    return cards.write_card(WEIGHTS_DIR, card, stem=f"{stem}.card")[0]


def print_table(result: dict) -> None:
    """One summary table: per set and overall, model vs the gray floor."""
    head = (f"{'set':<11} {'n':>4} {'MSE':>8} {'PSNR':>7} {'SSIM':>6} {'color':>6} "
            f"{'dE00':>6} | {'grayPSNR':>8} {'grayDE':>6} {'truthCF':>7}")
    click.echo(head)
    click.echo("-" * len(head))
    for name, r in {**result["sets"], "overall": result["overall"]}.items():
        g = r["gray"]
        click.echo(f"{name:<11} {r['images']:>4} {r['mse']:>8.5f} {r['psnr']:>7.2f} "
                   f"{r['ssim']:>6.4f} {r['colorfulness']:>6.1f} {r['ciede2000']:>6.2f} | "
                   f"{g['psnr']:>8.2f} {g['ciede2000']:>6.2f} {r['colorfulness_truth']:>7.1f}"
                   + (f"  raw RGB PSNR {r['psnr_raw_rgb']:.2f}" if "psnr_raw_rgb" in r else ""))


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@click.command()
@click.option("--model", default="baseline", show_default=True)
@click.option("--weights", default="default", show_default=True,
              help="default (bundled), a bundled set name (faces) or a .weights.h5 path.")
@click.option("--data", "data_dir", default=str(DEFAULT_DATA), show_default=True,
              type=click.Path(file_okay=False), help="Folder holding the eval sets.")
@click.option("--sets", default=",".join(EVAL_SETS), show_default=True,
              help="Comma-separated eval-role folders under --data.")
@click.option("--imgsz", type=int, help="Working size; default: the model's own (256).")
@click.option("--limit", type=int, help="At most N photos per set (quick checks only).")
@click.option("--files", "file_range", default=":", show_default=True,
              help="START:END slice of each set's files sorted by name (a held-out split).")
@click.option("--card", "card_path", type=click.Path(dir_okay=False),
              help="Model card JSON to write the numbers into (its .md is rewritten too).")
@click.option("--bundle", "run_dir", type=click.Path(file_okay=False, exists=True),
              help="First copy this training run's best weights + card into zoo/weights.")
@click.option("--variant", help="With --bundle: bundled set name, e.g. faces.")
@click.option("--note", "notes", multiple=True, help="Extra line for the card's eval section.")
def main(model, weights, data_dir, sets, imgsz, limit, file_range, card_path, run_dir, variant,
         notes):
    """Score weights on the eval sets (and the gray floor); optionally record them in a card.

    \b
    Example:
      python benchmarks/eval_weights.py --model baseline \\
          --card toolkit/zoo/weights/baseline.card.json
    """
    from edgecolor.runtimes.keras import KerasRunner

    if run_dir:
        card_path = _relative(bundle(Path(run_dir), model, variant))
        weights = variant or "default"
    folders = {s: Path(data_dir) / s for s in sets.split(",") if s}
    runner = KerasRunner.from_zoo(model, weights=weights, input_size=imgsz)
    h, w = runner.spec.input_size
    t0 = time.monotonic()
    try:
        start, end = (int(v) if v else None for v in file_range.split(":"))
    except ValueError as e:
        raise click.BadParameter(f"{file_range!r}: expected START:END, e.g. 200:250") from e
    result = evaluate(runner, folders, limit, slice(start, end))
    print_table(result)
    if not card_path:
        return
    argv = ["python benchmarks/eval_weights.py", "--model", model]
    argv += ["--weights", weights] if weights != "default" else []
    argv += ["--data", _relative(Path(data_dir))] if data_dir != str(DEFAULT_DATA) else []
    argv += ["--sets", sets] if sets != ",".join(EVAL_SETS) else []
    argv += ["--files", file_range] if file_range != ":" else []
    argv += ["--imgsz", str(imgsz)] if imgsz else []
    argv += ["--limit", str(limit)] if limit else []
    argv += ["--card", card_path]
    result.update(
        command=" ".join(argv),
        protocol=(f"Whole photo colorized at the model's working size {h}x{w}, ab resized to "
                  "full resolution and recombined with the photo's own L; scores against the "
                  "original color photo (MSE on RGB 0..1, PSNR on 8-bit RGB, SSIM, mean "
                  "CIEDE2000; colorfulness of the result, the originals' in colorfulness_truth)."
                  " 'gray' is the floor: the photo's own L with ab = 0."),
        notes=[
            "Colorization PSNR is modest and the gray rendering is a strong baseline: "
            "per-pixel metrics punish plausible-but-different colors more than no color. "
            "Compare the model with the gray columns, not with restoration PSNRs.",
            *notes,
        ] + ([RAW_RGB_NOTE] if "psnr_raw_rgb" in result["overall"] else []),
        limit=limit,
        files=file_range,
        seconds=round(time.monotonic() - t0, 1),
    )
    card = cards.read_card(card_path)
    card["eval"] = result
    stem = Path(card_path).name.removesuffix(".json")
    cards.write_card(Path(card_path).parent, card, stem=stem)
    click.echo(f"wrote eval numbers into {card_path} and {stem}.md")


if __name__ == "__main__":
    main()
