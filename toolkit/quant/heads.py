"""The ECCV16 head choice: where the 313-bin softmax and its annealed-mean decode run.

Three ways to ship Zhang et al.'s network in int8, all from the same weights:

* ``int8 in graph``: head "ab", everything int8 (the 313-way softmax outputs step by 1/256);
* ``host decode``: head "bins", the artifact ends at the softmax and the host takes the
  annealed mean in float (``edgecolor.bins.annealed_mean``);
* ``head in float``: head "ab" with the head layers (``HEAD_LAYERS``) kept in float.

Each is a real artifact from the format's converter, scored on the validation split against
ground truth (ΔPSNR vs the FP32 "ab" model) and timed with its decode. The pick is the first
within budget in that order (most int8 first); when none is, the lowest ΔPSNR, flagged.
"""

from __future__ import annotations

import statistics
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from edgecolor.bench.stats import time_calls
from edgecolor.quant.validation import Score, ValidationSet, Validator, keras_infer

HEAD_LAYERS = ("conv8_313_rh", "class8_313_rh", "class8_ab")
OPTIONS = ("int8 in graph", "host decode", "head in float")


@dataclass
class HeadOption:
    """One way to run the head: its score and its latency (model + decode, ms)."""

    name: str
    head: str
    float_layers: tuple[str, ...]
    score: Score | None = None
    ms: float | None = None
    error: str | None = None

    def within(self, max_dpsnr: float) -> bool:
        """True when it scored within the budget."""
        return self.score is not None and self.score.dpsnr <= max_dpsnr + 1e-9

    def to_dict(self) -> dict:
        """JSON-ready record."""
        return {"name": self.name, "head": self.head, "float_layers": list(self.float_layers),
                "score": self.score.to_dict() if self.score else None,
                "ms": None if self.ms is None else round(self.ms, 3), "error": self.error}


def compare_heads(model, spec, calib, fmt: str = "tflite", precision: str = "int8",
                  max_dpsnr: float = 0.3, runs: int = 10,
                  threads: int | None = None) -> dict:
    """ECCV16 "ab"-head Keras model + CalibrationSet -> {options, chosen, within_budget}.

    The "bins" variant shares the weights (``edgecolor.zoo.eccv16.switch_head``). Raises
    ValueError when ``model`` is not an ECCV16 "ab"-head model.
    """
    from edgecolor.converters.common import ConvertOptions
    from edgecolor.formats import get_format
    from edgecolor.quant.budget import runner_class
    from edgecolor.zoo.eccv16 import switch_head

    if spec.extra.get("head") != "ab":
        raise ValueError("compare_heads needs the eccv16 model with head='ab'")
    form = get_format(fmt)
    validator = Validator(ValidationSet.from_calibration(calib), keras_infer(model, spec))
    bins_model, bins_spec = switch_head(model, "bins", spec.output.temperature)
    variants = {
        OPTIONS[0]: (model, spec, ()),
        OPTIONS[1]: (bins_model, bins_spec, ()),
        OPTIONS[2]: (model, spec, HEAD_LAYERS),
    }
    options = []
    with tempfile.TemporaryDirectory(prefix="edgecolor-heads-") as tmp:
        for name, (m, s, floats) in variants.items():
            opt = HeadOption(name, s.extra.get("head", "?"), floats)
            path = Path(tmp) / form.artifact_name(f"eccv16-{len(options)}", precision)
            opts = ConvertOptions(calib=calib, threads=threads,
                                  extra={"float_layers": list(floats)})
            try:
                fields = form.load_converter()(m, s, precision, path, replace(opts))
                runner = runner_class(form)(path, s, fields, threads=threads)
                with runner:
                    opt.score = validator.score(runner.infer, s.decode)
                    opt.ms = _median_ms(runner, s, validator.vset.inputs[0], runs)
            except Exception as e:  # a failing option is reported, the others go on
                text = str(e).strip().splitlines()
                opt.error = f"{type(e).__name__}: {text[0] if text else ''}"[:200]
            options.append(opt)
    chosen = next((o for o in options if o.within(max_dpsnr)), None)
    if chosen is None:
        scored = [o for o in options if o.score is not None]
        chosen = min(scored, key=lambda o: o.score.dpsnr) if scored else None
    return {"format": fmt, "precision": precision, "max_dpsnr": max_dpsnr,
            "fp32_psnr": round(validator.fp32_psnr, 3),
            "options": [o.to_dict() for o in options],
            "chosen": chosen.name if chosen else None,
            "within_budget": bool(chosen and chosen.within(max_dpsnr))}


def _median_ms(runner, spec, inputs, runs: int) -> float:
    """Median of model inference + decode to ab, ms (2 untimed runs first)."""
    return statistics.median(time_calls(lambda: spec.decode(runner.infer(inputs)), runs=runs,
                                        warmup=2))
