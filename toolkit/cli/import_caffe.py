"""``edgecolor import-caffe``: the official ECCV16 Caffe weights -> a Keras ``.keras`` file."""

from __future__ import annotations

from pathlib import Path

import click

# Max |ab difference| accepted between Keras and OpenCV DNN. Float32 sums run in a different
# order in oneDNN and OpenCV; through 23 layers of up to 512 channels the full-size network
# differs by up to ~1e-2 ab (measured 8.0e-3 max, 2.7e-4 mean with random full-width weights),
# while the reduced test fixture agrees within 1e-4. 0.05 ab is ~50x below a visible change.
TOLERANCE = 0.05


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
def command(prototxt, caffemodel, out_path, head, verify, overwrite):
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
        raise click.ClickException(f"{out}: output must end in .keras (e.g. eccv16.keras)")
    if out.exists() and not overwrite:
        raise click.ClickException(f"{out} exists (use --overwrite to replace it)")
    try:
        model, spec, report = import_caffe(prototxt, caffemodel, head="ab")
    except (CaffeImportError, PrototxtError, CaffeFormatError) as e:
        raise click.ClickException(str(e).splitlines()[0]) from e
    diff = _verify(model, spec, prototxt, caffemodel) if verify else None
    if diff is not None and diff > TOLERANCE:
        raise click.ClickException(
            f"{caffemodel}: Keras and OpenCV DNN differ by {diff:.2e} ab (> {TOLERANCE:g}); "
            "nothing written — report this with the files' sha256")
    if head != "ab":
        from edgecolor.zoo.eccv16 import switch_head

        model, spec = switch_head(model, head)
    save_keras(model, out)

    kinds = list(report.values())
    width = model.get_layer("bw_conv1_1").filters / 64
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
    from edgecolor.runtimes.opencv_dnn import OpenCVDNNRunner
    from edgecolor.samples import sample_images

    x = spec.make_inputs(GrayImage.from_array(read_image(sample_images("eval")[0])).l)
    ours = KerasRunner.from_model(model, spec).infer(x)
    with OpenCVDNNRunner.from_caffe(prototxt, caffemodel) as ref:
        theirs = ref.infer(x)
    return float(np.max(np.abs(ours - theirs)))
