"""The folder engine (edgecolor.folder): overlapped stages, same outputs as one at a time."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest

from edgecolor.folder import DONE, FAILED, SKIPPED, colorize_files
from edgecolor.imageio import read_image, write_image
from edgecolor.pipeline import colorize_array
from edgecolor.spec import InputSpec, ModelSpec, OutputSpec


class PlaneRunner:
    """A runner whose network is a fixed smooth function of its input (the real spec and
    pre/post-processing around it). Refuses calls from any thread but its creator's, and
    fails on a photo whose L is all 100 (a runner error on one file)."""

    def __init__(self, size=(32, 32)):
        self.spec = ModelSpec("plane", (InputSpec("l", size, "l/50-1"),), OutputSpec("ab"))
        self.thread = threading.current_thread()
        self.calls = 0

    def infer(self, inputs):
        assert threading.current_thread() is self.thread, "infer called from a pool thread"
        x = inputs[0]
        if np.all(x >= 0.999):
            raise RuntimeError("the runner refused this input")
        self.calls += 1
        return np.concatenate([np.sin(3 * x) * 40, np.cos(2 * x) * 30], axis=-1)


@pytest.fixture
def photos(tmp_path, rng):
    """A folder of formats and depths: JPEG, PNG gray, 16-bit PNG, RGBA PNG, BMP."""
    src = tmp_path / "in"
    base = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    write_image(src / "a.jpg", base)
    write_image(src / "b.png", base[..., 0])
    write_image(src / "c.png", (base.astype(np.uint16) * 257))
    write_image(src / "d.png", np.dstack([base, base[..., 1]]))
    write_image(src / "e.bmp", base[::-1].copy())
    return src


def test_same_outputs_as_one_at_a_time(photos, tmp_path):
    runner = PlaneRunner()
    paths = sorted(photos.iterdir())
    report = colorize_files(runner, paths, tmp_path / "out", workers=3)
    assert [r.status for r in report.results] == [DONE] * len(paths)
    assert [r.source for r in report.results] == paths
    assert report.images_per_s > 0
    for p in paths:
        src = read_image(p)
        got = read_image(tmp_path / "out" / p.name)
        assert got.dtype == src.dtype and got.shape[:2] == src.shape[:2]
        serial = tmp_path / "serial" / p.name  # the one-at-a-time path, same encoder
        write_image(serial, colorize_array(runner, src))
        assert (tmp_path / "out" / p.name).read_bytes() == serial.read_bytes(), p.name
    assert runner.calls == 2 * len(paths)  # engine + serial


def test_bad_files_fail_alone_and_nothing_is_half_written(photos, tmp_path, eval_images):
    src = photos
    data = eval_images[0].read_bytes()
    (src / "trunc.jpg").write_bytes(data[: len(data) // 2])
    (src / "notes.png").write_text("not an image\n")
    write_image(src / "white.png", np.full((8, 8), 255, np.uint8))  # the runner refuses it
    out = tmp_path / "out"
    (out / "e.bmp").mkdir(parents=True)  # a target that cannot be replaced by a file
    seen = []
    report = colorize_files(PlaneRunner(), sorted(src.iterdir()), out, overwrite=True,
                            workers=2, on_result=seen.append)
    status = {r.source.name: r for r in report.results}
    assert {n for n, r in status.items() if r.status == FAILED} == {
        "trunc.jpg", "notes.png", "white.png", "e.bmp"}
    assert "truncated" in status["trunc.jpg"].message
    assert "notes.png" in status["notes.png"].message
    assert "white.png" in status["white.png"].message and "refused" in status["white.png"].message
    assert "e.bmp" in status["e.bmp"].message
    assert report.count(DONE) == 4 and len(seen) == len(report.results)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["a.jpg", "b.png", "c.png", "d.png", "e.bmp"]  # no temp files left


def test_existing_outputs_are_kept_unless_overwrite(photos, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.jpg").write_bytes(b"keep me")
    runner = PlaneRunner()
    report = colorize_files(runner, sorted(photos.iterdir()), out)
    assert report.results[0].status == SKIPPED and "--overwrite" in report.results[0].message
    assert (out / "a.jpg").read_bytes() == b"keep me"
    assert report.count(DONE) == 4 and report.count(FAILED) == 0
    report = colorize_files(runner, [photos / "a.jpg"], out, overwrite=True)
    assert report.results[0].status == DONE
    assert read_image(out / "a.jpg").shape == (37, 53, 3)


def test_progress_is_called_once_per_file(photos, tmp_path):
    calls = []
    paths = sorted(photos.iterdir())
    colorize_files(PlaneRunner(), paths, tmp_path / "out", progress=lambda f, t: calls.append(
        (f, t)))
    assert calls == [(k, len(paths)) for k in range(1, len(paths) + 1)]


def test_real_baseline_runner_matches_the_serial_path(eval_images, tmp_path):
    """The bundled baseline through Keras (real TensorFlow model), engine vs serial."""
    from edgecolor.runtimes.keras import KerasRunner

    runner = KerasRunner.from_zoo("baseline", weights="default", input_size=64)
    src = tmp_path / "in"
    src.mkdir()
    for p in eval_images[:3]:
        shutil.copy(p, src / (p.stem + ".png"))
        write_image(src / (p.stem + ".png"), read_image(p))
    paths = sorted(src.iterdir())
    report = colorize_files(runner, paths, tmp_path / "out", workers=2)
    assert report.count(DONE) == len(paths)
    for p in paths:
        assert np.array_equal(read_image(tmp_path / "out" / p.name),
                              colorize_array(runner, read_image(p)))


def test_a_full_disk_stops_the_run_and_leaves_the_rest_untried(photos, tmp_path, monkeypatch):
    """ENOSPC on a write (the disk, simulated at the write call) is fatal: no new file is
    started, the ones in flight finish or fail, the rest are 'not tried'."""
    import errno

    import edgecolor.folder as folder

    real, calls = folder.write_image, []

    def write_until_full(path, image):
        calls.append(path)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, image)

    monkeypatch.setattr(folder, "write_image", write_until_full)
    paths = sorted(photos.iterdir())
    many = []
    for k in range(4):  # 20 files: more than the in-flight window
        for p in paths:
            q = photos / f"{k}{p.name}"
            if not q.exists():
                q.write_bytes(p.read_bytes())
            many.append(q)
    report = folder.colorize_files(PlaneRunner(), many, tmp_path / "out", workers=2)
    assert report.count(DONE) == 1
    failed = [r for r in report.results if r.status == FAILED]
    assert failed and all("disk full" in r.message and r.fatal for r in failed)
    assert report.count(folder.NOT_TRIED) >= len(many) - 1 - 2 * 2 * 2
    assert report.count(folder.NOT_TRIED) > 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [calls[0].name]


def test_two_inputs_with_one_name_write_the_first(photos, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    write_image(other / "a.jpg", np.zeros((5, 6, 3), np.uint8))
    report = colorize_files(PlaneRunner(), [photos / "a.jpg", other / "a.jpg"], tmp_path / "out",
                            overwrite=True)
    assert [r.status for r in report.results] == [DONE, SKIPPED]
    assert "same name" in report.results[1].message
    assert read_image(tmp_path / "out" / "a.jpg").shape == (37, 53, 3)
