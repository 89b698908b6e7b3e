"""The devices file and `edgecolor devices add/remove/list` (no connection needed here), the
remote job seam (BenchJob), and how ssh failures read."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from edgecolor.bench.job import BenchJob
from edgecolor.cli import cli
from edgecolor.devices.remote.registry import (
    Device,
    RegistryError,
    devices_file,
    get_device,
    load_devices,
    parse_url,
)
from edgecolor.devices.remote.ssh import SshResult, explain, ssh_argv


@pytest.fixture()
def devfile(tmp_path, monkeypatch):
    path = tmp_path / "cfg" / "devices.toml"
    monkeypatch.setenv("EDGECOLOR_DEVICES_FILE", str(path))
    return path


def _run(*args):
    return CliRunner().invoke(cli, list(args))


def test_urls():
    assert parse_url("ssh://pi@raspberrypi.local:2222") == ("pi", "raspberrypi.local", 2222)
    assert parse_url("ssh://orin") == (None, "orin", None)
    for bad in ("pi@host", "http://host", "ssh://host/path", "ssh://host:99999"):
        with pytest.raises(RegistryError):
            parse_url(bad)


def test_config_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("EDGECOLOR_DEVICES_FILE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert devices_file() == tmp_path / "edgecolor" / "devices.toml"


def test_add_list_remove(devfile):
    r = _run("devices", "add", "pi5", "ssh://pi@pi5.local:2222", "--profile", "rpi5",
             "--python", "/home/pi/ec/bin/python")
    assert r.exit_code == 0, r.output
    d = load_devices()["pi5"]
    assert (d.user, d.host, d.port, d.profile, d.python) == ("pi", "pi5.local", 2222, "rpi5",
                                                             "/home/pi/ec/bin/python")
    r = _run("devices", "add", "pi5", "ssh://pi@other")
    assert r.exit_code == 2 and "already registered" in r.output and "--replace" in r.output
    r = _run("devices", "add", "orin", "ssh://orin", "--profile", "nope")
    assert r.exit_code == 2 and "unknown target 'nope'" in r.output
    r = _run("devices", "--no-check")
    assert r.exit_code == 0 and "pi5" in r.output and "ssh://pi@pi5.local:2222" in r.output
    assert "jetson-orin-nano" in r.output and "not checked" in r.output  # profiles too
    r = _run("devices", "remove", "pi5")
    assert r.exit_code == 0 and load_devices() == {}
    r = _run("devices", "remove", "pi5")
    assert r.exit_code == 2 and "no device named 'pi5'" in r.output


def test_unknown_device_and_broken_file(devfile):
    with pytest.raises(RegistryError, match="edgecolor devices add orin"):
        get_device("orin")
    assert get_device("qemu:rpi4").emulated
    devfile.parent.mkdir(parents=True)
    devfile.write_text("[devices.x\n")
    with pytest.raises(RegistryError, match="not a readable devices file"):
        load_devices()


def test_ssh_is_batch_mode_with_timeouts(monkeypatch):
    monkeypatch.setenv("EDGECOLOR_SSH_CONFIG", "/tmp/cfg")
    argv = ssh_argv(Device("pi", "ssh://pi@h:2200"), "true")
    joined = " ".join(argv)
    assert argv[0] == "ssh" and "-T" in argv and "BatchMode=yes" in joined
    assert "ConnectTimeout=" in joined and "ServerAliveInterval=" in joined
    assert argv[argv.index("-F") + 1] == "/tmp/cfg" and argv[-3:] == ["--", "h", "true"]
    assert argv[argv.index("-p") + 1] == "2200" and argv[argv.index("-l") + 1] == "pi"


def test_failures_name_the_device_and_the_fix():
    d = Device("pi", "ssh://pi@h")
    key = explain(d, SshResult(255, b"", "pi@h: Permission denied (publickey).\n"), "connecting")
    assert key.kind == "key" and "device pi" in str(key) and "ssh-copy-id pi@h" in str(key)
    down = explain(d, SshResult(255, b"", "ssh: connect to host h port 22: Connection "
                                          "refused\n"), "connecting")
    assert down.kind == "unreachable" and "\n" not in str(down)
    drop = explain(d, SshResult(255, b"", "Connection to h closed by remote host.\n"),
                   "running the benchmark")
    assert drop.kind == "dropped"
    disk = explain(d, SshResult(2, b"", "tar: a/x: Cannot write: No space left on device\n"),
                   "sending files")
    assert disk.kind == "disk" and "--cache" in str(disk)
    short = explain(d, SshResult(2, b"", "tar: ./kodim10.jpg: Wrote only 2048 of 10240 bytes\n"
                                         "tar: Exiting with failure status due to previous "
                                         "errors\n"), "sending files")
    assert short.kind == "disk"  # GNU tar's short write on a full disk


def test_bench_job_travels_with_its_paths_rewritten():
    job = {"kind": "artifact", "artifact": "/h/a.tflite", "images": ["/h/1.png", "/h/2.png"],
           "e2e_image": "/h/1.png", "runs": 3, "warmup": 1, "reference": "/h/ref.npz",
           "threads": 4, "future_key": 7}
    j = BenchJob.from_dict(job)
    assert j.input_files() == ["/h/a.tflite", "/h/1.png", "/h/2.png", "/h/ref.npz"]
    moved = j.relocated({p: "/d" + p for p in j.input_files()})
    d = moved.to_dict()
    assert d["artifact"] == "/d/h/a.tflite" and d["images"] == ["/d/h/1.png", "/d/h/2.png"]
    assert d["e2e_image"] == "/d/h/1.png" and d["reference"] == "/d/h/ref.npz"
    assert d["future_key"] == 7 and d["threads"] == 4 and d["save_outputs"] is None
    assert BenchJob.from_dict(d).relocated({p: p for p in moved.input_files()}) == moved
