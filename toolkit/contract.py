"""The colorization contract of a model: what it takes from the photo and what it gives back.

Stated once (a preset, a TOML file, or inferred from the graph by
:mod:`edgecolor.sources.infer`), recorded in every manifest and mapped onto the
:class:`~edgecolor.spec.ModelSpec` every converter, runner, bench and camera already reads.

Input: ``kind`` ``l`` (lightness planes) or ``gray3`` (gray replicated to 3 channels), its
``scaling`` from the photo's L (0..100): ``raw`` (L 0..100), ``l/100``, ``(l-50)/100``,
``l-50``, ``l/50-1``, ``gray01`` (gray sRGB 0..1), ``gray-1..1``, ``imagenet`` (gray sRGB,
ImageNet mean/std per channel); ``extra``: constant planes (hint / mask inputs) the pipeline
fills. Output: ``kind`` ``ab`` | ``rgb`` | ``bins`` (313 ECCV16 bins, annealed mean at
``temperature``); ``scaling``: ab ``lab`` (Lab units), ``x110`` / ``x128`` (ab = 110 y /
128 y, y from a tanh in -1..1), rgb ``0..1`` | ``-1..1``, bins ``probs``; ``resolution``:
``model`` (the output's own size) or ``input``. ``layout`` NCHW | NHWC.

TOML (``--io my_model.toml``)::

    preset = "zhang-pytorch"          # optional base; the tables below override it
    layout = "NCHW"
    [input]
    kind = "l"
    scaling = "raw"
    extra = [{name = "mask", channels = 1}]   # zero planes, in graph-input order
    [output]
    kind = "ab"
    scaling = "lab"
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from edgecolor.spec import InputSpec, ModelSpec, OutputSpec

INPUT_KINDS = ("l", "gray3")
# contract scaling -> spec normalizer
INPUT_SCALINGS = {
    "raw": "l", "l/100": "l/100", "(l-50)/100": "(l-50)/100", "l-50": "l-50",
    "l/50-1": "l/50-1", "gray01": "gray_rgb", "gray-1..1": "gray_rgb/127.5-1",
    "imagenet": "imagenet",
}
OUTPUT_SCALINGS = {"ab": ("lab", "x110", "x128"), "rgb": ("0..1", "-1..1"),
                   "bins": ("probs",)}
OUTPUT_CHANNELS = {"ab": 2, "rgb": 3, "bins": 313}
RESOLUTIONS = ("model", "input")
LAYOUTS = ("NCHW", "NHWC")


class ContractError(ValueError):
    """A contract that is malformed, contradicts the graph, or cannot be inferred (one line)."""


@dataclass(frozen=True)
class ExtraInput:
    """A constant input plane the pipeline fills (zeros): a hint or mask input."""

    name: str
    channels: int = 1


@dataclass(frozen=True)
class Contract:
    """What a model takes and gives (see the module docstring for the names)."""

    input_kind: str = "l"
    input_scaling: str = "raw"
    output_kind: str = "ab"
    output_scaling: str = "lab"
    layout: str = "NCHW"
    temperature: float = 0.38
    resolution: str = "model"
    extra: tuple[ExtraInput, ...] = ()
    source: str = "stated"  # "preset NAME" | "file PATH" | "inferred"
    reasons: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        _choice("input.kind", self.input_kind, INPUT_KINDS)
        _choice("input.scaling", self.input_scaling, tuple(INPUT_SCALINGS))
        _choice("output.kind", self.output_kind, tuple(OUTPUT_SCALINGS))
        _choice(f"output.scaling (for {self.output_kind})", self.output_scaling,
                OUTPUT_SCALINGS[self.output_kind])
        _choice("layout", self.layout, LAYOUTS)
        _choice("output.resolution", self.resolution, RESOLUTIONS)
        if self.input_scaling == "imagenet" and self.input_kind != "gray3":
            raise ContractError("input.scaling imagenet needs input.kind gray3 (3 channels)")
        if not self.temperature > 0:
            raise ContractError(f"output.temperature must be > 0, got {self.temperature}")

    @property
    def input_channels(self) -> int:
        """Channels of the image input (1 for L, 3 for gray replicated to RGB)."""
        return 3 if self.input_kind == "gray3" else 1

    @property
    def output_channels(self) -> int:
        """Channels the output must have: 2 (ab), 3 (RGB) or 313 (bins)."""
        return OUTPUT_CHANNELS[self.output_kind]

    def output_spec(self, name: str) -> OutputSpec:
        """The spec's output record for the graph output ``name``."""
        if self.output_kind == "bins":
            return OutputSpec(name, "ab_bins", 1.0, self.temperature)
        if self.output_kind == "rgb":
            return OutputSpec(name, "rgb" if self.output_scaling == "0..1" else "rgb_tanh", 1.0)
        if self.output_scaling == "lab":
            return OutputSpec(name, "ab", 1.0)
        return OutputSpec(name, "ab_tanh", 110.0 if self.output_scaling == "x110" else 128.0)

    def to_spec(self, name: str, input_names: list[str], output_name: str,
                size: tuple[int, int]) -> ModelSpec:
        """The ModelSpec of a model with these graph input names (image first, then the
        extra planes in contract order) at working size (H, W)."""
        if len(input_names) != 1 + len(self.extra):
            raise ContractError(f"the graph has {len(input_names)} inputs; the contract "
                                f"states {1 + len(self.extra)} (image + {len(self.extra)} "
                                "extra planes)")
        size = tuple(int(s) for s in size)
        inputs = [InputSpec(input_names[0], size, INPUT_SCALINGS[self.input_scaling],
                            self.input_channels)]
        inputs += [InputSpec(n, size, "zeros", e.channels)
                   for n, e in zip(input_names[1:], self.extra, strict=True)]
        return ModelSpec(name, tuple(inputs), self.output_spec(output_name), self.layout,
                         {"contract": self.to_dict()})

    def to_dict(self) -> dict:
        """JSON-ready record (manifests)."""
        d = asdict(self)
        d["extra"] = [asdict(e) for e in self.extra]
        d["reasons"] = list(self.reasons)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Contract:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["extra"] = tuple(ExtraInput(**e) for e in d.get("extra", ()))
        d["reasons"] = tuple(d.get("reasons", ()))
        return cls(**d)

    def describe(self) -> str:
        """One line: "L raw 0..100 (NCHW) -> ab in Lab units at the model's resolution"."""
        ins = {"l": "L", "gray3": "gray x3"}[self.input_kind]
        extra = "".join(f" + zeros {e.name}[{e.channels}]" for e in self.extra)
        out = {"ab": "ab", "rgb": "RGB", "bins": "313 ab bins"}[self.output_kind]
        return (f"{ins} {self.input_scaling}{extra} ({self.layout}) -> {out} "
                f"{self.output_scaling}" + (f" (T={self.temperature:g})"
                                            if self.output_kind == "bins" else ""))


def _choice(what: str, value, choices) -> None:
    if value not in choices:
        raise ContractError(f"{what} {value!r} is not one of: {', '.join(map(str, choices))}")


# Named conventions of common colorizers.
PRESETS: dict[str, Contract] = {
    # Zhang et al.'s PyTorch colorizers (ECCV16 / SIGGRAPH17 exports): raw L in, normalized
    # inside the graph, ab in Lab units out (the graph multiplies by 110)
    "zhang-pytorch": Contract("l", "raw", "ab", "lab", "NCHW"),
    # ECCV16's distribution head: 313 bin probabilities, annealed mean T = 0.38
    "zhang-bins": Contract("l", "raw", "bins", "probs", "NCHW"),
    # a U-Net with tanh output scaled by 110 on the host, L/100 input
    "unet-tanh110": Contract("l", "l/100", "ab", "x110", "NCHW"),
    # Keras colorizers: L/100 in, tanh ab / 128 out, NHWC
    "keras-l100-ab128": Contract("l", "l/100", "ab", "x128", "NHWC"),
    # pix2pix-style generators: gray -1..1 replicated to RGB, RGB -1..1 out
    "pix2pix-rgb": Contract("gray3", "gray-1..1", "rgb", "-1..1", "NCHW"),
    # ImageNet backbones: gray as RGB with ImageNet mean/std, ab in Lab units out
    "imagenet-ab": Contract("gray3", "imagenet", "ab", "lab", "NCHW"),
}


def preset(name: str) -> Contract:
    """The named preset; ContractError naming the presets if unknown."""
    if name not in PRESETS:
        raise ContractError(f"unknown --io preset {name!r}; choose one of: "
                            f"{', '.join(PRESETS)} (or a .toml file)")
    return replace(PRESETS[name], source=f"preset {name}")


def from_toml(path: str | Path) -> Contract:
    """A contract from a TOML file (module docstring); ContractError naming the file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as e:
        raise ContractError(f"{path}: --io file not found") from e
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ContractError(f"{path}: not valid TOML ({e})") from e
    base = preset(data["preset"]) if "preset" in data else Contract()
    known = {"preset", "layout", "input", "output"}
    unknown = set(data) - known
    ins, outs = data.get("input", {}), data.get("output", {})
    unknown |= {f"input.{k}" for k in ins if k not in ("kind", "scaling", "extra")}
    unknown |= {f"output.{k}" for k in outs
                if k not in ("kind", "scaling", "temperature", "resolution")}
    if unknown:
        raise ContractError(f"{path}: unknown keys {', '.join(sorted(unknown))}")
    kw = {}
    for key, src, dst in (("kind", ins, "input_kind"), ("scaling", ins, "input_scaling"),
                          ("kind", outs, "output_kind"), ("scaling", outs, "output_scaling"),
                          ("temperature", outs, "temperature"),
                          ("resolution", outs, "resolution")):
        if key in src:
            kw[dst] = src[key]
    if "layout" in data:
        kw["layout"] = data["layout"]
    if "extra" in ins:
        try:
            kw["extra"] = tuple(ExtraInput(str(e["name"]), int(e.get("channels", 1)))
                                for e in ins["extra"])
        except (KeyError, TypeError, ValueError) as e:
            raise ContractError(f"{path}: input.extra must be a list of "
                                "{{name = ..., channels = N}}") from e
    if "output_kind" in kw and "output_scaling" not in kw:
        kw["output_scaling"] = OUTPUT_SCALINGS[kw["output_kind"]][0]
    try:
        return replace(base, **kw, source=f"file {path.name}")
    except ContractError as e:
        raise ContractError(f"{path}: {e}") from e


def resolve_io(io: str | Path | Contract | None) -> Contract | None:
    """``--io`` value -> Contract: a preset name, a .toml path, a Contract, or None."""
    if io is None or isinstance(io, Contract):
        return io
    text = str(io)
    if text.endswith(".toml") or Path(text).is_file():
        return from_toml(text)
    return preset(text)
