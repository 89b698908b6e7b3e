"""Quantization that keeps the colors: per-layer sensitivity (dB), PSNR-budgeted int8, risks.

* :mod:`~edgecolor.quant.sensitivity` — every Keras layer's output PSNR vs FP32 with only it
  int8 and with all but it int8, on each backend (``edgecolor analyze``);
* :mod:`~edgecolor.quant.budget` — int8 that meets a ΔPSNR budget with the least float
  (``edgecolor convert --max-dpsnr``);
* :mod:`~edgecolor.quant.risks` — layers int8 is known to hurt, flagged before quantizing;
* :mod:`~edgecolor.quant.heads` — the ECCV16 head choice;
* :mod:`~edgecolor.quant.backends` (with the layer-name mapping of
  :mod:`~edgecolor.converters.float_layers`) — the per-backend glue
  (TFLite QuantizationDebugger, NNCF ignored scope, ONNX Runtime nodes_to_exclude);
  :mod:`~edgecolor.quant.report` — table, JSON, chart.

Converter-side: needs the ``[convert]`` extra; nothing here is imported on devices.
"""

MAX_PROBES = 16  # layers a sensitivity ranking probes by default (each a full quantization)
