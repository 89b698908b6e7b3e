"""OpenCV DNN runner: an FP32 ONNX artifact, or any net a loader builds, with no TensorFlow.

ONNX: any FP32 ONNX artifact (NHWC as exported from Keras, or NCHW); the layout of every input
and of the output is read from the shapes. Other sources come through a *loader* (Polygraphy's
pattern): a callable ``cv2 -> LoadedNet`` run at activation, e.g. the ECCV16 Caffe files'
loader in ``edgecolor.zoo.caffe.opencv`` (the runtime layer knows no model of the zoo).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecolor.runtimes.base import Runner
from edgecolor.spec import ModelSpec

_OUT_CHANNELS = {"ab": 2, "ab_tanh": 2, "rgb_tanh": 3, "ab_bins": 313}


def onnx_graph_io(data: bytes) -> tuple[list[tuple[str, list[int]]], list[str]]:
    """ONNX model bytes -> ([(input name, dims; 0 = unknown)], [output names]), weights excluded."""
    from edgecolor import protowire as wire

    graph = next((v for f, wt, v in wire.iter_fields(data) if f == 7 and wt == wire.LEN), None)
    if graph is None:
        raise ValueError("not an ONNX model (no graph)")
    inputs, outputs, weights = [], [], set()
    for f, wt, v in wire.iter_fields(graph):
        if f == 5 and wt == wire.LEN:  # initializer: its name (field 8)
            weights |= {bytes(v2).decode() for f2, _, v2 in wire.iter_fields(v) if f2 == 8}
        elif f in (11, 12) and wt == wire.LEN:  # ValueInfoProto
            name, dims = "", []
            for f2, _, v2 in wire.iter_fields(v):
                if f2 == 1:
                    name = bytes(v2).decode()
                elif f2 == 2:  # TypeProto -> tensor_type -> shape -> dim -> dim_value
                    for _, _, tensor in wire.iter_fields(v2):
                        for f4, _, shape in wire.iter_fields(tensor):
                            if f4 == 2:
                                for _, _, dim in wire.iter_fields(shape):
                                    vals = [x for f5, _, x in wire.iter_fields(dim) if f5 == 1]
                                    dims.append(int(vals[0]) if vals else 0)
            (inputs if f == 11 else outputs).append((name, dims))
    return [i for i in inputs if i[0] not in weights], [o[0] for o in outputs]


def _is_nchw(dims: list[int], channels: int) -> bool:
    return len(dims) == 4 and dims[1] == channels and dims[-1] != channels


@dataclass
class LoadedNet:
    """What a loader hands the runner: the net, its input names (spec order), the output to
    forward (None: the net's last) and, per input, whether it takes NCHW."""

    net: object
    input_names: list[str]
    output: str | None
    nchw: list[bool]


class OpenCVDNNRunner(Runner):
    """Runs an FP32 ONNX artifact or the ECCV16 Caffe files with OpenCV's DNN module (CPU)."""

    name = "opencv"

    def __init__(self, path: str | os.PathLike | None, spec: ModelSpec,
                 manifest: dict | None = None, threads: int | None = None,
                 device: str | None = None,
                 loader: Callable[[object], LoadedNet] | None = None) -> None:
        super().__init__(path, spec, manifest, threads, device)
        self.loader = loader

    @staticmethod
    def available() -> bool:
        """True when OpenCV with its dnn module is importable."""
        if importlib.util.find_spec("cv2") is None:
            return False
        import cv2

        return hasattr(cv2, "dnn")

    def _activate(self) -> None:
        import cv2

        if self.threads:
            cv2.setNumThreads(int(self.threads))  # process-wide in OpenCV
        loaded = self.loader(cv2) if self.loader is not None else self._load_onnx(cv2)
        self._net, self._in_names = loaded.net, loaded.input_names
        self._out, self._nchw = loaded.output, loaded.nchw

    def _load_onnx(self, cv2) -> LoadedNet:
        if Path(self.path).suffix != ".onnx":
            raise ValueError(f"{self.path}: the opencv runner runs .onnx artifacts (other "
                             "sources need a loader, e.g. edgecolor.zoo.caffe.caffe_runner)")
        data = Path(self.path).read_bytes()
        inputs, outputs = onnx_graph_io(data)
        nchw = [_is_nchw(dims, spec.channels)
                for (_, dims), spec in zip(inputs, self.spec.inputs, strict=True)]
        return LoadedNet(cv2.dnn.readNetFromONNX(np.frombuffer(data, np.uint8)),
                         [name for name, _ in inputs],
                         outputs[0] if len(outputs) == 1 else None, nchw)

    def _infer(self, inputs: list[np.ndarray]) -> np.ndarray:
        for x, name, nchw in zip(inputs, self._in_names, self._nchw, strict=True):
            blob = np.ascontiguousarray(x.transpose(0, 3, 1, 2) if nchw else x, np.float32)
            self._net.setInput(blob, name)
        y = np.asarray(self._net.forward(self._out) if self._out else self._net.forward())
        c = _OUT_CHANNELS.get(self.spec.output.kind)
        if y.ndim == 4 and y.shape[1] == c and y.shape[-1] != c:
            y = y.transpose(0, 2, 3, 1)
        return y

    def _deactivate(self) -> None:
        self._net = None
