"""``edgecolor bench``: measure every artifact in a folder; report.json, report.md, a table."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from edgecolor.formats import RUNNERS

EXIT_ARTIFACT_FAILED = 1
EXIT_REFUSED = 2


def timing_options(f):
    """The options bench and benchmark share (timing, threads, quality, gates)."""
    options = [
        click.option("--images", "images", multiple=True,
                     help="Eval photos: folders, files or globs (repeatable); color originals "
                          "never used for training or calibration. Default: the bundled eval "
                          "samples."),
        click.option("--runs", type=click.IntRange(1), default=20, show_default=True,
                     help="Timed runs per timing (model-only and end-to-end)."),
        click.option("--warmup", type=click.IntRange(0), default=3, show_default=True,
                     help="Untimed runs before timing."),
        click.option("--seconds", type=click.FloatRange(min=0.1),
                     help="Time for this many seconds per timing instead of --runs."),
        click.option("--max-seconds", type=click.FloatRange(min=0.1), default=10.0,
                     show_default=True,
                     help="Cap per timing for slow artifacts: stop after this long (at least "
                          "3 runs; the report's n says how many)."),
        click.option("--threads", type=click.IntRange(1),
                     help="Inference threads; default: the device profile's, else the "
                          "runtime's own."),
        click.option("--profile", "profile", default="auto", show_default=True,
                     help="Device profile whose thread count to use (auto: detect the host)."),
        click.option("--runner", type=click.Choice(sorted(RUNNERS)),
                     help="Force one runner (default: the format's first installed one)."),
        click.option("--device", default=None,
                     help="Device for runners that have several (OpenVINO: CPU, GPU, NPU; "
                          "ONNX Runtime: CPU forces its CPU provider). Default: the runner's "
                          "own (ONNX Runtime: TensorRT/CUDA providers where installed, then "
                          "CPU; OpenVINO: CPU)."),
        click.option("--reference", type=click.Choice(["auto", "keras", "artifact", "none"]),
                     default="auto", show_default=True,
                     help="FP32 reference for dPSNR: the Keras model rebuilt from the "
                          "manifest, or the folder's fp32 artifact (auto: Keras if possible)."),
        click.option("--compare", "compare", type=click.Path(dir_okay=False, exists=True),
                     help="An older report.json: adds the speed ratio and PSNR change per row."),
        click.option("--fail-if", "fail_if", multiple=True,
                     help="Gate, e.g. 'dpsnr>0.5' or 'ait_ms>100' (repeatable): exit 3 "
                          "naming the rows and rules that fired."),
        click.option("--metrics", type=click.Choice(["full", "fast"]), default="full",
                     show_default=True,
                     help="fast: skip SSIM and CIEDE2000 (about 1 s per 500 px photo each "
                          "artifact); MSE, PSNR, colorfulness and dPSNR stay."),
        click.option("--allow-overlap", is_flag=True,
                     help="Keep eval photos that were calibration photos (marked in the "
                          "report) instead of excluding them."),
        click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=900,
                     show_default=True, help="Seconds allowed per artifact."),
        click.option("-v", "--verbose", is_flag=True,
                     help="Details one line each (e.g. every eval photo that was a "
                          "calibration photo) instead of one summary line."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def resolve_profile(threads: int | None, profile: str | None,
                    artifact_dir: Path | None = None) -> tuple[int | None, dict | None]:
    """--threads / --profile -> (threads, the profile's record or None).

    --threads wins; else the device profile's default threads. ``auto`` (or none): the target
    the artifacts' manifests name when they all name one, else the profile detected for this
    host; none fits -> the runtime's own default. An unknown name exits 2.
    """
    from edgecolor.devices import resolve_profile as resolve
    from edgecolor.manifest import shared_target

    from_manifest = None
    if profile in (None, "", "auto") and artifact_dir is not None:
        from_manifest = shared_target(artifact_dir)
        profile = from_manifest or profile

    try:
        prof = resolve(profile or "auto")
    except ValueError as e:
        if profile not in (None, "", "auto"):
            raise click.BadParameter(str(e).splitlines()[0], param_hint="--profile") from e
        return threads, None
    if from_manifest and not threads:  # the target's threads, never more than this host has
        return min(prof.default_threads(), os.cpu_count() or 1), prof.to_dict()
    return threads or prof.default_threads(), prof.to_dict()


def resolve_images(images: tuple[str, ...]) -> list[Path]:
    """--images values -> photo paths (default: the bundled eval samples); exit 2 if none."""
    from edgecolor.imageio import list_images
    from edgecolor.samples import EVAL_DIR

    paths, errors = list_images(list(images) or [str(EVAL_DIR)])
    for e in errors:
        click.echo(f"error: {e}", err=True)
    if errors or not paths:
        click.echo("error: no eval photos (pass --images DIR with color photos)", err=True)
        sys.exit(EXIT_REFUSED)
    return paths


def check_gates(compare: str | None, fail_if: tuple[str, ...]) -> str | None:
    """Validate --compare / --fail-if before any work -> an error line, or None if fine."""
    from edgecolor.bench.report import load_report, parse_rule

    try:
        for rule in fail_if:
            parse_rule(rule)
        if compare:
            load_report(compare)
    except ValueError as e:
        return str(e)
    return None


def bench_and_report(folder: Path, out: Path, settings, compare: str | None,
                     fail_if: tuple[str, ...], only: list[str] | None = None,
                     extra: dict | None = None,
                     convert_errors: dict[str, str] | None = None) -> int:
    """Measure ``folder`` (only the artifacts named in ``only``, when given), print the table,
    write the reports -> the exit code (0 ok, 1 an artifact failed, 2 refused, 3 a --fail-if
    rule fired). ``extra``: more top-level report fields (e.g. the conversion results);
    ``convert_errors``: artifact name -> why its conversion failed (a ❌ row when there is no
    file to measure, else a note on its row).
    """
    from edgecolor.bench import BenchError, bench_folder
    from edgecolor.bench.report import (
        RULE_EXIT_CODE,
        finish_report,
        load_report,
        parse_rule,
        terminal_table,
        write_report,
    )

    try:
        rules = [parse_rule(r) for r in fail_if]
        old = load_report(compare) if compare else None
    except ValueError as e:
        click.echo(f"error: {e}", err=True)
        return EXIT_REFUSED

    def err(line: str) -> None:
        click.echo(line, err=True)

    from edgecolor.bench.gallery import FILES_DIR

    settings.gallery_dir = settings.gallery_dir or str(out / FILES_DIR)  # report.html pictures
    try:
        from edgecolor.progress import with_eta

        # "[i/n] artifact: ..." lines get the rate and ETA (logs show how long is left)
        report = bench_folder(folder, settings, progress=with_eta(err), warn=err, only=only)
    except BenchError as e:
        err(f"error: {e}")
        return EXIT_REFUSED
    except OSError as e:  # a full disk / read-only -o while writing photos or outputs
        err(f"error: {e.filename or out}: cannot write ({e.strerror or type(e).__name__}); "
            "free space or pass another -o folder")
        return EXIT_ARTIFACT_FAILED
    fired = finish_report(report, folder, rules, list(fail_if), old, convert_errors, extra)
    try:
        json_path, md_path = write_report(report, out)
    except OSError as e:  # a full disk / read-only folder: one line, nothing half-written
        err(f"error: {Path(getattr(e, 'filename', None) or out)}: cannot write the report "
            f"({e.strerror or type(e).__name__}); free space or pass another -o folder")
        return EXIT_ARTIFACT_FAILED
    html_path = _write_html(report, out, err)
    click.echo(terminal_table(report))
    from edgecolor.bench.flicker import flicker_table

    if flicker_table(report):
        click.echo(flicker_table(report))
    click.echo(f"report: {json_path}  {md_path}" + (f"  {html_path}" if html_path else ""))
    failed = [r for r in report["rows"] if r["status"] != "ok"]
    if failed:
        err(f"{len(failed)} of {len(report['rows'])} artifact(s) failed (❌ rows)")
    for line in fired:
        err(f"fail-if: {line}")
    if fired:
        return RULE_EXIT_CODE
    return EXIT_ARTIFACT_FAILED if failed else 0


def _write_html(report: dict, out: Path, err) -> Path | None:
    """report.html beside report.json -> its path; a failure is one warning line (the JSON
    and markdown reports are already written)."""
    from edgecolor.bench.html import write_html

    try:
        return write_html(report, out)
    except Exception as e:  # the page is a view of report.json; it never loses the numbers
        err(f"warning: report.html not written ({type(e).__name__}: {e}); render it later "
            f"with `edgecolor report {out / 'report.json'} -o DIR`")
        return None


def make_settings(images, runs, warmup, seconds, max_seconds, threads, profile, runner, device,
                  reference, metrics, allow_overlap, timeout_s, verbose: bool = False,
                  artifact_dir: Path | None = None):
    """CLI values -> BenchSettings (the profile: --profile, else the artifacts' target)."""
    from edgecolor.bench import BenchSettings

    threads, profile_record = resolve_profile(threads, profile, artifact_dir)
    return BenchSettings(
        images=resolve_images(images), runs=runs, warmup=warmup, seconds=seconds,
        max_seconds=max_seconds, threads=threads, runner=runner, device=device,
        reference=reference, metrics=metrics, allow_overlap=allow_overlap, timeout_s=timeout_s,
        device_profile=profile_record, argv=list(sys.argv), verbose=verbose)


@click.command("bench")
@click.argument("artifact_dir", type=click.Path(file_okay=False, exists=True))
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False),
              help="Folder for report.json and report.md (default: ARTIFACT_DIR).")
@click.option("--on", "on", multiple=True, metavar="DEVICE",
              help="Run on this device instead of here (repeatable, in parallel): a name from "
                   "`edgecolor devices`, or qemu:rpi4 (the ARM lane's emulated board). One "
                   "report, a row per artifact x device.")
@click.option("--install", is_flag=True,
              help="With --on: where edgecolor is missing or older, install this version "
                   "from a wheel into a venv on the device.")
@click.option("--sustained", type=click.FloatRange(min=1),
              help="With --on: also run one artifact this many seconds per device (the "
                   "temperature / throttling curve in the report).")
@click.option("--video", type=click.Path(dir_okay=False, exists=True),
              help="A clip (e.g. one `edgecolor camera --record` wrote): also measure flicker, "
                   "the mean frame-to-frame CIEDE2000 on static regions, per artifact and for "
                   "the FP32 reference, with and without the camera's smoothing.")
@timing_options
def command(artifact_dir, out_dir, images, runs, warmup, seconds, max_seconds, threads, profile,
            runner, device, reference, compare, fail_if, metrics, allow_overlap, timeout_s,
            on, install, sustained, verbose, video):
    """Benchmark every artifact in ARTIFACT_DIR (made by `edgecolor convert`).

    Per artifact, in its own process: load time, first inference, model-only and end-to-end
    timings in ms (AIT = model-only mean; median, p90, p99, min, std, FPS), peak memory, and
    quality on the eval photos (MSE, PSNR, SSIM, colorfulness, CIEDE2000 vs the originals;
    PSNR vs the FP32 reference and dPSNR = PSNR_fp32 - PSNR_artifact). Writes report.json
    and report.md and prints the table. Exit codes: 1 an artifact failed (its row says why),
    2 nothing measured, 3 a --fail-if rule fired.

    \b
    Example:
      edgecolor bench artifacts/ --images kodak24/
      edgecolor bench artifacts/ --images kodak24/ --compare old/report.json \\
          --fail-if 'dpsnr>0.5' --fail-if 'ait_ms>100'
      edgecolor bench artifacts/ --images kodak24/ --on pi5 --on orin
    """
    folder = Path(artifact_dir)
    settings = make_settings(images, runs, warmup, seconds, max_seconds, threads, profile,
                             runner, device, reference, metrics, allow_overlap, timeout_s,
                             verbose, artifact_dir=None if on else folder)
    settings.video = video
    if on:  # on the devices (edgecolor.devices.remote): one report for all of them
        from edgecolor.devices.remote.cli import bench_on

        sys.exit(bench_on(folder, Path(out_dir) if out_dir else folder, settings, list(on),
                          compare, fail_if, threads_given=threads is not None,
                          install=install, sustained=sustained))
    if install or sustained:
        click.echo("error: --install and --sustained need --on DEVICE", err=True)
        sys.exit(EXIT_REFUSED)
    sys.exit(bench_and_report(folder, Path(out_dir) if out_dir else folder, settings, compare,
                              fail_if))
