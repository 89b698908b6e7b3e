"""Host-side checks of the ARM lane's pieces (the emulated run itself is `make test-arm`):
the boards it fakes, the qemu wrapper, the wheel layout, the references and the comparison.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgecolor.devices.emulate import MACHINES, get_machine
from edgecolor.devices.emulate import sysroot as sr

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def layout(tmp_path) -> sr.Layout:
    """A cache with a minimal fake sysroot (two top-level folders, a 'python')."""
    lay = sr.Layout(tmp_path / "cache")
    (lay.sysroot / "usr" / "bin").mkdir(parents=True)
    (lay.sysroot / "lib").mkdir()
    lay.guest_python().write_text("")
    return lay


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_board_files_are_detected_as_that_board(layout, name, monkeypatch):
    from edgecolor.bench.context import detect_emulation
    from edgecolor.devices import detect, load_profile

    monkeypatch.delenv("EDGECOLOR_DEVICE", raising=False)
    machine = get_machine(name)
    root = sr.make_machine_root(layout, machine)
    assert (root / "usr").resolve() == (layout.sysroot / "usr").resolve()
    found = detect(root)
    assert found.profile == name, found.reason
    assert found.cpu.lower() == load_profile(name).cpu.lower()
    midr = (root / "sys/devices/system/cpu/cpu0/regs/identification/midr_el1").read_text()
    assert int(midr, 16) >> 24 == 0x41  # Arm Ltd., as ONNX Runtime / OpenVINO expect
    # a board's own cpuinfo does not look emulated; the lane's environment says it is
    cpuinfo = machine.cpuinfo_text()
    assert detect_emulation(cpuinfo, "aarch64", environ={}) == (False, None)
    env = sr.guest_env(layout, machine)
    assert detect_emulation(cpuinfo, "aarch64", environ=env)[0] is True
    assert env["QEMU_CPU"] == machine.qemu_cpu


def test_pi4_cpu_lacks_what_qemu_max_would_expose():
    pi4, pi5 = get_machine("rpi4").cpuinfo_text(), get_machine("rpi5").cpuinfo_text()
    assert get_machine("rpi4").cores() == 4
    assert "asimddp" not in pi4 and "fphp" not in pi4 and "sve" not in pi4
    assert "asimddp" in pi5 and "asimdhp" in pi5


def test_wrapper_runs_qemu_with_the_board_and_switches_tflite_runtime(layout, tmp_path):
    """The generated wrapper, run with a stand-in 'qemu' that prints what it got."""
    fake_qemu = tmp_path / "qemu-aarch64-static"
    fake_qemu.write_text('#!/bin/sh\necho "ARGS $*"\necho "CPU $QEMU_CPU"\n'
                         'echo "PATH $PYTHONPATH"\necho "HOME $PYTHONHOME"\n'
                         'echo "EMU $EDGECOLOR_EMULATED $EDGECOLOR_EMULATED_MACHINE"\n')
    fake_qemu.chmod(0o755)
    machine = get_machine("rpi4")
    sr.make_machine_root(layout, machine)
    wrapper = sr.write_wrapper(layout, machine, str(fake_qemu))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EDGECOLOR", "QEMU"))}
    out = subprocess.run([str(wrapper), "-c", "pass"], capture_output=True, text=True,
                         env=env, check=True).stdout.splitlines()
    assert out[0] == (f"ARGS -0 {wrapper} -L {layout.machine_root(machine)} "
                      f"{layout.guest_python()} -c pass")
    assert out[1] == "CPU cortex-a72"
    assert out[2] == f"PATH {layout.pkg}:{layout.site_litert}:{layout.site}"
    assert out[3] == "HOME /usr" and out[4] == "EMU 1 rpi4"
    env["EDGECOLOR_ARM_TFLITE_RUNTIME"] = "1"
    out = subprocess.run([str(wrapper)], capture_output=True, text=True, env=env,
                         check=True).stdout.splitlines()
    assert out[2] == f"PATH {layout.site_tflite_runtime}:{layout.pkg}:{layout.site}"


def test_move_distribution_takes_exactly_its_files(tmp_path):
    site, dest = tmp_path / "site", tmp_path / "dest"
    (site / "pkg_a").mkdir(parents=True)
    (site / "pkg_a" / "__init__.py").write_text("")
    (site / "pkg_a.libs").mkdir()
    (site / "other").mkdir()
    info = site / "pkg_a-1.0.dist-info"
    info.mkdir()
    (info / "RECORD").write_text("pkg_a/__init__.py,sha256=x,1\npkg_a.libs/x.so,,\n"
                                 "pkg_a-1.0.dist-info/RECORD,,\n../../bin/tool,,\n")
    dest.mkdir()
    moved = sr.move_distribution(site, "pkg_a", dest)
    assert moved == ["pkg_a", "pkg_a-1.0.dist-info", "pkg_a.libs"]
    assert sorted(p.name for p in site.iterdir()) == ["other"]
    assert (dest / "pkg_a" / "__init__.py").is_file()
    assert sr.move_distribution(site, "absent", dest) == []


def test_device_requirements_have_runtimes_not_tensorflow():
    reqs = sr.device_requirements(REPO)
    names = {r.split(">")[0].split("=")[0].split("<")[0].strip().lower() for r in reqs}
    assert {"numpy", "opencv-python-headless", "onnxruntime", "openvino", "ai-edge-litert",
            "scikit-image", "pytest"} <= names
    assert not names & {"tensorflow", "keras", "tf2onnx", "nncf", "onnx"}
    tags = sr.PLATFORM_TAGS
    assert [f"manylinux_2_{n}_aarch64" for n in range(17, 37)] == list(tags[:-1])
    assert tags[-1] == "manylinux2014_aarch64"


def test_stamps_decide_what_is_rebuilt(tmp_path):
    target = tmp_path / "part"
    assert not sr._is_current(target, "k1")
    tmp = tmp_path / ".part-tmp"
    tmp.mkdir()
    (tmp / "f").write_text("1")
    sr._replace_dir(tmp, target, "k1")
    assert sr._is_current(target, "k1") and not sr._is_current(target, "k2")
    assert (target / "f").read_text() == "1" and not tmp.exists()


@pytest.fixture(scope="module")
def int8_folder(tmp_path_factory):
    """TFLite fp32 + int8 of the width-reduced baseline (seeded, activation-scaled weights)
    and their references, made as the lane makes them."""
    from edgecolor.converters.run import convert_all
    from edgecolor.devices.emulate.lane import seeded_weights
    from edgecolor.devices.emulate.reference import write_references
    from edgecolor.samples import sample_images

    root = tmp_path_factory.mktemp("arm")
    weights = seeded_weights(root / "w.weights.h5", "baseline", 64, 0.25, 0)
    out = root / "artifacts"
    results = convert_all("baseline", target="rpi4", formats=["tflite"],
                          precisions=["fp32", "int8"], out_dir=out, weights=weights, imgsz=64,
                          width=0.25, threads=1, budget=False, calib_method="minmax")
    assert [r.path.is_file() for r in results] == [True, True], [r.error for r in results]
    written = write_references(out, sample_images("eval")[:2], threads=1)
    assert len(written) == 2
    return out


def test_reference_records_host_and_keras_outputs(int8_folder):
    from edgecolor.devices.emulate.agreement import Reference, ref_path

    ref = Reference.load(ref_path(int8_folder / "baseline-tflite-int8.tflite"))
    assert ref.names == ["kodim07.jpg", "kodim08.jpg"]
    assert ref.l.shape == (2, 256, 256) and 0 <= ref.l.min() and ref.l.max() <= 100
    assert ref.inputs[0].shape == (2, 1, 64, 64, 1)
    assert ref.outputs["output"].shape == ref.keras.shape == (2, 1, 64, 64, 2)
    assert ref.meta["output_step"] == pytest.approx(1 / 128)  # int8 output scale of tanh
    assert ref.meta["backends"]["output"].startswith("ai_edge_litert")
    # the activation-scaled init colors: ab spreads like a colorizer's, not a gray picture
    assert float(np.std(ref.keras)) > 0.2
    host_psnr = ref.meta["host_psnr_vs_keras_db"]["output"]
    assert all(20.0 < p < 60.0 for p in host_psnr), host_psnr


def test_same_runtime_agrees_and_a_shifted_output_fails(int8_folder, tmp_path):
    from edgecolor.devices.emulate.agreement import check_artifact, ref_path

    for name in ("baseline-tflite-fp32.tflite", "baseline-tflite-int8.tflite"):
        row = check_artifact(int8_folder / name)
        assert row.ok, row.problems
        assert row.max_abs_diff == 0.0 and row.equal_fraction == 1.0
        assert row.psnr_vs_keras_db == pytest.approx(row.host_psnr_vs_keras_db)
    # a board that is 2 output steps off everywhere must fail, not be averaged away
    folder = tmp_path / "copy"
    shutil.copytree(int8_folder, folder)
    artifact = folder / "baseline-tflite-int8.tflite"
    with np.load(ref_path(artifact)) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["output"] = arrays["output"] + 2 / 128
    np.savez(ref_path(artifact), **arrays)
    row = check_artifact(artifact)
    assert not row.ok and "differs from the host" in row.problems[0]
    # a reference made for another build of the artifact is refused
    meta = json.loads(str(arrays["meta"]))
    meta["sha256"] = "0" * 64
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(ref_path(artifact), **arrays)
    row = check_artifact(artifact)
    assert row.problems == ["reference was made for another build of this artifact "
                            "(sha256 differs): re-create it"]


def test_tflite_runtime_output_is_never_compared_with_litert():
    from edgecolor.devices.emulate.agreement import Reference

    ref = Reference([], np.zeros((0, 1, 1)), [], {"output": np.zeros(1)}, None,
                    {"backends": {"output": "ai_edge_litert 2.3.0"}})
    assert ref.output_for("ai_edge_litert 2.3.0") == "output"
    assert ref.output_for("tflite_runtime 2.14.0") is None
    ref.outputs["output_tflite_runtime"] = np.zeros(1)
    ref.meta["backends"]["output_tflite_runtime"] = "tflite_runtime 2.14.0"
    assert ref.output_for("tflite_runtime 2.14.0") == "output_tflite_runtime"


def test_host_suite_does_not_collect_tests_arm():
    env = {k: v for k, v in os.environ.items() if k != "EDGECOLOR_ARM_ARTIFACTS"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                           "-p", "no:cacheprovider", "tests/arm"],
                          cwd=REPO, capture_output=True, text=True, env=env)
    assert proc.returncode == 5, proc.stdout + proc.stderr  # 5: no tests collected


def test_lane_without_qemu_fails_loudly(tmp_path):
    """No qemu and no permission to install it: a red lane naming the fix, never a skip."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "env", "dirname"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    env = dict(os.environ, PATH=str(bin_dir), PYTHON=sys.executable,
               EDGECOLOR_ARM_CACHE=str(tmp_path / "cache"))
    proc = subprocess.run([str(REPO / ".ci" / "arm"), "--no-install-qemu"], cwd=tmp_path,
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("ARM LANE FAILED: qemu-aarch64-static not found")
    assert "apt-get install qemu-user-static" in proc.stderr


def test_color_path_reference_is_right(tmp_path):
    """color-path.npz (written on the host for the board to match): written atomically, its
    outputs within 1 level (L: 1e-3) of the float reference, and rerunning them here gives
    the same bytes (what the board's test compares)."""
    from edgecolor import color
    from edgecolor.devices.emulate.color_reference import (
        COLOR_REF_NAME,
        color_outputs,
        write_color_reference,
    )

    path = write_color_reference(tmp_path)
    assert path.name == COLOR_REF_NAME and not list(tmp_path.glob("*.tmp"))
    with np.load(path) as ref:
        host = {k: ref[k] for k in ref.files}
    exact = np.round(color.combine(host["l_sweep"], host["ab_sweep"]) * 255.0)
    assert np.abs(host["rgb_sweep"].astype(np.int16) - exact).max() <= 1
    l_ref = color.rgb_to_lab(color.to_float_rgb(host["rgb_grid"]))[..., 0]
    assert np.abs(host["l_of_rgb"] - l_ref).max() < 1e-3
    again = color_outputs(host)  # what the board runs, here on x86: identical
    for key in ("rgb_sweep", "bgr_upsampled", "l_of_rgb"):
        assert np.array_equal(again[key], host[key]), key
