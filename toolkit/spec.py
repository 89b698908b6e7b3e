"""The model spec: the contract between a colorization model and everything that runs it.

A spec says, for each network input, how it is made from the photo's lightness L (0..100),
and how the network's raw output becomes ab (Lab units). Converters, calibration, runtimes,
the benchmark and the camera read the spec; none of them hard-codes a model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from edgecolor import color
from edgecolor.bands import resize_area

# name -> (L in 0..100 -> network value). Stated once, used by inference and calibration alike.
NORMALIZERS = {
    "l/100": lambda l: l / 100.0,  # 0..1
    "l/50-1": lambda l: l / 50.0 - 1.0,  # -1..1
    "l-50": lambda l: l - 50.0,  # -50..50 (Zhang et al. ECCV16)
    # gray photo rendered as sRGB, scaled to -1..1 (Inception / pix2pix RGB generators)
    "gray_rgb/127.5-1": lambda l: _l_to_gray_rgb(l) * 2.0 - 1.0,
    # conventions of foreign models (edgecolor.contract)
    "l": lambda l: l,  # raw L 0..100 (Zhang et al.'s PyTorch models normalize inside)
    "(l-50)/100": lambda l: (l - 50.0) / 100.0,  # -0.5..0.5
    "gray_rgb": lambda l: _l_to_gray_rgb(l),  # gray sRGB 0..1
    "zeros": lambda l: np.zeros_like(l),  # a constant plane (hint / mask inputs)
}

# per-channel normalizers: L -> (h, w, channels); the ImageNet mean/std of torchvision
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CHANNEL_NORMALIZERS = {
    "imagenet": lambda l: (_l_to_gray_rgb(l)[..., None] - np.float32(IMAGENET_MEAN))
    / np.float32(IMAGENET_STD),
}

# output kinds: raw network output -> ab (h, w, 2) in Lab units
OUTPUT_KINDS = ("ab_tanh", "ab", "ab_bins", "rgb_tanh", "rgb")
LAYOUTS = ("NHWC", "NCHW")


def _l_to_gray_rgb(l: np.ndarray) -> np.ndarray:
    lab = np.zeros(l.shape + (3,), np.float32)
    lab[..., 0] = l
    return color.lab_to_rgb(lab)[..., 0]


@dataclass(frozen=True)
class InputSpec:
    """One network input: NHWC float32 of shape (1, H, W, channels) made from L."""

    name: str
    size: tuple[int, int]  # (H, W)
    norm: str = "l/50-1"
    channels: int = 1  # >1: the single normalized plane repeated (gray stacked to RGB)

    def make(self, l_full: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        """Full-resolution L (H, W) in 0..100 -> (1, h, w, channels) float32 network input."""
        h, w = size or self.size
        l_small = resize_area(l_full.astype(np.float32, copy=False), (w, h))
        if self.norm in CHANNEL_NORMALIZERS:
            x = CHANNEL_NORMALIZERS[self.norm](l_small).astype(np.float32)[None]
            if x.shape[-1] != self.channels:
                raise ValueError(f"input {self.name!r}: {self.norm} makes {x.shape[-1]} "
                                 f"channels, the spec says {self.channels}")
            return np.ascontiguousarray(x)
        x = NORMALIZERS[self.norm](l_small).astype(np.float32, copy=False)[None, :, :, None]
        if self.channels > 1:
            x = np.repeat(x, self.channels, axis=-1)
        return np.ascontiguousarray(x)


@dataclass(frozen=True)
class OutputSpec:
    """The network output and how it becomes ab.

    kinds: ``ab_tanh`` ab = scale * y; ``ab`` y is ab; ``ab_bins`` y is a distribution over
    ``bins`` (313 ab bin centers), decoded by annealed mean at ``temperature``; ``rgb_tanh``
    y is RGB in -1..1 whose ab is kept (the photo's own L replaces the predicted one);
    ``rgb`` the same with RGB in 0..1.
    """

    name: str
    kind: str = "ab_tanh"
    scale: float = 128.0
    temperature: float = 0.38

    def decode(self, y: np.ndarray) -> np.ndarray:
        """Raw output (1, h, w, C) or (h, w, C) float32 -> ab (h, w, 2) float32, Lab units."""
        y = np.asarray(y, np.float32)
        if y.ndim == 4:
            y = y[0]
        if self.kind == "ab_tanh":
            return y * self.scale
        if self.kind == "ab":
            return y
        if self.kind in ("rgb_tanh", "rgb"):
            rgb = (y + 1.0) * 0.5 if self.kind == "rgb_tanh" else y
            return color.rgb_to_lab(np.clip(rgb, 0.0, 1.0))[..., 1:]
        if self.kind == "ab_bins":
            from edgecolor.bins import annealed_mean

            return annealed_mean(y, self.temperature)
        raise ValueError(f"unknown output kind {self.kind!r}; expected one of {OUTPUT_KINDS}")


@dataclass(frozen=True)
class ModelSpec:
    """Everything the toolkit needs to feed a model and read its answer.

    layout: ``NHWC`` (Keras, the zoo) or ``NCHW`` (PyTorch exports): the layout of every
    network input and of the output; :meth:`make_inputs` and :meth:`decode` handle it.
    """

    name: str
    inputs: tuple[InputSpec, ...]
    output: OutputSpec
    layout: str = "NHWC"
    extra: dict = field(default_factory=dict)

    @property
    def input_size(self) -> tuple[int, int]:
        """(H, W) of the first input: the model's working resolution."""
        return self.inputs[0].size

    def make_inputs(self, l_full: np.ndarray) -> list[np.ndarray]:
        """Full-resolution L (H, W) 0..100 -> one float32 NHWC batch of 1 per input, in order.

        This is the single preprocessing function: inference, calibration and the
        benchmark all call it.
        """
        xs = [inp.make(l_full) for inp in self.inputs]
        if self.layout == "NCHW":
            xs = [np.ascontiguousarray(x.transpose(0, 3, 1, 2)) for x in xs]
        return xs

    def decode(self, y: np.ndarray) -> np.ndarray:
        """Raw network output -> ab (h, w, 2) in Lab units at model resolution."""
        y = np.asarray(y, np.float32)
        if self.layout == "NCHW":
            y = y.transpose(0, 2, 3, 1) if y.ndim == 4 else y.transpose(1, 2, 0)
        return self.output.decode(y)

    def with_size(self, size: tuple[int, int]) -> ModelSpec:
        """The same spec at another working resolution for its first input (``--imgsz``)."""
        first = InputSpec(self.inputs[0].name, tuple(size), self.inputs[0].norm,
                          self.inputs[0].channels)
        return ModelSpec(self.name, (first,) + self.inputs[1:], self.output, self.layout,
                         dict(self.extra))

    def to_dict(self) -> dict:
        """JSON-ready dict (stored in every artifact manifest)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelSpec:
        """Inverse of :meth:`to_dict`."""
        inputs = tuple(
            InputSpec(i["name"], tuple(i["size"]), i["norm"], i.get("channels", 1))
            for i in d["inputs"]
        )
        return cls(d["name"], inputs, OutputSpec(**d["output"]), d.get("layout", "NHWC"),
                   dict(d.get("extra", {})))
