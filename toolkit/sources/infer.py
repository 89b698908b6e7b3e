"""Infer a model's colorization contract from its graph, check it on photos, or refuse.

Evidence, in order: the image input's channel count (1: L, 3: gray as RGB) and layout; an
affine normalization at the start of the graph (``(x - 50) / 100``: the model takes raw
L); the output's channel count (2 ab, 3 RGB, 313 bins) and what ends the graph (``Tanh``
then ``Mul 110``: ab already in Lab units; ``Sigmoid``/``Tanh`` for RGB; ``Softmax`` for
bins). Whatever the graph leaves open is tried on a few calibration photos: a candidate is
plausible when its predicted ab are finite, mostly below 128 and not saturated. One
plausible candidate is chosen and the reasons say why; none or several is a
:class:`~edgecolor.contract.ContractError` naming ``--io``. Never a silent guess.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from edgecolor.contract import OUTPUT_CHANNELS, Contract, ContractError

# affine maps (a, b) of x = a * L + b that a graph applying them to raw L 0..100 would use
RAW_L_NORMALIZATIONS = {"(x - 50) / 100": (0.01, -0.5), "x / 100": (0.01, 0.0),
                        "x - 50": (1.0, -50.0), "x / 50 - 1": (0.02, -1.0)}
L_CANDIDATES = ("raw", "l/100", "(l-50)/100", "l-50", "l/50-1")
GRAY3_CANDIDATES = ("gray01", "gray-1..1", "imagenet")
MAX_AB = 128.0  # |ab| of plausible colors (p99)
SATURATED = 0.5  # more than this fraction of pixels at |ab| >= 105: saturated, implausible
FIX = "state the contract with --io PRESET or --io FILE.toml (see `edgecolor convert --help`)"


@dataclass
class GraphFacts:
    """What the graph says about its I/O (filled by the ONNX / Keras source loaders).

    leading: (a, b) of an affine map the graph applies to its image input first, or None;
    trailing: ops ending the graph, last first, as (op, scalar or None), e.g.
    [("Mul", 110.0), ("Tanh", None)].
    """

    layout: str
    input_names: list[str]
    input_channels: list[int]
    output_name: str
    output_shape: list[int]
    leading: tuple[float, float] | None = None
    trailing: list[tuple[str, float | None]] = field(default_factory=list)

    @property
    def output_channels(self) -> int:
        """Channels of the output in the graph's layout."""
        return self.output_shape[1 if self.layout == "NCHW" else -1]


def check_stated(stated: Contract, facts: GraphFacts) -> Contract:
    """A stated contract vs the graph: ContractError naming the contradiction, else the
    contract (with the graph's layout when the statement leaves it at the default)."""
    if stated.layout != facts.layout:
        raise ContractError(f"--io says layout {stated.layout} but input "
                            f"{facts.input_names[0]!r} is {facts.layout}; fix the --io layout")
    if facts.input_channels[0] != stated.input_channels:
        raise ContractError(f"--io says input {stated.input_kind} ({stated.input_channels} "
                            f"channel(s)) but input {facts.input_names[0]!r} has "
                            f"{facts.input_channels[0]}")
    if len(facts.input_names) != 1 + len(stated.extra):
        raise ContractError(f"the graph has {len(facts.input_names)} inputs; --io states "
                            f"{1 + len(stated.extra)} (add input.extra planes or fix --io)")
    if facts.output_channels != stated.output_channels:
        raise ContractError(f"--io says output {stated.output_kind} ({stated.output_channels} "
                            f"channels) but output {facts.output_name!r} has "
                            f"{facts.output_channels} (shape {facts.output_shape})")
    scale = _trailing_scale(facts)
    if stated.output_kind == "ab" and stated.output_scaling != "lab" and scale is not None \
            and scale >= 50:
        raise ContractError(f"--io says output.scaling {stated.output_scaling} but the graph "
                            f"already multiplies its output by {scale:g} (ab in Lab units): "
                            "use output.scaling lab")
    return stated


def _trailing_scale(facts: GraphFacts) -> float | None:
    if facts.trailing and facts.trailing[0][0] in ("Mul", "Div") and \
            facts.trailing[0][1] is not None:
        op, value = facts.trailing[0]
        return value if op == "Mul" else 1.0 / value
    return None


def infer(facts: GraphFacts, probe: Callable[[Contract], list[np.ndarray]]) -> Contract:
    """GraphFacts + ``probe(contract) -> decoded ab per photo`` -> the inferred Contract
    (reasons filled) or ContractError naming ``--io``."""
    reasons = [f"input {facts.input_names[0]!r} is {facts.layout} with "
               f"{facts.input_channels[0]} channel(s)"]
    if len(facts.input_names) != 1:
        raise ContractError(f"{len(facts.input_names)} graph inputs "
                            f"({', '.join(facts.input_names)}): which is the image and what "
                            f"fills the others cannot be inferred; {FIX}")
    kind = {1: "l", 3: "gray3"}.get(facts.input_channels[0])
    if kind is None:
        raise ContractError(f"input {facts.input_names[0]!r} has {facts.input_channels[0]} "
                            "channels; a colorizer takes 1 (L) or 3 (gray as RGB)")
    out_kind, out_scaling, why, check_range = _output(facts)
    reasons.append(why)
    base = Contract(kind, "raw" if kind == "l" else "gray01", out_kind, out_scaling,
                    facts.layout, source="inferred")
    if kind == "l" and facts.leading is not None:
        name = _raw_normalization(facts.leading)
        if name is not None:
            reasons.append(f"the graph starts with {name}: it normalizes raw L 0..100 itself")
            candidates = ("raw",)
        else:
            candidates = L_CANDIDATES
    else:
        candidates = L_CANDIDATES if kind == "l" else GRAY3_CANDIDATES
    plausible, findings = [], []
    for scaling in candidates:
        contract = replace(base, input_scaling=scaling)
        ok, finding = plausible_ab(probe(contract), check_range)
        findings.append(f"{scaling}: {finding}")
        if ok:
            plausible.append((contract, finding))
    if not plausible:
        raise ContractError("no input scaling gives plausible ab on the probe photos ("
                            + "; ".join(findings) + f"); {FIX}")
    if len(plausible) > 1:
        names = ", ".join(c.input_scaling for c, _ in plausible)
        raise ContractError(f"ambiguous input scaling: {names} all give plausible ab on the "
                            f"probe photos and the graph does not normalize its input; {FIX}")
    contract, finding = plausible[0]
    reasons.append(f"on the probe photos its ab are plausible ({finding})")
    return replace(contract, reasons=tuple(reasons))


def _output(facts: GraphFacts) -> tuple[str, str, str, bool]:
    """(kind, scaling, reason, range check needed) from the output channels and the ops
    ending the graph; ContractError when they fit no contract."""
    c = facts.output_channels
    kinds = {v: k for k, v in OUTPUT_CHANNELS.items()}
    if c not in kinds:
        raise ContractError(f"output {facts.output_name!r} (shape {facts.output_shape}) fits "
                            "no colorization contract: expected 2 (ab), 3 (RGB) or 313 "
                            f"(ECCV16 bins) channels in {facts.layout}, got {c}")
    kind = kinds[c]
    ops = [op for op, _ in facts.trailing]
    where = f"output {facts.output_name!r} has {c} channels"
    if kind == "bins":
        if ops[:1] != ["Softmax"]:
            raise ContractError(f"{where} (313 bins) but no final Softmax (logits?); {FIX}")
        return kind, "probs", f"{where} after a Softmax: ECCV16 bin probabilities", False
    if kind == "rgb":
        if ops[:1] == ["Sigmoid"]:
            return kind, "0..1", f"{where} after a Sigmoid: RGB 0..1", False
        if ops[:1] == ["Tanh"]:
            return kind, "-1..1", f"{where} after a Tanh: RGB -1..1", False
        raise ContractError(f"{where} (RGB) with no Sigmoid/Tanh at the end: its range "
                            f"cannot be inferred; {FIX}")
    scale = _trailing_scale(facts)
    if scale is not None and scale >= 50:
        after = " after a Tanh" if ops[1:2] == ["Tanh"] else ""
        return kind, "lab", f"{where}{after} times {scale:g}: ab in Lab units", False
    if ops[:1] == ["Tanh"]:
        raise ContractError(f"{where} ending in a Tanh (-1..1) with no scale in the graph: "
                            "x110 or x128 cannot be told apart; state output.scaling with "
                            "--io (e.g. --io unet-tanh110)")
    return kind, "lab", f"{where} with no final activation: read as Lab units", True


def _raw_normalization(affine: tuple[float, float]) -> str | None:
    a, b = affine
    for name, (ra, rb) in RAW_L_NORMALIZATIONS.items():
        if abs(a - ra) <= 1e-6 * max(1.0, abs(ra)) and abs(b - rb) <= 1e-5 * max(1.0, abs(rb)):
            return name
    return None


def plausible_ab(abs_: list[np.ndarray], check_range: bool = True) -> tuple[bool, str]:
    """Decoded ab per photo -> (plausible, "p99 |ab| 41.2, 0% saturated")."""
    if not abs_:
        return True, "no probe photos"
    ab = np.concatenate([np.abs(np.asarray(a, np.float32)).ravel() for a in abs_])
    if not np.all(np.isfinite(ab)):
        return False, "non-finite ab"
    p99 = float(np.percentile(ab, 99))
    saturated = float(np.mean(ab >= 105.0))
    text = f"p99 |ab| {p99:.1f}, {saturated:.0%} saturated"
    if check_range and p99 < 1.5:
        return False, text + " (looks normalized, not Lab units)"
    if p99 > MAX_AB:
        return False, text + f" (> {MAX_AB:g})"
    if saturated > SATURATED:
        return False, text
    return True, text
