"""Host side of the lane: each artifact's x86 output and the Keras FP32 output on fixed photos.

For every artifact in a folder, ``write_references`` runs it on the host with its own runner
on the L planes of a few real photos (the bundled eval samples by default) and saves, beside
it, ``<artifact stem>.ref.npz``:

- ``images``: photo names; ``l``: (N, H, W) float32 L planes, 0..100, full resolution;
- ``input_<k>``: (N, 1, h, w, c) float32 network inputs (``spec.make_inputs``), input k;
- ``output``: (N, ...) float32 raw outputs of the artifact on this host;
- ``keras``: (N, ...) float32 raw outputs of the Keras FP32 model the artifact was made from
  (absent when the manifest's weights cannot be rebuilt, e.g. random init);
- ``output_tflite_runtime``: (.tflite only, when a host tflite-runtime folder is given) the
  outputs of tflite-runtime 2.14 on this host: the board's tflite-runtime runs are compared
  with these (its int8 kernels round differently from LiteRT's on every CPU);
- ``meta``: JSON (artifact, its sha256, format, precision, runner, the library behind each
  ``output*`` array, host, output step, per-photo PSNR of each host output vs Keras).

The emulated (or real) board then runs the same artifact on the same inputs and compares:
see :mod:`edgecolor.devices.emulate.agreement`. TensorFlow is imported only to rebuild the
Keras model, inside :func:`keras_outputs`.
"""

from __future__ import annotations

import io
import json
import os
import platform
from pathlib import Path

import numpy as np

from edgecolor.devices.emulate.agreement import REF_SUFFIX, colorized_psnr, output_step, ref_path
from edgecolor.manifest import find_artifacts, load_manifest
from edgecolor.spec import ModelSpec


def photo_planes(images: list[Path]) -> tuple[list[str], np.ndarray]:
    """Photo files -> (names, (N, H, W) float32 L planes in 0..100). Same size required."""
    from edgecolor.color import GrayImage
    from edgecolor.imageio import read_image

    planes = [GrayImage.from_array(read_image(p)).l for p in images]
    shapes = {p.shape for p in planes}
    if len(shapes) != 1:
        raise ValueError(f"reference photos differ in size ({sorted(shapes)}); pass photos of "
                         "one size (the bundled eval samples are all 256x256)")
    return [Path(p).name for p in images], np.stack(planes).astype(np.float32)


def keras_outputs(manifest: dict, inputs: list[list[np.ndarray]]) -> np.ndarray | None:
    """Rebuild the artifact's Keras FP32 model from its manifest (model, weights, options)
    and run it -> (N, ...) raw outputs, or None when the weights are not reproducible.
    """
    weights = manifest.get("weights")
    if not manifest.get("model") or weights in (None, "random-init") or not Path(
            weights).is_file():
        return None
    from edgecolor.runtimes.keras import KerasRunner
    from edgecolor.zoo import create_model

    spec = ModelSpec.from_dict(manifest["spec"])
    model, _ = create_model(manifest["model"], input_size=spec.input_size, weights=weights,
                            batch_size=1, **manifest.get("model_options", {}))
    runner = KerasRunner.from_model(model, spec)
    return np.stack([runner.infer(xs) for xs in inputs])


def tflite_runtime_outputs(artifact: Path, spec: ModelSpec, inputs: list[list[np.ndarray]],
                           site: Path) -> tuple[np.ndarray, str]:
    """Run a .tflite with the host tflite-runtime in ``site`` (a subprocess: it needs
    numpy < 2) -> ((N, ...) outputs, its version). RuntimeError with its stderr on failure.
    """
    import subprocess
    import sys
    import tempfile

    version = next((d.name.split("-")[1] for d in site.glob("tflite_runtime-*.dist-info")), "?")
    with tempfile.TemporaryDirectory() as tmp:
        ins, out = Path(tmp) / "inputs.npz", Path(tmp) / "out.npy"
        np.savez(ins, **{f"input_{k}": np.stack([xs[k] for xs in inputs])
                         for k in range(len(spec.inputs))})
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(site)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
        proc = subprocess.run(
            [sys.executable, "-m", "edgecolor.devices.emulate.tflite_runtime_ref", str(artifact),
             str(ins), str(out), *[i.name for i in spec.inputs]],
            capture_output=True, text=True, env=env)
        if proc.returncode != 0 or not out.is_file():
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"tflite-runtime on the host failed: {tail}")
        return np.load(out), version


def write_reference(artifact: Path, names: list[str], planes: np.ndarray,
                    keras_cache: dict | None = None, threads: int | None = None,
                    tflite_runtime_site: Path | None = None) -> Path:
    """Run ``artifact`` on this host on the L ``planes`` -> path of its ``.ref.npz``.

    ``keras_cache`` (optional dict) reuses the Keras outputs of artifacts that share a model;
    ``tflite_runtime_site``: a folder with tflite-runtime + numpy < 2 for this host (adds
    ``output_tflite_runtime`` to .tflite references).
    """
    from edgecolor.devices.emulate.agreement import backend_of, runtime_precision
    from edgecolor.imageio import atomic_write_bytes
    from edgecolor.runtimes import load_runner

    manifest = load_manifest(artifact)
    spec = ModelSpec.from_dict(manifest["spec"])
    inputs = [spec.make_inputs(l) for l in planes]
    runner = load_runner(artifact, threads=threads)
    with runner:
        outputs = np.stack([runner.infer(xs) for xs in inputs])
        precision = runtime_precision(runner)
    backend = backend_of(manifest.get("format", ""))
    key = json.dumps([manifest.get("model"), manifest.get("weights"),
                      manifest.get("model_options"), manifest["spec"]], sort_keys=True)
    cache = keras_cache if keras_cache is not None else {}
    if key not in cache:
        cache[key] = keras_outputs(manifest, inputs)
    keras = cache[key]
    host_outputs = {"output": outputs}
    meta = {
        "artifact": artifact.name,
        "sha256": manifest.get("files", {}).get(artifact.name),
        "format": manifest.get("format"),
        "precision": manifest.get("precision"),
        "runner": runner.name,
        "backends": {"output": backend},
        "inference_precision": {"output": precision},
        "host": {"machine": platform.machine(), "platform": platform.platform(),
                 "cores": os.cpu_count(), "int8_dot": _host_int8_dot()},
        "output_step": output_step(manifest, outputs),
        "keras": keras is not None,
    }
    if tflite_runtime_site is not None and artifact.suffix == ".tflite":
        host_outputs["output_tflite_runtime"], version = tflite_runtime_outputs(
            artifact, spec, inputs, tflite_runtime_site)
        meta["backends"]["output_tflite_runtime"] = f"tflite_runtime {version}"
    if keras is not None:
        meta["host_psnr_vs_keras_db"] = {
            key: [colorized_psnr(spec, l, y, k) for l, y, k in zip(planes, ys, keras,
                                                                    strict=True)]
            for key, ys in host_outputs.items()}
    arrays = {"images": np.array(names), "l": planes, "meta": np.array(json.dumps(meta))}
    arrays.update({key: ys.astype(np.float32) for key, ys in host_outputs.items()})
    for k in range(len(spec.inputs)):
        arrays[f"input_{k}"] = np.stack([xs[k] for xs in inputs]).astype(np.float32)
    if keras is not None:
        arrays["keras"] = keras.astype(np.float32)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    path = ref_path(artifact)
    atomic_write_bytes(path, buf.getvalue())
    return path


def write_references(folder: Path, images: list[Path], threads: int | None = None,
                     warn=print, tflite_runtime_site: Path | None = None) -> list[Path]:
    """A ``.ref.npz`` for every artifact in ``folder`` -> their paths.

    An artifact that fails on this host is reported through ``warn`` and skipped (the others
    go on); ValueError when the folder has no artifact.
    """
    artifacts = find_artifacts(folder)
    if not artifacts:
        raise ValueError(f"{folder}: no artifacts (files with a manifest .json beside them); "
                         "convert some first (edgecolor convert ... -o DIR)")
    names, planes = photo_planes(images)
    cache: dict = {}
    written = []
    for artifact in artifacts:
        try:
            written.append(write_reference(artifact, names, planes, cache, threads,
                                           tflite_runtime_site))
        except Exception as e:  # one failing artifact must not stop the others
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            warn(f"{artifact.name}: no reference ({type(e).__name__}: {first})")
    return written


__all__ = ["REF_SUFFIX", "photo_planes", "keras_outputs", "write_reference",
           "write_references"]


# x86 instructions with an exact int8 dot product; without them (AVX2 only) ONNX Runtime's and
# OpenVINO's u8 x s8 kernels add pairs with vpmaddubsw, which saturates at int16
_INT8_DOT_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def _host_int8_dot() -> bool:
    """True unless this is an x86 CPU without VNNI/AMX (ARM's sdot/udot never saturate)."""
    from edgecolor.host import cpu_flags, read_cpuinfo

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return True
    return any(f in cpu_flags(read_cpuinfo()) for f in _INT8_DOT_FLAGS)
