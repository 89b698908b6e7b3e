"""OpenCV DNN runner: the official ECCV16 Caffe files, or an FP32 ONNX, with no TensorFlow.

Caffe: OpenCV 4.x reads the prototxt + caffemodel itself (``readNetFromCaffe``); the two blobs
the official caffemodel lacks (``class8_ab``: the 313 bin centers, ``conv8_313_rh``: 2.606 per
bin) are added as in OpenCV's colorization sample. OpenCV 5 removed its Caffe importer, so
there the files are translated to an equivalent NCHW ONNX graph in memory
(``edgecolor.zoo.caffe.caffe_to_onnx``, same layouts as Caffe, no transposes) and read with
``readNetFromONNX``. Either way the runner is the "Caffe framework" FP32 reference.

ONNX: any FP32 ONNX artifact (NHWC as exported from Keras, or NCHW); the layout of every input
and of the output is read from the shapes.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from edgecolor.runtimes.base import Runner
from edgecolor.spec import ModelSpec

_OUT_CHANNELS = {"ab": 2, "ab_tanh": 2, "rgb_tanh": 3, "ab_bins": 313}


def onnx_graph_io(data: bytes) -> tuple[list[tuple[str, list[int]]], list[str]]:
    """ONNX model bytes -> ([(input name, dims; 0 = unknown)], [output names]), weights excluded."""
    from edgecolor.zoo.caffe import wire

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


class OpenCVDNNRunner(Runner):
    """Runs an FP32 ONNX artifact or the ECCV16 Caffe files with OpenCV's DNN module (CPU)."""

    name = "opencv"

    def __init__(self, path: str | os.PathLike | None, spec: ModelSpec,
                 manifest: dict | None = None, threads: int | None = None,
                 device: str = "CPU") -> None:
        super().__init__(path, spec, manifest, threads, device)
        self.prototxt: Path | None = None
        self.via_onnx = False

    @staticmethod
    def available() -> bool:
        """True when OpenCV with its dnn module is importable."""
        if importlib.util.find_spec("cv2") is None:
            return False
        import cv2

        return hasattr(cv2, "dnn")

    @classmethod
    def from_caffe(cls, prototxt: str | os.PathLike, caffemodel: str | os.PathLike,
                   threads: int | None = None, via_onnx: bool = False) -> OpenCVDNNRunner:
        """ECCV16 deploy prototxt + caffemodel -> a runner with the eccv16 spec (head "ab").

        The spec's input size is the prototxt's. ``via_onnx`` uses the ONNX translation even
        where OpenCV still reads Caffe (always used on OpenCV 5). Raises
        CaffeImportError/PrototxtError naming the file when the prototxt is not ECCV16.
        """
        from edgecolor.zoo.caffe.mapping import eccv16_config
        from edgecolor.zoo.caffe.prototxt import read_prototxt
        from edgecolor.zoo.eccv16 import eccv16_spec

        cfg = eccv16_config(read_prototxt(prototxt), str(prototxt))
        runner = cls(caffemodel, eccv16_spec(cfg.input_size), threads=threads)
        runner.prototxt = Path(prototxt)
        runner.via_onnx = via_onnx
        return runner

    @property
    def reads_caffe(self) -> bool:
        """True when OpenCV's own Caffe importer runs the files (OpenCV 4.x, not via_onnx)."""
        import cv2

        return (self.prototxt is not None and not self.via_onnx
                and hasattr(cv2.dnn, "readNetFromCaffe"))

    def _activate(self) -> None:
        import cv2

        if self.threads:
            cv2.setNumThreads(int(self.threads))  # process-wide in OpenCV
        if self.prototxt is not None:
            self._net, self._in_names, self._out = self._load_caffe(cv2)
            self._nchw = [True] * len(self._in_names)
        else:
            if Path(self.path).suffix != ".onnx":
                raise ValueError(f"{self.path}: the opencv runner runs .onnx artifacts (and the "
                                 "ECCV16 Caffe files via OpenCVDNNRunner.from_caffe)")
            data = Path(self.path).read_bytes()
            inputs, outputs = onnx_graph_io(data)
            self._net = cv2.dnn.readNetFromONNX(np.frombuffer(data, np.uint8))
            self._in_names = [name for name, _ in inputs]
            self._nchw = [_is_nchw(dims, spec.channels)
                          for (_, dims), spec in zip(inputs, self.spec.inputs, strict=True)]
            self._out = outputs[0] if len(outputs) == 1 else None

    def _load_caffe(self, cv2):
        from edgecolor.zoo.caffe.caffemodel import read_caffemodel
        from edgecolor.zoo.caffe.mapping import colorization_blobs
        from edgecolor.zoo.caffe.prototxt import first, net_layers, read_prototxt

        net_dict = read_prototxt(self.prototxt)
        in_name = next((first(layer, "top") for layer in net_layers(net_dict)
                        if first(layer, "type") == "Input"), "data_l")
        if self.reads_caffe:  # OpenCV 4.x
            net = cv2.dnn.readNetFromCaffe(str(self.prototxt), str(self.path))
            blobs = colorization_blobs(net_dict, [])
            for name in ("class8_ab", "conv8_313_rh"):
                layer = net.getLayer(net.getLayerId(name))
                if not len(layer.blobs):
                    value = blobs[name][0]
                    layer.blobs = [value.reshape(1, -1) if name == "conv8_313_rh" else value]
            return net, [in_name], "class8_ab"
        from edgecolor.zoo.caffe.onnx_export import caffe_to_onnx

        blobs = colorization_blobs(net_dict, read_caffemodel(self.path))
        data = caffe_to_onnx(net_dict, blobs, str(self.prototxt))
        _, outputs = onnx_graph_io(data)
        return cv2.dnn.readNetFromONNX(np.frombuffer(data, np.uint8)), [in_name], outputs[0]

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
