"""`edgecolor bench --on` against a real OpenSSH server on 127.0.0.1 (no mock SSH).

The test starts Debian's ``sshd -D`` on a free port with a throwaway host key and user key,
and the "device" is a second virtual environment, ``.venv-device``, that has only
``edgecolor[rpi]`` (no TensorFlow; ``make remote-deps`` creates it). Faults are made real:
a port nobody listens on, a key the server does not accept, a python without edgecolor, a
venv without the TFLite runtime, a full tmpfs as the device's cache, sshd killed mid-run,
a job that stops answering (SIGSTOP), and the host command interrupted (SIGINT).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEVICE_VENV = REPO / ".venv-device"
DEVICE_PY = DEVICE_VENV / "bin" / "python"
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
FAST = ["--runs", "2", "--warmup", "0", "--metrics", "fast"]
LONG = ["--seconds", "60", "--max-seconds", "60", "--warmup", "0"]  # a job that runs a while
NOREF = ["--reference", "none"]  # where quality is not the point: no Keras reference

pytestmark = [pytest.mark.slow]


def _skip_reason() -> str | None:
    if not Path(SSHD).is_file():
        return "no sshd (Debian's openssh-server; `make remote-deps` installs it as root)"
    if not shutil.which("ssh"):
        return "no ssh client (openssh-client)"
    if os.geteuid() != 0:
        return "sshd must start as root here (privilege separation)"
    if not DEVICE_PY.is_file():
        return f"no device venv {DEVICE_VENV} (make remote-deps creates it: edgecolor[rpi] only)"
    return None


if _skip_reason():
    pytest.skip(_skip_reason(), allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


class Sshd:
    """One ``sshd -D`` on 127.0.0.1 accepting ``userkey`` for root."""

    def __init__(self, keys: Path, name: str):
        self.keys, self.port = keys, _free_port()
        self.dir = keys / name
        self.dir.mkdir()
        self.config = self.dir / "sshd_config"
        self.config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {keys / 'hostkey'}",
            f"PidFile {self.dir / 'sshd.pid'}", f"AuthorizedKeysFile {keys / 'authorized_keys'}",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes", "PermitRootLogin prohibit-password", "StrictModes no",
            "UsePAM no", "LogLevel ERROR", ""]))
        self.proc: subprocess.Popen | None = None

    def start(self) -> Sshd:
        Path("/run/sshd").mkdir(exist_ok=True)  # its privilege separation folder
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config)],
                                     stderr=open(self.dir / "log", "ab"), start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"sshd did not start: {(self.dir / 'log').read_text()}")

    def kill_all(self) -> None:
        """The server and every connection it serves (sshd forks one session per client,
        each in its own session: killing the listener alone keeps them)."""
        assert self.proc is not None
        for pid in [self.proc.pid, *_descendants(self.proc.pid, only="sshd")]:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.proc.wait()


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(d.name))
    return tree


def _descendants(pid: int, only: str | None = None) -> list[int]:
    tree, out, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            todo.append(child)
            try:
                comm = Path(f"/proc/{child}/comm").read_text().strip()
            except OSError:
                continue
            if only is None or comm.startswith(only):
                out.append(child)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _running_from(cache: Path) -> list[int]:
    """PIDs of live processes whose command line names the device cache (its jobs)."""
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(cache) in cmd and _alive(int(d.name)):
                found.append(int(d.name))
    return found


def _nothing_left(cache: Path, timeout: float = 10) -> list[bytes]:
    """Wait (a few seconds at most: the device side is exiting) until no process runs from
    the cache -> the command lines of those still running ([] = clean)."""
    deadline = time.monotonic() + timeout
    while (left := _running_from(cache)) and time.monotonic() < deadline:
        time.sleep(0.2)
    out = []
    for p in left:
        try:
            out.append(Path(f"/proc/{p}/cmdline").read_bytes())
        except OSError:
            pass
    return out


def _measure_pids(cache: Path) -> list[int]:
    """PIDs of the jobs running from the device cache (their runner's pid files)."""
    pids = []
    for f in cache.glob("runs/*/pid"):
        try:
            pids.append(int(f.read_text()))
        except (OSError, ValueError):
            pass
    return pids


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    """Keys, one sshd, the ssh config and the devices file (env set for the module)."""
    keys = tmp_path_factory.mktemp("ssh")
    for k in ("hostkey", "userkey", "otherkey"):
        _keygen(keys / k)
    (keys / "authorized_keys").write_text((keys / "userkey.pub").read_text())
    server = Sshd(keys, "main").start()
    hostkey = " ".join((keys / "hostkey.pub").read_text().split()[:2])
    rig = {"keys": keys, "server": server, "hostkey": hostkey,
           "ssh_config": keys / "ssh_config", "devices": keys / "devices.toml"}
    _write_ssh_config(rig, {"ec-dev": server.port, "ec-down": _free_port()})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGECOLOR_SSH_CONFIG", str(rig["ssh_config"]))
        mp.setenv("EDGECOLOR_DEVICES_FILE", str(rig["devices"]))
        yield rig
    server.kill_all()


def _write_ssh_config(rig: dict, hosts: dict[str, int], bad_key: tuple[str, ...] = ("ec-bad",)):
    keys = rig["keys"]
    known = "\n".join(f"[127.0.0.1]:{p} {rig['hostkey']}" for p in
                      {*hosts.values(), rig["server"].port})
    (keys / "known_hosts").write_text(known + "\n")
    blocks = []
    for alias, port in {**hosts, **{b: rig["server"].port for b in bad_key}}.items():
        key = keys / ("otherkey" if alias in bad_key else "userkey")
        blocks.append(f"Host {alias}\n  HostName 127.0.0.1\n  Port {port}\n  User root\n"
                      f"  IdentityFile {key}\n  IdentitiesOnly yes\n"
                      f"  UserKnownHostsFile {keys / 'known_hosts'}\n"
                      "  StrictHostKeyChecking yes\n")
    rig["ssh_config"].write_text("\n".join(blocks))


def _edgecolor(*args: str, check_rc: int | None = None) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "edgecolor", *args], capture_output=True,
                       text=True, timeout=900)
    if check_rc is not None:
        assert r.returncode == check_rc, r.stdout + r.stderr
    return r


def _add(name: str, url: str, *extra: str) -> None:
    _edgecolor("devices", "add", name, url, "--replace", *extra, check_rc=0)


@pytest.fixture(scope="module")
def art(tmp_path_factory) -> dict:
    """TFLite fp32 + int8 of a width-reduced 64x64 baseline (seeded weights) and 2 photos."""
    from checks import seeded_tflite_pair

    from edgecolor.samples import sample_images

    root = tmp_path_factory.mktemp("remote-art")
    art_dir = seeded_tflite_pair(root)
    photos = root / "photos"
    photos.mkdir()
    for p in sample_images("eval")[:2]:
        shutil.copy(p, photos / p.name)
    return {"dir": art_dir, "photos": photos}


def _report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


@pytest.fixture(scope="module")
def local_report(art, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("local")
    _edgecolor("bench", str(art["dir"]), "--images", str(art["photos"]), "-o", str(out),
               *FAST, check_rc=0)
    return _report(out)


@pytest.fixture(scope="module")
def fleet_report(rig, art, tmp_path_factory) -> tuple[dict, Path, str]:
    """Two devices (two names, two caches, same sshd) benchmarked in parallel."""
    caches = tmp_path_factory.mktemp("caches")
    _add("dev", "ssh://ec-dev", "--python", str(DEVICE_PY), "--cache", str(caches / "dev"))
    _add("dev2", "ssh://ec-dev", "--python", str(DEVICE_PY), "--cache", str(caches / "dev2"))
    out = tmp_path_factory.mktemp("fleet")
    r = _edgecolor("bench", str(art["dir"]), "--images", str(art["photos"]), "-o", str(out),
                   "--on", "dev", "--on", "dev2", *FAST, check_rc=0)
    return _report(out), caches, r.stdout


def test_device_rows_match_a_local_bench(local_report, fleet_report):
    report, caches, table = fleet_report
    local = {r["artifact"]: r for r in local_report["rows"]}
    assert [r["device"] for r in report["rows"]] == ["dev", "dev", "dev2", "dev2"]
    for row in report["rows"]:
        here = local[row["artifact"]]
        assert row["status"] == "ok", row.get("error")
        # the same numbers' structure as a local bench, plus where and how long
        assert set(here) - {"measured_on"} <= set(row), set(here) - set(row)
        assert {"transfer_s", "run_s", "health_note", "measured_on"} <= set(row)
        assert row["run_s"] > 0 and row["ait_ms"] > 0
        # the same FP32 reference (made once here): the same quality everywhere
        assert abs(row["psnr_vs_fp32_db"] - here["psnr_vs_fp32_db"]) < 0.01
        assert abs(row["psnr_db"] - here["psnr_db"]) < 0.01
        assert abs(row["dpsnr_db"] - here["dpsnr_db"]) < 0.01
        assert "measured on dev" in row["measured_on"]
    assert len(report["references"]) == 1 and report["references"][0]["kind"] == "keras"
    assert [d["status"] for d in report["devices"]] == ["ok", "ok"]
    assert report["devices"][0]["probe"]["detect"]["profile"] == "x86-cpu"
    assert "Transfer (s)" in table and "dev2" in table
    # the device venv has no TensorFlow: the measurement ran without it
    ctx = report["devices"][0]["context"]
    assert "tensorflow" not in ctx["versions"] and ctx["versions"]["ai-edge-litert"]


def test_files_are_sent_once_and_nothing_stays_running(rig, art, fleet_report, tmp_path):
    report, caches, _ = fleet_report
    first = [r["transfer_s"] for r in report["rows"] if r["device"] == "dev"]
    sent = [r["sent_mb"] for r in report["rows"] if r["device"] == "dev"]
    assert first[0] > 0 and sent[0] > sent[1] > 0  # artifact + photos + reference, artifact
    bundles = sorted(p.name for p in (caches / "dev" / "a").iterdir())
    assert len(bundles) == 2 and all((caches / "dev" / "a" / b / ".complete").is_file()
                                     for b in bundles)
    out = tmp_path / "again"
    _edgecolor("bench", str(art["dir"]), "--images", str(art["photos"]), "-o", str(out),
               "--on", "dev", *FAST, check_rc=0)
    again = _report(out)
    assert [(r["transfer_s"], r["sent_mb"]) for r in again["rows"]] == [(0.0, 0.0)] * 2
    assert sorted(p.name for p in (caches / "dev" / "a").iterdir()) == bundles
    assert list((caches / "dev" / "runs").iterdir()) == []  # every job's folder removed
    assert _nothing_left(caches / "dev") == [] and _nothing_left(caches / "dev2") == []


def _nort_python(tmp_path: Path) -> Path:
    """A real venv like the device's, but without any inference runtime (the TFLite,
    ONNX Runtime and OpenVINO packages are left out of its site-packages)."""
    venv = tmp_path / "nort"
    subprocess.run([str(DEVICE_PY), "-m", "venv", "--without-pip", str(venv)], check=True)
    src = next((DEVICE_VENV / "lib").glob("python*/site-packages"))
    dst = next((venv / "lib").glob("python*/site-packages"))
    runtimes = ("ai_edge_litert", "onnxruntime", "openvino", "tflite_runtime")
    for entry in src.iterdir():
        if not entry.name.lower().startswith(runtimes):
            (dst / entry.name).symlink_to(entry)
    return venv / "bin" / "python"


def test_faults_fail_their_own_rows_only(rig, art, tmp_path, fleet_report):
    _add("down", "ssh://ec-down")
    _add("badkey", "ssh://ec-bad", "--python", str(DEVICE_PY))
    _add("noec", "ssh://ec-dev", "--python", "/usr/bin/python3", "--cache", str(tmp_path / "c1"))
    _add("nort", "ssh://ec-dev", "--python", str(_nort_python(tmp_path)),
         "--cache", str(tmp_path / "c2"))
    _add("old", "ssh://ec-dev", "--python", str(_bare_python(tmp_path, old=True)),
         "--cache", str(tmp_path / "c3"))
    out = tmp_path / "out"
    r = _edgecolor("bench", str(art["dir"]), "--images", str(art["photos"]), "-o", str(out),
                   "--on", "dev", "--on", "down", "--on", "badkey", "--on", "noec",
                   "--on", "nort", "--on", "old", *FAST, *NOREF, "--timeout", "120")
    assert r.returncode == 1, r.stdout + r.stderr  # some rows failed, the report is written
    report = _report(out)
    by = {}
    for row in report["rows"]:
        by.setdefault(row["device"], []).append(row)
    assert [row["status"] for row in by["dev"]] == ["ok", "ok"]  # kept
    errors = {d: {row["error"] for row in rows} for d, rows in by.items() if d != "dev"}
    assert all(len(e) == 1 for e in errors.values()), errors  # one line per device
    down, bad, noec, nort = (errors[d].pop() for d in ("down", "badkey", "noec", "nort"))
    assert "device down" in down and "unreachable" in down and "Connection refused" in down
    assert "device badkey" in bad and "ssh-copy-id" in bad
    assert "device noec" in noec and "edgecolor is not installed" in noec
    assert "pip install" in noec and "edgecolor[x86]==0.1.0" in noec and "--install" in noec
    assert "device nort" in nort and "no runtime for tflite" in nort
    assert "edgecolor[tflite]" in nort
    old = errors["old"].pop()
    assert "device old" in old and "older than this one" in old and "--install" in old
    for e in (down, bad, noec, nort):
        assert "\n" not in e
    assert "❌ device down" in r.stderr and (out / "report.md").is_file()


def test_full_disk_on_the_device(rig, art, tmp_path):
    cache = tmp_path / "tiny"
    cache.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(cache)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.strip()})")
    try:
        _add("tiny", "ssh://ec-dev", "--python", str(DEVICE_PY), "--cache", str(cache))
        out = tmp_path / "out"
        r = _edgecolor("bench", str(art["dir"]), "--images", str(art["photos"]), "-o",
                       str(out), "--on", "tiny", *FAST, *NOREF)
        assert r.returncode == 1, r.stdout + r.stderr
        rows = _report(out)["rows"]
        assert [row["status"] for row in rows] == ["failed", "failed"]
        assert all("device tiny" in row["error"] and "no space left" in row["error"]
                   and "--cache" in row["error"] for row in rows), [r["error"] for r in rows]
        # what the full disk cut short is not marked complete (it is resent next time)
        sources = {p.name: p for d in (art["dir"], art["photos"]) for p in d.iterdir()}
        for mark in cache.glob("*/*/.complete"):
            for f in mark.parent.iterdir():
                if f.name in sources:
                    assert f.read_bytes() == sources[f.name].read_bytes(), f
    finally:
        subprocess.run(["umount", "-l", str(cache)], check=False)


def _default_sigint() -> None:
    """In the child before exec: SIGINT unblocked and at its default, as a shell starts a
    command (an earlier test's library may leave the pytest process's mask or disposition
    changed, and a child inherits both: Ctrl-C would never reach bench)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_bench(art: dict, out: Path, name: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "edgecolor", "bench", str(art["dir"]),
                             "--images", str(art["photos"]), "-o", str(out), "--on", name,
                             "--metrics", "fast", *NOREF, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)


def _wait_for_job(cache: Path, proc: subprocess.Popen, timeout: float = 240) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [p for p in _measure_pids(cache) if _alive(p)]
        if pids:
            time.sleep(1.0)  # past the load, into the timed runs
            return pids
        if proc.poll() is not None:
            raise AssertionError(proc.stdout.read() + proc.stderr.read())
        time.sleep(0.2)
    raise AssertionError("no job started on the device")


def _gone(pids: list[int], timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.2)
    return False


def test_connection_dropped_mid_run(rig, art, tmp_path):
    server = Sshd(rig["keys"], "fragile").start()
    _write_ssh_config(rig, {"ec-dev": rig["server"].port, "ec-down": _free_port(),
                            "ec-fragile": server.port})
    cache = tmp_path / "cache"
    _add("fragile", "ssh://ec-fragile", "--python", str(DEVICE_PY), "--cache", str(cache))
    out = tmp_path / "out"
    proc = _start_bench(art, out, "fragile", *LONG)
    try:
        pids = _wait_for_job(cache, proc)
        server.kill_all()  # the board's sshd and its connections are gone
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, stdout + stderr
    rows = _report(out)["rows"]
    assert [row["status"] for row in rows] == ["failed", "failed"]
    assert "device fragile" in rows[0]["error"] and "connection dropped" in rows[0]["error"]
    assert rows[1]["error"] == rows[0]["error"]  # no second try on a dead link
    assert _gone(pids), "the job kept running on the device after its connection closed"
    assert _nothing_left(cache) == []


def test_a_hung_job_is_stopped_within_the_timeout(rig, art, tmp_path):
    cache = tmp_path / "cache"
    _add("hangs", "ssh://ec-dev", "--python", str(DEVICE_PY), "--cache", str(cache))
    out = tmp_path / "out"
    proc = _start_bench(art, out, "hangs", *LONG,
                        "--timeout", "20")
    try:
        pids = _wait_for_job(cache, proc)
        for p in pids:
            os.killpg(p, signal.SIGSTOP)  # the board stops answering
        t0 = time.monotonic()
        stdout, stderr = proc.communicate(timeout=120)
        waited = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, stdout + stderr
    rows = _report(out)["rows"]
    assert "device hangs" in rows[0]["error"] and "no answer" in rows[0]["error"]
    assert "--timeout" in rows[0]["error"] and rows[1]["error"] == rows[0]["error"]
    assert waited < 60  # the per-device timeout, not the 60 s the job asked for
    assert _gone(pids) and _nothing_left(cache) == []


def test_interrupting_bench_stops_the_device_job(rig, art, tmp_path):
    cache = tmp_path / "cache"
    _add("ctrlc", "ssh://ec-dev", "--python", str(DEVICE_PY), "--cache", str(cache))
    proc = _start_bench(art, tmp_path / "out", "ctrlc", *LONG)
    try:
        pids = _wait_for_job(cache, proc)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert _gone(pids), "the job kept running on the device after bench was interrupted"
    assert _nothing_left(cache) == []


def test_devices_lists_reachability_and_the_detected_profile(rig, fleet_report):
    r = _edgecolor("devices", check_rc=0)
    lines = r.stdout.splitlines()
    dev = lines[[i for i, ln in enumerate(lines) if ln.strip().startswith("dev ")][0] + 1]
    assert "reachable" in dev and "detected: x86-cpu" in dev
    down = [ln for ln in lines if "device down" in ln]
    assert not down or "unreachable" in down[0]


def test_sustained_run_records_the_health_curve(rig, art, fleet_report, tmp_path):
    out = tmp_path / "out"
    _edgecolor("bench", str(art["dir"]), "--images", str(art["photos"]), "-o", str(out),
               "--on", "dev", *FAST, *NOREF, "--sustained", "3", check_rc=0)
    report = _report(out)
    s = report["devices"][0]["sustained"]
    assert s["status"] == "ok" and s["artifact"] == report["rows"][0]["artifact"]
    assert s["model_ms"]["n"] > 10  # ran for the 3 s asked, not the 2 runs of the table
    health = s["health"]
    assert health["n"] >= 3 and len(health["samples"]) == health["n"]
    assert health["samples"][-1][0] >= 1.5  # seconds since the start, ~1 s apart
    # this container exposes no sensors: the report says what could not be read
    assert health["missing"] and all(r["health_note"].startswith(("not readable", "ok", "⚠"))
                                     for r in report["rows"])
    md = (out / "report.md").read_text()
    assert "Sustained run on dev" in md and "| t (s) | temp (°C) |" in md


def _bare_python(tmp_path: Path, old: bool = False) -> Path:
    """A venv like the device's with edgecolor[rpi]'s dependencies but no edgecolor (``old``:
    an edgecolor 0.0.1 from before `bench --on`, a package without edgecolor.devices)."""
    venv = tmp_path / ("old" if old else "bare")
    subprocess.run([str(DEVICE_PY), "-m", "venv", "--without-pip", str(venv)], check=True)
    src = next((DEVICE_VENV / "lib").glob("python*/site-packages"))
    dst = next((venv / "lib").glob("python*/site-packages"))
    for entry in src.iterdir():
        if not entry.name.lower().startswith(("edgecolor", "__editable__")):
            (dst / entry.name).symlink_to(entry)
    if old:
        (dst / "edgecolor").mkdir()
        (dst / "edgecolor" / "__init__.py").write_text('__version__ = "0.0.1"\n')
    return venv / "bin" / "python"


def test_install_puts_this_version_on_the_device_offline(rig, art, tmp_path):
    """--install: the wheel built here goes along, pip installs it with --no-index into a venv
    in the device cache (its dependencies are the ones already there), the bench runs and the
    venv's python is recorded; without the dependencies the row names the one missing."""
    cache = tmp_path / "cache"
    bare = _bare_python(tmp_path, old=True)  # --install's edgecolor must shadow it
    _add("fresh", "ssh://ec-dev", "--python", str(bare), "--cache", str(cache))
    _add("nodeps", "ssh://ec-dev", "--python", "/usr/bin/python3",
         "--cache", str(tmp_path / "c-nodeps"))
    out = tmp_path / "out"
    r = _edgecolor("bench", str(art["dir"]), "--images", str(art["photos"]), "-o", str(out),
                   "--on", "fresh", "--on", "nodeps", "--install", *FAST, *NOREF)
    assert r.returncode == 1, r.stdout + r.stderr  # nodeps' rows fail, fresh's do not
    rows = _report(out)["rows"]
    fresh = [row for row in rows if row["device"] == "fresh"]
    assert [row["status"] for row in fresh] == ["ok", "ok"], r.stderr
    venv_py = cache / "venv" / "bin" / "python"
    probe = _report(out)["devices"][0]["probe"]
    assert probe["python"] == str(venv_py) and probe["runners"]["tflite"]
    site = next((cache / "venv" / "lib").glob("python*/site-packages"))
    assert next(site.glob("edgecolor-*.dist-info")).is_dir()  # a real install, not a link
    assert not (site / "numpy").exists()  # the dependencies stay where they were
    nodeps = {row["error"] for row in rows if row["device"] == "nodeps"}
    assert len(nodeps) == 1, nodeps
    err = nodeps.pop()
    assert "device nodeps" in err and "installs offline" in err and "\n" not in err
    assert "is not installed for /usr/bin/python3" in err and "edgecolor[" in err
    # recorded: the next bench needs no --install and installs nothing
    listed = (rig["devices"]).read_text()
    assert str(venv_py) in listed
    again = _edgecolor("bench", str(art["dir"]), "--images", str(art["photos"]), "-o",
                       str(tmp_path / "again"), "--on", "fresh", *FAST, *NOREF, check_rc=0)
    assert "installing edgecolor" not in again.stderr
