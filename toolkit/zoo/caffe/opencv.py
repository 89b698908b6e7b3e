"""The ECCV16 Caffe files run by OpenCV DNN: the "Caffe framework" FP32 reference, no TensorFlow.

OpenCV 4.x reads the prototxt + caffemodel itself (``readNetFromCaffe``); the two blobs the
official caffemodel lacks (``class8_ab``: the 313 bin centers, ``conv8_313_rh``: 2.606 per bin)
are added as in OpenCV's colorization sample. OpenCV 5 removed its Caffe importer, so there the
files are translated to an equivalent NCHW ONNX graph in memory (``caffe_to_onnx``, same layouts
as Caffe, no transposes) and read with ``readNetFromONNX``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecolor.runtimes.opencv_dnn import LoadedNet, OpenCVDNNRunner, onnx_graph_io


@dataclass
class CaffeNetLoader:
    """Builds the OpenCV net of an ECCV16 deploy prototxt + caffemodel when called.

    ``via_onnx`` uses the ONNX translation even where OpenCV still reads Caffe (always used
    on OpenCV 5).
    """

    prototxt: Path
    caffemodel: Path
    via_onnx: bool = False

    @property
    def reads_caffe(self) -> bool:
        """True when OpenCV's own Caffe importer runs the files (OpenCV 4.x, not via_onnx)."""
        import cv2

        return not self.via_onnx and hasattr(cv2.dnn, "readNetFromCaffe")

    def __call__(self, cv2) -> LoadedNet:
        """cv2 module -> the loaded net (input ``data_l`` in NCHW, output the ab blob)."""
        from edgecolor.zoo.caffe.caffemodel import read_caffemodel
        from edgecolor.zoo.caffe.mapping import colorization_blobs
        from edgecolor.zoo.caffe.onnx_export import caffe_to_onnx
        from edgecolor.zoo.caffe.prototxt import first, net_layers, read_prototxt

        net_dict = read_prototxt(self.prototxt)
        in_name = next((first(layer, "top") for layer in net_layers(net_dict)
                        if first(layer, "type") == "Input"), "data_l")
        if self.reads_caffe:  # OpenCV 4.x
            net = cv2.dnn.readNetFromCaffe(str(self.prototxt), str(self.caffemodel))
            blobs = colorization_blobs(net_dict, [])
            for name in ("class8_ab", "conv8_313_rh"):
                layer = net.getLayer(net.getLayerId(name))
                if not len(layer.blobs):
                    value = blobs[name][0]
                    layer.blobs = [value.reshape(1, -1) if name == "conv8_313_rh" else value]
            return LoadedNet(net, [in_name], "class8_ab", [True])
        blobs = colorization_blobs(net_dict, read_caffemodel(self.caffemodel))
        data = caffe_to_onnx(net_dict, blobs, str(self.prototxt))
        _, outputs = onnx_graph_io(data)
        return LoadedNet(cv2.dnn.readNetFromONNX(np.frombuffer(data, np.uint8)), [in_name],
                         outputs[0], [True])


def caffe_runner(prototxt: str | os.PathLike, caffemodel: str | os.PathLike,
                 threads: int | None = None, via_onnx: bool = False) -> OpenCVDNNRunner:
    """ECCV16 deploy prototxt + caffemodel -> an OpenCV DNN runner with the eccv16 spec
    (head "ab": ab in Lab units at 1/4 of the input size); the input size is the prototxt's.

    Raises CaffeImportError/PrototxtError naming the file when the prototxt is not ECCV16.
    """
    from edgecolor.zoo.caffe.mapping import eccv16_config
    from edgecolor.zoo.caffe.prototxt import read_prototxt
    from edgecolor.zoo.eccv16 import eccv16_spec

    cfg = eccv16_config(read_prototxt(prototxt), str(prototxt))
    loader = CaffeNetLoader(Path(prototxt), Path(caffemodel), via_onnx)
    return OpenCVDNNRunner(caffemodel, eccv16_spec(cfg.input_size), threads=threads,
                           loader=loader)
