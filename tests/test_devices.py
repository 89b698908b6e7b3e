"""Device profiles parse and name real formats; detection reads a fake device root."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from edgecolor.devices import detect, list_profiles, load_profile, resolve_profile
from edgecolor.formats import FORMATS

A72_CPUINFO = "".join(
    f"processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"
    "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\n"
    "CPU revision\t: 3\n\n" for i in range(4))


def fake_root(tmp_path, cpuinfo: str = "", model: str | None = None,
              tegra: str | None = None):
    """A folder that looks like a board's / (only the files detection reads)."""
    (tmp_path / "proc").mkdir(exist_ok=True)
    (tmp_path / "proc/cpuinfo").write_text(cpuinfo)
    if model is not None:
        (tmp_path / "proc/device-tree").mkdir(exist_ok=True)
        (tmp_path / "proc/device-tree/model").write_bytes(model.encode() + b"\x00")
    if tegra is not None:
        (tmp_path / "etc").mkdir(exist_ok=True)
        (tmp_path / "etc/nv_tegra_release").write_text(tegra)
    return tmp_path


@pytest.fixture(autouse=True)
def _no_forced_device(monkeypatch):
    monkeypatch.delenv("EDGECOLOR_DEVICE", raising=False)
    monkeypatch.delenv("EDGECOLOR_DEVICE_ROOT", raising=False)


def test_required_profiles_exist_and_name_real_formats():
    names = list_profiles()
    for required in ("x86-cpu", "rpi4", "rpi5", "jetson-nano", "jetson-orin-nano"):
        assert required in names
    for name in names:
        p = load_profile(name)
        assert p.artifacts and p.runtimes and p.max_dpsnr == pytest.approx(0.3)
        for fmt, prec in p.artifacts:
            assert prec in FORMATS[fmt].precisions, (name, fmt, prec)
    x86 = load_profile("x86-cpu")
    assert set(x86.artifacts) >= {("onnx", "int8-cpu"), ("openvino", "int8"), ("tflite", "int8")}
    assert load_profile("rpi4").cpu == "cortex-a72" and load_profile("rpi5").cpu == "cortex-a76"
    assert load_profile("jetson-nano").trt_version == "8.2"
    orin = load_profile("jetson-orin-nano")
    assert float(orin.trt_version) >= 8.6 and ("onnx", "int8") in orin.artifacts
    assert ("tflite", "fp32") in orin.artifacts  # CPU fallback


def test_unknown_profile_lists_the_choices(tmp_path):
    with pytest.raises(ValueError, match="unknown target 'pi9'.*rpi4"):
        load_profile("pi9")
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\narch = "x"\nruntimes = ["tflite"]\nartifacts = ["tflite"]\n')
    with pytest.raises(ValueError, match="format:precision"):
        load_profile(str(bad))


def test_rpi4_from_device_tree_and_cpuinfo(tmp_path):
    root = fake_root(tmp_path, A72_CPUINFO, "Raspberry Pi 4 Model B Rev 1.4")
    found = detect(root)
    assert found.profile == "rpi4" and "Raspberry Pi 4" in found.reason
    assert found.machine == "aarch64" and found.cpu.lower() == load_profile("rpi4").cpu


def test_rpi4_from_cpuinfo_alone_via_env_root(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECOLOR_DEVICE_ROOT", str(fake_root(tmp_path, A72_CPUINFO)))
    found = detect()
    assert found.profile == "rpi4" and "0xd08" in found.reason
    assert resolve_profile("auto").name == "rpi4"


@pytest.mark.parametrize("model,tegra,part,expected", [
    ("Raspberry Pi 5 Model B Rev 1.0", None, "0xd0b", "rpi5"),
    ("NVIDIA Jetson Nano Developer Kit", None, "0xd07", "jetson-nano"),
    ("NVIDIA Jetson Orin Nano Developer Kit", None, "0xd42", "jetson-orin-nano"),
    (None, "# R32 (release), REVISION: 7.1, GCID: 29818004", "0xd07", "jetson-nano"),
    (None, "# R35 (release), REVISION: 4.1", "0xd42", "jetson-orin-nano"),
    (None, None, "0xd0b", "rpi5"),
])
def test_boards(tmp_path, model, tegra, part, expected):
    cpuinfo = A72_CPUINFO.replace("0xd08", part)
    assert detect(fake_root(tmp_path, cpuinfo, model, tegra)).profile == expected


def test_x86_flags_unknown_arm_and_forcing(tmp_path, monkeypatch):
    (tmp_path / "x86").mkdir()
    x86 = fake_root(tmp_path / "x86", "model name\t: Test CPU\nflags\t\t: fpu sse avx2 fma "
                    "avx512f avx512_vnni\n")
    found = detect(x86)
    assert found.profile == "x86-cpu" and found.flags == ("avx2", "fma", "avx512f",
                                                          "avx512_vnni")
    (tmp_path / "a53").mkdir()
    a53 = fake_root(tmp_path / "a53", A72_CPUINFO.replace("0xd08", "0xd03"))
    unknown = detect(a53)
    assert unknown.profile is None and "Cortex-A53" in unknown.reason
    monkeypatch.setenv("EDGECOLOR_DEVICE_ROOT", str(a53))
    with pytest.raises(ValueError, match="--target"):
        resolve_profile("auto")
    monkeypatch.setenv("EDGECOLOR_DEVICE", "jetson-nano")
    assert detect(a53).profile == "jetson-nano" and resolve_profile("auto").name == "jetson-nano"


def test_devices_command_marks_the_detected_board(tmp_path, monkeypatch):
    from edgecolor.cli import cli

    monkeypatch.setenv("EDGECOLOR_DEVICE_ROOT",
                       str(fake_root(tmp_path, A72_CPUINFO, "Raspberry Pi 4 Model B")))
    result = CliRunner().invoke(cli, ["devices"])
    assert result.exit_code == 0, result.output
    marked = [line for line in result.output.splitlines() if line.startswith("*")]
    assert len(marked) == 1 and marked[0].split()[1] == "rpi4"
    assert "jetson-orin-nano" in result.output and "TensorRT 8.6" in result.output
    assert "detected: rpi4" in result.output


def test_jetson_nano_profile_exports_onnx_at_the_opset_tensorrt_82_parses(tmp_path, calib_dir):
    import onnx

    from edgecolor.converters.run import convert_all
    from edgecolor.devices import load_profile

    assert load_profile("jetson-nano").onnx_opset == 13
    (res,) = convert_all("baseline", "jetson-nano", formats=["onnx"], precisions=["fp32"],
                         calib=calib_dir, out_dir=tmp_path, imgsz=64, width=0.25)
    assert res.ok, res.error
    opsets = {o.domain: o.version for o in onnx.load(res.path).opset_import}
    assert opsets.get("", opsets.get("ai.onnx")) == 13
    assert res.trt_problems == []
