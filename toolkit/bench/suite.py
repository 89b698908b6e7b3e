"""Benchmark every artifact in a folder: pick the FP32 reference, guard the eval set, measure
each artifact in its own process, and assemble the report dict (see :mod:`.report`).
"""

from __future__ import annotations

import importlib.util
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgecolor.bench import quality
from edgecolor.bench.context import host_context
from edgecolor.bench.job import BenchResult
from edgecolor.bench.marks import RANDOM_MARK, weights_source_of
from edgecolor.bench.measure import measure_in_subprocess
from edgecolor.manifest import ManifestError, find_artifacts, load_manifest, orphan_manifests

SCHEMA = "edgecolor.bench/1"
# eval photos with less mean chroma (Lab units) are gray: no color to score a colorization by
MIN_EVAL_CHROMA = 2.0


class BenchError(ValueError):
    """The benchmark cannot run as asked (no artifacts, no eval photos, calibration photos as
    eval set); the message names the folder and the fix.
    """


@dataclass
class BenchSettings:
    """How to measure. Times in ms; ``seconds`` (if set) replaces ``runs`` per timing."""

    images: list[Path]
    runs: int = 20
    warmup: int = 3
    seconds: float | None = None
    max_seconds: float | None = 10.0  # cap per timing for slow artifacts (>= 3 runs kept)
    threads: int | None = None
    runner: str | None = None
    device: str | None = None  # None: each runner's own default (see runtimes.base.Runner)
    # auto (Keras if it can be rebuilt, else the fp32 artifact) | keras | artifact | none
    reference: str = "auto"
    allow_overlap: bool = False
    metrics: str = "full"  # "fast": skip SSIM and CIEDE2000 (the slow ones)
    timeout_s: float = 900.0
    device_profile: dict | None = None  # DeviceProfile.to_dict() the settings came from
    argv: list[str] | None = None
    extra_context: dict = field(default_factory=dict)
    verbose: bool = False  # one line per detail (e.g. each eval photo that calibrated)
    gallery_dir: str | None = None  # report_files/ folder: save the report's pictures there
    video: str | None = None  # a clip: measure flicker on it (edgecolor.bench.flicker)

    def to_dict(self) -> dict:
        """The settings a report records."""
        return {"runs": self.runs, "warmup": self.warmup, "seconds": self.seconds,
                "max_seconds": self.max_seconds,
                "threads": self.threads, "runner": self.runner, "device": self.device,
                "reference": self.reference, "allow_overlap": self.allow_overlap,
                "metrics": self.metrics, "video": self.video}


def _tf_available() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


def _source(manifest: dict) -> dict:
    """What the artifact was converted from: weights, weights sha256, builder options.

    Reads the fields ``converters.run.convert_all`` writes (``weights``, ``model_options``;
    ``weights_sha256`` when recorded), top level first, then the ``converter`` section.
    """
    conv = manifest.get("converter") or {}

    def pick(*keys):
        for key in keys:
            for where in (manifest, conv):
                if where.get(key) is not None:
                    return where[key]
        return None

    return {"weights": pick("weights"), "weights_sha256": pick("weights_sha256"),
            "kwargs": pick("model_options", "model_kwargs") or {}}


def keras_recipe(manifest: dict) -> tuple[dict | None, str]:
    """Manifest -> (how to rebuild the Keras FP32 model, why not). The recipe is
    {model, spec, weights, kwargs}; None when the weights converted are not reproducible here
    (random init, a weights file that is gone or changed) or TensorFlow is missing.
    """
    from edgecolor.manifest import sha256_file

    if not _tf_available():
        return None, "TensorFlow is not installed"
    source = _source(manifest)
    weights = source["weights"]
    if not isinstance(manifest.get("model"), str) or not isinstance(source["kwargs"], dict) \
            or not isinstance(weights, str | None):
        return None, "the manifest does not say which model and weights (re-run convert)"
    if weights in (None, "", "none", "random", "random-init"):
        return None, "the converted model had random weights (not reproducible)"
    if weights == "default":
        from edgecolor.zoo import default_weights

        path = default_weights(manifest["model"])
        if path is None:
            return None, f"model {manifest['model']!r} ships no default weights"
        weights = str(path)
    if not Path(weights).is_file():
        return None, f"weights file {weights} is not here"
    if source["weights_sha256"] and sha256_file(weights) != source["weights_sha256"]:
        return None, f"weights file {weights} changed since conversion"
    return {"model": manifest["model"], "spec": manifest["spec"], "weights": str(weights),
            "kwargs": source["kwargs"]}, ""


def source_recipe(manifest: dict) -> tuple[dict | None, str]:
    """Manifest of an artifact converted from the user's own model file -> (how to load that
    source as the FP32 reference: path, contract, size; why not). None when the file is gone
    or changed since conversion (its sha256 is in the manifest)."""
    from edgecolor.sources import sha256_path

    src = manifest["source"]
    path = Path(src["path"])
    if not path.exists():
        return None, f"source {path} is not here"
    if sha256_path(path) != src["sha256"]:
        return None, f"source {path} changed since conversion"
    if src["format"] != "onnx" and not _tf_available():
        return None, "TensorFlow is not installed (the source is a Keras model)"
    return {"path": str(path), "contract": manifest["contract"],
            "size": list(manifest["spec"]["inputs"][0]["size"])}, ""


def _group_key(manifest: dict) -> str:
    return json.dumps([manifest.get("model"), manifest.get("spec"), _source(manifest)],
                      sort_keys=True)


def _eval_images(paths: list[Path], warn: Callable[[str], None]) -> dict[str, dict]:
    """Eval photo paths -> name -> {path, sha256, ahash}; unreadable photos are skipped, and
    photos without color (mean chroma < :data:`MIN_EVAL_CHROMA`) excluded with one line
    (BenchError when every readable photo is gray)."""
    from edgecolor.calibration.ahash import average_hash
    from edgecolor.color import chroma
    from edgecolor.imageio import ImageError, read_rgb

    images: dict[str, dict] = {}
    gray: list[str] = []
    for p in paths:
        try:
            rgb = read_rgb(p)
        except ImageError as e:
            warn(f"{e}; skipped")
            continue
        if chroma(rgb[::4, ::4]) < MIN_EVAL_CHROMA:
            gray.append(p.name)
            continue
        if p.name in images:
            warn(f"{p}: another eval photo is also named {p.name}; skipped")
            continue
        images[p.name] = {"path": str(p), "sha256": quality.image_sha256(p),
                          "ahash": average_hash(rgb)}
    if gray and not images:
        raise BenchError(f"all {len(gray)} eval photos are gray (mean chroma < "
                         f"{MIN_EVAL_CHROMA:g} Lab units, e.g. {gray[0]}): quality needs the "
                         "color originals; pass --images DIR with color photos")
    if gray:
        warn(f"warning: {len(gray)} eval photo(s) without color (mean chroma < "
             f"{MIN_EVAL_CHROMA:g} Lab units) excluded from quality: {', '.join(gray[:5])}"
             f"{', …' if len(gray) > 5 else ''}")
    return images


def _size_mb(artifact: Path, manifest: dict | None) -> float | None:
    names = list((manifest or {}).get("files") or {}) or [artifact.name]
    files = [artifact.parent / n for n in names]
    if not all(f.is_file() for f in files):
        return None
    return sum(f.stat().st_size for f in files) / 1e6


def _row_from_result(artifact: Path, manifest: dict | None, result: BenchResult | dict,
                     reference_rows: list[dict] | None, reference_label: str | None) -> dict:
    """Flatten a measurement (:class:`BenchResult`, or its dict) into a report row."""
    result = BenchResult.from_dict(result)
    m = manifest or {}
    row: dict = {
        "artifact": artifact.name,
        "model": m.get("model"),
        "format": m.get("format"),
        "precision": m.get("precision"),
        "status": result.status,
        "error": result.error,
        "size_mb": _size_mb(artifact, manifest),
        "sha256": (m.get("files") or {}).get(artifact.name),
        "runner": result.runner,
        "runner_reason": result.runner_reason,
        "reference": reference_label,
        "weights_source": weights_source_of(m),  # "random": speed only (bench.marks)
    }
    if m.get("quantization"):  # converted within a dPSNR budget (edgecolor.quant.budget)
        q = m["quantization"]
        row["budget"] = {"max_dpsnr": q.get("max_dpsnr"), "strategy": q.get("strategy"),
                         "dpsnr": (q.get("validation") or {}).get("dpsnr")}
    if row["status"] != "ok":
        return row
    model_ms, e2e_ms = result.model_ms, result.e2e_ms
    row.update({
        "load_ms": result.load_ms,
        "first_ms": result.first_ms,
        "ait_ms": model_ms["mean"],
        "median_ms": model_ms["median"],
        "p90_ms": model_ms["p90"],
        "p99_ms": model_ms["p99"],
        "min_ms": model_ms["min"],
        "std_ms": model_ms["std"],
        "fps": model_ms["fps"],
        "e2e_ms": e2e_ms["median"],
        "e2e_fps": e2e_ms["fps"],
        "model_timing": model_ms,
        "e2e_timing": e2e_ms,
        "e2e_image": result.e2e_image,
        "rss_base_mb": result.rss_base_mb,
        "peak_load_mb": result.peak_load_mb,
        "peak_run_mb": result.peak_run_mb,
        "peak_mb": result.peak_mb,
        "gallery": result.gallery,  # the report's pictures (edgecolor.bench.gallery)
        "flicker": result.flicker,  # on --video (edgecolor.bench.flicker)
    })
    per_image = result.per_image
    if reference_rows is not None:
        per_image = quality.add_reference(per_image, reference_rows)
    summary = quality.summarize_quality(per_image)
    row["n_images"] = summary.pop("n_images")
    row["worst"] = summary.pop("worst")
    row.update(summary)
    row["per_image"] = per_image
    return row


def _reference_candidates(members: list[tuple[Path, dict]],
                          mode: str) -> tuple[list[tuple[dict, str]], str]:
    """Artifacts of one model -> ([(reference job, description)] to try in order, why none).

    auto: the Keras model rebuilt from the manifest, then the fp32 artifact (first format of
    the table); keras / artifact: only that one; none: nothing.
    """
    first = members[0][1]
    candidates: list[tuple[dict, str]] = []
    why_not = "reference disabled (--reference none)" if mode == "none" else ""
    if mode in ("auto", "keras") and first.get("source"):  # the user's own model file
        recipe, why_not = source_recipe(first)
        if recipe is not None:
            candidates.append(({"kind": "source", "source": recipe},
                               f"FP32 source {first['source']['name']}"))
    elif mode in ("auto", "keras"):
        recipe, why_not = keras_recipe(first)
        if recipe is not None:
            candidates.append(({"kind": "keras", "keras": recipe},
                               f"Keras FP32 model {first['model']}"))
    if mode in ("auto", "artifact"):
        from edgecolor.formats import FORMATS

        order = {name: i for i, name in enumerate(FORMATS)}
        fp32 = [p for p, m in sorted(members, key=lambda pm: order.get(pm[1].get("format"), 99))
                if m.get("precision") == "fp32"]
        if fp32:
            note = f" (Keras not used: {why_not})" if mode == "auto" and why_not else ""
            candidates.append(({"kind": "artifact", "artifact": str(fp32[0])},
                               f"FP32 artifact {fp32[0].name}{note}"))
        else:
            why_not = f"{why_not}; no fp32 artifact in the folder".lstrip("; ")
    return candidates, f"no FP32 reference: {why_not}"


@dataclass
class _Reference:
    """The FP32 reference of one group of artifacts (same model, spec and weights)."""

    label: str
    npz: str | None = None  # its outputs per eval photo (float RGB), for PSNR vs FP32
    per_image: list[dict] | None = None  # its scores, for dPSNR
    kind: str | None = None  # "keras" | "artifact" | None (no reference)
    row: dict | None = None  # the Keras reference's own row
    measured: dict = field(default_factory=dict)  # artifact name -> result (ok or failed)


def _measure_reference(members: list[tuple[Path, dict]], npz: str, base_job: dict,
                       settings: BenchSettings, progress: Callable[[str], None],
                       measure: Callable[[dict, float], dict] = measure_in_subprocess
                       ) -> _Reference:
    """Try the group's reference candidates in order -> the first that measures, or none."""
    candidates, why_none = _reference_candidates(members, settings.reference)
    ref = _Reference(label=why_none)
    failures = []
    for job, label in candidates:
        progress(f"reference: {label} ...")
        name = Path(job["artifact"]).name if job["kind"] == "artifact" else Path(npz).stem
        result = measure({**base_job, **job, "save_outputs": npz,
                          **_gallery_job(settings, name)}, settings.timeout_s)
        if job["kind"] == "artifact":
            ref.measured[Path(job["artifact"]).name] = result
        if result.get("status") != "ok":
            failures.append(f"{label} failed ({result.get('error')})")
            continue
        ref.label = label + (f" ({'; '.join(failures)})" if failures else "")
        ref.npz, ref.kind, ref.per_image = npz, job["kind"], result.get("per_image") or []
        if ref.kind in ("keras", "source"):
            model = members[0][1].get("model")
            fmt = "keras" if ref.kind == "keras" else "source"
            ref.row = _row_from_result(
                Path(fmt), {"model": model, "format": fmt, "precision": "fp32"},
                _as_own_reference(result), ref.per_image, ref.label)
            ref.row["artifact"] = (f"{model} (Keras FP32 reference)" if fmt == "keras" else
                                   f"{members[0][1]['source']['name']} (FP32 source reference)")
            ref.row.pop("per_image", None)
        return ref
    if failures:
        ref.label = f"no FP32 reference: {'; '.join(failures)}"
    return ref


def _guard_eval_set(images: dict[str, dict], manifests: dict[str, dict | None],
                    allow_overlap: bool, warn: Callable[[str], None], verbose: bool = False):
    """Drop eval photos that calibrated an artifact (or keep them, loudly, with
    ``allow_overlap``) -> (photos to score, overlaps). BenchError when none would be left.
    One summary line with the count; ``verbose``: also one line per photo and artifact.
    """
    overlaps = quality.calibration_overlap(
        images, {k: v for k, v in manifests.items() if v is not None})
    overlapping = sorted({o.image for o in overlaps})
    if verbose:
        for o in overlaps:
            warn(f"warning: eval photo {o.image} was used to calibrate {o.artifact} "
                 f"(match by {o.how})")
    if overlapping and allow_overlap:
        warn(f"warning: {len(overlapping)} eval photo(s) were calibration photos of "
             f"{len({o.artifact for o in overlaps})} artifact(s); kept (--allow-overlap), "
             "marked in the report" + ("" if verbose else " (-v lists them)"))
    if not overlapping or allow_overlap:
        return images, overlaps
    keep = {k: v for k, v in images.items() if k not in overlapping}
    if not keep:
        raise BenchError(
            f"all {len(images)} eval photos were used for calibration (e.g. "
            f"{overlapping[0]}); pass --images with eval-role photos never used for "
            "calibration, or --allow-overlap to measure anyway (the report marks it)")
    warn(f"warning: {len(overlapping)} eval photo(s) excluded from quality as calibration "
         f"photos of {len({o.artifact for o in overlaps})} artifact(s); {len(keep)} left "
         "(--allow-overlap keeps them, marked in the report"
         + (")" if verbose else "; -v lists them)"))
    return keep, overlaps


def _measure_alternatives(alternatives: list[dict], refs: dict[str, _Reference],
                          manifests: dict[str, dict | None], base_job: dict,
                          settings: BenchSettings, progress: Callable[[str], None],
                          measure: Callable[[dict, float], dict] = measure_in_subprocess
                          ) -> list[dict]:
    """Measure the plain alternatives against the reference of the artifact they resemble."""
    rows = []
    for alt in alternatives:
        ref = refs.get(alt.get("like")) or _Reference(label="no FP32 reference")
        progress(f"alternative: {alt['label']} ...")
        result = measure({**base_job, **alt["job"], "reference": ref.npz}, settings.timeout_s)
        like = manifests.get(alt.get("like")) or {}
        row = _row_from_result(Path(alt["label"]),
                               {"model": like.get("model"), "precision": "fp32",
                                "format": alt["job"].get("runner") or alt["job"]["kind"]},
                               result, ref.per_image, ref.label)
        row.update(artifact=alt["label"], alternative=True, size_mb=None, sha256=None)
        rows.append(row)
        progress(_progress_line(len(rows), len(alternatives), row))
    return rows


def bench_folder(folder: str | Path, settings: BenchSettings,
                 progress: Callable[[str], None] = print,
                 warn: Callable[[str], None] = print, only: list[str] | None = None,
                 alternatives: list[dict] | None = None,
                 measure: Callable[[dict, float], dict] | None = None,
                 measure_reference: Callable[[dict, float], dict] | None = None) -> dict:
    """Measure every artifact in ``folder`` (or those named in ``only``) -> the report dict
    (schema :data:`SCHEMA`).

    alternatives: plain ways to run the model, measured the same way and reported under
    "alternatives": each {"label", "job" (measure job keys: kind, artifact, runner, threads,
    keras, alt), "like" (an artifact whose FP32 reference to compare with)}.

    measure / measure_reference: (job dict, timeout s) -> result dict, for the artifacts and
    for the FP32 reference (default: :func:`measure_in_subprocess` here). With ``measure``
    given (another machine), an artifact that served as the reference is measured again by it.

    Raises :class:`BenchError` when there is nothing to measure or every eval photo was a
    calibration photo. A failing artifact becomes a row with status "failed" and a reason.
    """
    run_on = measure or measure_in_subprocess
    folder = Path(folder)
    if not folder.is_dir():
        raise BenchError(f"{folder}: no such folder (pass the folder `edgecolor convert` wrote)")
    artifacts = [a for a in find_artifacts(folder) if only is None or a.name in only]
    # a manifest whose model file is gone: a missing artifact (its own ❌ row), not a
    # missing manifest
    orphans = [a for a in orphan_manifests(folder) if only is None or a.name in only]
    if not artifacts:
        gone = f" ({len(orphans)} manifest(s) whose model file is missing, e.g. " \
            f"{orphans[0].name})" if orphans else ""
        raise BenchError(f"{folder}: no artifacts (model files with a .json manifest beside "
                         f"them){gone}; make some with `edgecolor convert ... -o FOLDER`")
    manifests: dict[str, dict | None] = {}
    manifest_errors: dict[str, str] = {}
    for a in artifacts:
        try:
            manifests[a.name] = load_manifest(a, verify=False)
        except ManifestError as e:
            manifests[a.name] = None
            manifest_errors[a.name] = str(e).splitlines()[0]

    images = _eval_images(list(settings.images), warn)
    if not images:
        raise BenchError("no readable eval photos (pass --images DIR with color photos that "
                         "were not used for training or calibration)")
    images, overlaps = _guard_eval_set(images, manifests, settings.allow_overlap, warn,
                                       settings.verbose)
    if settings.metrics == "full" and not quality.have_skimage():
        warn("warning: SSIM and CIEDE2000 need scikit-image (pip install 'edgecolor[metrics]'); "
             "left empty")
    quality_paths = [v["path"] for v in images.values()]
    base_job = {"images": quality_paths, "e2e_image": quality_paths[0],
                "runs": settings.runs, "warmup": settings.warmup, "seconds": settings.seconds,
                "budget_s": settings.max_seconds, "threads": settings.threads,
                "runner": settings.runner, "device": settings.device,
                "metrics": settings.metrics, "video": settings.video}
    photos = None
    if settings.gallery_dir:  # originals and gray inputs for the report's picture grids
        from edgecolor.bench.gallery import save_photos

        photos = save_photos(images, settings.gallery_dir)

    groups: dict[str, list[tuple[Path, dict]]] = {}
    for a in artifacts:
        if manifests[a.name] is not None:
            groups.setdefault(_group_key(manifests[a.name]), []).append((a, manifests[a.name]))

    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="edgecolor-ref-") as tmp:
        refs: dict[str, _Reference] = {}  # artifact name -> its group's reference
        references = []
        for gi, members in enumerate(groups.values()):
            ref = _measure_reference(members, str(Path(tmp) / f"ref{gi}.npz"), base_job,
                                     settings, progress,
                                     measure_reference or measure_in_subprocess)
            if ref.per_image is None:
                warn(f"warning: {ref.label}; PSNR vs FP32 and dPSNR are left empty")
            references.append({"source": ref.label, "kind": ref.kind, "row": ref.row,
                               "artifacts": [p.name for p, _ in members]})
            refs.update({p.name: ref for p, _ in members})

        for done, a in enumerate(artifacts, 1):
            ref = refs.get(a.name) or _Reference(label="")
            if a.name in manifest_errors:
                result = {"status": "failed", "error": manifest_errors[a.name]}
            elif a.name in ref.measured and measure is None:  # measured as the reference
                result = ref.measured[a.name]
                if result.get("status") == "ok":
                    result = _as_own_reference(result)
            else:
                result = run_on(
                    {**base_job, "kind": "artifact", "artifact": str(a), "reference": ref.npz,
                     **_gallery_job(settings, a.name)}, settings.timeout_s)
            rows[a.name] = _row_from_result(a, manifests[a.name], result, ref.per_image,
                                            ref.label or None)
            progress(_progress_line(done, len(artifacts), rows[a.name]))
        alt_rows = _measure_alternatives(alternatives or [], refs, manifests, base_job,
                                         settings, progress, run_on)

    context = host_context(settings.threads, settings.device_profile, settings.argv)
    context.update(settings.extra_context)
    context["artifacts"] = {a.name: (manifests[a.name] or {}).get("files") for a in artifacts}
    return {
        "schema": SCHEMA,
        "folder": str(folder),
        "context": context,
        "settings": settings.to_dict(),
        "images": {"used": list(images), "n": len(images),
                   "overlap": [o.__dict__ for o in overlaps],
                   "overlap_kept": bool(overlaps) and settings.allow_overlap},
        "references": references,
        "rows": [rows[a.name] for a in artifacts] + [
            {"artifact": a.name, "status": "failed",
             "error": f"{a}: artifact file missing (its manifest {a.with_suffix('.json').name} "
                      "is here); re-run `edgecolor convert` or remove the manifest"}
            for a in orphans],
        "alternatives": alt_rows,
        **({"gallery": {"photos": photos}} if photos is not None else {}),
    }


def _gallery_job(settings: BenchSettings, name: str) -> dict:
    """Measure-job keys that make the child save its pictures as ``report_files/<name>/``."""
    return {"gallery": {"root": settings.gallery_dir, "name": name}} if settings.gallery_dir \
        else {}


def _as_own_reference(result: dict) -> dict:
    """A reference's own result: its outputs are the FP32 outputs (PSNR vs FP32 = the cap)."""
    result = dict(result)
    result["per_image"] = [{**r, "psnr_vs_fp32_db": quality.PSNR_CAP_DB}
                           for r in result.get("per_image") or []]
    return result


def _progress_line(done: int, total: int, row: dict) -> str:
    head = f"[{done}/{total}] {row['artifact']}"
    if row["status"] != "ok":
        return f"{head}: ❌ {row['error']}"
    bits = [f"AIT {row['ait_ms']:.2f} ms"]
    if row.get("weights_source") == "random":
        return f"{head}: " + ", ".join(bits + [RANDOM_MARK])
    if row.get("psnr_db") is not None:
        bits.append(f"PSNR {row['psnr_db']:.2f} dB")
    if row.get("dpsnr_db") is not None:
        bits.append(f"dPSNR {row['dpsnr_db']:+.3f} dB")
    return f"{head}: " + ", ".join(bits)
