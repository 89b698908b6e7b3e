"""Produce a device profile's artifact set: convert, write manifests, quick-check each artifact.

``convert_all`` builds the Keras model once (batch 1, the profile's or ``imgsz`` size), one
CalibrationSet (its held-out images are never calibrated on), then for every requested
(format, precision) row of the profile calls the converter named in ``edgecolor.formats``,
writes the manifest beside the artifact, loads the artifact with its runner and compares its
output on the held-out images with the Keras FP32 output. A row that fails is reported and
the others go on. Reused by ``edgecolor convert`` and ``edgecolor benchmark``.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import importlib.metadata
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecolor.converters.request import (  # noqa: F401  (re-exported)
    ConvertRequest,
    ConvertRequestError,
    plan_rows,
)
from edgecolor.devices import DeviceProfile
from edgecolor.errors import one_line
from edgecolor.formats import get_format
from edgecolor.metrics import PSNR_CAP_DB

# quick check: fp32 artifacts must match the raw Keras output; others must keep the colorized
# image within this PSNR of the FP32 one
FP32_MAX_ABS_ERR = 1e-3
MIN_PSNR_DB = 30.0
VERSIONED = ("tensorflow", "keras", "tf2onnx", "onnx", "onnxsim", "onnxruntime", "openvino",
             "nncf", "ai-edge-litert", "tflite-runtime", "numpy", "opencv-python-headless",
             "edgecolor")


@dataclass
class ArtifactResult:
    """What happened to one (format, precision) row. Sizes in MB, times in seconds."""

    format: str
    precision: str
    name: str
    path: Path
    ok: bool = False  # converted, manifest written, loaded by its runner and quick-checked
    error: str | None = None  # one line when not ok
    size_mb: float = 0.0
    seconds: float = 0.0  # conversion time
    psnr_db: float | None = None  # colorized output vs the Keras FP32 one, held-out images
    fidelity: dict | None = None  # edgecolor.fidelity figures (full resolution, with CIs)
    max_abs_err: float | None = None  # of the raw network output vs Keras
    check_images: int = 0
    notes: list[str] = field(default_factory=list)
    trt_problems: list[str] | None = None  # TensorRT readiness (Jetson targets, ONNX rows)
    converter: Callable | None = field(default=None, repr=False)  # budgeted int8 converter

    def to_dict(self) -> dict:
        """JSON-ready record (benchmark reports)."""
        d = dict(self.__dict__)
        d["path"] = str(self.path)
        d.pop("converter", None)
        return d


def versions() -> dict:
    """Installed versions of the converters and runtimes that matter for an artifact."""
    from edgecolor.host import package_versions

    return package_versions(VERSIONED)


def host_info() -> dict:
    """Platform, machine and CPU of the converting host."""
    from edgecolor.devices import detect

    found = detect()
    return {"platform": platform.platform(), "machine": platform.machine(), "cpu": found.cpu,
            "cpu_flags": list(found.flags), "cores": os.cpu_count()}


def convert_all(model_name: str, target: str | DeviceProfile = "auto",
                **kwargs) -> list[ArtifactResult]:
    """Keyword form of :func:`convert`: builds a :class:`ConvertRequest` from
    ``model_name``, ``target`` and its fields as keywords (an unknown keyword is a
    ConvertRequestError)."""
    return convert(ConvertRequest.from_kwargs(model_name, target, **kwargs))


def convert(request: ConvertRequest) -> list[ArtifactResult]:
    """Convert ``request.model`` to every artifact of its target (filtered) -> one result per row.

    target: profile name, "auto" or a DeviceProfile. calib: image folder (None: the bundled
    samples, with a warning when a precision needs calibration). weights: "default" (bundled
    if shipped, else random init), None (random init) or a path. imgsz: square input size
    (default: the profile's, else the model's). threads: converter and quick-check threads.
    ``on_start(i, n, name)`` / ``on_done(i, n, result)`` report progress. model_kw: builder
    options (e.g. ``{"head": "bins"}`` for eccv16's 313-bin output, decoded on the host).
    model_name may be a path (the user's own ``.onnx`` / ``.keras`` / ``.h5`` / SavedModel,
    :mod:`edgecolor.sources`): ``io`` states its contract (preset, .toml or Contract; None
    infers it, printing why through ``log``), and the FP32 reference is the source itself.

    Raises ConvertRequestError before any work for a bad request; every per-artifact
    failure is caught and reported in its result instead.
    """
    req = request.resolve()  # the profile and rows, resolved once
    profile, rows, explicit = req.profile, req.rows, req.explicit
    model_name = req.model
    calib, calib_size, calib_method = req.calib, req.calib_size, req.calib_method
    out_dir, weights, imgsz, threads = req.out_dir, req.weights, req.imgsz, req.threads
    opset, width, seed, on_start, on_done = (req.opset, req.width, req.seed,
                                             req.on_start, req.on_done)
    max_dpsnr, budget, min_psnr_fp32, max_de = (req.max_dpsnr, req.budget,
                                                req.min_psnr_fp32, req.max_de)
    min_speedup, confident = req.min_speedup, req.confident
    model_kw, io, log = req.model_kw, req.io, req.log
    from edgecolor.calibration import CalibrationSet
    from edgecolor.converters.common import ConvertOptions
    from edgecolor.runtimes.keras import KerasRunner
    from edgecolor.sources import is_model_path

    size = imgsz or profile.input_size or None
    kw = {**(model_kw or {}), **({"width": width} if width else {})}
    source = None
    if is_model_path(model_name):  # the user's own model file
        source = _load_source(model_name, io, imgsz, profile, weights, kw, log)
        # ONNX sources go to the converters as the Source (read from the graph); Keras
        # and SavedModel ones as their Keras model, on today's paths
        model = source if source.is_onnx else source.model
        spec, weights_used = source.spec, "source"
        model_name = source.name
    else:
        if io is not None:
            raise ConvertRequestError(f"--io states the contract of your own model file; "
                                      f"zoo model {model_name!r} has its own: drop --io")
        from edgecolor.zoo import create_model, default_weights, weights_source

        try:
            model, spec = create_model(model_name, input_size=size, weights=weights,
                                       batch_size=1, **kw)
        except (ValueError, TypeError) as e:
            raise ConvertRequestError(str(e).splitlines()[0]) from e
        if weights == "default":
            # as create_model: the default weights exist at the paper width only
            trained = default_weights(model_name) if kw.get("width", 1.0) == 1.0 else None
            weights_used = str(trained or "random-init")
        else:
            weights_used = str(weights) if weights is not None else "random-init"
    if req.qat and req.qat_images is None:
        _say(log, "warning: --qat without --qat-images DIR: the fine-tune (if the budget "
             "reaches it) trains on the calibration photos, not the training photos")
    needs_calib = any(p in get_format(f).calibrated for f, p in rows)
    if calib is None and not needs_calib:
        from edgecolor.samples import CALIB_DIR

        calib = CALIB_DIR  # only its held-out image is used, for the quick check
    try:
        cs = CalibrationSet.from_folder(calib, spec, size=calib_size, seed=seed)
    except ValueError as e:
        raise ConvertRequestError(str(e)) from e
    reference = source.reference() if source is not None else KerasRunner.from_model(model,
                                                                                     spec)
    holdout = _holdout(cs, reference)
    threads = threads or min(profile.default_threads(), os.cpu_count() or 1)
    opset = opset or profile.onnx_opset
    common = {
        "model": model_name, "spec": spec.to_dict(), "weights": weights_used,
        # bundled | cache | file | random ("random weights — speed only" downstream)
        "weights_source": "source" if source is not None else weights_source(
            model_name, weights, kw.get("width")),
        "model_options": kw, "target": profile.to_dict(), "versions": versions(),
        "host": host_info(),
    }
    if source is not None:  # the source file and its colorization contract, in every manifest
        common.update(source=source.record(), contract=source.contract.to_dict())
    out_dir = Path(out_dir)
    from edgecolor.quant.onnx_source import SOURCE_FORMATS

    results = []
    shared = None  # the budgeted rows' FP32-side measurements, made once per run
    for i, (fmt_name, precision) in enumerate(rows, 1):
        fmt = get_format(fmt_name)
        # a variant with another output contract (eccv16's bins head) gets its own names
        variant = spec.extra.get("variant")
        name = fmt.artifact_name(f"{model_name}-{variant}" if variant else model_name,
                                 precision)
        if on_start:
            on_start(i, len(rows), name)
        res = ArtifactResult(fmt_name, precision, name, out_dir / name)
        method = calib_method or "minmax"
        if precision in fmt.calibrated and calib_method is None:
            method = fmt.default_method(precision)
            if source is not None and source.is_onnx and fmt_name not in SOURCE_FORMATS:
                method = "minmax"  # onnx2tf calibrates an ONNX source's tflite rows
        elif precision in fmt.calibrated:
            method = fmt.resolve_method(calib_method, precision)
            if method is None:
                res.notes.append(f"{fmt_name} {precision} cannot calibrate with "
                                 f"{calib_method}; used minmax")
                method = "minmax"
        options = ConvertOptions(calib=cs if precision in fmt.calibrated else None,
                                 calib_method=method, threads=threads,
                                 **({"opset": opset} if opset else {}))
        bounds = _budget_for(res.precision, max_dpsnr, budget, profile, weights_used,
                             min_psnr_fp32, max_de, min_speedup, confident)
        if bounds is not None and source is not None and source.is_onnx and \
                fmt_name not in SOURCE_FORMATS:
            # onnx2tf renames the graph: no ONNX node name reaches TFLite's denylist
            res.notes.append(f"plain int8: the fidelity budget ({bounds.text()}) covers the "
                             f"{' and '.join(SOURCE_FORMATS)} rows of ONNX sources, "
                             f"not {fmt_name} (converted through onnx2tf)")
            bounds = None
        if bounds is not None:  # int8 within a fidelity budget (edgecolor.quant.budget)
            from edgecolor.quant.budget import SharedEvidence, budgeted_converter

            shared = shared or SharedEvidence()
            res.converter = budgeted_converter(fmt, budget=bounds, qat_minutes=req.qat,
                                               qat_images=req.qat_images, shared=shared,
                                               search_minutes=req.search_minutes)
        _convert_one(res, fmt, model, spec, options, common, explicit)
        if res.ok:
            _quick_check(res, holdout, threads)
        if not res.ok and res.psnr_db is not None and precision in fmt.calibrated and \
                method == "minmax" and fmt.resolve_method("quantile", precision):
            res.error += ("; fix: --calib-method quantile (clips the outlier pixels that set "
                          "min/max ranges)" + ("" if bounds else " or the fidelity budget "
                                               "(drop --no-budget)"))
        if res.ok and profile.trt_version and fmt_name == "onnx":
            _trt_check(res, profile.trt_version)
        results.append(res)
        if on_done:
            on_done(i, len(rows), res)
    return results


def _say(log: Callable[[str], None] | None, line: str) -> None:
    """One line to ``log``, else to stderr."""
    if log is not None:
        log(line)
    else:
        import sys

        print(line, file=sys.stderr)


def _budget_for(precision: str, max_dpsnr: float | None, budget: bool | None,
                profile: DeviceProfile, weights_used: str, min_psnr_fp32: float | None = None,
                max_de: float | None = None, min_speedup: float | None = None,
                confident: bool = False):
    """The fidelity budget (``edgecolor.quant.budget.Budget``) an artifact is converted to,
    or None for a plain conversion.

    budget True or any bound given: for int8 rows, ``max_dpsnr`` and ``min_psnr_fp32`` (dB;
    each else the profile's), ``max_de`` (CIEDE2000) and ``min_speedup`` (× FP32 speed),
    each only when given, judged over their 95% interval when ``confident``; False: never;
    None (default): the profile's bounds for int8 rows of trained models (random-init weights
    have no quality to keep).
    """
    from edgecolor.quant.budget import BUDGETED, Budget

    if precision not in BUDGETED or budget is False:
        return None
    given = budget or confident or any(v is not None for v in (max_dpsnr, min_psnr_fp32,
                                                               max_de, min_speedup))
    if not given and weights_used == "random-init":
        return None
    return Budget(max_dpsnr=max_dpsnr if max_dpsnr is not None else profile.max_dpsnr,
                  min_psnr_fp32=(min_psnr_fp32 if min_psnr_fp32 is not None
                                 else profile.min_psnr_fp32),
                  max_de=max_de, min_speedup=min_speedup, confident=confident)


def _load_source(path, io, imgsz, profile, weights, kw, log):
    """The user's model file -> Source; ConvertRequestError (one line) for anything
    unusable, or for options that only apply to zoo models."""
    from edgecolor.sources import SourceError, load_source

    if weights not in (None, "default"):
        raise ConvertRequestError(f"--weights applies to zoo models; {path} carries its own "
                                  "weights: drop --weights")
    if kw:
        raise ConvertRequestError(f"builder options ({', '.join(kw)}) apply to zoo models, "
                                  f"not to {path}: drop them")
    try:
        source = load_source(path, io=io, imgsz=imgsz, default_size=profile.input_size or None,
                             log=log)
    except SourceError as e:
        raise ConvertRequestError(str(e)) from e
    return source


def _convert_one(res, fmt, model, spec, options, common, explicit) -> None:
    """Run the converter and write the manifest; errors land in ``res``."""
    from edgecolor.manifest import write_manifest

    t0 = time.perf_counter()
    try:
        convert = res.converter or fmt.load_converter()
        fields = convert(model, spec, res.precision, res.path, options)
        res.seconds = time.perf_counter() - t0
        calib = None
        if options.calib is not None:
            calib = options.calib.info()
            calib["method"] = options.calib_method
        manifest = {
            **common, "format": fmt.name, "precision": res.precision,
            "layout": spec.layout, "calibration": calib,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            **fields,
        }
        manifest["notes"] = list(fields.get("notes", [])) + res.notes
        write_manifest(res.path, manifest)
        files = [res.path] + [res.path.with_suffix(s) for s in fmt.sidecars]
        res.size_mb = sum(f.stat().st_size for f in files) / 1e6
        res.notes = manifest["notes"]
        res.ok = True
    except Exception as e:  # one failing format must not stop the others
        res.seconds = time.perf_counter() - t0
        # a budget failure's one line lists every attempt: keep it whole
        res.error = one_line(e, limit=None if getattr(e, "whole_line", False) else 300)


def _holdout(cs, reference):
    """Held-out images -> an :class:`edgecolor.fidelity.FidelityScorer` holding the Keras FP32
    colorizations at full resolution (and its raw outputs) for the quick checks."""
    from edgecolor.fidelity import FidelityScorer, PhotoSet

    return FidelityScorer(PhotoSet(cs.holdout_paths, cs.spec), reference.infer)


def _quick_check(res: ArtifactResult, holdout, threads: int) -> None:
    """Load the artifact with its runner, compare with Keras on the held-out images.

    Scored by :mod:`edgecolor.fidelity` at each photo's full resolution (the same numbers
    the budget and ``bench`` report): PSNR vs FP32, ΔE00 vs FP32, ΔPSNR vs the photos.
    """
    from edgecolor.runtimes import load_runner

    try:
        runner = load_runner(res.path, threads=threads)
        with runner:
            if not len(holdout.photos):
                res.notes.append("no held-out images: quick check skipped")
                return
            outputs: list[np.ndarray] = []

            def infer(xs: list[np.ndarray]) -> np.ndarray:
                outputs.append(runner.infer(xs))
                return outputs[-1]

            fid = holdout.score(infer, runner.spec.decode)
            err = max(float(np.max(np.abs(y - ref)))
                      for y, ref in zip(outputs, holdout.reference_outputs, strict=True))
    except Exception as e:  # reported per artifact
        res.ok, res.error = False, "quick check: " + one_line(e)
        return
    res.max_abs_err = err
    res.psnr_db = fid.psnr_vs_fp32.mean
    if res.psnr_db >= PSNR_CAP_DB:
        res.psnr_db = math.inf  # identical colorizations
    res.fidelity = fid.to_dict()
    res.check_images = fid.images
    if res.precision == "fp32" and err > FP32_MAX_ABS_ERR:
        res.ok, res.error = False, (f"quick check: fp32 output differs from Keras by {err:.2g} "
                                    f"(> {FP32_MAX_ABS_ERR:g})")
    elif res.psnr_db < MIN_PSNR_DB:
        res.ok, res.error = False, (f"quick check: PSNR {res.psnr_db:.1f} dB vs FP32 "
                                    f"(< {MIN_PSNR_DB:g} dB)")
    _store_check(res)


def _store_check(res: ArtifactResult) -> None:
    """Add the quick-check numbers to the manifest (the artifact's sha256 is unchanged)."""
    import json

    from edgecolor.imageio import atomic_write_bytes
    from edgecolor.manifest import manifest_path

    path = manifest_path(res.path)
    data = json.loads(path.read_text())
    data["quick_check"] = {"images": res.check_images, "max_abs_err": res.max_abs_err,
                           "psnr_db": None if math.isinf(res.psnr_db) else res.psnr_db,
                           "resolution": "full", "fidelity": res.fidelity, "ok": res.ok}
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def _trt_check(res: ArtifactResult, trt_version: str) -> None:
    """TensorRT readiness of an ONNX artifact (the ONNX half's checker, when installed)."""
    try:
        module = importlib.import_module("edgecolor.converters.trt_check")
    except ImportError:
        res.notes.append("TensorRT readiness check not available")
        return
    try:
        res.trt_problems = list(module.check_onnx(res.path, trt_version))
    except Exception as e:  # a checker crash is a finding, not a stop
        res.trt_problems = [f"check failed: {one_line(e)}"]
