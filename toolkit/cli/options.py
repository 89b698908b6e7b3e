"""Option parsers shared by several verbs."""

from __future__ import annotations

import click


def builder_options(ctx, param, values) -> dict:
    """click callback: repeated ``--option KEY=VALUE`` -> {key: bool | int | float | str}
    (true / false, any case, are booleans)."""
    opts = {}
    for v in values:
        key, sep, raw = v.partition("=")
        if not sep:
            raise click.BadParameter(f"{v!r}: expected KEY=VALUE, e.g. width=0.25")
        if raw.lower() in ("true", "false"):
            opts[key] = raw.lower() == "true"
            continue
        try:
            opts[key] = int(raw)
        except ValueError:
            try:
                opts[key] = float(raw)
            except ValueError:
                opts[key] = raw
    return opts


def check_model_options(model: str, options: dict) -> None:
    """Refuse ``--option`` keys the builder of ``model`` does not take: one line naming the
    valid keys, exit 2 (an unknown model is left to the verb's own check)."""
    import sys

    from edgecolor.zoo import check_options, get_model_info

    try:
        get_model_info(model)
    except ValueError:
        return
    try:
        check_options(model, options)
    except ValueError as e:
        click.echo(f"error: --option: {e}", err=True)
        sys.exit(2)


def conversion_options(f):
    """The conversion options ``convert`` and ``benchmark`` share, with the same rules in
    both: --calib-size (0 = all), --calib-method, the int8 fidelity bounds (dB / ΔE00),
    --confident, --no-budget, --qat MINUTES / --qat-images DIR and --option KEY=VALUE (builder
    options)."""
    from edgecolor.formats import CALIB_METHODS

    opts = [
        click.option("--calib-size", type=click.IntRange(0), default=200, show_default=True,
                     help="Calibration images to use (0 = all)."),
        click.option("--calib-method", type=click.Choice(CALIB_METHODS), default=None,
                     help="Activation range estimation of int8 rows. quantile (the default "
                     "where a row has it; every format's int8): mean per-photo quantiles "
                     "clip outlier pixels; minmax: the whole range (the default of tflite "
                     "int16x8 and of an ONNX source's tflite rows); percentile, entropy: ONNX "
                     "Runtime's histograms (onnx only; openvino reads percentile as "
                     "quantile). A format without the method asked for uses minmax and "
                     "says so."),
        click.option("--max-dpsnr", type=click.FloatRange(min=0), metavar="DB",
                     help="int8 quality budget: most PSNR (dB) an int8 artifact may lose vs "
                     "FP32 on the held-out calibration images; the most sensitive layers stay "
                     "float until it holds. Default: the target profile's max_dpsnr "
                     "(trained models)."),
        click.option("--min-psnr-fp32", type=click.FloatRange(min=0), metavar="DB",
                     help="int8 fidelity floor: least PSNR (dB) of an int8 colorization vs "
                     "the FP32 model's own, full resolution, held-out images. Default: the "
                     "target profile's min_psnr_fp32 (40) whenever a budget applies."),
        click.option("--max-de", type=click.FloatRange(min=0), metavar="DE",
                     help="int8 color budget: most mean CIEDE2000 vs the FP32 colorization "
                     "(about 2.3 is just noticeable). Default: not bounded."),
        click.option("--min-speedup", type=click.FloatRange(min=0), metavar="X",
                     help="int8 speed floor: a candidate must run at least X times as fast "
                     "as the same runtime's FP32 artifact (timed on this host) to count as "
                     "within budget. Default: not bounded (a chosen artifact slower than "
                     "FP32 is flagged)."),
        click.option("--confident", is_flag=True,
                     help="Judge the int8 fidelity budget by the 95% bootstrap interval over "
                     "the held-out photos (PSNR vs FP32 at its lower end, dPSNR and dE00 at "
                     "their upper end), not by the mean: on few photos the search keeps "
                     "looking until the bounds hold with that certainty."),
        click.option("--search-minutes", type=float, metavar="MINUTES",
                     help="Wall-clock limit of the int8 budget's search, per artifact: once "
                     "spent no new candidate starts, the fastest one within budget so far is "
                     "kept, else the row fails saying so. Default: no limit."),
        click.option("--no-budget", is_flag=True, help="Plain int8: no fidelity budget."),
        # plain float / path types: the request validates them (one line, exit 2)
        click.option("--qat", type=float, metavar="MINUTES",
                     help="Last tier of the int8 budget: fine-tune the Keras model this many "
                     "minutes with fake-quantized weights and activations towards its own "
                     "FP32 output, then convert again (default: never)."),
        click.option("--qat-images", type=click.Path(), metavar="DIR",
                     help="Training photos for --qat; default: the calibration photos, "
                     "with a warning."),
        click.option("--option", "model_kw", multiple=True, callback=builder_options,
                     metavar="KEY=VALUE", help="Builder option of the model (repeatable), "
                     "e.g. --option head=bins."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def budget_flag(no_budget: bool, *bounds: float | None) -> bool | None:
    """--no-budget / the bounds given -> ConvertRequest.budget (False, True or None: the
    profile's default)."""
    if no_budget:
        return False
    return True if any(v is not None for v in bounds) else None
