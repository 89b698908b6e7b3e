"""Quantization that keeps the FP32 colors: per-layer sensitivity (dB), fidelity-budgeted
int8, PTQ fixes, risks.

* :mod:`~edgecolor.quant.sensitivity` — every Keras layer's output PSNR vs FP32 with only it
  int8 and with all but it int8, on each backend (``edgecolor analyze``);
* :mod:`~edgecolor.quant.budget` — the fastest int8 that meets a fidelity budget (PSNR vs
  FP32, ΔE00 vs FP32, ΔPSNR; ``edgecolor convert --min-psnr-fp32 / --max-de /
  --max-dpsnr``), with the Pareto front of what it tried;
* :mod:`~edgecolor.quant.equalize` — cross-layer equalization (ReLU chains; activations
  into a BatchNormalization after the ReLU) and bias correction of the Keras model before
  any converter;
* :mod:`~edgecolor.quant.qat` — a short quantization-aware fine-tune (self-distillation
  towards the original FP32 output), the budget's last tier (``--qat MINUTES``);
* :mod:`~edgecolor.quant.risks` — layers int8 is known to hurt, flagged before quantizing
  (calibration coverage: held-out photos beyond the calibration ranges);
* :mod:`~edgecolor.quant.heads` — the ECCV16 head choice;
* :mod:`~edgecolor.quant.backends` (with the layer-name mapping of
  :mod:`~edgecolor.converters.float_layers`) — the per-backend glue
  (TFLite QuantizationDebugger, NNCF ignored scope, ONNX Runtime nodes_to_exclude);
  :mod:`~edgecolor.quant.report` — table, JSON, charts (sensitivity bars, Pareto front).
Scores come from :mod:`edgecolor.fidelity` (the one scoring function).

Converter-side: needs the ``[convert]`` extra; nothing here is imported on devices.
"""

MAX_PROBES = 16  # layers a sensitivity ranking probes by default (each a full quantization)
