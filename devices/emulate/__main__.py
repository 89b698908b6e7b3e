"""``python -m edgecolor.devices.emulate``: the ARM lane's commands.

lane (everything; what .ci/arm runs), setup (the cached aarch64 world), convert and refs (host:
artifacts and their reference outputs), check (device: agreement with the host), python (run
the emulated python).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from edgecolor.devices.emulate.machines import MACHINES, get_machine
from edgecolor.devices.emulate.sysroot import LaneError, Layout, default_cache

EXIT_CANNOT_RUN = 2


def _err(line: str) -> None:
    click.echo(line, err=True)


def _fail_loudly(e: LaneError) -> None:
    """A lane that cannot run must never look green: say so in capitals, exit non-zero."""
    lines = str(e).splitlines() or ["unknown reason"]
    _err(f"ARM LANE FAILED: {lines[0]}")
    for line in lines[1:]:
        _err(f"  {line}")
    sys.exit(EXIT_CANNOT_RUN)


cache_option = click.option(
    "--cache", type=click.Path(file_okay=False), default=None,
    help="Cache folder for the sysroot, wheels and artifacts "
         "[default: $EDGECOLOR_ARM_CACHE or ~/.cache/edgecolor-arm].")
machine_option = click.option(
    "--machine", type=click.Choice(sorted(MACHINES)), default="rpi4", show_default=True,
    help="Emulated board (its CPU, /proc/cpuinfo and device-tree model).")
repo_option = click.option(
    "--repo", type=click.Path(file_okay=False, exists=True), default=None,
    help="edgecolor checkout (setup.cfg, .ci/constraints.txt, tests/arm) [default: cwd].")


def _layout(cache: str | None) -> Layout:
    return Layout(Path(cache).expanduser() if cache else default_cache())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """edgecolor's device-side path on aarch64 under qemu (see docs/arm-ci.md).

    \b
    Example:
      python -m edgecolor.devices.emulate lane
      python -m edgecolor.devices.emulate refs my_artifacts/
      python -m edgecolor.devices.emulate lane --artifacts my_artifacts/
    """


@main.command()
@cache_option
@machine_option
@repo_option
@click.option("--artifacts", type=click.Path(file_okay=False, exists=True),
              help="Folder of your own artifacts + reference .npz (from `refs`) instead of "
                   "converting the width-reduced baseline here.")
@click.option("--model", default="baseline", show_default=True, help="Zoo model to convert.")
@click.option("--width", type=float, default=0.25, show_default=True,
              help="Width multiplier of the converted model (small: emulation is slow).")
@click.option("--imgsz", type=int, default=64, show_default=True, help="Input size (px).")
@click.option("--report", type=click.Path(dir_okay=False),
              help="Also write the agreement rows as JSON here.")
@click.option("--no-install-qemu", is_flag=True,
              help="Fail instead of apt-get installing qemu-user-static when it is missing.")
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def lane(cache, machine, repo, artifacts, model, width, imgsz, report, no_install_qemu,
         pytest_args):
    """Run the ARM lane: aarch64 sysroot + wheels (cached), artifacts converted and run on
    this x86 host (cached), then tests/arm under qemu on the emulated board. Exit code: the
    emulated pytest's (2 when the lane cannot run at all). Extra arguments go to pytest.

    \b
    Example:
      python -m edgecolor.devices.emulate lane
      python -m edgecolor.devices.emulate lane --machine rpi5 -- -x -k tflite
    """
    from edgecolor.devices.emulate.lane import find_repo, run_lane

    try:
        code = run_lane(_layout(cache), get_machine(machine),
                        Path(repo) if repo else find_repo(),
                        Path(artifacts) if artifacts else None, model, width, imgsz,
                        Path(report) if report else None, not no_install_qemu,
                        tuple(pytest_args), log=_err)
    except LaneError as e:
        _fail_loudly(e)
    sys.exit(code)


@main.command()
@cache_option
@machine_option
@repo_option
@click.option("--no-install-qemu", is_flag=True, help="Fail when qemu-user-static is missing.")
def setup(cache, machine, repo, no_install_qemu):
    """Build (or reuse) the aarch64 sysroot, wheels and edgecolor install; print the path of
    the board's python wrapper.

    \b
    Example:
      python -m edgecolor.devices.emulate setup --machine rpi5
    """
    from edgecolor.devices.emulate.lane import find_repo
    from edgecolor.devices.emulate.sysroot import setup as do_setup

    try:
        wrappers = do_setup(_layout(cache), [get_machine(machine)],
                            Path(repo) if repo else find_repo(), not no_install_qemu, log=_err)
    except LaneError as e:
        _fail_loudly(e)
    click.echo(wrappers[machine])


@main.command()
@cache_option
@machine_option
@repo_option
@click.option("--model", default="baseline", show_default=True)
@click.option("--width", type=float, default=0.25, show_default=True)
@click.option("--imgsz", type=int, default=64, show_default=True)
def convert(cache, machine, repo, model, width, imgsz):
    """Host: convert the board's artifact set (seeded weights) and write the references;
    print the folder.

    \b
    Example:
      python -m edgecolor.devices.emulate convert --machine rpi4
    """
    from edgecolor.devices.emulate.lane import find_repo, host_artifacts

    try:
        folder = host_artifacts(_layout(cache), Path(repo) if repo else find_repo(), machine,
                                model, width, imgsz, log=_err)
    except LaneError as e:
        _fail_loudly(e)
    click.echo(folder)


@main.command()
@click.argument("artifact_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--images", multiple=True, type=click.Path(exists=True),
              help="Photos (all one size) to compute the references on [default: two bundled "
                   "eval samples].")
@click.option("--tflite-runtime/--no-tflite-runtime", "with_tflite_runtime", default=True,
              show_default=True,
              help="Also record tflite-runtime 2.14's x86 outputs of .tflite artifacts (pip "
                   "installs it into the cache; the board's tflite-runtime runs need them).")
@cache_option
def refs(artifact_dir, images, with_tflite_runtime, cache):
    """Host: run every artifact in ARTIFACT_DIR here and save <artifact>.ref.npz beside it
    (x86 output + the Keras FP32 output when the manifest's weights can be rebuilt).

    \b
    Example:
      edgecolor convert --model baseline --target rpi4 -o artifacts/
      python -m edgecolor.devices.emulate refs artifacts/
    """
    from edgecolor.devices.emulate.reference import write_references
    from edgecolor.imageio import list_images
    from edgecolor.samples import sample_images

    paths, errors = list_images(list(images)) if images else (sample_images("eval")[:2], [])
    for e in errors:
        _err(f"error: {e}")
    if errors or not paths:
        sys.exit(EXIT_CANNOT_RUN)
    site = None
    if with_tflite_runtime:
        from edgecolor.devices.emulate.sysroot import install_host_tflite_runtime

        site = install_host_tflite_runtime(_layout(cache), log=_err)
    try:
        written = write_references(Path(artifact_dir), paths, warn=lambda m: _err(f"warning: {m}"),
                                   tflite_runtime_site=site)
    except ValueError as e:
        _err(f"error: {e}")
        sys.exit(EXIT_CANNOT_RUN)
    click.echo(f"{len(written)} reference(s) written in {artifact_dir}")
    if not written:
        sys.exit(1)


@main.command()
@click.argument("artifact_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--format", "formats", multiple=True, help="Only artifacts of these formats.")
@click.option("--threads", type=int, default=1, show_default=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False),
              help="Write the rows as JSON here (atomically).")
def check(artifact_dir, formats, threads, json_path):
    """Device: run every artifact that has a reference here and compare with the host's
    outputs; print the table. Exit 1 when one disagrees. Runs on a real board too.

    \b
    Example:
      python -m edgecolor.devices.emulate check artifacts/ --format tflite
    """
    from edgecolor.devices.emulate.agreement import Agreement, check_artifact, ref_path
    from edgecolor.imageio import atomic_write_bytes
    from edgecolor.manifest import find_artifacts, load_manifest

    rows = []
    for artifact in find_artifacts(artifact_dir):
        if not ref_path(artifact).is_file():
            continue
        fmt = load_manifest(artifact, verify=False).get("format", "")
        if formats and fmt not in formats:
            continue
        try:
            rows.append(check_artifact(artifact, threads=threads))
        except Exception as e:  # one failing artifact must not stop the others
            row = Agreement(artifact.name, fmt, "")
            row.problems.append(f"{type(e).__name__}: {str(e).strip().splitlines()[0]}")
            rows.append(row)
    from edgecolor.devices.emulate.agreement import summary_table

    click.echo(summary_table(rows))
    if json_path:
        atomic_write_bytes(json_path, (json.dumps([r.to_dict() for r in rows], indent=2)
                                       + "\n").encode())
    if not rows:
        _err(f"error: {artifact_dir}: no artifact with a reference .npz")
        sys.exit(EXIT_CANNOT_RUN)
    sys.exit(0 if all(r.ok for r in rows) else 1)


@main.command(context_settings={"ignore_unknown_options": True})
@cache_option
@machine_option
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def python(cache, machine, args):
    """Run the emulated board's python with ARGS (after `setup`).

    \b
    Example:
      python -m edgecolor.devices.emulate python -- -m edgecolor devices
    """
    wrapper = _layout(cache).wrapper(get_machine(machine))
    if not wrapper.is_file():
        _fail_loudly(LaneError(f"{wrapper}: missing; run `python -m edgecolor.devices.emulate "
                               f"setup --machine {machine}` first"))
    os.execv(str(wrapper), [str(wrapper), *args])


if __name__ == "__main__":
    main()
