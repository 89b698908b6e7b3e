"""Run a .tflite artifact with tflite-runtime (not ai-edge-litert) on saved inputs.

``python -m edgecolor.devices.emulate.tflite_runtime_ref ARTIFACT INPUTS.npz OUT.npy`` with
tflite-runtime and numpy < 2 first on PYTHONPATH: the host's reference for the board's
tflite-runtime runs (its int8 kernels round differently from LiteRT's, on x86 as on ARM, so
each runtime is compared with itself on x86). INPUTS.npz holds ``input_<k>`` arrays of shape
(N, 1, h, w, c); OUT.npy gets the (N, ...) float32 outputs. The TFLite runner would pick
ai-edge-litert whenever it is installed, hence this direct use of the interpreter.
"""

from __future__ import annotations

import sys

import numpy as np


def run(artifact: str, inputs: list[np.ndarray], names: list[str]) -> np.ndarray:
    """Artifact path + per-input (N, 1, h, w, c) arrays in spec order -> (N, ...) outputs."""
    from tflite_runtime.interpreter import Interpreter

    from edgecolor.runtimes.tflite import dequantize, match_inputs, quantize

    interp = Interpreter(model_path=artifact, num_threads=1)
    interp.allocate_tensors()
    details = match_inputs(interp.get_input_details(), names)
    out = interp.get_output_details()[0]
    ys = []
    for i in range(len(inputs[0])):
        for x, d in zip(inputs, details, strict=True):
            interp.set_tensor(d["index"], quantize(x[i], d))
        interp.invoke()
        ys.append(dequantize(interp.get_tensor(out["index"]), out))
    return np.stack(ys).astype(np.float32)


def main(argv: list[str]) -> int:
    """CLI entry: ARTIFACT INPUTS.npz OUT.npy [INPUT_NAME ...] -> exit code."""
    artifact, inputs_path, out_path, *names = argv
    with np.load(inputs_path) as z:
        inputs = [z[f"input_{k}"] for k in range(len(z.files))]
    np.save(out_path, run(artifact, inputs, names))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
