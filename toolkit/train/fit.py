"""The training loop: Keras fit with Adam, per-epoch validation, checkpoints, resume, card.

An output folder holds one run:

- ``best.weights.h5``: the epoch with the best validation PSNR (the weights to use),
- ``last.weights.h5`` + ``last.optimizer.npz`` + ``state.json``: where ``--resume`` continues,
- ``card.json`` + ``card.md``: the model card, rewritten after every epoch.

Every file is written atomically, so an interrupted run leaves the previous epoch intact.
"""

from __future__ import annotations

import io
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import click
import numpy as np

from edgecolor import metrics
from edgecolor.color import combine, rgb_to_lab
from edgecolor.imageio import atomic_write_bytes
from edgecolor.train import bn, data, gan, losses
from edgecolor.train import card as cards

STATE = "state.json"
BEST = "best.weights.h5"
# what picks the best epoch: validation PSNR (regression recipes), or the colorfulness of the
# validation colorizations (rebalanced-classification recipes, whose PSNR falls as their
# colors grow: PSNR would pick their least colorful epoch)
SELECT_BY = {"psnr": "validation PSNR (8-bit RGB, own L + predicted ab)",
             "colorfulness": "colorfulness of the validation colorizations (Hasler-Suesstrunk, "
                             "8-bit RGB, own L + predicted ab)"}
LAST = "last.weights.h5"
LAST_OPT = "last.optimizer.npz"
BN_BATCHES = 25  # training batches averaged into the BatchNorm statistics before validation
LAST_DISC, LAST_DISC_OPT = "last.disc.weights.h5", "last.disc_optimizer.npz"  # with --gan


class TrainError(ValueError):
    """A training run that cannot start; the one-line message says what to change."""


@dataclass
class TrainConfig:
    """Everything a training run needs (the ``edgecolor train`` options)."""

    model: str
    images: str
    out: str
    epochs: int
    val: str | None = None  # folder of validation photos; None = hold out val_split of images
    val_split: float = 0.05
    imgsz: int | None = None  # square crop side in px; None = the model's working size
    batch: int = 16
    resume: bool = False
    limit: int | None = None  # use at most this many training photos
    weights_init: str | None = None
    lr: float = 1e-3
    seed: int = 0
    max_minutes: float | None = None  # stop after the epoch that would overrun this budget
    loss: str | None = None  # "l1" | "l2"; None: the model's (pix2pix: l1), else its kind's
    gan: bool = False  # + pix2pix's PatchGAN adversarial loss (edgecolor.train.gan)
    cache_side: int | None = None  # shorter side of cached photos; None = 2 * crop
    extra_images: tuple[str, ...] = ()  # more training-only folders (e.g. faces); never val
    l_jitter: float = 0.0  # input L contrast/brightness jitter (0 = off; 0.1 = +-10%)
    select_by: str = "psnr"  # which validation figure picks best.weights.h5 (SELECT_BY)
    model_kw: dict = field(default_factory=dict)  # builder keywords, e.g. {"width": 0.25}
    command: str = ""  # the command line, recorded in the card


def _save_weights(model, plain, path: Path) -> None:
    """Save ``model``'s weights only (through the uncompiled twin ``plain``: a compiled
    Keras model would add its optimizer state, tripling the file)."""
    tmp = path.with_name(f".{path.name.removesuffix('.weights.h5')}.tmp.weights.h5")
    plain.set_weights(model.get_weights())
    plain.save_weights(tmp)
    os.replace(tmp, path)


def _save_optimizer(optimizer, path: Path) -> None:
    store: dict = {}
    optimizer.save_own_variables(store)
    buf = io.BytesIO()
    np.savez(buf, **store)
    atomic_write_bytes(path, buf.getvalue())


def _load_optimizer(optimizer, model, path: Path) -> None:
    optimizer.build(model.trainable_variables)
    fix = ("resume with the run's own --option values (koalarization runs from before "
           "fusion=split: --option fusion=concat)")
    with np.load(path) as f:
        state = {k: f[k] for k in f.files}
    if len(state) != len(optimizer.variables):  # Keras would skip it with only a warning
        raise TrainError(f"{path}: optimizer state does not fit this model ({len(state)} "
                         f"saved variables, {len(optimizer.variables)} here); {fix}")
    try:
        optimizer.load_own_variables(state)
    except ValueError as e:  # same count, other shapes
        raise TrainError(f"{path}: optimizer state does not fit this model "
                         f"({str(e).splitlines()[0]}); {fix}") from e


class Validator:
    """Validation photos -> mean MSE (RGB 0..1), PSNR (dB, 8-bit) and colorfulness
    (Hasler-Suesstrunk, 8-bit scale) of a model's colorization.

    Each photo is colorized as at inference: its full L squashed to the model's input size,
    predicted ab resized back and recombined with the photo's own L.
    """

    def __init__(self, photos: data.PhotoSet, spec, size: tuple[int, int], batch: int) -> None:
        self.photos = photos
        self.spec = spec.with_size(size)
        self.batch = batch
        self.ls = [rgb_to_lab(img.astype(np.float32) / 255.0)[..., 0] for img in photos.images]
        per_photo = [self.spec.make_inputs(l) for l in self.ls]
        self.inputs = [np.concatenate([p[k] for p in per_photo]) for k in
                       range(len(self.spec.inputs))] if per_photo else []

    def __len__(self) -> int:
        return len(self.photos)

    def __call__(self, model) -> tuple[float, float, float]:
        """-> (mean MSE, mean PSNR, mean colorfulness) over the photos; nans when there are
        none."""
        if not len(self):
            return math.nan, math.nan, math.nan
        mses, psnrs, colors = [], [], []
        for start in range(0, len(self), self.batch):
            xs = [x[start:start + self.batch] for x in self.inputs]
            ys = np.asarray(model(xs if len(xs) > 1 else xs[0], training=False))
            for i, y in enumerate(ys):
                k = start + i
                rgb = np.round(combine(self.ls[k], self.spec.decode(y)) * 255.0).astype(np.uint8)
                mses.append(metrics.mse(rgb, self.photos.images[k]))
                psnrs.append(metrics.psnr(rgb, self.photos.images[k]))
                colors.append(metrics.colorfulness(rgb))
        return float(np.mean(mses)), float(np.mean(psnrs)), float(np.mean(colors))


def _output_hw(model) -> tuple[int, int]:
    shape = model.output_shape
    if isinstance(shape, list):
        shape = shape[0]
    return int(shape[1]), int(shape[2])


def _read_state(out: Path) -> dict | None:
    p = out / STATE
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise TrainError(f"{p}: unreadable training state ({e}); start a new --out") from e


def _load_data(cfg: TrainConfig, crop: int, echo_err: Callable[[str], None]):
    """-> (train PhotoSet, val PhotoSet, val split description)."""
    cache_side = cfg.cache_side or 2 * crop
    try:
        paths = data.list_photos(cfg.images, cfg.limit)
        if cfg.val:
            train_paths, val_paths = paths, data.list_photos(cfg.val)
            split = "separate folder"
        else:
            train_paths, val_paths = data.split_holdout(paths, cfg.val_split)
            split = (f"{len(val_paths)} of {len(paths)} photos of the train folder held out "
                     f"(file-name hash, {cfg.val_split:.0%}); never trained on")
    except ValueError as e:
        raise TrainError(str(e)) from e

    with click.progressbar(length=len(train_paths) + len(val_paths), label="reading photos",
                           file=sys.stderr) as bar:

        def tick(items):
            for item in items:
                yield item
                bar.update(1)

        train = data.load_photos(cfg.images, train_paths, cache_side, echo_err, tick)
        val = data.load_photos(cfg.val or cfg.images, val_paths, cache_side, echo_err, tick)
    for folder in cfg.extra_images:  # training only: the validation photos stay one folder's
        try:
            extra = data.load_photos(folder, data.list_photos(folder), cache_side, echo_err)
        except ValueError as e:
            raise TrainError(str(e)) from e
        train.paths.extend(extra.paths)
        train.images.extend(extra.images)
        train.skipped.extend(extra.skipped)
    if not len(train):
        raise TrainError(f"{cfg.images}: no readable training photo (see the warnings above)")
    return train, val, split


def train(cfg: TrainConfig, echo: Callable[[str], None] = click.echo,
          echo_err: Callable[[str], None] | None = None) -> dict:
    """Run (or resume) a training run described by ``cfg`` -> the final model card dict.

    Raises :class:`TrainError` with a one-line reason for bad folders, a missing or
    mismatched checkpoint to resume, or an output folder that already holds another run.
    """
    from edgecolor._tf import import_tf
    from edgecolor.zoo import create_model, create_spec, get_model_info, list_models
    from edgecolor.zoo.registry import load_model_weights

    echo_err = echo_err or (lambda s: click.echo(s, err=True))
    out = Path(cfg.out)
    state = _read_state(out)
    if state and not cfg.resume:
        raise TrainError(f"{out}: already holds a training run (add --resume to continue it, "
                         "or choose another --out)")
    if cfg.resume and not (state and (out / LAST).is_file() and (out / LAST_OPT).is_file()):
        raise TrainError(f"{out}: no checkpoint to resume (train without --resume first)")
    if cfg.epochs < 1 or cfg.batch < 1:
        raise TrainError("--epochs and --batch must be at least 1")
    info = get_model_info(cfg.model) if cfg.model in list_models() else None
    if info and info.train_options:  # e.g. eccv16 trains its 313-bin head; explicit wins
        cfg = replace(cfg, model_kw={**info.train_options, **cfg.model_kw})
    try:
        use_spec = create_spec(cfg.model, **cfg.model_kw)
        norm = cfg.loss or (info.train_loss if info else None)
        rule = losses.loss_rule(use_spec, norm)
        if cfg.gan:
            gan.check_generator(use_spec)
    except ValueError as e:
        raise TrainError(str(e)) from e
    use_size = use_spec.input_size
    crop = cfg.imgsz or use_size[0]
    if cfg.select_by not in SELECT_BY:
        raise TrainError(f"--select-by {cfg.select_by}: choose one of {', '.join(SELECT_BY)}")
    saved_rule = (state or {}).get("config", {}).get("select_by", "psnr")
    if state and saved_rule != cfg.select_by:
        raise TrainError(f"{out}: its best epoch was picked by {saved_rule}; resume with "
                         f"--select-by {saved_rule}")
    if state and (state["model"] != cfg.model or state["crop"] != crop):
        raise TrainError(f"{out}: holds a {state['model']} run on {state['crop']} px crops; "
                         f"resume with --model {state['model']} --imgsz {state['crop']}")

    train_set, val_set, split = _load_data(cfg, crop, echo_err)
    out.mkdir(parents=True, exist_ok=True)
    tf, keras = import_tf()
    keras.utils.set_random_seed(cfg.seed)
    model, spec = create_model(cfg.model, input_size=crop, weights=None, **cfg.model_kw)
    plain, _ = create_model(cfg.model, input_size=crop, weights=None, **cfg.model_kw)
    if cfg.weights_init and not cfg.resume:
        load_model_weights(cfg.model, model, cfg.weights_init)
    optimizer = keras.optimizers.Adam(cfg.lr)
    fitted = model
    if cfg.gan:
        disc = gan.patchgan(keras, tuple(model.inputs[0].shape[1:]), tuple(model.output.shape[1:]),
                            width=float(cfg.model_kw.get("width", 1.0)))
        d_optimizer = keras.optimizers.Adam(gan.D_LR, beta_1=gan.D_BETA1)
        fitted = gan.adversarial_trainer(keras, model, disc)
        fitted.compile(g_optimizer=optimizer, d_optimizer=d_optimizer)
    else:
        model.compile(optimizer=optimizer, loss=losses.keras_loss(spec, cfg.images, norm))
    start = 0
    if state:
        load_model_weights(cfg.model, plain, out / LAST)  # uncompiled twin: no warning
        model.set_weights(plain.get_weights())
        _load_optimizer(optimizer, model, out / LAST_OPT)
        if cfg.gan:
            if not (out / LAST_DISC).is_file():
                raise TrainError(f"{out}: this run was trained without --gan; resume it "
                                 "without --gan")
            disc.load_weights(out / LAST_DISC)
            _load_optimizer(d_optimizer, disc, out / LAST_DISC_OPT)
        start = int(state["epoch"])
        if start >= cfg.epochs:
            echo(f"{out}: already trained {start} epochs; raise --epochs to continue")
            return cards.read_card(out / "card.json")
    validate = Validator(val_set, spec, (crop, crop), cfg.batch)
    steps = data.steps_per_epoch(train_set, cfg.batch)
    bn_stream = data.batches(train_set, spec, crop, cfg.batch, losses.target_fn(spec, norm),
                             _output_hw(model), seed=cfg.seed + 7 + 1000 * start)
    ds = data.dataset(train_set, spec, crop, cfg.batch, losses.target_fn(spec, norm),
                      _output_hw(model), seed=cfg.seed + 1000 * start, l_jitter=cfg.l_jitter)

    loss_text = rule.describe + (f" {gan.DESCRIBE}" if cfg.gan else "")
    card = {
        "model": cfg.model,
        "weights": BEST,
        "params": int(model.count_params()),
        "input_size": list(use_size),
        "spec": create_spec(cfg.model, **cfg.model_kw).to_dict(),
        "builder_options": cfg.model_kw,
        "data": {
            "train": {"folder": str(cfg.images), "images": len(train_set),
                      "skipped": train_set.skipped, "split": "all photos not held out",
                      "extra_folders": list(cfg.extra_images)},
            "val": {"folder": str(cfg.val or cfg.images), "images": len(val_set),
                    "skipped": val_set.skipped, "split": split,
                    "held_out": [p.name for p in val_set.paths] if not cfg.val else []},
        },
        "training": {
            "crop": crop, "batch": cfg.batch, "epochs_requested": cfg.epochs,
            "steps_per_epoch": steps, "optimizer": f"Adam, lr {cfg.lr:g}", "loss": loss_text,
            "augment": "random square window (side crop..2x crop of the photo cached at shorter "
                       f"side {cfg.cache_side or 2 * crop} px) resized to crop, left-right flip"
                       + (f", input L contrast and brightness jitter +-{cfg.l_jitter:.0%} "
                          "(target ab unchanged)" if cfg.l_jitter else ""),
            "seed": cfg.seed, "weights_init": cfg.weights_init, "max_minutes": cfg.max_minutes,
            "batchnorm": f"statistics re-estimated over {BN_BATCHES} training batches before "
                         "every validation (precise BN, edgecolor.train.bn)",
        },
        "selected_by": SELECT_BY[cfg.select_by] if len(val_set)
        else "training loss (no validation photos)",
        "notes": [],
        "command": cfg.command,
        "machine": cards.machine_info(),
    }
    if crop != use_size[0]:
        card["notes"].append(
            f"Trained on {crop}x{crop} crops; the model is fully convolutional and is used at "
            f"its working size {use_size[0]}x{use_size[1]} (validation ran at {crop}x{crop}).")
    history = list(state["history"]) if state else []
    best = {"epoch": state["best_epoch"], "score": state["best_score"]} if state else \
        {"epoch": None, "score": -math.inf}
    wall_before = float(state["wall_time_s"]) if state else 0.0
    t0 = time.monotonic()

    class EpochEnd(keras.callbacks.Callback):
        """Progress bar per epoch; after it: validate, checkpoint, card, one summary line."""

        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.monotonic()
            self.bar = click.progressbar(length=steps, label=f"epoch {epoch + 1}/{cfg.epochs}",
                                         file=sys.stderr, show_pos=True)
            self.bar.__enter__()

        def on_train_batch_end(self, batch, logs=None):
            self.bar.update(1)

        def on_epoch_end(self, epoch, logs=None):
            self.bar.__exit__(None, None, None)
            loss = float(logs["loss"])
            # the moving averages lag far behind a short run's weights: re-estimate them
            bn.reestimate_batchnorm(model, bn_stream, BN_BATCHES)
            val_mse, val_psnr, val_color = validate(model)
            score = ({"psnr": val_psnr, "colorfulness": val_color}[cfg.select_by]
                     if len(validate) else -loss)
            seconds = time.monotonic() - self.t
            # with --gan: the epoch's mean adversarial terms, beside the L1 in "loss"
            adversarial = {k: float(logs[k]) for k in ("adv", "d_loss") if k in logs}
            history.append({"epoch": epoch + 1, "loss": loss, **adversarial, "val_mse": val_mse,
                            "val_psnr": val_psnr, "val_colorfulness": val_color,
                            "seconds": round(seconds, 1)})
            improved = score > best["score"]
            if improved:
                best.update(epoch=epoch + 1, score=score)
                _save_weights(model, plain, out / BEST)
            _save_weights(model, plain, out / LAST)
            _save_optimizer(optimizer, out / LAST_OPT)
            if cfg.gan:
                tmp = out / ".last.disc.tmp.weights.h5"
                disc.save_weights(tmp)
                os.replace(tmp, out / LAST_DISC)
                _save_optimizer(d_optimizer, out / LAST_DISC_OPT)
            wall = wall_before + time.monotonic() - t0
            stop = bool(cfg.max_minutes) and wall + seconds > cfg.max_minutes * 60
            done = stop or epoch + 1 >= cfg.epochs
            st = {"model": cfg.model, "crop": crop, "epoch": epoch + 1, "history": history,
                  "best_epoch": best["epoch"], "best_score": best["score"],
                  "wall_time_s": wall, "config": asdict(cfg)}
            atomic_write_bytes(out / STATE, json.dumps(st, indent=1).encode())
            card["history"] = history
            card["best_epoch"] = best["epoch"]
            card["training"].update(epochs_done=epoch + 1, wall_time_s=round(wall, 1))
            card["status"] = "done" if done else "training"
            if stop:
                card["notes"].append(f"Stopped after epoch {epoch + 1} by --max-minutes "
                                     f"{cfg.max_minutes:g}.")
            cards.write_card(out, card)
            val = (f"  val MSE {val_mse:.5f}  PSNR {val_psnr:.2f} dB  colorfulness "
                   f"{val_color:.1f}" if len(validate) else "")
            echo(f"epoch {epoch + 1}/{cfg.epochs}  loss {loss:.5f}{val}  {seconds:.0f} s"
                 + ("  *best" if improved else ""))
            if stop:
                self.model.stop_training = True

    fitted.fit(ds, steps_per_epoch=steps, epochs=cfg.epochs, initial_epoch=start,
              callbacks=[EpochEnd()], verbose=0, shuffle=False)
    return card
