"""OpenVINO runner: compiles an IR for CPU (or GPU/NPU when present) with a latency hint.

FP32 artifacts get INFERENCE_PRECISION_HINT f32: on CPUs with AMX/AVX512-BF16 the plugin
otherwise runs "FP32" models in bf16, which is neither the FP32 reference nor a fair base
for INT8 speed-ups. FP16/INT8 artifacts keep the plugin's default precision.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from edgecolor.runtimes.base import Runner, RuntimeMissing


class OpenVINORunner(Runner):
    """Runs an OpenVINO IR (``.xml`` + ``.bin``); ``device`` is CPU, GPU, NPU (or AUTO)."""

    name = "openvino"

    @staticmethod
    def available() -> bool:
        """True when the openvino package is installed."""
        return importlib.util.find_spec("openvino") is not None

    def compile_config(self) -> dict:
        """Compile properties: latency hint, threads, f32 precision for fp32 artifacts."""
        import openvino as ov
        import openvino.properties as props
        import openvino.properties.hint as hints

        config = {hints.performance_mode: hints.PerformanceMode.LATENCY}
        if self.threads and self.device.startswith("CPU"):
            config[props.inference_num_threads] = int(self.threads)
        if self.manifest.get("inference_precision") == "f32":
            config[hints.inference_precision] = ov.Type.f32
        return config

    def _activate(self) -> None:
        try:
            import openvino as ov
        except ImportError as e:  # pragma: no cover - depends on the install
            raise RuntimeMissing("OpenVINO is not installed; pip install 'edgecolor[openvino]'"
                                 ) from e
        core = ov.Core()
        devices = core.available_devices
        if self.device != "AUTO" and not any(d.split(".")[0] == self.device.split(".")[0]
                                             for d in devices):
            raise ValueError(f"{self.path}: OpenVINO device {self.device!r} is not present "
                             f"(available: {', '.join(devices)}); use --device CPU")
        compiled = core.compile_model(core.read_model(str(self.path)), self.device,
                                      self.compile_config())
        names = [rec["name"] for rec in self.manifest.get("inputs", [])]
        if len(names) == len(compiled.inputs):
            self._inputs = [compiled.input(n) for n in names]
        else:
            self._inputs = list(compiled.inputs)
        self._output = compiled.output(0)
        self._request = compiled.create_infer_request()
        self._compiled = compiled

    def _infer(self, inputs: list[np.ndarray]) -> np.ndarray:
        if len(inputs) != len(self._inputs):
            raise ValueError(f"{self.path}: expected {len(self._inputs)} inputs, "
                             f"got {len(inputs)}")
        feed = {port: np.ascontiguousarray(x, np.float32)
                for port, x in zip(self._inputs, inputs, strict=True)}
        result = self._request.infer(feed)
        return np.array(result[self._output], np.float32)

    def _deactivate(self) -> None:
        self._request = self._compiled = None
