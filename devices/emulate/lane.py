"""The whole ARM lane: aarch64 world (cached), host artifacts + references (cached), then the
device-side tests (tests/arm) under qemu, ending with their pytest summary line.

Host steps import TensorFlow only when artifacts must be (re)converted.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from edgecolor.devices.emulate.machines import Machine
from edgecolor.devices.emulate.sysroot import LaneError, Layout, package_files

DEFAULT_MODEL = "baseline"
DEFAULT_WIDTH = 0.25  # width-reduced: convolutions run 130-1000x slower under qemu
DEFAULT_IMGSZ = 64
DEFAULT_SEED = 0
ACTIVATION_STD = 0.5  # of every convolution's output (see seeded_weights)
TESTS_DIR = Path("tests") / "arm"


def find_repo(start: Path | None = None) -> Path:
    """The edgecolor checkout (has setup.cfg and tests/arm) at or above ``start`` (cwd)."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "setup.cfg").is_file() and (d / TESTS_DIR).is_dir():
            return d
    raise LaneError(f"{here}: not inside an edgecolor checkout (no setup.cfg + tests/arm); "
                    "run the lane from the repository (or pass --repo)")


def seeded_weights(path: Path, model: str, imgsz: int, width: float, seed: int) -> Path:
    """Save the weights of a seeded, activation-scaled random model -> path (kept if present).

    Plain random init leaves this network's output near zero (ab within a few Lab units), so
    int8 would be tested on a gray picture; every convolution is rescaled instead until its
    output has a standard deviation of ``ACTIVATION_STD`` on the bundled calibration photos
    (data-dependent init): the output then spans tanh's range like a trained model's.
    """
    if path.is_file():
        return path
    import numpy as np

    from edgecolor._tf import import_tf
    from edgecolor.color import GrayImage
    from edgecolor.imageio import read_image
    from edgecolor.samples import sample_images
    from edgecolor.zoo import create_model

    _, keras = import_tf()
    keras.utils.set_random_seed(seed)
    m, spec = create_model(model, input_size=imgsz, weights=None, batch_size=None, width=width)
    planes = [GrayImage.from_array(read_image(p)).l for p in sample_images("calib")]
    xs = [np.concatenate(batch) for batch in zip(*(spec.make_inputs(l) for l in planes),
                                                  strict=True)]
    for layer in m.layers:
        if not isinstance(layer, keras.layers.Conv2D):
            continue
        probe = keras.Model(m.inputs, layer.output)
        for _ in range(4):  # the activation is not linear: converge in a few steps
            std = float(np.std(probe(xs, training=False)))
            if std == 0.0:
                break
            layer.set_weights([w * (ACTIVATION_STD / std) for w in layer.get_weights()])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.weights.h5")
    m.save_weights(tmp)
    tmp.replace(path)
    return path


def artifacts_key(repo: Path, *options: object) -> str:
    """Digest of edgecolor's sources + the conversion options: cached artifacts are reused
    only while neither changed.
    """
    h = hashlib.sha256(repr(options).encode())
    for f in package_files(repo):
        h.update(str(f.relative_to(repo)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:12]


def host_artifacts(layout: Layout, repo: Path, target: str, model: str = DEFAULT_MODEL,
                   width: float = DEFAULT_WIDTH, imgsz: int = DEFAULT_IMGSZ,
                   seed: int = DEFAULT_SEED, log: Callable[[str], None] = print) -> Path:
    """Convert ``model`` for ``target`` on this host and write each artifact's reference
    .npz -> the folder (cached under the lane cache by :func:`artifacts_key`).

    Raises LaneError when no artifact converts or no reference can be made; rows that fail
    are reported through ``log`` and the others go on.
    """
    import click

    from edgecolor.converters.run import convert_all
    from edgecolor.devices.emulate.color_reference import write_color_reference
    from edgecolor.devices.emulate.reference import write_references
    from edgecolor.devices.emulate.sysroot import install_host_tflite_runtime
    from edgecolor.samples import sample_images

    key = artifacts_key(repo, target, model, width, imgsz, seed)
    folder = layout.cache / "artifacts" / f"{model}-w{width:g}-{imgsz}-{target}-{key}"
    if (folder / ".complete").is_file():
        return folder
    weights = seeded_weights(layout.cache / "weights" / f"{model}-w{width:g}-{imgsz}-"
                             f"seed{seed}.weights.h5", model, imgsz, width, seed)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".convert-"))
    try:
        with click.progressbar(length=1, label=f"converting {model} for {target}",
                               file=click.get_text_stream("stderr")) as bar:
            def start(i, n, name):
                bar.length = n

            def done(i, n, res):
                bar.update(1)
            results = convert_all(model, target=target, out_dir=tmp, weights=weights,
                                  imgsz=imgsz, width=width, seed=seed, threads=1,
                                  on_start=start, on_done=done,
                                  # seeded weights: plain int8 (a budget's fallback, e.g.
                                  # int16x8, would not be the artifact the lane compares);
                                  # min/max ranges: the lane judges the board against the
                                  # host, and quantile clipping only lowers a random net's
                                  # PSNR vs Keras toward the floor (and costs CI time)
                                  budget=False, calib_method="minmax")
        for r in results:
            if not r.ok:
                log(f"warning: {r.name}: {r.error}")
        if not any(r.path.is_file() for r in results):
            raise LaneError(f"no artifact of {target} converted (see the warnings above)")
        written = write_references(tmp, sample_images("eval")[:2], threads=1,
                                   warn=lambda m: log(f"warning: {m}"),
                                   tflite_runtime_site=install_host_tflite_runtime(layout, log))
        if not written:
            raise LaneError("no reference outputs could be computed on the host")
        write_color_reference(tmp)  # the 8-bit color path's x86 outputs
        (tmp / ".complete").write_text(f"{len(written)} references\n")
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
        for stale in folder.parent.glob(folder.name[: -len(key)] + "*"):
            if stale != folder:  # made from older sources: never used again
                shutil.rmtree(stale, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def emulated_pytest(wrapper: Path, repo: Path, artifacts: Path, report: Path | None,
                    pytest_args: tuple[str, ...] = ()) -> int:
    """Run tests/arm with the emulated python (output streamed) -> pytest's exit code."""
    env = dict(os.environ, EDGECOLOR_ARM_ARTIFACTS=str(artifacts.resolve()))
    if report:
        env["EDGECOLOR_ARM_REPORT"] = str(report.resolve())
    env.pop("EDGECOLOR_DEVICE", None)  # the board must be detected, not forced
    ini = repo / TESTS_DIR / "pytest.ini"
    cmd = [str(wrapper), "-m", "pytest", "-c", str(ini), "--rootdir", str(repo / TESTS_DIR),
           *pytest_args, str(repo / TESTS_DIR)]
    return subprocess.run(cmd, cwd=repo, env=env).returncode


def emulated_bench(artifacts: Path, machine: Machine, log: Callable[[str], None] = print,
                   timeout_s: float = 900) -> list[str]:
    """``edgecolor bench --on qemu:<board>`` on the lane's fp32 TFLite artifact alone, two
    photos, 3 runs (emulation is slow), against the host's FP32 run of that same artifact
    -> what is wrong with its report ([] = the emulated board is a device like any other:
    ok rows marked emulated, PSNR vs the host's FP32 output >= 40 dB).
    """
    import json
    import sys

    from edgecolor.samples import sample_images

    found = sorted(artifacts.glob("*-tflite-fp32.tflite"))
    if not found:
        return [f"{artifacts}: no *-tflite-fp32.tflite artifact for the bench --on check"]
    with tempfile.TemporaryDirectory(prefix="edgecolor-lane-bench-") as tmp:
        art, photos, out = Path(tmp) / "art", Path(tmp) / "photos", Path(tmp) / "out"
        art.mkdir()
        photos.mkdir()
        for f in (found[0], found[0].with_suffix(".json")):
            shutil.copy(f, art / f.name)
        for p in sample_images("eval")[:2]:
            shutil.copy(p, photos / p.name)
        cmd = [sys.executable, "-m", "edgecolor", "bench", str(art), "-o", str(out), "--on",
               f"qemu:{machine.name}", "--images", str(photos), "--runs", "3", "--warmup", "1",
               "--metrics", "fast", "--reference", "artifact", "--timeout", f"{timeout_s:.0f}"]
        log("ARM lane: " + " ".join(cmd[1:]))
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s + 120)
        log(r.stdout.rstrip())
        try:
            report = json.loads((out / "report.json").read_text())
        except (OSError, ValueError) as e:
            return [f"bench --on qemu:{machine.name} wrote no report ({e}): "
                    f"{r.stderr.strip()[-300:]}"]
    problems = [] if r.returncode == 0 else [f"exit {r.returncode}: {r.stderr.strip()[-300:]}"]
    rows = report.get("rows") or []
    if len(rows) != 1:
        problems.append(f"{len(rows)} rows, expected 1")
    for row in rows:
        if row.get("status") != "ok":
            problems.append(f"{row.get('artifact')}: {row.get('error')}")
            continue
        if not (row.get("emulated") and str(row.get("health_note")).startswith("EMULATED")
                and "emulated aarch64" in str(row.get("measured_on"))):
            problems.append(f"{row['artifact']}: not marked emulated")
        if not (row.get("ait_ms") or 0) > 0:
            problems.append(f"{row['artifact']}: no model timing")
        psnr = row.get("psnr_vs_fp32_db")
        if psnr is None or psnr < 40:
            problems.append(f"{row['artifact']}: PSNR vs the host's FP32 output {psnr} dB "
                            "(< 40: the board computes something else)")
    devices = report.get("devices") or [{}]
    if devices[0].get("profile") != machine.name or not devices[0].get("emulated"):
        problems.append(f"device record {devices[0]}: not the emulated {machine.name}")
    return problems


def run_lane(layout: Layout, machine: Machine, repo: Path, artifacts: Path | None = None,
             model: str = DEFAULT_MODEL, width: float = DEFAULT_WIDTH,
             imgsz: int = DEFAULT_IMGSZ, report: Path | None = None,
             install_qemu: bool = True, pytest_args: tuple[str, ...] = (),
             log: Callable[[str], None] = print) -> int:
    """Set up, convert (unless ``artifacts`` is given), run tests/arm emulated -> exit code."""
    from edgecolor.devices.emulate.sysroot import find_qemu, qemu_version, setup

    own = artifacts is None  # the lane's converted baseline: the bench --on check runs on it
    t0 = time.perf_counter()
    wrappers = setup(layout, [machine], repo, install_qemu=install_qemu, log=log)
    t1 = time.perf_counter()
    if artifacts is None:
        artifacts = host_artifacts(layout, repo, machine.name, model, width, imgsz, log=log)
    elif not any(artifacts.glob("*.ref.npz")):
        raise LaneError(f"{artifacts}: no reference .npz files; make them on the host first "
                        "(python -m edgecolor.devices.emulate refs DIR)")
    t2 = time.perf_counter()
    log(f"ARM lane: {machine.name} ({machine.qemu_cpu}) under {qemu_version(find_qemu())}; "
        f"setup {t1 - t0:.1f} s, host artifacts {t2 - t1:.1f} s; artifacts: {artifacts}")
    code = emulated_pytest(wrappers[machine.name], repo, artifacts, report, pytest_args)
    if not own:  # a user's artifacts: the host may lack their runtimes for the reference
        return code
    problems = emulated_bench(artifacts, machine, log=log)
    for p in problems:
        log(f"ARM lane: bench --on qemu:{machine.name}: FAILED: {p}")
    if not problems:
        log(f"ARM lane: bench --on qemu:{machine.name}: ok (one row, marked emulated)")
    return code or (1 if problems else 0)
