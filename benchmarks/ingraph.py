"""Host-side work moved into the OpenVINO graph, measured against edgecolor's host path.

Two candidates the fast-pipeline issue (16) asked to try, each timed and compared with the
host path on the same frame (used by ``benchmarks/e2e.py``; development only):

* **pre-processing in the graph** — OpenVINO's PrePostProcessor takes the full-resolution L
  (1, H, W, 1) and resizes and normalizes it in the graph. Its resize algorithms are
  nearest, linear and cubic; the host path area-averages (``cv2.INTER_AREA``), so the model
  sees a slightly different input and the output may move by more than one 8-bit level.
* **recombination in the graph** — the ab upsample (bilinear, half-pixel, as
  ``cv2.resize``) and Lab -> sRGB -> uint8 as OpenVINO ops (the same formulas as
  ``edgecolor.color``), compiled for the CPU.

Units: L 0..100, ab in Lab units, times in ms.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

import cv2
import numpy as np

from edgecolor import color
from edgecolor.bench.stats import time_round_robin
from edgecolor.color_u8 import lab_to_rgb_u8

# mean/scale that PrePostProcessor applies as (x - mean) / scale, per edgecolor normalization
_PPP_NORM = {"l/100": (0.0, 100.0), "l/50-1": (50.0, 50.0), "l-50": (50.0, 1.0),
             "l": (0.0, 1.0), "(l-50)/100": (50.0, 100.0)}


def _median_ms(fn: Callable[[], object], n: int) -> float:
    """Median ms of ``n`` calls after one warm-up (edgecolor.bench.stats' timer)."""
    fn()
    return statistics.median(time_round_robin({"fn": fn}, n)["fn"])


def ppp_infer(xml: str, spec, frame_hw: tuple[int, int], algorithm: str = "linear",
              threads: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """An OpenVINO IR with resize + normalization in its graph: full-res L (H, W) 0..100
    -> the raw network output (as ``runner.infer`` returns it). NHWC single-input specs."""
    import openvino as ov
    import openvino.properties as props
    import openvino.properties.hint as hints
    from openvino.preprocess import PrePostProcessor, ResizeAlgorithm

    inp = spec.inputs[0]
    if len(spec.inputs) != 1 or spec.layout != "NHWC" or inp.norm not in _PPP_NORM:
        raise ValueError(f"{xml}: in-graph pre-processing is measured for single-input NHWC "
                         f"models with a plain L normalization, not {inp.norm!r}")
    h, w = frame_hw
    core = ov.Core()
    model = core.read_model(xml)
    ppp = PrePostProcessor(model)
    port = ppp.input(0)
    port.tensor().set_element_type(ov.Type.f32).set_layout(ov.Layout("NHWC")).set_shape(
        [1, h, w, 1])
    port.model().set_layout(ov.Layout("NHWC"))
    port.preprocess().resize(getattr(ResizeAlgorithm, f"RESIZE_{algorithm.upper()}"))
    mean, scale = _PPP_NORM[inp.norm]
    if mean:
        port.preprocess().mean(mean)
    if scale != 1.0:
        port.preprocess().scale(scale)
    config = {hints.performance_mode: hints.PerformanceMode.LATENCY}
    if threads:
        config[props.inference_num_threads] = threads
    request = core.compile_model(ppp.build(), "CPU", config).create_infer_request()

    def infer(l_full: np.ndarray) -> np.ndarray:
        request.infer({0: l_full.reshape(1, h, w, 1)})
        return request.get_output_tensor(0).data.copy()

    return infer


def lab_to_rgb_graph(frame_hw: tuple[int, int], ab_hw: tuple[int, int],
                     threads: int | None = None) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """(L (H, W) 0..100, ab (h, w, 2) Lab units) -> uint8 sRGB (H, W, 3), in one compiled
    OpenVINO graph: bilinear ab upsample, Lab -> XYZ -> linear RGB -> sRGB, round."""
    import openvino as ov
    import openvino.opset13 as op
    import openvino.properties as props
    import openvino.properties.hint as hints

    h, w = frame_hw

    def c(x: float):
        return op.constant(np.float32(x))

    l_in = op.parameter([h, w], np.float32, name="l")
    ab_in = op.parameter([*ab_hw, 2], np.float32, name="ab")
    ab = op.interpolate(ab_in, op.constant(np.array([h, w], np.int64)), mode="linear",
                        shape_calculation_mode="sizes",
                        coordinate_transformation_mode="half_pixel",
                        axes=op.constant(np.array([0, 1], np.int64)))
    halves = op.split(ab, op.constant(np.int64(2)), 2)
    a, b = (op.squeeze(halves.output(i), op.constant(np.int64(2))) for i in range(2))
    fy = op.multiply(op.add(l_in, c(16.0)), c(1 / 116.0))
    fx = op.add(fy, op.multiply(a, c(1 / 500.0)))
    fz = op.subtract(fy, op.multiply(b, c(1 / 200.0)))

    def f_inv(f):
        cube = op.multiply(op.multiply(f, f), f)
        toe = op.multiply(op.subtract(op.multiply(f, c(116.0)), c(16.0)), c(1 / color._KAPPA))
        return op.select(op.greater(cube, c(color._EPS)), cube, toe)

    xyz = (op.multiply(f_inv(fx), c(color._WHITE[0])), f_inv(fy),
           op.multiply(f_inv(fz), c(color._WHITE[2])))
    # OpenCV's XYZ -> RGB matrix, the one the reference uses
    to_rgb = cv2.cvtColor(np.eye(3, dtype=np.float32)[None], cv2.COLOR_XYZ2RGB)[0].T
    channels = []
    for row in to_rgb:
        lin = op.add(op.add(op.multiply(xyz[0], c(row[0])), op.multiply(xyz[1], c(row[1]))),
                     op.multiply(xyz[2], c(row[2])))
        lin = op.clamp(lin, 0.0, 1.0)
        srgb = op.select(op.less_equal(lin, c(0.0031308)), op.multiply(lin, c(12.92)),
                         op.subtract(op.multiply(op.power(lin, c(1 / 2.4)), c(1.055)),
                                     c(0.055)))
        level = op.add(op.multiply(srgb, c(255.0)), c(0.5))
        channels.append(op.unsqueeze(level, op.constant(np.int64(2))))
    rgb = op.convert(op.clamp(op.floor(op.concat(channels, 2)), 0.0, 255.0), np.uint8)
    config = {hints.performance_mode: hints.PerformanceMode.LATENCY,
              hints.inference_precision: ov.Type.f32}
    if threads:
        config[props.inference_num_threads] = threads
    request = ov.Core().compile_model(ov.Model([rgb], [l_in, ab_in]), "CPU",
                                      config).create_infer_request()

    def convert(l_full: np.ndarray, ab_small: np.ndarray) -> np.ndarray:
        request.infer({0: l_full, 1: np.ascontiguousarray(ab_small, np.float32)})
        return request.get_output_tensor(0).data.copy()

    return convert


def measure(runner, xml: str, l_full: np.ndarray, rounds: int = 50,
            threads: int | None = None) -> list[dict]:
    """Both candidates vs the host path on one frame's L: ms (median) and max |diff| of the
    uint8 output in levels (host path = reference for the comparison)."""
    spec = runner.spec
    frame_hw = l_full.shape[:2]
    y = runner.infer(spec.make_inputs(l_full))
    ab = spec.decode(y)
    host_rgb = lab_to_rgb_u8(l_full, ab)
    rows = []
    size = f"{frame_hw[1]}x{frame_hw[0]}"
    for algorithm in ("linear", "nearest"):
        infer = ppp_infer(xml, spec, frame_hw, algorithm, threads)
        rgb = lab_to_rgb_u8(l_full, spec.decode(infer(l_full)))
        rows.append({
            "candidate": f"resize + normalize in graph (PrePostProcessor, {algorithm})",
            "size": size,
            "host_ms": round(_median_ms(lambda: runner.infer(spec.make_inputs(l_full)),
                                        rounds), 2),
            "graph_ms": round(_median_ms(lambda f=infer: f(l_full), rounds), 2),
            "what": "make_inputs + model",
            "max_diff_levels": int(np.abs(rgb.astype(np.int16) - host_rgb).max()),
        })
    convert = lab_to_rgb_graph(frame_hw, ab.shape[:2], threads)
    rgb = convert(l_full, ab)
    rows.append({
        "candidate": "ab upsample + Lab -> sRGB uint8 in graph",
        "size": size,
        "host_ms": round(_median_ms(lambda: lab_to_rgb_u8(l_full, ab), rounds), 2),
        "graph_ms": round(_median_ms(lambda: convert(l_full, ab), rounds), 2),
        "what": "recombination",
        "max_diff_levels": int(np.abs(rgb.astype(np.int16) - host_rgb).max()),
    })
    return rows
