"""``edgecolor train --install``: put a run's best weights + card into the weights cache.

Heavy zoo models ship no weights in git. Their trained weights live in
:func:`edgecolor.zoo.registry.weights_cache_dir` as ``<name>.weights.h5`` with the model card
beside them (``<name>.card.json`` / ``<name>.card.md``); ``create_model(name)`` then loads
them like bundled weights. Every file is written atomically.
"""

from __future__ import annotations

from pathlib import Path

from edgecolor.imageio import atomic_write_bytes
from edgecolor.train import card as cards


class InstallError(ValueError):
    """Weights that cannot be installed; the one-line message says why."""


def check_installable(model: str, model_kw: dict | None = None) -> None:
    """Raise :class:`InstallError` when a ``model`` run with builder options ``model_kw``
    cannot fill the cache: the model ships bundled weights, or the width is not the paper's."""
    from edgecolor.zoo.registry import bundled_default

    bundled = bundled_default(model)
    if bundled is not None:
        raise InstallError(f"--install: {model} ships bundled weights ({bundled.name}) that the "
                           "cache must not shadow; use the run's best.weights.h5 with --weights")
    width = (model_kw or {}).get("width", 1.0)
    if width != 1.0:
        raise InstallError(f"--install: default weights are the paper width's (width=1); this "
                           f"run uses width={width:g}, use its best.weights.h5 with --weights")


def install(run_dir: str | Path) -> tuple[Path, Path, Path]:
    """Copy ``run_dir``'s best weights + card into the cache -> (weights, card.json, card.md).

    Checks first that the weights load into ``create_model(model, weights=None)`` (the paper
    configuration), so an installed file never breaks ``create_model(model)``.
    """
    from edgecolor.manifest import sha256_file
    from edgecolor.train.fit import BEST
    from edgecolor.zoo.registry import cached_weights, create_model, load_model_weights

    run = Path(run_dir)
    card = cards.read_card(run / "card.json")
    model = card["model"]
    check_installable(model, card.get("builder_options"))
    best = run / BEST
    if not best.is_file():
        raise InstallError(f"--install: {best} not found (no epoch finished)")
    crop = (card.get("training") or {}).get("crop") or None
    net, _ = create_model(model, input_size=crop, weights=None)
    try:
        load_model_weights(model, net, best)
    except ValueError as e:
        raise InstallError(f"--install: {best} does not fit the default {model} "
                           f"({str(e).splitlines()[0]})") from e
    del net
    dest = cached_weights(model)
    atomic_write_bytes(dest, best.read_bytes())
    card = dict(card, weights=dest.name,
                installed={"from": str(run.resolve()), "sha256": sha256_file(dest)})
    js, md = cards.write_card(dest.parent, card, stem=f"{model}.card")
    return dest, js, md


def install_model(net, card: dict) -> tuple[Path, Path, Path]:
    """Write a built Keras model's weights + ``card`` into the cache as the default weights of
    ``card["model"]`` -> (weights, card.json, card.md). For weights that come from elsewhere
    than a training run (e.g. ``edgecolor import-caffe --install``); width must be 1."""
    import os

    from edgecolor.manifest import sha256_file
    from edgecolor.zoo.registry import cached_weights

    model = card["model"]
    check_installable(model, card.get("builder_options"))
    dest = cached_weights(model)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{model}.tmp.weights.h5")  # Keras insists on the .weights.h5 suffix
    net.save_weights(tmp)
    os.replace(tmp, dest)
    card = dict(card, weights=dest.name, installed={"sha256": sha256_file(dest)})
    js, md = cards.write_card(dest.parent, card, stem=f"{model}.card")
    return dest, js, md

