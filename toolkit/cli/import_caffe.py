"""``edgecolor import-caffe``: the official ECCV16 Caffe weights -> a Keras ``.keras`` file."""

from __future__ import annotations

from pathlib import Path

import click

# Max |ab difference| accepted between Keras and OpenCV DNN. Float32 sums run in a different
# order in oneDNN and OpenCV; through 23 layers of up to 512 channels the full-size network
# differs by up to ~1e-2 ab (measured 8.0e-3 max, 2.7e-4 mean with random full-width weights),
# while the reduced test fixture agrees within 1e-4. 0.05 ab is ~50x below a visible change.
TOLERANCE = 0.05


class Refused(click.ClickException):
    """A request refused before anything is written: one line, exit 2."""

    exit_code = 2


@click.command("import-caffe")
@click.argument("prototxt", type=click.Path(dir_okay=False))
@click.argument("caffemodel", type=click.Path(dir_okay=False))
@click.option("-o", "--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Output Keras model (.keras), loadable with --model eccv16 --weights.")
@click.option("--head", type=click.Choice(["ab", "bins"]), default="ab", show_default=True,
              help="ab: decode to ab in the graph; bins: output the 313-bin distribution.")
@click.option("--verify/--no-verify", default=True, show_default=True,
              help="Compare the Keras model with OpenCV DNN running the Caffe files.")
@click.option("--overwrite", is_flag=True, help="Replace the output file if it exists.")
@click.option("--install", is_flag=True,
              help="Also make these the default eccv16 weights: write them with a model card "
                   "into the weights cache ($EDGECOLOR_HOME/weights, ~/.cache/edgecolor).")
def command(prototxt, caffemodel, out_path, head, verify, overwrite, install):
    """Import Zhang et al.'s ECCV16 Caffe model (deploy prototxt + caffemodel) into Keras.

    The caffemodel is decoded without Caffe; every blob is mapped onto the zoo's eccv16 by
    layer name (the bin centers and the 2.606 scale the official file lacks are supplied).
    With --verify the result must match OpenCV DNN on a bundled photo within 0.05 ab, or
    nothing is written.

    \b
    Example:
      edgecolor import-caffe colorization_deploy_v2.prototxt \\
          colorization_release_v2.caffemodel -o eccv16.keras
      edgecolor colorize photo.jpg -o out/ --model eccv16 --weights eccv16.keras

    With --install, plain --model eccv16 (colorize, convert, bench) uses them.
    """
    from edgecolor.zoo.caffe import (
        CaffeFormatError,
        CaffeImportError,
        PrototxtError,
        import_caffe,
        save_keras,
    )

    out = Path(out_path)
    if out.suffix != ".keras":
        raise Refused(f"{out}: output must end in .keras (e.g. eccv16.keras)")
    if out.exists() and not overwrite:
        raise Refused(f"{out} exists (use --overwrite to replace it)")
    for given, what in ((prototxt, "prototxt"), (caffemodel, "caffemodel")):
        if not Path(given).is_file():
            raise Refused(f"{given}: no such file (check the .{what} path)")
    try:
        model, spec, report = import_caffe(prototxt, caffemodel, head="ab")
    except (CaffeImportError, PrototxtError, CaffeFormatError) as e:
        raise Refused(str(e).splitlines()[0]) from e
    except MemoryError as e:
        raise Refused(f"{caffemodel}: its blobs do not fit in memory; pass the .caffemodel "
                      "of this prototxt") from e
    diff = _verify(model, spec, prototxt, caffemodel) if verify else None
    if diff is not None and diff > TOLERANCE:
        raise Refused(
            f"{caffemodel}: Keras and OpenCV DNN differ by {diff:.2e} ab (> {TOLERANCE:g}); "
            "nothing written — report this with the files' sha256")
    width = model.get_layer("bw_conv1_1").filters / 64
    if install and width != 1:
        raise Refused(
            f"{caffemodel}: --install takes the full-width network only (this one is "
            f"width {width:g}); use it with --weights {out}")
    ab_model = model
    if head != "ab":
        from edgecolor.zoo.eccv16 import switch_head

        model, spec = switch_head(model, head)
    save_keras(model, out)
    installed = _install(ab_model, prototxt, caffemodel, diff) if install else None

    kinds = list(report.values())
    h, w = spec.input_size
    click.echo(f"{'model':<10} {'width':>5} {'input':>9} {'params':>12} {'convs':>5} "
               f"{'norms':>5} {'OpenCV |Δab|':>12}  output")
    check = f"{diff:.1e}" if diff is not None else "skipped"
    click.echo(f"{'eccv16':<10} {width:>5g} {h:>4}x{w:<4} {model.count_params():>12,} "
               f"{sum(k.endswith('convolution') for k in kinds):>5} "
               f"{kinds.count('batchnorm'):>5} {check:>12}  {out}")
    for name in ("conv8_313_rh", "class8_ab"):
        if "(" in report.get(name, ""):
            click.echo(f"note: {name} not in the caffemodel: {report[name]} supplied")
    if installed:
        click.echo(f"installed: {installed} (the default weights of --model eccv16 now)")
    if width == 1:
        click.echo(f"use: edgecolor colorize PHOTOS -o OUT --model eccv16 --weights {out}")
    else:
        click.echo(f"use: create_model('eccv16', width={width:g}, weights='{out}') "
                   "(a reduced-width network)")


def _verify(model, spec, prototxt, caffemodel) -> float:
    """Max |ab| difference between Keras and OpenCV DNN on the first bundled eval photo."""
    import numpy as np

    from edgecolor.color import GrayImage
    from edgecolor.imageio import read_image
    from edgecolor.runtimes.keras import KerasRunner
    from edgecolor.samples import sample_images
    from edgecolor.zoo.caffe.opencv import caffe_runner

    x = spec.make_inputs(GrayImage.from_array(read_image(sample_images("eval")[0])).l)
    ours = KerasRunner.from_model(model, spec).infer(x)
    with caffe_runner(prototxt, caffemodel) as ref:
        theirs = ref.infer(x)
    return float(np.max(np.abs(ours - theirs)))


def _install(model, prototxt, caffemodel, diff: float | None) -> Path:
    """The imported (ab head) weights -> the weights cache, with a card saying where from."""
    from edgecolor.manifest import sha256_file
    from edgecolor.train.install import InstallError, install_model

    card = {
        "model": "eccv16", "title": "eccv16 (imported Caffe weights)",
        "summary": "Weights imported from a Caffe caffemodel by `edgecolor import-caffe`; "
                   "nothing was trained here.",
        "params": int(model.count_params()), "input_size": [224, 224],
        "source": {"prototxt": str(prototxt), "caffemodel": str(caffemodel),
                   "caffemodel_sha256": sha256_file(caffemodel),
                   "opencv_dnn_max_abs_diff_ab": diff},
        "notes": ["The official release (colorization_release_v2.caffemodel) has sha256 "
                  "f5af1e602646328c792e1094f9876fe9cd4c09ac46fa886e5708a1abc89137b1; compare "
                  "it with source.caffemodel_sha256."],
    }
    try:
        return install_model(model, card)[0]
    except InstallError as e:
        raise Refused(str(e)) from e

