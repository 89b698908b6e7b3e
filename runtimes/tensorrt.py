"""TensorRT runner: builds an engine from an ONNX artifact, caches it, runs it on the GPU.

Needs the ``tensorrt`` Python package (JetPack on Jetson, or the pip wheel on x86) and
cuda-python (``cuda.bindings.runtime`` or the older ``cuda.cudart``) for device memory.
The Q/DQ ``int8`` artifact builds with explicit quantization (INT8 + FP16 for the layers
left outside Q/DQ); fp32 artifacts build in FP32 (FP16 with ``device="GPU:fp16"``).

Engines are specific to the TensorRT version and the GPU, so the cache key is
sha256(TensorRT version, GPU name, artifact sha256, build flags); engines live in
``$EDGECOLOR_HOME/trt`` (default ``~/.cache/edgecolor/trt``) and are written atomically.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np

from edgecolor.runtimes.base import Runner, RuntimeMissing

_MISSING = ("TensorRT is not installed (JetPack ships it on Jetson; on x86: pip install "
            "tensorrt cuda-python)")


def cache_dir() -> Path:
    """Folder for built engines: ``$EDGECOLOR_HOME/trt`` or ``~/.cache/edgecolor/trt``."""
    from edgecolor.paths import edgecolor_home

    return edgecolor_home() / "trt"


def engine_key(trt_version: str, gpu_name: str, artifact_sha256: str, flags: list[str]) -> str:
    """Cache key of an engine (hex): what it was built with, for which GPU, from what."""
    text = "|".join([trt_version, gpu_name, artifact_sha256, ",".join(sorted(flags))])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _cudart():
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
    except ImportError:
        from cuda import cudart  # older cuda-python
    return cudart


def _check(result):
    """cuda-python returns (err, *values): raise on error, return the values."""
    err, *values = result
    if int(err) != 0:
        raise RuntimeError(f"CUDA error {err}")
    return values[0] if len(values) == 1 else values


class TensorRTRunner(Runner):
    """Runs an ``.onnx`` artifact through a TensorRT engine (built once, then cached)."""

    name = "tensorrt"
    default_device = "GPU"

    @staticmethod
    def available() -> bool:
        """True when both ``tensorrt`` and cuda-python are importable."""
        return (importlib.util.find_spec("tensorrt") is not None
                and importlib.util.find_spec("cuda") is not None)

    # --- engine ---------------------------------------------------------------------------

    def build_flags(self) -> list[str]:
        """Builder precision flags for this artifact: INT8 (+FP16) for Q/DQ models."""
        precision = self.manifest.get("precision", "fp32")
        if precision.startswith("int8"):
            return ["INT8", "FP16"]
        return ["FP16"] if self.device.lower().endswith("fp16") else []

    def engine_path(self, trt, gpu_name: str) -> Path:
        """Where this artifact's engine is cached for this TensorRT and GPU."""
        from edgecolor.manifest import sha256_file

        sha = self.manifest.get("files", {}).get(self.path.name) or sha256_file(self.path)
        key = engine_key(trt.__version__, gpu_name, sha, self.build_flags())
        return cache_dir() / f"{self.path.stem}-{key}.engine"

    def build_engine(self, trt, logger) -> bytes:
        """Parse the ONNX artifact and build a serialized engine; RuntimeError on failure."""
        builder = trt.Builder(logger)
        flags = 0
        if hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH"):  # implicit in 10.x
            flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse(self.path.read_bytes()):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise RuntimeError(f"{self.path}: TensorRT cannot parse it ({errors}); run "
                               f"`edgecolor check-trt {self.path} --trt {trt.__version__}`")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 30)
        for flag in self.build_flags():
            if flag == "FP16" and not builder.platform_has_fast_fp16:
                continue
            config.set_flag(getattr(trt.BuilderFlag, flag))
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise RuntimeError(f"{self.path}: TensorRT engine build failed (see its log)")
        return bytes(serialized)

    # --- Runner ---------------------------------------------------------------------------

    def _activate(self) -> None:
        if not self.available():
            raise RuntimeMissing(_MISSING)
        import tensorrt as trt

        from edgecolor.imageio import atomic_write_bytes

        cudart = _cudart()
        self._cudart = cudart
        props = _check(cudart.cudaGetDeviceProperties(0))
        gpu = props.name.decode() if isinstance(props.name, bytes) else str(props.name)
        logger = trt.Logger(trt.Logger.WARNING)
        path = self.engine_path(trt, gpu)
        if path.is_file():
            blob = path.read_bytes()
        else:
            blob = self.build_engine(trt, logger)
            atomic_write_bytes(path, blob)
        self._runtime = trt.Runtime(logger)
        self._engine = self._runtime.deserialize_cuda_engine(blob)
        if self._engine is None:  # stale or foreign cache entry: rebuild once
            blob = self.build_engine(trt, logger)
            atomic_write_bytes(path, blob)
            self._engine = self._runtime.deserialize_cuda_engine(blob)
        self._context = self._engine.create_execution_context()
        self._stream = _check(cudart.cudaStreamCreate())
        self._io = self._bind(trt)

    def _bind(self, trt) -> dict:
        """Allocate device buffers for every I/O tensor: name -> (is_input, shape, dtype, ptr)."""
        engine, io = self._engine, {}
        if hasattr(engine, "num_io_tensors"):  # TensorRT >= 8.5 tensor-name API
            names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
            for n in names:
                shape = tuple(engine.get_tensor_shape(n))
                dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(n)))
                is_input = engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT
                ptr = _check(self._cudart.cudaMalloc(int(np.prod(shape)) * dtype.itemsize))
                self._context.set_tensor_address(n, ptr)
                io[n] = (is_input, shape, dtype, ptr)
        else:  # TensorRT 8.2/8.4 bindings API
            for i in range(engine.num_bindings):
                n = engine.get_binding_name(i)
                shape = tuple(engine.get_binding_shape(i))
                dtype = np.dtype(trt.nptype(engine.get_binding_dtype(i)))
                ptr = _check(self._cudart.cudaMalloc(int(np.prod(shape)) * dtype.itemsize))
                io[n] = (engine.binding_is_input(i), shape, dtype, ptr)
        return io

    def _infer(self, inputs: list[np.ndarray]) -> np.ndarray:
        cudart = self._cudart
        h2d = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        d2h = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        in_names = [n for n, v in self._io.items() if v[0]]
        spec_names = [i.name for i in self.spec.inputs]
        order = spec_names if set(spec_names) == set(in_names) else in_names
        keep = []  # host arrays must outlive the async copies
        for name, x in zip(order, inputs, strict=True):
            _, shape, dtype, ptr = self._io[name]
            host = np.ascontiguousarray(np.asarray(x, dtype).reshape(shape))
            keep.append(host)
            _check(cudart.cudaMemcpyAsync(ptr, host.ctypes.data, host.nbytes, h2d,
                                          self._stream))
        if hasattr(self._context, "execute_async_v3"):
            ok = self._context.execute_async_v3(self._stream)
        else:
            bindings = [v[3] for v in self._io.values()]
            ok = self._context.execute_async_v2(bindings, self._stream)
        if not ok:
            raise RuntimeError(f"{self.path}: TensorRT execution failed")
        out_name = self.spec.output.name
        outs = [n for n, v in self._io.items() if not v[0]]
        name = out_name if out_name in outs else outs[0]
        _, shape, dtype, ptr = self._io[name]
        result = np.empty(shape, dtype)
        _check(cudart.cudaMemcpyAsync(result.ctypes.data, ptr, result.nbytes, d2h,
                                      self._stream))
        _check(cudart.cudaStreamSynchronize(self._stream))
        return result.astype(np.float32)

    def _deactivate(self) -> None:
        for _, _, _, ptr in getattr(self, "_io", {}).values():
            self._cudart.cudaFree(ptr)
        if getattr(self, "_stream", None) is not None:
            self._cudart.cudaStreamDestroy(self._stream)
        self._io, self._stream = {}, None
        self._context = self._engine = self._runtime = None
