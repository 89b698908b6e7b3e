"""OpenVINO runner: compiles an IR for CPU (or GPU/NPU when present) with a latency hint.

FP32 artifacts get INFERENCE_PRECISION_HINT f32: on CPUs with AMX/AVX512-BF16 the plugin
otherwise runs "FP32" models in bf16, which is neither the FP32 reference nor a fair base
for INT8 speed-ups. FP16/INT8 artifacts keep the plugin's default precision.

``infer_batch`` runs several photos in one call on a copy of the IR reshaped to that batch
size (the folder engine's ``colorize --batch``; see ``batch_gain``).
"""

from __future__ import annotations

import importlib.util

import numpy as np

from edgecolor.runtimes.base import Runner, RuntimeMissing


class OpenVINORunner(Runner):
    """Runs an OpenVINO IR (``.xml`` + ``.bin``); ``device`` is CPU, GPU, NPU (or AUTO)."""

    name = "openvino"
    # Photos per call the folder engine uses by default. Measured on a 2-core Xeon (AMX,
    # AVX512-VNNI), baseline int8 IR at 256x256, CPU plugin, LATENCY hint, idle machine:
    # model alone 310-335 images/s at batch 1, 2, 4 and 8 alike (no gain), but the folder
    # engine (200 photos, decode/encode on the same 2 cores) 108-115 images/s at batch 1 vs
    # 115-124 at batch 4: fewer, larger calls leave the host threads more room (+3-8 %).
    # TFLite gains nothing from a batch and ONNX Runtime artifacts have a static batch of
    # 1: both keep 1. benchmarks/e2e.py measures both on your machine.
    batch_gain = 4

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
        self._core = core
        # batch size -> (request, input ports in spec order, output port), or None where
        # the IR cannot run that batch (it then runs photo by photo); built on first use
        self._batched: dict[int, tuple | None] = {}

    def _infer(self, inputs: list[np.ndarray]) -> np.ndarray:
        if len(inputs) != len(self._inputs):
            raise ValueError(f"{self.path}: expected {len(self._inputs)} inputs, "
                             f"got {len(inputs)}")
        feed = {port: np.ascontiguousarray(x, np.float32)
                for port, x in zip(self._inputs, inputs, strict=True)}
        result = self._request.infer(feed)
        return np.array(result[self._output], np.float32)

    def infer_batch(self, batches: list[list[np.ndarray]]) -> list[np.ndarray]:
        """N photos' inputs (each as :meth:`infer` takes them: float32, one array per spec
        input, leading batch dim 1) -> N raw outputs (float32, leading batch dim 1), in order.

        The inputs are concatenated along axis 0 and run in one request on the IR reshaped
        to batch N and compiled with :meth:`compile_config`: built the first time N photos
        come (about 0.1 s for the 256x256 baseline on a 2-core Xeon, some 30 photos' worth)
        and kept until ``deactivate``. A batch smaller than one already built is padded
        with its last photo (a few photos' compute, no new compile); the padding's outputs
        are dropped. An IR whose inputs do not lead with a batch dim of 1, or that will not
        reshape or compile at batch N, runs photo by photo (``infer``). A photo with the
        wrong number of inputs or shape raises ValueError (or OpenVINO's error).
        """
        n = len(batches)
        if n <= 1:
            return super().infer_batch(batches)
        if not self.active:
            self.activate()
        size = min((k for k, v in self._batched.items() if v is not None and k >= n),
                   default=n)
        built = self._batched_model(size)
        if built is None:
            return super().infer_batch(batches)
        request, ports, output = built
        photos = list(batches) + [batches[-1]] * (size - n)
        feed = {}
        for k, port in enumerate(ports):
            xs = []
            for inputs in photos:
                if len(inputs) != len(ports):
                    raise ValueError(f"{self.path}: expected {len(ports)} inputs, "
                                     f"got {len(inputs)}")
                x = np.asarray(inputs[k], np.float32)
                if x.ndim == 0 or x.shape[0] != 1:
                    raise ValueError(f"{self.path}: input {k} has shape {x.shape}; "
                                     "infer_batch takes each photo with a batch dim of 1")
                xs.append(x)
            feed[port] = np.ascontiguousarray(np.concatenate(xs, axis=0))
        out = np.array(request.infer(feed)[output], np.float32)
        return [out[k:k + 1] for k in range(n)]

    def _batched_model(self, n: int) -> tuple | None:
        """-> (request, input ports in spec order, output port) of the IR at batch ``n``,
        built once per ``n``; None where the IR cannot run a batch of ``n``."""
        if n in self._batched:
            return self._batched[n]
        import openvino as ov

        built = None
        model = self._core.read_model(str(self.path))
        if self._batch_leads(model):
            try:
                model.reshape({port: ov.PartialShape(
                    [n, *list(port.get_partial_shape().to_shape())[1:]])
                    for port in model.inputs})
                out_shape = model.output(0).get_partial_shape()
                if out_shape.is_static and out_shape.to_shape()[0] == n:
                    compiled = self._core.compile_model(model, self.device,
                                                        self.compile_config())
                    names = [rec["name"] for rec in self.manifest.get("inputs", [])]
                    ports = ([compiled.input(name) for name in names]
                             if len(names) == len(compiled.inputs) else list(compiled.inputs))
                    built = compiled.create_infer_request(), ports, compiled.output(0)
            except Exception:  # noqa: BLE001 - a graph that will not reshape: no batching
                built = None
        self._batched[n] = built
        return built

    def _batch_leads(self, model) -> bool:
        """True when every input of the IR is static with a leading batch dim of 1 (the
        manifest's and the IR's layouts, where given, put N first)."""
        import openvino as ov

        layout = self.manifest.get("layout")
        if isinstance(layout, str) and layout and not layout.upper().startswith("N"):
            return False
        for port in model.inputs:
            shape = port.get_partial_shape()
            if shape.is_dynamic or len(shape) < 1 or shape.to_shape()[0] != 1:
                return False
            ir_layout = ov.layout_helpers.get_layout(port)
            if (not ir_layout.empty and ov.layout_helpers.has_batch(ir_layout)
                    and ov.layout_helpers.batch_idx(ir_layout) not in (0, -len(shape))):
                return False
        return True

    def _deactivate(self) -> None:
        self._request = self._compiled = self._core = None
        self._batched = {}
