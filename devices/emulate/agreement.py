"""Device side of the lane: does an artifact give on this board what it gave on the x86 host?

Reads ``<artifact stem>.ref.npz`` (written on the host by
:mod:`edgecolor.devices.emulate.reference`), runs the artifact with its runner on the same
network inputs and compares the raw outputs with the host output of the same library
(LiteRT with LiteRT, tflite-runtime with tflite-runtime: their int8 kernels round differently
on every CPU, so comparing across them would blame the board for a version difference):

- float artifacts (fp32, fp16): max |arm - x86| <= 1e-4 (raw output units);
- quantized artifacts (int8, int8-cpu, int16x8, dynamic): equal or within one output
  quantization step (the output tensor's scale when it is quantized, else the host output's
  range / 255, one int8 level of it). Where a runtime's ARM and x86 kernels requantize with
  different rounding (tflite-runtime 2.14: a hidden activation now and then lands one level
  apart and the difference grows through the next layers), a few values may be further off:
  accepted, and shown, while at least ``MIN_WITHIN_STEP`` of the values are within one step
  and none is more than ``MAX_STEPS`` steps away;
- where the runtime itself chose another arithmetic on the board than on x86 (OpenVINO runs
  non-fp32 IRs in f16 on fp16-capable ARM cores such as the Pi 5's Cortex-A76, in bf16 or
  f32 on x86), raw outputs that differ beyond the rule are reported with both precisions and
  judged by the PSNR rule alone;
- the colorized photo vs the Keras FP32 colorization: PSNR >= the precision's floor and no
  more than ``PSNR_SLACK_DB`` below what the host's output reached.

Also checks that this board's preprocessing (``spec.make_inputs`` on the stored L) matches the
host's. NumPy and OpenCV only: no TensorFlow on the device.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edgecolor.metrics import PSNR_CAP_DB  # identical images: a finite number (one constant)
from edgecolor.spec import ModelSpec

REF_SUFFIX = ".ref.npz"
FLOAT_ATOL = 1e-4  # raw output units (tanh output: -1..1)
INPUT_ATOL = 1e-5  # normalized input units
QUANTIZED = ("int8", "int8-cpu", "int16x8", "dynamic")
MIN_WITHIN_STEP = 0.995  # fraction of quantized output values within one step of the host's
MAX_STEPS = 8  # no quantized output value further than this many steps from the host's
# PSNR (dB) of the colorized photo vs the Keras FP32 one that each precision must keep
PSNR_FLOOR_DB = {"fp32": 60.0, "fp16": 45.0, "dynamic": 30.0, "int16x8": 30.0,
                 "int8": 25.0, "int8-cpu": 25.0}
PSNR_SLACK_DB = 0.5  # how far below the host's own PSNR vs Keras the board may fall


def ref_path(artifact: str | Path) -> Path:
    """``dir/baseline-tflite-int8.tflite`` -> ``dir/baseline-tflite-int8.ref.npz``."""
    p = Path(artifact)
    return p.with_name(p.stem + REF_SUFFIX)


def output_step(manifest: dict, outputs: np.ndarray) -> float | None:
    """One quantization step of the artifact's output (raw units), None for float artifacts.

    The output tensor's scale when the manifest records one; else, for quantized precisions,
    the range of ``outputs`` / 255.
    """
    recs = manifest.get("outputs") or [{}]
    quant = recs[0].get("quant") if isinstance(recs[0], dict) else None
    if quant and quant.get("scale"):
        return float(quant["scale"])
    if manifest.get("precision") in QUANTIZED:
        span = float(np.max(outputs) - np.min(outputs))
        return span / 255.0 if span > 0 else None
    return None


def colorized_psnr(spec: ModelSpec, l: np.ndarray, y: np.ndarray, ref: np.ndarray) -> float:
    """L (H, W) 0..100 + two raw outputs -> PSNR in dB (8-bit RGB, capped) of the two
    colorized photos (:func:`edgecolor.fidelity.image_fidelity`, the one scorer).
    """
    from edgecolor.color import combine
    from edgecolor.fidelity import image_fidelity

    return image_fidelity(combine(l, spec.decode(y)), combine(l, spec.decode(ref)),
                          colors=False)["psnr_vs_fp32"]


@dataclass
class Reference:
    """The host's record for one artifact (see edgecolor.devices.emulate.reference)."""

    names: list[str]
    l: np.ndarray
    inputs: list[np.ndarray]  # one (N, 1, h, w, c) array per network input
    outputs: dict[str, np.ndarray]  # "output" (the host's runner), "output_tflite_runtime"
    keras: np.ndarray | None
    meta: dict

    @classmethod
    def load(cls, path: str | Path) -> Reference:
        """Read a ``.ref.npz``; ValueError naming the file when it is not one."""
        try:
            with np.load(path, allow_pickle=False) as z:
                keys = set(z.files)
                inputs = [z[f"input_{k}"] for k in range(sum(k.startswith("input_")
                                                             for k in keys))]
                outputs = {k: z[k] for k in sorted(keys) if k.startswith("output")}
                return cls([str(n) for n in z["images"]], z["l"], inputs, outputs,
                           z["keras"] if "keras" in keys else None, json.loads(str(z["meta"])))
        except (OSError, KeyError, ValueError) as e:
            raise ValueError(f"{path}: not a reference .npz ({e}); re-create it on the host "
                             "(python -m edgecolor.devices.emulate refs DIR)") from e

    def output_for(self, backend: str) -> str | None:
        """Key of the host output made by the same library as ``backend`` ("tflite_runtime
        2.14.0" -> "output_tflite_runtime"), or None when the host did not run it.
        """
        lib = backend.split(" ")[0]
        for key, host_backend in (self.meta.get("backends") or {}).items():
            if host_backend.split(" ")[0] == lib and key in self.outputs:
                return key
        if lib == "tflite_runtime":
            return None  # its int8 rounding differs from LiteRT's: never compare across
        return "output"


@dataclass
class Agreement:
    """One artifact's verdict on this board."""

    artifact: str
    format: str
    precision: str
    runner: str = ""
    backend: str = ""  # library (and version) that ran it on this board
    reference: str = ""  # library that made the host output it is compared with
    inference_precision: str = ""  # where the runtime picks it: "board (x86: host)"
    images: int = 0
    max_abs_diff: float = math.nan  # board vs host, raw output
    tolerance: float = math.nan
    equal_fraction: float = math.nan  # outputs bit-identical to the host's
    within_step_fraction: float = math.nan  # outputs within the tolerance of the host's
    max_steps: float | None = None  # quantized: max |board - host| in output steps
    input_max_diff: float = math.nan  # board's preprocessing vs host's
    psnr_vs_keras_db: float | None = None  # worst photo, board output vs Keras FP32
    host_psnr_vs_keras_db: float | None = None  # worst photo, host output vs Keras FP32
    psnr_floor_db: float | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        """JSON-ready record."""
        return {**asdict(self), "ok": self.ok}


def tolerance(precision: str, step: float | None) -> float:
    """Allowed max |board - host| on the raw output for a precision (see module doc)."""
    if precision in QUANTIZED and step:
        return float(step) * (1.0 + 1e-3)  # float rounding of the dequantized values
    return FLOAT_ATOL


def backend_of(fmt: str) -> str:
    """Which library ran a format here (the TFLite runner picks one of several)."""
    from importlib import metadata

    candidates = {"tflite": ("tflite_runtime", "ai_edge_litert", "tensorflow"),
                  "openvino": ("openvino",), "onnx": ("onnxruntime",)}.get(fmt, ())
    dists = {"tflite_runtime": "tflite-runtime", "ai_edge_litert": "ai-edge-litert"}
    for module in candidates:
        if module in sys.modules:
            try:
                return f"{module} {metadata.version(dists.get(module, module))}"
            except metadata.PackageNotFoundError:
                return module
    return ""


def runtime_precision(runner) -> str | None:
    """The arithmetic a loaded runner computes in, where the runtime chooses it (OpenVINO's
    inference precision: "f32", "f16", "bf16"), else None.
    """
    value = getattr(runner, "inference_precision", None)
    compiled = getattr(runner, "_compiled", None)  # OpenVINORunner's compiled model
    if value is None and compiled is not None:
        try:
            value = compiled.get_property("INFERENCE_PRECISION_HINT")
        except Exception:  # a device without the property
            return None
    if value is None:
        return None
    return value.get_type_name() if hasattr(value, "get_type_name") else str(value)


# formats whose x86 int8 kernels saturate on CPUs without VNNI (the board's never do)
SATURATING_X86_FORMATS = ("onnx", "openvino")


def check_artifact(artifact: str | Path, threads: int | None = 1,
                   runner: str | None = None) -> Agreement:
    """Run ``artifact`` here on its reference inputs -> :class:`Agreement`.

    Raises ValueError when the reference file is missing or unreadable, ManifestError /
    RuntimeMissing as ``load_runner`` does.
    """
    from edgecolor.manifest import load_manifest
    from edgecolor.runtimes import load_runner

    artifact = Path(artifact)
    rp = ref_path(artifact)
    if not rp.is_file():
        raise ValueError(f"{rp}: reference missing; create it on the host "
                         "(python -m edgecolor.devices.emulate refs DIR)")
    ref = Reference.load(rp)
    manifest = load_manifest(artifact)
    spec = ModelSpec.from_dict(manifest["spec"])
    precision = manifest.get("precision", "")
    res = Agreement(artifact.name, manifest.get("format", ""), precision, images=len(ref.names))
    if ref.meta.get("sha256") != manifest.get("files", {}).get(artifact.name):
        res.problems.append("reference was made for another build of this artifact "
                            "(sha256 differs): re-create it")
        return res
    run = load_runner(artifact, runner=runner, threads=threads)
    res.runner = run.name
    with run:
        outputs = np.stack([run.infer([x[i] for x in ref.inputs])
                            for i in range(len(ref.names))])
        board_precision = runtime_precision(run)
    res.backend = backend_of(res.format)
    key = ref.output_for(res.backend)
    if key is None:
        res.problems.append(f"no x86 output of {res.backend} in {rp.name} (make the "
                            "references with --tflite-runtime)")
        return res
    host_out = ref.outputs[key]
    res.reference = (ref.meta.get("backends") or {}).get(key, key)
    host_precision = (ref.meta.get("inference_precision") or {}).get(key)
    if board_precision or host_precision:
        res.inference_precision = f"{board_precision} (x86: {host_precision})"
    own_inputs = [spec.make_inputs(l) for l in ref.l]
    res.input_max_diff = max(float(np.max(np.abs(own[k] - ref.inputs[k][i])))
                             for i, own in enumerate(own_inputs) for k in range(len(own)))
    if res.input_max_diff > INPUT_ATOL:
        res.problems.append(f"preprocessing differs from the host by {res.input_max_diff:.3g}")
    if outputs.shape != host_out.shape:
        res.problems.append(f"output shape {outputs.shape} != host {host_out.shape}")
        return res
    diff = np.abs(outputs.astype(np.float64) - host_out)
    res.max_abs_diff = float(diff.max())
    res.equal_fraction = float(np.mean(diff == 0))
    step = ref.meta.get("output_step")
    res.tolerance = tolerance(precision, step)
    res.within_step_fraction = float(np.mean(diff <= res.tolerance))
    quantized = precision in QUANTIZED and bool(step)
    if quantized:
        res.max_steps = res.max_abs_diff / float(step)
    if res.max_abs_diff > res.tolerance:
        if (quantized and res.within_step_fraction >= MIN_WITHIN_STEP
                and res.max_steps <= MAX_STEPS):
            res.notes.append(f"{1 - res.within_step_fraction:.2%} of values > 1 step from the "
                             f"host (max {res.max_steps:.1f} steps): kernels round differently")
        elif (quantized and res.format in SATURATING_X86_FORMATS
              and (ref.meta.get("host") or {}).get("int8_dot") is False):
            res.notes.append(f"the x86 reference CPU has no VNNI: its {res.format} int8 kernels "
                             "saturate u8 x s8 pairs (vpmaddubsw), the board's do not; "
                             f"differs by {res.max_abs_diff:.3g}, judged by PSNR")
        elif board_precision and host_precision and board_precision != host_precision:
            res.notes.append(f"{res.backend} computes in {board_precision} here, "
                             f"{host_precision} on x86: differs by {res.max_abs_diff:.3g}; "
                             "judged by PSNR")
        else:
            res.problems.append(
                f"output differs from the host by {res.max_abs_diff:.3g} (> {res.tolerance:.3g}"
                f"; {res.within_step_fraction:.2%} within it)")
    if ref.keras is not None:
        psnrs = [colorized_psnr(spec, l, y, k)
                 for l, y, k in zip(ref.l, outputs, ref.keras, strict=True)]
        res.psnr_vs_keras_db = min(psnrs)
        host = (ref.meta.get("host_psnr_vs_keras_db") or {}).get(key) or []
        res.host_psnr_vs_keras_db = min(host) if host else None
        res.psnr_floor_db = PSNR_FLOOR_DB.get(precision, 25.0)
        if res.host_psnr_vs_keras_db is not None:
            res.psnr_floor_db = max(res.psnr_floor_db,
                                    min(res.host_psnr_vs_keras_db, PSNR_CAP_DB) - PSNR_SLACK_DB)
        if res.psnr_vs_keras_db < res.psnr_floor_db:
            res.problems.append(f"PSNR vs Keras FP32 {res.psnr_vs_keras_db:.1f} dB "
                                f"(< floor {res.psnr_floor_db:.1f} dB)")
    return res


def summary_table(rows: list[Agreement], title: str = "") -> str:
    """Rows -> a plain-text table (one line per artifact)."""
    head = (f"{'artifact':34} {'runtime':22} {'max|arm-x86|':>12} {'tol':>9} "
            f"{'equal':>6} {'<=tol':>6} {'PSNR vs FP32':>12} {'host':>6}  verdict")
    lines = [title] if title else []
    lines += [head, "-" * len(head)]
    for r in rows:
        psnr = f"{r.psnr_vs_keras_db:.1f} dB" if r.psnr_vs_keras_db is not None else "-"
        host = f"{r.host_psnr_vs_keras_db:.1f}" if r.host_psnr_vs_keras_db is not None else "-"
        verdict = ("ok" + (f" ({'; '.join(r.notes)})" if r.notes else "") if r.ok
                   else "FAIL: " + "; ".join(r.problems))
        lines.append(f"{r.artifact:34} {(r.backend or r.runner)[:22]:22} "
                     f"{r.max_abs_diff:12.3g} {r.tolerance:9.3g} {r.equal_fraction:6.1%} "
                     f"{r.within_step_fraction:6.1%} {psnr:>12} {host:>6}  {verdict}")
    return "\n".join(lines)
