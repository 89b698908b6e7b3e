"""Option parsers shared by several verbs."""

from __future__ import annotations

import click


def builder_options(ctx, param, values) -> dict:
    """click callback: repeated ``--option KEY=VALUE`` -> {key: int | float | str}."""
    opts = {}
    for v in values:
        key, sep, raw = v.partition("=")
        if not sep:
            raise click.BadParameter(f"{v!r}: expected KEY=VALUE, e.g. width=0.25")
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
