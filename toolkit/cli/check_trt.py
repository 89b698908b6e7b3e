"""``edgecolor check-trt``: would an ONNX model build on a given TensorRT version?"""

from __future__ import annotations

import sys

import click


@click.command("check-trt")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--trt", "trt_version", default="8.6", show_default=True,
              help="TensorRT version to check against (8.2, 8.5, 8.6, 10; 10.3 reads as 10).")
def command(model, trt_version):
    """Statically check an ONNX model against TensorRT's ONNX parser (no GPU needed).

    Reports, one line each, what would fail: operators TensorRT lacks (or custom ops needing
    a plugin), an opset outside the version's range, dynamic input/output shapes, INT64
    constants TensorRT 8.x would clamp, and Q/DQ that explicit quantization rejects
    (non-zero or non-int8 zero points, per-channel scales off the weights' output-channel
    axis). The same failure on many nodes is one line with the count. On edgecolor's
    int8-cpu artifact (ONNX Runtime's flavour) the first line names the TensorRT one
    (...-onnx-int8.onnx). Exit 0 when nothing would fail, 1 otherwise, 2 for a bad file or
    version.

    \b
    Example:
      edgecolor check-trt artifacts/baseline-onnx-int8.onnx --trt 8.6
      edgecolor check-trt model.onnx --trt 10
    """
    from edgecolor.converters.trt_check import check_onnx, cpu_flavour_hint

    try:
        problems = check_onnx(model, trt_version)
    except ValueError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    hint = cpu_flavour_hint(model) if problems else None
    if hint:
        click.echo(f"note: {hint}")
    for p in problems:
        click.echo(f"FAIL  {p}")
    if problems:
        click.echo(f"{model}: {len(problems)} problem(s) for TensorRT {trt_version}")
        sys.exit(1)
    click.echo(f"{model}: ready for TensorRT {trt_version} (static check: ops, opset, "
               "shapes, INT64, Q/DQ)")
