"""ONNX Runtime runner: CUDA, TensorRT or CPU execution provider, float32 I/O.

Providers are tried in the order TensorRT > CUDA > CPU among those the installed
onnxruntime build offers (the default; ``device="CPU"`` forces the CPU provider).
No TensorFlow here.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from edgecolor.runtimes.base import Runner, RuntimeMissing

# preferred first; the CPU provider is always the last resort
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def choose_providers(available: list[str], device: str = "AUTO") -> list[str]:
    """Provider names to ask for: the installed GPU ones (in preference order), then CPU;
    ``device="CPU"`` asks for the CPU provider alone."""
    wanted = [] if device.upper() == "CPU" else [p for p in GPU_PROVIDERS if p in available]
    return wanted + ["CPUExecutionProvider"]


class ONNXRuntimeRunner(Runner):
    """Runs an ``.onnx`` artifact with ONNX Runtime (all graph optimizations on).

    ``threads`` sets intra-op threads (None: ONNX Runtime's default, one per core);
    ``device``: "AUTO" (default: TensorRT/CUDA providers where the installed build has them,
    then CPU) or "CPU" to force the CPU provider.
    """

    name = "onnxruntime"
    default_device = "AUTO"
    _proto_bytes: bytes | None = None

    @classmethod
    def from_proto(cls, proto, spec, threads: int | None = None,
                   device: str = "CPU") -> ONNXRuntimeRunner:
        """Run an in-memory ``onnx.ModelProto`` (a model source's fixed graph: the FP32
        reference of its artifacts) with the spec's contract; nothing is written."""
        r = cls(None, spec, threads=threads, device=device)
        r._proto_bytes = proto.SerializeToString()
        return r

    @staticmethod
    def available() -> bool:
        """True when onnxruntime is importable."""
        return importlib.util.find_spec("onnxruntime") is not None

    def _activate(self) -> None:
        try:
            import onnxruntime as ort
        except ImportError as e:  # pragma: no cover - depends on the install
            raise RuntimeMissing("onnxruntime is not installed: pip install 'edgecolor[onnx]'"
                                 ) from e
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        # After each run ORT's intra-op threads spin-wait for more work by default, taking
        # the cores from the host work that follows every inference here (L, recombination,
        # decode, encode). Measured on a 2-core Xeon (baseline int8-cpu, 640x480 photo):
        # end to end 16.3 -> 12.4 ms with spinning off (1920x1080: 42 -> 29 ms), the model
        # call alone 8.1 -> 8.5 ms.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if self.threads:
            opts.intra_op_num_threads = int(self.threads)
            opts.inter_op_num_threads = 1
        providers = choose_providers(ort.get_available_providers(), self.device)
        model = self._proto_bytes if self._proto_bytes is not None else str(self.path)
        self._session = ort.InferenceSession(model, opts, providers=providers)
        self.providers = self._session.get_providers()
        self._input_names = [i.name for i in self._session.get_inputs()]
        self._output_name = self._output_name_for(self._session)
        if len(self._input_names) != len(self.spec.inputs):
            raise ValueError(f"{self.path}: the model has {len(self._input_names)} inputs, "
                             f"its spec {len(self.spec.inputs)}; re-run `edgecolor convert`")

    def _output_name_for(self, session) -> str:
        names = [o.name for o in session.get_outputs()]
        return self.spec.output.name if self.spec.output.name in names else names[0]

    def _feed(self, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
        # inputs come in spec order; match them by the spec's names when the graph uses them
        spec_names = [i.name for i in self.spec.inputs]
        names = spec_names if set(spec_names) == set(self._input_names) else self._input_names
        return {n: np.ascontiguousarray(x, dtype=np.float32)
                for n, x in zip(names, inputs, strict=True)}

    def _infer(self, inputs: list[np.ndarray]) -> np.ndarray:
        return self._session.run([self._output_name], self._feed(inputs))[0]

    def _deactivate(self) -> None:
        self._session = None
