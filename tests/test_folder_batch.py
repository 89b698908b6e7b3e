"""Batching in the folder engine (issue 16): a real OpenVINO IR's ``infer_batch`` and
``colorize_files(batch=N)`` against the one-photo-at-a-time path."""

from __future__ import annotations

import numpy as np
import pytest

from edgecolor.folder import DONE, FAILED, colorize_files
from edgecolor.imageio import read_image, write_image
from edgecolor.runtimes.base import Runner
from edgecolor.runtimes.openvino import OpenVINORunner

pytest.importorskip("openvino")


@pytest.fixture(scope="module")
def int8_ir(colorful_baseline64, calib_dir, tmp_path_factory):
    """(path, manifest fields, spec) of the 64x64 baseline converted to an INT8 OpenVINO IR
    (batch 1, as every artifact); about 2 s."""
    from edgecolor.calibration import CalibrationSet
    from edgecolor.converters.common import ConvertOptions
    from edgecolor.converters.openvino import convert

    model, spec, _ = colorful_baseline64
    cs = CalibrationSet.from_folder(calib_dir, spec, size=None, holdout=0)
    path = tmp_path_factory.mktemp("batch-ir") / "baseline-openvino-int8.xml"
    return path, convert(model, spec, "int8", path, ConvertOptions(calib=cs)), spec


class CountingRunner(OpenVINORunner):
    """The real OpenVINO runner, recording the size of every ``infer_batch`` call."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.batch_sizes: list[int] = []

    def infer_batch(self, batches):
        self.batch_sizes.append(len(batches))
        return super().infer_batch(batches)


class BatchRefusingRunner(CountingRunner):
    """The real OpenVINO runner whose batched call always fails, and which refuses (alone
    too) a photo whose L is all 100: the engine must re-run the batch photo by photo and
    report only that photo."""

    def infer_batch(self, batches):
        self.batch_sizes.append(len(batches))
        raise RuntimeError("batched request failed")

    def infer(self, inputs):
        if np.all(inputs[0] >= 0.999):  # l/50-1 of L = 100
            raise RuntimeError("the runner refused this input")
        return super().infer(inputs)


def _l_inputs(spec, eval_images, n):
    from edgecolor.color import lightness
    from edgecolor.imageio import read_rgb

    return [spec.make_inputs(lightness(read_rgb(p))) for p in eval_images[:n]]


def test_openvino_infer_batch_equals_infer(int8_ir, eval_images):
    path, fields, spec = int8_ir
    photos = _l_inputs(spec, eval_images, 3)
    assert OpenVINORunner.batch_gain > 1 and Runner.batch_gain == 1
    with OpenVINORunner(path, spec, fields, threads=1) as runner:
        one = [runner.infer(x) for x in photos]
        got = runner.infer_batch(photos)
        assert sorted(runner._batched) == [3] and runner._batched[3] is not None
        padded = runner.infer_batch(photos[:2])  # padded to the batch of 3, no new compile
        assert sorted(runner._batched) == [3]
    assert runner._batched == {}  # deactivate drops the batch compilations
    assert len(got) == 3 and len(padded) == 2
    # The int8 kernels are per-image; on the CPUs tried the batch is bit-exact, the
    # tolerance only leaves room for another ISA's batched kernel.
    for a, b in [*zip(one, got, strict=True), *zip(one[:2], padded, strict=True)]:
        assert b.shape == a.shape == (1, 64, 64, 2) and b.dtype == np.float32
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4 * float(np.abs(a).max()))


def test_an_ir_without_a_leading_batch_runs_photo_by_photo(int8_ir, eval_images):
    path, fields, spec = int8_ir
    photos = _l_inputs(spec, eval_images, 2)
    with OpenVINORunner(path, spec, {**fields, "layout": "HWCN"}, threads=1) as runner:
        got = runner.infer_batch(photos)
        assert runner._batched == {2: None}
        one = [runner.infer(x) for x in photos]
    for a, b in zip(one, got, strict=True):
        assert np.array_equal(a, b)


@pytest.fixture
def seven(tmp_path, eval_images):
    """7 files in this order: 3 JPEG samples, a truncated JPEG, 2 more samples, a 16-bit
    PNG."""
    src = tmp_path / "in"
    src.mkdir()
    files = []
    for p in eval_images[:3]:
        files.append(src / p.name)
        files[-1].write_bytes(p.read_bytes())
    data = eval_images[3].read_bytes()
    files.append(src / "trunc.jpg")
    files[-1].write_bytes(data[: len(data) // 2])
    for p in eval_images[4:6]:
        files.append(src / p.name)
        files[-1].write_bytes(p.read_bytes())
    files.append(src / "gray16.png")
    write_image(files[-1], read_image(eval_images[0])[..., 0].astype(np.uint16) * 257)
    return files


def _same_outputs(ref_dir, out_dir, names):
    for name in names:
        a, b = read_image(ref_dir / name), read_image(out_dir / name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert (out_dir / name).read_bytes()[:4] == (ref_dir / name).read_bytes()[:4]
        # bit-exact here (the batch gives the same ab, see above); 1 level leaves room
        # for another ISA's batched int8 kernel
        assert int(np.abs(a.astype(np.int32) - b.astype(np.int32)).max()) <= 1, name


def test_batched_folder_matches_one_at_a_time(int8_ir, seven, tmp_path):
    path, fields, spec = int8_ir
    assert [p.name for p in seven].index("trunc.jpg") == 3 and len(seven) == 7
    reports, calls = {}, {}
    for batch in (1, 3, None):
        out = tmp_path / f"out-{batch}"
        progress = []
        with CountingRunner(path, spec, fields, threads=1) as runner:
            reports[batch] = colorize_files(runner, seven, out, workers=2, batch=batch,
                                             progress=lambda f, t, seen=progress: seen.append(f))
        calls[batch] = runner.batch_sizes
        assert progress == list(range(1, 8))
        r = reports[batch]
        assert [x.source for x in r.results] == seven
        assert [x.status for x in r.results] == [DONE] * 3 + [FAILED] + [DONE] * 3
        assert "trunc.jpg" in r.results[3].message
        names = sorted(p.name for p in out.iterdir())
        assert names == sorted(p.name for p in seven if p.name != "trunc.jpg")
    assert calls == {1: [], 3: [3, 2], None: [3, 3]}  # the corrupt file is not in a batch;
    # None: OpenVINO's batch_gain (4); the 7th photo of batch 3 runs alone through infer
    for batch in (3, None):
        _same_outputs(tmp_path / "out-1", tmp_path / f"out-{batch}",
                      [p.name for p in seven if p.name != "trunc.jpg"])


def test_a_failed_batch_reruns_photo_by_photo(int8_ir, seven, tmp_path):
    path, fields, spec = int8_ir
    files = [p for p in seven if p.name != "trunc.jpg"]
    white = files[0].parent / "a-white.png"
    write_image(white, np.full((40, 30), 255, np.uint8))
    files = [white] + files  # 7 photos, the one the runner refuses first
    with OpenVINORunner(path, spec, fields, threads=1) as runner:
        colorize_files(runner, files, tmp_path / "ref", batch=1)
    with BatchRefusingRunner(path, spec, fields, threads=1) as runner:
        report = colorize_files(runner, files, tmp_path / "out", workers=2, batch=3)
    assert [r.status for r in report.results] == [FAILED] + [DONE] * 6
    assert "a-white.png" in report.results[0].message
    assert "refused" in report.results[0].message
    # the first batch held the refused photo, so batching went on; the second failed with
    # every photo fine alone, so the rest ran one at a time
    assert runner.batch_sizes == [3, 3]
    _same_outputs(tmp_path / "ref", tmp_path / "out", [p.name for p in files[1:]])


def test_batch_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="batch"):
        colorize_files(object(), [], tmp_path, batch=0)
