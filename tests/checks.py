"""Small checks shared by test modules (imported as ``checks``; tests/ is on sys.path)."""

from __future__ import annotations

import numpy as np


def colorized_psnr(spec, ls, ref_raw, out_raw) -> float:
    """Mean PSNR (dB, 8-bit RGB) of the colorized photos: artifact outputs vs Keras FP32 ones."""
    from edgecolor.color import combine
    from edgecolor.metrics import psnr

    return float(np.mean([psnr(combine(l, spec.decode(o)), combine(l, spec.decode(r)))
                          for l, r, o in zip(ls, ref_raw, out_raw, strict=True)]))
