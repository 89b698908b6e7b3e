"""Small checks shared by test modules (imported as ``checks``; tests/ is on sys.path)."""

from __future__ import annotations

import numpy as np


def colorized_psnr(spec, ls, ref_raw, out_raw) -> float:
    """Mean PSNR (dB, 8-bit RGB) of the colorized photos: artifact outputs vs Keras FP32 ones."""
    from edgecolor.color import combine
    from edgecolor.metrics import psnr

    return float(np.mean([psnr(combine(l, spec.decode(o)), combine(l, spec.decode(r)))
                          for l, r, o in zip(ls, ref_raw, out_raw, strict=True)]))


def seeded_tflite_pair(root, ab_gain: float = 1.0):
    """TFLite fp32 + int8 of the 64x64, width-0.25 baseline with seeded weights (saved, so the
    manifests name a weights file) in ``root/art`` -> that folder. ``ab_gain`` scales the last
    convolution (20: colors, so int8 differs visibly from FP32)."""
    from edgecolor._tf import import_tf
    from edgecolor.converters.run import convert_all
    from edgecolor.samples import CALIB_DIR
    from edgecolor.zoo import create_model

    _, keras = import_tf()
    keras.utils.set_random_seed(0)
    model, _ = create_model("baseline", input_size=64, weights=None, width=0.25)
    if ab_gain != 1.0:
        kernel, bias = model.get_layer("ab").get_weights()
        model.get_layer("ab").set_weights([kernel * ab_gain, bias])
    weights = root / "baseline-w025.weights.h5"
    model.save_weights(weights)
    results = convert_all("baseline", target="x86-cpu", formats=["tflite"],
                          precisions=["fp32", "int8"], calib=CALIB_DIR, out_dir=root / "art",
                          weights=weights, imgsz=64, width=0.25)
    assert [r.ok for r in results] == [True, True], [r.error for r in results]
    return root / "art"
