"""One typed conversion request, validated and resolved once.

``ConvertRequest`` holds everything ``edgecolor convert`` / ``edgecolor benchmark`` (and a
Python caller of ``convert_all``) ask for. ``resolve()`` checks it without TensorFlow and
resolves the device profile, the (format, precision) rows and the formats named explicitly
exactly once; a bad request raises :class:`ConvertRequestError` with a one-line message.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgecolor.devices import DeviceProfile, resolve_profile
from edgecolor.formats import FORMATS, get_format


class ConvertRequestError(ValueError):
    """The request itself is wrong (unknown target/model/format/precision, bad calib folder)."""


# request fields only some formats accept (named as in the format table's ``args``): a
# Python caller is checked as the CLI is
FORMAT_ONLY_OPTIONS = ("imgsz", "threads", "opset")


@dataclass
class ConvertRequest:
    """What to convert, for which target, how. Sizes in pixels, bounds in dB / ΔE00.

    model: zoo name or a path to the user's own model file. target: profile name, "auto" or a
    DeviceProfile. calib: image folder (None: the bundled samples). calib_size: images
    calibrated on (None: all). calib_method: activation ranges of the calibrated rows (None:
    each row's :meth:`Format.default_method`, quantile where it has it). weights: "default",
    None (random init) or a path. imgsz: square input size (None: the profile's, else the
    model's). max_dpsnr / min_psnr_fp32 (dB) / max_de (CIEDE2000): fidelity bounds of int8 rows;
    min_speedup (× the same runtime's FP32 speed): the budget's optional speed floor; budget
    False: plain int8. qat: minutes of quantization-aware fine-tuning the budget tries last
    (None / 0: never; Keras models only); qat_images: its training photo folder (None: the
    calibration photos); search_minutes: wall-clock limit of the budget's search per artifact
    (None: none). confident: the budget's bounds must hold over the 95% bootstrap interval
    of the held-out photos, not only their mean.
    """

    model: str
    target: str | DeviceProfile = "auto"
    formats: list[str] | None = None
    precisions: list[str] | None = None
    calib: str | Path | None = None
    calib_size: int | None = 200
    calib_method: str | None = None  # None: Format.default_method (quantile, else minmax)
    out_dir: str | Path = "artifacts"
    weights: str | Path | None = "default"
    imgsz: int | None = None
    threads: int | None = None
    opset: int | None = None
    width: float | None = None
    seed: int = 0
    max_dpsnr: float | None = None
    budget: bool | None = None
    min_psnr_fp32: float | None = None
    max_de: float | None = None
    min_speedup: float | None = None
    confident: bool = False
    qat: float | None = None
    qat_images: str | Path | None = None
    search_minutes: float | None = None
    model_kw: dict | None = None
    io: object = None  # preset name, .toml path or Contract (own model files only)
    on_start: Callable[[int, int, str], None] | None = field(default=None, repr=False)
    on_done: Callable | None = field(default=None, repr=False)
    log: Callable[[str], None] | None = field(default=None, repr=False)
    # resolved once by resolve()
    profile: DeviceProfile | None = field(default=None, init=False, repr=False)
    rows: list[tuple[str, str]] = field(default_factory=list, init=False, repr=False)
    explicit: set[str] = field(default_factory=set, init=False, repr=False)

    @classmethod
    def from_kwargs(cls, model: str, target: str | DeviceProfile = "auto",
                    **kwargs) -> ConvertRequest:
        """``convert_all``'s keywords -> a request; an unknown keyword is a
        ConvertRequestError naming the valid ones."""
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(kwargs) - names)
        if unknown:
            raise ConvertRequestError(f"unknown convert option(s) {', '.join(unknown)}; "
                                      f"valid: {', '.join(sorted(names - {'model'}))}")
        return cls(model=str(model) if isinstance(model, Path) else model, target=target,
                   **kwargs)

    def resolve(self) -> ConvertRequest:
        """Validate everything that needs no TensorFlow and resolve profile / rows once
        (idempotent). Raises ConvertRequestError (one line)."""
        if self.profile is not None:
            return self
        from edgecolor.formats import CALIB_METHODS
        from edgecolor.sources import is_model_path
        from edgecolor.zoo import get_model_info

        try:
            profile = (self.target if isinstance(self.target, DeviceProfile)
                       else resolve_profile(self.target))
            if not is_model_path(self.model):
                get_model_info(self.model)
        except ValueError as e:
            raise ConvertRequestError(str(e).splitlines()[0]) from e
        if self.calib_method is not None and self.calib_method not in CALIB_METHODS:
            raise ConvertRequestError(f"unknown calibration method {self.calib_method!r}; "
                                      f"choose one of: {', '.join(CALIB_METHODS)}")
        if self.calib_size is not None and self.calib_size < 1:
            raise ConvertRequestError(f"calib_size {self.calib_size}: give a positive "
                                      "number of images, or None for all")
        self._check_qat()
        self._check_search_minutes()
        if self.confident and self.budget is False:
            raise ConvertRequestError("--confident judges the int8 fidelity budget by its "
                                      "95% interval; drop --no-budget or --confident")
        rows = plan_rows(profile, self.formats, self.precisions)
        explicit = set(self.formats or ())
        for f in explicit if self.calib_method is not None else ():
            fmt = get_format(f)
            calibrated = [p for g, p in rows if g == f and p in fmt.calibrated]
            if calibrated and not any(fmt.resolve_method(self.calib_method, p)
                                      for p in calibrated):
                raise ConvertRequestError(
                    f"{f} cannot calibrate with {self.calib_method!r} (it supports "
                    f"{', '.join(fmt.calib_methods)}); pass --calib-method "
                    f"{fmt.calib_methods[0]}")
        selected = {get_format(f) for f, _ in rows}
        for opt in FORMAT_ONLY_OPTIONS:
            if getattr(self, opt) is not None and not any(opt in f.args for f in selected):
                raise ConvertRequestError(
                    f"--{opt.replace('_', '-')} does not apply to "
                    f"{', '.join(sorted(f.name for f in selected))}; drop it")
        self.profile, self.rows, self.explicit = profile, rows, explicit
        return self

    def _check_qat(self) -> None:
        """--qat MINUTES / --qat-images DIR: a number of minutes >= 0, an existing folder,
        a Keras model (not an ONNX source), within a fidelity budget."""
        qat = self.qat
        if qat is not None and (isinstance(qat, bool) or not isinstance(qat, (int, float))
                                or not math.isfinite(qat) or qat < 0):
            raise ConvertRequestError(f"--qat {qat}: give the minutes of quantization-aware "
                                      "fine-tuning as a number >= 0 (0: never)")
        if self.qat_images is not None:
            if not qat:
                raise ConvertRequestError("--qat-images is the training photos of --qat "
                                          "MINUTES; give --qat or drop --qat-images")
            if not Path(self.qat_images).is_dir():
                raise ConvertRequestError(f"--qat-images {self.qat_images}: folder not found")
        if qat:
            if str(self.model).lower().endswith(".onnx"):
                raise ConvertRequestError(f"--qat fine-tunes a Keras model; {self.model} is "
                                          "an ONNX source (no Keras model): drop --qat")
            if self.budget is False:
                raise ConvertRequestError("--qat is the last tier of the int8 fidelity "
                                          "budget; drop --no-budget or --qat")

    def _check_search_minutes(self) -> None:
        """--search-minutes MINUTES: a number > 0, within a fidelity budget."""
        m = self.search_minutes
        if m is None:
            return
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not math.isfinite(m) \
                or m <= 0:
            raise ConvertRequestError(f"--search-minutes {m}: give the budget search's "
                                      "wall-clock limit as a number of minutes > 0")
        if self.budget is False:
            raise ConvertRequestError("--search-minutes limits the int8 fidelity budget's "
                                      "search; drop --no-budget or --search-minutes")


def plan_rows(profile: DeviceProfile, formats: list[str] | None = None,
              precisions: list[str] | None = None) -> list[tuple[str, str]]:
    """The profile's (format, precision) rows filtered by ``formats``/``precisions``.

    Raises ConvertRequestError for names the format table does not know or a filter that
    leaves nothing.
    """
    for f in formats or ():
        if f not in FORMATS:
            raise ConvertRequestError(f"unknown format {f!r}; choose one of: "
                                      f"{', '.join(FORMATS)}")
    known = {p for fmt in FORMATS.values() for p in fmt.precisions}
    for p in precisions or ():
        if p not in known:
            raise ConvertRequestError(f"unknown precision {p!r}; choose one of: "
                                      f"{', '.join(sorted(known))}")
    # rows a profile makes only on request (its ``on_request``, e.g. rpi4's slow int16x8):
    # included when their precision is asked for by name
    optional = [tuple(str(item).split(":", 1)) for item in profile.extra.get("on_request", [])]
    pool = list(profile.artifacts) + [r for r in optional if precisions and r[1] in precisions
                                      and r not in profile.artifacts]
    rows = [(f, p) for f, p in pool
            if (not formats or f in formats) and (not precisions or p in precisions)]
    for f, p in rows:
        if p not in get_format(f).precisions:
            raise ConvertRequestError(f"profile {profile.name}: {f} has no precision {p!r}")
    if not rows:
        raise ConvertRequestError(
            f"nothing to convert: target {profile.name} has no artifact matching "
            f"format {formats or 'any'} / precision {precisions or 'any'} (its artifacts: "
            f"{', '.join(f'{f}:{p}' for f, p in profile.artifacts)})")
    return rows
