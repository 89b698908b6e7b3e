"""One device during ``bench --on``: connect (probe), send what a job needs into the device's
cache (by sha256, never twice), run the job there under :mod:`.runner`, bring the result back.

:class:`SshSession` is a board reached with the system ``ssh``; :class:`QemuSession` is the
ARM lane's emulated board (``qemu:rpi4``), run locally under qemu-user. Both give
``measure(job, timeout_s) -> result`` for :func:`edgecolor.bench.suite.bench_folder`; a device
fault makes every later job of that device fail at once with the same one-line reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import edgecolor
from edgecolor.bench.job import BenchJob
from edgecolor.devices.remote import ssh
from edgecolor.devices.remote.registry import Device
from edgecolor.devices.remote.ssh import RemoteError
from edgecolor.manifest import manifest_path

# faults after which nothing more is tried on that device
FATAL = {"unreachable", "key", "hostkey", "dropped", "disk", "timeout", "missing", "older"}
# device profile -> the pip extra that installs its runtimes
EXTRAS = {"rpi4": "rpi", "rpi5": "rpi", "jetson-nano": "jetson", "jetson-orin-nano": "jetson",
          "x86-cpu": "x86"}
PROBE_TIMEOUT_S = 120.0
INSTALL_TIMEOUT_S = 900.0  # venv + pip, offline
PTH_NAME = "_edgecolor_device.pth"  # --install's venv: where its dependencies are
EXTRA_INPUTS = ("video",)  # other job keys that name an input file (sent like the photos)

_sha_lock = threading.Lock()
_env_lock = threading.Lock()
_sha_cache: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of a file, remembered per (path, size, mtime) for this process."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _sha_lock:
        if key in _sha_cache:
            return _sha_cache[key]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    with _sha_lock:
        _sha_cache[key] = h.hexdigest()
    return h.hexdigest()


def artifact_files(artifact: Path) -> list[Path]:
    """An artifact's files: itself, its manifest and the other files its manifest lists."""
    files = [artifact, manifest_path(artifact)]
    try:
        listed = json.loads(manifest_path(artifact).read_text()).get("files") or {}
    except (OSError, ValueError):
        listed = {}
    files += [artifact.parent / name for name in listed]
    return [f for f in dict.fromkeys(files) if f.is_file()]


class Bundle:
    """Files that must sit together on the device (an artifact + manifest + sidecars, or one
    input file), stored there as ``CACHE/<kind>/<key>/<name>`` with a ``.complete`` mark.
    """

    def __init__(self, kind: str, files: list[Path]):
        self.kind, self.files = kind, files
        digest = hashlib.sha256()
        for f in files:
            digest.update(f"{f.name}\0{file_sha256(f)}\0".encode())
        self.key = digest.hexdigest()[:32]

    @property
    def rel(self) -> str:
        """Its folder relative to the cache."""
        return f"{self.kind}/{self.key}"

    def size(self) -> int:
        """Bytes to send."""
        return sum(f.stat().st_size for f in self.files)


def pip_fix(device: Device, python: str, profile: str | None) -> str:
    """The one command that installs this edgecolor version on the device."""
    extra = EXTRAS.get(profile or "", "rpi")
    spec = f"edgecolor[{extra}]=={edgecolor.__version__}"
    return (f"ssh {ssh.destination(device)} '{python} -m pip install \"{spec}\"' "
            "(or rerun with --install)")


class SshSession:
    """A board reached over SSH."""

    emulated = False

    def __init__(self, device: Device, log=print):
        self.device = device
        self.python = device.python
        self.log = log
        self.info: dict = {}
        self.cache = device.cache
        self.error: RemoteError | None = None
        self.present: set[str] = set()  # bundle folders known to be complete on the device
        self.timings: dict[str, dict] = {}  # artifact name -> transfer_s, run_s, health
        self.transfer_s = 0.0
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen] = set()
        self._runs: set[str] = set()

    # ------------------------------------------------------------------ connecting
    def _py(self) -> str:
        return " ".join(shlex.quote(w) for w in shlex.split(self.python))

    def _run(self, command: str, timeout_s: float, doing: str) -> ssh.SshResult:
        r = ssh.run(self.device, command, timeout_s)
        if r.rc != 0 or r.timed_out:
            raise ssh.explain(self.device, r, doing)
        return r

    def connect(self) -> dict:
        """Probe the device -> its probe dict; RemoteError (unreachable, key, edgecolor
        missing or older, ...) with the fix.
        """
        head = f"device {self.device.name} ({self.device.url})"
        r = ssh.run(self.device, f"{self._py()} -m edgecolor.devices.remote.probe "
                    f"{shlex.quote(self.device.cache)}", PROBE_TIMEOUT_S)
        err = r.stderr
        if r.rc == 255 or r.timed_out:
            raise ssh.explain(self.device, r, "connecting")
        if r.rc != 0:
            if "no space left on device" in err.lower():
                raise ssh.explain(self.device, r, "preparing the cache")
            if r.rc == 127 or "not found" in err or "No such file" in err:
                raise RemoteError(f"{head}: no python {self.python!r} there; install "
                                  f"edgecolor: {pip_fix(self.device, 'python3', self._profile())}",
                                  "missing")
            if "No module named 'edgecolor." in err:  # an edgecolor without bench --on
                raise RemoteError(f"{head}: edgecolor there is older than this one "
                                  f"({edgecolor.__version__}); update it: "
                                  f"{pip_fix(self.device, self.python, self._profile())}",
                                  "older")
            if "No module named 'edgecolor" in err:
                raise RemoteError(f"{head}: edgecolor is not installed for {self.python}; "
                                  f"{pip_fix(self.device, self.python, self._profile())}",
                                  "missing")
            raise ssh.explain(self.device, r, "probing the device")
        try:
            self.info = json.loads(r.text.strip().splitlines()[-1])
        except (ValueError, IndexError) as e:
            raise RemoteError(f"{head}: the probe printed no result ({e}); run `ssh "
                              f"{ssh.destination(self.device)} {self.python} -m "
                              "edgecolor.devices.remote.probe` to see why") from e
        if self.info.get("edgecolor") != edgecolor.__version__:
            raise RemoteError(f"{head}: edgecolor {self.info.get('edgecolor')} there, "
                              f"{edgecolor.__version__} here; "
                              f"{pip_fix(self.device, self.python, self._profile())}", "older")
        self.cache = self.info["cache"]
        return self.info

    def _profile(self) -> str | None:
        if self.device.profile:
            return self.device.profile
        try:
            return raw_detect(self.device).profile
        except RemoteError:
            return None

    def profile(self) -> str | None:
        """The device's profile: registered, else detected on the board."""
        return self.device.profile or (self.info.get("detect") or {}).get("profile")

    def install(self, wheel: Callable[[], Path], profile: str | None) -> None:
        """``--install``: put this edgecolor version into ``CACHE/venv`` on the device, offline.

        ``wheel()`` builds the wheel here; it is sent into the cache (by sha256) and installed
        with ``pip --no-index``: the device needs no network. The venv reuses the packages
        already installed for the device's python (a ``.pth`` naming that python's
        site-packages, after the venv's own: the new edgecolor shadows an older one there), so
        edgecolor's runtime dependencies (numpy, OpenCV, the profile's runtimes: what any
        ``pip install 'edgecolor[rpi]'`` put there) must be on the device already; when one is
        not, RemoteError names it and the one command that installs it. From then on this
        session uses the venv's python.
        """
        q = ssh.quote_path(self.device.cache)
        r = self._run(f"mkdir -p {q} && cd {q} && pwd", PROBE_TIMEOUT_S, "connecting")
        self.cache = r.text.strip().splitlines()[-1]
        head = f"device {self.device.name}"
        base, exe, sites, version = self._site_dirs()
        bundle = Bundle("w", [wheel()])
        self.ensure([bundle])
        extra = EXTRAS.get(profile or "", "rpi")
        venv = f"{self.cache}/venv"
        vq = shlex.quote(venv)
        whl = shlex.quote(f"{self.cache}/{bundle.rel}/{bundle.files[0].name}")
        pth = shlex.quote(f"{venv}/lib/python{version}/site-packages/{PTH_NAME}")
        # not the venv's own folders: it is made anew (a rerun of --install)
        sites = [d for d in dict.fromkeys(sites) if not (d + "/").startswith(venv + "/")]
        lines = " ".join(shlex.quote(d) for d in sites) or "''"
        self.log(f"[{self.device.name}] installing edgecolor {edgecolor.__version__} [{extra}] "
                 f"into {venv} (offline; dependencies from {base}) ...")
        pip = (f"{vq}/bin/python -m pip install -q --no-index --disable-pip-version-check "
               "--no-warn-script-location")
        # the wheel itself even where the same version shows through the .pth (a checkout's
        # editable install), then its dependencies and the extra's, offline
        cmd = (f"rm -rf {vq} && {exe} -m venv {vq} && printf '%s\\n' {lines} > {pth} && "
               f"{pip} --no-deps --ignore-installed {whl} && {pip} {whl}'[{extra}]'")
        r = ssh.run(self.device, cmd, INSTALL_TIMEOUT_S)
        if r.rc != 0 or r.timed_out:
            missing = re.search(r"No matching distribution found for (\S+)", r.stderr)
            if missing and not r.timed_out:
                raise RemoteError(
                    f"{head}: --install installs offline, and edgecolor's dependency "
                    f"{missing.group(1)} is not installed for {base} there; install "
                    f"edgecolor[{extra}] once with the network: ssh "
                    f"{ssh.destination(self.device)} '{base} -m pip install "
                    f"\"edgecolor[{extra}]\"' (later versions then need --install only)",
                    "missing")
            if "ensurepip" in r.stderr:
                raise RemoteError(f"{head}: {base} cannot make a venv there (no ensurepip); "
                                  f"install python3-venv there (apt install python3-venv)",
                                  "missing")
            raise ssh.explain(self.device, r, "installing edgecolor")
        self.python = f"{venv}/bin/python"

    def _site_dirs(self) -> tuple[str, str, list[str], str]:
        """The device's python (the registered one, else python3) -> (its command, the
        interpreter behind it (a venv's base), the folders its packages come from, its X.Y
        version); RemoteError when there is none. A venv an earlier --install made passes on
        the folders its .pth names.
        """
        script = shlex.quote(
            "import json, os, site, sys\n"
            "dirs = site.getsitepackages() + ([site.getusersitepackages()] if "
            "site.ENABLE_USER_SITE else [])\n"
            "extra = []\n"
            "for d in list(dirs):\n"
            f"    f = os.path.join(d, {PTH_NAME!r})\n"
            "    if os.path.isfile(f):\n"
            "        extra += [ln.strip() for ln in open(f) if ln.strip()]\n"
            "print(json.dumps({'v': '%d.%d' % sys.version_info[:2], 'site': dirs + extra, "
            "'exe': getattr(sys, '_base_executable', None) or sys.executable}))")
        for base in dict.fromkeys([self._py(), "python3"]):
            r = ssh.run(self.device, f"{base} -c {script}", PROBE_TIMEOUT_S)
            if r.rc == 255 or r.timed_out:
                raise ssh.explain(self.device, r, "connecting")
            if r.rc == 0:
                try:
                    found = json.loads(r.text.strip().splitlines()[-1])
                    return (base, shlex.quote(str(found["exe"])),
                            [str(s) for s in found["site"]], str(found["v"]))
                except (ValueError, IndexError, KeyError):
                    pass
        raise RemoteError(f"device {self.device.name}: no python there ({self.python!r} nor "
                          "python3); install Python 3.10+ and edgecolor's runtimes: "
                          f"{pip_fix(self.device, 'python3', self._profile())}", "missing")

    # ------------------------------------------------------------------ files
    def ensure(self, bundles: list[Bundle]) -> tuple[float, int]:
        """Send the bundles the device lacks -> (seconds sending, bytes sent); (0, 0) when
        all were there already (same sha256).
        """
        todo = [b for b in dict.fromkeys(bundles, None) if b.rel not in self.present]
        if not todo:
            return 0.0, 0
        checks = " ".join(shlex.quote(b.rel) for b in todo)
        r = self._run(f"cd {shlex.quote(self.cache)} 2>/dev/null && for d in {checks}; do "
                      '[ -f "$d/.complete" ] && echo "$d"; done; true', PROBE_TIMEOUT_S,
                      "checking the cache")
        there = set(r.text.split())
        send = [b for b in todo if b.rel not in there]
        self.present.update(b.rel for b in todo if b.rel in there)
        size, spent = 0, 0.0
        if send:
            t0 = time.perf_counter()
            size = sum(b.size() for b in send)
            with tempfile.TemporaryDirectory(prefix="edgecolor-send-") as tmp:
                names = []
                for b in send:
                    folder = Path(tmp) / b.rel
                    folder.mkdir(parents=True, exist_ok=True)
                    for f in b.files:
                        (folder / f.name).symlink_to(f.resolve())
                        names.append(f"{b.rel}/{f.name}")
                r = ssh.send_tree(self.device, Path(tmp), names, self.cache,
                                  timeout_s=120 + size / 1e6,
                                  complete=tuple(b.rel for b in send))
            if r.rc != 0 or r.timed_out:
                raise ssh.explain(self.device, r, "sending files")
            self.present.update(b.rel for b in send)
            spent = time.perf_counter() - t0
        self.transfer_s += spent
        return spent, size

    def remote_path(self, bundle: Bundle, name: str) -> str:
        """Where a bundle's file lies on the device."""
        return f"{self.cache}/{bundle.rel}/{name}"

    # ------------------------------------------------------------------ running
    def _check_runtime(self, job: BenchJob) -> str | None:
        from edgecolor.formats import format_of_path

        if job.kind != "artifact" or not job.artifact:
            return None
        try:
            fmt = format_of_path(job.artifact)
        except ValueError:
            return None
        wanted = (job.runner,) if job.runner else fmt.runners
        have = self.info.get("runners") or {}
        if not have or any(have.get(r) for r in wanted):
            return None
        return (f"device {self.device.name}: no runtime for {fmt.name} there "
                f"({', '.join(wanted)} not installed); fix: ssh {ssh.destination(self.device)} "
                f"'{self.python} -m pip install \"edgecolor[{fmt.extra}]\"'")

    def measure(self, job_dict: dict, timeout_s: float) -> dict:
        """Run one bench job on the device -> its result (with transfer_s, run_s); a device
        fault -> a failed result naming the device and the fix.
        """
        name = Path(job_dict.get("artifact") or "job").name
        if self.error is not None:
            return {"status": "failed", "error": str(self.error)}
        # report pictures stay on the host side of the seam: not made on a device
        job = BenchJob.from_dict({k: v for k, v in job_dict.items() if k != "gallery"})
        missing = self._check_runtime(job)
        if missing:
            return {"status": "failed", "error": missing}
        try:
            art = Bundle("a", artifact_files(Path(job.artifact))) if job.artifact else None
            extra = [job.extra[k] for k in EXTRA_INPUTS if job.extra.get(k)]
            inputs = {p: Bundle("f", [Path(p)])
                      for p in [*job.input_files(), *extra] if p != job.artifact}
            transfer, sent = self.ensure([b for b in [art, *inputs.values()] if b is not None])
            where = {p: self.remote_path(b, Path(p).name) for p, b in inputs.items()}
            if art is not None:
                where[job.artifact] = self.remote_path(art, Path(job.artifact).name)
            remote_job = job.relocated(where)
            moved = {k: where[job.extra[k]] for k in EXTRA_INPUTS if job.extra.get(k)}
            remote_job = BenchJob.from_dict({**remote_job.to_dict(), **moved, "health": True})
            t0 = time.perf_counter()
            result = self._run_job(remote_job, timeout_s)
            run_s = time.perf_counter() - t0
        except RemoteError as e:
            if e.kind in FATAL:
                self.error = e
            return {"status": "failed", "error": str(e)}
        self.timings[name] = {"transfer_s": transfer, "sent_mb": sent / 1e6, "run_s": run_s,
                              "health": result.get("health")}
        return result

    def _run_job(self, job: BenchJob, timeout_s: float) -> dict:
        run_id = f"runs/{uuid.uuid4().hex[:12]}"
        cmd = (f"cd {shlex.quote(self.cache)} && exec {self._py()} -m "
               f"edgecolor.devices.remote.runner {run_id} {timeout_s:.0f}")
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(ssh.ssh_argv(self.device, cmd), stdin=subprocess.PIPE,
                                    stdout=out, stderr=err)
            with self._lock:
                self._procs.add(proc)
                self._runs.add(run_id)
            timed_out = False
            try:
                assert proc.stdin is not None
                proc.stdin.write((json.dumps(job.to_dict()) + "\n").encode())
                proc.stdin.flush()  # stdin stays open: its EOF stops the job on the device
                proc.wait(timeout=timeout_s + 30)
            except subprocess.TimeoutExpired:
                timed_out = True
                self.cleanup(run_id)
                proc.kill()
                proc.wait()
            except (BrokenPipeError, OSError):
                proc.wait()
            finally:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
                with self._lock:
                    self._procs.discard(proc)
            out.seek(0)
            err.seek(0)
            r = ssh.SshResult(proc.returncode, out.read(), err.read().decode(errors="replace"),
                              timed_out)
        with self._lock:
            self._runs.discard(run_id)
        if r.rc != 0 or r.timed_out:
            raise ssh.explain(self.device, r, "running the benchmark")
        try:
            result = json.loads(r.text.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise RemoteError(f"device {self.device.name}: the job printed no result "
                              f"({r.stderr.strip()[-200:] or 'no output'})") from None
        if result.get("kind") == "timeout":  # the device's own watchdog stopped the job
            raise ssh.explain(self.device, ssh.SshResult(0, b"", result.get("error", ""), True),
                              f"running the benchmark ({result.get('error')})")
        if result.get("kind") == "crashed":
            result["error"] = f"device {self.device.name}: {result['error']}"
        return result

    def cleanup(self, run_id: str | None = None) -> None:
        """Kill the job process group(s) on the device (best effort, a few seconds)."""
        ids = [run_id] if run_id else list(self._runs)
        if not ids:
            return
        kills = "; ".join(f'p=$(cat {shlex.quote(i)}/pid 2>/dev/null) && '
                          f'kill -TERM -- -$p 2>/dev/null; kill -CONT -- -$p 2>/dev/null'
                          for i in ids)
        ssh.run(self.device, f"cd {shlex.quote(self.cache)} && {kills}; true", 15)

    def abort(self) -> None:
        """Interrupted: close every connection (the device kills its jobs) and clean up."""
        with self._lock:
            procs = list(self._procs)
        for p in procs:
            p.kill()
        self.cleanup()


class QemuSession(SshSession):
    """The ARM lane's emulated board (``qemu:rpi4``): jobs run on this host under
    qemu-user with the lane's aarch64 sysroot; nothing to send.
    """

    emulated = True

    def __init__(self, device: Device, log=print):
        super().__init__(device, log)
        self.board = device.profile or "rpi4"
        self.wrapper: Path | None = None

    def connect(self) -> dict:
        """Find the lane's python wrapper for the board; RemoteError saying how to build it."""
        from edgecolor.devices.emulate.machines import get_machine
        from edgecolor.devices.emulate.sysroot import Layout, default_cache, package_current

        try:
            machine = get_machine(self.board)
        except ValueError as e:
            raise RemoteError(f"--on {self.device.name}: {e}", "missing") from e
        layout = Layout(default_cache())
        wrapper = layout.wrapper(machine)
        if not (wrapper.is_file() and layout.guest_python().exists()):
            raise RemoteError(
                f"--on {self.device.name}: the ARM lane's emulated {self.board} is not built "
                f"(no {wrapper}); build it once with `make test-arm` (or `.ci/arm --machine "
                f"{self.board}`; slow, needs the network once)", "missing")
        repo = _checkout()
        if repo is not None and not package_current(layout, repo):
            raise RemoteError(
                f"--on {self.device.name}: the emulated {self.board}'s edgecolor "
                f"({layout.pkg}) is older than this checkout's sources; refresh it: python -m "
                f"edgecolor.devices.emulate setup --machine {self.board} (or rerun with "
                "--install)", "older")
        self.wrapper = wrapper
        self.info = {"detect": {"profile": self.board, "reason": "emulated (qemu-user)"},
                     "runners": {}, "cache": None}
        return self.info

    def profile(self) -> str | None:
        """The emulated board's profile."""
        return self.board

    def install(self, wheel: Callable[[], Path], profile: str | None) -> None:
        """``--install`` on the emulated board: refresh the lane's pkg/ from this checkout
        (no wheel needed); RemoteError when edgecolor here is not a checkout.
        """
        from edgecolor.devices.emulate.sysroot import (
            LaneError,
            Layout,
            default_cache,
            install_package,
        )

        repo = _checkout()
        if repo is None:
            raise RemoteError(f"--on {self.device.name}: edgecolor here is not a checkout; "
                              "rebuild the lane with `make test-arm`", "failed")
        try:
            install_package(Layout(default_cache()), repo, log=self.log)
        except LaneError as e:
            raise RemoteError(f"--on {self.device.name}: {e}", "failed") from e

    def measure(self, job_dict: dict, timeout_s: float) -> dict:
        """Run the job under qemu with the lane's python -> result (run_s; no transfer)."""
        name = Path(job_dict.get("artifact") or "job").name
        assert self.wrapper is not None
        with tempfile.TemporaryDirectory(prefix="edgecolor-qemu-") as tmp:
            job_path, result_path = Path(tmp) / "job.json", Path(tmp) / "result.json"
            job_path.write_text(json.dumps({**job_dict, "health": False}))
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
            env.pop("EDGECOLOR_DEVICE", None)
            t0 = time.perf_counter()
            proc = subprocess.Popen([str(self.wrapper), "-m", "edgecolor.bench.measure",
                                     str(job_path), str(result_path)], stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, env=env, start_new_session=True)
            with self._lock:
                self._procs.add(proc)
            try:
                out, _ = proc.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.communicate()
                return {"status": "failed", "error": f"device {self.device.name}: timed out "
                        f"after {timeout_s:.0f} s (raise --timeout: qemu is slow)"}
            finally:
                with self._lock:
                    self._procs.discard(proc)
            run_s = time.perf_counter() - t0
            if not result_path.is_file():
                last = [ln for ln in out.decode(errors="replace").splitlines() if ln.strip()]
                return {"status": "failed", "error": f"device {self.device.name}: exit "
                        f"{proc.returncode} ({last[-1] if last else 'no output'})"}
            result = json.loads(result_path.read_text())
        self.timings[name] = {"transfer_s": 0.0, "sent_mb": 0.0, "run_s": run_s,
                              "health": None}
        return result

    def cleanup(self, run_id: str | None = None) -> None:
        """Nothing runs elsewhere: abort() kills the local process groups."""

    def abort(self) -> None:
        """Kill the running qemu process group."""
        with self._lock:
            procs = list(self._procs)
        for p in procs:
            try:
                os.killpg(p.pid, 9)
            except OSError:
                pass


def _checkout() -> Path | None:
    """The edgecolor checkout this runs from (setup.cfg above the package), else None."""
    repo = Path(edgecolor.__file__).resolve().parent.parent
    return repo if (repo / "setup.cfg").is_file() else None


def make_session(device: Device, log=print) -> SshSession:
    """Device -> its session (SSH, or qemu for ``qemu:<board>``)."""
    return QemuSession(device, log) if device.emulated else SshSession(device, log)


# ---------------------------------------------------------------------- detection, listing

RAW_SCRIPT = ("echo @@machine; uname -m; echo @@model; cat /proc/device-tree/model 2>/dev/null;"
              " echo; echo @@tegra; cat /etc/nv_tegra_release 2>/dev/null; echo @@cpuinfo; "
              "cat /proc/cpuinfo 2>/dev/null")


def parse_raw(text: str) -> dict[str, str]:
    """Output of :data:`RAW_SCRIPT` -> {machine, model, tegra, cpuinfo} texts."""
    parts: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("@@") and line[2:].strip() in ("machine", "model", "tegra",
                                                          "cpuinfo"):
            current = line[2:].strip()
            parts[current] = []
        elif current:
            parts[current].append(line)
    return {k: "\n".join(v).replace("\x00", "").strip() for k, v in parts.items()}


def raw_detect(device: Device, timeout_s: float = 30.0):
    """Detect the board's profile from its own /proc/device-tree/model, L4T release and
    cpuinfo (read over ssh, judged here by :func:`edgecolor.devices.detect`; no edgecolor
    needed there) -> Detection; RemoteError when it cannot be reached.
    """
    from edgecolor.devices.detect import detect

    r = ssh.run(device, RAW_SCRIPT, timeout_s)
    if r.rc != 0 or r.timed_out:
        raise ssh.explain(device, r, "connecting")
    parts = parse_raw(r.text)
    with tempfile.TemporaryDirectory(prefix="edgecolor-detect-") as tmp:
        root = Path(tmp)
        (root / "proc" / "device-tree").mkdir(parents=True)
        (root / "etc").mkdir()
        (root / "proc" / "cpuinfo").write_text(parts.get("cpuinfo", ""))
        if parts.get("model"):
            (root / "proc" / "device-tree" / "model").write_text(parts["model"])
        if parts.get("tegra"):
            (root / "etc" / "nv_tegra_release").write_text(parts["tegra"])
        with _env_lock:  # EDGECOLOR_DEVICE forces the host's answer, not the board's
            forced = os.environ.pop("EDGECOLOR_DEVICE", None)
            try:
                found = detect(root)
            finally:
                if forced is not None:
                    os.environ["EDGECOLOR_DEVICE"] = forced
    machine = parts.get("machine") or found.machine
    if found.profile is None and machine in ("x86_64", "amd64"):
        from edgecolor.devices.detect import Detection

        return Detection("x86-cpu", f"x86-64 CPU ({found.cpu})", machine, found.cpu, found.flags)
    return found
