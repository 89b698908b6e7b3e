"""``edgecolor train``: train a zoo model on a folder of color photos."""

from __future__ import annotations

import shlex

import click

from edgecolor.cli.options import builder_options


def _command_line(ctx: click.Context) -> str:
    """The options given explicitly, as a reproducible ``edgecolor train`` command line."""
    from click.core import ParameterSource

    words = ["edgecolor", "train"]
    for p in ctx.command.params:
        if ctx.get_parameter_source(p.name) in (ParameterSource.DEFAULT, None):
            continue
        flag = max(p.opts, key=len)
        value = ctx.params[p.name]
        if p.is_flag:
            words += [flag] if value else []
        elif isinstance(value, dict):  # --option KEY=VALUE pairs
            words += [w for k, v in value.items() for w in (flag, f"{k}={v}")]
        elif p.multiple:
            words += [w for v in value for w in (flag, str(v))]
        else:
            words += [flag, str(value)]
    return shlex.join(words)


@click.command("train")
@click.option("--model", default="baseline", show_default=True, help="Zoo model name.")
@click.option("--images", required=True, type=click.Path(),
              help="Folder of color photos to train on (unreadable files are skipped).")
@click.option("--val", type=click.Path(),
              help="Folder of validation photos; default: hold out --val-split of --images.")
@click.option("--val-split", default=0.05, show_default=True, type=click.FloatRange(0, 0.5),
              help="Fraction of --images held out for validation when --val is not given.")
@click.option("--epochs", required=True, type=click.IntRange(min=1), help="Epochs to train.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for checkpoints and the model card.")
@click.option("--imgsz", type=click.IntRange(min=8),
              help="Square training crop in px; default: the model's input size.")
@click.option("--batch", default=16, show_default=True, type=click.IntRange(min=1))
@click.option("--lr", default=1e-3, show_default=True, type=float, help="Adam learning rate.")
@click.option("--resume", is_flag=True, help="Continue the run saved in --out.")
@click.option("--limit", type=click.IntRange(min=1), help="Use at most N photos of --images.")
@click.option("--weights-init", type=click.Path(dir_okay=False),
              help="Start from these weights (.weights.h5 or .keras) instead of random.")
@click.option("--max-minutes", type=float,
              help="Stop after the epoch that would run past this wall-time budget.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--install", is_flag=True,
              help="Then copy the best weights + card into the weights cache "
                   "($EDGECOLOR_HOME/weights, default ~/.cache/edgecolor/weights) as the "
                   "model's default weights (models that ship none, width 1 only).")
@click.option("--option", "model_kw", multiple=True, callback=builder_options,
              metavar="KEY=VALUE", help="Builder option of the model, e.g. width=0.25.")
@click.option("--loss", type=click.Choice(["l1", "l2"]),
              help="Norm of the regression loss; default: the model's (pix2pix: l1).")
@click.option("--extra-images", multiple=True, type=click.Path(file_okay=False),
              help="More folders of color photos to train on (repeatable; training only, "
                   "never validation), e.g. a faces set for skin tones.")
@click.option("--l-jitter", default=0.0, show_default=True, type=click.FloatRange(0, 0.5),
              help="Jitter the input L's contrast and brightness by up to this fraction "
                   "(target colors unchanged); 0 = off.")
@click.option("--gan", is_flag=True,
              help="pix2pix models: add the PatchGAN adversarial loss (lambda_L1 = 100).")
@click.option("--select-by", type=click.Choice(["psnr", "colorfulness"]), default="psnr",
              show_default=True,
              help="Validation figure that picks best.weights.h5: PSNR, or the colorfulness "
                   "of the validation colorizations (for rebalanced 313-bin heads, whose PSNR "
                   "falls as their colors grow).")
def command(model, images, val, val_split, epochs, out_dir, imgsz, batch, lr, resume, limit,
            weights_init, max_minutes, seed, install, model_kw, loss, extra_images, l_jitter,
            gan, select_by):
    """Train a zoo model on color photos; keep the best checkpoint and write a model card.

    Loss by the model's output kind (ab_tanh: MSE on ab/scale, rgb_tanh: L1 on RGB,
    ab_bins: soft-encoded cross-entropy, class-rebalanced by the photos' ab priors) unless
    the model names its paper's: pix2pix trains with L1, eccv16 trains its 313-bin head
    (the weights load into either head). Each epoch is validated by PSNR and colorfulness
    (8-bit RGB, the photo's own L + predicted ab; --select-by picks which decides the best
    epoch); OUT gets best.weights.h5, last.* (for --resume) and
    card.json/card.md.

    \b
    Example:
      edgecolor train --model baseline --images photos/ --epochs 20 --imgsz 128 --out run/
      edgecolor train --model baseline --images photos/ --epochs 30 --imgsz 128 --out run/ \\
          --resume
      edgecolor colorize old/ -o out/ --weights run/best.weights.h5
      edgecolor train --model pix2pix-mobilenetv2-lab --images photos/ --epochs 100 \\
          --imgsz 128 --max-minutes 60 --out run/ --install
    """
    from edgecolor.train import TrainConfig, TrainError, train
    from edgecolor.train.install import InstallError, check_installable
    from edgecolor.train.install import install as install_run

    if install:
        try:
            check_installable(model, model_kw)  # refuse before hours of training
        except (InstallError, ValueError) as e:
            raise click.ClickException(str(e).splitlines()[0]) from e

    cfg = TrainConfig(
        model=model, images=images, out=out_dir, epochs=epochs, val=val, val_split=val_split,
        imgsz=imgsz, batch=batch, resume=resume, limit=limit, weights_init=weights_init,
        lr=lr, seed=seed, max_minutes=max_minutes, model_kw=model_kw, loss=loss, gan=gan,
        extra_images=tuple(extra_images), l_jitter=l_jitter, select_by=select_by,
        command=_command_line(click.get_current_context()),
    )
    try:
        card = train(cfg)
    except (TrainError, ValueError) as e:
        raise click.ClickException(str(e).splitlines()[0]) from e
    best = card.get("best_epoch")
    click.echo(f"best epoch {best}: {out_dir}/best.weights.h5; model card {out_dir}/card.md")
    if install:
        try:
            weights, _, card_md = install_run(out_dir)
        except (InstallError, ValueError) as e:
            raise click.ClickException(str(e).splitlines()[0]) from e
        click.echo(f"installed: {weights} (model card {card_md}); create_model({model!r}) "
                   "now loads it")
