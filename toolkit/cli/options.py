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
