"""``bench --on``: benchmark one artifact folder on several devices at once -> one report.

Per device (a thread each): connect, keep the artifacts its profile runs, and run
:func:`edgecolor.bench.suite.bench_folder` with the device as the place where jobs run. The
FP32 reference is measured once on this host and shared (same npz for every device), so PSNR
vs FP32 and ΔPSNR mean the same everywhere. Rows: one per artifact × device, with device,
transfer_s, run_s and health; a device fault turns that device's rows ❌ and keeps the rest.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from edgecolor.bench.measure import measure_in_subprocess
from edgecolor.bench.suite import SCHEMA, BenchError, BenchSettings, bench_folder
from edgecolor.devices.remote.registry import Device
from edgecolor.devices.remote.session import SshSession, make_session
from edgecolor.devices.remote.ssh import RemoteError
from edgecolor.manifest import find_artifacts, load_manifest


class SharedReference:
    """Measures each FP32 reference job once on this host, for every device's bench."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._lock = threading.Lock()
        self._done: dict[str, tuple[dict, Path | None]] = {}

    def measure(self, job: dict, timeout_s: float) -> dict:
        """bench_folder's measure_reference: cached result, npz copied to save_outputs."""
        key = json.dumps({k: v for k, v in job.items() if k not in ("save_outputs", "threads")},
                         sort_keys=True)
        with self._lock:
            if key not in self._done:
                npz = self.folder / f"ref{len(self._done)}.npz"
                result = measure_in_subprocess({**job, "save_outputs": str(npz)}, timeout_s)
                self._done[key] = (result, npz if npz.is_file() else None)
            result, npz = self._done[key]
        if npz is not None and job.get("save_outputs"):
            shutil.copyfile(npz, job["save_outputs"])
        return copy.deepcopy(result)


@dataclass
class DeviceOutcome:
    """What one device gave: its report (None if it never ran), or the fault."""

    device: Device
    session: SshSession
    profile: str | None = None
    report: dict | None = None
    error: str | None = None
    artifacts: list[str] = field(default_factory=list)
    sustained: dict | None = None


def profile_artifacts(folder: Path, profile: str | None) -> tuple[list[str], str | None]:
    """Artifact names in ``folder`` the profile runs (all when unknown) -> (names, note)."""
    names = [a.name for a in find_artifacts(folder)]
    if not profile:
        return names, "profile unknown: every artifact sent"
    from edgecolor.devices import load_profile

    try:
        wanted = set(load_profile(profile).artifacts)
    except ValueError as e:
        return names, f"{e}; every artifact sent"
    keep = []
    for a in find_artifacts(folder):
        try:
            m = load_manifest(a, verify=False)
        except ValueError:
            keep.append(a.name)  # its row will say what is wrong with it
            continue
        if (m.get("format"), m.get("precision")) in wanted:
            keep.append(a.name)
    return keep, None


def build_wheel(out_dir: Path) -> Path:
    """``pip wheel`` of the edgecolor checkout this runs from, offline (``--no-index
    --no-build-isolation``: this environment's setuptools; built from a copy of the
    distribution's files, so the checkout gets no build/ folder) -> the wheel path;
    RemoteError when edgecolor is not run from a checkout or the build fails.
    """
    import edgecolor
    from edgecolor.devices.emulate.sysroot import package_files

    repo = Path(edgecolor.__file__).resolve().parent.parent
    if not (repo / "setup.cfg").is_file():
        raise RemoteError(f"--install: edgecolor here is not a checkout ({repo}); install the "
                          "same version on the device with pip instead", "failed")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edgecolor-src-") as src_dir:
        src = Path(src_dir)
        for f in package_files(repo):
            dest = src / f.relative_to(repo)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest)
        r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                            "--no-index", "--no-build-isolation", "--disable-pip-version-check",
                            str(src), "-w", str(out_dir)], capture_output=True, text=True)
    wheels = sorted(out_dir.glob("edgecolor-*.whl"))
    if r.returncode != 0 or not wheels:
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise RemoteError(f"--install: building the edgecolor wheel failed ({last}); it needs "
                          "setuptools and wheel here (pip install setuptools wheel)", "failed")
    return wheels[-1]


_registry_lock = threading.Lock()


def _remember_python(device: Device, python: str, log: Callable[[str], None]) -> None:
    """After --install: record the venv's python for the device (next runs need no
    --install)."""
    from edgecolor.devices.remote.registry import RegistryError, add_device

    with _registry_lock:
        try:
            path = add_device(replace(device, python=python), replace=True)
        except RegistryError as e:
            log(f"[{device.name}] warning: installed, but not recorded ({e})")
            return
    log(f"[{device.name}] edgecolor installed; its python {python} recorded in {path}")


def _run_device(out: DeviceOutcome, folder: Path, settings: BenchSettings,
                threads_given: bool, install: bool, wheel: Callable[[], Path],
                shared: SharedReference, sustained: float | None,
                log: Callable[[str], None]) -> None:
    s = out.session
    name = out.device.name
    try:
        try:
            s.connect()
        except RemoteError as e:
            if not (install and e.kind in ("missing", "older")):
                raise
            s.install(wheel, out.device.profile or s._profile())
            s.connect()
            _remember_python(out.device, s.python, log)
        out.profile = s.profile()
        out.artifacts, note = profile_artifacts(folder, out.profile)
        if note:
            log(f"[{name}] note: {note}")
        if not out.artifacts:
            raise RemoteError(f"device {name}: no artifact in {folder} is for its profile "
                              f"{out.profile}; convert for it (edgecolor convert --target "
                              f"{out.profile})", "failed")
        from edgecolor.devices import load_profile

        record = None
        threads = settings.threads
        if out.profile:
            try:
                prof = load_profile(out.profile)
                record = prof.to_dict()
                threads = settings.threads if threads_given else (prof.threads or None)
            except ValueError:
                pass
        dev_settings = replace(settings, threads=threads, device_profile=record)
        out.report = bench_folder(folder, dev_settings, progress=lambda m: log(f"[{name}] {m}"),
                                  warn=lambda m: log(f"[{name}] {m}"), only=out.artifacts,
                                  measure=s.measure, measure_reference=shared.measure)
        if sustained and s.error is None:
            out.sustained = _sustained(out, folder, dev_settings, sustained, log)
    except RemoteError as e:
        out.error = str(e)
    except BenchError as e:
        out.error = f"device {name}: {e}"
    if s.error is not None and out.error is None and out.report is not None:
        log(f"[{name}] ❌ {s.error}")


def _sustained(out: DeviceOutcome, folder: Path, settings: BenchSettings, seconds: float,
               log: Callable[[str], None]) -> dict | None:
    """One artifact (the first that measured) run for ``seconds``: the health curve."""
    ok = [r for r in out.report["rows"] if r.get("status") == "ok"] if out.report else []
    if not ok:
        return None
    art = folder / ok[0]["artifact"]
    images = [str(p) for p in settings.images[:1]]
    log(f"[{out.device.name}] sustained: {art.name} for {seconds:g} s ...")
    job = {"kind": "artifact", "artifact": str(art), "images": [], "e2e_image": images[0],
           "runs": 1, "warmup": 1, "seconds": seconds, "budget_s": None,
           "threads": settings.threads, "runner": settings.runner, "device": settings.device,
           "metrics": "fast", "health_interval_s": 1.0}
    result = out.session.measure(job, settings.timeout_s + seconds)
    timing = out.session.timings.get(art.name) or {}
    return {"artifact": art.name, "seconds": seconds, "status": result.get("status"),
            "error": result.get("error"), "model_ms": result.get("model_ms"),
            "health": result.get("health") or timing.get("health")}


def _health_cells(row: dict, health: dict | None, emulated: bool) -> None:
    if emulated:
        row["health_note"] = "EMULATED (qemu: timings meaningless)"
        return
    if not health:
        row["health_note"] = "not read"
        return
    row["health"] = {k: v for k, v in health.items() if k != "samples"}
    row["temp_max_c"] = (health.get("temp_c") or {}).get("max")
    row["clock_mhz"] = (health.get("clock_mhz") or {}).get("mean")
    row["power_mw"] = health.get("power_mw")
    row["energy_mj"] = health.get("energy_mj")
    row["throttled"] = health.get("throttled")
    if health.get("throttled"):
        flags = ", ".join(health.get("throttle_flags") or []) or "hot"
        row["health_note"] = f"⚠ THROTTLED ({flags})"
    elif health.get("throttled") is None:
        unread = [m.split(" (")[0] for m in health.get("missing") or []]
        row["health_note"] = ("not readable: " + ", ".join(unread)) if unread else \
            "throttling unknown"
    else:
        row["health_note"] = "ok"


def _where(out: DeviceOutcome) -> str:
    """Where a device's rows were measured, for the report's "Measured on" column."""
    if out.session.emulated:
        return f"emulated aarch64 (qemu), not a real {out.profile}"
    machine = ((out.session.info or {}).get("detect") or {}).get("machine") or "?"
    return f"measured on {out.device.name} ({machine}, {out.profile or 'no profile fits'})"


def merge(outcomes: list[DeviceOutcome], folder: Path, settings: BenchSettings,
          host_ctx: dict) -> dict:
    """Device outcomes -> one report (schema edgecolor.bench/1) with a row per artifact ×
    device and a "devices" section.
    """
    manifests = {a.name: _manifest(a) for a in find_artifacts(folder)}
    rows, devices, references, images = [], [], [], None
    for out in outcomes:
        s = out.session
        base = {"device": out.device.name, "device_url": out.device.url,
                "emulated": s.emulated}
        record = {"name": out.device.name, "url": out.device.url, "profile": out.profile,
                  "emulated": s.emulated, "status": "failed" if out.error else "ok",
                  "error": out.error, "transfer_s": s.transfer_s,
                  "probe": {k: v for k, v in (s.info or {}).items() if k != "context"},
                  "context": (s.info or {}).get("context"), "sustained": out.sustained}
        if out.report is None:
            names = out.artifacts or [a.name for a in find_artifacts(folder)]
            for n in names:
                rows.append({"artifact": n, **base, "status": "failed", "error": out.error})
        else:
            images = images or out.report["images"]
            if not references:
                references = out.report["references"]
            where = _where(out)
            for row in out.report["rows"]:
                t = s.timings.get(row["artifact"]) or {}
                row.update(base, transfer_s=t.get("transfer_s"), sent_mb=t.get("sent_mb"),
                           run_s=t.get("run_s"))
                if row.get("status") == "ok":
                    target = target_of(manifests.get(row["artifact"]))
                    row["measured_on"] = where + (f", not on {target}" if target and
                                                  target != out.profile else "")
                if row.get("status") == "ok":
                    _health_cells(row, t.get("health"), s.emulated)
                rows.append(row)
            if s.error is not None:
                record.update(status="failed", error=str(s.error))
        devices.append(record)
    _mark(rows, manifests)
    context = dict(host_ctx)
    context["artifacts"] = {a.name: _files(a) for a in find_artifacts(folder)}
    return {"schema": SCHEMA, "folder": str(folder), "context": context,
            "settings": settings.to_dict(),
            "images": images or {"used": [], "n": 0, "overlap": [], "overlap_kept": False},
            "references": references, "rows": rows, "alternatives": [], "devices": devices}


def _manifest(artifact: Path) -> dict | None:
    try:
        return load_manifest(artifact, verify=False)
    except (ValueError, OSError):
        return None


def _files(artifact: Path) -> dict | None:
    return (_manifest(artifact) or {}).get("files")


def target_of(manifest: dict | None) -> str | None:
    """The profile an artifact was converted for (manifest ``target.name``)."""
    target = (manifest or {}).get("target") or {}
    return target.get("name") if isinstance(target, dict) else None


def _mark(rows: list[dict], manifests: dict[str, dict | None]) -> None:
    """Target, weights source and random-weights marks (edgecolor.bench.marks, where this
    version has it); the rows' own measured_on is kept.
    """
    try:
        from edgecolor.bench.marks import mark_rows
    except ImportError:
        return
    mark_rows(rows, manifests)


def bench_on_devices(folder: Path, devices: list[Device], settings: BenchSettings,
                     threads_given: bool = False, install: bool = False,
                     sustained: float | None = None,
                     log: Callable[[str], None] = print) -> dict:
    """Benchmark ``folder`` on every device in parallel -> the merged report.

    Raises BenchError when the folder has no artifacts. An interrupt (Ctrl-C) closes every
    connection and kills the jobs on the devices before it propagates.
    """
    from edgecolor.bench.context import host_context

    if not find_artifacts(folder):
        raise BenchError(f"{folder}: no artifacts (model files with a .json manifest beside "
                         "them); make some with `edgecolor convert ... -o FOLDER`")
    outcomes = [DeviceOutcome(d, make_session(d, log)) for d in devices]
    with tempfile.TemporaryDirectory(prefix="edgecolor-fleet-") as tmp:
        shared = SharedReference(Path(tmp))
        wheel_lock = threading.Lock()
        wheel_path: list[Path] = []

        def wheel() -> Path:
            with wheel_lock:
                if not wheel_path:
                    wheel_path.append(build_wheel(Path(tmp) / "wheel"))
                return wheel_path[0]

        threads = [threading.Thread(
            target=_run_device, daemon=True,
            args=(o, folder, settings, threads_given, install, wheel, shared, sustained, log))
            for o in outcomes]
        for t in threads:
            t.start()
        try:
            for t in threads:
                while t.is_alive():
                    t.join(0.2)
        except KeyboardInterrupt:
            for o in outcomes:
                o.session.abort()
            raise
    host_ctx = host_context(settings.threads, settings.device_profile, settings.argv)
    return merge(outcomes, folder, settings, host_ctx)
