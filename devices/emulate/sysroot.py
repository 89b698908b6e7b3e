"""Build the aarch64 world the lane runs in, without root, cached: Debian sysroot + wheels.

Layout under the cache folder (``EDGECOLOR_ARM_CACHE``, default ~/.cache/edgecolor-arm):

- ``sysroot/``: Debian bookworm arm64 ``python3.11 libstdc++6 libgomp1`` and their
  dependencies, fetched by apt with a private configuration (its own lists, cache and an
  empty dpkg status, ``APT::Architecture "arm64"``) and unpacked with ``dpkg -x``;
- ``machines/<board>/``: symlinks to the sysroot plus the board's ``proc/`` and ``sys/`` files
  (qemu looks under its ``-L`` prefix first, so the guest reads these);
- ``site/``: aarch64 cp311 wheels of the ``rpi`` and ``metrics`` extras + pytest (pinned by
  .ci/constraints.txt), except ai-edge-litert, moved to ``site-litert/``;
- ``site-tflite-runtime/``: tflite-runtime 2.14 with the numpy < 2 it needs; the
  tflite-runtime runs use it instead of site-litert/ (a board with only tflite-runtime);
- ``pkg/``: edgecolor itself (pure Python, ``pip install --no-deps --target``);
- ``bin/python3-<board>``: a host shell script running the aarch64 python under qemu;
- ``host-tflite-runtime/``: the same tflite-runtime for the x86 host (its reference outputs).

Each part carries a stamp (the digest of what made it) and is rebuilt only when that changes,
into a temporary folder renamed into place, so an interrupted build never looks finished.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgecolor.devices.emulate.machines import Machine

PYTHON_VERSION = "3.11"  # Debian bookworm's python3; the wheels must be cp311
DEBIAN_SUITE = "bookworm"
DEBIAN_PACKAGES = ("python3.11", "libstdc++6", "libgomp1")
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SECURITY = "http://deb.debian.org/debian-security"
DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
# pip never falls back to older manylinux tags by itself: list every one bookworm's glibc
# (2.36) can load, or it silently picks an old release built for a tag we did not name.
PLATFORM_TAGS = tuple(f"manylinux_2_{n}_aarch64" for n in range(17, 37)) + (
    "manylinux2014_aarch64",
)
# extras installed into site/: the board's runtimes, and the metrics `edgecolor bench` scores
# photos with (SSIM, CIEDE2000 need scikit-image)
EXTRAS = ("rpi", "metrics")
TEST_REQUIREMENTS = ("pytest",)
LITERT_DIST = "ai_edge_litert"  # kept off the path of the tflite-runtime runs
HERE = Path(__file__).parent
TFLITE_RUNTIME_REQUIREMENTS = HERE / "requirements-tflite-runtime.txt"
STAMP_VERSION = 1  # bump to force every cache part to rebuild


class LaneError(RuntimeError):
    """The lane cannot run here; the one-line message says why and what to do."""


def default_cache() -> Path:
    """``$EDGECOLOR_ARM_CACHE`` or ~/.cache/edgecolor-arm."""
    env = os.environ.get("EDGECOLOR_ARM_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "edgecolor-arm"


@dataclass(frozen=True)
class Layout:
    """Where each part of the emulated world lives under the cache folder."""

    cache: Path

    @property
    def sysroot(self) -> Path:
        return self.cache / "sysroot"

    @property
    def site(self) -> Path:
        return self.cache / "site"

    @property
    def site_litert(self) -> Path:
        return self.cache / "site-litert"

    @property
    def site_tflite_runtime(self) -> Path:
        return self.cache / "site-tflite-runtime"

    @property
    def pkg(self) -> Path:
        return self.cache / "pkg"

    @property
    def bin(self) -> Path:
        return self.cache / "bin"

    def machine_root(self, machine: Machine) -> Path:
        return self.cache / "machines" / machine.name

    def wrapper(self, machine: Machine) -> Path:
        return self.bin / f"python3-{machine.name}"

    def guest_python(self) -> Path:
        return self.sysroot / "usr" / "bin" / f"python{PYTHON_VERSION}"


# ---------------------------------------------------------------------------- helpers

def _digest(*parts: object) -> str:
    h = hashlib.sha256(str(STAMP_VERSION).encode())
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".stamp")


def _is_current(target: Path, key: str) -> bool:
    stamp = _stamp_path(target)
    return target.is_dir() and stamp.is_file() and stamp.read_text().strip() == key


def _replace_dir(tmp: Path, target: Path, key: str) -> None:
    """Move a finished ``tmp`` build into place and stamp it."""
    _stamp_path(target).unlink(missing_ok=True)
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    _stamp_path(target).write_text(key + "\n")


def _run(cmd: list[str], what: str, env: dict | None = None) -> str:
    """Run a host command quietly; LaneError with its last output lines when it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise LaneError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd[:4])} ...\n{tail}")
    return proc.stdout


def _pip(*args: str) -> list[str]:
    return [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input",
            "--no-color", *args]


def _platform_args() -> list[str]:
    args = ["--only-binary=:all:", "--python-version", PYTHON_VERSION,
            "--implementation", "cp", "--abi", "cp" + PYTHON_VERSION.replace(".", "")]
    for tag in PLATFORM_TAGS:
        args += ["--platform", tag]
    return args


# ---------------------------------------------------------------------------- qemu

def find_qemu() -> str | None:
    """Path of qemu-aarch64-static (or qemu-aarch64), or None."""
    return shutil.which("qemu-aarch64-static") or shutil.which("qemu-aarch64")


def ensure_qemu(install: bool = True) -> str:
    """-> path of qemu's aarch64 user-mode emulator, installing Debian's qemu-user-static when
    missing and we are root with apt-get. Raises LaneError saying how to get it otherwise.
    """
    qemu = find_qemu()
    if qemu:
        return qemu
    if install and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        _run(["apt-get", "-q", "update"], "apt-get update", env)
        _run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "qemu-user-static"],
             "apt-get install qemu-user-static", env)
        qemu = find_qemu()
        if qemu:
            return qemu
    raise LaneError("qemu-aarch64-static not found: install it (sudo apt-get install "
                    "qemu-user-static) or run the lane as root on Debian/Ubuntu")


def qemu_version(qemu: str) -> str:
    """First line of ``qemu --version`` ("qemu-aarch64 version 7.2.22 ...")."""
    out = subprocess.run([qemu, "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else "unknown"


# ---------------------------------------------------------------------------- sysroot

def _apt_config(root: Path, mirror: str, security: str) -> Path:
    """Write a private apt configuration under ``root`` for arm64 -> its apt.conf path."""
    for d in ("etc/apt/apt.conf.d", "etc/apt/preferences.d", "etc/apt/sources.list.d",
              "var/lib/apt/lists/partial", "var/cache/apt/archives/partial", "var/lib/dpkg"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "var/lib/dpkg/status").write_text("")
    opts = f"arch=arm64 signed-by={DEBIAN_KEYRING}"
    (root / "etc/apt/sources.list").write_text(
        f"deb [{opts}] {mirror} {DEBIAN_SUITE} main\n"
        f"deb [{opts}] {mirror} {DEBIAN_SUITE}-updates main\n"
        f"deb [{opts}] {security} {DEBIAN_SUITE}-security main\n"
    )
    conf = root / "apt.conf"
    conf.write_text(
        f'Dir "{root}/";\n'
        f'Dir::State "{root}/var/lib/apt/";\n'
        f'Dir::State::status "{root}/var/lib/dpkg/status";\n'
        f'Dir::Cache "{root}/var/cache/apt/";\n'
        f'Dir::Etc "{root}/etc/apt/";\n'
        'Dir::Etc::TrustedParts "/etc/apt/trusted.gpg.d";\n'
        'APT::Architecture "arm64";\n'
        'APT::Architectures { "arm64"; };\n'
        'APT::Install-Recommends "false";\n'
        'Acquire::Languages "none";\n'
        'Debug::NoLocking "true";\n'
    )
    return conf


def build_sysroot(layout: Layout, mirror: str | None = None, security: str | None = None,
                  log: Callable[[str], None] = print) -> bool:
    """Fetch and unpack the Debian arm64 sysroot (no root needed) -> True if (re)built.

    Raises LaneError when apt-get/dpkg or the Debian keyring is missing or a download fails.
    """
    mirror = mirror or os.environ.get("EDGECOLOR_ARM_MIRROR", DEBIAN_MIRROR)
    security = security or os.environ.get("EDGECOLOR_ARM_SECURITY_MIRROR", DEBIAN_SECURITY)
    key = _digest(DEBIAN_SUITE, DEBIAN_PACKAGES, mirror, security)
    if _is_current(layout.sysroot, key) and layout.guest_python().is_file():
        return False
    for tool in ("apt-get", "dpkg"):
        if not shutil.which(tool):
            raise LaneError(f"{tool} not found: the ARM lane builds its sysroot from Debian "
                            "packages and needs a Debian/Ubuntu host (or container)")
    if not Path(DEBIAN_KEYRING).is_file():
        raise LaneError(f"{DEBIAN_KEYRING} missing: install Debian's archive keys "
                        "(apt-get install debian-archive-keyring)")
    log(f"building the arm64 sysroot (Debian {DEBIAN_SUITE}: {' '.join(DEBIAN_PACKAGES)})")
    layout.cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=layout.cache, prefix=".apt-") as apt_dir:
        apt_root = Path(apt_dir)
        env = dict(os.environ, APT_CONFIG=str(_apt_config(apt_root, mirror, security)),
                   DEBIAN_FRONTEND="noninteractive")
        _run(["apt-get", "-q", "update"], "apt-get update (arm64 lists)", env)
        _run(["apt-get", "-q", "-y", "install", "--download-only", *DEBIAN_PACKAGES],
             "apt-get download of the arm64 packages", env)
        debs = sorted((apt_root / "var/cache/apt/archives").glob("*.deb"))
        if not debs:
            raise LaneError("apt-get downloaded no arm64 packages (check the mirror)")
        tmp = Path(tempfile.mkdtemp(dir=layout.cache, prefix=".sysroot-"))
        for deb in debs:
            _run(["dpkg", "-x", str(deb), str(tmp)], f"dpkg -x {deb.name}")
    if not (tmp / "usr/bin" / f"python{PYTHON_VERSION}").is_file():
        raise LaneError(f"the arm64 sysroot has no python{PYTHON_VERSION} (check the packages)")
    _replace_dir(tmp, layout.sysroot, key)
    return True


# ---------------------------------------------------------------------------- wheels

def device_requirements(repo: Path) -> list[str]:
    """install_requires + the EXTRAS from the repo's setup.cfg + pytest."""
    cfg = configparser.ConfigParser()
    cfg.read(repo / "setup.cfg")
    reqs = cfg.get("options", "install_requires", fallback="").split("\n")
    for extra in EXTRAS:
        reqs += cfg.get("options.extras_require", extra, fallback="").split("\n")
    reqs = [r.split("#")[0].strip() for r in reqs]
    return sorted({r for r in reqs if r}) + list(TEST_REQUIREMENTS)


def install_wheels(layout: Layout, requirements: list[str], constraints: Path | None,
                   log: Callable[[str], None] = print) -> bool:
    """pip-install aarch64 cp311 wheels of ``requirements`` into site/ -> True if (re)built.

    ai-edge-litert is then moved to its own folder (site-litert/) so that the tflite-runtime
    runs can leave it off the path, like a board that has only tflite-runtime installed.
    """
    cons = constraints.read_text() if constraints and constraints.is_file() else ""
    key = _digest(requirements, cons, PLATFORM_TAGS, LITERT_DIST)
    if _is_current(layout.site, key) and _is_current(layout.site_litert, key):
        return False
    log(f"installing aarch64 wheels: {' '.join(requirements)}")
    tmp = _pip_target(layout.site.name, requirements,
                      ["-c", str(constraints)] if cons else [], layout.cache)
    litert = Path(tempfile.mkdtemp(dir=layout.cache, prefix=".site-litert-"))
    move_distribution(tmp, LITERT_DIST, litert)
    _replace_dir(tmp, layout.site, key)
    _replace_dir(litert, layout.site_litert, key)
    return True


def move_distribution(site: Path, dist: str, dest: Path) -> list[str]:
    """Move an installed distribution's top-level files (per its RECORD) from ``site`` to
    ``dest`` -> the names moved (none when it is not installed there).
    """
    infos = sorted(site.glob(f"{dist}-*.dist-info"))
    if not infos:
        return []
    tops = {infos[0].name}
    for line in (infos[0] / "RECORD").read_text().splitlines():
        top = line.split(",")[0].split("/")[0]
        if top and not top.startswith("..") and top != "bin":
            tops.add(top)
    moved = []
    for name in sorted(tops):
        if (site / name).exists():
            shutil.move(str(site / name), str(dest / name))
            moved.append(name)
    return moved


def install_tflite_runtime(layout: Layout, log: Callable[[str], None] = print) -> bool:
    """tflite-runtime 2.14 + numpy < 2 (pinned in requirements-tflite-runtime.txt) into their
    own folder -> True if (re)built.
    """
    text = TFLITE_RUNTIME_REQUIREMENTS.read_text()
    reqs = [r.split("#")[0].strip() for r in text.splitlines()]
    reqs = [r for r in reqs if r]
    key = _digest(reqs, PLATFORM_TAGS)
    if _is_current(layout.site_tflite_runtime, key):
        return False
    log(f"installing aarch64 wheels: {' '.join(reqs)} (own folder: it needs numpy < 2)")
    tmp = _pip_target(layout.site_tflite_runtime.name, reqs, ["--no-deps"], layout.cache)
    _replace_dir(tmp, layout.site_tflite_runtime, key)
    return True


def install_host_tflite_runtime(layout: Layout, log: Callable[[str], None] = print
                                ) -> Path | None:
    """The same tflite-runtime + numpy < 2 for this host (x86), in its own folder -> its path,
    or None when pip has no wheel for this host's Python (the x86 reference of the
    tflite-runtime runs is then missing and those checks are skipped, saying why).
    """
    target = layout.cache / "host-tflite-runtime"
    reqs = [r.split("#")[0].strip() for r in TFLITE_RUNTIME_REQUIREMENTS.read_text().splitlines()]
    reqs = [r for r in reqs if r]
    key = _digest(reqs, sys.version_info[:2], sys.platform)
    if _is_current(target, key):
        return target
    log(f"installing {' '.join(reqs)} for this host (x86 reference of the legacy runtime)")
    layout.cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=layout.cache, prefix=".host-tflite-runtime-"))
    try:
        _run(_pip("install", "-q", "--no-warn-conflicts", "--no-deps", "--only-binary=:all:",
                  "--target", str(tmp), *reqs), "pip install tflite-runtime for this host")
    except LaneError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        log(f"warning: no x86 tflite-runtime reference: {str(e).splitlines()[0]}")
        return None
    _replace_dir(tmp, target, key)
    return target


def _pip_target(name: str, reqs: list[str], extra: list[str], cache: Path) -> Path:
    """pip-install aarch64 wheels into a new temporary folder under ``cache`` -> its path."""
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=cache, prefix=f".{name}-"))
    try:
        _run(_pip("install", "-q", "--no-warn-conflicts", "--target", str(tmp),
                  *_platform_args(), *extra, *reqs), f"pip install into {name}/")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def package_files(repo: Path) -> list[Path]:
    """Every file that goes into the edgecolor distribution (setup.cfg's package_dir roots)."""
    cfg = configparser.ConfigParser()
    cfg.read(repo / "setup.cfg")
    roots = set()
    for line in cfg.get("options", "package_dir", fallback="").splitlines():
        if "=" in line:
            roots.add(line.split("=", 1)[1].strip())
    files = [repo / n for n in ("setup.cfg", "pyproject.toml", "README.md", "LICENSE")
             if (repo / n).is_file()]
    for root in sorted(roots):
        files += sorted(p for p in (repo / root).rglob("*")
                        if p.is_file() and "__pycache__" not in p.parts)
    return files


def package_key(repo: Path) -> str:
    """Stamp of edgecolor's sources in ``repo``: pkg/ is current while its stamp equals it."""
    h = hashlib.sha256()
    for f in package_files(repo):
        h.update(str(f.relative_to(repo)).encode() + b"\0" + f.read_bytes())
    return _digest(h.hexdigest())


def package_current(layout: Layout, repo: Path) -> bool:
    """Whether pkg/ holds edgecolor as ``repo``'s sources are now."""
    return _is_current(layout.pkg, package_key(repo))


def install_package(layout: Layout, repo: Path, log: Callable[[str], None] = print) -> bool:
    """pip-install edgecolor (pure Python, --no-deps) from ``repo`` into pkg/ -> True if
    (re)installed. Built from a copy so the working tree gets no build/ folder.
    """
    files = package_files(repo)
    key = package_key(repo)
    if _is_current(layout.pkg, key):
        return False
    log("installing edgecolor (pure Python) for aarch64")
    layout.cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=layout.cache, prefix=".src-") as src_dir:
        src = Path(src_dir)
        for f in files:
            dest = src / f.relative_to(repo)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest)
        tmp = Path(tempfile.mkdtemp(dir=layout.cache, prefix=".pkg-"))
        try:
            _run(_pip("install", "-q", "--no-deps", "--target", str(tmp),
                      str(src)), "pip install edgecolor into pkg/")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    _replace_dir(tmp, layout.pkg, key)
    return True


# ---------------------------------------------------------------------------- boards

def make_machine_root(layout: Layout, machine: Machine) -> Path:
    """The board's qemu prefix: symlinks to the sysroot + its proc/ and sys/ files -> path."""
    root = layout.machine_root(machine)
    root.mkdir(parents=True, exist_ok=True)
    for entry in layout.sysroot.iterdir():
        link = root / entry.name
        if entry.name in ("proc", "sys"):
            continue
        target = os.path.relpath(entry, root)  # relative: the cache folder may move
        if link.is_symlink() and os.readlink(link) == target:
            continue
        if link.is_symlink() or link.is_file():
            link.unlink()
        elif link.exists():
            shutil.rmtree(link)
        link.symlink_to(target)
    (root / "proc/device-tree").mkdir(parents=True, exist_ok=True)
    (root / "proc/cpuinfo").write_text(machine.cpuinfo_text())
    (root / "proc/device-tree/model").write_text(machine.model + "\x00")
    (root / "proc/device-tree/compatible").write_text(_compatible(machine))
    cpus = root / "sys/devices/system/cpu"
    for i in range(max(machine.cores(), os.cpu_count() or 1)):
        ident = cpus / f"cpu{i}/regs/identification"
        ident.mkdir(parents=True, exist_ok=True)
        (ident / "midr_el1").write_text(f"0x{machine.midr:016x}\n")
    return root


def _compatible(machine: Machine) -> str:
    soc = {"rpi4": "raspberrypi,4-model-b\0brcm,bcm2711\0",
           "rpi5": "raspberrypi,5-model-b\0brcm,bcm2712\0",
           "jetson-nano": "nvidia,p3450-0000\0nvidia,tegra210\0",
           "jetson-orin-nano": "nvidia,p3768-0000+p3767-0005\0nvidia,tegra234\0"}
    return soc.get(machine.name, "")


def guest_env(layout: Layout, machine: Machine, legacy_tflite: bool = False) -> dict[str, str]:
    """Environment of the emulated python (PYTHONPATH order: [tflite-runtime,] pkg, site)."""
    if legacy_tflite:
        paths = [layout.site_tflite_runtime, layout.pkg, layout.site]
    else:
        paths = [layout.pkg, layout.site_litert, layout.site]
    return {
        "QEMU_CPU": machine.qemu_cpu,
        "PYTHONPATH": os.pathsep.join(str(p) for p in paths),
        "PYTHONNOUSERSITE": "1",
        "EDGECOLOR_EMULATED": "1",
        "EDGECOLOR_EMULATED_MACHINE": machine.name,
    }


def write_wrapper(layout: Layout, machine: Machine, qemu: str) -> Path:
    """Write ``bin/python3-<board>``: a host shell script that runs the aarch64 python.

    qemu's ``-0`` makes the guest's sys.executable this script, so the guest can start more
    Python processes (the benchmark measures in a subprocess) without binfmt_misc; PYTHONHOME
    keeps the guest off the host's own /usr/lib/python3.11 (qemu maps /usr to the sysroot).
    EDGECOLOR_ARM_TFLITE_RUNTIME=1 puts tflite-runtime and numpy < 2 first on the path.
    """
    env = guest_env(layout, machine)
    legacy = guest_env(layout, machine, legacy_tflite=True)["PYTHONPATH"]
    wrapper = layout.wrapper(machine)
    lines = ["#!/bin/sh", f"# aarch64 python of the emulated {machine.name} (edgecolor ARM lane)"]
    for k, v in env.items():
        if k == "PYTHONPATH":
            continue
        lines.append(f"export {k}='{v}'")
    lines += [
        'if [ "${EDGECOLOR_ARM_TFLITE_RUNTIME:-0}" = 1 ]; then',
        f"  export PYTHONPATH='{legacy}'",
        "else",
        f"  export PYTHONPATH='{env['PYTHONPATH']}'",
        "fi",
        f"PYTHONHOME=/usr exec '{qemu}' -0 '{wrapper}' -L '{layout.machine_root(machine)}' "
        f"'{layout.guest_python()}' \"$@\"",
        "",
    ]
    layout.bin.mkdir(parents=True, exist_ok=True)
    tmp = wrapper.with_name(wrapper.name + ".tmp")
    tmp.write_text("\n".join(lines))
    tmp.chmod(0o755)
    tmp.replace(wrapper)
    return wrapper


def setup(layout: Layout, machines: list[Machine], repo: Path, install_qemu: bool = True,
          log: Callable[[str], None] = print) -> dict[str, Path]:
    """Everything the emulated runs need -> {board name: its python wrapper}.

    Cached: with nothing changed this only checks stamps and rewrites the small board files.
    """
    qemu = ensure_qemu(install_qemu)
    build_sysroot(layout, log=log)
    install_wheels(layout, device_requirements(repo), repo / ".ci" / "constraints.txt", log=log)
    install_tflite_runtime(layout, log=log)
    install_package(layout, repo, log=log)
    wrappers = {}
    for m in machines:
        make_machine_root(layout, m)
        wrappers[m.name] = write_wrapper(layout, m, qemu)
    return wrappers
