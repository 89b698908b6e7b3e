"""``edgecolor benchmark``: convert a zoo model for a device profile, then bench every artifact."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from edgecolor.cli.bench import (
    EXIT_REFUSED,
    bench_and_report,
    check_gates,
    make_settings,
    timing_options,
)
from edgecolor.cli.options import budget_flag, check_model_options, conversion_options


def _split(values: tuple[str, ...]) -> list[str] | None:
    """Repeatable and/or comma-separated option values -> list (None when not given)."""
    items = [v.strip() for value in values for v in value.split(",") if v.strip()]
    return items or None


@click.command("benchmark")
@click.option("--model", default="baseline", show_default=True,
              help="Zoo model name, or your own model (.onnx/.keras/.h5 or SavedModel folder).")
@click.option("--io", "io", metavar="PRESET|FILE.toml",
              help="Contract of your own --model (see `edgecolor convert --help`).")
@click.option("--target", default="auto", show_default=True,
              help="Device profile (see `edgecolor devices`) whose artifacts to make; auto: "
                   "detect this host.")
@click.option("--format", "formats", multiple=True,
              help="Only these formats (repeatable or comma-separated).")
@click.option("--precision", "precisions", multiple=True,
              help="Only these precisions (repeatable or comma-separated).")
@click.option("--calib", type=click.Path(file_okay=False, exists=True),
              help="Calibration photos from the deployment domain (>= 100); default: the "
                   "bundled samples (a smoke test, with a warning).")
@conversion_options
@click.option("--weights", type=click.Path(dir_okay=False, exists=True),
              help="Weights file; default: the model's bundled weights (else random init).")
@click.option("--imgsz", type=click.IntRange(8), help="Square input size; default: the "
              "profile's, else the model's.")
@click.option("--width", type=click.FloatRange(min=0.01), help="Channel width multiplier of "
              "the model (smaller, faster models).")
@click.option("-o", "--out", "out_dir", default="benchmark", show_default=True,
              type=click.Path(file_okay=False),
              help="Folder for the artifacts, report.json and report.md.")
@timing_options
def command(model, io, target, formats, precisions, calib, calib_size, calib_method, weights,
            imgsz, width, out_dir, images, runs, warmup, seconds, max_seconds, threads, profile,
            runner, device, reference, compare, fail_if, metrics, allow_overlap, timeout_s,
            verbose, max_dpsnr=None, min_psnr_fp32=None, max_de=None, min_speedup=None,
            confident=False, search_minutes=None, no_budget=False,
            qat=None, qat_images=None, model_kw=None):
    """Convert MODEL to every artifact of the device profile, then bench them all.

    The same as `edgecolor convert` followed by `edgecolor bench` on its output: each
    artifact is converted (a failing format does not stop the others), then measured in its
    own process (speed in ms, memory, quality on --images and loss vs FP32). Writes the
    artifacts, report.json and report.md into OUT and prints the table. Exit codes: 1 an
    artifact failed, 2 nothing to do, 3 a --fail-if rule fired.

    \b
    Example:
      edgecolor benchmark
      edgecolor benchmark --model baseline --target auto --calib bsd100/ \\
          --images kodak24/ -o bench/
      edgecolor benchmark --target rpi4 --format tflite --fail-if 'dpsnr>0.3'
    """
    from edgecolor.converters.run import ConvertRequest, ConvertRequestError, convert

    check_model_options(model, model_kw or {})
    problem = check_gates(compare, fail_if)
    if problem:
        click.echo(f"error: {problem}", err=True)
        sys.exit(EXIT_REFUSED)
    if profile == "auto":
        profile = target  # time with the threads of the profile converted for
    settings = make_settings(images, runs, warmup, seconds, max_seconds, threads, profile,
                             runner, device, reference, metrics, allow_overlap, timeout_s,
                             verbose)
    out = Path(out_dir)
    t0 = time.monotonic()

    def started(i: int, n: int, name: str) -> None:
        click.echo(f"[{i}/{n}] converting {name} ...", err=True)

    def finished(i: int, n: int, res) -> None:
        from edgecolor.progress import rate_eta

        eta = rate_eta(i, n, time.monotonic() - t0).lstrip(", ")
        if res.ok:
            click.echo(f"[{i}/{n}] {res.name}: {res.size_mb:.3f} MB in {res.seconds:.1f} s"
                       f" ({eta})", err=True)
        else:
            click.echo(f"[{i}/{n}] {res.name}: ❌ {res.error} ({eta})", err=True)

    from edgecolor.cli.convert import announce_weights

    announce_weights(model, weights, width)  # random weights: one warning line, before any work
    try:
        results = convert(ConvertRequest(
            model, target=target, formats=_split(formats), precisions=_split(precisions),
            calib=calib, calib_size=calib_size or None, calib_method=calib_method,
            out_dir=out, weights=weights or "default", imgsz=imgsz, threads=settings.threads,
            width=width, on_start=started, on_done=finished, io=io, model_kw=model_kw or {},
            max_dpsnr=max_dpsnr, min_psnr_fp32=min_psnr_fp32, max_de=max_de,
            min_speedup=min_speedup, qat=qat,
            qat_images=qat_images, search_minutes=search_minutes, confident=confident,
            budget=budget_flag(no_budget, max_dpsnr, min_psnr_fp32, max_de, min_speedup),
            log=lambda line: click.echo(line, err=True)))
    except ConvertRequestError as e:
        click.echo(f"error: {str(e).splitlines()[0]}", err=True)
        sys.exit(EXIT_REFUSED)
    made = [r.name for r in results if r.path.is_file()]
    errors = {r.name: r.error for r in results if not r.ok}
    if not made:
        click.echo(f"error: no artifact could be converted ({results[0].error})", err=True)
        sys.exit(1)
    conversion = {"conversion": [r.to_dict() for r in results]}
    code = bench_and_report(out, out, settings, compare, fail_if, only=made, extra=conversion,
                            convert_errors=errors)
    sys.exit(code or (1 if errors else 0))
