"""``edgecolor models``: list the model zoo."""

from __future__ import annotations

import click


@click.command("models")
def command():
    """List the zoo's models with their input size and paper parameter count.

    \b
    Example:
      edgecolor models
    """
    from edgecolor.zoo import create_spec, default_weights, get_model_info, list_models
    from edgecolor.zoo.registry import bundled_default

    click.echo(f"{'model':<28} {'input':>9} {'params':>12}  weights")
    for name in list_models():
        info = get_model_info(name)
        h, w = create_spec(name).input_size
        params = f"{info.params:,}" if info.params else "-"
        wts = ("bundled" if bundled_default(name) else
               f"cached ({default_weights(name)})" if default_weights(name) else
               "none (train --install or import)")
        click.echo(f"{name:<28} {h:>4}x{w:<4} {params:>12}  {wts}")
